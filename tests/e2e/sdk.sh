#!/usr/bin/env bash
# The SDK, end to end: `cmake --install` of the build tree into a temporary
# prefix, then what a plugin author and an embedding program do with it.
# Usage: sdk.sh CASE. CTest sets KPOOL, SRC, E2E_TMP, BUILD (the build tree
# to install), LIBDIR (CMAKE_INSTALL_LIBDIR), CMAKE, CTEST, CC (the build's C
# compiler) and SANITIZE (1 when the build has ASan + UBSan: programs that
# link the instrumented libkpool are then built with the same sanitizers).
set -uo pipefail

: "${SRC:?}" "${E2E_TMP:?}" "${BUILD:?}" "${LIBDIR:?}" "${CMAKE:?}" "${CTEST:?}" "${CC:?}"
: "${SANITIZE:?}"
case_name=$1
T="$E2E_TMP/$case_name"
rm -rf "$T"
mkdir -p "$T/work"
P="$T/prefix"
failures=0
unset DESTDIR LD_LIBRARY_PATH PKG_CONFIG_PATH CMAKE_PREFIX_PATH

fail() {
  echo "FAIL [$case_name]: $*" >&2
  failures=$((failures + 1))
}

# run NAME CMD...: runs CMD with stdout and stderr in $T/NAME.out and
# $T/NAME.err; sets $status.
run() {
  local name=$1
  shift
  "$@" >"$T/$name.out" 2>"$T/$name.err"
  status=$?
}

expect_status() { # NAME STATUS
  [ "$status" -eq "$2" ] ||
    fail "$1: exit status $status, expected $2; stderr: $(tail -c 3000 "$T/$1.err"); stdout: $(tail -c 2000 "$T/$1.out")"
}

expect_in() { # FILE TEXT: FILE holds the fixed string TEXT
  grep -qF -- "$2" "$1" || fail "$1 lacks '$2': $(head -c 2000 "$1")"
}

san_flags=()
if [ "$SANITIZE" = 1 ]; then
  # shellcheck disable=SC2054 # the commas are part of one flag
  san_flags=(-fsanitize=address,undefined -fno-omit-frame-pointer)
fi

# Installs the build tree into $P; every installed path must be inside $P.
install_sdk() {
  run install "$CMAKE" --install "$BUILD" --prefix "$P"
  expect_status install 0
  local outside
  outside=$(grep -E '^-- (Installing|Up-to-date): ' "$T/install.out" | sed -E 's/^-- [A-Za-z-]+: //' |
    grep -vF -- "$P/")
  [ -z "$outside" ] || fail "installed outside the prefix: $outside"
  grep -qE '^-- Installing: ' "$T/install.out" || fail "nothing installed: $(cat "$T/install.out")"
}

