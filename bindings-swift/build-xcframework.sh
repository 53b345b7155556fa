#!/usr/bin/env bash
# macOS with Xcode only: build swift/BgCopyFFI.xcframework, the binary target of the
# Swift package on Apple platforms: static libraries of bgcopy-uniffi for macOS
# (arm64 + x86_64), iOS devices (arm64) and the iOS simulator (arm64 + x86_64), each
# with the generated header and module map.
#
#   bindings-swift/build-xcframework.sh [--debug]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

profile=release
flag=--release
if [ "${1:-}" = "--debug" ]; then profile=debug; flag=; fi
target_dir="${CARGO_TARGET_DIR:-$root/target}"

targets=(aarch64-apple-darwin x86_64-apple-darwin aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
rustup target add "${targets[@]}"
for t in "${targets[@]}"; do
  cargo build $flag -p bgcopy-uniffi --target "$t"
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
lib() { echo "$target_dir/$1/$profile/libbgcopy_uniffi.a"; }
mkdir -p "$work/macos" "$work/ios-sim" "$work/headers"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$work/macos/libbgcopy_uniffi.a"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$work/ios-sim/libbgcopy_uniffi.a"

# The committed header and module map; the static library is linked by the binary
# target itself, so the map's `link` line (for the shared-library setup) goes.
cp "$here/swift/Sources/BgCopyFFI/BgCopyFFI.h" "$work/headers/"
grep -v '^[[:space:]]*link "bgcopy_uniffi"' "$here/swift/Sources/BgCopyFFI/module.modulemap" > "$work/headers/module.modulemap"

out="$here/swift/BgCopyFFI.xcframework"
rm -rf "$out"
xcodebuild -create-xcframework \
  -library "$work/macos/libbgcopy_uniffi.a" -headers "$work/headers" \
  -library "$(lib aarch64-apple-ios)" -headers "$work/headers" \
  -library "$work/ios-sim/libbgcopy_uniffi.a" -headers "$work/headers" \
  -output "$out"
echo "built $out"
