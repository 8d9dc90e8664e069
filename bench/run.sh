#!/usr/bin/env bash
# bench/run.sh - kpool against Python's multiprocessing on the same input.
#
#   bench/run.sh [--runs N] [--slow-runs N] [--spin-tasks N] [--big] [--keep]
#   KPOOL=/path/to/kpool bench/run.sh
#
# Runs every benchmark of bench/README.md, checks every run's exit status and
# output, and prints a Markdown table of medians and ratios; the same table is
# written to bench/last-results.md. Progress goes to stderr.
#
#   --runs N        timed runs per command (default 5); the median is reported
#   --slow-runs N   timed runs of the Python commands that take many seconds a
#                   run (apply_async, imap_unordered with chunksize 1, apply)
#                   (default 3; never more than --runs)
#   --spin-tasks N  tasks of the CPU-bound benchmark (default 2000)
#   --big           also run the 200,000,000-task memory benchmark (minutes)
#   --keep          keep the work directory (outputs, per-run reports)
#   KPOOL           the kpool binary to measure (default: build/kpool)
set -u -o pipefail
export LC_ALL=C # sort, awk and printf: the same numbers in every locale

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
RUNS=5
SLOW_RUNS=3
SPIN_TASKS=2000
BIG=0
KEEP=0
PY=/usr/bin/python3
SEED_ROWS=200000
TRIVIAL_N=2000000
APPLY_ROWS_A=1000 # pool.apply is measured on these two prefixes of the data
APPLY_ROWS_B=10000 # and extrapolated linearly to all rows

die() {
    echo "bench: $*" >&2
    exit 1
}
usage() {
    sed -n '3,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 needs an integer >= 1, got '$2'"; }

INVOCATION="bench/run.sh${*:+ $*}"
while [ $# -gt 0 ]; do
    case $1 in
    --runs) [ $# -ge 2 ] || die "--runs needs a value"; positive --runs "$2"; RUNS=$2; shift 2 ;;
    --slow-runs) [ $# -ge 2 ] || die "--slow-runs needs a value"; positive --slow-runs "$2"; SLOW_RUNS=$2; shift 2 ;;
    --spin-tasks) [ $# -ge 2 ] || die "--spin-tasks needs a value"; positive --spin-tasks "$2"; SPIN_TASKS=$2; shift 2 ;;
    --big) BIG=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage 0 ;;
    *) echo "bench: unknown option '$1'" >&2; usage 2 ;;
    esac
done
[ "$SLOW_RUNS" -le "$RUNS" ] || SLOW_RUNS=$RUNS
T_START=$(date +%s.%N)

# ---------------------------------------------------------------- prerequisites

KPOOL=${KPOOL:-$ROOT/build/kpool}
case $KPOOL in */*) ;; *) KPOOL=$(command -v "$KPOOL" || echo "$KPOOL") ;; esac
[ -x "$KPOOL" ] || die "no kpool binary at $KPOOL: build it (scripts/setup.sh, or
  cmake -S $ROOT -B /tmp/kpool-build -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/kpool-build)
and run KPOOL=/path/to/kpool $0"
KPOOL=$(cd "$(dirname "$KPOOL")" && pwd)/$(basename "$KPOOL")
KPOOL_VERSION=$("$KPOOL" --version 2>&1) || die "$KPOOL --version failed: $KPOOL_VERSION"
for f in data/seed.npy data/seed.expected.csv plugins/libseed.so config/seed.ini config/map.ini \
    config/async.ini; do
    [ -r "$ROOT/$f" ] || die "$ROOT/$f is missing: the kpool build makes it (scripts/setup.sh)"
done
for tool in cc pkg-config sort cmp awk; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
pkg-config --exists libffi || die "libffi's pkg-config file is missing (apt-get install libffi-dev)"
[ -x "$PY" ] || die "$PY is missing: the Python side needs Debian's python3 (apt-get install python3)"
if ! "$PY" -c 'import numpy' 2>/dev/null; then
    echo "bench: $PY has no numpy; installing Debian's python3-numpy" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -qq python3-numpy >/dev/null ||
        { $sudo apt-get update -qq && $sudo apt-get install -y -qq python3-numpy >/dev/null; } ||
        die "could not install python3-numpy"
    "$PY" -c 'import numpy' || die "$PY still cannot import numpy"
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/kpool-bench.XXXXXX") || die "cannot make a work directory"
# shellcheck disable=SC2317 # called by the trap
cleanup() { if [ "$KEEP" -eq 1 ]; then echo "bench: work directory kept: $W" >&2; else rm -rf "$W"; fi; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The measuring tools and the benchmark's kernels, built into the work directory.
cc -std=c11 -O2 -Wall -Wextra -o "$W/measure" "$HERE/measure.c" ||
    die "cannot build bench/measure.c"
cc -O2 -shared -fPIC -Wall -Wextra -I"$ROOT/include" -o "$W/libbench.so" "$HERE/kernels.c" ||
    die "cannot build bench/kernels.c"
# shellcheck disable=SC2046 # pkg-config's flags are meant to be split
cc -std=c11 -O2 -Wall -Wextra -I"$ROOT/include" -I"$ROOT/runtime" $(pkg-config --cflags libffi) -o "$W/floor" \
    "$HERE/floor.c" $(pkg-config --libs libffi) -ldl || die "cannot build bench/floor.c"

NPROC=$(nproc)
PY_CPUS=$("$PY" -c 'import multiprocessing as mp; print(mp.cpu_count())')
KPOOL_CPUS=$("$KPOOL" info 2>/dev/null | sed -n 's/^cpu count: \([0-9]*\).*/\1/p')
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
[ -n "$CPU_MODEL" ] || CPU_MODEL=$(uname -m)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# Job files of the benchmark's own kernels; paths in them are absolute.
job() { # job FILE KERNEL RANGE
    cat >"$1" <<EOF
[job]
plugin = $W/libbench.so
kernel = $2
mode   = starmap
args   = \$0
[input]
range  = $3
[output]
format = csv
EOF
}
job "$W/trivial.ini" add1 "0:$TRIVIAL_N"
job "$W/spin.ini" spin "0:$SPIN_TASKS"
seq 1 "$TRIVIAL_N" >"$W/trivial.ref" # add1 over range(N) is 1..N
head -n "$APPLY_ROWS_A" "$ROOT/data/seed.expected.csv" >"$W/apply_a.ref"
head -n "$APPLY_ROWS_B" "$ROOT/data/seed.expected.csv" >"$W/apply_b.ref"