# The installed layout, the binary's RPATH, and a prefix that still works
# after it is moved elsewhere as a whole.
case_sdk_install() {
  install_sdk
  local f
  for f in bin/kpool include/kpool/plugin.h include/kpool/kpool.h \
    "$LIBDIR/cmake/kpool/kpoolConfig.cmake" \
    "$LIBDIR/cmake/kpool/kpoolConfigVersion.cmake" "$LIBDIR/cmake/kpool/kpoolTargets.cmake" \
    "$LIBDIR/cmake/kpool/kpoolAddPlugin.cmake" "$LIBDIR/pkgconfig/kpool.pc"; do
    [ -f "$P/$f" ] || fail "$P/$f was not installed"
  done
  # libkpool with its SONAME symlinks.
  local real soname
  real=$(cd "$P/$LIBDIR" && ls libkpool.so.*.*.* 2>/dev/null | head -1)
  [ -n "$real" ] && [ -f "$P/$LIBDIR/$real" ] || fail "no versioned libkpool in $P/lib: $(ls "$P/$LIBDIR")"
  soname=$(readelf -d "$P/$LIBDIR/$real" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
  [ -n "$soname" ] && [ -L "$P/$LIBDIR/$soname" ] || fail "the SONAME link $soname is missing"
  [ "$(readlink "$P/$LIBDIR/libkpool.so")" = "$soname" ] ||
    fail "lib/libkpool.so points to $(readlink "$P/$LIBDIR/libkpool.so"), not $soname"
  # The binary finds its libkpool through $ORIGIN, without LD_LIBRARY_PATH.
  readelf -d "$P/bin/kpool" | grep -qF "[\$ORIGIN/../$LIBDIR]" ||
    fail "bin/kpool has no \$ORIGIN RPATH: $(readelf -d "$P/bin/kpool" | grep -i path)"
  loads_installed_libkpool "$P/bin/kpool"
  run version "$P/bin/kpool" --version
  expect_status version 0
  expect_in "$T/version.out" "kpool $(sed -n 's/^Version: //p' "$P/$LIBDIR/pkgconfig/kpool.pc")"
  run modversion env PKG_CONFIG_PATH="$P/$LIBDIR/pkgconfig" pkg-config --modversion kpool
  expect_status modversion 0
  expect_in "$T/modversion.out" "$("$P/bin/kpool" --version | sed 's/^kpool //')"

  # Moved as a whole, the prefix still works: the binary, pkg-config's
  # paths (relative to the .pc file) and the CMake package.
  mv "$P" "$T/moved"
  run moved_version "$T/moved/bin/kpool" --version
  expect_status moved_version 0
  run moved_cflags env PKG_CONFIG_PATH="$T/moved/$LIBDIR/pkgconfig" pkg-config --cflags --libs kpool
  expect_status moved_cflags 0
  local inc
  inc=$(sed -n 's/.*-I\([^ ]*\).*/\1/p' "$T/moved_cflags.out")
  [ -f "$inc/kpool/plugin.h" ] || fail "pkg-config's -I$inc does not hold kpool/plugin.h"
  expect_in "$T/moved_cflags.out" "-lkpool"
}

# kpool new, built out of tree against the installed prefix, then run by the
# installed binary; the expected sums are computed here with awk.
case_sdk_new_plugin() {
  install_sdk
  cd "$T/work" || exit 1
  run new "$P/bin/kpool" new demo
  expect_status new 0
  local f
  for f in demo/demo.c demo/CMakeLists.txt demo/demo.ini demo/input.csv demo/README.md; do
    [ -f "$f" ] || fail "kpool new did not write $f"
    expect_in "$T/new.out" "$f"
  done
  # It tells the user the prefix find_package needs.
  expect_in "$T/new.out" "cmake -S demo -B demo/build -DCMAKE_PREFIX_PATH=$P && cmake --build demo/build"
  expect_in "$T/new.out" "kpool run demo/demo.ini"

  run configure "$CMAKE" -S demo -B demo/build -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_C_FLAGS="-Werror"
  expect_status configure 0
  run build "$CMAKE" --build demo/build
  expect_status build 0
  [ -f demo/build/libdemo.so ] || fail "the build made no demo/build/libdemo.so"
  # A plugin does not link libkpool.
  readelf -d demo/build/libdemo.so | grep -q 'NEEDED.*libkpool' &&
    fail "libdemo.so links libkpool: $(readelf -d demo/build/libdemo.so | grep NEEDED)"

  awk -F, '{ s = 0; for (i = 1; i <= NF; i++) if ($i >= 4 && $i <= 8) s += $i; print s }' \
    demo/input.csv >"$T/expected.csv"
  [ "$(wc -l <"$T/expected.csv")" -ge 3 ] || fail "the sample input has fewer than 3 rows"
  run job "$P/bin/kpool" run demo/demo.ini --quiet
  expect_status job 0
  cmp -s "$T/job.out" "$T/expected.csv" ||
    fail "kpool run demo/demo.ini: $(diff "$T/job.out" "$T/expected.csv" | head -10)"
  # The kernel's kpool_fail example: every task fails with its message.
  run failing "$P/bin/kpool" run demo/demo.ini --quiet --set 'job.args=$0, 8, 4'
  expect_status failing 1
  expect_in "$T/failing.err" "kpool: task 0 failed: minimum 8 is greater than maximum 4"
  # The project's own test runs the job with the plugin it built.
  run ctest "$CTEST" --test-dir demo/build --output-on-failure
  expect_status ctest 0
  # inspect shows the kernel's signature, derived by KPOOL_KERNEL_TYPED.
  run inspect "$P/bin/kpool" inspect demo/build/libdemo.so
  expect_status inspect 0
  expect_in "$T/inspect.out" "demo"
  expect_in "$T/inspect.out" "i64 (i64[], i64, i64)"

  # Never overwrite: a second `kpool new demo` is refused and changes nothing.
  local before
  before=$(cksum demo/demo.c demo/demo.ini)
  run again "$P/bin/kpool" new demo
  expect_status again 2
  expect_in "$T/again.err" "kpool: new: demo exists and is not empty; kpool new never overwrites files"
  [ "$before" = "$(cksum demo/demo.c demo/demo.ini)" ] || fail "kpool new changed demo/"
  run badname "$P/bin/kpool" new my-plugin
  expect_status badname 2
  expect_in "$T/badname.err" "kpool: new: 'my-plugin' is not a C identifier"
  [ ! -e my-plugin ] || fail "a refused name left a folder behind"
  run usage "$P/bin/kpool" new
  expect_status usage 2
  expect_in "$T/usage.err" "kpool new NAME [DIR]"
  run dir "$P/bin/kpool" new other "$T/work/sub dir"
  expect_status dir 0
  [ -f "$T/work/sub dir/other.c" ] || fail "kpool new other DIR did not write DIR/other.c"
  expect_in "$T/dir.out" "kpool run '$T/work/sub dir/other.ini'"
}

# The embedding program of the pkg-config route, and a plugin built with
# `pkg-config --cflags` only.
write_embedding_sources() { # DIR
  cat >"$1/triple.c" <<'EOF'
#include <kpool/plugin.h>

static int64_t triple(int64_t x)
{
    if (x == 13) {
        kpool_fail("13 is unlucky");
        return 0;
    }
    return 3 * x;
}

KPOOL_PLUGIN(KPOOL_KERNEL_TYPED(triple, i64, i64), )
EOF
  cat >"$1/embed.c" <<'EOF'
/* Pool.map(triple, range(20)) through libkpool. */
#include <kpool/kpool.h>

#include <inttypes.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    kpool_options_t opts = KPOOL_OPTIONS_INIT;
    opts.workers = 2;
    kpool_pool_t *pool;
    kpool_kernel_t *triple;
    if (kpool_pool_open(&pool, &opts) < 0 ||
        kpool_kernel_load(pool, argv[1], "triple", NULL, &triple) < 0) {
        fprintf(stderr, "embed: %s\n", kpool_pool_error(pool));
        kpool_pool_free(pool);
        return 2;
    }
    kpool_arg_t items[20];
    kpool_outcome_t out[20];
    for (int i = 0; i < 20; i++)
        items[i] = kpool_i64(i);
    int rc = kpool_map(pool, triple, items, 20, out);
    for (int i = 0; i < 20; i++) {
        if (out[i].kind == KPOOL_TASK_OK)
            printf("%" PRId64 "\n", out[i].value.i);
        else
            printf("%s: %s\n", kpool_task_kind_name(out[i].kind), out[i].message);
    }
    printf("%s\n", kpool_strerror(rc));
    kpool_pool_free(pool);
    return 0;
}
EOF
  local i
  for ((i = 0; i < 20; i++)); do
    if ((i == 13)); then echo "failed: 13 is unlucky"; else echo $((3 * i)); fi
  done >"$1/expected.txt"
  echo "some tasks failed" >>"$1/expected.txt"
}

