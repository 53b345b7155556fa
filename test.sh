#!/usr/bin/env bash
# Every test of the project, from a fresh checkout: formatting, lints, then the whole
# Rust workspace (core unit tests, the shared scenarios against the test origin,
# durability with SIGKILLed child processes, notifications, thread stress, bad input,
# the CLI, the test origin itself). The last line is the test runner's summary.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "build the workspace (the tests start bgcopy-test-origin and bgcopy as child processes)"
cargo build --workspace

step "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
summary=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { printf "%d passed, %d failed", p, f }' "$log")
echo
echo "all: $summary"
exit "$status"
