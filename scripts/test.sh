#!/usr/bin/env bash
# Installs what is missing, builds kpool twice (plain, and with ASan + UBSan),
# runs each fuzz target for a bounded time (KPOOL_FUZZ_SECONDS, default 10),
# then the whole test suite in both builds.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --asan
jobs=$(nproc 2>/dev/null || echo 2)
status=0
echo "== fuzzing (${KPOOL_FUZZ_SECONDS:-10} s per target)"
scripts/fuzz.sh "${KPOOL_FUZZ_SECONDS:-10}" || status=1
for dir in build build-asan; do
  echo "== tests in $dir"
  (cd "$dir" && ctest --output-on-failure -j "$jobs") || status=1
done
exit $status
