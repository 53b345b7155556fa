#!/usr/bin/env bash
# Generate the Kotlin and Swift sources of bgcopy from the UniFFI library (library mode,
# names in uniffi.toml) with the in-repo uniffi-bindgen (pinned to the crate's UniFFI).
#
#   bindings-swift/generate.sh [OUT_DIR]      (default: bindings-swift itself)
#
# Writes, under OUT_DIR:
#   kotlin/src/main/kotlin/io/github/bgcopy/bgcopy.kt      the Kotlin package `io.github.bgcopy` (JVM + Android)
#   swift/Sources/BgCopy/BgCopy.swift            the Swift module `BgCopy`
#   swift/Sources/BgCopyFFI/BgCopyFFI.h          the C header the Swift module calls
#   swift/Sources/BgCopyFFI/module.modulemap     its module map (+ `link "bgcopy_uniffi"`)
# The results are committed; bindings-swift/test.sh regenerates them into a temporary
# directory and fails when they differ (run this script and commit to fix).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$here}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$root"

target_dir="${CARGO_TARGET_DIR:-$root/target}"
cargo build --quiet -p bgcopy-uniffi
cargo build --quiet -p bgcopy-uniffi-bindgen
case "$(uname -s)" in
  Darwin) lib="$target_dir/debug/libbgcopy_uniffi.dylib" ;;
  *) lib="$target_dir/debug/libbgcopy_uniffi.so" ;;
esac
bindgen="$target_dir/debug/uniffi-bindgen"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$bindgen" generate --no-format --metadata-no-deps --language kotlin --out-dir "$tmp/kotlin" "$lib"
"$bindgen" generate --no-format --metadata-no-deps --language swift --out-dir "$tmp/swift" "$lib"

# UniFFI's Kotlin template builds an error case's `message` from its fields
# ("code=2149580802, symbol=HTTP_404, detail=…"); every other language shows the core's
# text ("HTTP_404 (0x80190194): Not Found"), which the exported Display gives Kotlin as
# toString(). One getter per case is replaced by it, and the count is checked so that a
# UniFFI upgrade that changes the template fails here instead of going unnoticed.
kt="$tmp/kotlin/io/github/bgcopy/bgcopy.kt"
sed -E -i 's/^( *get\(\) = )"code=\$\{ `code` \}, symbol=\$\{ `symbol` \}, detail=\$\{ `detail` \}(, status=\$\{ `status` \})?"$/\1toString()/' "$kt"
cases=$(grep -c '^ *get() = toString()$' "$kt" || true)
if [ "$cases" != 10 ]; then
  echo "generate.sh: expected 10 BgCopyException message getters to rewrite, found $cases" >&2
  exit 1
fi

put() { mkdir -p "$(dirname "$2")" && cp "$1" "$2" && chmod 644 "$2"; }
put "$tmp/kotlin/io/github/bgcopy/bgcopy.kt" "$out/kotlin/src/main/kotlin/io/github/bgcopy/bgcopy.kt"
put "$tmp/swift/BgCopy.swift" "$out/swift/Sources/BgCopy/BgCopy.swift"
put "$tmp/swift/BgCopyFFI.h" "$out/swift/Sources/BgCopyFFI/BgCopyFFI.h"
# SwiftPM's system-library target (Linux, and macOS without the XCFramework) needs the
# map named module.modulemap and a link line; build-xcframework.sh drops the line again.
awk '{ print } /^[[:space:]]*export \*$/ { print "    link \"bgcopy_uniffi\"" }' \
  "$tmp/swift/BgCopyFFI.modulemap" > "$tmp/module.modulemap"
grep -q 'link "bgcopy_uniffi"' "$tmp/module.modulemap"
put "$tmp/module.modulemap" "$out/swift/Sources/BgCopyFFI/module.modulemap"
echo "generated the Kotlin and Swift sources under $out"
