#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang (ASan + UBSan) into
# build-fuzz/ and runs each for a bounded time: hostile job files,
# signatures, args templates, csv, jsonl and npy must never crash kpool.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 20; about 2 minutes in all)
#
# Environment:
#   KPOOL_FUZZ_BUILD    build folder (default build-fuzz, relative to the repo)
#   KPOOL_FUZZ_JOBS     targets run at once (default: the number of CPUs)
#   KPOOL_FUZZ_TARGETS  which targets (default: "jobfile signature template csv jsonl npy")
#
# The corpus of each target lives in BUILD/corpus/<target>/: the text seeds of
# tests/fuzz/corpus/<target>/, npy seeds written here (npy files are binary,
# so none are committed), and what earlier runs found. Inputs that crash,
# leak, hang or exhaust memory are saved as BUILD/crashes/<target>-crash-*
# (-leak-, -timeout-, -oom-), and the run exits 1. To look at one:
#   BUILD/fuzz/fuzz_<target> BUILD/crashes/<file>                  (replays it)
#   BUILD/fuzz/fuzz_<target> -minimize_crash=1 -runs=10000 BUILD/crashes/<file>
# Exit status: 0 no target found anything, 1 some did, 2 it could not build.
set -euo pipefail
# The whole script is one block, read before any of it runs: bash reads a
# script as it goes, so an edit during a long run would otherwise break it.
{
cd "$(dirname "$0")/.."

seconds=${1:-20}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]  (a whole number of seconds >= 1)" >&2
  exit 2
