#!/usr/bin/env bash
# The main job on the bundled default: fine-tune the small BERT that ftune pretrained
# (assets/models/bert-tiny-ftune, see its README) on the bundled Financial PhraseBank sentences
# (positive / neutral / negative) with early stopping, then print the held-out test report.
# About a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${FTUNE_BUILD_DIR:-build}  # build-torch2: the same demo on the LibTorch 2.x build
data=assets/data/financial_phrasebank
out=$bin/demo
rm -rf "$out"

"$bin/ftune" train \
  --model assets/models/bert-tiny-ftune \
  --train "$data/train.csv" --valid "$data/valid.csv" \
  --output-dir "$out" \
  --epochs 30 --batch-size 16 --learning-rate 1e-3 --warmup-ratio 0.1 --weight-decay 0.01 \
  --early-stopping-patience 3 --save-total-limit 2

echo
echo "== test set report (best checkpoint: $out/best) =="
"$bin/ftune" eval --model "$out/best" --data "$data/test.csv" --digits 4
