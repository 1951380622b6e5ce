#!/usr/bin/env bash
# `ftune serve` next to the server a Python user would write (bench/serve_python.py: FastAPI +
# uvicorn, one worker, + transformers AutoModelForSequenceClassification under
# torch.inference_mode), both serving the same fine-tuned BERT classifier folder on the CPU with
# the same thread count, loaded over HTTP by wrk with the same POST /v1/predict body
# ({"inputs": [one real 10-20 word sentence]}, or K of them).
# For each concurrency (default 1, 8, 64; wrk -t 1/2/2) and each of R repetitions (default 3) it
# runs wrk against ftune and against Python, alternating which goes first, and reports medians of
# requests/s and of p50 / p99 latency, the ratio ftune/Python, and each server's peak memory
# (VmHWM from /proc/PID/status after all its runs), as a markdown table on stdout (and in
# --output FILE). The load average before and after goes into the table: on a shared machine only
# the ratios of interleaved runs mean much.
# Both servers set TCP_NODELAY (ftune always; serve_python.py unless --no-nodelay): without it a
# keep-alive answer waited ~40 ms for the client's delayed ACK (Nagle), which made both sides look
# 4-6x slower at concurrency 1 than they are.
#
# usage: bench/serve.sh [--model DIR] [--threads N] [--runs R] [--duration 10s]
#                       [--concurrency "1 8 64"] [--inputs-per-request K] [--output FILE]
#                       [--python-impl model|pipeline] [--workdir DIR]       (from anywhere)
#   FTUNE=build/ftune  PYTHON=~/.cache/ftune/venv-torch-2.11.0/bin/python  WRK=wrk
#   FTUNE_SERVE_ARGS="--max-wait-ms 1"   (extra `ftune serve` options)
# Without --model it fine-tunes ~/.cache/ftune/models/all-MiniLM-L6-v2 for one epoch on the
# bundled Financial PhraseBank split (assets/data/financial_phrasebank) once, into
# ~/.cache/ftune/bench-serve/model. fastapi and uvicorn are pip-installed into PYTHON's
# environment when missing. Servers are stopped with SIGTERM on exit, error or Ctrl-C.
set -euo pipefail
here=$PWD
repo=$(cd "$(dirname "$0")/.." && pwd)

ftune_src=${FTUNE:-$repo/build/ftune}
python=${PYTHON:-$HOME/.cache/ftune/venv-torch-2.11.0/bin/python}
wrk=${WRK:-wrk}
model=""
threads=$(nproc)
runs=3
duration=10s
concurrency="1 8 64"
per_request=1
output=""
python_impl=model
workdir=${TMPDIR:-/tmp}/ftune-bench-serve
cache=$HOME/.cache/ftune/bench-serve
base_model=$HOME/.cache/ftune/models/all-MiniLM-L6-v2
data=$repo/assets/data/financial_phrasebank
warmup_requests=50

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case $1 in
    --model) model=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --inputs-per-request) per_request=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --python-impl) python_impl=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "serve.sh: unknown option $1" >&2; usage 2 >&2 ;;
  esac
done
# Paths given relative to where the script was started; then work from the repository root.
abs() { case $1 in /*|"") echo "$1" ;; *) echo "$here/$1" ;; esac; }
model=$(abs "$model"); output=$(abs "$output"); workdir=$(abs "$workdir")
ftune_src=$(abs "$ftune_src")
case $python in */*) python=$(abs "$python") ;; *) python=$(command -v "$python" || echo "$python") ;; esac
cd "$repo"
say() { echo "# $*" >&2; }
die() { echo "serve.sh: $*" >&2; exit 1; }

command -v "$wrk" >/dev/null || die "wrk not found (apt-get install wrk)"
[ -x "$python" ] || die "no Python at $python (set PYTHON)"
[ -x "$ftune_src" ] || die "no ftune binary at $ftune_src (build it, or set FTUNE)"
mkdir -p "$workdir/logs"
rm -f "$workdir/results.jsonl" "$workdir/logs/"*

