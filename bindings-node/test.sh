#!/usr/bin/env bash
# The Node addon's tests, from a fresh checkout (needs node >= 20, npm, cargo, the npm
# registry): install the devDependencies (npm ci, package-lock.json), build the addon
# through the package's own prepare script (build.js, the napi CLI; debug profile here:
# BGCOPY_NODE_PROFILE=debug), fail if the generated index.d.ts differs from the
# committed one, run node's test runner over tests/*.test.mjs (the shared scenarios
# against bgcopy-test-origin, the Node API, the process exiting on its own), then the
# fresh-project install test (tests/install/, on its own: it rebuilds the .node file).
# The last line is "node: N passed, N failed, N skipped"; the exit status is non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "$0")"

export BGCOPY_NODE_PROFILE=debug
target=${CARGO_TARGET_DIR:-../target}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
extra_failed=0

step() { printf '\n==> %s\n' "$*"; }
fail() { echo "FAILED: $*"; status=1; extra_failed=$((extra_failed + 1)); }

step "test origin"
if [ ! -x "$target/debug/bgcopy-test-origin" ]; then
  cargo build -p bgcopy-test-origin || fail "cargo build -p bgcopy-test-origin"
fi

step "npm ci (devDependencies from package-lock.json; the build is the next step)"
npm ci --ignore-scripts --no-audit --no-fund || fail "npm ci"

step "build the addon and check index.d.ts for drift (cargo xtask codegen --check node: node build.js, napi build --platform, debug)"
cargo xtask codegen --check node || fail "index.d.ts is not what napi build generates (cargo xtask codegen node, then commit), or the build failed"

if [ "$status" -eq 0 ]; then
  step "node --test tests/*.test.mjs"
  # The TAP reporter whatever the terminal, so the counts below never depend on
  # node's default reporter.
  node --test --test-reporter=tap tests/*.test.mjs 2>&1 | tee -a "$log" || status=1
  step "node --test tests/install/ (a fresh project installs the folder)"
  node --test --test-reporter=tap tests/install/ 2>&1 | tee -a "$log" || status=1
fi

read -r passed failed skipped < <(awk '
  /^# pass [0-9]+$/ { p += $3 }
  /^# fail [0-9]+$/ { f += $3 }
  /^# cancelled [0-9]+$/ { f += $3 }
  /^# skipped [0-9]+$/ { s += $3 }
  /^# todo [0-9]+$/ { s += $3 }
  END { print p + 0, f + 0, s + 0 }' "$log")
failed=$((failed + extra_failed))
# A runner that failed without counting a failure (it crashed) counts as one.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo
echo "node: $passed passed, $failed failed, $skipped skipped"
exit "$status"
