#!/usr/bin/env bash
# The main job on the bundled default. Until fine-tuning lands: classify the bundled CLINC150
# sentences with the tiny fixture classifier and show the first predictions.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/demo
mkdir -p "$out"
build/ftune inspect --model tests/fixtures/bert-cls | tail -n 4
build/ftune predict --model tests/fixtures/bert-cls --data tests/fixtures/bert-cls/texts.jsonl \
  --output "$out/predictions.jsonl"
head -n 3 "$out/predictions.jsonl"