# Servers this script started, stopped on any exit (SIGTERM, then SIGKILL after 15 s).
declare -A server_pid=()
stop_server() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then say "pid $pid ignored SIGTERM; killing it"; kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local side
  for side in "${!server_pid[@]}"; do stop_server "${server_pid[$side]}"; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A copy of the binary (and its SentencePiece shim), so that a rebuild during the run cannot swap it.
mkdir -p "$workdir/bin"
cp "$ftune_src" "$workdir/bin/ftune"
[ -f "$(dirname "$ftune_src")/libftune_spm.so" ] && cp "$(dirname "$ftune_src")/libftune_spm.so" "$workdir/bin/"
ftune=$workdir/bin/ftune

# fastapi + uvicorn in the Python environment (once).
if ! "$python" -c 'import fastapi, uvicorn' 2>/dev/null; then
  say "installing fastapi and uvicorn into $("$python" -c 'import sys; print(sys.prefix)')"
  "$python" -m pip install --quiet fastapi uvicorn
fi

# The model: --model, or one fine-tuned here once.
if [ -z "$model" ]; then
  model=$cache/model
  if [ ! -f "$model/config.json" ]; then
    [ -f "$base_model/config.json" ] || die "no pretrained model at $base_model (or pass --model)"
    say "fine-tuning $base_model on $data (1 epoch) into $model"
    run=$cache/train-run
    rm -rf "$run" && mkdir -p "$cache"
    "$ftune" --threads "$threads" train --model "$base_model" --device cpu \
      --train "$data/train.csv" --valid "$data/valid.csv" --output-dir "$run" \
      --epochs 1 --batch-size 16 --learning-rate 1e-4 --warmup-ratio 0.1 --weight-decay 0.01 \
      --seed 42 >"$cache/train.log" 2>&1 || { tail -n 20 "$cache/train.log" >&2; die "training failed"; }
    rm -rf "$run"/checkpoint-* "$run/last"  # keep the logs; best/ (1 epoch: the same as last/)
    mv "$run/best" "$model"
  fi
fi
[ -f "$model/config.json" ] || die "$model has no config.json"
model=$(cd "$model" && pwd)

# The request bodies: real sentences of 10-20 words from the PhraseBank test split.
"$python" - "$data/test.csv" "$per_request" "$workdir" <<'PY'
import csv, json, sys
rows = [r["text"] for r in csv.DictReader(open(sys.argv[1], encoding="utf-8"))]
texts = [t for t in rows if 10 <= len(t.split()) <= 20]
k, work = int(sys.argv[2]), sys.argv[3]
json.dump({"inputs": [texts[i % len(texts)] for i in range(k)]}, open(work + "/body.json", "w"))
json.dump({"inputs": texts[:16]}, open(work + "/check.json", "w"))
PY

# Starts one server in the background (its own process, so $! is its pid), waits for /health.
start_server() {
  local side=$1 log=$workdir/logs/$1-server.log pid port=""
  shift
  OMP_NUM_THREADS=$threads "$@" >"$log" 2>&1 &
  pid=$!
  server_pid[$side]=$pid
  for _ in $(seq 1800); do  # up to 3 minutes (loading transformers on a busy machine is slow)
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "$side server exited during start"; }
    [ -n "$port" ] || port=$(sed -n 's|.*listening on http://[^ ]*:\([0-9]*\).*|\1|p' "$log" | head -n 1)
    if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/health" >/dev/null; then
      echo "$port" >"$workdir/$side.port"
      return 0
    fi
    sleep 0.1
  done
  die "$side server not ready after 3 minutes (see $log)"
}

say "model $model, threads $threads, concurrency $concurrency, $runs run(s) of $duration, $per_request input(s) per request"
# ftune answers 503 beyond --max-queue (default 256) waiting texts, and 400 beyond --max-inputs (64)
# texts per request: make room for every client's.
read -ra ftune_args <<<"${FTUNE_SERVE_ARGS:-}"
read -ra levels <<<"$concurrency"
max_c=$(printf '%s\n' "${levels[@]}" | sort -n | tail -n 1)
(( max_c * per_request <= 256 )) || ftune_args=(--max-queue $(( max_c * per_request )) "${ftune_args[@]}")
(( per_request <= 64 )) || ftune_args=(--max-inputs "$per_request" "${ftune_args[@]}")
load_before=$(cat /proc/loadavg)
start_server ftune "$ftune" --threads "$threads" serve --model "$model" --device cpu --port 0 "${ftune_args[@]}"
start_server python "$python" "$repo/bench/serve_python.py" --model "$model" --port 0 \
  --threads "$threads" --impl "$python_impl"
