#!/usr/bin/env bash
# The C ABI's tests, in real C: builds libbgcopy (.so and .a) and include/bgcopy.h,
# fails when the committed header drifts from the Rust sources, compiles the C tests
# with gcc -Wall -Wextra -Werror and runs them
#   - the shared scenarios (tests/scenarios/*.json) and the C unit tests, linked
#     against libbgcopy.so, then against libbgcopy.a,
#   - under valgrind (memcheck, definite/indirect leaks are errors): every unit test
#     and the scenarios that are not timing-sensitive,
#   - built with -fsanitize=address,undefined,
# then builds examples/download.c with pkg-config and runs it against the test origin,
# installs the library into a temporary prefix with ffi-c/install.sh and builds and runs
# the example against that with `pkg-config --cflags --libs bgcopy` only, and compiles
# the C quick start of the README.
# The last line is "c: N passed, N failed" (N counts C test cases and scenarios, per
# configuration). Needs `cargo build --workspace` to have run, or builds what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
lib=$target/debug

say() { printf '\n--> %s\n' "$*"; }

# ---- tools: gcc, valgrind, pkg-config and Jansson (a JSON library that keeps NULs
# inside strings, which the scenario files contain) ----
missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
[ -f /usr/include/jansson.h ] || missing+=(libjansson-dev)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

passed=0
failed=0
pass() { passed=$((passed + $1)); }
fail() { failed=$((failed + $1)); }

# ---- build, and check the header ----
say "cargo build -p bgcopy-ffi; cargo xtask pkg-config"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build -q -p bgcopy-ffi -p bgcopy-test-origin
cargo xtask pkg-config
export BGCOPY_TEST_ORIGIN=$lib/bgcopy-test-origin

say "include/bgcopy.h is what ffi-c/src generates (cargo xtask codegen --check header)"
if cargo xtask codegen --check header; then pass 1; else fail 1; fi

# ---- compile ----
cflags=(-std=c11 -g -O1 -Wall -Wextra -Werror -I"$root/include")
srcs=(ffi-c/tests/common.c)
say "gcc: the tests against libbgcopy.so, libbgcopy.a, and with ASan/UBSan"
for t in unit scenarios; do
  gcc "${cflags[@]}" -o "$work/$t-shared" "ffi-c/tests/$t.c" "${srcs[@]}" \
    -L"$lib" -lbgcopy -Wl,-rpath,"$lib" -ljansson -lpthread
  # Static: the archive plus the system libraries Rust's std needs (bgcopy.pc's
  # Libs.private).
  gcc "${cflags[@]}" -o "$work/$t-static" "ffi-c/tests/$t.c" "${srcs[@]}" \
    "$lib/libbgcopy.a" -ljansson -lpthread -ldl -lm -lrt -lutil -lgcc_s
  gcc "${cflags[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer \
    -o "$work/$t-asan" "ffi-c/tests/$t.c" "${srcs[@]}" \
    -L"$lib" -lbgcopy -Wl,-rpath,"$lib" -ljansson -lpthread
done
if ldd "$work/unit-static" | grep -q libbgcopy; then
  echo "unit-static is linked against libbgcopy.so, not the archive"
  exit 1
fi

# Run one test binary; count its "RESULT passed=N failed=M" line. A binary that dies
# before that line, or a valgrind error (exit 99), counts as one more failure.
run() {
  local label=$1
  shift
  say "$label"
  local out=$work/out.txt rc=0
  "$@" 2>&1 | tee "$out" || rc=${PIPESTATUS[0]}
  local line
  line=$(grep -E '^RESULT passed=[0-9]+ failed=[0-9]+$' "$out" | tail -1 || true)
  if [ -z "$line" ]; then
    echo "$label: no result line (exit status $rc)"
    fail 1
    return
  fi
  local p f
  p=$(echo "$line" | sed -E 's/RESULT passed=([0-9]+) failed=([0-9]+)/\1/')
  f=$(echo "$line" | sed -E 's/RESULT passed=([0-9]+) failed=([0-9]+)/\2/')
  pass "$p"
  fail "$f"
  if [ "$rc" -eq 99 ]; then
    echo "$label: valgrind reported memory errors or definite/indirect leaks"
    fail 1
  elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "$label: exit status $rc"
    fail 1
  fi
}

run "unit tests, libbgcopy.so" "$work/unit-shared"
run "scenarios, libbgcopy.so" "$work/scenarios-shared" tests/scenarios
run "unit tests, libbgcopy.a" "$work/unit-static"
run "scenarios, libbgcopy.a" "$work/scenarios-static" tests/scenarios

valgrind=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect
  --errors-for-leak-kinds=definite,indirect --error-exitcode=99
  --suppressions=ffi-c/tests/valgrind.supp)
