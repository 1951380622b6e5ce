#!/usr/bin/env bash
# Installs the PyTorch wheel whose bundled LibTorch 2.x ftune's second build links (CI builds and
# tests against it and against Debian's LibTorch 1.13). Only the build uses Python: the ftune
# binary it makes needs the wheel's lib/ folder at run time, not Python.
#
# The venv lives outside the checkout, keyed by version, so fresh clones on one machine (CI runs in
# one) reuse it; pip's cache keeps the downloads (~3 GB: the wheel is CUDA 13 and brings its CUDA
# libraries). The venv also gets transformers (pinned below), the reference the torch2 build's
# round-trip tests (tests/app/hf_roundtrip_test.cpp) load ftune's folders with, and tensorboard,
# which reads back the event files of --report-to tensorboard (tests/app/report_test.cpp). Prints
# the venv's python on the last line of stdout.
#   FTUNE_TORCH2_VERSION   the torch version (default below: the GPU host's)
#   FTUNE_TORCH2_VENV      where the venv goes
set -euo pipefail

version="${FTUNE_TORCH2_VERSION:-2.11.0}"
transformers_version=4.57.6
tensorboard_version=2.21.0
venv="${FTUNE_TORCH2_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ftune/venv-torch-$version}"
python="$venv/bin/python"

if [ -x "$python" ] && "$python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$version')" 2>/dev/null; then
  if ! "$python" -c "import transformers, sys; sys.exit(transformers.__version__ != '$transformers_version')" 2>/dev/null; then
    echo "install-torch2: adding transformers==$transformers_version to $venv" >&2
    "$python" -m pip install -q --disable-pip-version-check "transformers==$transformers_version" >&2
  fi
  if ! "$python" -c "import tensorboard, sys; sys.exit(tensorboard.__version__ != '$tensorboard_version')" 2>/dev/null; then
    echo "install-torch2: adding tensorboard==$tensorboard_version to $venv" >&2
    "$python" -m pip install -q --disable-pip-version-check "tensorboard==$tensorboard_version" >&2
  fi
  echo "install-torch2: torch $version already in $venv" >&2
  echo "$python"
  exit 0
fi

echo "install-torch2: installing torch==$version into $venv (first time: ~3 GB download)" >&2
start=$(date +%s)
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
# numpy only silences the "Failed to initialize NumPy" warning torch prints on import.
"$python" -m pip install -q --disable-pip-version-check "torch==$version" numpy \
  "transformers==$transformers_version" "tensorboard==$tensorboard_version" >&2
"$python" -c "import torch; print('install-torch2: torch', torch.__version__, 'at', torch.utils.cmake_prefix_path)" >&2
echo "install-torch2: done in $(( $(date +%s) - start )) s" >&2
echo "$python"