url() { echo "http://127.0.0.1:$(cat "$workdir/$1.port")/v1/predict"; }

# Both must give the same labels (16 sentences in one request, and the benchmark's own body).
for side in ftune python; do
  curl -sf -H 'Content-Type: application/json' --data-binary @"$workdir/check.json" "$(url "$side")" \
    >"$workdir/check-$side.json" || die "$side: POST /v1/predict failed"
  curl -sf -H 'Content-Type: application/json' --data-binary @"$workdir/body.json" "$(url "$side")" \
    >"$workdir/body-$side.json" || die "$side: POST /v1/predict failed"
done
agreement=$("$python" - "$workdir" <<'PY'
import json, sys
w = sys.argv[1]
out = {s: json.load(open(f"{w}/check-{s}.json"))["outputs"] + json.load(open(f"{w}/body-{s}.json"))["outputs"]
       for s in ("ftune", "python")}
a, b = out["ftune"], out["python"]
same = sum(x["label"] == y["label"] for x, y in zip(a, b))
dp = max(abs(p - q) for x, y in zip(a, b) for p, q in zip(x["probs"], y["probs"]))
print(f"{same}/{len(a)} labels agree (max |prob difference| {dp:.1e})")
sys.exit(0 if same == len(a) == len(b) else 1)
PY
) || die "ftune and Python disagree: $agreement (see $workdir/check-*.json)"
say "$agreement"

# Warm-up: sequential requests to each.
for side in ftune python; do
  for _ in $(seq "$warmup_requests"); do
    curl -sf -o /dev/null -H 'Content-Type: application/json' --data-binary @"$workdir/body.json" "$(url "$side")" ||
      die "$side: warm-up request failed"
  done
done

# The measurement: per repetition and concurrency, both sides back to back, the order alternating.
for run in $(seq "$runs"); do
  for c in "${levels[@]}"; do
    t=$(( c < 2 ? 1 : 2 ))
    if (( run % 2 )); then order="ftune python"; else order="python ftune"; fi
    for side in $order; do
      log=$workdir/logs/$side-c$c-run$run.log
      BODY_FILE=$workdir/body.json "$wrk" -t "$t" -c "$c" -d "$duration" --timeout 30s --latency \
        -s "$repo/bench/serve_post.lua" "$(url "$side")" >"$log" 2>&1 || { cat "$log" >&2; die "wrk failed"; }
      result=$(sed -n 's/^RESULT //p' "$log")
      [ -n "$result" ] || { cat "$log" >&2; die "no RESULT line from wrk"; }
      echo "{\"side\": \"$side\", \"concurrency\": $c, \"wrk_threads\": $t, \"run\": $run, \"result\": $result}" \
        >>"$workdir/results.jsonl"
      say "run $run c=$c $side: $(echo "$result" | "$python" -c 'import json,sys; r=json.load(sys.stdin); print("%.1f req/s, p50 %.1f ms, p99 %.1f ms, errors %d" % (r["requests"]/r["duration_us"]*1e6, r["latency_p50_us"]/1e3, r["latency_p99_us"]/1e3, sum(v for k,v in r.items() if k.startswith("errors"))))')"
      sleep 1
    done
  done
done
load_after=$(cat /proc/loadavg)

# Peak memory of each server after all its runs, then stop them.
hwm_ftune=$(awk '/^VmHWM/ {print $2}' "/proc/${server_pid[ftune]}/status")
hwm_python=$(awk '/^VmHWM/ {print $2}' "/proc/${server_pid[python]}/status")
stop_server "${server_pid[ftune]}"
stop_server "${server_pid[python]}"

