#!/usr/bin/env bash
# End-to-end cases of backend = mpi: the real kpool binary under
# `mpiexec -n 3` (MPICH's hydra) on this machine. Usage: mpi.sh CASE (CTest
# sets KPOOL, SRC, TP = test plugin dir, E2E_TMP, MPIEXEC).
set -uo pipefail

: "${KPOOL:?}" "${SRC:?}" "${TP:?}" "${E2E_TMP:?}" "${MPIEXEC:?}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
e2e_begin "mpi_$1" "$1"

# mpi N ARGS...: runs kpool on N ranks; sets $status, $out, $err.
mpi() {
  local n=$1
  shift
  out="$T/stdout" err="$T/stderr"
  timeout 100 "$MPIEXEC" -n "$n" "$KPOOL" "$@" >"$out" 2>"$err"
  status=$?
}

# job NAME KERNEL RANGE [extra ini lines]: a test-kernels job in $T.
job() {
  local name=$1 kernel=$2 range=$3
  shift 3
  cat >"$T/$name.ini" <<EOF
[job]
plugin = $TP/libtestkernels.so
kernel = $kernel
mode = map
[input]
range = $range
[pool]
backend = mpi
workers = 1
$(printf '%s\n' "$@")
EOF
  echo "$T/$name.ini"
}

# The seed's job on 3 ranks writes exactly the local backend's output.
case_seed_identical() {
  mpi 3 run "$SRC/config/seed.ini" --set pool.backend=mpi -o "$T/mpi.csv"
  expect_status 0
  expect_same "$T/mpi.csv" "$DATA/seed.expected.csv"
  expect_err "200000 tasks"
  kp run "$SRC/config/seed.ini" -o "$T/local.csv" --quiet
  expect_same "$T/mpi.csv" "$T/local.csv"
  # Also jsonl with indices, completion order sorted back.
  mpi 3 run "$SRC/config/seed.ini" --set pool.backend=mpi --set output.format=jsonl \
    -o "$T/mpi.jsonl"
  expect_status 0
  kp run "$SRC/config/seed.ini" --set output.format=jsonl -o "$T/local.jsonl" --quiet
  expect_same "$T/mpi.jsonl" "$T/local.jsonl"
}

# Without mpiexec, backend = mpi runs as a single rank.
case_singleton() {
  kp run "$SRC/config/seed.ini" --set pool.backend=mpi -o "$T/one.csv" -j 2
  expect_status 0
  expect_same "$T/one.csv" "$DATA/seed.expected.csv"
}

# Every rank's workers run tasks (kernel mpi_rank returns PMI_RANK).
case_every_rank_works() {
  local j
  j=$(job ranks mpi_rank 0:3000 "chunksize = 5" "[output]" "path = $T/ranks.csv")
  mpi 3 run "$j"
  expect_status 0
  [ "$(wc -l <"$T/ranks.csv")" -eq 3000 ] || fail "not 3000 results"
  for r in 0 1 2; do
    grep -qx "$r" "$T/ranks.csv" || fail "rank $r ran no task: $(sort "$T/ranks.csv" | uniq -c)"
  done
}

# A kernel that crashes on rank 2 only: those tasks are reported as crashed,
# every other result is exact, and nothing hangs.
case_crash_on_rank2() {
  local j
  j=$(job crash crash_on_rank2 0:3000 "chunksize = 10" "[output]" "path = $T/crash.csv" \
    "errors = $T/errors.jsonl")
  mpi 3 run "$j"
  expect_status 1
  [ "$(wc -l <"$T/crash.csv")" -eq 3000 ] || fail "not 3000 lines"
  awk '$0 != "" && $0 != 2 * (NR - 1) { bad++ } END { exit bad > 0 }' "$T/crash.csv" ||
    fail "a result is wrong"
  local holes crashes
  holes=$(grep -c '^$' "$T/crash.csv")
  crashes=$(grep -c '"kind": "crashed", "message": "SIGSEGV", "attempts": 1, "signal": 11' \
    "$T/errors.jsonl")
  [ "$holes" -gt 0 ] || fail "rank 2 crashed no task"
  [ "$holes" -eq "$crashes" ] || fail "$holes empty lines but $crashes crashes reported"
  # Each reported index is an empty line.
  grep -o '"index": [0-9]*' "$T/errors.jsonl" | awk '{ print $2 + 1 }' | while read -r line; do
    [ -z "$(sed -n "${line}p" "$T/crash.csv")" ] || { fail "line $line is not empty"; break; }
  done
}