# ------------------------------------------------------------------ the engine
#
# def ID LABEL RUNS TRACE CHECK REF -- COMMAND...   declares a measured command.
#   RUNS   timed runs; TRACE 1 adds one traced run first (peak RSS of every
#          process; also a warm-up), whose time is not used
#   CHECK  how the output @OUT@ is compared with the file REF:
#          same      byte for byte
#          indexed   "index,result" lines in any order: sorted by index, the
#                    indices must be exactly 0..N-1 and the results equal REF
#          lines:N   stdout is piped to wc -l, which must print N (REF unused)
#          floor     floor's own checksum (its exit status) only
# Per command the results are: STATE (ok, MISMATCH, FAILED ...), the lists of
# wall times, in-process times (kpool's summary line or seed_pool's
# inner_s), tree max RSS, and the traced run's per-process peaks.

declare -A LABEL NRUNS TRACE CHECK REF CMD STATE WALLS INNERS TREEKB ROOTKB DESCKB DESCN CHILDKB LEFT \
    OTHER NOTE
IDS=()

def() {
    local id=$1
    LABEL[$id]=$2 NRUNS[$id]=$3 TRACE[$id]=$4 CHECK[$id]=$5 REF[$id]=$6
    shift 6
    [ "$1" = "--" ] && shift
    CMD[$id]=$(printf '%q ' "$@")
    STATE[$id]=ok WALLS[$id]="" INNERS[$id]="" TREEKB[$id]="" ROOTKB[$id]="" DESCKB[$id]=""
    DESCN[$id]="" CHILDKB[$id]="" LEFT[$id]="" OTHER[$id]="" NOTE[$id]=""
    IDS+=("$id")
}

field() { sed -n "s/^$1=//p" "$2" | head -1; }

check_output() { # check_output ID -> 0 same, 1 differs
    local id=$1 out=$W/$1.out ref=${REF[$1]}
    case ${CHECK[$id]} in
    same) cmp -s "$out" "$ref" ;;
    indexed)
        sort -t, -k1,1n "$out" |
            awk -F, 'NF != 2 || $1 != NR - 1 { bad = 1; exit } { print $2 } END { exit bad }' \
                >"$out.sorted" && cmp -s "$out.sorted" "$ref"
        ;;
    lines:*) [ "$(tr -d ' ' <"$W/$id.stdout")" = "${CHECK[$id]#lines:}" ] ;;
    floor) return 0 ;;
    *) die "unknown check ${CHECK[$id]}" ;;
    esac
}

