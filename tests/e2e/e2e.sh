#!/usr/bin/env bash
# End-to-end cases: each function runs the real kpool binary and checks its
# output, stderr and exit status. Usage: e2e.sh CASE (CTest sets KPOOL, SRC,
# TP = test plugin dir, E2E_TMP).
set -uo pipefail

: "${KPOOL:?}" "${SRC:?}" "${TP:?}" "${E2E_TMP:?}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
e2e_begin "$1" "$1"

# jsonl output whose lines are tasks 0, 1, 2, ... in order, fewer than N.
expect_prefix_of() { # FILE N
  awk -v n="$2" '{ if (match($0, /"index": [0-9]+/) == 0 || substr($0, RSTART + 9, RLENGTH - 9) + 0 != NR - 1) bad = 1 }
    END { exit !(bad == 0 && NR >= 1 && NR < n) }' "$1" ||
    fail "$1 is not tasks 0..k in order with fewer than $2 lines: $(head -c 500 "$1")"
}

# job NAME <<EOF ... : writes a job file into $T and prints its path.
job() {
  cat >"$T/$1.ini"
  echo "$T/$1.ini"
}

tk() { # a test-kernels job: tk KERNEL RANGE [extra ini lines]
  local kernel=$1 range=$2
  shift 2
  job "$kernel" <<EOF
[job]
plugin = $TP/libtestkernels.so
kernel = $kernel
mode = map
[input]
range = $range
$(printf '%s\n' "$@")
EOF
}

# Expected x*2 lines for range 0:N with the tasks where x % 10 == 3 empty.
doubles_with_holes() {
  local n=$1 i
  for ((i = 0; i < n; i++)); do
    if ((i % 10 == 3)); then echo ""; else echo $((i * 2)); fi
  done
}

case_seed_starmap() {
  kp run "$SRC/config/seed.ini" -o "$T/seed.csv"
  expect_status 0
  expect_same "$T/seed.csv" "$DATA/seed.expected.csv"
  expect_err "200000 tasks"
  [ "$(wc -l <"$T/seed.csv")" -eq 200000 ] || fail "not 200000 lines"
}

# An existing output is replaced by a new file with the old one's
# permissions (a reader of the old file keeps it whole); a symlink stays a
# symlink and its target gets the results; a file with another hard link is
# rewritten in place, so both names hold the results.
case_output_replaces_file() {
  printf 'old results\n%.0s' $(seq 1 20000) >"$T/out.csv"
  chmod 600 "$T/out.csv"
  exec 9<"$T/out.csv"
  kp run "$SRC/config/seed.ini" -o "$T/out.csv" --quiet
  expect_status 0
  expect_same "$T/out.csv" "$DATA/seed.expected.csv"
  [ "$(stat -c %a "$T/out.csv")" = 600 ] || fail "mode $(stat -c %a "$T/out.csv"), expected 600"
  [ "$(head -1 <&9)" = "old results" ] || fail "a reader of the old file lost it"
  exec 9<&-
  chmod 666 "$T/out.csv" # wider than the umask lets a new file be
  kp run "$SRC/config/seed.ini" -o "$T/out.csv" --quiet
  expect_status 0
  expect_same "$T/out.csv" "$DATA/seed.expected.csv"
  [ "$(stat -c %a "$T/out.csv")" = 666 ] || fail "mode $(stat -c %a "$T/out.csv"), expected 666"
  ! ls "$T"/out.csv.* >/dev/null 2>&1 || fail "left behind: $(ls "$T"/out.csv.*)"
  printf 'old\n' >"$T/target.csv"
  ln -s "$T/target.csv" "$T/link.csv"
  kp run "$SRC/config/seed.ini" -o "$T/link.csv" --quiet
  expect_status 0
  [ -L "$T/link.csv" ] || fail "the symlink was replaced"
  expect_same "$T/target.csv" "$DATA/seed.expected.csv"
  printf 'old\n' >"$T/linked.csv"
  ln "$T/linked.csv" "$T/other.csv"
  kp run "$SRC/config/seed.ini" -o "$T/linked.csv" --quiet
  expect_status 0
  expect_same "$T/other.csv" "$DATA/seed.expected.csv"
}

case_seed_map() {
  kp run "$SRC/config/map.ini" -o "$T/map.csv" -j 2 --quiet
  expect_status 0
  expect_same "$T/map.csv" "$DATA/seed.expected.csv"
  [ ! -s "$err" ] || fail "--quiet still wrote: $(cat "$err")"
}

case_seed_apply() {
  kp run "$SRC/config/apply.ini"
  expect_status 0
  [ "$(cat "$out")" = '{"index": 0, "result": 3}' ] || fail "apply gave $(cat "$out")"
}

case_seed_async() {
  kp run "$SRC/config/async.ini" -o "$T/async.csv" -j 2
  expect_status 0
  sort -t, -k1,1n "$T/async.csv" | cut -d, -f2 >"$T/sorted.csv"
  expect_same "$T/sorted.csv" "$DATA/seed.expected.csv"
  [ "$(cut -d, -f1 "$T/async.csv" | sort -n | uniq | wc -l)" -eq 200000 ] ||
    fail "indices are not 200000 distinct values"
}