fi
build=${KPOOL_FUZZ_BUILD:-build-fuzz}
jobs=${KPOOL_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
all_targets="jobfile signature template csv jsonl npy"
read -ra targets <<<"${KPOOL_FUZZ_TARGETS:-$all_targets}"
for t in "${targets[@]}"; do
  if ! [[ " $all_targets " == *" $t "* ]]; then
    echo "fuzz: unknown target '$t' in KPOOL_FUZZ_TARGETS; the targets are: $all_targets" >&2
    exit 2
  fi
done

if ! command -v clang >/dev/null; then
  echo "fuzz: clang is not installed (Debian: apt-get install clang libclang-rt-dev)" >&2
  exit 2
fi

# ---- build ------------------------------------------------------------------
echo "fuzz: building the targets in $build (clang, -fsanitize=fuzzer,address,undefined)"
mkdir -p "$build"
if ! CC=clang cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DKPOOL_FUZZ=ON \
      -DKPOOL_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1; then
  cat "$build/configure.log" >&2
  echo "fuzz: cmake could not configure $build" >&2
  exit 2
fi
if ! cmake --build "$build" --target fuzz_all -j "$jobs" >"$build/build.log" 2>&1; then
  grep -E 'error|Error' "$build/build.log" | head -40 >&2 || cat "$build/build.log" >&2
  echo "fuzz: the build failed; the whole log is $build/build.log" >&2
  exit 2
fi

# ---- corpora and dictionaries -----------------------------------------------
mkdir -p "$build/crashes" "$build/logs" "$build/dict" "$build/tmp"
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t"
  if [ -d "tests/fuzz/corpus/$t" ]; then
    cp tests/fuzz/corpus/"$t"/* "$build/corpus/$t/"
  fi
  cp "tests/fuzz/dict/$t.dict" "$build/dict/$t.dict"
done

# The job file's sections, keys and enum choices, straight from KP_JOB_KEYS.
sed -n 's/^ *X(\([a-z_]*\), \([a-z_]*\), KP_KEY_[A-Z_]*, "\([^"]*\)".*/\1 \2 \3/p' \
    runtime/jobfile.h |
  while read -r section key choices; do
    printf '"[%s]"\n"%s = "\n"%s.%s="\n' "$section" "$key" "$section" "$key"
    for c in ${choices//|/ }; do printf '"%s"\n' "$c"; done
  done | sort -u >>"$build/dict/jobfile.dict"

# le64 N: the 8 bytes of the 64-bit integer N (two's complement), little-endian,
# as printf escapes. Doubles are given by their bit patterns.
le64() {
  local n=$1 i
  for ((i = 0; i < 8; i++)); do printf '\\x%02x' $(((n >> (8 * i)) & 255)); done
}
le32() {
  local n=$1 i
  for ((i = 0; i < 4; i++)); do printf '\\x%02x' $(((n >> (8 * i)) & 255)); done
}
le16() {
  printf '\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255))
}
# npy FILE MAJOR DICT DATA [PAD]: an npy file of format MAJOR.0 whose header
# dict is DICT, padded (unless PAD is "nopad") so that the data starts at a
# multiple of 64 bytes, as numpy writes it; DATA is printf escapes.
npy() {
  local file=$1 major=$2 dict=$3 data=$4 pad=0 prefix=10 hlen
  [ "$major" -eq 1 ] || prefix=12
  if [ "${5:-}" != nopad ]; then
    pad=$(((64 - (prefix + ${#dict} + 1) % 64) % 64))
  fi
  hlen=$((${#dict} + pad + 1))
  {
    printf '\x93NUMPY'
    printf '%b' "$(le16 "$major")"
    if [ "$major" -eq 1 ]; then printf '%b' "$(le16 "$hlen")"; else printf '%b' "$(le32 "$hlen")"; fi
    printf '%s%*s\n' "$dict" "$pad" ''
    printf '%b' "$data"
  } >"$file"
}
hdr() { # hdr DESCR SHAPE [FORTRAN]
  printf "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" "$1" "${3:-False}" "$2"
}
make_npy_seeds() {
  local d=$1 rows="" i
  for i in 5 6 7 0 9 1 2 3 4 5 -1 9223372036854775807 -9223372036854775808 8 4; do
    rows+=$(le64 "$i")
  done
  local one=0x3FF0000000000000 minus_2_5=0xC004000000000000 nan=0x7FF8000000000000
  local inf=0x7FF0000000000000
  local f64s
  f64s="$(le64 $one)$(le64 $minus_2_5)$(le64 $nan)$(le64 $inf)"
  npy "$d/v1_2d_i64.npy" 1 "$(hdr '<i8' '(3, 5)')" "$rows"
  npy "$d/v1_1d_f64.npy" 1 "$(hdr '<f8' '(4,)')" "$f64s"
  npy "$d/v2_1d_bool.npy" 2 "$(hdr '|b1' '(6,)')" '\x01\x00\x01\x01\x00\x02'
  npy "$d/v3_2d_f64.npy" 3 "$(hdr '<f8' '(2, 2)')" "$f64s"
  npy "$d/v2_2d_bool.npy" 2 "$(hdr '?' '(2, 3)')" '\x00\x01\x01\x00\xff\x00'
  npy "$d/v1_2d_i32.npy" 1 "$(hdr '<i4' '(2, 2)')" "$(le32 7)$(le32 -7)$(le32 2147483647)$(le32 0)"
  npy "$d/v1_1d_u64.npy" 1 "$(hdr '<u8' '(2,)')" "$(le64 1)$(le64 -1)"
  npy "$d/v1_1d_u1_i2_f4.npy" 1 "$(hdr '|u1' '(3,)')" '\x00\x7f\xff'
  npy "$d/v1_scalar.npy" 1 "$(hdr '<i8' '()')" "$(le64 42)"
  npy "$d/v1_empty_rows.npy" 1 "$(hdr '<i8' '(0, 5)')" ''
  npy "$d/v1_empty_cols.npy" 1 "$(hdr '<i8' '(4, 0)')" ''
  npy "$d/v1_fortran_1col.npy" 1 "$(hdr '<i8' '(3, 1)' True)" "$(le64 1)$(le64 2)$(le64 3)"
  npy "$d/v1_unaligned.npy" 1 "{'shape':(2,2),'fortran_order':False,'descr':'<i8'}" \
    "$(le64 1)$(le64 2)$(le64 3)$(le64 4)" nopad
  npy "$d/v1_python2.npy" 1 "{\"descr\": \"<i8\", \"fortran_order\": False, \"shape\": (1L, 2L)}" \
    "$(le64 1)$(le64 2)"
  # Headers that lie or are refused: a shape larger than the data, one too
  # large to address, zero columns of a huge row count, a header length past
  # the end, Fortran order, big-endian, a structured dtype, three dimensions.
  npy "$d/lie_rows.npy" 1 "$(hdr '<i8' '(1000, 5)')" "$rows"
  npy "$d/lie_values.npy" 2 "$(hdr '<f8' '(1000000,)')" "$(le64 $one)"
  npy "$d/lie_huge.npy" 1 "$(hdr '<i8' '(18446744073709551615, 2)')" "$rows"
  npy "$d/lie_huge_zero_cols.npy" 1 "$(hdr '<i8' '(18446744073709551615, 0)')" ''
  npy "$d/lie_fortran.npy" 1 "$(hdr '<i8' '(2, 3)' True)" "$rows"
  npy "$d/big_endian.npy" 1 "$(hdr '>i8' '(1,)')" "$(le64 1)"
  npy "$d/structured.npy" 1 "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }" \
    "$(le32 1)"
  npy "$d/three_dims.npy" 3 "$(hdr '<i8' '(1, 1, 1)')" "$(le64 1)"
  printf '\x93NUMPY\x01\x00\xff\xff{' >"$d/lie_header_length.npy"
  printf '\x93NUMPY\x02\x00' >"$d/truncated_version_2.npy"
}
for t in "${targets[@]}"; do
  if [ "$t" = npy ]; then make_npy_seeds "$build/corpus/npy"; fi
done

# ---- run ----------------------------------------------------------------------
# The targets write each input to a scratch file: on tmpfs when there is one,
# as the file system's work would otherwise cost more than the run. The
# folder is this run's own and goes when the script ends.
scratch_root=$build/tmp
if [ -d /dev/shm ] && [ -w /dev/shm ]; then scratch_root=/dev/shm; fi
TMPDIR=$(mktemp -d "$scratch_root/kpool-fuzz.XXXXXX")
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
started=$build/logs/.started
touch "$started"

echo "fuzz: running ${#targets[@]} targets for ${seconds}s each, $jobs at a time"
declare -A pid status
trap 'kill "${pid[@]}" 2>/dev/null || true' INT TERM
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -dict="$build/dict/$t.dict" -artifact_prefix="$build/crashes/$t-" -print_final_stats=1 \
    "$build/corpus/$t" >"$build/logs/$t.log" 2>&1 &
  pid[$t]=$!
done
# bash keeps the status of a child that `wait -n` reaped for a later `wait PID`.
for t in "${targets[@]}"; do
  if wait "${pid[$t]}"; then status[$t]=0; else status[$t]=$?; fi
done
trap - INT TERM

failed=0
printf '\n%-10s %12s %10s %8s  %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
  log=$build/logs/$t.log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$build/corpus/$t" -type f | wc -l)
  found=$(find "$build/crashes" -name "$t-*" -newer "$started" -type f | sort | tr '\n' ' ')
  if [ "${status[$t]}" -eq 0 ] && [ -z "$found" ]; then
    result=ok
  else
    failed=1
    result="FOUND (exit ${status[$t]}): ${found:-see $log}"
    # A crash often leaves no final stats: count the runs from the last status line.
    [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  fi
  printf '%-10s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$result"
done
rm -f "$started"
if [ "$failed" -ne 0 ]; then
  echo
  echo "fuzz: some targets found a problem; each log ($build/logs/<target>.log) ends with the"
  echo "fuzz: report and stack trace, and the input is in $build/crashes/"
  exit 1
fi
echo "fuzz: no target found a problem"
exit 0
}
