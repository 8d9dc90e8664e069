#!/usr/bin/env bash
# backend = mpi: the CPU-bound workload of bench/run.sh (spin: tasks of
# 0.5-1.5 ms, fixed work each) on 1, 2 and 3 MPI ranks of 1 worker each,
# against kpool -j 1 on one machine; and the cost of one chunk's round trip
# through rank 0 (relay, agents, MPI), from no-op tasks sent one per chunk.
#
#   bench/mpi.sh [--runs N] [--spin-tasks N] [--chunks N]
#   KPOOL=/path/to/kpool MPIEXEC=mpiexec bench/mpi.sh
#
# Prints a Markdown table on stdout; progress on stderr. Medians of --runs
# whole-process wall times, runs of the configurations interleaved.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
KPOOL=${KPOOL:-$ROOT/build/kpool}
MPIEXEC=${MPIEXEC:-mpiexec}
RUNS=5 SPIN_TASKS=2000 CHUNKS=20000
while [ $# -gt 0 ]; do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --spin-tasks) SPIN_TASKS=$2; shift 2 ;;
    --chunks) CHUNKS=$2; shift 2 ;;
    *) echo "usage: bench/mpi.sh [--runs N] [--spin-tasks N] [--chunks N]" >&2; exit 2 ;;
    esac
done
[ -x "$KPOOL" ] || { echo "bench/mpi.sh: no kpool at $KPOOL (build first, or set KPOOL)" >&2; exit 2; }
command -v "$MPIEXEC" >/dev/null || { echo "bench/mpi.sh: no $MPIEXEC (apt-get install mpich)" >&2; exit 2; }

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cc -O2 -shared -fPIC -Wall -Wextra -I"$ROOT/include" -o "$W/libbench.so" "$HERE/kernels.c"
cat >"$W/spin.ini" <<INI
[job]
plugin = $W/libbench.so
kernel = spin
mode = map
[input]
range = 0:$SPIN_TASKS
[pool]
backend = mpi
workers = 1
INI
cat >"$W/rank.ini" <<INI
[job]
plugin = $W/libbench.so
kernel = slow_on_rank0
mode = map
[input]
range = 0:$CHUNKS
[pool]
backend = mpi
workers = 1
chunksize = 1
INI

now() { date +%s%N; }
declare -A T
run() { # run ID COMMAND...: one timed run, output to $W/ID.out
    local id=$1 t0 t1
    shift
    t0=$(now)
    "$@" >"$W/$id.out" 2>"$W/$id.err" || { echo "bench/mpi.sh: $id failed: $(tail -3 "$W/$id.err")" >&2; exit 1; }
    t1=$(now)
    T[$id]+="$(( (t1 - t0) / 1000 )) "
}
median() { tr ' ' '\n' <<<"${T[$1]}" | grep . | sort -n | awk '{ a[NR] = $1 } END { printf "%.3f", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) / 1e6 }'; }

for ((k = 1; k <= RUNS; k++)); do
    echo "bench/mpi.sh: run $k of $RUNS" >&2
    run local "$KPOOL" run "$W/spin.ini" --set pool.backend=local -j 1 --quiet
    for n in 1 2 3; do
        run "r$n" "$MPIEXEC" -n "$n" "$KPOOL" run "$W/spin.ini" --quiet
        cmp -s "$W/r$n.out" "$W/local.out" || { echo "bench/mpi.sh: $n ranks wrote other results" >&2; exit 1; }
    done
    # Rank 0 reports the CPU time its processes (agent, pool, relay, its
    # sleeping worker) used: bash's `times`, children's user and system.
    run chunks "$MPIEXEC" -n 2 bash -c 'if [ "$PMI_RANK" = 0 ]; then "$0" run "$1" --quiet -o "$2"; times >"$3"; else "$0" run "$1" --quiet; fi' \
        "$KPOOL" "$W/rank.ini" "$W/chunks.csv" "$W/times.txt"
    cpu=$(sed -n 2p "$W/times.txt" | awk '{ for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] } print t * 1e6 }')
    T[cpu0]+="$cpu "
done

CORES=$(nproc)
t1=$(median local)
echo "#### backend = mpi: $SPIN_TASKS CPU-bound tasks (0.5–1.5 ms) on 1 worker per rank, $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo
echo "| Run | Wall s (median of $RUNS) | Speed-up over -j 1 | Efficiency (÷ cores busy) |"
echo "|---|---|---|---|"
echo "| kpool -j 1, backend = local | $t1 | 1.00x | — |"
for n in 1 2 3; do
    t=$(median "r$n")
    busy=$((n < CORES ? n : CORES))
    awk -v a="$t1" -v b="$t" -v n="$n" -v c="$busy" 'BEGIN { printf "| mpiexec -n %d (%d worker%s) | %.3f | %.2fx | %.1f%% of %d core%s |\n", n, n, (n > 1 ? "s" : ""), b, a / b, 100 * a / (c * b), c, (c > 1 ? "s" : "") }'
done
tc=$(median chunks)
r1=$(grep -cx 1 "$W/chunks.csv" || true)
cpu0=$(tr ' ' '\n' <<<"${T[cpu0]}" | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] / 1e6 }')
echo
echo "Outputs of every run are identical to the local run's. Efficiency divides by the cores the workers can use: 3 ranks on $CORES cores share them, and every rank also runs an agent and (rank 0) a relay per other rank."
echo
awk -v t="$tc" -v n="$r1" -v all="$CHUNKS" -v c="$cpu0" 'BEGIN { printf "Chunk round trip: %d no-op tasks with chunksize 1 on 2 ranks took %.3f s; rank 1 ran %d of them (rank 0'"'"'s own worker sleeps 50 ms a task, so it takes few), one task per chunk, two chunks in flight: **%.1f us per chunk** through rank 0 (claim, relay, agent, MPI, the other rank'"'"'s pool and back; whole run, start-up included). Rank 0'"'"'s processes used %.2f s of CPU for them: **%.1f us of rank 0'"'"'s CPU per chunk**, so rank 0 can serve about %.0f chunks a second.\n", all, t, n, (n > 0 ? t * 1e6 / n : 0), c, (n > 0 ? c * 1e6 / n : 0), (c > 0 ? n / c : 0) }'
