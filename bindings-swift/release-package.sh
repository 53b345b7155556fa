#!/usr/bin/env bash
# Point the root Package.swift at a published XCFramework: the binary target BgCopyFFI
# becomes `.binaryTarget(name:url:checksum:)` with the zip's URL and its SHA-256 (what
# `swift package compute-checksum` prints), so that SwiftPM users get the library by
# the repository's git URL alone.
#
#   bindings-swift/release-package.sh --zip BgCopyFFI.xcframework.zip --url URL [--out FILE]
#
# Release steps (on a Mac with Xcode; bindings-swift/README.md):
#   1. bindings-swift/build-xcframework.sh
#   2. (cd bindings-swift/swift && ditto -c -k --keepParent BgCopyFFI.xcframework BgCopyFFI.xcframework.zip)
#   3. upload the zip where it stays (the release's assets), e.g.
#      https://HOST/OWNER/bgcopy/releases/download/v0.1.0/BgCopyFFI.xcframework.zip
#   4. bindings-swift/release-package.sh --zip bindings-swift/swift/BgCopyFFI.xcframework.zip --url THAT-URL
#   5. commit Package.swift, tag vX.Y.Z, push the tag.
# --out writes elsewhere instead of the root Package.swift (the tests use it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
zip=
url=
out="$root/Package.swift"
while [ $# -gt 0 ]; do
  case "$1" in
    --zip) zip=$2; shift 2 ;;
    --url) url=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "release-package.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$zip" ] && [ -f "$zip" ] || { echo "release-package.sh: --zip FILE is required" >&2; exit 2; }
case "$url" in
  https://*.zip) ;;
  *) echo "release-package.sh: --url must be an https URL of the .zip" >&2; exit 2 ;;
esac
sum=$(sha256sum "$zip" | cut -d' ' -f1)
src="$root/Package.swift"
grep -q 'bgcopy-binary-target' "$src" || { echo "release-package.sh: no marker in $src" >&2; exit 1; }
tmp=$(mktemp)
awk -v url="$url" -v sum="$sum" '
  /bgcopy-binary-target/ { print; getline; sub(/\.binaryTarget\(.*\)/, ".binaryTarget(name: \"BgCopyFFI\", url: \"" url "\", checksum: \"" sum "\")"); print; next }
  { print }
' "$src" >"$tmp"
mv "$tmp" "$out"
echo "$out: BgCopyFFI = $url (sha256 $sum)"
