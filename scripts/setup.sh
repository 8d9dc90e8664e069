#!/usr/bin/env bash
# Installs what kpool needs from Debian's packages (only what is missing),
# then builds it into build/ (and, with --asan, into build-asan/ with
# AddressSanitizer + UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."

# mpich: backend = mpi and its tests; chromium (with a font: recommended
# packages are not installed), tmux: the report's browser test and the
# progress bar's terminal test; groff-base: the man pages' test.
packages=(gcc make cmake pkg-config libffi-dev libinih-dev libcmocka-dev libjansson-dev valgrind
          clang libclang-rt-dev mpich libmpich-dev chromium fonts-liberation tmux groff-base)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

jobs=$(nproc 2>/dev/null || echo 2)
build() { # build DIR [cmake options...]
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$jobs" 2>&1 | grep -Ev '^\[ *[0-9]+%\]|^(Consolidate|Built target|Scanning)' || true
  # grep hides progress lines; a failed build still fails here:
  cmake --build "$dir" -j "$jobs" >/dev/null
}
build build
if [ "${1:-}" = "--asan" ]; then
  build build-asan -DKPOOL_SANITIZE=ON
fi
