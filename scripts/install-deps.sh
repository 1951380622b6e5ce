#!/usr/bin/env bash
# Installs the Debian 12 packages ftune needs to build and test, and nothing else.
# Idempotent: packages already present are skipped; uses apt-get only; prints what it installs.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config ccache make clang-format python3 python3-pip
  libtorch-dev libopenblas0-openmp libdnnl-dev
  libsentencepiece-dev libcli11-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libutf8proc-dev zlib1g-dev libgloo-dev
  librsvg2-bin fonts-dejavu-core
  libcpp-httplib-dev
  chromium chromium-driver python3-selenium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
