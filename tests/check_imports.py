#!/usr/bin/env python3
"""Check the core's module structure (core/src): no file imports the manager (it is
open/close orchestration at the top; only handles/mod.rs re-exports it, and its own
submodules, handles/manager/*.rs, add methods to it), and the files
import each other without a cycle. Reads `use crate::…`, `crate::…` paths and
`super::…` paths as text.

Usage: tests/check_imports.py [--graph]   (--graph prints every edge)
Prints the file count, the edge count and "ok", or the offending imports / the cycle;
exits 1 on a violation.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "core" / "src"


def module_of(path):
    """engine/file.rs -> ('engine', 'file'); engine/mod.rs -> ('engine',); lib.rs -> ()."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)


FILES = {module_of(p): p for p in ROOT.rglob("*.rs")}


def reexports(mod):
    """Items a mod.rs/lib.rs re-exports from its children: name -> child module."""
    out = {}
    text = FILES[mod].read_text()
    for m in re.finditer(r"pub(?:\(crate\))?\s+use\s+(\w+)::(\{[^}]*\}|\w+)", text):
        child, items = m.group(1), m.group(2).strip("{}")
        if mod + (child,) in FILES:
            for item in items.split(","):
                item = item.strip().split(" as ")[-1].strip()
                if item:
                    out[item] = mod + (child,)
    return out


EXPORTS = {mod: reexports(mod) for mod, p in FILES.items() if p.name in ("mod.rs", "lib.rs")}


def resolve(mod_path):
    """The file a module path lands in: the longest prefix that is a file, following
    a parent module's re-export of a child's item."""
    for n in range(len(mod_path), -1, -1):
        prefix = tuple(mod_path[:n])
        if prefix in FILES and (n > 0 or len(mod_path) > 0):
            rest = mod_path[n:]
            if rest and rest[0] in EXPORTS.get(prefix, {}):
                child = EXPORTS[prefix][rest[0]]
                return resolve(child + tuple(rest)) if child != prefix else child
            if n > 0:
                return prefix
    return None


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def test_code_start(text):
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+", text)
    return m.start() if m else len(text)


def edges_of(mod, text):
    text = strip_comments(text)
    text = text[: test_code_start(text)]
    out = set()
    # `use super::{a, b}` / `use crate::x::{...}` groups: take the first segment(s).
    for m in re.finditer(r"\b(crate|super)((?:::\w+)+)", text):
        head, rest = m.group(1), [s for s in m.group(2).split("::") if s]
        base = [] if head == "crate" else list(mod[:-1])
        target = resolve(tuple(base + rest))
        if target is not None:
            out.add(target)
    for m in re.finditer(r"\buse\s+(crate|super)::\{([^}]*)\}", text):
        head, items = m.group(1), m.group(2)
        base = [] if head == "crate" else list(mod[:-1])
        for item in items.split(","):
            seg = item.strip().split("::")[0].strip()
            if seg and seg not in ("self",):
                target = resolve(tuple(base + [seg]))
                if target is not None:
                    out.add(target)
    out.discard(mod)
    # A parent module declaring and re-exporting its children is not an import.
    if FILES[mod].name in ("mod.rs", "lib.rs"):
        out = {t for t in out if t[: len(mod)] != mod}
    return out


def main(argv):
    graph = {mod: edges_of(mod, p.read_text()) for mod, p in FILES.items()}
    name = lambda m: "::".join(m) or "lib"
    bad = []
    manager = ("handles", "manager")
    for mod, targets in graph.items():
        if manager in targets and mod != ("handles",) and mod[:2] != manager:
            bad.append(f"{name(mod)} imports the manager (handles::manager)")
    # Cycles: depth-first search with colours.
    colour, stack, cycle = {}, [], None

    def visit(m):
        nonlocal cycle
        colour[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if cycle:
                return
            if colour.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                return
            if t not in colour:
                visit(t)
        stack.pop()
        colour[m] = 2

    for m in sorted(graph):
        if m not in colour and not cycle:
            visit(m)
    if cycle:
        bad.append("import cycle: " + " -> ".join(name(m) for m in cycle))
    if "--graph" in argv:
        for m in sorted(graph):
            for t in sorted(graph[m]):
                print(f"{name(m)} -> {name(t)}")
    edges = sum(len(t) for t in graph.values())
    if bad:
        for b in bad:
            print(b)
        return 1
    print(f"core/src: {len(graph)} files, {edges} imports between them: no cycle, nothing imports the manager: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
