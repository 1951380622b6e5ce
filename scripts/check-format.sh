#!/usr/bin/env bash
# Fails (exit 1, listing the files) when a tracked C++ file differs from clang-format's output
# under .clang-format. Fix with: git ls-files '*.cpp' '*.h' | xargs clang-format -i
# Debian 12's clang-format 14 is the reference: another version may format a few lines otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null 2>&1; then
  echo "check-format: clang-format not found; hint: bash scripts/install-deps.sh" >&2
  exit 1
fi
bad=()
while IFS= read -r file; do
  if ! clang-format --dry-run --Werror "$file" >/dev/null 2>&1; then bad+=("$file"); fi
done < <(git ls-files '*.cpp' '*.h')
if [ ${#bad[@]} -gt 0 ]; then
  echo "check-format: ${#bad[@]} file(s) not formatted: ${bad[*]}" >&2
  echo "hint: git ls-files '*.cpp' '*.h' | xargs clang-format -i" >&2
  exit 1
fi
echo "check-format: $(git ls-files '*.cpp' '*.h' | wc -l) files formatted ($(clang-format --version))"