case_seed_jsonl() {
  kp run "$SRC/config/starmap_jsonl.ini" -o "$T/out.jsonl"
  expect_status 0
  sed -E 's/^\{"index": [0-9]+, "result": ([0-9]+)\}$/\1/' "$T/out.jsonl" >"$T/counts.csv"
  expect_same "$T/counts.csv" "$DATA/seed.expected.csv"
  [ "$(head -1 "$T/out.jsonl")" = "{\"index\": 0, \"result\": $(head -1 "$DATA/seed.expected.csv")}" ] ||
    fail "first line $(head -1 "$T/out.jsonl")"
}

case_seed_csv_map() {
  kp run "$SRC/config/seed.ini" --set input.path="$DATA/seed.csv" -o "$T/out.csv"
  expect_status 0
  expect_same "$T/out.csv" "$DATA/seed.expected.csv"
}

case_seed_stdin() {
  out="$T/stdout" err="$T/stderr"
  "$KPOOL" run "$SRC/config/seed.ini" --set input.path=- --set input.format=csv \
    -o "$T/out.csv" <"$DATA/seed.csv" >"$out" 2>"$err"
  status=$?
  expect_status 0
  expect_same "$T/out.csv" "$DATA/seed.expected.csv"
}

case_foreign_libm() {
  kp run "$SRC/config/pow.ini"
  expect_status 0
  printf '%s\n' 0.0 1.0 1.4142135623730951 1.7320508075688772 2.0 2.23606797749979 \
    2.449489742783178 2.6457513110645907 2.8284271247461903 3.0 >"$T/expected"
  expect_same "$out" "$T/expected"
}

case_foreign_plugin_signature() {
  local j
  j=$(job foreign <<EOF
[job]
plugin = $TP/libforeign.so
kernel = sum_i32
signature = i64 sum_i32(i32[] values)
mode = map
[input]
path = rows.jsonl
EOF
)
  printf '[1, 2, 3]\n[-5, 5]\n[]\n[2147483647, 1]\n' >"$T/rows.jsonl"
  kp run "$j"
  expect_status 0
  printf '6\n0\n0\n2147483648\n' >"$T/expected"
  expect_same "$out" "$T/expected"
}

case_npy_output() {
  kp run "$SRC/config/seed.ini" --set output.format=npy -o "$T/out.npy"
  expect_status 0
  head -c 6 "$T/out.npy" | od -An -c | grep -q 'N   U   M   P   Y' || fail "no npy magic"
  local size
  size=$(stat -c %s "$T/out.npy")
  # a 64-byte-aligned header, then 200000 int64
  [ $(((size - 1600000) % 64)) -eq 0 ] && [ "$size" -gt 1600000 ] || fail "npy size $size"
  head -c 128 "$T/out.npy" | grep -qa "'descr': '<i8'" || fail "descr is not <i8"
  head -c 128 "$T/out.npy" | grep -qa "'shape': (200000,)" || fail "shape is not (200000,)"
}

case_jsonl_types() {
  local j
  j=$(tk f64_half 0:4 "[output]" "format = jsonl")
  kp run "$j"
  expect_status 0
  printf '%s\n' '{"index": 0, "result": 0.0}' '{"index": 1, "result": 0.5}' \
    '{"index": 2, "result": 1.0}' '{"index": 3, "result": 1.5}' >"$T/expected"
  expect_same "$out" "$T/expected"
  j=$(tk f32_third 1:3)
  kp run "$j"
  printf '0.33333334\n0.6666667\n' >"$T/expected"
  expect_same "$out" "$T/expected"
  j=$(tk is_even 0:3)
  kp run "$j"
  printf 'true\nfalse\ntrue\n' >"$T/expected"
  expect_same "$out" "$T/expected"
  j=$(tk i8_neg 126:130)
  kp run "$j"
  expect_status 1
  printf -- '-126\n-127\n\n\n' >"$T/expected"
  expect_same "$out" "$T/expected"
  expect_err "task 2 bad-input"
  expect_err "128 does not fit i8"
}

case_void_kernel() {
  local j
  j=$(tk do_nothing 0:5)
  kp run "$j"
  expect_status 0
  [ ! -s "$out" ] || fail "void kernel wrote $(cat "$out")"
  kp run "$j" --set output.index=true
  printf '0\n1\n2\n3\n4\n' >"$T/expected"
  expect_same "$out" "$T/expected"
}

case_str_kernel() {
  local j
  j=$(job greet <<EOF
[job]
plugin = $TP/libtestkernels.so
kernel = greet
mode = map
[input]
path = names.csv
[output]
format = csv
EOF
)
  printf 'ada\n"lovelace, countess"\n' >"$T/names.csv"
  kp run "$j" --set job.args='$1'
  expect_status 0
  printf '"hello, ada"\n"hello, lovelace, countess"\n' >"$T/expected"
  expect_same "$out" "$T/expected"
}

crash_case() { # KERNEL SIGNAL-TEXT
  local j
  j=$(tk "$1" 0:100 "[pool]" "workers = 2" "chunksize = 7")
  kp run "$j" -o "$T/out.csv"
  expect_status 1
  doubles_with_holes 100 >"$T/expected"
  expect_same "$T/out.csv" "$T/expected"
  expect_err "kpool: task 3 crashed ($2), attempt 1 of 1"
  expect_err "kpool: task 93 crashed ($2), attempt 1 of 1"
  [ "$(grep -c 'crashed' "$err")" -eq 10 ] || fail "expected 10 crash reports: $(cat "$err")"
  expect_err "90 ok, 10 failed"
}

