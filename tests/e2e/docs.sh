#!/usr/bin/env bash
# Documentation tests: the help texts, the man pages kpool(1) and kpool.ini(5),
# and the guides docs/writing-kernels.md and docs/from-python.md, checked
# against the real kpool binary. Usage: docs.sh CASE (CTest sets KPOOL, SRC,
# TP = test plugin dir, E2E_TMP, JOBKEYS = the jobkeys_md tool, MAN5 = the
# built kpool.ini.5, CC = the C compiler, CMAKE and BUILD for the install).
#
# The guides mark what is tested with an HTML comment right before a fenced
# block:
#   <!-- kpool-doc: plugin NAME -->   a C block: a whole plugin, compiled to libNAME.so
#   <!-- kpool-doc: file NAME -->     any block: written to NAME beside the plugins
#   <!-- kpool-doc: run -->           a console block: each "$ kpool ..." line is
#       run there, and the lines after it are its output: stdout, and the
#       "kpool: " lines of stderr (the summary line is not shown). A command
#       whose output shows a "kpool: " line must exit 1, any other 0.
#   <!-- kpool-doc: job NAME expect=HOW -->   an ini block: a job on the
#       seed's data (paths as from config/), whose results must be the seed's
#       expected counts: HOW = input (csv in input order), completion
#       ("index,result" in any order), jsonl (objects in any order) or first
#       (one task: the first row's count).
set -uo pipefail

: "${KPOOL:?}" "${SRC:?}" "${E2E_TMP:?}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
e2e_begin "docs-$1" "$1"

expect_status() {
  [ "$status" -eq "$1" ] || fail "kpool $2: exit status $status, expected $1; stderr: $(head -c 2000 "$err")"
}

# Renders a man page as plain text (no bold, underline or hyphen characters).
render() {
  groff -man -Tascii -P-c -P-b -P-u -P-o "$1" 2>&1
}

# The commands the overview (kpool --help) lists, one per line.
overview_commands() {
  "$KPOOL" --help | awk '/^Commands:/ {p = 1; next} p && /^$/ {p = 0} p && /^  [a-z]/ {print $1}'
}

# The options a help text lists ("  -q, --quiet   ..." gives -q and --quiet).
help_options() {
  awk '/^  -/ {
         sub(/^  /, ""); sub(/   .*/, "")
         n = split($0, names, ", ")
         for (i = 1; i <= n; i++) { split(names[i], w, /[ =]/); print w[1] }
       }'
}

# ---- help ------------------------------------------------------------------

case_help_per_command() {
  local cmds cmd
  cmds=$(overview_commands)
  for cmd in run check inspect info new help; do
    grep -qx "$cmd" <<<"$cmds" || fail "kpool --help does not list the command $cmd"
  done
  for cmd in $cmds; do
    kp "$cmd" --help
    expect_status 0 "$cmd --help"
    head -1 "$out" | grep -q "^usage: kpool $cmd" ||
      fail "kpool $cmd --help does not start with its usage: $(head -1 "$out")"
    cp "$out" "$T/$cmd.help"
    kp "$cmd" -h
    expect_status 0 "$cmd -h"
    cmp -s "$out" "$T/$cmd.help" || fail "kpool $cmd -h differs from kpool $cmd --help"
    kp help "$cmd"
    expect_status 0 "help $cmd"
    cmp -s "$out" "$T/$cmd.help" || fail "kpool help $cmd differs from kpool $cmd --help"
    [ ! -s "$err" ] || fail "kpool help $cmd wrote to stderr: $(cat "$err")"
  done
  # --help anywhere among a command's arguments, but not as an option's value.
  kp run "$SRC/config/seed.ini" -j 2 --help
  expect_status 0 "run JOB --help"
  cmp -s "$out" "$T/run.help" || fail "kpool run JOB.ini --help is not run's help"
  kp check "$SRC/config/seed.ini" -o -h
  expect_status 0 "check -o -h"
  grep -q "^ok: nothing ran" "$out" || fail "check -o -h took -h for help: $(head -3 "$out")"
  # The overview, three ways.
  kp --help
  expect_status 0 "--help"
  cp "$out" "$T/overview"
  grep -q "^usage: kpool run JOB.ini" "$T/overview" || fail "the overview lacks the usage of run"
  for a in -h help; do
    kp $a
    expect_status 0 "$a"
    cmp -s "$out" "$T/overview" || fail "kpool $a differs from kpool --help"
  done
  kp help frobnicate
  expect_status 2 "help frobnicate"
  grep -qF "no help for 'frobnicate': not a command" "$err" || fail "help frobnicate: $(cat "$err")"
  # Every option of run is documented in its help, and the shared ones in check's.
  local o
  for o in -j -o --set --resume --progress --quiet -q --trace --report --help; do
    help_options <"$T/run.help" | grep -qx -- "$o" || fail "kpool run --help lacks $o"
  done
  for o in -j -o --set; do
    help_options <"$T/check.help" | grep -qx -- "$o" || fail "kpool check --help lacks $o"
  done
}

