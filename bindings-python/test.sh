#!/usr/bin/env bash
# The Python module's tests, from a fresh checkout: a fresh venv, `pip install
# ./bindings-python` (maturin, PEP 517), then pytest: the shared scenarios against the
# test origin, the Python-specific tests, mypy.stubtest (the committed stubs against the
# built module), mypy --strict on the quick start, api-parity.
# The last line is "python: N passed, N failed, N skipped"; the exit status is non-zero on
# any failure.
#
#   BGCOPY_PY_RELEASE=1   build the extension in release mode (default: the dev profile,
#                         which reuses the workspace's debug build of the core)
#   BGCOPY_PY_VENV=DIR    use (and keep) this venv instead of a temporary one
#   extra arguments go to pytest (e.g. -k callbacks)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

work="$(mktemp -d "${TMPDIR:-/tmp}/bgcopy-python-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
summary() { echo "python: $1 passed, $2 failed, ${3:-0} skipped"; }

step() { printf '\n--> %s\n' "$*"; }

target="${CARGO_TARGET_DIR:-$root/target}"
if [ ! -x "$target/debug/bgcopy-test-origin" ]; then
  step "cargo build -p bgcopy-test-origin"
  cargo build -p bgcopy-test-origin
fi
export BGCOPY_TEST_ORIGIN="$target/debug/bgcopy-test-origin"

venv="${BGCOPY_PY_VENV:-$work/venv}"
step "python3 -m venv $venv"
if ! python3 -m venv "$venv"; then
  echo "python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
  summary 0 1
  exit 1
fi
py="$venv/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1

step "pip install the test tools"
"$py" -m pip install -q "maturin>=1.16,<2" "pytest==9.2.0" "mypy==2.4.1"

profile=(--profile dev)
[ "${BGCOPY_PY_RELEASE:-0}" = 1 ] && profile=(--release)
step "pip install ./bindings-python (${profile[*]})"
if ! MATURIN_PEP517_ARGS="${profile[*]}" "$py" -m pip install -q --force-reinstall --no-deps \
    ./bindings-python; then
  summary 0 1
  exit 1
fi

step "pytest"
set +e
(cd "$here" && "$py" -m pytest -p no:cacheprovider --junitxml="$work/report.xml" -q "$@")
rc=$?
set -e

if [ ! -s "$work/report.xml" ]; then
  summary 0 1
  exit 1
fi
read -r passed failed skipped < <("$py" - "$work/report.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = f = e = s = 0
for suite in suites:
    t += int(suite.get("tests", 0)); f += int(suite.get("failures", 0))
    e += int(suite.get("errors", 0)); s += int(suite.get("skipped", 0))
print(t - f - e - s, f + e, s)
PY
)
# pytest exits 5 when it collected nothing: that is a failure here.
if [ "$rc" -eq 5 ] || { [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; }; then
  failed=$((failed + 1))
fi
summary "$passed" "$failed" "$skipped"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
