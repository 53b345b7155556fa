"""The committed stubs match the built module (mypy.stubtest), the quick start
type-checks under mypy --strict and runs, and api-parity counts every contract method."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from origin import ROOT, Origin

HERE = Path(__file__).resolve().parents[1]
EXAMPLE = HERE / "examples" / "quickstart.py"


def test_stubs_match_the_module(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "bgcopy"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_quickstart_type_checks(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(EXAMPLE)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_quickstart_runs(tmp_path: Path, origin: Origin) -> None:
    ok = subprocess.run([sys.executable, str(EXAMPLE), origin.url("qs-a", "size=300000"),
                         origin.url("qs-b", "size=1000"), str(tmp_path)],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "done:" in ok.stdout and "bytes" in ok.stdout
    assert (tmp_path / "a.iso").stat().st_size == 300000
    (tmp_path / "x").mkdir()
    bad = subprocess.run([sys.executable, str(EXAMPLE), origin.url("qs-c", "size=10"),
                          origin.url("qs-404", "status=404"), str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "HTTP_404" in bad.stderr, bad.stderr


def test_readme_quick_start_is_the_example() -> None:
    readme = (HERE / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme, re.S)
    assert block is not None
    assert block.group(1).strip() == EXAMPLE.read_text().strip()


def test_every_canonical_method_is_in_the_stub() -> None:
    """tests/spec_methods.json (the project's one method list) against the stub."""
    tool = ROOT / "tests" / "check_api.py"
    r = subprocess.run([sys.executable, str(tool), "--lang", "python"], capture_output=True,
                       text=True)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("python:")), "")
    m = re.match(r"python: (\d+)/(\d+) methods: ok", line)
    assert r.returncode == 0 and m and m.group(1) == m.group(2), r.stdout


def test_root_readme_python_quick_start_runs(tmp_path: Path, origin: Origin) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python quick start"):]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    code = (block.group(1)
            .replace("https://example.com/a.iso", origin.url("readme-a", "size=20000"))
            .replace("https://example.com/b.iso", origin.url("readme-b", "size=30000"))
            .replace("https://example.com/missing.iso", origin.url("readme-404", "status=404"))
            .replace('"/tmp/', f'"{tmp_path}/'))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "True INVALID_STATE" in r.stdout
    assert "404 HTTP_404 (0x80190194): " in r.stdout
    assert "STATE_CHANGED TRANSFERRED 2/2 files" in r.stdout, r.stdout
    assert (tmp_path / "downloads" / "readme-a").stat().st_size == 20000
    assert (tmp_path / "a.iso").stat().st_size == 20000
    assert (tmp_path / "b.iso").stat().st_size == 30000
