#!/usr/bin/env bash
# Makes a folder holding the Debian packages that ftune builds against besides LibTorch
# (SentencePiece, CLI11, fmt, nlohmann-json, utf8proc, GoogleTest, zlib headers, gloo headers for
# c10d's ProcessGroupGloo.hpp, which PyTorch wheels do not ship, pkgconf, ninja),
# unpacked with `dpkg -x`: nothing is installed and no root is needed. For a GPU host without
# network or those packages: copy the folder there and run
#   FTUNE_DEPS_PREFIX=<folder> scripts/gpu-check.sh
# Run it on a Debian/Ubuntu machine with network whose release is not newer than the GPU host's
# (its libraries need the glibc they were built against). Not an installer: scripts/install-deps.sh
# is the one for this machine.
#
# Usage: scripts/make-deps-prefix.sh [OUT_DIR]   (default: ftune-deps; also writes OUT_DIR.tar.gz)
set -euo pipefail

out=${1:-ftune-deps}
dev_packages=(
  libsentencepiece-dev libcli11-dev libfmt-dev nlohmann-json3-dev libutf8proc-dev
  libgtest-dev libgmock-dev googletest zlib1g-dev
)
# Only their headers are used (ftune links the gloo compiled into LibTorch): no dependencies.
header_packages=(libgloo-dev)
tool_packages=(pkgconf pkgconf-bin libpkgconf3 ninja-build zlib1g)

command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
  { echo "make-deps-prefix: needs apt-get and dpkg (a Debian or Ubuntu machine)" >&2; exit 1; }

# The shared libraries the -dev packages depend on (libfmt9, libsentencepiece0, ...), by the
# names this release gives them; libc and libstdc++ are the host's own.
runtime_packages=()
for p in "${dev_packages[@]}"; do
  while read -r dep; do
    case "$dep" in
      libc6 | libc6-dev | libstdc++6 | libgcc-s1 | "<"*) ;;
      lib*) runtime_packages+=("$dep") ;;
    esac
  done < <(apt-cache depends --no-recommends --no-suggests --no-pre-depends "$p" |
    awk '$1 == "Depends:" {print $2}')
done
mapfile -t packages < <(printf '%s\n' "${dev_packages[@]}" "${header_packages[@]}" "${tool_packages[@]}" \
  "${runtime_packages[@]}" | sort -u)

rm -rf "$out"
mkdir -p "$out/debs"
echo "make-deps-prefix: downloading ${packages[*]}"
(cd "$out/debs" && apt-get download -q "${packages[@]}")
for deb in "$out"/debs/*.deb; do dpkg -x "$deb" "$out"; done
(cd "$out/debs" && ls) > "$out/PACKAGES"
rm -rf "$out/debs"

# Absolute symlinks (libz.so -> /lib/...) would point into the GPU host's own tree: make them
# point inside the folder.
while IFS= read -r link; do
  target=$(readlink "$link")
  if [ -e "$out$target" ]; then
    ln -sfn "$(realpath --relative-to="$(dirname "$link")" "$out$target")" "$link"
  fi
done < <(find "$out" -type l -lname '/*')

# pkg-config files say prefix=/usr; make them relative to where they lie, so the folder works
# wherever it is copied (pkg-config and pkgconf both define ${pcfiledir}).
while IFS= read -r -d '' pc; do
  rel=$(dirname "${pc#"$out"/usr/}")                         # e.g. lib/x86_64-linux-gnu/pkgconfig
  up=$(echo "$rel" | awk -F/ '{for (i = 1; i <= NF; i++) printf "../"}')
  sed -i -e "s|^prefix=/usr\$|prefix=\${pcfiledir}/${up%/}|" \
         -e "s|=/usr/|=\${prefix}/|g" -e "s|\([ =]\)-\([IL]\)/usr/|\1-\2\${prefix}/|g" "$pc"
done < <(find "$out/usr" -name '*.pc' -print0)

tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"
echo "make-deps-prefix: $out/ ($(wc -l < "$out/PACKAGES") packages) and $out.tar.gz;" \
  "on the GPU host: FTUNE_DEPS_PREFIX=$out scripts/gpu-check.sh"
