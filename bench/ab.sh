#!/usr/bin/env bash
# bench/ab.sh - is change B faster than A? Paired runs of two commands.
#
#   bench/ab.sh [-n PAIRS] A_COMMAND B_COMMAND
#   bench/ab.sh -n 151 'old/kpool run config/seed.ini -o /tmp/a.csv' \
#                      'build/kpool run config/seed.ini -o /tmp/b.csv'
#
# Runs the two commands one after the other PAIRS times (default 101), A
# first in odd pairs and B first in even ones, timing each whole process, and
# prints both medians, the median of the pairs' differences (B - A) with its
# 95% interval (order statistics: the binomial's normal approximation), and
# in how many pairs B was faster. A pair's two runs see the same moment of a
# shared, noisy machine, so the paired difference resolves a tenth of a
# millisecond where medians taken apart move by several from minute to
# minute. An interval that holds 0 says no difference was measured.
#
# Give both commands the same shape: an `env VAR=...` or a shell builtin on
# one side only adds its own cost to that side (an extra exec is about a
# millisecond here). Each command runs through `bash -c`; its output is
# discarded, and a command that fails stops the comparison.
set -euo pipefail

pairs=101
if [ "${1:-}" = "-n" ]; then
  if [ $# -lt 2 ] || ! [[ $2 =~ ^[1-9][0-9]*$ ]]; then
    echo "ab.sh: -n needs a positive number" >&2
    exit 2
  fi
  pairs=$2
  shift 2
fi
[ $# -eq 2 ] || { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
a=$1 b=$2

run() { # COMMAND: prints its wall time in microseconds
  local s e
  s=$(date +%s%N)
  bash -c "$1" >/dev/null 2>&1 || { echo "ab.sh: failed: $1" >&2; exit 1; }
  e=$(date +%s%N)
  echo $(((e - s) / 1000))
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((i = 1; i <= pairs; i++)); do
  if ((i % 2)); then
    ta=$(run "$a")
    tb=$(run "$b")
  else
    tb=$(run "$b")
    ta=$(run "$a")
  fi
  echo "$ta $tb" >>"$out"
done

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ms() { awk -v u="$1" 'BEGIN {printf "%.2f", u / 1000}'; }
ma=$(awk '{print $1}' "$out" | median)
mb=$(awk '{print $2}' "$out" | median)
awk '{print $2 - $1}' "$out" | sort -n | awk -v n="$pairs" -v ma="$(ms "$ma")" -v mb="$(ms "$mb")" '
  { d[NR] = $1; faster += $1 < 0 }
  END {
    lo = int(n / 2 - 0.98 * sqrt(n)); hi = int(n / 2 + 0.98 * sqrt(n)) + 1
    if (lo < 1) lo = 1
    if (hi > n) hi = n
    med = (n % 2) ? d[(n + 1) / 2] : (d[n / 2] + d[n / 2 + 1]) / 2
    printf "A median %s ms, B median %s ms; B - A: median %+.2f ms, 95%% interval [%+.2f, %+.2f] ms; B faster in %d of %d pairs\n",
      ma, mb, med / 1000, d[lo] / 1000, d[hi] / 1000, faster, n
  }'
