# lib.sh - what every end-to-end script shares. Source it, then call
# e2e_begin DIR CASE (a fresh $T = $E2E_TMP/DIR for the case), define the
# case_* functions, and end with e2e_run: it runs case_$case_name and exits
# 0, 1 when a check failed, or 2 for an unknown case.
# shellcheck shell=bash

e2e_begin() { # e2e_begin DIR CASE
  case_name=$2
  T="$E2E_TMP/$1"
  rm -rf "$T"
  mkdir -p "$T"
  DATA="${SRC:-}/data"
  failures=0
}

fail() {
  echo "FAIL [$case_name]: $*" >&2
  failures=$((failures + 1))
}

# kp ARGS...: runs kpool; sets $status, $out (stdout file), $err (stderr file).
kp() {
  out="$T/stdout" err="$T/stderr"
  "$KPOOL" "$@" >"$out" 2>"$err"
  status=$?
}

expect_status() {
  [ "$status" -eq "$1" ] || fail "exit status $status, expected $1; stderr: $(head -c 2000 "$err")"
}

expect_err() { # fixed string expected in stderr
  grep -qF -- "$1" "$err" || fail "stderr lacks '$1'; stderr: $(head -c 2000 "$err")"
}

expect_out() {
  grep -qF -- "$1" "$out" || fail "stdout lacks '$1'; stdout: $(head -c 2000 "$out")"
}

expect_same() { # FILE EXPECTED
  cmp -s "$1" "$2" || fail "$1 differs from $2: $(diff "$1" "$2" | head -10)"
}

# sleep_job NAME [LINE...]: writes $T/NAME.ini, a job of the test kernel
# sleep_for over $T/secs.csv (one duration per line; the caller writes it)
# on 2 workers, the LINEs added after `workers = 2` (more [pool] keys, then
# any other section), and prints its path.
sleep_job() {
  local name=$1
  shift
  cat >"$T/$name.ini" <<EOF
[job]
plugin = $TP/libtestkernels.so
kernel = sleep_for
mode = map
args = \$1
[input]
path = secs.csv
[pool]
workers = 2
$(printf '%s\n' "$@")
EOF
  echo "$T/$name.ini"
}

e2e_run() {
  if ! declare -F "case_$case_name" >/dev/null; then
    echo "no such case: $case_name" >&2
    exit 2
  fi
  "case_$case_name"
  if [ "$failures" -gt 0 ]; then
    # The next run of the case starts from a fresh $T: keep this one's files.
    local kept
    kept="$T.failed-$(date +%Y%m%d-%H%M%S)-$$"
    cp -a "$T" "$kept" 2>/dev/null && echo "$case_name: its files are kept in $kept" >&2
    echo "$case_name: $failures check(s) failed" >&2
    exit 1
  fi
  echo "$case_name: ok"
}