case_crash_segv() { crash_case crash_on_3 SIGSEGV; }
case_crash_abort() { crash_case abort_on_3 SIGABRT; }
case_crash_exit() { crash_case exit_on_3 "the worker exited with status 3"; }
case_crash_fpe() { crash_case fpe_on_3 SIGFPE; }
case_crash_bus() { crash_case bus_on_3 SIGBUS; }

case_crash_repeated() {
  # 1% of the tasks segfault; 100 runs: none hangs (CTest's TIMEOUT), every
  # other result is right in every run.
  local j i k
  j=$(tk segv_one_percent 0:1000 "[pool]" "workers = 2")
  for ((i = 0; i < 1000; i++)); do
    if ((i % 100 == 42)); then echo ""; else echo $((i * 2)); fi
  done >"$T/expected"
  for ((k = 0; k < 100; k++)); do
    kp run "$j" -o "$T/out.csv" --quiet
    [ "$status" -eq 1 ] || fail "run $k: exit status $status"
    cmp -s "$T/out.csv" "$T/expected" || { fail "run $k: wrong output"; break; }
  done
}

case_kpool_fail() {
  local j
  j=$(tk fail_if_negative -3:3)
  kp run "$j"
  expect_status 1
  printf '\n\n\n0\n1\n2\n' >"$T/expected"
  expect_same "$out" "$T/expected"
  expect_err "kpool: task 0 failed: value -3 is negative, attempt 1 of 1"
  expect_err "kpool: task 2 failed: value -1 is negative"
}

case_errors_jsonl() {
  local j
  j=$(tk crash_on_3 0:20 "[output]" "errors = errors.jsonl" "format = jsonl")
  kp run "$j"
  expect_status 1
  grep -qF '{"index": 3, "kind": "crashed", "message": "SIGSEGV", "attempts": 1, "signal": 11}' \
    "$T/errors.jsonl" || fail "errors.jsonl: $(cat "$T/errors.jsonl")"
  [ "$(wc -l <"$T/errors.jsonl")" -eq 2 ] || fail "errors.jsonl has not 2 lines"
  expect_out '{"index": 13, "error": "crashed", "message": "SIGSEGV"}'
  expect_out '{"index": 14, "result": 28}'
}

case_on_error_stop() {
  local j
  j=$(tk fail_if_negative -1:100000 "[pool]" "on_error = stop" "workers = 1" "chunksize = 10")
  kp run "$j" --set output.format=jsonl
  expect_status 1
  expect_err "task 0 failed"
  # the tasks up to the last one reached keep their lines; the rest are counted
  expect_prefix_of "$out" 100001
  expect_err "not run"
}

case_on_error_soon_count() {
  local j
  j=$(tk fail_if_negative -100000:10 "[pool]" "on_error = soon,fail=3" "workers = 1" \
    "[output]" "format = jsonl" "errors = errors.jsonl")
  kp run "$j"
  expect_status 1
  [ "$(grep -c '"failed"' "$out")" -ge 3 ] || fail "fewer than 3 failures before stopping"
  expect_err "not run"
  expect_prefix_of "$out" 100010
}

case_on_error_soon_percent() {
  # 5 failures in 100 tasks stay under 50%: the run goes on to the end.
  local j
  j=$(tk fail_if_negative -5:95 "[pool]" "on_error = soon,fail=50%")
  kp run "$j"
  expect_status 1
  expect_err "95 ok, 5 failed"
  # Nearly all failing: it stops.
  j=$(tk fail_if_negative -100000:10 "[pool]" "on_error = soon,fail=50%" "workers = 1" \
    "[output]" "format = jsonl" "errors = errors.jsonl")
  kp run "$j"
  expect_status 1
  grep -q '"not-run"' "$out" || fail "soon,fail=50% did not stop a run of failures"
}

case_on_error_now() {
  # now,fail=1: the first failure also stops the running 30 s tasks.
  local j
  j=$(sleep_job halt_now "chunksize = 1" "on_error = now,fail=1" "[output]" "format = jsonl")
  printf '30\nabc\n30\n30\n' >"$T/secs.csv"
  kp run "$j"
  expect_status 1
  expect_err "task 1 bad-input"
  # the two running 30 s tasks were stopped: no task but the failed one finished
  [ "$(grep -c '"result"' "$out")" -eq 0 ] || fail "a 30 s task was not stopped: $(cat "$out")"
  expect_err "3 not run"
}

case_timeout() {
  local j
  j=$(sleep_job sleepy "task_timeout = 0.5" "[output]" "format = jsonl")
  printf '0.01\n30\n0.02\n0.03\n' >"$T/secs.csv"
  kp run "$j"
  expect_status 1
  expect_err "task 1 timeout"
  expect_out '{"index": 0, "result": 0.01}'
  expect_out '{"index": 2, "result": 0.02}'
  expect_out '{"index": 3, "result": 0.03}'
  expect_out '{"index": 1, "error": "timeout"'
}

