#!/usr/bin/env bash
# GPU host check, offline, in a few minutes: builds ftune against the LibTorch inside the host's
# PyTorch wheel, runs the CUDA tests (golden parity: fp32 logits within 1e-4 of Hugging Face's,
# bf16 autocast, the fp16 loss scaler; end to end: `ftune train --device cuda` in fp32/bf16/fp16
# with best/ replacement and resume, eval/predict/translate equal to the CPU, NCCL and Gloo), then
# a short bf16 training benchmark that prints samples/s, tokens/s and model-FLOPs utilisation.
#
# Needs: an NVIDIA GPU with its driver (nvidia-smi), the CUDA toolkit (nvcc), CMake >= 3.22, a C++17
# compiler, and a Python with a CUDA build of torch. Dependencies the host lacks come from a folder
# made by scripts/make-deps-prefix.sh on a Debian/Ubuntu machine.
#
# Usage: scripts/gpu-check.sh [--build-only]
# Environment:
#   FTUNE_PYTHON        the Python whose torch to build against (default python3)
#   FTUNE_TORCH_PREFIX  a LibTorch folder (unzipped official LibTorch) instead of the wheel's
#   FTUNE_DEPS_PREFIX   folder from scripts/make-deps-prefix.sh (SentencePiece, CLI11, fmt, ...)
#   FTUNE_GPU_BUILD_DIR build folder (default build-gpu; build/ stays the CPU build's)
#   FTUNE_PEAK_TFLOPS   the GPU's dense bf16 peak, when the table below does not know it
#   FTUNE_BENCH_STEPS   timed optimizer steps (default 200); FTUNE_BENCH_BATCH (default 64)
#   JOBS                parallel compile jobs (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."

python=${FTUNE_PYTHON:-python3}
build_dir=${FTUNE_GPU_BUILD_DIR:-build-gpu}
jobs=${JOBS:-$(nproc)}
bench_steps=${FTUNE_BENCH_STEPS:-200}
bench_batch=${FTUNE_BENCH_BATCH:-64}
seq_len=128
build_only=0
[ "${1:-}" = "--build-only" ] && build_only=1

say() { printf '\n== %s ==\n' "$*"; }
die() { echo "gpu-check: error: $*" >&2; exit 1; }
start=$(date +%s)

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity), from NVIDIA's data sheets; first match wins.
peak_tflops_for() {
  case "$1" in
    *H200* | *GH200*) echo 989 ;;
    *H100*PCIe*) echo 756 ;;
    *H100*NVL*) echo 835 ;;
    *H100* | *H800*) echo 989 ;;
    *B200*) echo 2250 ;;
    *A100* | *A800*) echo 312 ;;
    *L40S*) echo 362 ;;
    *L40*) echo 181 ;;
    *L4*) echo 121 ;;
    *A10) echo 125 ;;
    *"RTX 4090"*) echo 165 ;;
    *) echo "" ;;
  esac
}

say "host"
command -v cmake >/dev/null || die "cmake not found; hint: install CMake >= 3.22 (pip install cmake works offline from a wheel)"
if [ "$build_only" = 0 ]; then
  command -v nvidia-smi >/dev/null || die "nvidia-smi not found; hint: this check needs an NVIDIA GPU and its driver (or run with --build-only)"
  gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
  echo "GPU: $gpu_name ($(nvidia-smi --query-gpu=driver_version,memory.total --format=csv,noheader | head -n 1))"
fi

cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DFTUNE_PCH=ON -DFTUNE_TESTS=ON)
if [ -n "${FTUNE_TORCH_PREFIX:-}" ]; then
  cmake_args+=(-DCMAKE_PREFIX_PATH="$(cd "$FTUNE_TORCH_PREFIX" && pwd)")
  echo "LibTorch: $FTUNE_TORCH_PREFIX"