# A task past task_timeout on another rank: the same output as locally.
case_timeout() {
  printf '0.01\n0.01\n3\n0.01\n0.01\n3\n0.01\n0.01\n0.01\n' >"$T/sleep.csv"
  cat >"$T/to.ini" <<EOF
[job]
plugin = $TP/libtestkernels.so
kernel = sleep_for
[input]
path = $T/sleep.csv
[pool]
backend = mpi
workers = 1
chunksize = 1
task_timeout = 0.5
[output]
path = $T/mpi.csv
errors = $T/mpi.errors.jsonl
EOF
  mpi 3 run "$T/to.ini"
  expect_status 1
  grep -q '"kind": "timeout", "message": "ran longer than task_timeout = 0.5 s"' \
    "$T/mpi.errors.jsonl" || fail "no timeout reported: $(cat "$T/mpi.errors.jsonl")"
  kp run "$T/to.ini" --set pool.backend=local -j 3 -o "$T/local.csv" \
    --set output.errors="$T/local.errors.jsonl"
  expect_status 1
  expect_same "$T/mpi.csv" "$T/local.csv"
  sort "$T/mpi.errors.jsonl" >"$T/a"
  sort "$T/local.errors.jsonl" >"$T/b"
  expect_same "$T/a" "$T/b"
}

# Completion order: every task once, with its index, the same results.
case_unordered() {
  mpi 3 run "$SRC/config/seed.ini" --set pool.backend=mpi --set output.order=completion \
    --set pool.chunksize=100 -o "$T/mpi.csv"
  expect_status 0
  sort -t, -k1,1n "$T/mpi.csv" | cut -d, -f2 >"$T/sorted.csv"
  expect_same "$T/sorted.csv" "$DATA/seed.expected.csv"
  [ "$(cut -d, -f1 "$T/mpi.csv" | sort -n | uniq | wc -l)" -eq 200000 ] ||
    fail "indices are not 200000 distinct values"
}

# kill -9 of mpiexec: no process of the run survives; --resume (on 3 ranks)
# runs only what the journal lacks and the output equals a full run's.
case_resume_after_killing_launcher() {
  local j
  j=$(job res worker_pid_slow 0:600 "chunksize = 2" "[output]" "path = $T/res.csv" \
    "format = jsonl")
  # worker_pid_slow returns the worker's pid: map it to a constant so that
  # outputs compare; the job's own output is only checked for indices.
  "$MPIEXEC" -n 3 "$KPOOL" run "$j" >"$T/first.out" 2>"$T/first.err" &
  local launcher=$!
  sleep 1.5
  kill -9 "$launcher"
  wait "$launcher" 2>/dev/null
  sleep 1
  pgrep -f "$KPOOL run $j" >/dev/null && fail "a process of the run outlived mpiexec"
  pkill -9 -f "$KPOOL run $j"
  [ -s "$T/res.csv.journal" ] || fail "no journal after the kill"
  mpi 3 run --resume "$j"
  expect_status 0
  expect_err "resuming:"
  [ ! -e "$T/res.csv.journal" ] || fail "the journal is still there after a complete run"
  [ "$(wc -l <"$T/res.csv")" -eq 600 ] || fail "not 600 lines: $(wc -l <"$T/res.csv")"
  awk '{ if (match($0, /"index": [0-9]+/) == 0 || substr($0, RSTART + 9, RLENGTH - 9) + 0 != NR - 1) bad = 1 }
    END { exit bad }' "$T/res.csv" || fail "lines are not tasks 0..599 in order"
  grep -q '"result": [1-9]' "$T/res.csv" || fail "no result has a pid"
}