# ---- man pages ---------------------------------------------------------------

case_man_pages_render() {
  local page
  for page in "$SRC/docs/man/kpool.1" "${MAN5:?}"; do
    [ -s "$page" ] || { fail "$page is missing or empty"; continue; }
    groff -man -Tutf8 -ww -z "$page" >"$T/groff.out" 2>&1
    status=$?
    [ "$status" -eq 0 ] || fail "groff exits $status on $page"
    [ ! -s "$T/groff.out" ] || fail "groff warns on $page: $(head -c 2000 "$T/groff.out")"
  done
  # The page the build made is the tool's current output, not a stale one.
  "${JOBKEYS:?}" --man >"$T/kpool.ini.5" || fail "jobkeys_md --man failed"
  cmp -s "$T/kpool.ini.5" "$MAN5" || fail "$MAN5 differs from jobkeys_md --man"
  grep -q '^\.TH KPOOL.INI 5 ' "$MAN5" || fail "kpool.ini.5 has no .TH line for section 5"
  for s in NAME SYNOPSIS DESCRIPTION KEYS EXAMPLES "SEE ALSO"; do
    grep -q "^\.SH \"*$s\"*\$" "$MAN5" || fail "kpool.ini.5 lacks the section $s"
  done
  for s in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES \
    "SEE ALSO"; do
    grep -q "^\.SH \"*$s\"*\$" "$SRC/docs/man/kpool.1" || fail "kpool.1 lacks the section $s"
  done
}

case_man_ini_names_every_key() {
  "${JOBKEYS:?}" --keys >"$T/keys" || fail "jobkeys_md --keys failed"
  [ "$(wc -l <"$T/keys")" -ge 20 ] || fail "jobkeys_md --keys lists only $(wc -l <"$T/keys") keys"
  # The keys the page documents: a .TP with .B KEY under .SS "[SECTION]".
  awk '/^\.SS "\[/ { s = $0; gsub(/^\.SS "\[|\]"$/, "", s) }
       /^\.TP$/ { tp = 1; next }
       tp && /^\.B / { print s "." $2 } { tp = 0 }' "${MAN5:?}" >"$T/documented"
  diff "$T/keys" "$T/documented" >"$T/diff" ||
    fail "kpool.ini.5 does not document exactly the keys of the table: $(cat "$T/diff")"
  # Every key has its value, default and documentation sentence on the page.
  local n
  n=$(wc -l <"$T/keys")
  [ "$(grep -c '^Value: ' "$MAN5")" -eq "$n" ] || fail "not every key has a Value: line"
  [ "$(grep -c '^Default: ' "$MAN5")" -eq "$n" ] || fail "not every key has a Default: line"
  render "$MAN5" >"$T/rendered"
  grep -q "Worker processes; auto = the CPUs this process may use" "$T/rendered" ||
    fail "the rendered page lacks the documentation of pool.workers"
  grep -q "one of apply, map or starmap" "$T/rendered" || fail "the choices of job.mode are missing"
  grep -q "Default: starmap" "$T/rendered" || fail "the default of job.mode is missing"
  grep -q "Default: none, the key is required" "$T/rendered" || fail "required keys are not marked"
}

