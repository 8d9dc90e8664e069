#!/usr/bin/env bash
# The progress bar and the summary line, checked as a person sees them: the
# tty_* cases run kpool in a detached tmux pane and read the screen with
# `tmux capture-pane` while it runs and after it ends; the others look at
# stderr redirected to a file. Usage: progress.sh CASE (CTest sets KPOOL,
# SRC, TP = test plugin dir, E2E_TMP). Exits 77 (skipped) without tmux.
set -uo pipefail

: "${KPOOL:?}" "${SRC:?}" "${TP:?}" "${E2E_TMP:?}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
e2e_begin "progress.$1" "$1"

# ---- jobs ------------------------------------------------------------------

# A run of about 3 s: 120 tasks of 0.1 s on 4 workers. Sleeping costs no CPU,
# so the shared machine's load hardly changes it.
slow_job() { # slow_job OUTPUT
  cat >"$T/slow.ini" <<EOF
[job]
plugin = $TP/libtestkernels.so
kernel = sleep_for
mode = map
args = 0.1
[input]
range = 0:120
[pool]
workers = 4
chunksize = 1
[output]
path = $1
EOF
  echo "$T/slow.ini"
}

# The same with a failure every 20 tasks: task 7, 27, ... sleep 30 s and
# overrun the 0.4 s timeout, so six failure lines go to stderr mid-run.
failing_job() {
  local i
  for ((i = 0; i < 120; i++)); do
    if ((i % 20 == 7)); then echo 30; else echo 0.1; fi
  done >"$T/secs.csv"
  cat >"$T/failing.ini" <<EOF
[job]
plugin = $TP/libtestkernels.so
kernel = sleep_for
mode = map
args = \$1
[input]
path = secs.csv
[pool]
workers = 4
chunksize = 1
task_timeout = 0.4
[output]
path = $T/failing.csv
EOF
  echo "$T/failing.ini"
}

# A short one for the cases that only read stderr.
short_job() {
  cat >"$T/short.ini" <<EOF
[job]
plugin = $TP/libtestkernels.so
kernel = sleep_for
mode = map
args = 0.05
[input]
range = 0:24
[pool]
workers = 2
chunksize = 1
EOF
  echo "$T/short.ini"
}

# ---- a terminal --------------------------------------------------------------

SOCK="kpool-progress-$$-$case_name"
tm() { tmux -L "$SOCK" "$@"; }
# The server goes, and its socket file with it (kill-server leaves it).
cleanup() {
  tm kill-server >/dev/null 2>&1
  rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$SOCK"
}
trap cleanup EXIT

# on_tty ARGS...: runs kpool ARGS in a new detached 100x20 pane. When it ends
# its exit status goes to $T/status and the pane stays, showing what it left.
on_tty() {
  command -v tmux >/dev/null || {
    echo "tmux is not installed: skipped"
    exit 77
  }
  rm -f "$T/status"
  {
    echo '#!/usr/bin/env bash'
    # The sanitizers' options and the like reach kpool whatever the server's
    # environment is.
    local v
    for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
      [ -n "${!v:-}" ] && printf 'export %s=%q\n' "$v" "${!v}"
    done
    printf 'cd %q\n' "$T"
    printf '%q ' "$KPOOL" "$@"
    printf '\necho $? >%q.tmp && mv %q.tmp %q\nexec sleep 600\n' "$T/status" "$T/status" "$T/status"
  } >"$T/on_tty.sh"
  env -u TMUX tmux -L "$SOCK" -f /dev/null new-session -d -x 100 -y 20 "bash $T/on_tty.sh"
}

screen() { tm capture-pane -p; }

# wait_for_bar PATTERN: polls the screen until a line matches the extended
# regex PATTERN (up to 60 s, for the sanitizer build); saves it in $T/mid.txt.
wait_for_bar() {
  local i
  for ((i = 0; i < 600; i++)); do
    screen >"$T/mid.txt"
    grep -qE -- "$1" "$T/mid.txt" && return 0
    [ -e "$T/status" ] && break
    sleep 0.1
  done
  fail "no line matching '$1' while kpool ran; the screen: $(cat "$T/mid.txt")"
  return 1
}

wait_for_end() {
  local i
  for ((i = 0; i < 1200; i++)); do
    [ -e "$T/status" ] && break
    sleep 0.1
  done
  [ -e "$T/status" ] || fail "kpool did not end within 120 s"
  screen >"$T/end.txt"
}

expect_screen() { # FILE EXTENDED-REGEX
  grep -qE -- "$2" "$1" || fail "$(basename "$1") lacks /$2/: $(cat "$1")"
}

