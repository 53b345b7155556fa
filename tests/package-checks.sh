# Sourced by the packaging scripts (bindings-python/package.sh, bindings-node/package.sh)
# after they set `root` and `checks_name`: a temporary work directory removed at exit,
# counted checks (ok, bad), step headings, `finish` printing the line ./test.sh reads
# ("<checks_name>: N passed, N failed") and exiting with the verdict, and the test
# origin built (BGCOPY_TEST_ORIGIN) for the smoke tests.
work="$(mktemp -d "${TMPDIR:-/tmp}/bgcopy-$checks_name.XXXXXX")"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAILED: $*"; failed=$((failed + 1)); }
step() { printf '\n--> %s\n' "$*"; }
finish() {
  echo "$checks_name: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

target="${CARGO_TARGET_DIR:-$root/target}"
[ -x "$target/debug/bgcopy-test-origin" ] || cargo build -p bgcopy-test-origin
export BGCOPY_TEST_ORIGIN="$target/debug/bgcopy-test-origin"
