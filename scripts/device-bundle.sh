#!/usr/bin/env bash
# Packs what a GPU check on a lent device machine needs into .device/ (git-ignored; name it in the
# device tool's `carry`): the committed tree as a tarball, minus the fixtures no CUDA test reads,
# the dependency folder from scripts/make-deps-prefix.sh, and scripts/device-run.sh. The working
# tree that travels is capped at 64 MiB, and this repository is about 60 MB.
#   scripts/device-bundle.sh            # then, on the device: bash .device/device-run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=.device
rm -rf "$out"
mkdir -p "$out"
# The CUDA tests read tests/fixtures/bert-cls and marian-mt; the benchmark reads assets/data.
git archive --format=tar HEAD \
  ':(exclude)tests/fixtures/bert-mlm' ':(exclude)tests/fixtures/bert-torchscript' \
  ':(exclude)tests/fuzz_corpus' ':(exclude)assets/models' | gzip -1 > "$out/ftune-src.tar.gz"
bash scripts/make-deps-prefix.sh "$out/ftune-deps" > /dev/null
rm -rf "$out/ftune-deps"  # the .tar.gz stays
cp scripts/device-run.sh "$out/"
du -ch "$out"/* | sed 's/^/device-bundle: /'
