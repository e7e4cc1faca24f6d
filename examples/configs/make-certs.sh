#!/usr/bin/env bash
# Makes the certificates of the certificate-authenticated samples (hq-cert.toml, branch-cert.toml)
# with strongSwan's `pki` tool (Debian package strongswan-pki): a root CA and one end entity per
# firewall, ECDSA P-256, valid from now for DAYS days (default 365). Writes certs/ next to this
# script (or the directory given as $1):
#
#   root-ca.crt   C=US, O=Example Corp, CN=Example Corp VPN Root CA   (its key is not kept)
#   hq.crt        C=US, O=Example Corp, CN=hq.example.net      SANs hq.example.net, 192.0.2.1
#   branch.crt    C=US, O=Example Corp, CN=branch.example.net  SANs branch.example.net, 192.0.2.2
#   hq.key, branch.key   the firewalls' private keys, mode 0600 (the configuration refuses keys
#                        that group or others may read)
#
# These are demonstration keys: make your own PKI (or use your enterprise CA) for real tunnels.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/certs}"
days="${DAYS:-365}"
command -v pki >/dev/null 2>&1 ||
  { echo "make-certs.sh: needs strongSwan's pki (apt-get install strongswan-pki)" >&2; exit 1; }

# pki reports plugins it cannot load on stderr; keep only real failures.
run() { "$@" 2> >(grep -v "failed to load" >&2); }

mkdir -p "$out"
umask 077
O='C=US, O=Example Corp'
ca_key="$(mktemp)"
trap 'rm -f "$ca_key"' EXIT
run pki --gen --type ecdsa --size 256 --outform pem >"$ca_key"
for fw in hq branch; do
  run pki --gen --type ecdsa --size 256 --outform pem >"$out/$fw.key"
done
umask 022
run pki --self --ca --in "$ca_key" --dn "$O, CN=Example Corp VPN Root CA" --lifetime "$days" \
  --outform pem >"$out/root-ca.crt"
issue() { # issue FIREWALL IP
  run pki --pub --in "$out/$1.key" |
    run pki --issue --cacert "$out/root-ca.crt" --cakey "$ca_key" --lifetime "$days" \
      --dn "$O, CN=$1.example.net" --san "$1.example.net" --san "$2" --outform pem >"$out/$1.crt"
}
issue hq 192.0.2.1
issue branch 192.0.2.2
echo "make-certs.sh: wrote $out (root-ca.crt, hq.crt, hq.key, branch.crt, branch.key)" >&2
