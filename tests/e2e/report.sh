#!/usr/bin/env bash
# End-to-end cases of --trace FILE.jsonl and --report FILE.html. Usage:
# report.sh CASE (CTest sets KPOOL, SRC, TP = test plugin dir, E2E_TMP).
set -uo pipefail

: "${KPOOL:?}" "${SRC:?}" "${TP:?}" "${E2E_TMP:?}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
e2e_begin "report.$1" "$1"

# 1000 tasks on 2 workers; segv_one_percent crashes tasks 42, 142, ..., 942.
crash_job() {
  cat >"$T/crash.ini" <<EOF
[job]
plugin = $TP/libtestkernels.so
kernel = segv_one_percent
mode = map
[input]
range = 0:1000
[pool]
workers = 2
chunksize = 7
[output]
errors = $T/errors.jsonl
EOF
  echo "$T/crash.ini"
}

# The awk functions that read a line's "ns": entries() splits it into e[],
# each a task's duration or, for a group [n,d], "n:d"; tasks(e[k]) and
# dur(e[k]) read an entry.
NS_AWK='
  function entries(e,   s, inner) {
    s = substr($0, index($0, "\"ns\":[") + 6)
    s = index(s, "],\"message\":") ? substr(s, 1, index(s, "],\"message\":") - 1) : substr(s, 1, length(s) - 2)
    while (match(s, /\[[0-9]+,[0-9]+\]/)) {
      inner = substr(s, RSTART + 1, RLENGTH - 2); sub(/,/, ":", inner)
      s = substr(s, 1, RSTART - 1) inner substr(s, RSTART + RLENGTH)
    }
    return split(s, e, ",")
  }
  function tasks(x) { return index(x, ":") ? substr(x, 1, index(x, ":") - 1) + 0 : 1 }
  function dur(x) { return index(x, ":") ? substr(x, index(x, ":") + 1) + 0 : x + 0 }'