case_retries_succeed() {
  local j
  mkdir -p "$T/markers"
  j=$(tk crash_once 0:20 "[pool]" "retries = 1" "workers = 2")
  kp run "$j" --set job.args="\"$T/markers\", \$0" --set job.mode=starmap
  expect_status 0
  seq 0 19 >"$T/expected"
  expect_same "$out" "$T/expected"
  expect_err "20 retried"
  # without retries, every task's first attempt is its last
  rm -f "$T/markers"/*
  kp run "$j" --set job.args="\"$T/markers\", \$0" --set job.mode=starmap --set pool.retries=0
  expect_status 1
  expect_err "crashed (SIGKILL), attempt 1 of 1"
}

case_max_tasks_per_worker() {
  local j
  j=$(tk worker_pid 0:40 "[pool]" "workers = 1" "max_tasks_per_worker = 5")
  kp run "$j"
  expect_status 0
  [ "$(sort "$out" | uniq | wc -l)" -eq 8 ] || fail "expected 8 workers: $(sort "$out" | uniq -c)"
  [ "$(sort "$out" | uniq -c | awk '$1 != 5' | wc -l)" -eq 0 ] || fail "a worker ran other than 5"
}

case_workers_honoured() {
  local j
  j=$(tk worker_pid_slow 0:60 "[pool]" "chunksize = 1")
  kp run "$j" -j 3
  expect_status 0
  local n
  n=$(sort "$out" | uniq | wc -l)
  [ "$n" -ge 2 ] && [ "$n" -le 3 ] || fail "-j 3 gave $n distinct workers"
  kp run "$j" -j 1
  [ "$(sort "$out" | uniq | wc -l)" -eq 1 ] || fail "-j 1 used more than one worker"
}

case_initializer() {
  local j
  j=$(tk add_base 0:5 "[pool]" "initializer = set_base" "initargs = 100" "workers = 2")
  kp run "$j"
  expect_status 0
  printf '100\n101\n102\n103\n104\n' >"$T/expected"
  expect_same "$out" "$T/expected"
}

case_initializer_fails() {
  local j
  j=$(tk add_base 0:5 "[pool]" "initializer = init_fails")
  kp run "$j"
  expect_status 1
  expect_err "the initializer init_fails failed: cannot open the model file; no task ran"
  [ ! -s "$out" ] || fail "tasks ran after a failed initializer"
}

case_initializer_fails_in_replacement() {
  local j
  j=$(tk add_base 0:20 "[pool]" "initializer = init_once" "initargs = \"$T/marker\"" \
    "workers = 1" "max_tasks_per_worker = 5" "[output]" "format = jsonl")
  kp run "$j"
  expect_status 1
  expect_err "exists: a worker was already initialised (in a replacement worker; the run stopped)"
  [ "$(grep -c '"result"' "$out")" -eq 5 ] || fail "the first worker's 5 results are not all there"
  expect_prefix_of "$out" 20
}

case_limit_cpu() {
  local j
  j=$(job cpu <<EOF
[job]
plugin = $TP/libtestkernels.so
kernel = burn_cpu
mode = map
args = \$1
[input]
path = secs.csv
[pool]
cpu_limit = 1
workers = 1
EOF
)
  printf '0.01\n5\n0.02\n' >"$T/secs.csv"
  kp run "$j"
  expect_status 1
  expect_err "task 1 crashed (SIGXCPU: the worker used more than cpu_limit = 1 s of CPU)"
  printf '0.01\n\n0.02\n' >"$T/expected"
  expect_same "$out" "$T/expected"
}

case_limit_memory() {
  local j
  j=$(job mem <<EOF
[job]
plugin = $TP/libtestkernels.so
kernel = allocate_mib
mode = map
args = \$1
[input]
path = mib.csv
[pool]
memory_limit = 256
EOF
)
  printf '16\n1024\n32\n' >"$T/mib.csv"
  kp run "$j"
  expect_status 1
  expect_err "task 1 failed: cannot allocate 1024 MiB"
  printf '16\n\n32\n' >"$T/expected"
  expect_same "$out" "$T/expected"
}

case_limit_open_files() {
  local j
  j=$(job files <<EOF
[job]
plugin = $TP/libtestkernels.so
kernel = open_many
mode = map
args = \$1
[input]
path = counts.csv
[pool]
open_files = 64
EOF
)
  printf '10\n200\n' >"$T/counts.csv"
  kp run "$j"
  expect_status 1
  expect_err "task 1 failed: cannot open file"
  expect_err "Too many open files"
  [ "$(head -1 "$out")" = 10 ] || fail "the small task did not succeed: $(cat "$out")"
}

# Workers run worker_nice steps below kpool's priority (libc's getpriority,
# called as a foreign kernel, says a worker's nice); 0 keeps kpool's; more
# than 19 is refused with the file and line.
case_worker_nice() {
  local j base
  base=$(nice)
  j=$(job nice <<EOF
[job]
plugin = libc.so.6
kernel = getpriority
signature = i32 getpriority(i32 which, u32 who)
mode = apply
args = 0, 0
[pool]
workers = 1
EOF
)
  kp run "$j"
  expect_status 0
  local want=$((base + 10 > 19 ? 19 : base + 10))
  [ "$(cat "$out")" = "$want" ] || fail "default: a worker at nice $(cat "$out"), expected $want"
  kp run "$j" --set pool.worker_nice=3
  expect_status 0
  want=$((base + 3 > 19 ? 19 : base + 3))
  [ "$(cat "$out")" = "$want" ] || fail "worker_nice = 3: a worker at nice $(cat "$out"), expected $want"
  kp run "$j" --set pool.worker_nice=0
  expect_status 0
  [ "$(cat "$out")" = "$base" ] || fail "worker_nice = 0: a worker at nice $(cat "$out"), not kpool's $base"
  printf 'worker_nice = 25\n' >>"$j"
  kp run "$j"
  expect_status 2
  expect_err "nice.ini:9: [pool] worker_nice: 25 is out of range: nice(1) steps go from 0 to 19"
}

case_limit_core_dumps() {
  local j
  j=$(tk core_limit 0:1)
  kp run "$j"
  expect_status 0
  [ "$(cat "$out")" = 0 ] || fail "core_dumps = false left RLIMIT_CORE at $(cat "$out")"
}

case_crash_storm() {
  # 10,000 crashes in one run: no descriptor and no zombie piles up.
  local j
  j=$(tk census_or_crash 0:100000 "[pool]" "workers = 2")
  kp run "$j" -o "$T/out.csv"
  expect_status 1
  expect_err "90000 ok, 10000 failed"
  local fds zombies
  fds=$(grep -v '^$' "$T/out.csv" | awk '{print int($1 / 1000)}' | sort -n | uniq)
  # One more, once: the journal's file, made once the run has lasted 0.1 s.
  [ "$(echo "$fds" | wc -l)" -eq 1 ] || [ "$(echo $fds)" = "$(echo "$fds" | head -1) $(($(echo "$fds" | head -1) + 1))" ] ||
    fail "open descriptors changed during the run: $(echo $fds)"
  zombies=$(grep -v '^$' "$T/out.csv" | awk '{print $1 % 1000}' | sort -n | tail -1)
  [ "$zombies" -le 2 ] || fail "up to $zombies zombie workers at once"
  [ "$(grep -c '^$' "$T/out.csv")" -eq 10000 ] || fail "not 10000 crashed tasks"
}

case_crash_brake() {
  # Every task kills its worker: the run stops instead of forking 10,000 times.
  local j
  j=$(tk crash_on_3 3:100000:10 "[pool]" "workers = 2" "[output]" "format = jsonl")
  kp run "$j"
  expect_status 1
  expect_err "stopped after 20 tasks in a row killed their workers, each worker's latest among them"
  [ "$(grep -c '"crashed"' "$out")" -lt 40 ] || fail "the brake did not stop the forking"
  expect_prefix_of "$out" 10000
  expect_err "not run"
}

case_bad_record() {
  local j
  j=$(job bad <<EOF
[job]
plugin = $SRC/plugins/libseed.so
kernel = howmany_within_range
args = \$*
[input]
path = rows.jsonl
EOF
)
  printf '[[1, 5, 9], 4, 8]\n[[1, 5, 9], 4\n\n[[4, 4], 4, 8]\n' >"$T/rows.jsonl"
  kp run "$j"
  expect_status 1
  printf '1\n\n2\n' >"$T/expected"
  expect_same "$out" "$T/expected"
  expect_err "task 1 bad-input: line 2:"
}

case_bad_value() {
  local j
  j=$(job badv <<EOF
[job]
plugin = $SRC/plugins/libseed.so
kernel = howmany_within_range
args = \$0, 4, 8
[input]
path = rows.csv
EOF
)
  printf '1,2,3\n4,abc,6\n7,8,9.5\n' >"$T/rows.csv"
  kp run "$j"
  expect_status 1
  printf '0\n\n\n' >"$T/expected"
  expect_same "$out" "$T/expected"
  expect_err "task 1 bad-input"
  expect_err "abc"
  expect_err "task 2 bad-input"
}

case_literal_does_not_fit() {
  local j
  j=$(tk i8_neg 0:3 "[job]" "args = 300")
  kp check "$j"
  expect_status 2
  expect_err "[job] args"
  expect_err "argument 1 (x): 300 does not fit i8"
  kp run "$j"
  expect_status 2
  [ ! -s "$out" ] || fail "tasks ran with a literal that cannot be passed"
}

case_job_unknown_key() {
  local j
  j=$(job unknown <<'EOF'
[job]
plugin = libm.so.6
kernal = pow
EOF
)
  kp run "$j"
  expect_status 2
  expect_err "$j:3: [job] kernal: unknown key"
  expect_err "kernel"
}

case_job_bad_value() {
  local j
  j=$(job badval <<EOF
[job]
plugin = $SRC/plugins/libseed.so
kernel = howmany_within_range
[input]
range = 0:10
[pool]
workers = many
EOF
)
  kp run "$j"
  expect_status 2
  expect_err "$j:7: [pool] workers:"
  expect_err "many"
}

case_job_missing_kernel() {
  local j
  j=$(job nokernel <<EOF
[job]
plugin = $SRC/plugins/libseed.so
[input]
range = 0:10
EOF
)
  kp run "$j"
  expect_status 2
  expect_err "[job] kernel"
  expect_err "missing"
}

case_job_missing_input() {
  local j
  j=$(job noinput <<EOF
[job]
plugin = $SRC/plugins/libseed.so
kernel = howmany_within_range
[input]
path = no/such/file.npy
EOF
)
  kp run "$j"
  expect_status 2
  expect_err "$j:5: [input] path"
  expect_err "no/such/file.npy"
}

case_set_override() {
  local j
  j=$(tk f64_half 0:3)
  kp run "$j" --set input.range=10:12 --set output.format=jsonl
  expect_status 0
  printf '%s\n' '{"index": 0, "result": 5.0}' '{"index": 1, "result": 5.5}' >"$T/expected"
  expect_same "$out" "$T/expected"
  # options may come before the job file
  kp run -o "$T/o.csv" --set input.range=4:5 "$j"
  expect_status 0
  [ "$(cat "$T/o.csv")" = "2.0" ] || fail "-o before the job file: $(cat "$T/o.csv")"
}

case_set_bad() {
  local j
  j=$(tk f64_half 0:3)
  kp run "$j" --set pool.workers=x
  expect_status 2
  expect_err "--set pool.workers=x: [pool] workers:"
  kp run "$j" --set nonsense
  expect_status 2
  expect_err "--set nonsense"
}

case_signature_mismatch() {
  local j
  j=$(tk f64_half 0:3 "[job]")
  kp run "$j" --set job.signature="f32 (f32 x)"
  expect_status 2
  expect_err "does not match kernel f64_half"
  kp run "$j" --set job.signature="f64 (f65 x)"
  expect_status 2
  expect_err "column 6"
}

case_signature_required() {
  local j
  j=$(job nosig <<EOF
[job]
plugin = libm.so.6
kernel = pow
[input]
range = 0:3
EOF
)
  kp run "$j"
  expect_status 2
  expect_err "has no kpool descriptor"
  expect_err "[job] signature"
}

case_wrong_abi() {
  kp inspect "$TP/libbadabi.so"
  expect_status 2
  expect_err "built for kpool plugin ABI 99.0, this kpool speaks 1.0"
}

case_not_a_plugin() {
  kp inspect "$TP/libnot_an_elf.so"
  expect_status 2
  expect_err "libnot_an_elf.so: cannot load"
  local j
  j=$(tk f64_half 0:3)
  kp run "$j" --set job.plugin="$TP/libnot_an_elf.so"
  expect_status 2
  expect_err "[job] plugin"
}

case_no_such_kernel() {
  local j
  j=$(tk no_such_kernel 0:3)
  kp run "$j"
  expect_status 2
  expect_err "no kernel 'no_such_kernel'; it has: crash_on_3, abort_on_3"
}

case_check_command() {
  kp check "$SRC/config/seed.ini"
  expect_status 0
  expect_out "howmany_within_range: i64 (i64[], i64, i64)"
  expect_out "tasks:   200000"
  expect_out "200000 rows"
  kp check "$SRC/config/seed.ini" --set job.kernel=nope
  expect_status 2
}

case_inspect_command() {
  kp inspect "$SRC/plugins/libseed.so"
  expect_status 0
  expect_out "howmany_within_range"
  expect_out "int64_t howmany_within_range(const int64_t *"
  expect_out "howmany_within_range_rowonly"
  kp inspect "$TP/libbadsig.so"
  expect_out "i65"
}

# The journal is deleted when a run completes: it must never be a device or
# a FIFO, and results sent to a device get no journal at all.
case_journal_not_regular() {
  mkfifo "$T/fifo"
  kp run "$SRC/config/seed.ini" -o "$T/out.csv" --set output.journal="$T/fifo"
  expect_status 2
  expect_err "$T/fifo: the journal must be a regular file"
  [ -p "$T/fifo" ] || fail "the FIFO was replaced"
  kp run "$SRC/config/seed.ini" -o /dev/null --quiet
  expect_status 0
  [ -c /dev/null ] || fail "/dev/null is no longer a device"
  [ ! -e /dev/null.journal ] || fail "a run to /dev/null left /dev/null.journal"
}

case_info_command() {
  kp info
  expect_status 0
  expect_out "cpu count: $(nproc)"
  expect_out "backends: local"
}

case_help_version() {
  kp --help
  expect_status 0
  expect_out "kpool run JOB.ini"
  kp --version
  expect_status 0
  expect_out "kpool 0.1.0"
}

case_usage_errors() {
  kp
  expect_status 2
  kp frobnicate
  expect_status 2
  expect_err "unknown command 'frobnicate'"
  kp run
  expect_status 2
  expect_err "run needs a job file"
  kp run a.ini b.ini
  expect_status 2
  kp run "$SRC/config/seed.ini" --bogus
  expect_status 2
  expect_err "unknown option '--bogus'"
  kp run "$SRC/config/seed.ini" -j
  expect_status 2
}

case_sigint() {
  local j
  j=$(sleep_job sleepy "chunksize = 1")
  for ((i = 0; i < 400; i++)); do echo 0.05; done >"$T/secs.csv"
  "$KPOOL" run "$j" -o "$T/out.csv" 2>"$T/stderr" &
  local pid=$!
  sleep 1
  kill -INT $pid
  wait $pid
  status=$?
  err="$T/stderr"
  expect_status 130
  expect_err "interrupted by SIGINT"
  local done_lines
  done_lines=$(grep -c '0.05' "$T/out.csv")
  [ "$done_lines" -ge 2 ] && [ "$done_lines" -lt 400 ] || fail "$done_lines tasks finished"
  # finished tasks are all written, in order, with the not-run ones among them
  [ "$(wc -l <"$T/out.csv")" -ge "$done_lines" ] && [ "$(wc -l <"$T/out.csv")" -lt 400 ] ||
    fail "$(wc -l <"$T/out.csv") lines after SIGINT"
  pgrep -P $pid >/dev/null && fail "workers outlived kpool"
  true
}

sleepy_job() { # a job of 400 tasks of 0.05 s each, 2 workers
  for ((i = 0; i < 400; i++)); do echo 0.05; done >"$T/secs.csv"
  sleep_job sleepy "chunksize = 1"
}

# pids of the workers of coordinator $1
workers_of() {
  pgrep -P "$1" || true
}

case_sigint_twice() {
  local j
  j=$(sleepy_job)
  "$KPOOL" run "$j" -o "$T/out.csv" 2>"$T/stderr" &
  local pid=$!
  sleep 0.5
  kill -INT $pid
  kill -INT $pid
  wait $pid
  status=$?
  err="$T/stderr"
  expect_status 130
  [ -z "$(workers_of $pid)" ] || fail "workers outlived kpool"
}

case_sigterm() {
  local j
  j=$(sleepy_job)
  "$KPOOL" run "$j" -o "$T/out.csv" 2>"$T/stderr" &
  local pid=$!
  sleep 0.5
  kill -TERM $pid
  wait $pid
  status=$?
  err="$T/stderr"
  expect_status 143
  expect_err "interrupted by SIGTERM"
  [ "$(wc -l <"$T/out.csv")" -lt 400 ] || fail "the tasks nobody reached were written"
}

case_kill9_coordinator() {
  # Workers never outlive the coordinator, even when it cannot clean up.
  local j
  j=$(sleepy_job)
  "$KPOOL" run "$j" -o "$T/out.csv" 2>"$T/stderr" &
  local pid=$!
  sleep 0.5
  local workers
  workers=$(workers_of $pid)
  [ -n "$workers" ] || fail "no workers seen"
  kill -KILL $pid
  wait $pid 2>/dev/null
  local w left=""
  for ((i = 0; i < 50; i++)); do
    left=""
    for w in $workers; do
      # a zombie is dead, only not yet reaped by its new parent
      [ -r "/proc/$w/stat" ] && ! awk '{exit !($3 == "Z")}' "/proc/$w/stat" 2>/dev/null &&
        left="$left $w"
    done
    [ -z "$left" ] && break
    sleep 0.1
  done
  [ -z "$left" ] || fail "workers$left outlived a kill -9 of the coordinator"
}

resume_job() { # 200 tasks of 10-90 ms, 2 workers, chunksize 1
  for ((i = 0; i < 200; i++)); do echo "0.0$((i % 9 + 1))"; done >"$T/secs.csv"
  sleep_job resumable "chunksize = 1"
}

# interrupt SIGNAL JOB OUT [ARGS...]: starts a run, sends SIGNAL after 1 s.
interrupt() {
  local sig=$1 j=$2 o=$3
  shift 3
  "$KPOOL" run "$j" -o "$o" "$@" 2>"$T/stderr.interrupted" &
  local pid=$!
  sleep 1
  kill "-$sig" $pid
  wait $pid 2>/dev/null
  status=$?
}

case_resume_after_kill9() {
  local j
  j=$(resume_job)
  kp run "$j" -o "$T/full.csv" --quiet
  expect_status 0
  [ ! -e "$T/full.csv.journal" ] || fail "a finished run left its journal"
  interrupt KILL "$j" "$T/part.csv"
  [ -s "$T/part.csv.journal" ] || fail "no journal after kill -9"
  kp run "$j" -o "$T/part.csv" --resume
  expect_status 0
  expect_err "kpool: resuming:"
  expect_same "$T/part.csv" "$T/full.csv"
  [ ! -e "$T/part.csv.journal" ] || fail "the finished resumed run left its journal"
  kp run "$j" -o "$T/part.csv" --resume
  expect_status 2
  expect_err "nothing to resume"
}

# In input order the output file itself records the finished tasks (the
# journal says how many of its bytes): a resume keeps those bytes, drops
# what was written after them, and refuses an output that lost them.
case_resume_keeps_the_output_prefix() {
  local j
  j=$(resume_job)
  kp run "$j" -o "$T/full.csv" --quiet
  expect_status 0
  interrupt KILL "$j" "$T/part.csv"
  printf '999\nhalf a li' >>"$T/part.csv" # bytes after the recorded prefix
  kp run "$j" -o "$T/part.csv" --resume
  expect_status 0
  expect_same "$T/part.csv" "$T/full.csv"
  interrupt KILL "$j" "$T/lost.csv"
  : >"$T/lost.csv"
  kp run "$j" -o "$T/lost.csv" --resume
  expect_status 2
  expect_err "cannot resume: $T/lost.csv no longer holds the"
  [ -e "$T/lost.csv.journal" ] || fail "a refused resume removed the journal"
}

# A run that ends unfinished (here SIGINT) records its input's bytes: the
# same bytes in a new file resume. A run killed at once is known by its
# input file's identity alone: a new file, even of the same bytes, is refused.
case_resume_checks_the_input() {
  local j
  j=$(resume_job)
  kp run "$j" -o "$T/full.csv" --quiet
  expect_status 0
  interrupt INT "$j" "$T/part.csv"
  cp "$T/secs.csv" "$T/copy" && mv "$T/copy" "$T/secs.csv"
  kp run "$j" -o "$T/part.csv" --resume
  expect_status 0
  expect_same "$T/part.csv" "$T/full.csv"
  interrupt KILL "$j" "$T/killed.csv"
  cp "$T/secs.csv" "$T/copy" && mv "$T/copy" "$T/secs.csv"
  kp run "$j" -o "$T/killed.csv" --resume
  expect_status 2
  expect_err "cannot resume: the input changed since the interrupted run"
}

case_resume_after_sigint_npy() {
  local j
  j=$(resume_job)
  kp run "$j" -o "$T/full.npy" --set output.format=npy --quiet
  expect_status 0
  interrupt INT "$j" "$T/part.npy" --set output.format=npy
  [ "$status" -eq 130 ] || fail "SIGINT gave status $status"
  kp run "$j" -o "$T/part.npy" --set output.format=npy --resume
  expect_status 0
  expect_same "$T/part.npy" "$T/full.npy"
}

case_resume_completion_order() {
  local j
  j=$(resume_job)
  interrupt KILL "$j" "$T/part.csv" --set output.order=completion
  kp run "$j" -o "$T/part.csv" --set output.order=completion --resume
  expect_status 0
  [ "$(cut -d, -f1 "$T/part.csv" | sort -n | uniq | wc -l)" -eq 200 ] ||
    fail "not every task exactly once after resuming"
  sort -t, -k1,1n "$T/part.csv" | cut -d, -f2 >"$T/sorted"
  for ((i = 0; i < 200; i++)); do echo "0.0$((i % 9 + 1))"; done >"$T/expected"
  expect_same "$T/sorted" "$T/expected"
}

case_resume_refused() {
  local j
  j=$(resume_job)
  interrupt KILL "$j" "$T/part.csv"
  kp run "$j" -o "$T/part.csv" --resume --set job.args=0.01
  expect_status 2
  expect_err "cannot resume: the job file's settings"
  echo 0.01 >>"$T/secs.csv"
  kp run "$j" -o "$T/part.csv" --resume
  expect_status 2
  expect_err "cannot resume: the input changed since the interrupted run"
  kp run "$j" --resume
  expect_status 2
  expect_err "--resume needs the results in a file"
}

vg() {
  "$VALGRIND" --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=99 --trace-children=no -q "$KPOOL" "$@" >"$T/stdout" 2>"$T/stderr"
  status=$?
  out="$T/stdout" err="$T/stderr"
  # A worker's own report: its exit status reaches the coordinator, not us.
  if grep -qE 'are (definitely|indirectly) lost in loss record' "$err"; then
    fail "valgrind found a leak: $(grep -m3 -E '(definitely|indirectly) lost|  by 0x' "$err" | head -8)"
  fi
}

case_valgrind_seed() {
  vg run "$SRC/config/seed.ini" -j 2 -o "$T/seed.csv"
  expect_status 0
  expect_same "$T/seed.csv" "$DATA/seed.expected.csv"
  # Traced and reported too: the workers (forked from the pool's loop) exit
  # with nothing of theirs, or of the coordinator's they copied, lost.
  vg run "$SRC/config/seed.ini" -j 2 -o "$T/seed.csv" --trace "$T/seed.jsonl" --report "$T/seed.html"
  expect_status 0
  expect_same "$T/seed.csv" "$DATA/seed.expected.csv"
  [ -s "$T/seed.jsonl" ] && [ -s "$T/seed.html" ] || fail "no trace or no report"
  vg run "$SRC/config/pow.ini"
  expect_status 0
  vg run "$SRC/config/starmap_jsonl.ini" --set input.path="$T/small.jsonl" < /dev/null
  expect_status 2
}

# The output cannot be written (a file size limit): kpool says so, exits 3,
# keeps the journal for --resume, and frees everything (journal included).
case_valgrind_output_fails() {
  (
    trap '' XFSZ
    ulimit -f 64
    vg run "$SRC/config/seed.ini" -j 2 -o "$T/big.csv"
    echo "$status" >"$T/status"
  )
  status=$(cat "$T/status") err="$T/stderr"
  expect_status 3
  expect_err "$T/big.csv: write failed: File too large"
  [ -e "$T/big.csv.journal" ] || fail "the journal of the failed run was removed"
}

case_valgrind_failures() {
  local j
  j=$(tk crash_on_3 0:50 "[output]" "errors = errors.jsonl")
  vg run "$j"
  expect_status 1
  j=$(tk fail_if_negative -5:5)
  vg run "$j"
  expect_status 1
  vg check "$SRC/config/seed.ini" --set job.kernel=nope
  expect_status 2
}

e2e_run
