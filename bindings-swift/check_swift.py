#!/usr/bin/env python3
"""A source-level check of the hand-written Swift (there is no Swift compiler on the
machines that run the tests): every file parses (tree-sitter-swift), and every call of
a function or initializer that the package declares (the generated BgCopy.swift and the
hand-written files) passes arguments whose labels and count fit one of its
declarations, defaults and a trailing closure included.

    check_swift.py GENERATED.swift HANDWRITTEN.swift...

Exit status 1 with one line per problem. Calls of names the package does not declare
(Foundation, XCTest) are not checked; nor are types.
"""
import sys
from pathlib import Path

import tree_sitter_swift
from tree_sitter import Language, Parser

PARSER = Parser(Language(tree_sitter_swift.language()))


def text(src, n):
    return src[n.start_byte:n.end_byte].decode()


def walk(n):
    yield n
    for c in n.children:
        yield from walk(c)


def signature(src, decl):
    """[(label or None for `_`, has_default)] of a function or init declaration."""
    params = []
    kids = decl.children
    for i, c in enumerate(kids):
        if c.type != "parameter":
            continue
        ext = c.child_by_field_name("external_name")
        name = c.child_by_field_name("name")
        label = text(src, ext) if ext is not None else text(src, name)
        has_default = i + 1 < len(kids) and kids[i + 1].type == "="
        params.append((None if label == "_" else label, has_default))
    return params


def declarations(src, tree, out):
    for n in walk(tree.root_node):
        if n.type == "function_declaration":
            name = n.child_by_field_name("name")
            out.setdefault(text(src, name), []).append(signature(src, n))
        elif n.type == "init_declaration":
            owner = n.parent
            while owner is not None and owner.type != "class_declaration":
                owner = owner.parent
            kind = owner.child_by_field_name("declaration_kind") if owner is not None else None
            # Types the package declares; not initializers added to Foundation's.
            if owner is not None and kind is not None and text(src, kind) != "extension":
                tname = owner.child_by_field_name("name")
                out.setdefault(text(src, tname).strip(), []).append(signature(src, n))


def fits(params, labels, closure):
    """Whether call labels (None: unlabeled) fit params in order, defaults skippable;
    a trailing closure takes the last parameter left over, whatever its label (and
    must find one)."""
    if closure:
        # The closure is the last parameter; the labelled arguments fit the others.
        return bool(params) and fits(params[:-1], labels, False)
    i = 0
    for label, has_default in params:
        if i < len(labels) and labels[i] == label:
            i += 1
        elif has_default:
            continue
        else:
            return False
    return i == len(labels)


def calls(src, tree):
    for n in walk(tree.root_node):
        if n.type != "call_expression" or len(n.children) < 2:
            continue
        callee, suffix = n.children[0], n.children[1]
        if suffix.type != "call_suffix":
            continue
        if callee.type == "navigation_expression":
            name_node = callee.child_by_field_name("suffix")
            name_node = name_node.child_by_field_name("suffix") if name_node is not None else None
        elif callee.type in ("simple_identifier", "user_type", "type_identifier"):
            name_node = callee
        else:
            continue
        if name_node is None:
            continue
        labels, closure = [], False
        for c in suffix.children:
            if c.type == "value_arguments":
                for a in c.children:
                    if a.type == "value_argument":
                        lab = a.child_by_field_name("name")
                        labels.append(text(src, lab).rstrip(":").strip() if lab is not None else None)
            elif c.type in ("lambda_literal", "annotated_lambda"):
                closure = True
        yield n, text(src, name_node), labels, closure


# Fewer calls checked than this means the declarations were not found (the generated
# file no longer parses as expected): a failure, not a pass.
MIN_CHECKED = 100


def main(argv):
    generated, files = Path(argv[1]), [Path(a) for a in argv[2:]]
    decls = {}
    problems = []
    parsed = []
    for path in [generated, *files]:
        src = path.read_bytes()
        if path.name == "QuickStart.swift":
            # Top-level code: checked as the body of a function.
            head, _, body = src.partition(b"import Foundation\n")
            src = head + b"import Foundation\nfunc quickStart() async {\n" + body + b"\n}\n"
        tree = PARSER.parse(src)
        parsed.append((path, src, tree))
        declarations(src, tree, decls)
        if path is generated:
            continue  # UniFFI's own output: attributes the grammar does not know
        for n in walk(tree.root_node):
            if n.type == "ERROR" or n.is_missing:
                line = n.start_point[0] + 1
                problems.append(f"{path}:{line}: does not parse: {text(src, n)[:60]!r}")
                break
    checked = 0
    for path, src, tree in parsed[1:]:
        for node, name, labels, closure in calls(src, tree):
            sigs = decls.get(name)
            if not sigs:
                continue
            checked += 1
            if not any(fits(p, labels, closure) for p in sigs):
                shown = ", ".join(f"{l}:" if l else "_" for l in labels) + (" + closure" if closure else "")
                known = "; ".join("(" + ", ".join((l or "_") + (" = …" if d else "") for l, d in p) + ")" for p in sigs)
                problems.append(f"{path}:{node.start_point[0] + 1}: {name}({shown}) fits none of {known}")
    if checked < MIN_CHECKED and files:
        problems.append(f"only {checked} calls were checked (at least {MIN_CHECKED} expected): "
                        "the declarations were not read")
    for p in problems:
        print(p)
    print(f"check_swift: {len(files)} files, {checked} calls of the package's functions checked, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