libtorch=$(ldd "$ftune" | grep -o 'libtorch_cpu[^ ]*' | head -n 1 || true)
table=$(M_THREADS=$threads M_DURATION=$duration M_RUNS=$runs M_MODEL=$model M_BODY=$workdir/body.json \
  M_FTUNE=$ftune_src M_LIBTORCH=$libtorch M_FTUNE_ARGS="${ftune_args[*]}" M_IMPL=$python_impl \
  M_CHECK=$agreement M_LOAD_BEFORE=$load_before M_LOAD_AFTER=$load_after \
  M_HWM_FTUNE=$hwm_ftune M_HWM_PYTHON=$hwm_python "$python" - "$workdir/results.jsonl" <<'PY'
import importlib.metadata as md, json, os, platform, statistics, sys
m = {k[2:].lower(): v for k, v in os.environ.items() if k.startswith("M_")}
rows = [json.loads(line) for line in open(sys.argv[1])]
sides = ("ftune", "python")
rps = lambda r: r["requests"] / r["duration_us"] * 1e6
p50 = lambda r: r["latency_p50_us"] / 1e3
p99 = lambda r: r["latency_p99_us"] / 1e3
def med(side, c, f):
    return statistics.median(f(r["result"]) for r in rows if r["side"] == side and r["concurrency"] == c)
def errors(side, c):
    return sum(v for r in rows if r["side"] == side and r["concurrency"] == c
               for k, v in r["result"].items() if k.startswith("errors"))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
body = json.load(open(m["body"]))["inputs"]
print("## ftune serve against FastAPI + uvicorn + transformers (bench/serve.sh)")
print()
print(f"- machine: {cpu}, {os.cpu_count()} cores; {m['threads']} threads on both sides (`ftune --threads`, "
      f"torch.set_num_threads, OMP_NUM_THREADS); wrk {m['duration']} per run, {m['runs']} run(s) per side "
      f"and concurrency, interleaved; medians")
print(f"- model: `{m['model']}`; {len(body)} input(s) per request, e.g. {body[0]!r}")
print(f"- ftune: `{m['ftune']}` ({m['libtorch']}), `ftune serve` defaults {m['ftune_args']}".rstrip()
      + "; dynamic batching across clients, Python runs one request at a time")
print(f"- Python {platform.python_version()}: torch {md.version('torch')}, transformers "
      f"{md.version('transformers')}, fastapi {md.version('fastapi')}, uvicorn {md.version('uvicorn')}; "
      f"one worker, bench/serve_python.py --impl {m['impl']}")
print(f"- check: {m['check']}")
print(f"- load average before: {m['load_before']}; after: {m['load_after']}")
print()
print("| concurrency (wrk -t/-c) | ftune req/s | Python req/s | req/s ftune/Python | ftune p50 ms "
      "| Python p50 ms | p50 ftune/Python | ftune p99 ms | Python p99 ms | p99 ftune/Python "
      "| errors ftune / Python |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for c in sorted({r["concurrency"] for r in rows}):
    t = next(r["wrk_threads"] for r in rows if r["concurrency"] == c)
    f, p = (med(s, c, rps) for s in sides)
    f50, p50_ = (med(s, c, p50) for s in sides)
    f99, p99_ = (med(s, c, p99) for s in sides)
    print(f"| {c} ({t}/{c}) | {f:,.1f} | {p:,.1f} | **{f / p:.2f}x** | {f50:.1f} | {p50_:.1f} "
          f"| {f50 / p50_:.2f} | {f99:.1f} | {p99_:.1f} | {f99 / p99_:.2f} "
          f"| {errors('ftune', c)} / {errors('python', c)} |")
hf, hp = int(m["hwm_ftune"]) / 1024, int(m["hwm_python"]) / 1024
print(f"| peak memory (VmHWM), MiB | {hf:,.0f} | {hp:,.0f} | {hf / hp:.2f}x | | | | | | | |")
PY
)
echo "$table"
[ -z "$output" ] || { echo "$table" >"$output"; say "table written to $output"; }
say "every run: $workdir/results.jsonl, wrk and server logs: $workdir/logs"