run_one() { # run_one ID RUN_NUMBER TRACED
    local id=$1 r=$2 traced=$3 rep=$W/$1.$2.rep err=$W/$1.$2.err out=$W/$1.out rc
    local -a argv=() cmdv
    eval "cmdv=(${CMD[$id]})"
    local a
    for a in "${cmdv[@]}"; do argv+=("${a//@OUT@/$out}"); done
    rm -f "$out" "$W/$id.stdout"
    local -a mflags=(-r "$rep")
    [ "$traced" -eq 1 ] && mflags=(-t -r "$rep")
    case ${CHECK[$id]} in
    lines:*)
        "$W/measure" "${mflags[@]}" -- "${argv[@]}" 2>"$err" | wc -l >"$W/$id.stdout"
        rc=${PIPESTATUS[0]}
        ;;
    *)
        "$W/measure" "${mflags[@]}" -- "${argv[@]}" >"$W/$id.stdout" 2>"$err"
        rc=$?
        ;;
    esac
    if [ "$rc" -ne 0 ] || [ ! -s "$rep" ]; then
        STATE[$id]="FAILED (exit $rc)"
        NOTE[$id]=$(grep -v '^\s*$' "$err" | tail -1 | cut -c1-120)
        printf 'bench: %s run %s FAILED (exit %s): %s\n' "$id" "$r" "$rc" "${NOTE[$id]}" >&2
        return
    fi
    if ! check_output "$id"; then
        STATE[$id]=MISMATCH
        NOTE[$id]="output differs from ${REF[$id]##*/}"
        [ "$KEEP" -eq 1 ] && cp "$out" "$W/$id.$r.mismatch" 2>/dev/null
        printf 'bench: %s run %s: output MISMATCH\n' "$id" "$r" >&2
        return
    fi
    local wall inner
    wall=$(field wall_s "$rep")
    if [ "$traced" -eq 1 ]; then
        ROOTKB[$id]=$(field root_hwm_kb "$rep")
        DESCKB[$id]=$(field desc_max_kb "$rep")
        DESCN[$id]=$(field desc_n "$rep")
        LEFT[$id]=$(field leftover "$rep")
        [ "$(field desc_unmeasured "$rep")" = 0 ] || DESCKB[$id]=""
        # Every child's peak, largest first (the root's line comes first).
        CHILDKB[$id]=$(awk '/^proc / && n++ { sub("peak_kb=", "", $4); print $4 }' "$rep" |
            sort -rn | tr '\n' ' ')
        printf 'bench: %-22s traced  %8.3f s  main %s KiB, largest of %s children %s KiB\n' \
            "$id" "$wall" "${ROOTKB[$id]}" "${DESCN[$id]}" "${DESCKB[$id]:-?}" >&2
        return
    fi
    inner=$(sed -n 's/^kpool: [0-9]* tasks in \([0-9.]*\) s.*/\1/p; s/^seed_pool: .*inner_s=\([0-9.]*\).*/\1/p' \
        "$err" | head -1)
    if [ "${CHECK[$id]}" = floor ]; then
        cp "$W/$id.stdout" "$W/$id.$r.out.kv"
        inner=$(field ffi_s "$W/$id.stdout")
        [ -n "$inner" ] || inner=$(field spin_s "$W/$id.stdout")
    fi
    WALLS[$id]+="$wall "
    INNERS[$id]+="${inner:+$inner }"
    TREEKB[$id]+="$(field tree_maxrss_kb "$rep") "
    OTHER[$id]+="$(field other_cpu_s "$rep"):$wall "
    printf 'bench: %-22s run %d/%d %8.3f s\n' "$id" "$r" "${NRUNS[$id]}" "$wall" >&2
}

run_group() { # run_group ID...: traced runs first, then the timed runs interleaved
    local id r max=0
    for id in "$@"; do
        [ "${TRACE[$id]}" -eq 1 ] && [ "${STATE[$id]}" = ok ] && run_one "$id" 0 1
        [ "${NRUNS[$id]}" -gt "$max" ] && max=${NRUNS[$id]}
    done
    for ((r = 1; r <= max; r++)); do
        for id in "$@"; do
            [ "$r" -le "${NRUNS[$id]}" ] && [ "${STATE[$id]}" = ok ] && run_one "$id" "$r" 0
        done
    done
}

# ---------------------------------------------------------------- statistics

median() { tr ' ' '\n' | awk 'NF { v[n++] = $1 } END {
    if (!n) exit; asort_(v, n); print (n % 2) ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2 }
    function asort_(a, n,   i, j, t) { for (i = 1; i < n; i++) for (j = i; j > 0 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t } }'; }
minof() { tr ' ' '\n' | awk 'NF && (m == "" || $1 < m) { m = $1 } END { print m }'; }
maxof() { tr ' ' '\n' | awk 'NF && (m == "" || $1 > m) { m = $1 } END { print m }'; }
calc() { awk "BEGIN { printf \"%.10g\", $1 }" 2>/dev/null; }
# Formats: seconds, a rate with thousands separators, KiB as MiB, a ratio.
# Seconds: four decimals below 0.1 s (a 10 ms job's tenth shows), else three or two.
fs() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { printf (v < 0.1 ? "%.4f" : v < 10 ? "%.3f" : "%.2f"), v }'; }
frate() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { s = sprintf("%.0f", v); o = "";
    while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) } print s o }'; }
fmib() { [ -n "$1" ] && [ "$1" -ge 0 ] 2>/dev/null && awk -v v="$1" 'BEGIN { printf "%.1f", v / 1024 }'; }
fx() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { printf (v < 10 ? "%.2fx" : "%.0fx"), v }'; }