else
  "$python" -c 'import torch' 2>/dev/null ||
    die "'$python -c \"import torch\"' failed; hint: set FTUNE_PYTHON to a Python with a PyTorch wheel, or FTUNE_TORCH_PREFIX to a LibTorch folder"
  "$python" - <<'EOF'
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"cxx11 ABI {int(torch.compiled_with_cxx11_abi())}, GPU visible {torch.cuda.is_available()}")
EOF
  cmake_args+=(-DFTUNE_TORCH_FROM_PYTHON=ON -DFTUNE_PYTHON="$(command -v "$python")")
fi

if [ -n "${FTUNE_DEPS_PREFIX:-}" ]; then
  deps=$(cd "$FTUNE_DEPS_PREFIX" && pwd)/usr
  triplet=$(uname -m)-linux-gnu
  [ -d "$deps/lib/$triplet" ] || die "FTUNE_DEPS_PREFIX '$FTUNE_DEPS_PREFIX' has no usr/lib/$triplet; hint: make it with scripts/make-deps-prefix.sh on a $(uname -m) Debian/Ubuntu machine"
  export PKG_CONFIG_PATH="$deps/lib/$triplet/pkgconfig:$deps/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  prefix_path="$deps"
  [ -n "${FTUNE_TORCH_PREFIX:-}" ] && prefix_path="$(cd "$FTUNE_TORCH_PREFIX" && pwd);$deps"
  cmake_args+=(-DCMAKE_PREFIX_PATH="$prefix_path" -DFTUNE_GTEST_SOURCE_DIR="$deps/src/googletest")
  # Config packages by folder: CMake only searches lib/<triplet>/cmake where it knows the triplet.
  for package in fmt:lib/$triplet/cmake/fmt GTest:lib/$triplet/cmake/GTest \
                 CLI11:share/cmake/CLI11 nlohmann_json:share/cmake/nlohmann_json; do
    [ -d "$deps/${package#*:}" ] && cmake_args+=(-D"${package%%:*}_DIR=$deps/${package#*:}")
  done
  mkdir -p "$build_dir"
  if ! command -v pkg-config >/dev/null; then  # pkgconf from the folder, with its library
    printf '#!/bin/sh\nLD_LIBRARY_PATH="%s/lib/%s" exec "%s/bin/pkgconf" "$@"\n' \
      "$deps" "$triplet" "$deps" > "$build_dir/pkg-config"
    chmod +x "$build_dir/pkg-config"
    cmake_args+=(-DPKG_CONFIG_EXECUTABLE="$PWD/$build_dir/pkg-config")
  fi
  command -v ninja >/dev/null || export PATH="$deps/bin:$PATH"
fi
command -v ninja >/dev/null || die "ninja not found; hint: apt-get install ninja-build, pip install ninja, or FTUNE_DEPS_PREFIX"

say "build ($build_dir, $jobs jobs)"
cmake -S . -B "$build_dir" "${cmake_args[@]}" | grep -E '^-- (ftune|Caffe2: CUDA)|Torch|Error|error' || true
cmake --build "$build_dir" -j "$jobs" --target ftune ftune_lib_train_tests ftune_app_tests
echo "built in $(($(date +%s) - start)) s"
[ "$build_only" = 1 ] && exit 0

say "CUDA tests"
# The parity tests (tests/lib/train/cuda_parity_test.cpp) and the end-to-end ones through the real
# binary (tests/app/cuda_test.cpp): training in fp32/bf16/fp16 with resume, eval/predict/translate
# equal to the CPU, NCCL and Gloo. None may skip here.
for suite in "ftune_lib_train_tests:CudaParity*" "ftune_app_tests:Cuda*:*/CudaTrain*"; do
  binary=${suite%%:*}
  log="$build_dir/gpu-check-$binary.log"
  timeout 900 "$build_dir/tests/$binary" --gtest_filter="${suite#*:}" 2>&1 | tee "$log" |
    grep -E '^\[  (PASSED|FAILED|SKIPPED) |^\[       OK \]|^\[==========\]' || true
  grep -q '^\[  FAILED  \]' "$log" && die "CUDA tests failed (full output: $log)"
  if grep -q '^\[  SKIPPED \]' "$log"; then
    die "CUDA tests skipped: this LibTorch sees no GPU; hint: a CPU-only torch wheel, or CUDA_VISIBLE_DEVICES hides the GPU"
  fi
  grep -q '^\[  PASSED  \]' "$log" || die "$binary did not finish (full output: $log)"