# PROGRAM loads libkpool from $P/$LIBDIR (ldd may spell the path differently).
loads_installed_libkpool() {
  local loaded
  loaded=$(ldd "$1" | sed -n 's/^[[:space:]]*libkpool\.so[.0-9]* => \(.*\) (0x.*/\1/p')
  [ -n "$loaded" ] && [ "$(realpath "$loaded")" = "$(realpath "$P/$LIBDIR/libkpool.so")" ] ||
    fail "$1 does not load the installed libkpool: $(ldd "$1")"
}

case_sdk_embed_pkgconfig() {
  install_sdk
  local W="$T/work"
  write_embedding_sources "$W"
  export PKG_CONFIG_PATH="$P/$LIBDIR/pkgconfig"
  local cflags libs libdir
  cflags=$(pkg-config --cflags kpool) || fail "pkg-config --cflags kpool failed"
  libs=$(pkg-config --libs kpool) || fail "pkg-config --libs kpool failed"
  libdir=$(pkg-config --variable=libdir kpool)
  # The plugin needs only the Cflags and links nothing of kpool.
  # shellcheck disable=SC2086
  run plugin "$CC" -std=c11 -Wall -Wextra -Werror -shared -fPIC $cflags "$W/triple.c" \
    -o "$W/libtriple.so"
  expect_status plugin 0
  # shellcheck disable=SC2086
  run embed "$CC" -std=c11 -Wall -Wextra -Werror "${san_flags[@]}" $cflags "$W/embed.c" \
    -o "$W/embed" $libs -Wl,-rpath,"$libdir"
  expect_status embed 0
  loads_installed_libkpool "$W/embed"
  run embedded "$W/embed" "$W/libtriple.so"
  expect_status embedded 0
  cmp -s "$T/embedded.out" "$W/expected.txt" ||
    fail "embed's output: $(diff "$T/embedded.out" "$W/expected.txt" | head -10)"
}