# A rank lost entirely (its agent killed, as when its node dies): rank 0
# says a rank was lost (MPI does not say which), keeps the journal, and
# --resume on one machine finishes the run.
# rank_agent JOB RANK: the pid of that rank's kpool process (the one hydra's
# proxy started), or nothing while there is none.
rank_agent() {
  local p
  for p in $(pgrep -f "$KPOOL run $1"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "PMI_RANK=$2" &&
      [ "$(ps -o comm= "$(ps -o ppid= "$p" | tr -d ' ')")" = hydra_pmi_proxy ]; then
      echo "$p"
    fi
  done
}

# kill_when JOB N FILE BYTES WHAT FIND...: runs JOB on N ranks in the
# background (stdout, stderr in $T/first.out, first.err); once FILE holds
# more than BYTES, kills with SIGKILL the process `FIND...` prints (WHAT
# names it in the failure), as a node dying would; then waits for the
# launcher.
kill_when() {
  local j=$1 n=$2 file=$3 bytes=$4 what=$5 pid="" tries=0
  shift 5
  "$MPIEXEC" -n "$n" "$KPOOL" run "$j" >"$T/first.out" 2>"$T/first.err" &
  local launcher=$!
  while [ -z "$pid" ] && [ "$tries" -lt 150 ]; do
    tries=$((tries + 1))
    sleep 0.1
    [ "$(stat -c %s "$file" 2>/dev/null || echo 0)" -gt "$bytes" ] || continue
    pid=$("$@")
  done
  [ -n "$pid" ] || fail "cannot find $what"
  [ -n "$pid" ] && kill -9 "$pid"
  wait "$launcher"
}

# relay_of JOB RANK: rank 0's relay process for RANK, or nothing yet. Rank
# 0's pool forks its worker first, then the relays of ranks 1, 2, ...
relay_of() {
  local agent pool
  agent=$(rank_agent "$1" 0)
  [ -n "$agent" ] && pool=$(pgrep -P "$agent" | head -1)
  [ -n "$pool" ] && pgrep -P "$pool" | sort -n | sed -n "$(($2 + 1))p"
}

case_rank_lost() {
  local j
  j=$(job lost worker_pid_slow 0:400 "chunksize = 2" "[output]" "path = $T/lost.csv" \
    "format = jsonl")
  # Once results are being recorded (a loaded machine and ASan start slowly).
  kill_when "$j" 3 "$T/lost.csv" 512 "rank 2's kpool process" rank_agent "$j" 2
  # Hydra kills every rank with SIGKILL when one dies. Rank 0's pool
  # process outlives its agent: a relay that notices first says a rank was
  # lost, or else the pool says its agent died; under a launcher that sends
  # SIGTERM instead, rank 0's agent says the launcher stopped the run.
  grep -qE "the MPI job lost a rank|the MPI launcher stopped the run|the MPI launcher kills every rank" "$T/first.err" ||
    fail "rank 0 did not say a rank was lost: $(head -c 2000 "$T/first.err")"
  [ -s "$T/lost.csv.journal" ] || fail "no journal after the lost rank"
  kp run --resume "$j" --set pool.backend=local -j 2
  expect_status 0
  [ "$(wc -l <"$T/lost.csv")" -eq 400 ] || fail "not 400 lines after --resume"
  awk '{ if (match($0, /"index": [0-9]+/) == 0 || substr($0, RSTART + 9, RLENGTH - 9) + 0 != NR - 1) bad = 1 }
    END { exit bad }' "$T/lost.csv" || fail "lines are not tasks 0..399 in order"
}

# Rank 0's own MPI process is killed (as hydra kills every rank when one
# dies): its pool process survives the signal it gets once per thread of
# that process, writes what finished, says what happened, and --resume
# completes the run.
case_agent_killed() {
  local j
  j=$(job agent worker_pid_slow 0:400 "chunksize = 2" "[output]" "path = $T/agent.csv")
  kill_when "$j" 1 "$T/agent.csv" 100 "rank 0's kpool process" rank_agent "$j" 0
  grep -qF "rank 0's MPI process died before the run ended" "$T/first.err" ||
    fail "no message about rank 0's process: $(head -c 2000 "$T/first.err")"
  grep -qF "(interrupted by SIGTERM)" "$T/first.err" ||
    fail "no summary from rank 0's pool: $(head -c 2000 "$T/first.err")"
  [ -s "$T/agent.csv.journal" ] || fail "no journal after rank 0's process died"
  kp run --resume "$j" --set pool.backend=local -j 2
  expect_status 0
  [ "$(wc -l <"$T/agent.csv")" -eq 400 ] || fail "not 400 lines after --resume"
}

# A relay of rank 0 dies (killed): the run stops with a message naming its
# rank instead of hanging, and the journal keeps what finished.
case_relay_killed() {
  local j
  j=$(job relay worker_pid_slow 0:400 "chunksize = 2" "[output]" "path = $T/relay.csv")
  kill_when "$j" 3 "$T/relay.csv" 100 "rank 0's relay of rank 2" relay_of "$j" 2
  grep -qF "the relay to MPI rank 2 died (SIGKILL)" "$T/first.err" ||
    fail "no message about the relay: $(head -c 2000 "$T/first.err")"
  [ -s "$T/relay.csv.journal" ] || fail "no journal after the relay died"
}

# A job error is printed once (by rank 0), and nothing runs.
case_job_error_once() {
  local j
  j=$(job bad no_such_kernel 0:10)
  mpi 3 run "$j"
  expect_status 2
  [ "$(grep -c "no kernel 'no_such_kernel'" "$err")" -eq 1 ] ||
    fail "the error is not printed exactly once: $(cat "$err")"
}

# Every task on every rank kills its worker: rank 0 stops the run after 30
# deaths in a row (10 a worker), every rank's latest among them, instead of
# every rank forking 10,000 times.
case_brake_every_rank() {
  local j
  j=$(job brake crash_on_3 3:100000:10 "chunksize = 1" "[output]" "path = $T/brake.csv" \
    "errors = $T/brake.jsonl")
  mpi 3 run "$j"
  expect_status 1
  expect_err "tasks in a row killed their workers, each worker's latest among them"
  local crashes
  crashes=$(grep -c '"crashed"' "$T/brake.jsonl")
  [ "$crashes" -ge 30 ] || fail "stopped after $crashes crashes, fewer than 10 a worker"
  [ "$crashes" -lt 1000 ] || fail "the brake did not stop the forking ($crashes crashes)"
  expect_err "not run"
}

# on_error = stop on rank 0's decision: the run stops early, exit 1.
case_on_error_stop() {
  local j
  j=$(job stop crash_on_rank2 0:20000 "chunksize = 10" "on_error = stop" "[output]" \
    "path = $T/stop.csv")
  mpi 3 run "$j"
  expect_status 1
  local n
  n=$(wc -l <"$T/stop.csv")
  [ "$n" -lt 20000 ] || fail "the run did not stop ($n lines)"
  expect_err "crashed (SIGSEGV)"
}

# The initializer runs once in every worker of every rank before any task.
case_initializer_every_rank() {
  cat >"$T/init.ini" <<EOF
[job]
plugin = $TP/libtestkernels.so
kernel = add_base
mode = map
[input]
range = 0:3000
[pool]
backend = mpi
workers = 1
initializer = set_base
initargs = 1000
[output]
path = $T/init.csv
EOF
  mpi 3 run "$T/init.ini"
  expect_status 0
  awk '$0 != NR - 1 + 1000 { bad++ } END { exit bad > 0 }' "$T/init.csv" ||
    fail "a task ran without its worker's initializer"
}

e2e_run