expect_screen_lacks() { # FILE EXTENDED-REGEX
  grep -qE -- "$2" "$1" && fail "$(basename "$1") has /$2/: $(cat "$1")"
  true
}

expect_tty_status() {
  local s
  s=$(cat "$T/status" 2>/dev/null)
  [ "$s" = "$1" ] || fail "exit status '$s', expected $1"
}

# What the bar shows once tasks finish: the bar graphic, done/total and %,
# the rate, the ETA, the busy workers.
BAR='^\[[#.]+\] +[0-9]+/120 +[0-9]+% +[0-9.]+k? tasks/s  ETA [0-9]+:[0-9]{2}:[0-9]{2}'
# Any part of a bar left behind.
REMNANT='tasks/s  ETA|workers [0-9]+/[0-9]+|^\[[#.]+\]'
SUMMARY='^kpool: 120 tasks in [0-9.]+ s \([0-9.]+k? tasks/s\) on 4 workers: 120 ok, 0 failed, 0 retried$'

case_tty_bar() {
  on_tty run "$(slow_job "$T/out.csv")"
  wait_for_bar "$BAR" || return
  expect_screen "$T/mid.txt" "$BAR.*  workers [0-4]/4 *$"
  # One line: the bar never wraps into a second one.
  [ "$(grep -cE 'tasks/s|workers' "$T/mid.txt")" -eq 1 ] || fail "the bar is not one line: $(cat "$T/mid.txt")"
  # A second later it has moved on, in the same place.
  sleep 1
  screen >"$T/later.txt"
  if [ ! -e "$T/status" ]; then
    expect_screen "$T/later.txt" "$BAR.*  workers [0-4]/4 *$"
    [ "$(grep -cE 'tasks/s|workers' "$T/later.txt")" -eq 1 ] || fail "two bars: $(cat "$T/later.txt")"
    local before after
    before=$(grep -oE '[0-9]+/120' "$T/mid.txt" | cut -d/ -f1)
    after=$(grep -oE '[0-9]+/120' "$T/later.txt" | cut -d/ -f1)
    [ "$after" -gt "$before" ] || fail "the bar did not move: $before, then $after"
  fi
  wait_for_end
  expect_tty_status 0
  expect_screen "$T/end.txt" "$SUMMARY"
  expect_screen_lacks "$T/end.txt" "$REMNANT"
  # The summary is the only line left, on the first row.
  [ "$(grep -c . "$T/end.txt")" -eq 1 ] || fail "more than the summary is left: $(cat "$T/end.txt")"
  echo "---- mid-run:"
  grep -h . "$T/mid.txt" "$T/later.txt"
  echo "---- at the end:"
  grep . "$T/end.txt"
}

case_tty_failures() {
  on_tty run "$(failing_job)"
  wait_for_bar '[1-9] failed  workers' || return
  # The failure lines stand on their own rows above the bar.
  expect_screen "$T/mid.txt" '^kpool: task 7 timeout \(ran longer than task_timeout = 0.4 s\), attempt 1 of 1$'
  expect_screen "$T/mid.txt" "^\[[#.]+\] +[0-9]+/120 .*[1-9] failed  workers [0-4]/4 *$"
  wait_for_end
  expect_tty_status 1
  local i
  for i in 7 27 47 67 87 107; do
    expect_screen "$T/end.txt" "^kpool: task $i timeout \(ran longer than task_timeout = 0.4 s\), attempt 1 of 1$"
  done
  expect_screen "$T/end.txt" '^kpool: 120 tasks in [0-9.]+ s \([0-9.]+k? tasks/s\) on 4 workers: 114 ok, 6 failed, 0 retried$'
  expect_screen_lacks "$T/end.txt" "$REMNANT"
  [ "$(grep -c . "$T/end.txt")" -eq 7 ] || fail "not six failures and a summary: $(cat "$T/end.txt")"
  echo "---- mid-run:"
  grep . "$T/mid.txt"
  echo "---- at the end:"
  grep . "$T/end.txt"
}

case_tty_quiet() {
  on_tty run "$(slow_job "$T/out.csv")" --quiet
  wait_for_end
  expect_tty_status 0
  [ "$(grep -c . "$T/end.txt")" -eq 0 ] || fail "--quiet wrote to the terminal: $(cat "$T/end.txt")"
  [ "$(wc -l <"$T/out.csv")" -eq 120 ] || fail "not 120 results"
}