# Every line is a trace line: the keys in their order, the values of their
# kind, durations (only ok lines hold more than one, or a group of 2 to 128
# tasks) adding up to end - start to the nanosecond, workers below $2.
# Prints nothing; fails with the first bad line.
expect_trace_lines() { # FILE WORKERS
  local bad
  bad=$(awk -v w="$2" "$NS_AWK"'
    function ns(key,   v) { match($0, "\"" key "\":[0-9]+\\.[0-9]+"); v = substr($0, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
      split(v, part, "."); return part[1] * 1000000000 + part[2] }
    !/^\{"task":[0-9]+,"worker":[0-9]+,"pid":[1-9][0-9]*,"attempt":[1-9][0-9]*,"start":[0-9]+\.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9],"end":[0-9]+\.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9],"outcome":"(ok","ns":\[([0-9]+|\[[0-9]+,[0-9]+\])(,([0-9]+|\[[0-9]+,[0-9]+\]))*\]|(failed|bad-input|crashed|timeout|stopped)","ns":\[[0-9]+\],"message":"([^"\\]|\\.)*")\}$/ { print NR": "$0; exit }
    { match($0, /"worker":[0-9]+/); if (substr($0, RSTART + 9, RLENGTH - 9) + 0 >= w) { print NR": worker out of range: "$0; exit } }
    { n = entries(e); sum = 0
      for (k = 1; k <= n; k++) {
        if (tasks(e[k]) < 1 || tasks(e[k]) > 128 || (index(e[k], ":") && tasks(e[k]) < 2)) { print NR": a group of " tasks(e[k]) " tasks: "$0; exit }
        sum += dur(e[k])
      }
      if (ns("start") + sum != ns("end")) { print NR": the durations do not add up to end - start: "$0; exit } }' "$1")
  [ -z "$bad" ] || fail "$1: not a trace line: $bad"
  if command -v jq >/dev/null; then
    jq -e . "$1" >/dev/null || fail "$1: jq cannot read it as JSON lines"
  fi
}

# Prints one line per task a trace covers (a line covers as many tasks as
# its "ns" counts): task worker pid attempt outcome.
trace_tasks() { # FILE
  awk "$NS_AWK"'{
    match($0, /^\{"task":[0-9]+/); t = substr($0, RSTART + 8, RLENGTH - 8)
    match($0, /"worker":[0-9]+/); w = substr($0, RSTART + 9, RLENGTH - 9)
    match($0, /"pid":[0-9]+/); p = substr($0, RSTART + 6, RLENGTH - 6)
    match($0, /"attempt":[0-9]+/); a = substr($0, RSTART + 10, RLENGTH - 10)
    match($0, /"outcome":"[a-z-]+"/); o = substr($0, RSTART + 11, RLENGTH - 12)
    n = entries(e); c = 0
    for (k = 1; k <= n; k++) c += tasks(e[k])
    for (k = 0; k < c; k++) printf "%d %s %s %s %s\n", t + k, w, p, a, o
  }' "$1"
}

case_trace_known_run() {
  kp run "$(crash_job)" -o "$T/out.csv" --trace "$T/trace.jsonl"
  expect_status 1
  local f="$T/trace.jsonl"
  expect_trace_lines "$f" 2
  trace_tasks "$f" >"$T/tasks"
  [ "$(wc -l <"$T/tasks")" -eq 1000 ] || fail "expected 1000 tasks (one per attempt), got $(wc -l <"$T/tasks")"
  # Every task 0..999 once.
  local tasks
  tasks=$(cut -d' ' -f1 "$T/tasks" | sort -n | uniq | awk '$1 == NR - 1' | wc -l)
  [ "$tasks" -eq 1000 ] || fail "tasks 0..999 are not all there once: $tasks"
  grep -q '^{"task":42,"worker":[01],"pid":[0-9]*,"attempt":1,.*"outcome":"crashed","ns":\[[0-9]*\],"message":"SIGSEGV"}$' "$f" ||
    fail "no crashed line for task 42: $(grep '"task":42,' "$f")"
  [ "$(grep -c '"outcome":"crashed"' "$f")" -eq 10 ] || fail "expected 10 crashed lines: $(grep -c crashed "$f")"
  [ "$(grep -c ' ok$' "$T/tasks")" -eq 990 ] || fail "expected 990 ok tasks"
  # Tasks a worker ran back to back share a line.
  [ "$(wc -l <"$f")" -lt 1000 ] || fail "no line holds more than one task"
  # Both workers ran tasks, and the crashes show several worker processes.
  [ "$(grep -c '"worker":0,' "$f")" -gt 0 ] && [ "$(grep -c '"worker":1,' "$f")" -gt 0 ] ||
    fail "tasks did not spread over both worker slots"
  [ "$(cut -d' ' -f3 "$T/tasks" | sort -u | wc -l)" -gt 2 ] ||
    fail "crashed workers were replaced, yet the trace shows at most 2 pids"
}

case_trace_equals_form() {
  kp run "$(crash_job)" -o "$T/out.csv" --trace="$T/trace.jsonl" --quiet
  expect_status 1
  [ "$(trace_tasks "$T/trace.jsonl" | wc -l)" -eq 1000 ] ||
    fail "--trace=FILE traced $(trace_tasks "$T/trace.jsonl" | wc -l) tasks"
}

case_trace_retries() {
  cat >"$T/flaky.ini" <<EOF
[job]
plugin = $TP/libtestkernels.so
kernel = crash_once
mode = map
args = "$T", \$0
[input]
range = 0:20
[pool]
workers = 2
retries = 1
EOF
  kp run "$T/flaky.ini" -o "$T/out.csv" --trace "$T/trace.jsonl"
  expect_status 0
  local f="$T/trace.jsonl"
  expect_trace_lines "$f" 2
  # Each task: attempt 1 killed by SIGKILL, attempt 2 ok.
  [ "$(grep -c '"attempt":1,.*"outcome":"crashed","ns":\[[0-9]*\],"message":"SIGKILL"' "$f")" -eq 20 ] ||
    fail "expected 20 crashed first attempts: $(head -c 1500 "$f")"
  [ "$(trace_tasks "$f" | grep -c ' 2 ok$')" -eq 20 ] || fail "expected 20 ok second attempts"
}

case_trace_timeout() {
  sleep_job slow "task_timeout = 0.3" >/dev/null
  printf '%s\n' 0.01 5 0.01 0.01 >"$T/secs.csv"
  kp run "$T/slow.ini" -o "$T/out.csv" --trace "$T/trace.jsonl"
  expect_status 1
  local f="$T/trace.jsonl"
  expect_trace_lines "$f" 2
  [ "$(trace_tasks "$f" | wc -l)" -eq 4 ] || fail "expected 4 tasks: $(cat "$f")"
  local line
  line=$(grep '^{"task":1,' "$f")
  [[ "$line" == *'"outcome":"timeout","ns":['*'],"message":"ran longer than task_timeout = 0.3 s"}' ]] ||
    fail "task 1 is not a timeout: $line"
  # It ran from its start until the coordinator stopped its worker.
  echo "$line" | awk '{ match($0, /"start":[0-9.]+/); s = substr($0, RSTART + 8, RLENGTH - 8) + 0
    match($0, /"end":[0-9.]+/); e = substr($0, RSTART + 6, RLENGTH - 6) + 0; exit !(e - s >= 0.3 && e - s < 4) }' ||
    fail "the timed-out attempt does not last about task_timeout: $line"
}