# The seed job of kpool.ini(5)'s EXAMPLES runs and gives the seed's counts.
case_man_ini_example_runs() {
  mkdir -p "$T/config"
  ln -s "$SRC/plugins" "$T/plugins"
  ln -s "$SRC/data" "$T/data"
  awk '/^\.SH EXAMPLES/ {e = 1} e && /^\.fi/ {exit} e && p {print} e && /^\.nf/ {p = 1}' \
    "${MAN5:?}" | sed 's/\\-/-/g' >"$T/config/seed.ini"
  grep -q '^\[job\]' "$T/config/seed.ini" || fail "no job in the EXAMPLES of kpool.ini.5"
  kp run "$T/config/seed.ini" -o "$T/seed.csv"
  expect_status 0 "run (the example of kpool.ini.5)"
  cmp -s "$T/seed.csv" "$DATA/seed.expected.csv" || fail "the example's results are not the seed's"
}

# kpool(1) documents every command of the overview and every option that
# kpool --help and kpool run --help print.
case_man_kpool_documents_cli() {
  render "$SRC/docs/man/kpool.1" >"$T/rendered"
  local cmd o
  for cmd in $(overview_commands); do
    grep -qE "^       $cmd( |\$)" "$T/rendered" || fail "kpool.1 has no entry for the command $cmd"
    grep -qE "^       kpool $cmd( |\$)" "$T/rendered" || fail "kpool.1's SYNOPSIS lacks kpool $cmd"
  done
  { "$KPOOL" --help; "$KPOOL" run --help; } | help_options | sort -u >"$T/options"
  [ "$(wc -l <"$T/options")" -ge 10 ] || fail "found only $(wc -l <"$T/options") options in the help"
  while read -r o; do
    grep -qE -- "^       ([^ ].*, )?$o( |,|\$)" "$T/rendered" ||
      fail "kpool.1 has no entry for the option $o"
  done <"$T/options"
  grep -q -- "--version" "$T/rendered" || fail "kpool.1 lacks --version"
  for o in 0 1 2 3 130; do
    grep -qE "^       $o( |,|\$)" "$T/rendered" || fail "kpool.1's EXIT STATUS lacks $o"
  done
  grep -q "OUTPUT.journal" "$T/rendered" || fail "kpool.1's FILES lacks the journal"
}

# `cmake --install` puts both pages where man(1) finds them.
case_man_pages_install() {
  "${CMAKE:?}" --install "${BUILD:?}" --prefix "$T/prefix" >"$T/install.log" 2>&1 ||
    fail "cmake --install failed: $(tail -5 "$T/install.log")"
  local man1 man5
  man1=$(find "$T/prefix" -path '*/man1/kpool.1' | head -1)
  man5=$(find "$T/prefix" -path '*/man5/kpool.ini.5' | head -1)
  [ -n "$man1" ] && cmp -s "$man1" "$SRC/docs/man/kpool.1" || fail "kpool.1 is not installed in man1"
  [ -n "$man5" ] && cmp -s "$man5" "${MAN5:?}" || fail "kpool.ini.5 is not installed in man5"
  if command -v man >/dev/null && [ -n "$man5" ]; then
    MANPATH="${man5%/man5/*}" man -w 5 kpool.ini >/dev/null 2>&1 || fail "man does not find kpool.ini(5)"
  fi
}

# ---- the guides ------------------------------------------------------------

# extract DOC DIR: writes each marked block of DOC to DIR/NNN and its marker
# ("NNN KIND ARGS") to DIR/manifest. A marker without a block is an error.
extract() {
  mkdir -p "$2"
  : >"$2/manifest"
  awk -v dir="$2" '
    /^<!-- kpool-doc: .* -->$/ {
      if (pending) { print "marker without a block: " spec > "/dev/stderr"; bad = 1 }
      spec = $0; sub(/^<!-- kpool-doc: /, "", spec); sub(/ -->$/, "", spec); pending = 1; next }
    pending && /^```/ {
      n++; file = sprintf("%s/%03d", dir, n); printf "" > file
      print sprintf("%03d", n) " " spec >> (dir "/manifest"); pending = 0; inblock = 1; next }
    inblock && /^```$/ { inblock = 0; close(file); next }
    inblock { print >> file; next }
    pending && NF { print "marker without a block: " spec > "/dev/stderr"; bad = 1; pending = 0 }
    END { exit bad }' "$1" || fail "$1: a kpool-doc marker is not followed by a fenced block"
}