ok() { [ "${STATE[$1]}" = ok ] && [ -n "${WALLS[$1]}" ]; }
wall() { ok "$1" && echo "${WALLS[$1]}" | median; }
inner() { ok "$1" && echo "${INNERS[$1]}" | median; }
# "median (min-max)" of the wall times, or the failure.
wallcell() {
    if ! ok "$1"; then echo "**${STATE[$1]}**"; return; fi
    printf '%s (%s–%s)' "$(fs "$(wall "$1")")" "$(fs "$(echo "${WALLS[$1]}" | minof)")" \
        "$(fs "$(echo "${WALLS[$1]}" | maxof)")"
}
rate() { local t; t=$(wall "$1") && [ -n "$t" ] && calc "$2 / $t"; }
memcell() { # the traced run's peaks, else the tree max of the timed runs
    local id=$1
    if [ -n "${ROOTKB[$id]}" ] && [ "${ROOTKB[$id]}" -ge 0 ] 2>/dev/null; then
        local d="—" kb
        if [ "${DESCN[$id]:-0}" -gt 4 ]; then
            d="largest $(fmib "${DESCKB[$id]}") of ${DESCN[$id]}"
        elif [ "${DESCN[$id]:-0}" -gt 0 ]; then
            d=""
            for kb in ${CHILDKB[$id]}; do d+="${d:+, }$(fmib "$kb" || echo "?")"; done
        fi
        printf '%s / %s' "$(fmib "${ROOTKB[$id]}")" "$d"
    elif ok "$id"; then
        printf 'tree %s' "$(fmib "$(echo "${TREEKB[$id]}" | maxof)")"
    else
        echo "—"
    fi
}
checkcell() {
    local left=""
    [ "${LEFT[$1]:-0}" -gt 0 ] 2>/dev/null && left=" **(${LEFT[$1]} children outlived it)**"
    case ${STATE[$1]} in
    ok) { [ "${CHECK[$1]}" = floor ] && echo "checksum ok" || echo "identical"; } | tr -d '\n'
        echo "$left" ;;
    MISMATCH) echo "**MISMATCH**" ;;
    *) echo "**${STATE[$1]}**${NOTE[$1]:+: ${NOTE[$1]//|/\\|}}" ;;
    esac
}
# What other processes took from the cores during a section's timed runs.
contention() { # contention ID...
    local id pairs=""
    for id in "$@"; do pairs+="${OTHER[$id]} "; done
    echo "$pairs" | tr ' ' '\n' | awk -F: -v n="$NPROC" 'NF == 2 { o += $1; w += $2 }
        END { if (!w) exit; c = o / w
              printf "Other processes kept %.2f of the %d cores busy on average during these timed runs (/proc/stat)", c, n
              if (c > 0.1 * n) printf ": **the machine was not idle; these numbers are contended**"
              print "." }'
}
# "A ÷ B" of two commands' median walls, or — when either is missing.
ratio() { local a b; a=$(wall "$1") && b=$(wall "$2") && [ -n "$a" ] && [ -n "$b" ] && fx "$(calc "$a / $b")" || echo "—"; }

# ------------------------------------------------------------ the benchmarks

SEED="$ROOT/data/seed.expected.csv"
NPY="$ROOT/data/seed.npy"
K="$KPOOL"
SP="$HERE/seed_pool.py"
R=$RUNS
S=$SLOW_RUNS

# 1. The seed's job and its siblings, whole process.
def k_starmap "kpool starmap (config/seed.ini)" "$R" 1 same "$SEED" -- \
    "$K" run "$ROOT/config/seed.ini" -o @OUT@
def p_starmap "Python Pool.starmap" "$R" 1 same "$SEED" -- "$PY" "$SP" starmap --npy "$NPY" -o @OUT@
def p_serial "Python serial loop" "$R" 1 same "$SEED" -- "$PY" "$SP" serial --npy "$NPY" -o @OUT@
def k_map "kpool map (config/map.ini)" "$R" 1 same "$SEED" -- "$K" run "$ROOT/config/map.ini" -o @OUT@
def p_map "Python Pool.map" "$R" 1 same "$SEED" -- "$PY" "$SP" map --npy "$NPY" -o @OUT@
def k_async "kpool completion order, chunksize 1000 (config/async.ini)" "$R" 1 indexed "$SEED" -- \
    "$K" run "$ROOT/config/async.ini" -o @OUT@
def p_imap1000 "Python imap_unordered, chunksize=1000" "$R" 1 indexed "$SEED" -- \
    "$PY" "$SP" imap_unordered --chunksize 1000 --npy "$NPY" -o @OUT@

# 2. One task per dispatch.
def k_cs1 "kpool starmap, --set pool.chunksize=1" "$R" 0 same "$SEED" -- \
    "$K" run "$ROOT/config/seed.ini" --set pool.chunksize=1 -o @OUT@
def k_cs1c "kpool completion order, --set pool.chunksize=1" "$R" 0 indexed "$SEED" -- \
    "$K" run "$ROOT/config/async.ini" --set pool.chunksize=1 -o @OUT@
def p_async "Python apply_async per row (callback, sort)" "$S" 0 same "$SEED" -- \
    "$PY" "$SP" apply_async --npy "$NPY" -o @OUT@
def p_imap1 "Python imap_unordered, chunksize=1" "$S" 0 indexed "$SEED" -- \
    "$PY" "$SP" imap_unordered --chunksize 1 --npy "$NPY" -o @OUT@
def p_apply_a "Python apply per row, first $APPLY_ROWS_A rows" "$S" 0 same "$W/apply_a.ref" -- \
    "$PY" "$SP" apply --rows "$APPLY_ROWS_A" --npy "$NPY" -o @OUT@
def p_apply_b "Python apply per row, first $APPLY_ROWS_B rows" "$S" 0 same "$W/apply_b.ref" -- \
    "$PY" "$SP" apply --rows "$APPLY_ROWS_B" --npy "$NPY" -o @OUT@

# 3. The trivial kernel over 2,000,000 tuples.
def k_triv "kpool add1, -j 2, chunksize auto" "$R" 1 same "$W/trivial.ref" -- \
    "$K" run "$W/trivial.ini" -j 2 -o @OUT@
def c_floor "C loop, 1 core (bench/floor.c)" "$R" 0 floor "" -- "$W/floor" "$W/libbench.so" "$TRIVIAL_N" \
    "$W/floor.csv"
