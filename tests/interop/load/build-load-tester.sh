#!/usr/bin/env bash
# build-load-tester.sh - build a private charon with the load-tester plugin.
#
# Debian does NOT ship libstrongswan-load-tester.so (it is disabled in the
# Debian packaging), so we build the same upstream release (strongswan_5.9.8
# orig tarball of the Debian source package, fetched with apt-get source through
# a PRIVATE apt configuration so /etc/apt is not touched) into a private prefix:
#     $LT_BUILD/lt-prefix/libexec/ipsec/charon   (+ plugins incl. load-tester)
# Nothing is installed outside $LT_BUILD (default /var/tmp/ipsec-rs-load-tester).
#
# Needs: build-essential, libgmp-dev, libssl-dev, pkg-config, bzip2
# (installed here if missing).  Takes ~3-6 min on 2 cores.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${LT_BUILD:-/var/tmp/ipsec-rs-load-tester}"
PREFIX="$BUILD/lt-prefix"
APTDIR="$BUILD/apt"
VER="$(dpkg-query -W -f='${Version}' libstrongswan 2>/dev/null || true)"
VER="${VER:-5.9.8-5+deb12u6}"

if [ -x "$PREFIX/libexec/ipsec/charon" ] && \
   [ -e "$PREFIX/lib/ipsec/plugins/libstrongswan-load-tester.so" ]; then
  echo "build-load-tester: already built in $PREFIX"; exit 0
fi

need=()
for p in build-essential libgmp-dev libssl-dev pkg-config bzip2 bc; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi

# --- private apt config with deb-src lines (does not modify /etc/apt) -------
mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/parts"
# deb-src entries derived from the machine's own Debian sources (no host is named here)
sed -e 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$APTDIR/parts/debian-src.sources"
: > "$APTDIR/sources.list"
APTOPTS=(-o "Dir::Etc::SourceList=$APTDIR/sources.list"
         -o "Dir::Etc::SourceParts=$APTDIR/parts"
         -o "Dir::State::Lists=$APTDIR/lists"
         -o "Dir::Cache=$APTDIR/cache"
         -o "APT::Sandbox::User=root")
mkdir -p "$BUILD/src"
cd "$BUILD/src"
# Only the upstream orig tarball is needed (it ships a generated ./configure).
# Note: through this machine's registry proxy the .dsc and .debian.tar.xz
# return 404, so "apt-get source" reports an error even though the orig
# tarball (+ .asc) was downloaded; we therefore ignore its exit status and
# check for the tarball instead.
if [ ! -f strongswan_5.9.8.orig.tar.bz2 ]; then
  apt-get "${APTOPTS[@]}" update
  apt-get "${APTOPTS[@]}" source --download-only "strongswan=$VER" || true
fi
[ -f strongswan_5.9.8.orig.tar.bz2 ] || { echo "no strongswan orig tarball" >&2; exit 1; }
SRC="$BUILD/src/strongswan-5.9.8"
[ -d "$SRC" ] || tar -xjf strongswan_5.9.8.orig.tar.bz2 -C "$BUILD/src"

# --- configure + build a lean charon with load-tester ---------------------------
cd "$SRC"
if [ ! -f Makefile ]; then
  ./configure --prefix="$PREFIX" --sysconfdir="$PREFIX/etc" \
    --with-piddir="$PREFIX/run" \
    --enable-load-tester --enable-openssl --enable-curve25519 \
    --disable-stroke --disable-scepclient --disable-pki --disable-swanctl \
    --disable-vici --disable-updown --disable-resolve --disable-ldap \
    --disable-ikev1 \
    >"$BUILD/configure.log" 2>&1 || { tail -30 "$BUILD/configure.log"; exit 1; }
fi
make -j"$(nproc)" >"$BUILD/make.log" 2>&1 || { tail -40 "$BUILD/make.log"; exit 1; }
make install >"$BUILD/install.log" 2>&1 || { tail -40 "$BUILD/install.log"; exit 1; }
ls -l "$PREFIX/libexec/ipsec/charon" "$PREFIX/lib/ipsec/plugins/libstrongswan-load-tester.so"
# Only the prefix (~14 MB) is needed at run time; drop the ~150 MB build tree
# and the private apt lists (keep the tarball).  KEEP_SRC=1 keeps them.
if [ "${KEEP_SRC:-0}" != 1 ]; then rm -rf "$SRC" "$APTDIR"; fi
echo "build-load-tester: OK"
