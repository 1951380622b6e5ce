#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ (clang, ASan + UBSan, no LibTorch) into build-fuzz/ and
# runs each for a bounded time on its corpus, then prints executions and coverage per target.
#
#   make fuzz                                   # every target, 60 s each
#   FUZZ_SECONDS=300 FUZZ_TARGETS="table" bash scripts/fuzz.sh
#   FUZZ_SECONDS=0 bash scripts/fuzz.sh         # regression only: run the saved corpus once
#
# Seeds and saved findings live in tests/fuzz_corpus/<target>/ (read only here; regenerate the
# seeds with fuzz/make_seeds.py); inputs the fuzzer discovers go to build-fuzz/corpus/<target>/,
# crashes to build-fuzz/artifacts/<target>/. Exit status 1 when any target found something.
# FTUNE_BUILD_LOCK=FILE serializes the compile with other builds (flock), for shared machines.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=(${FUZZ_TARGETS:-safetensors pickle legacy_checkpoint wordpiece table ner_data wordpiece_json marian_json
                         trainer_state})
build=build-fuzz

# clang and its libFuzzer runtime are not part of the default install (scripts/install-deps.sh).
packages=(clang libclang-rt-14-dev cmake ninja-build pkg-config libfmt-dev nlohmann-json3-dev
          libutf8proc-dev)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz: installing ${missing[*]} (apt-get; needed for the fuzz targets only)"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

lock=()
if [ -n "${FTUNE_BUILD_LOCK:-}" ]; then lock=(flock "$FTUNE_BUILD_LOCK"); fi
if [ ! -f "$build/build.ninja" ]; then
  "${lock[@]}" cmake -S fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
fi
"${lock[@]}" cmake --build "$build" -j "${JOBS:-$(nproc)}" --target "${targets[@]/%/_fuzzer}"

summary=()
failed=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  log="$build/$t.log"
  mkdir -p "$corpus" "$artifacts" "tests/fuzz_corpus/$t"
  dict=()
  case "$t" in
    safetensors) dict=(-dict=fuzz/safetensors.dict) ;;
    pickle | legacy_checkpoint) dict=(-dict=fuzz/pickle.dict) ;;
    table) dict=(-dict=fuzz/table.dict) ;;
    wordpiece_json | marian_json | trainer_state) dict=(-dict=fuzz/json.dict) ;;
  esac
  if [ "$seconds" -gt 0 ]; then
    run=(-max_total_time="$seconds")
  else
    run=(-runs=0)
  fi
  # Saved findings first, each run whole (the fuzzing run below truncates inputs to -max_len).
  saved=(tests/fuzz_corpus/"$t"/crash-*)
  if [ -e "${saved[0]}" ]; then
    if ! "$build/${t}_fuzzer" "${saved[@]}" >"$build/$t.regression.log" 2>&1; then
      echo "fuzz: $t: a saved finding crashes again (log: $build/$t.regression.log)"
      summary+=("$(printf '%-18s regression FAILED: see %s' "$t" "$build/$t.regression.log")")
      failed=1
      continue
    fi
    echo "fuzz: $t: ${#saved[@]} saved findings pass"
  fi
  echo "fuzz: $t for ${seconds}s (log: $log)"
  # -timeout: one input may take at most 10 s (a hang is a finding too).
  status=0
  "$build/${t}_fuzzer" "$corpus" "tests/fuzz_corpus/$t" "${dict[@]}" "${run[@]}" \
    -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
  result="ok"
  if [ "$status" -ne 0 ]; then
    result="FOUND (exit $status): $(ls -t "$artifacts" | head -1 | sed "s|^|$artifacts/|")"
    failed=1
    grep -m 3 -E 'ERROR|FUZZ_CHECK|runtime error|terminate' "$log" || true
  fi
  summary+=("$(printf '%-18s %10s execs  cov %5s  ft %6s  corpus %-12s %s' \
    "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result")")
done

echo
echo "fuzz summary (${seconds}s per target; cov = edges, ft = features):"
printf '  %s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
  echo "fuzz: a target found an input that crashes; reproduce with build-fuzz/<target>_fuzzer FILE,"
  echo "      and once fixed, save it as tests/fuzz_corpus/<target>/crash-<what> (a regression seed)"
fi
exit "$failed"
