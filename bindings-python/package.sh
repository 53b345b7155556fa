#!/usr/bin/env bash
# The Python package as it would be published, built and checked from scratch:
#   1. a manylinux2014 abi3 wheel (glibc 2.17 and later, CPython 3.9 and later):
#      `maturin build --release --zig --compatibility manylinux2014`, with zig from the
#      PyPI package `ziglang`; `auditwheel show` must report the manylinux tag;
#   2. an sdist (`maturin sdist`) that carries the licences and the Rust sources it
#      builds from (the core and this crate);
#   3. the wheel installed into a fresh venv and used with no Rust on PATH: the smoke
#      tests (a download with callbacks, errors, the version) against the test origin.
# Prints the artifacts' sizes. The last line is "python-package: N passed, N failed".
#
#   BGCOPY_PY_DIST=DIR   keep the wheel and the sdist in DIR (default: a temporary one)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

checks_name=python-package
# shellcheck source=../tests/package-checks.sh
. "$root/tests/package-checks.sh"
dist="${BGCOPY_PY_DIST:-$work/dist}"
mkdir -p "$dist"
rm -f "$dist"/bgcopy-*.whl "$dist"/bgcopy-*.tar.gz
export PIP_DISABLE_PIP_VERSION_CHECK=1

step "build tools in a venv: maturin, ziglang, auditwheel"
python3 -m venv "$work/tools"
tools="$work/tools/bin"
"$tools/python" -m pip install -q "maturin>=1.16,<2" "ziglang==0.17.0" "auditwheel==6.8.2"

step "maturin build --release --zig --compatibility manylinux2014 (abi3 wheel)"
if (cd bindings-python && PATH="$tools:$PATH" "$tools/maturin" build --release --zig \
  --compatibility manylinux2014 --out "$dist"); then
  ok "wheel built"
else
  bad "maturin build --zig"
  finish
fi
wheel=$(ls "$dist"/bgcopy-*.whl | head -1)
echo "wheel: $(basename "$wheel")"
case "$(basename "$wheel")" in
  *-cp39-abi3-manylinux*_2_17*x86_64*.whl | *-cp39-abi3-manylinux2014_x86_64*.whl) ok "abi3 manylinux2014 file name" ;;
  *) bad "the wheel's name is not abi3 manylinux2014: $(basename "$wheel")" ;;
esac

step "auditwheel show"
"$tools/auditwheel" show "$wheel" | tee "$work/audit.txt"
if grep -Eq 'manylinux_2_17_x86_64|manylinux2014_x86_64' "$work/audit.txt"; then
  ok "auditwheel: consistent with manylinux2014"
else
  bad "auditwheel does not report manylinux2014"
fi

step "the wheel carries the licences, the stubs and PEP 639 metadata"
if "$tools/python" - "$wheel" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
need = ["bgcopy/__init__.py", "bgcopy/_types.py", "bgcopy/_bgcopy.pyi", "bgcopy/py.typed"]
missing = [n for n in need if n not in names]
lic = [n for n in names if n.endswith(("LICENSE-MIT", "LICENSE-APACHE"))]
meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
text = z.read(meta).decode()
problems = missing + ([] if len(lic) == 2 else ["licence files: %s" % lic])
if "License-Expression: MIT OR Apache-2.0" not in text:
    problems.append("no License-Expression in METADATA")
if problems:
    print("\n".join(problems))
    sys.exit(1)
PY
then ok "wheel contents"; else bad "wheel contents"; fi

step "maturin sdist"
if (cd bindings-python && "$tools/maturin" sdist --out "$dist"); then
  sdist=$(ls "$dist"/bgcopy-*.tar.gz | head -1)
  tar -tzf "$sdist" >"$work/sdist.txt"
  if grep -q 'LICENSE-APACHE$' "$work/sdist.txt" && grep -q 'core/src/lib.rs$' "$work/sdist.txt"; then
    ok "sdist $(basename "$sdist") (licences and the core's sources inside)"
  else
    bad "the sdist lacks the licences or the core's sources"
  fi
else
  bad "maturin sdist"
fi

step "a fresh venv: pip install the wheel, smoke tests with no Rust on PATH"
python3 -m venv "$work/user"
user="$work/user/bin"
"$user/python" -m pip install -q "$wheel" "pytest==9.2.0"
# No cargo, rustc or maturin reachable: what a user of the wheel has.
plain_path="$user:/usr/bin:/bin"
if PATH="$plain_path" command -v cargo >/dev/null 2>&1; then
  bad "cargo is still on the smoke tests' PATH"
fi
if (cd "$here/tests" && env PATH="$plain_path" "$user/python" -m pytest -p no:cacheprovider -q \
  test_api.py -k "version or download or http_error or manager_basics"); then
  ok "smoke tests from the installed wheel"
else
  bad "smoke tests from the installed wheel"
fi

step "sizes"
du -b "$wheel" ${sdist:+"$sdist"} | awk '{ printf "%s: %d bytes (%.1f MiB)\n", $2, $1, $1 / 1048576 }'
finish
