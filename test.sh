#!/usr/bin/env bash
# Every test of the project, from a fresh checkout: formatting, lints, the whole Rust
# workspace (core unit tests, the shared scenarios against the test origin, durability
# with SIGKILLed child processes, notifications, thread stress, bad input, the CLI, the
# test origin itself), then each language binding's own test script. The last line sums
# every runner: "all: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
run() { "$@" 2>&1 | tee -a "$log"; local rc=${PIPESTATUS[0]}; [ "$rc" -eq 0 ] || status=$rc; return "$rc"; }

step "cargo fmt --check"
run cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
run cargo clippy --workspace --all-targets -- -D warnings

step "build the workspace (the tests start bgcopy-test-origin and bgcopy as child processes)"
run cargo build --workspace

step "cargo test"
run cargo test --workspace

# Each binding has its own script; it installs what it needs and ends with a line
# "<name>: N passed, N failed".
for t in ffi-c/test.sh bindings-python/test.sh bindings-node/test.sh bindings-swift/test.sh; do
  if [ -x "$t" ]; then
    step "$t"
    run "./$t"
  fi
done

summary=$(awk '
  /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
  /^[A-Za-z-]+: [0-9]+ passed, [0-9]+ failed/ { p += $2; f += $4 }
  END { printf "%d passed, %d failed", p, f }' "$log")
echo
echo "all: $summary"
exit "$status"