# Results on the same terminal would tear the bar: there is none, and the
# summary comes after the results.
case_tty_results_on_terminal() {
  on_tty run "$(short_job)"
  local i
  for ((i = 0; i < 600; i++)); do
    screen >>"$T/during.txt"
    [ -e "$T/status" ] && break
    sleep 0.05
  done
  wait_for_end
  expect_tty_status 0
  expect_screen_lacks "$T/during.txt" "$REMNANT"
  expect_screen "$T/end.txt" '^kpool: 24 tasks in [0-9.]+ s \([0-9.]+ tasks/s\) on 2 workers: 24 ok, 0 failed, 0 retried$'
  [ "$(grep -c '^0.05$' "$T/end.txt")" -ge 15 ] || fail "the results are not on the screen: $(cat "$T/end.txt")"
  grep . "$T/end.txt" | tail -1 | grep -q '^kpool: 24 tasks' || fail "the summary is not last: $(cat "$T/end.txt")"
}

# ---- not a terminal ----------------------------------------------------------

case_file_has_summary_only() {
  "$KPOOL" run "$(short_job)" -o "$T/out.csv" 2>"$T/stderr"
  local s=$?
  [ "$s" -eq 0 ] || fail "exit status $s: $(cat "$T/stderr")"
  grep -q $'\r' "$T/stderr" && fail "a carriage return in stderr: $(od -c "$T/stderr" | head)"
  grep -q $'\033' "$T/stderr" && fail "an escape code in stderr: $(od -c "$T/stderr" | head)"
  [ "$(wc -l <"$T/stderr")" -eq 1 ] || fail "not one line: $(cat "$T/stderr")"
  grep -qE '^kpool: 24 tasks in [0-9.]+ s \([0-9.]+ tasks/s\) on 2 workers: 24 ok, 0 failed, 0 retried$' \
    "$T/stderr" || fail "no summary: $(cat "$T/stderr")"
}

case_quiet_is_silent() {
  local q
  for q in --quiet -q; do
    "$KPOOL" run "$(short_job)" -o "$T/out.csv" "$q" 2>"$T/stderr"
    local s=$?
    [ "$s" -eq 0 ] || fail "$q: exit status $s"
    [ -s "$T/stderr" ] && fail "$q: stderr is not empty: $(cat "$T/stderr")"
    # A failing run is quiet too, but for its failure lines.
    "$KPOOL" run "$(failing_job)" "$q" 2>"$T/stderr"
    s=$?
    [ "$s" -eq 1 ] || fail "$q: exit status $s, expected 1"
    [ "$(grep -c '^kpool: task [0-9]* timeout' "$T/stderr")" -eq 6 ] || fail "$q: $(cat "$T/stderr")"
    [ "$(wc -l <"$T/stderr")" -eq 6 ] || fail "$q: more than the failures: $(cat "$T/stderr")"
  done
}

case_progress_to_file() {
  "$KPOOL" run "$(slow_job "$T/out.csv")" --progress 2>"$T/stderr"
  local s=$?
  [ "$s" -eq 0 ] || fail "exit status $s: $(cat "$T/stderr")"
  grep -q $'\r' "$T/stderr" || fail "no carriage return: the bar was not drawn: $(cat "$T/stderr")"
  # Each drawing: \r, the line, erase to its end; the last one erases the bar.
  tr '\r' '\n' <"$T/stderr" >"$T/lines"
  grep -qE "$BAR" "$T/lines" || fail "no bar: $(head -c 2000 "$T/lines")"
  grep -qE $'^\033\\[Kkpool: 120 tasks in [0-9.]+ s .* 120 ok, 0 failed, 0 retried$' "$T/lines" ||
    fail "the summary does not follow an erased bar: $(tail -c 300 "$T/stderr" | od -c)"
  [ "$(tr -cd '\n' <"$T/stderr" | wc -c)" -eq 1 ] || fail "a newline before the summary's: $(cat "$T/lines")"
}

case_progress_and_quiet_conflict() {
  "$KPOOL" run "$(short_job)" --progress --quiet >"$T/stdout" 2>"$T/stderr"
  local s=$?
  [ "$s" -eq 2 ] || fail "exit status $s, expected 2"
  grep -qF -- "kpool: --progress draws the bar and --quiet hides it: give one of them" "$T/stderr" ||
    fail "no usage error: $(cat "$T/stderr")"
  grep -qF -- "[--progress | --quiet]" "$T/stderr" || fail "no usage: $(cat "$T/stderr")"
  [ -s "$T/stdout" ] && fail "something ran: $(cat "$T/stdout")"
  true
}

e2e_run