run "unit tests under valgrind" "${valgrind[@]}" "$work/unit-shared"
# These assert on timing (pre-emption, round robin, bytes in flight, a retry that must
# not start before a reopen, a one-second TRANSIENT_ERROR window, a port refusing
# connections for only 2.5 s, measured rates, paced segmented transfers) that a program slowed
# down 20-50x by valgrind cannot meet; they run in every other configuration. Valgrind
# runs one thread at a time, so fewer scenarios at once keep each one closer to real
# time.
skip=priority_preemption,round_robin,suspend_resume,reopen_continues,transient_survives_reopen,bandwidth_limit,stall_read_timeout,connect_failure_transient,bandwidth_change,segmented_download,segmented_fallback,segmented_429
BGCOPY_SCENARIO_SKIP=$skip BGCOPY_SCENARIO_JOBS=6 \
  run "scenarios under valgrind (all but 12 timing-sensitive ones)" "${valgrind[@]}" \
  "$work/scenarios-shared" tests/scenarios

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
run "unit tests with ASan/UBSan" "$work/unit-asan"
run "scenarios with ASan/UBSan" "$work/scenarios-asan" tests/scenarios
unset ASAN_OPTIONS UBSAN_OPTIONS

# ---- the example, built with the pkg-config line of the README ----
say "examples/download.c (pkg-config bgcopy), run against the test origin"
export PKG_CONFIG_PATH=$lib${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Werror -o "$work/download" ffi-c/examples/download.c \
  $(pkg-config --cflags --libs bgcopy) -Wl,-rpath,"$lib"
coproc ORIGIN { exec "$BGCOPY_TEST_ORIGIN"; }
read -r line <&"${ORIGIN[0]}"
port=$(echo "$line" | sed -E 's/.*"http":([0-9]+).*/\1/')
example_ok=1
"$work/download" -s "$work/state" "http://127.0.0.1:$port/f/example?size=300000" \
  "$work/example.bin" || example_ok=0
[ "$(stat -c %s "$work/example.bin" 2>/dev/null || echo 0)" = 300000 ] || example_ok=0
# A failed transfer exits 1 and leaves nothing behind.
if "$work/download" -s "$work/state" "http://127.0.0.1:$port/f/example-404?status=404" \
  "$work/missing.bin"; then
  example_ok=0
fi
[ ! -e "$work/missing.bin" ] || example_ok=0

# ---- the install layout: ffi-c/install.sh into a prefix, then only pkg-config ----
say "ffi-c/install.sh --prefix (SONAME, links, bgcopy.pc); examples/download.c against it"
prefix=$work/prefix
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
install_ok=1
ffi-c/install.sh --prefix "$prefix" --debug --no-build || install_ok=0
for f in include/bgcopy.h lib/libbgcopy.a "lib/libbgcopy.so.$version" \
  share/licenses/bgcopy/LICENSE-MIT share/licenses/bgcopy/LICENSE-APACHE; do
  [ -f "$prefix/$f" ] || { echo "missing $prefix/$f"; install_ok=0; }
done
readelf -d "$prefix/lib/libbgcopy.so.$version" | grep -q 'SONAME.*\[libbgcopy\.so\.0\]' ||
  { echo "SONAME is not libbgcopy.so.0"; install_ok=0; }
[ "$(readlink "$prefix/lib/libbgcopy.so.0")" = "libbgcopy.so.$version" ] || install_ok=0
[ "$(readlink "$prefix/lib/libbgcopy.so")" = libbgcopy.so.0 ] || install_ok=0
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --modversion bgcopy)" = "$version" ] || { echo "bgcopy.pc version"; install_ok=0; }
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Werror -o "$work/download-installed" ffi-c/examples/download.c \
  $(pkg-config --cflags --libs bgcopy) || install_ok=0
unset PKG_CONFIG_PATH
readelf -d "$work/download-installed" | grep -q 'NEEDED.*\[libbgcopy\.so\.0\]' ||
  { echo "the program does not need libbgcopy.so.0"; install_ok=0; }
LD_LIBRARY_PATH=$prefix/lib "$work/download-installed" -s "$work/state2" \
  "http://127.0.0.1:$port/f/example-installed?size=123456" "$work/installed.bin" || install_ok=0
[ "$(stat -c %s "$work/installed.bin" 2>/dev/null || echo 0)" = 123456 ] || install_ok=0

exec {ORIGIN[1]}>&-
wait "$ORIGIN_PID" || true
if [ $example_ok -eq 1 ]; then echo "example ok"; pass 1; else echo "example FAILED"; fail 1; fi
if [ $install_ok -eq 1 ]; then
  echo "install ok: $(du -b "$prefix/lib/libbgcopy.so.$version" | cut -f1) bytes (debug .so)"
  pass 1
else
  echo "install FAILED"
  fail 1
fi

say "the README's C quick start compiles with its compile line"
awk '/^## C quick start/ {s = 1} s && /^```c/ {c = 1; next} c && /^```/ {exit} c {print}' \
  README.md >"$work/quick.c"
if gcc -std=c11 -Wall -Wextra -Werror -o "$work/quick" "$work/quick.c" -Iinclude \
  -L"$lib" -lbgcopy -Wl,-rpath,"$lib"; then
  echo "quick start ok"
  pass 1
else
  echo "quick start FAILED"
  fail 1
fi

echo
echo "c: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