def p_triv "Python Pool.starmap(f, [(x,) for x in range(N)])" "$R" 1 same "$W/trivial.ref" -- \
    "$PY" "$SP" trivial --n "$TRIVIAL_N" -o @OUT@

# 4. CPU-bound, uneven ~1 ms tasks. The reference output is the direct loop's.
def c_spin "C direct calls, 1 core, 1 run (bench/floor.c --spin)" 1 0 floor "" -- \
    "$W/floor" "$W/libbench.so" --spin "$SPIN_TASKS" "$W/spin.ref"
def k_spin1 "kpool -j 1" "$R" 0 same "$W/spin.ref" -- "$K" run "$W/spin.ini" -j 1 -o @OUT@
def k_spinN "kpool -j $NPROC, chunksize auto" "$R" 0 same "$W/spin.ref" -- \
    "$K" run "$W/spin.ini" -j "$NPROC" -o @OUT@
def k_spinN1 "kpool -j $NPROC, chunksize 1" "$R" 0 same "$W/spin.ref" -- \
    "$K" run "$W/spin.ini" -j "$NPROC" --set pool.chunksize=1 -o @OUT@

# 5. The trace's cost: the seed's job with and without --trace, alternating,
# more runs than the others (the difference is a tenth of a short job).
TRACE_RUNS=$((R * 8 > 41 ? R * 8 : 41))
def k_untraced "kpool starmap (config/seed.ini)" "$TRACE_RUNS" 0 same "$SEED" -- \
    "$K" run "$ROOT/config/seed.ini" -o @OUT@
def k_traced "kpool starmap --trace FILE" "$TRACE_RUNS" 0 same "$SEED" -- \
    "$K" run "$ROOT/config/seed.ini" --trace "$W/seed.trace.jsonl" -o @OUT@

# 6. Memory against input size: one traced run each, results piped to wc -l.
MEM_SIZES=(2000000 20000000)
[ "$BIG" -eq 1 ] && MEM_SIZES+=(200000000)
for n in "${MEM_SIZES[@]}"; do
    job "$W/mem$n.ini" add1 "0:$n"
    def "k_mem$n" "kpool add1 over range(0, $n)" 0 1 "lines:$n" "" -- "$K" run "$W/mem$n.ini" -o -
done

echo "bench: kpool $KPOOL ($KPOOL_VERSION), $RUNS runs ($SLOW_RUNS for the slow Python ones), work dir $W" >&2
run_group c_spin # first: its output is the reference of the other spin runs
run_group k_starmap p_starmap p_serial k_map p_map k_async p_imap1000
run_group k_cs1 k_cs1c p_async p_imap1 p_apply_a p_apply_b
run_group k_triv c_floor p_triv
run_group k_spin1 k_spinN k_spinN1
run_group k_untraced k_traced
for n in "${MEM_SIZES[@]}"; do run_group "k_mem$n"; done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ the report

# Floor figures: medians over its runs of the key=value lines it printed.
floorval() { # floorval ID KEY
    local id=$1 r vals=""
    ok "$id" || return
    for ((r = 1; r <= NRUNS[$id]; r++)); do
        [ -f "$W/$id.$r.out.kv" ] && vals+="$(field "$2" "$W/$id.$r.out.kv") "
    done
    echo "$vals" | median
}

# pool.apply extrapolated from two prefixes: T(N) = T(b) + (T(b) - T(a)) (N - b) / (b - a).
extrapolate() { # extrapolate VALUE_A VALUE_B
    [ -n "$1" ] && [ -n "$2" ] &&
        calc "$2 + ($2 - $1) * ($SEED_ROWS - $APPLY_ROWS_B) / ($APPLY_ROWS_B - $APPLY_ROWS_A)"
}