# build_plugins MANIFEST_DIR OUT_DIR: compiles every "plugin NAME" block.
build_plugins() {
  local num kind name
  while read -r num kind name; do
    [ "$kind" = plugin ] || continue
    cp "$1/$num" "$2/$name.c"
    "${CC:-cc}" -std=c11 -Wall -Wextra -Werror -shared -fPIC -I"$SRC/include" \
      -o "$2/lib$name.so" "$2/$name.c" 2>"$T/cc.err" ||
      fail "the plugin '$name' of the guide does not compile: $(head -c 2000 "$T/cc.err")"
  done <"$1/manifest"
}

# check_console BLOCK DIR: runs each "$ kpool ..." line of a console block in
# DIR and compares its output with the lines shown after it.
check_console() {
  local block=$1 dir=$2 cmd="" i=0
  {
    while IFS= read -r line; do
      if [[ $line == '$ '* ]]; then
        [ -z "$cmd" ] || run_shown "$dir" "$cmd" "$T/shown.$i"
        i=$((i + 1))
        cmd=${line#'$ '}
        : >"$T/shown.$i"
      else
        printf '%s\n' "$line" >>"$T/shown.$i"
      fi
    done
    [ -z "$cmd" ] || run_shown "$dir" "$cmd" "$T/shown.$i"
  } <"$block"
  [ "$i" -gt 0 ] || fail "a run block without a command: $(head -3 "$block")"
}

run_shown() { # DIR COMMAND SHOWN
  local dir=$1 cmd=$2 shown=$3 expected_status=0
  [[ $cmd == 'kpool '* ]] || { fail "a shown command that is not kpool: $cmd"; return; }
  (cd "$dir" && eval "\"\$KPOOL\" ${cmd#kpool }") >"$T/run.out" 2>"$T/run.err"
  status=$?
  grep -v '^kpool: ' "$shown" >"$T/shown.out"
  grep '^kpool: ' "$shown" | sort >"$T/shown.err"
  [ ! -s "$T/shown.err" ] || expected_status=1
  grep -vE '^kpool: [0-9]+ tasks? ' "$T/run.err" | sort >"$T/run.err.sorted"
  [ "$status" -eq "$expected_status" ] ||
    fail "'$cmd' exits $status, expected $expected_status; stderr: $(head -c 1000 "$T/run.err")"
  cmp -s "$T/run.out" "$T/shown.out" ||
    fail "'$cmd' prints another stdout than shown: $(diff "$T/shown.out" "$T/run.out" | head -10)"
  cmp -s "$T/run.err.sorted" "$T/shown.err" ||
    fail "'$cmd' prints other kpool: lines than shown: $(diff "$T/shown.err" "$T/run.err.sorted" | head -10)"
}

case_writing_kernels() {
  local doc="$SRC/docs/writing-kernels.md" W="$T/work" num kind name
  mkdir -p "$W"
  extract "$doc" "$T/blocks"
  [ "$(grep -c ' plugin ' "$T/blocks/manifest")" -ge 4 ] || fail "fewer than 4 plugins found in $doc"
  [ "$(grep -c ' run$' "$T/blocks/manifest")" -ge 4 ] || fail "fewer than 4 runs found in $doc"
  build_plugins "$T/blocks" "$W"
  while read -r num kind name; do
    [ "$kind" = file ] && cp "$T/blocks/$num" "$W/$name"
  done <"$T/blocks/manifest"
  while read -r num kind name; do
    [ "$kind" = run ] && check_console "$T/blocks/$num" "$W"
  done <"$T/blocks/manifest"
  # Every C block of the page that is a whole plugin is marked as one.
  local blocks plugins
  blocks=$(awk '/^```c$/ {c = 1; next} c && /^KPOOL_PLUGIN\(/ {n++} /^```$/ {c = 0} END {print n + 0}' "$doc")
  plugins=$(grep -c ' plugin ' "$T/blocks/manifest")
  [ "$blocks" -eq "$plugins" ] || fail "$doc has $blocks C blocks with KPOOL_PLUGIN but $plugins marked plugins"
}

case_from_python() {
  local doc="$SRC/docs/from-python.md" num kind name how n=0
  mkdir -p "$T/config" "$T/plugins"
  ln -s "$SRC/data" "$T/data"
  ln -s "$SRC/plugins/libseed.so" "$T/plugins/libseed.so"
  # The initializer's job uses the bounds plugin of writing-kernels.md.
  extract "$SRC/docs/writing-kernels.md" "$T/kernels"
  build_plugins "$T/kernels" "$T/plugins"
  extract "$doc" "$T/blocks"
  cut -d, -f1 "$DATA/seed.expected.csv" >"$T/expected"
  while read -r num kind name how; do
    [ "$kind" = job ] || continue
    n=$((n + 1))
    cp "$T/blocks/$num" "$T/config/$name.ini"
    kp run "$T/config/$name.ini"
    expect_status 0 "run $name.ini (from-python.md)"
    case "$how" in
    expect=input) cp "$out" "$T/got" ;;
    expect=completion) sort -t, -k1,1n "$out" | cut -d, -f2 >"$T/got" ;;
    expect=jsonl)
      sed -E 's/^\{"index": ([0-9]+), "result": (-?[0-9]+)\}$/\1,\2/' "$out" |
        sort -t, -k1,1n | cut -d, -f2 >"$T/got" ;;
    expect=first) head -1 "$T/expected" >"$T/expected.first" ;;
    *) fail "$name: unknown expectation '$how'" ;;
    esac
    if [ "$how" = expect=first ]; then
      cmp -s "$out" "$T/expected.first" || fail "$name.ini gives $(head -c 100 "$out"), not the first row's count"
    else
      cmp -s "$T/got" "$T/expected" || fail "$name.ini does not give the seed's counts: $(diff "$T/got" "$T/expected" | head -5)"
    fi
  done <"$T/blocks/manifest"
  [ "$n" -ge 7 ] || fail "only $n jobs found in $doc"
  # Every Pool call of the seed has its row in the page's table.
  local call
  for call in 'mp.cpu_count()' 'mp.Pool(n)' 'pool.apply(' 'pool.map(' 'pool.starmap(' \
    'pool.apply_async(' 'pool.map_async(' 'pool.starmap_async(' 'callback=' \
    'pool.imap_unordered(' 'pool.close(); pool.join()' 'initializer=' 'maxtasksperchild=' \
    'chunksize='; do
    grep '^| ' "$doc" | grep -qF -- "$call" || fail "from-python.md's table lacks $call"
  done
}

