#!/usr/bin/env python3
"""What the repository ships stands on its own and agrees with itself:

1. No file refers to a path outside the repository (``../shared``) or to the input
   contract's section marks ("SPEC" followed by a section sign): a user has only this
   repository, whose contract is docs/spec.md.
2. One version everywhere: the workspace's ``Cargo.toml``, ``bindings-node/package.json``,
   its lock file and the per-platform packages (``bindings-node/npm/*``), the C header's ``BGCOPY_VERSION_*`` macros, and a section of
   CHANGELOG.md.
3. The licence texts exist, every manifest declares ``MIT OR Apache-2.0``, and the
   copies inside the package folders equal the root's (``cargo xtask codegen licenses``).

Standard library only; exits 1 with one line per problem.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", "target", "node_modules", "__pycache__", ".venv", "venv", "build", "dist",
             ".gradle", ".pytest_cache", ".mypy_cache"}
# Generated or scratch folders under a path (relative to the root).
SKIP_PATHS = {"bench/work"}
FORBIDDEN = ["../shared", "SPEC \u00a7"]
LICENSE = "MIT OR Apache-2.0"
LICENSE_FILES = ["LICENSE-MIT", "LICENSE-APACHE"]
LICENSE_COPIES = ["bindings-python", "bindings-node"]


def files() -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel = Path(dirpath).relative_to(ROOT)
        dirnames[:] = [d for d in dirnames
                       if d not in SKIP_DIRS and (rel / d).as_posix() not in SKIP_PATHS]
        out.extend(Path(dirpath) / f for f in filenames)
    return sorted(out)


def outside_references(problems: list[str]) -> int:
    me = Path(__file__).resolve()
    checked = 0
    for path in files():
        if path.resolve() == me:
            continue
        try:
            text = path.read_bytes()
        except OSError:
            continue
        if b"\0" in text[:4096]:
            continue  # binary
        checked += 1
        s = text.decode("utf-8", errors="replace")
        for word in FORBIDDEN:
            at = s.find(word)
            if at >= 0:
                line = s.count("\n", 0, at) + 1
                problems.append(f"{path.relative_to(ROOT)}:{line}: refers to {word!r} "
                                "(outside the repository; the contract is docs/spec.md)")
    return checked


def versions(problems: list[str]) -> str:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    version = cargo["workspace"]["package"]["version"]
    if cargo["workspace"]["package"].get("license") != LICENSE:
        problems.append(f"Cargo.toml: the workspace licence is not {LICENSE!r}")
    if "repository" in cargo["workspace"]["package"]:
        problems.append("Cargo.toml: a repository URL is declared; leave it out until there is a real one")
    pkg = json.loads((ROOT / "bindings-node/package.json").read_text())
    lock = json.loads((ROOT / "bindings-node/package-lock.json").read_text())
    found = {
        "bindings-node/package.json": pkg.get("version"),
        "bindings-node/package-lock.json": lock.get("version"),
        "bindings-node/package-lock.json (packages[''])": lock.get("packages", {}).get("", {}).get("version"),
    }
    if pkg.get("license") != LICENSE:
        problems.append(f"bindings-node/package.json: licence is not {LICENSE!r}")
    for plat in sorted((ROOT / "bindings-node/npm").glob("*/package.json")):
        p = json.loads(plat.read_text())
        found[str(plat.relative_to(ROOT))] = p.get("version")
        if p.get("license") != LICENSE:
            problems.append(f"{plat.relative_to(ROOT)}: licence is not {LICENSE!r}")
    header = (ROOT / "include/bgcopy.h").read_text()
    macros = {m: re.search(rf"#define BGCOPY_VERSION_{m} (\d+)", header) for m in ("MAJOR", "MINOR", "PATCH")}
    if all(macros.values()):
        found["include/bgcopy.h (BGCOPY_VERSION_*)"] = ".".join(macros[m].group(1) for m in ("MAJOR", "MINOR", "PATCH"))
    else:
        problems.append("include/bgcopy.h: BGCOPY_VERSION_MAJOR/MINOR/PATCH missing (cargo xtask codegen header)")
    s = re.search(r'#define BGCOPY_VERSION_STRING "([^"]+)"', header)
    found["include/bgcopy.h (BGCOPY_VERSION_STRING)"] = s.group(1) if s else None
    py = tomllib.loads((ROOT / "bindings-python/pyproject.toml").read_text())["project"]
    if "version" not in py.get("dynamic", []):
        problems.append("bindings-python/pyproject.toml: the version must come from Cargo.toml (dynamic)")
    if py.get("license") != LICENSE:
        problems.append(f"bindings-python/pyproject.toml: licence is not the SPDX expression {LICENSE!r}")
    if sorted(py.get("license-files", [])) != sorted(LICENSE_FILES):
        problems.append(f"bindings-python/pyproject.toml: license-files must be {LICENSE_FILES}")
    for where, v in found.items():
        if v != version:
            problems.append(f"{where}: version {v!r}, the workspace's is {version!r}")
    changelog = (ROOT / "CHANGELOG.md").read_text()
    if f"## [{version}]" not in changelog:
        problems.append(f"CHANGELOG.md: no section for {version}")
    return version


def licences(problems: list[str]) -> None:
    for name in LICENSE_FILES:
        root = ROOT / name
        if not root.is_file() or root.stat().st_size < 500:
            problems.append(f"{name}: missing or not a licence text")
            continue
        for d in LICENSE_COPIES:
            copy = ROOT / d / name
            if not copy.is_file() or copy.read_bytes() != root.read_bytes():
                problems.append(f"{d}/{name}: missing or differs from the root's (cargo xtask codegen licenses)")


def main() -> int:
    problems: list[str] = []
    checked = outside_references(problems)
    version = versions(problems)
    licences(problems)
    for p in problems:
        print(p)
    if problems:
        print(f"check_repo: {len(problems)} problem(s)")
        return 1
    print(f"check_repo: {checked} files refer to nothing outside the repository; version {version} "
          "everywhere; licences present and copied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
