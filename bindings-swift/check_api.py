#!/usr/bin/env python3
"""Check that the generated Kotlin and Swift sources declare every SPEC §1 method on the
right class, in camelCase (`get_error_context_description` -> `getErrorContextDescription`).

Usage: check_api.py KOTLIN_FILE SWIFT_FILE
Prints one line per language and exits 1 when something is missing.
"""
import re
import sys

METHODS = {
    "CopyManager": "open create_job get_job enum_jobs close",
    "CopyJob": (
        "add_file add_file_set enum_files suspend resume cancel complete get_id get_type "
        "get_state get_progress get_times get_error get_display_name set_display_name "
        "get_description set_description get_priority set_priority get_notify_flags "
        "set_notify_flags get_notify_interface set_notify_interface get_no_progress_timeout "
        "set_no_progress_timeout get_minimum_retry_delay set_minimum_retry_delay "
        "get_error_count wait"
    ),
    "CopyFile": "get_remote_name get_local_name get_progress",
    "CopyError": (
        "get_error get_file get_error_description get_error_context_description get_protocol"
    ),
}
CALLBACK = "job_transferred job_error job_modification file_transferred"


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)


def segment(text, start, next_start):
    """The text from the declaration `start` up to the next `next_start` (or the end)."""
    i = text.find(start)
    if i < 0:
        return ""
    j = text.find(next_start, i + len(start))
    return text[i:] if j < 0 else text[i:j]


def check(lang, text, keyword, head, nxt):
    missing = []
    total = 0
    for obj, names in list(METHODS.items()) + [("CopyCallback", CALLBACK)]:
        seg = segment(text, head(obj), nxt)
        found = set(re.findall(keyword + r"\s+`?([A-Za-z_][A-Za-z0-9_]*)`?\s*\(", seg))
        for m in names.split():
            total += 1
            if camel(m) not in found:
                missing.append(f"{obj}.{camel(m)}")
    status = "ok" if not missing else "MISSING " + " ".join(missing)
    print(f"{lang}: {total - len(missing)}/{total} SPEC methods declared: {status}")
    return not missing


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    kotlin = open(sys.argv[1], encoding="utf-8").read()
    swift = open(sys.argv[2], encoding="utf-8").read()
    # Kotlin: `public interface CopyJobInterface {` then `open class CopyJob` (with the
    # companion object holding `open`); the callback is `public interface CopyCallback {`.
    ok = check(
        "kotlin",
        kotlin,
        r"\bfun",
        lambda o: f"public interface {o} {{" if o == "CopyCallback" else f"public interface {o}Interface",
        "public interface ",
    )
    # Swift: `public protocol CopyJobProtocol` then `open class CopyJob` (with
    # `public static func open`); the callback is `public protocol CopyCallback`.
    ok &= check(
        "swift",
        swift,
        r"\bfunc",
        lambda o: f"public protocol {o}:" if o == "CopyCallback" else f"public protocol {o}Protocol",
        "public protocol ",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
