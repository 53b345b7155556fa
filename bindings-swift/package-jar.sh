#!/usr/bin/env bash
# The standalone JVM jar of bgcopy: the generated Kotlin bindings, the callback adapter,
# the Kotlin runtime they need (kotlin-stdlib, kotlinx-coroutines-core) and the native
# library under JNA's resource path, so that
#
#   java -cp bgcopy.jar:jna.jar:your-classes YourMainKt
#
# runs with nothing else (JNA finds linux-x86-64/libbgcopy_uniffi.so inside the jar).
#
#   bindings-swift/package-jar.sh --kotlin-home DIR [--out DIR] [--debug] [--no-build]
#
# --kotlin-home: a Kotlin compiler distribution (bin/kotlinc, lib/kotlin-stdlib.jar,
# lib/kotlinx-coroutines-core-jvm.jar; bindings-swift/test.sh fetches one from npm).
# The release library is built first (cargo build --release -p bgcopy-uniffi) and
# stripped; --debug takes the debug build, --no-build what target/ holds. Only this
# machine's platform is packed (linux-x86-64 here); more platforms are more folders in
# the jar (e.g. linux-aarch64/, darwin-aarch64/), named as JNA names them.
# Gradle and Android: bindings-swift/README.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
khome=
out="$root/target/jar"
profile=release
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --kotlin-home) khome=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --debug) profile=debug; shift ;;
    --no-build) build=0; shift ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package-jar.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$khome/bin/kotlinc" ] || { echo "package-jar.sh: --kotlin-home DIR with bin/kotlinc is required" >&2; exit 2; }
jna=/usr/share/java/jna.jar
[ -f "$jna" ] || { echo "package-jar.sh: $jna is missing (Debian: libjna-java)" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-$root/target}"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -1)

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) jna_dir=linux-x86-64 lib=libbgcopy_uniffi.so ;;
  Linux-aarch64) jna_dir=linux-aarch64 lib=libbgcopy_uniffi.so ;;
  Darwin-arm64) jna_dir=darwin-aarch64 lib=libbgcopy_uniffi.dylib ;;
  Darwin-x86_64) jna_dir=darwin-x86-64 lib=libbgcopy_uniffi.dylib ;;
  *) echo "package-jar.sh: no JNA folder known for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac

if [ "$build" -eq 1 ]; then
  if [ "$profile" = release ]; then
    (cd "$root" && cargo build --release -p bgcopy-uniffi)
  else
    (cd "$root" && cargo build -p bgcopy-uniffi)
  fi
fi
[ -f "$target/$profile/$lib" ] || { echo "package-jar.sh: $target/$profile/$lib is missing" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
classes="$work/classes"
mkdir -p "$classes/$jna_dir" "$classes/META-INF" "$out"
klib="$khome/lib"
"$khome/bin/kotlinc" -nowarn -jvm-target 17 \
  -cp "$jna:$klib/kotlinx-coroutines-core-jvm.jar" -d "$classes" \
  "$here/kotlin/src/main/kotlin/io/github/bgcopy/bgcopy.kt" "$here/kotlin/src/main/kotlin/io/github/bgcopy/CopyCallbackAdapter.kt" \
  "$here/kotlin/src/main/kotlin/io/github/bgcopy/Idioms.kt"
# The Kotlin runtime the bindings call (a standalone jar; a Gradle build gets these as
# dependencies instead).
(cd "$classes" && for j in "$klib/kotlin-stdlib.jar" "$klib/kotlinx-coroutines-core-jvm.jar"; do
  unzip -q -o "$j" -x 'META-INF/*.SF' 'META-INF/*.RSA' 'META-INF/*.DSA' 'META-INF/MANIFEST.MF' 'module-info.class' 'META-INF/versions/*'
done)
cp "$target/$profile/$lib" "$classes/$jna_dir/$lib"
if [ "$profile" = release ] && command -v strip >/dev/null 2>&1; then
  strip --strip-unneeded "$classes/$jna_dir/$lib"
fi
cp "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$classes/META-INF/"
cat >"$work/manifest.txt" <<MF
Implementation-Title: bgcopy
Implementation-Version: $version
Automatic-Module-Name: bgcopy
MF
jar --create --file "$out/bgcopy-$version.jar" --manifest "$work/manifest.txt" -C "$classes" .
echo "$out/bgcopy-$version.jar: $(stat -c %s "$out/bgcopy-$version.jar") bytes ($jna_dir/$lib inside)"