case_trace_sigint() {
  sleep_job sleepy "chunksize = 1" >/dev/null
  for ((i = 0; i < 400; i++)); do echo 0.05; done >"$T/secs.csv"
  "$KPOOL" run "$T/sleepy.ini" -o "$T/out.csv" --trace "$T/trace.jsonl" \
    --report "$T/report.html" 2>"$T/stderr" &
  local pid=$!
  sleep 1
  kill -INT $pid
  wait $pid
  status=$?
  err="$T/stderr"
  expect_status 130
  local f="$T/trace.jsonl"
  [ -s "$f" ] || fail "the trace is empty"
  expect_trace_lines "$f" 2
  # Every finished task is in the output and has its ok line.
  local done_lines ok_lines
  done_lines=$(grep -c . "$T/out.csv")
  ok_lines=$(trace_tasks "$f" | grep -c ' ok$')
  [ "$ok_lines" -ge "$done_lines" ] || fail "$done_lines results but $ok_lines ok tasks in the trace"
  grep -q '"outcome":"stopped"' "$f" || fail "the tasks running at SIGINT have no stopped line"
  grep -q 'id="kpool-data"' "$T/report.html" || fail "no report after SIGINT"
}

# The seed job: every task once, ok, on its first attempt; a run of tasks
# takes a few bytes a task, not a line each (one line a task was 20 MB).
case_trace_seed() {
  kp run "$SRC/config/seed.ini" -o "$T/out.csv" --quiet --trace "$T/trace.jsonl"
  expect_status 0
  local f="$T/trace.jsonl"
  expect_trace_lines "$f" 1000
  trace_tasks "$f" >"$T/tasks"
  [ "$(wc -l <"$T/tasks")" -eq 200000 ] || fail "expected 200000 tasks, got $(wc -l <"$T/tasks")"
  local bad
  bad=$(sort -n -k1,1 "$T/tasks" | awk '$1 != NR - 1 || $4 != 1 || $5 != "ok" { print; exit }')
  [ -z "$bad" ] || fail "tasks 0..199999 are not each there once, ok, on attempt 1: $bad"
  [ "$(stat -c %s "$f")" -lt 4000000 ] || fail "the trace has $(stat -c %s "$f") bytes"
}

case_report_offline() {
  kp run "$(crash_job)" -o "$T/out.csv" --report "$T/report.html"
  expect_status 1
  local r="$T/report.html"
  [ -s "$r" ] || fail "no report"
  if grep -qiE 'https?:' "$r"; then fail "the report refers to the network: $(grep -oiE '.{40}https?:.{40}' "$r" | head -3)"; fi
  grep -qiE '<(link|img|iframe)|src=' "$r" && fail "the report loads something: $(grep -oiE '<(link|img|iframe)[^>]*|src=[^ >]*' "$r" | head -3)"
  grep -q '<script type="application/json" id="kpool-data">' "$r" || fail "no embedded data"
  # --report alone leaves no temporary trace behind.
  ls "${TMPDIR:-/tmp}"/kpool-trace-* 2>/dev/null | while read -r t; do
    [ "$(stat -c %Y "$t")" -lt "$(stat -c %Y "$r")" ] || fail "temporary trace left: $t"
  done
}