# A second CMake project: find_package(kpool) gives kpool_add_plugin for the
# plugin and kpool::kpool for the program that embeds the pool.
case_sdk_embed_cmake() {
  install_sdk
  local W="$T/work"
  write_embedding_sources "$W"
  cat >"$W/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(embed_demo LANGUAGES C)
find_package(kpool 0.1 REQUIRED)
kpool_add_plugin(triple SOURCES triple.c)
add_executable(embed embed.c)
target_link_libraries(embed PRIVATE kpool::kpool)
file(GENERATE OUTPUT kpool_exe.txt CONTENT "$<TARGET_FILE:kpool::kpool_exe>\n")
EOF
  run configure "$CMAKE" -S "$W" -B "$W/build" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_C_FLAGS="${san_flags[*]}" -DCMAKE_EXE_LINKER_FLAGS="${san_flags[*]}"
  expect_status configure 0
  # kpool::kpool_exe is the installed binary.
  [ "$(cat "$W/build/kpool_exe.txt")" = "$P/bin/kpool" ] ||
    fail "kpool::kpool_exe is $(cat "$W/build/kpool_exe.txt"), not $P/bin/kpool"
  run build "$CMAKE" --build "$W/build"
  expect_status build 0
  readelf -d "$W/build/libtriple.so" | grep -q 'NEEDED.*libkpool' &&
    fail "libtriple.so links libkpool: $(readelf -d "$W/build/libtriple.so" | grep NEEDED)"
  loads_installed_libkpool "$W/build/embed"
  run embedded "$W/build/embed" "$W/build/libtriple.so"
  expect_status embedded 0
  cmp -s "$T/embedded.out" "$W/expected.txt" ||
    fail "embed's output: $(diff "$T/embedded.out" "$W/expected.txt" | head -10)"

  # A version of another major is refused by the package's version file.
  cat >"$W/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(too_new LANGUAGES C)
find_package(kpool 99 REQUIRED)
EOF
  run refused "$CMAKE" -S "$W" -B "$W/build99" -DCMAKE_PREFIX_PATH="$P"
  [ "$status" -ne 0 ] || fail "find_package(kpool 99) was accepted"
  expect_in "$T/refused.err" "requested version \"99\""
  expect_in "$T/refused.err" "$P/$LIBDIR/cmake/kpool/kpoolConfig.cmake, version: "
}

if ! declare -F "case_$case_name" >/dev/null; then
  echo "sdk.sh: no case '$case_name'" >&2
  exit 2
fi
"case_$case_name"
if ((failures > 0)); then
  echo "$case_name: $failures failure(s); files in $T" >&2
  exit 1
fi
rm -rf "$T"
echo "$case_name: ok"