# ---- check and inspect say what would run ------------------------------------

case_check_describes_run() {
  kp check "$SRC/config/seed.ini" -j 3 --set pool.chunksize=1000 -o "$T/never.csv"
  expect_status 0 "check"
  grep -qF "kernel:  howmany_within_range: i64 (i64[], i64, i64)" "$out" || fail "check: no kernel line"
  grep -qF "C: int64_t howmany_within_range(const int64_t *" "$out" ||
    fail "check: no C prototype: $(cat "$out")"
  grep -qF "tasks:   200000" "$out" || fail "check: no task count"
  grep -qF "workers: 3, claims of 1000 tasks" "$out" || fail "check: no workers and chunking: $(cat "$out")"
  grep -q "^ok: nothing ran" "$out" || fail "check does not say that nothing ran"
  [ ! -e "$T/never.csv" ] && [ ! -e "$T/never.csv.journal" ] || fail "check wrote an output file"
  kp check "$SRC/config/seed.ini"
  grep -qF "guided claims (auto)" "$out" || fail "check: auto chunking not described: $(cat "$out")"
  kp check "$SRC/config/async.ini"
  grep -qF "completion order" "$out" || fail "check: the output order is not described"
  kp inspect "${TP:?}/libtestkernels.so"
  expect_status 0 "inspect"
  grep -qF "C:         double sleep_for(double seconds);" "$out" || fail "inspect: no prototype with names"
  grep -qF "C:         int64_t crash_once(const char *dir, int64_t x);" "$out" ||
    fail "inspect: no str prototype"
  grep -qF "C:         double mean(const double *values, size_t values_len);" "$out" ||
    fail "inspect: no array prototype: $(cat "$out")"
}

e2e_run
