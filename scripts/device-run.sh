#!/usr/bin/env bash
# Runs on the device machine from the repository root of the working-tree copy: unpacks the bundle
# of scripts/device-bundle.sh, runs scripts/gpu-check.sh with the host's PyTorch, and leaves every
# log under $OUT (the folder the device tool brings back). Bounded by `timeout`s inside.
set -uo pipefail
out=${OUT:-/tmp/ftune-device-out}
mkdir -p "$out"
work=/tmp/ftune-device
rm -rf "$work" && mkdir -p "$work/src"
bundle=$(cd "$(dirname "$0")" && pwd)
tar -xzf "$bundle/ftune-src.tar.gz" -C "$work/src"
tar -xzf "$bundle/ftune-deps.tar.gz" -C "$work"
{
  nvidia-smi || true
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  g++ --version | head -n 1; cmake --version | head -n 1
} > "$out/host.txt" 2>&1
cd "$work/src"
FTUNE_DEPS_PREFIX="$work/ftune-deps" FTUNE_BENCH_STEPS=${FTUNE_BENCH_STEPS:-100} \
  timeout 540 bash scripts/gpu-check.sh 2>&1 | tee "$out/gpu-check.log"
status=${PIPESTATUS[0]}
cp build-gpu/gpu-check-*.log build-gpu/gpu-bench/run.log "$out/" 2>/dev/null || true
echo "device-run: gpu-check exit $status" | tee -a "$out/gpu-check.log"
exit "$status"