case_report_escapes() {
  # A message with markup must reach the page as escaped text only.
  mkdir -p "$T/in"
  printf '%s\n' 1 -2 3 >"$T/in/x.csv"
  cat >"$T/neg.ini" <<EOF
[job]
plugin = $TP/libtestkernels.so
kernel = fail_if_negative
mode = map
args = \$1
[input]
path = $T/in/x.csv
EOF
  # The job file's path carries markup too.
  mkdir -p "$T/</script><b>x"
  cp "$T/neg.ini" "$T/</script><b>x/job.ini"
  kp run "$T/</script><b>x/job.ini" -o "$T/out.csv" --report "$T/report.html"
  expect_status 1
  grep -q '</script><b>' "$T/report.html" && fail "markup from a path reached the page unescaped"
  grep -qF '\u003c/script\u003e\u003cb\u003ex' "$T/report.html" || fail "the job path is not in the data, escaped"
}

case_bad_paths() {
  kp run "$(crash_job)" -o "$T/out.csv" --trace "$T/no/such/dir/t.jsonl"
  expect_status 3
  grep -qF "$T/no/such/dir/t.jsonl: cannot create the trace file" "$err" ||
    fail "no message naming the trace path: $(cat "$err")"
  [ ! -e "$T/out.csv.journal" ] || fail "a run that never started left its journal"
  kp run "$(crash_job)" -o "$T/out.csv" --report "$T/no/such/dir/r.html"
  expect_status 3
  grep -qF "$T/no/such/dir/r.html: cannot create the report" "$err" || fail "no message naming the report: $(cat "$err")"
  kp run "$(crash_job)" --trace
  expect_status 2
  grep -qF -- "--trace needs a file" "$err" || fail "no usage message: $(cat "$err")"
  kp check "$(crash_job)" --report "$T/r.html"
  expect_status 2
  grep -qF -- "options of run" "$err" || fail "check accepted --report: $(cat "$err")"
}

# Opens the report of a known run in headless Chromium and checks the DOM
# after the page's script ran: one timeline row per worker with segments,
# both charts drawn, the failures table with the crashed tasks.
case_browser() {
  local chromium
  chromium=$(command -v chromium || command -v chromium-browser) || {
    echo "SKIP: no chromium" >&2
    exit 77
  }
  kp run "$(crash_job)" -o "$T/out.csv" --report "$T/report.html" --trace "$T/trace.jsonl"
  expect_status 1
  "$chromium" --headless --no-sandbox --disable-gpu --user-data-dir="$T/profile" \
    --virtual-time-budget=5000 --dump-dom "file://$T/report.html" >"$T/dom.html" 2>"$T/chromium.err"
  local dom="$T/dom.html"
  [ -s "$dom" ] || fail "chromium dumped no DOM: $(tail -5 "$T/chromium.err")"
  grep -q 'data-rendered="1"' "$dom" || fail "the page's script did not finish: $(tail -5 "$T/chromium.err")"
  [ "$(grep -o '<g class="row" data-worker="[0-9]*"' "$dom" | sort -u | wc -l)" -eq 2 ] ||
    fail "expected 2 timeline rows: $(grep -o '<g class="row"[^>]*>' "$dom" | head)"
  local w
  for w in 0 1; do
    # Every worker that ran a task has segments in its row (on a loaded
    # machine one worker may run all 1000 tasks before the other starts);
    # the segments of a row are its children up to the next row.
    grep -q "\"worker\":$w," "$T/trace.jsonl" || continue
    awk -v w="$w" 'BEGIN { RS = "<g class=\"row\" data-worker=\"" } NR > 1 && index($0, w "\"") == 1 { n = gsub(/<rect class="seg /, "") } END { exit !(n > 0) }' "$dom" ||
      fail "timeline row $w has no segments"
  done
  grep -q '"worker":0,' "$T/trace.jsonl" || grep -q '"worker":1,' "$T/trace.jsonl" || fail "no worker ran a task"
  grep -q '<rect class="seg o3"' "$dom" || fail "no crashed segment in the timeline"
  [ "$(grep -o '<rect class="bar"' "$dom" | wc -l)" -ge 10 ] || fail "the throughput chart has no bars"
  [ "$(grep -o '<rect class="hbar"' "$dom" | wc -l)" -ge 1 ] || fail "the histogram has no bars"
  grep -q '<tr class="failure"><td>42</td><td>crashed</td><td class="msg">SIGSEGV</td><td>1</td>' "$dom" ||
    fail "the failures table lacks task 42: $(grep -o '<table id="failures">.\{0,400\}' "$dom")"
  [ "$(grep -o '<tr class="failure">' "$dom" | wc -l)" -eq 10 ] || fail "expected 10 failure rows"
}

e2e_run