done

say "bf16 training throughput (BERT-base shape, random init, masked LM, $seq_len-token sequences)"
bench="$build_dir/gpu-bench"
rm -rf "$bench"
mkdir -p "$bench"
# The corpus is repeated so that no epoch ends inside the timed steps: an epoch end saves a
# training checkpoint, which would be timed too.
warm=20
"$python" - "$bench" "$(((warm + bench_steps) * bench_batch / 300 + 1))" <<'EOF' ||
import csv, json, sys
out, repeats = sys.argv[1], int(sys.argv[2])
json.dump({"architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": 30522,
           "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
           "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
           "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512,
           "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
           "pad_token_id": 0, "position_embedding_type": "absolute"},
          open(f"{out}/config.json", "w"), indent=2)
rows = csv.DictReader(open("assets/data/financial_phrasebank/train.csv", encoding="utf-8"))
texts = [row["text"] for row in rows]  # about 300 packed 128-token sequences per copy
with open(f"{out}/corpus.txt", "w", encoding="utf-8") as corpus:
    for _ in range(repeats):
        corpus.writelines(text + "\n" for text in texts)
EOF
  die "writing the benchmark model config and corpus with $python failed"
# One run, timed inside it: each step record carries `elapsed`, taken after the step's loss reached
# the host (the device has finished the step), so the slope between step `warm` and the last step
# is the steady state, without start-up, warm-up or the final saves.
run="$bench/run"
"$build_dir/ftune" pretrain --model-config "$bench/config.json" --tokenizer tests/fixtures/bert-cls \
  --train "$bench/corpus.txt" --pack --max-length "$seq_len" --batch-size "$bench_batch" \
  --max-steps "$((warm + bench_steps))" --eval-strategy no --logging-steps 1 --save-total-limit 1 \
  --device cuda --precision bf16 --output-dir "$run" > "$bench/run.log" 2>&1 ||
  die "ftune pretrain failed; see $bench/run.log"
params=$("$build_dir/ftune" inspect --model "$run/last" |
  sed -n 's/.*(\([0-9]*\) parameters).*/\1/p' | head -n 1)
peak=${FTUNE_PEAK_TFLOPS:-$(peak_tflops_for "$gpu_name")}
"$python" - "$run/trainer_log.jsonl" "$warm" "$bench_batch" "$seq_len" "${params:-0}" "${peak:-0}" "$gpu_name" <<'EOF'
import json, sys
log, warm, batch, seq = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
params, peak, gpu = int(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
elapsed = {r["step"]: r["elapsed"] for r in map(json.loads, open(log)) if "elapsed" in r}
last = max(elapsed)
steps, seconds = last - warm, elapsed[last] - elapsed[warm]
samples_per_s = steps * batch / seconds
tokens_per_s = samples_per_s * seq
print(f"steps {warm + 1}-{last} of {batch} x {seq} tokens in {seconds:.2f} s: "
      f"{samples_per_s:.1f} samples/s, {tokens_per_s:,.0f} tokens/s, "
      f"{seconds / steps * 1e3:.1f} ms/step")
if params and peak:
    achieved = 6 * params * tokens_per_s / 1e12  # 6 x parameters x tokens: forward + backward
    print(f"model FLOPs: 6 x {params:,} parameters x tokens/s = {achieved:.1f} TFLOP/s; "
          f"MFU {100 * achieved / peak:.1f}% of {peak:.0f} TFLOP/s (bf16 dense, {gpu})")
else:
    print(f"MFU: unknown peak for '{gpu}'; set FTUNE_PEAK_TFLOPS=<dense bf16 TFLOP/s>")
EOF
echo "gpu-check: done in $(($(date +%s) - start)) s"
