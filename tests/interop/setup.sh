#!/usr/bin/env bash
# Installs what the strongSwan interop scenarios need on Debian 12, as root. Safe to run again:
# nothing is installed when every package is already present.
#
# strongSwan runs with its userspace datapath (kernel-libipsec, a TUN device), because the test
# machines' kernels lack ESP xfrm; that datapath only speaks ESP-in-UDP, hence `encap = yes` in the
# generated swanctl.conf files.
#
# No service may start: strongswan-starter's postinst runs `invoke-rc.d ipsec start`. When no
# policy-rc.d exists, a temporary one answering 101 ("action forbidden") is put in place and
# removed afterwards.
set -euo pipefail

PKGS=(
  strongswan-charon              # /usr/lib/ipsec/charon, libcharon, socket-default, kernel-netlink
  strongswan-swanctl             # swanctl and the vici plugin
  libstrongswan-standard-plugins # openssl: AES-GCM, X25519, MODP, ECP
  libcharon-extra-plugins        # kernel-libipsec: userspace ESP through TUN
  strongswan-pki                 # pki: testdata/pki/make-certs.sh makes the test certificates
  iproute2                       # ip netns, veth
  nftables                       # the NAT of the *-nat scenarios, the held IKE messages of collide-*
  iputils-ping                   # reachability check of the veth pair
  util-linux                     # unshare, setsid
  procps                         # ps, for diagnostics
  iperf3                         # traffic through the daemon (daemon-iperf3, throughput.sh)
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: must run as root" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup.sh: apt-get not found (Debian 12 expected)" >&2
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup.sh: packages already installed"
else
  echo "setup.sh: installing ${missing[*]}"
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary, from tests/interop/setup.sh: no service starts\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >/dev/null
fi

for f in /usr/lib/ipsec/charon /usr/sbin/swanctl \
  /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so \
  /usr/lib/ipsec/plugins/libstrongswan-socket-default.so \
  /usr/lib/ipsec/plugins/libstrongswan-openssl.so \
  /usr/lib/ipsec/plugins/libstrongswan-vici.so; do
  [ -e "$f" ] || { echo "setup.sh: missing $f after install" >&2; exit 1; }
done
echo "setup.sh: OK ($(/usr/lib/ipsec/charon --version 2>/dev/null | head -1 || echo charon))"
