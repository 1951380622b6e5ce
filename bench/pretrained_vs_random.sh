#!/usr/bin/env bash
# Issue #9's measurement: fine-tune the bundled pretrained BERT and the same architecture with
# random weights on the demo's Financial PhraseBank split, same hyper-parameters (those of
# `make demo`), for several seeds; print validation and test accuracy / macro F1 per run and the
# means. Each seed also drives the random initialization of the baseline.
#
# usage: bench/pretrained_vs_random.sh [SEEDS...]      (default: 1 2 3; from the repo root)
#   FTUNE=build/ftune  MODEL=assets/models/bert-tiny-ftune  THREADS=1  LR=1e-3 (the demo's)
set -euo pipefail
cd "$(dirname "$0")/.."
ftune=${FTUNE:-build/ftune}
model=${MODEL:-assets/models/bert-tiny-ftune}
threads=${THREADS:-1}
lr=${LR:-1e-3}
data=assets/data/financial_phrasebank
work=${WORK:-build/pretrained_vs_random}/lr-${LR:-1e-3}
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
mkdir -p "$work"

# The same shape with random weights: one step at learning rate 0 of `ftune pretrain` writes the
# initialized model (HF's init: normal(0, initializer_range), zero biases, unit LayerNorm).
init_random() {
  local seed=$1 out=$2
  echo "the weights of this run are never trained" > "$work/one-line.txt"
  python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c.pop("torch_dtype",None); json.dump(c,open(sys.argv[2],"w"))' \
    "$model/config.json" "$work/config.json"
  "$ftune" --threads "$threads" pretrain --model-config "$work/config.json" --tokenizer "$model" \
    --train "$work/one-line.txt" --max-steps 1 --learning-rate 0 --eval-strategy no \
    --seed "$seed" --output-dir "$out" >"$out.log" 2>&1 || { tail -n 5 "$out.log" >&2; return 1; }
}

fine_tune() {
  local start=$1 seed=$2 out=$3
  rm -rf "$out"
  "$ftune" --threads "$threads" train --model "$start" \
    --train "$data/train.csv" --valid "$data/valid.csv" --output-dir "$out" \
    --epochs 30 --batch-size 16 --learning-rate "$lr" --warmup-ratio 0.1 --weight-decay 0.01 \
    --early-stopping-patience 3 --save-total-limit 1 --seed "$seed" >"$out.log" 2>&1 ||
    { tail -n 5 "$out.log" >&2; return 1; }
  "$ftune" --threads "$threads" eval --model "$out/best" --data "$data/valid.csv" \
    --report-json "$out/valid.json" >/dev/null
  "$ftune" --threads "$threads" eval --model "$out/best" --data "$data/test.csv" \
    --report-json "$out/test.json" >/dev/null
}

printf '%-10s %4s %9s %9s %9s %9s %8s\n' start seed val_acc val_F1 test_acc test_F1 seconds
rows=()
for seed in "${seeds[@]}"; do
  for start in pretrained random; do
    out="$work/$start-$seed"
    begin=$(date +%s)
    if [ "$start" = random ]; then
      rm -rf "$work/init-$seed"
      init_random "$seed" "$work/init-$seed"
      fine_tune "$work/init-$seed/last" "$seed" "$out"
    else
      fine_tune "$model" "$seed" "$out"
    fi
    row=$(python3 - "$out" <<'PY'
import json, sys
v = json.load(open(sys.argv[1] + "/valid.json")); t = json.load(open(sys.argv[1] + "/test.json"))
m, n = v["metrics"], t["metrics"]
print(f'{m["accuracy"]:.4f} {m["f1_macro"]:.4f} {n["accuracy"]:.4f} {n["f1_macro"]:.4f}')
PY
)
    rows+=("$start $row")
    printf '%-10s %4s %9s %9s %9s %9s %8s\n' "$start" "$seed" $row $(( $(date +%s) - begin ))
  done
done
printf '%s\n' "${rows[@]}" | python3 -c '
import sys, statistics as st
runs = {}
for line in sys.stdin:
    name, *v = line.split(); runs.setdefault(name, []).append([float(x) for x in v])
for name, vs in runs.items():
    cols = list(zip(*vs))
    print(f"{name:10s} mean " + " ".join(f"{st.mean(c):.4f}±{st.pstdev(c):.4f}" for c in cols))
'
