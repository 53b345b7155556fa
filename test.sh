#!/usr/bin/env bash
# Every test of the project, from a fresh checkout: formatting, lints, the whole Rust
# workspace (core unit tests, the shared scenarios against the test origin, durability
# with SIGKILLed child processes, notifications, thread stress, bad input, the hostile-
# input tests, the CLI, the test origin itself), the method-list check, then each
# language binding's own test script, and the Python and npm packages as published.
#
# The last line sums every stage: "all: N passed, N failed, N skipped". Every stage
# counts: a check (fmt, clippy, build, the method list) is one test; a test runner
# counts its tests; a stage or test binary that fails without printing its count
# counts as one failure, so the line never says 0 failed for a red run.
set -uo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }
passed=0
failed=0
skipped=0
status=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Run a command as one check: 1 passed or 1 failed.
check() {
  "$@" 2>&1 | tee "$out"
  local rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi
}

# Free disk where the build and the temporary files go, printed at the start and the
# end: a run that fails with "No space left on device" shows how much it had.
disk() { df -h --output=target,size,used,avail "${CARGO_TARGET_DIR:-$PWD}" "${TMPDIR:-/tmp}" 2>/dev/null | uniq | sed 's/^/disk: /'; }
step "free disk"
disk

step "real proxies for the request tests: tinyproxy and microsocks (Debian packages)"
need_pkgs=()
command -v tinyproxy >/dev/null 2>&1 || need_pkgs+=(tinyproxy-bin)
command -v microsocks >/dev/null 2>&1 || need_pkgs+=(microsocks)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get install -y -qq "${need_pkgs[@]}" >/dev/null 2>&1 ||
    { "${as_root[@]}" apt-get update -qq >/dev/null && "${as_root[@]}" apt-get install -y -qq "${need_pkgs[@]}" >/dev/null; }
fi
check bash -c 'command -v tinyproxy && command -v microsocks'

step "cargo fmt --check"
check cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
check cargo clippy --workspace --all-targets -- -D warnings

step "build the workspace (the tests start bgcopy-test-origin and bgcopy as child processes)"
check cargo build --workspace

step "every language exposes every canonical method (tests/spec_methods.json)"
check python3 tests/check_api.py

step "the core's modules import each other without a cycle; nothing imports the manager"
check python3 tests/check_imports.py

step "the repository stands alone: no reference outside it, one version everywhere, licences in every package"
check python3 tests/check_repo.py

step "cargo test (every test binary, --no-fail-fast)"
cargo test --workspace --no-fail-fast 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
read -r p f i binaries results < <(awk '
  /^test result:/ {
    results++
    for (k = 1; k <= NF; k++) {
      if ($(k+1) ~ /^passed/) p += $k
      if ($(k+1) ~ /^failed/) f += $k
      if ($(k+1) ~ /^ignored/) i += $k
    }
  }
  /^ *(Running|Doc-tests) / { binaries++ }
  END { print p + 0, f + 0, i + 0, binaries + 0, results + 0 }' "$out")
# A test binary that died (abort, signal) printed no result line: one failure each.
died=$((binaries - results))
[ "$died" -gt 0 ] && echo "cargo test: $died test binar(ies) ended without a result line"
passed=$((passed + p))
failed=$((failed + f + (died > 0 ? died : 0)))
skipped=$((skipped + i))
if [ "$rc" -ne 0 ]; then
  status=1
  [ "$f" -eq 0 ] && [ "$died" -le 0 ] && failed=$((failed + 1))
fi

# Each binding has its own script; it installs what it needs and ends with a line
# "<name>: N passed, N failed" (optionally ", N skipped").
# Node before Python: a Python test drives the Node addon and the CLI in one queue
# (bindings-python/tests/test_three_languages.py), and here it may not be skipped.
export BGCOPY_REQUIRE_NODE=1
# Then the packages as they would be published (release builds, installed into fresh
# projects with no Rust on PATH): the Python wheel and sdist, the npm tarballs.
for t in ffi-c/test.sh bindings-node/test.sh bindings-python/test.sh bindings-swift/test.sh \
  bindings-python/package.sh bindings-node/package.sh; do
  step "$t"
  if [ ! -x "$t" ]; then
    echo "$t is missing or not executable"
    failed=$((failed + 1))
    status=1
    continue
  fi
  "./$t" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^[A-Za-z-]+: [0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
  if [ -z "$line" ]; then
    echo "$t printed no count (exit status $rc): one failure"
    failed=$((failed + 1))
    status=1
    continue
  fi
  read -r p f s < <(echo "$line" | awk '{ s = 0; for (k = 1; k <= NF; k++) if ($(k+1) ~ /^skipped/) s = $k; print $2, $4, s }')
  passed=$((passed + p))
  failed=$((failed + f))
  skipped=$((skipped + s))
  if [ "$rc" -ne 0 ]; then
    status=1
    [ "$f" -eq 0 ] && failed=$((failed + 1))
  fi
done

step "free disk"
disk
echo
echo "all: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] || status=1
exit "$status"