MD=$W/results.md
{
    echo "### kpool benchmark"
    echo
    echo "- machine: $NPROC CPUs ($CPU_MODEL), Linux $(uname -r), load average $LOAD_START at the start, $LOAD_END at the end"
    echo "- kpool: \`$KPOOL\` ($KPOOL_VERSION; \`workers = auto\` = $KPOOL_CPUS); Python $("$PY" -c 'import sys; print(sys.version.split()[0])') (\`$PY\`, numpy $("$PY" -c 'import numpy; print(numpy.__version__)'), \`mp.cpu_count()\` = $PY_CPUS)"
    echo "- times: whole process, fork to exit, median of $RUNS runs ($SLOW_RUNS for the slow Python rows) with (min–max); runs of a section are interleaved; every run's exit status and output are checked"
    echo "- peak RSS: the largest resident set of each process over its life (VmHWM at its exit, followed with ptrace in one extra untimed run), as \"main / each child\" (largest first); \"tree\" = wait4's ru_maxrss, the largest of any one process of the tree (GNU time's %M). RSS counts shared pages (the mapped input, libraries) in every process that touches them"
    echo
    echo "#### 1. The seed's job: 200,000 rows × 5, \`(row, 4, 8)\`"
    echo
    echo "| Implementation | Wall s, median (min–max) | In-process s | Tasks/s (whole process) | Python ÷ kpool | Peak RSS MiB: main / each child | Output |"
    echo "|---|---|---|---|---|---|---|"
    for id in k_starmap p_starmap p_serial k_map p_map k_async p_imap1000; do
        case $id in
        p_starmap | p_serial) vs=$(ratio "$id" k_starmap) ;;
        p_map) vs=$(ratio p_map k_map) ;;
        p_imap1000) vs=$(ratio p_imap1000 k_async) ;;
        *) vs="—" ;;
        esac
        echo "| ${LABEL[$id]} | $(wallcell "$id") | $(fs "$(inner "$id")") | $(frate "$(rate "$id" "$SEED_ROWS")") | $vs | $(memcell "$id") | $(checkcell "$id") |"
    done
    echo
    echo "Python ÷ kpool: the Python row's median wall time over its kpool counterpart's (starmap and the serial loop against \`config/seed.ini\`, map against \`config/map.ini\`, imap_unordered against \`config/async.ini\`). In-process: kpool's own summary line; for Python the Pool part alone (pool creation to join, or the loop), without interpreter start, numpy import, data load and output."
    echo
    contention k_starmap p_starmap p_serial k_map p_map k_async p_imap1000
    echo
    echo "#### 2. One task per dispatch: 200,000 rows, chunksize 1"
    echo
    echo "| Implementation | Wall s, median (min–max) | In-process s | Tasks/s (whole process) | kpool ÷ Python, tasks/s | Peak RSS MiB | Output |"
    echo "|---|---|---|---|---|---|---|"
    for id in k_cs1 k_cs1c p_async p_imap1; do
        case $id in
        p_async | p_imap1) vs=$(ratio "$id" k_cs1) ;;
        *) vs="—" ;;
        esac
        echo "| ${LABEL[$id]} | $(wallcell "$id") | $(fs "$(inner "$id")") | $(frate "$(rate "$id" "$SEED_ROWS")") | $vs | $(memcell "$id") | $(checkcell "$id") |"
    done
    if ok p_apply_a && ok p_apply_b; then
        ta=$(wall p_apply_a) tb=$(wall p_apply_b)
        t_apply=$(extrapolate "$ta" "$tb")
        i_apply=$(extrapolate "$(inner p_apply_a)" "$(inner p_apply_b)")
        k=$(wall k_cs1)
        vs="—"
        [ -n "$k" ] && vs=$(fx "$(calc "$t_apply / $k")")
        echo "| Python apply per row, **extrapolated** to $SEED_ROWS rows from $APPLY_ROWS_A rows ($(fs "$ta") s) and $APPLY_ROWS_B rows ($(fs "$tb") s) | ~$(fs "$t_apply") | ~$(fs "$i_apply") | ~$(frate "$(calc "$SEED_ROWS / $t_apply")") | $vs | $(memcell p_apply_b) | identical (both prefixes) |"
    else
        bad=p_apply_a
        ok p_apply_a && bad=p_apply_b
        echo "| Python apply per row (extrapolated from $APPLY_ROWS_A and $APPLY_ROWS_B rows) | **${STATE[$bad]}** | | | — | | $(checkcell "$bad") |"
    fi
    echo
    echo "kpool ÷ Python: how many times more tasks per second kpool's chunksize-1 starmap runs (median walls). Python's apply_async and imap_unordered (default chunksize 1) send one task per message, as kpool does with \`pool.chunksize=1\`."
    echo
    contention k_cs1 k_cs1c p_async p_imap1 p_apply_a p_apply_b
    echo
    echo "#### 3. Trivial kernel \`add1(x) = x + 1\` over $(frate "$TRIVIAL_N") tuples"
    echo
    echo "| Implementation | Wall s, median (min–max) | Loop / in-process s | Tasks/s | ÷ the libffi loop | Peak RSS MiB | Output |"
    echo "|---|---|---|---|---|---|---|"
    ffi_rate=$(floorval c_floor ffi_calls_per_s)
    triv_rate=$(rate k_triv "$TRIVIAL_N")
    vs="—"
    [ -n "$ffi_rate" ] && [ -n "$triv_rate" ] && vs=$(fx "$(calc "$triv_rate / $ffi_rate")")
    echo "| ${LABEL[k_triv]} | $(wallcell k_triv) | $(fs "$(inner k_triv)") | $(frate "$triv_rate") | $vs | $(memcell k_triv) | $(checkcell k_triv) |"
    if ok c_floor; then
        for kind in direct ffi out; do
            r=$(floorval c_floor "${kind}_calls_per_s")
            name="direct C calls"
            [ $kind = ffi ] && name="libffi \`ffi_call\`, cif prepared once"
            [ $kind = out ] && name="libffi, and the same csv written to a file"
            echo "| C loop, 1 core: $name ($(floorval c_floor "${kind}_ns_per_call") ns/call) | — | $(fs "$(floorval c_floor "${kind}_s")") | $(frate "$r") | $(fx "$(calc "$r / $ffi_rate")") | — | checksum ok |"
        done
    else
        echo "| ${LABEL[c_floor]} | **${STATE[c_floor]}** | | | | | $(checkcell c_floor) |"
    fi
    py_rate=$(rate p_triv "$TRIVIAL_N")
    vs="—"
    [ -n "$ffi_rate" ] && [ -n "$py_rate" ] && vs=$(fx "$(calc "$py_rate / $ffi_rate")")
    echo "| ${LABEL[p_triv]} | $(wallcell p_triv) | $(fs "$(inner p_triv)") | $(frate "$py_rate") | $vs | $(memcell p_triv) | $(checkcell p_triv) |"
    echo
    echo "kpool and Python: whole process (start, $(frate "$TRIVIAL_N") results written to a csv file, exit); the C loops: the timed loop alone, median of the runs, no output except in the last (its lines made by kpool's own digit writer, 64 KiB writes, timed from creating the file to closing it). ÷ the libffi loop: tasks/s over the one-core libffi loop's calls/s."
    echo
    contention k_triv c_floor p_triv
    echo
    echo "#### 4. CPU-bound kernel: $(frate "$SPIN_TASKS") tasks of 0.5–1.5 ms (\`spin\`, fixed work per task)"
    echo
    echo "| Implementation | Wall s, median (min–max) | ms per task | Parallel efficiency | Output |"
    echo "|---|---|---|---|---|"
    t1=$(wall k_spin1)
    for id in c_spin k_spin1 k_spinN k_spinN1; do
        t=$(wall "$id")
        per="" eff="—"
        [ -n "$t" ] && per=$(awk -v t="$t" -v n="$SPIN_TASKS" 'BEGIN { printf "%.3f", t * 1000 / n }')
        case $id in
        k_spin1) [ -n "$t" ] && eff="(the serial time)" ;;
        k_spinN | k_spinN1) [ -n "$t" ] && [ -n "$t1" ] && eff=$(awk -v a="$t1" -v b="$t" -v w="$NPROC" 'BEGIN { printf "%.1f%%", 100 * a / (w * b) }') ;;
        c_spin) per=$(fs "$(floorval c_spin spin_ms_per_task)")
            t=$(floorval c_spin spin_s) ;;
        esac
        if ok "$id"; then
            cell=$(wallcell "$id")
            [ "$id" = c_spin ] && cell="$(fs "$t") (loop only)"
            echo "| ${LABEL[$id]} | $cell | $per | $eff | $(checkcell "$id") |"
        else
            echo "| ${LABEL[$id]} | **${STATE[$id]}** | | — | $(checkcell "$id") |"
        fi
    done
    echo
    echo "Parallel efficiency = T(\`-j 1\`) ÷ ($NPROC × T(\`-j $NPROC\`)), whole-process medians. Each task does a fixed number of multiply-adds, so every run does the same work; outputs are compared with the direct loop's."
    echo
    contention c_spin k_spin1 k_spinN k_spinN1
    echo
    echo "#### 5. The trace: \`--trace\` on the seed's job, $TRACE_RUNS runs each, alternating"
    echo
    echo "| Run | Wall s, median (min–max) | ÷ untraced | Output |"
    echo "|---|---|---|---|"
    trace_ratio=""
    ok k_untraced && ok k_traced && trace_ratio=$(calc "$(wall k_traced) / $(wall k_untraced)")
    echo "| ${LABEL[k_untraced]} | $(wallcell k_untraced) | — | $(checkcell k_untraced) |"
    echo "| ${LABEL[k_traced]} | $(wallcell k_traced) | $( [ -n "$trace_ratio" ] && printf '%.3f' "$trace_ratio") | $(checkcell k_traced) |"
    echo
    if ok k_untraced && ok k_traced; then
        # Run r of each ran back to back: their differences, paired, shed
        # most of what the machine's load does between minutes.
        paste -d ' ' <(echo "${WALLS[k_untraced]}" | tr ' ' '\n' | grep .) \
            <(echo "${WALLS[k_traced]}" | tr ' ' '\n' | grep .) | awk '{ print ($2 - $1) * 1000 }' |
            sort -n | awk '{ d[NR] = $1 } END {
                n = NR; lo = int(n / 2 - 0.98 * sqrt(n)); hi = int(n / 2 + 0.98 * sqrt(n)) + 1
                if (lo < 1) lo = 1; if (hi > n) hi = n
                med = (n % 2) ? d[(n + 1) / 2] : (d[n / 2] + d[n / 2 + 1]) / 2
                printf "Paired, run r of each back to back (untraced first): traced − untraced = %+.2f ms, median of %d pairs (95%% interval %+.2f to %+.2f ms; bench/ab.sh measures the same with the order alternating).\n\n", med, n, d[lo], d[hi] }'
    fi
    if [ -f "$W/seed.trace.jsonl" ]; then
        echo "The trace of the last run: $(wc -l <"$W/seed.trace.jsonl") lines, $(fmib "$(( $(stat -c %s "$W/seed.trace.jsonl") / 1024 ))") MiB."
        echo
    fi
    contention k_untraced k_traced
    echo
    echo "#### 6. Memory against input size: \`add1\` over a range, $KPOOL_CPUS workers, results piped to \`wc -l\`"
    echo
    echo "| Tasks | Wall s (one traced run) | Coordinator peak MiB | Largest worker peak MiB (workers) | Output |"
    echo "|---|---|---|---|---|"
    for n in "${MEM_SIZES[@]}"; do
        id=k_mem$n
        if ok "$id" || { [ "${STATE[$id]}" = ok ] && [ -n "${ROOTKB[$id]}" ]; }; then
            echo "| $(frate "$n") | $(fs "$(field wall_s "$W/$id.0.rep")") | $(fmib "${ROOTKB[$id]}") | $(fmib "${DESCKB[$id]}") (${DESCN[$id]}) | $n lines |"
        else
            echo "| $(frate "$n") | **${STATE[$id]}** | | | $(checkcell "$id") |"
        fi
    done
    [ "$BIG" -eq 1 ] || echo "| 200,000,000 | (run with \`--big\`) | | | |"
    echo
    echo "#### Targets"
    echo
    echo "| Target | Goal | Measured | |"
    echo "|---|---|---|---|"
    verdict() { # verdict VALUE OP LIMIT ID...: PASS, FAIL, or why it was not measured
        local v=$1 op=$2 limit=$3 id
        shift 3
        for id in "$@"; do
            [ "${STATE[$id]}" = ok ] || { echo "**not measured: $id ${STATE[$id]}**"; return; }
        done
        set -- "$v" "$op" "$limit"
        [ -n "$1" ] || { echo "n/a"; return; }
        awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { p = (op == ">=") ? v >= l : v <= l; print p ? "PASS" : "**FAIL**" }'
    }
    x=""
    ok k_starmap && ok p_starmap && x=$(calc "$(wall p_starmap) / $(wall k_starmap)")
    echo "| Seed job vs Python \`Pool.starmap\`, whole process | ≥ 50x faster | $(fx "$x") | $(verdict "$x" ">=" 50 k_starmap p_starmap) |"
    x=""
    if [ -n "${ROOTKB[k_starmap]}" ] && [ -n "${DESCKB[k_starmap]}" ] && ok k_starmap; then
        x=$(echo "${ROOTKB[k_starmap]} ${DESCKB[k_starmap]}" | maxof)
    fi
    echo "| Seed job peak RSS, kpool coordinator and each worker | ≤ 15 MiB | $( [ -n "$x" ] && echo "$(fmib "$x") MiB (coordinator $(fmib "${ROOTKB[k_starmap]}"), largest worker $(fmib "${DESCKB[k_starmap]}"))") | $(verdict "$x" "<=" 15360 k_starmap) |"
    x=$(rate k_cs1 "$SEED_ROWS")
    echo "| One task per dispatch (\`pool.chunksize=1\`), whole process | ≥ 1,000,000 tasks/s | $(frate "$x") tasks/s | $(verdict "$x" ">=" 1000000 k_cs1) |"
    x=""
    [ -n "$triv_rate" ] && [ -n "$ffi_rate" ] && x=$(calc "$triv_rate / $ffi_rate")
    echo "| Trivial kernel, 2 workers, vs the one-core libffi loop | ≥ 1.8x | $(fx "$x") ($(frate "$triv_rate") vs $(frate "$ffi_rate") /s) | $(verdict "$x" ">=" 1.8 k_triv c_floor) |"
    out_rate=$(floorval c_floor out_calls_per_s)
    x=""
    [ -n "$triv_rate" ] && [ -n "$out_rate" ] && x=$(calc "$triv_rate / $out_rate")
    echo "| (the same, vs the one-core libffi loop that also writes the csv) | — | $(fx "$x") ($(frate "$triv_rate") vs $(frate "$out_rate") /s) | — |"
    x=""
    ok k_spin1 && ok k_spinN && x=$(calc "100 * $(wall k_spin1) / ($NPROC * $(wall k_spinN))")
    echo "| CPU-bound parallel efficiency, $NPROC workers, chunksize auto | ≥ 97% | $( [ -n "$x" ] && printf '%.1f%%' "$x") | $(verdict "$x" ">=" 97 k_spin1 k_spinN) |"
    echo "| \`--trace\` on the seed job, whole process | ≤ 1.10x untraced | $( [ -n "$trace_ratio" ] && printf '%.3fx' "$trace_ratio") | $(verdict "$trace_ratio" "<=" 1.10 k_untraced k_traced) |"
    first=${MEM_SIZES[0]} last=${MEM_SIZES[${#MEM_SIZES[@]} - 1]}
    x="" detail=""
    if [ "${STATE[k_mem$first]}" = ok ] && [ "${STATE[k_mem$last]}" = ok ] && [ -n "${ROOTKB[k_mem$first]}" ] &&
        [ -n "${ROOTKB[k_mem$last]}" ] && [ -n "${DESCKB[k_mem$first]}" ] && [ -n "${DESCKB[k_mem$last]}" ]; then
        a=$(echo "${ROOTKB[k_mem$first]} ${DESCKB[k_mem$first]}" | maxof)
        b=$(echo "${ROOTKB[k_mem$last]} ${DESCKB[k_mem$last]}" | maxof)
        x=$((b - a))
        detail="largest process $(fmib "$a") → $(fmib "$b") MiB from $(frate "$first") to $(frate "$last") tasks"
    fi
    echo "| Memory does not grow with input size | growth ≤ 1 MiB | $detail | $(verdict "$x" "<=" 1024 "k_mem$first" "k_mem$last") |"
} >"$MD"

T_END=$(date +%s.%N)
echo >>"$MD"
echo "Total benchmark time: $(awk -v a="$T_START" -v b="$T_END" 'BEGIN { printf "%.0f", b - a }') s (\`$INVOCATION\`)." >>"$MD"

cat "$MD"
cp "$MD" "$HERE/last-results.md" || die "cannot write $HERE/last-results.md"
echo "bench: written to $HERE/last-results.md" >&2

# Exit 1 when a run failed or an output differed: the table says which.
for id in "${IDS[@]}"; do
    [ "${STATE[$id]}" = ok ] || exit 1
done
exit 0
