#!/usr/bin/env python3
"""Check that every language exposes every canonical method of tests/spec_methods.json
on the right object, with its own casing, by reading the sources that ship (it builds
and runs nothing): the Rust core, include/bgcopy.h, the Python stub, the Node
index.d.ts, the generated Kotlin and Swift.

Usage: tests/check_api.py [--lang LANG[,LANG...]] [--kotlin FILE] [--swift FILE]
Prints "LANG: N/M methods" per language (and the extensions on a line of their own);
exits 1 when a core method is missing somewhere. --kotlin/--swift read other generated
files (the drift check of bindings-swift/test.sh uses freshly generated ones).
"""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = json.loads((ROOT / "tests" / "spec_methods.json").read_text())
C_OBJECT = {"CopyManager": "manager", "CopyJob": "job", "CopyFile": "file", "CopyError": "error"}


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)


def segment(text, start, stop_pattern):
    """The text from the first `start` up to the next match of `stop_pattern`."""
    i = text.find(start)
    if i < 0:
        return ""
    m = re.compile(stop_pattern).search(text, i + len(start))
    return text[i:m.start()] if m else text[i:]


def found_rust(obj):
    files = sorted((ROOT / "core" / "src").rglob("*.rs"))
    text = "\n".join(p.read_text() for p in files)
    return set(re.findall(r"\bpub fn\s+([a-z_][a-z0-9_]*)", text)), str


def found_c(obj):
    text = (ROOT / "include" / "bgcopy.h").read_text()
    prefix = f"bgcopy_{C_OBJECT[obj]}_"
    names = set(re.findall(r"\b" + prefix + r"([a-z_][a-z0-9_]*)\s*\(", text))
    return names, str


def found_python(obj):
    text = (ROOT / "bindings-python" / "python" / "bgcopy" / "_bgcopy.pyi").read_text()
    seg = segment(text, f"class {obj}", r"\nclass ")
    return set(re.findall(r"\bdef\s+([a-z_][a-z0-9_]*)\s*\(", seg)), str


def found_node(obj):
    text = (ROOT / "bindings-node" / "index.d.ts").read_text()
    seg = segment(text, f"export declare class {obj} ", r"\nexport ")
    return set(re.findall(r"^\s+(?:static\s+)?([a-z][A-Za-z0-9]*)\s*\(", seg, re.M)), camel


def found_kotlin(obj, path):
    text = pathlib.Path(path).read_text()
    seg = segment(text, f"public interface {obj}Interface", r"public interface ")
    if obj == "CopyManager":  # `open` lives in the companion object of the class
        seg += segment(text, "open class CopyManager", r"\npublic interface ")
    return set(re.findall(r"\bfun\s+`?([A-Za-z_][A-Za-z0-9_]*)`?\s*\(", seg)), camel


def found_swift(obj, path):
    text = pathlib.Path(path).read_text()
    seg = segment(text, f"public protocol {obj}Protocol", r"public protocol ")
    if obj == "CopyManager":
        seg += segment(text, "open class CopyManager", r"\npublic protocol ")
    return set(re.findall(r"\bfunc\s+`?([A-Za-z_][A-Za-z0-9_]*)`?\s*\(", seg)), camel


def report(lang, finder):
    ok = True
    for part in ("core", "extensions"):
        missing, total = [], 0
        for obj, names in SPEC[part].items():
            found, case = finder(obj)
            for m in names:
                total += 1
                if case(m) not in found:
                    missing.append(f"{obj}.{case(m)}")
        label = lang if part == "core" else f"{lang} (later BITS interfaces)"
        shown = " ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        status = "ok" if not missing else "missing " + shown
        print(f"{label}: {total - len(missing)}/{total} methods: {status}")
        if part == "core" and missing:
            ok = False
    return ok


def main(argv):
    langs = ["rust", "c", "python", "node", "kotlin", "swift"]
    kotlin = ROOT / "bindings-swift" / "kotlin" / "src" / "main" / "kotlin" / "io" / "github" / "bgcopy" / "bgcopy.kt"
    swift = ROOT / "bindings-swift" / "swift" / "Sources" / "BgCopy" / "BgCopy.swift"
    it = iter(argv)
    for a in it:
        if a == "--lang":
            langs = next(it).split(",")
        elif a == "--kotlin":
            kotlin = next(it)
        elif a == "--swift":
            swift = next(it)
        else:
            print(__doc__)
            return 2
    finders = {
        "rust": found_rust,
        "c": found_c,
        "python": found_python,
        "node": found_node,
        "kotlin": lambda o: found_kotlin(o, kotlin),
        "swift": lambda o: found_swift(o, swift),
    }
    ok = True
    for lang in langs:
        ok &= report(lang, finders[lang])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
