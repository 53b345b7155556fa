#!/usr/bin/env bash
# Install the C library of bgcopy into a prefix, the usual Unix way:
#
#   ffi-c/install.sh [--prefix DIR] [--libdir DIR] [--destdir DIR] [--debug] [--no-build] [--no-strip]
#
#   PREFIX/include/bgcopy.h
#   LIBDIR/libbgcopy.so.X.Y.Z  (SONAME libbgcopy.so.X), libbgcopy.so.X -> it, libbgcopy.so -> .so.X
#   LIBDIR/libbgcopy.a
#   LIBDIR/pkgconfig/bgcopy.pc
#   PREFIX/share/licenses/bgcopy/LICENSE-MIT, LICENSE-APACHE
#
# Defaults: --prefix /usr/local, --libdir PREFIX/lib. --destdir stages the files under
# DIR (for packagers) while bgcopy.pc still names PREFIX. The library is built with
# `cargo build --release -p bgcopy-ffi` first (--debug: the debug profile; --no-build:
# use what target/ holds). A release build is installed stripped (the shared library of
# its symbols, the archive of its debug information; the workspace's release profile
# keeps line tables): --no-strip keeps them. Then:
#
#   cc app.c $(pkg-config --cflags --libs bgcopy)
#
# (with PKG_CONFIG_PATH=LIBDIR/pkgconfig when LIBDIR is not one pkg-config searches).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

prefix=/usr/local
libdir=
destdir=
profile=release
build=1
strip=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --libdir) libdir=$2; shift 2 ;;
    --libdir=*) libdir=${1#*=}; shift ;;
    --destdir) destdir=$2; shift 2 ;;
    --destdir=*) destdir=${1#*=}; shift ;;
    --debug) profile=debug; shift ;;
    --no-build) build=0; shift ;;
    --no-strip) strip=0; shift ;;
    -h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 2 ;; esac
libdir=${libdir:-$prefix/lib}
case "$libdir" in /*) ;; *) echo "install.sh: --libdir must be absolute" >&2; exit 2 ;; esac

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -1)
major=${version%%.*}
target=${CARGO_TARGET_DIR:-$root/target}
built=$target/$profile

if [ "$build" -eq 1 ]; then
  if [ "$profile" = release ]; then
    (cd "$root" && cargo build --release -p bgcopy-ffi)
  else
    (cd "$root" && cargo build -p bgcopy-ffi)
  fi
fi
for f in libbgcopy.so libbgcopy.a; do
  [ -f "$built/$f" ] || { echo "install.sh: $built/$f is missing (build first)" >&2; exit 1; }
done

inc=$destdir$prefix/include
lib=$destdir$libdir
lic=$destdir$prefix/share/licenses/bgcopy
install -d "$inc" "$lib/pkgconfig" "$lic"
install -m 0644 "$root/include/bgcopy.h" "$inc/bgcopy.h"
install -m 0755 "$built/libbgcopy.so" "$lib/libbgcopy.so.$version"
ln -sfn "libbgcopy.so.$version" "$lib/libbgcopy.so.$major"
ln -sfn "libbgcopy.so.$major" "$lib/libbgcopy.so"
install -m 0644 "$built/libbgcopy.a" "$lib/libbgcopy.a"
install -m 0644 "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$lic/"
if [ "$profile" = release ] && [ "$strip" -eq 1 ] && command -v strip >/dev/null 2>&1; then
  strip --strip-unneeded "$lib/libbgcopy.so.$version"
  strip --strip-debug "$lib/libbgcopy.a"
fi
sed -e "s|@prefix@|$prefix|" \
  -e "s|@libdir@|$libdir|" \
  -e "s|@includedir@|$prefix/include|" \
  -e "s|@licensedir@|$prefix/share/licenses/bgcopy|" \
  -e "s|@version@|$version|" \
  "$root/ffi-c/bgcopy.pc.in" >"$lib/pkgconfig/bgcopy.pc"
chmod 0644 "$lib/pkgconfig/bgcopy.pc"
echo "installed bgcopy $version ($profile) into ${destdir}$prefix (libdir $libdir)"
