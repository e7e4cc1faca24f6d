#!/usr/bin/env bash
# Builds and installs the C library: libipsec.so (SONAME libipsec.so.MAJOR), libipsec.a,
# include/ipsec.h and a pkg-config file, so that C programs build with
#   cc $(pkg-config --cflags ipsec) prog.c $(pkg-config --libs ipsec)
#
# Usage: ffi/install.sh [--prefix DIR] [--destdir DIR] [--from DIR]
#   --prefix   installation prefix (default /usr/local); the .pc file points there
#   --destdir  staging root prepended to every path written (packaging), as make's DESTDIR
#   --from     take libipsec.so and libipsec.a from DIR instead of building them with
#              `cargo build --release -p ipsec-ffi` (the tests use their own build)
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local destdir="" from=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --destdir) destdir="$2"; shift 2 ;;
    --from) from="$2"; shift 2 ;;
    *) echo "usage: $0 [--prefix DIR] [--destdir DIR] [--from DIR]" >&2; exit 2 ;;
  esac
done

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
major="${version%%.*}"
if [ -z "$from" ]; then
  cargo build --release -p ipsec-ffi
  from="$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release"
fi
for f in libipsec.so libipsec.a; do
  [ -f "$from/$f" ] || { echo "$0: $from/$f missing" >&2; exit 1; }
done

libdir="$prefix/lib" includedir="$prefix/include"
install -d "$destdir$libdir/pkgconfig" "$destdir$includedir"
install -m 644 include/ipsec.h "$destdir$includedir/ipsec.h"
install -m 644 "$from/libipsec.a" "$destdir$libdir/libipsec.a"
install -m 755 "$from/libipsec.so" "$destdir$libdir/libipsec.so.$version"
ln -sf "libipsec.so.$version" "$destdir$libdir/libipsec.so.$major"
ln -sf "libipsec.so.$major" "$destdir$libdir/libipsec.so"
cat >"$destdir$libdir/pkgconfig/ipsec.pc" <<PC
prefix=$prefix
libdir=$libdir
includedir=$includedir

Name: ipsec
Description: Sans-IO IPsec (IKEv2 and ESP) with a PAN-OS-shaped gateway, C API
Version: $version
Libs: -L\${libdir} -lipsec
Libs.private: -lpthread -ldl -lm
Cflags: -I\${includedir}
PC
echo "installed libipsec $version under $destdir$prefix"
