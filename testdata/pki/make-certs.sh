#!/usr/bin/env bash
# Makes the test PKI with strongSwan's `pki` tool (Debian package strongswan-pki), one set per key
# kind: RSA 3072, ECDSA P-256, ECDSA P-384, ECDSA P-521, Ed25519. Run it from anywhere; it rewrites
# testdata/pki/<kind>/ (or the directory given as $1) and the unit tests read what it wrote.
# KINDS="ecdsa-p521 ..." rewrites only those kinds.
#
# Per kind:
#   root-ca         self-signed CA                       C=CH, O=ipsec-rs test, CN=<Kind> Root CA
#   intermediate-ca CA issued by root-ca (pathlen 0)     ... CN=<Kind> Intermediate CA
#   hq              end entity issued by intermediate-ca ... CN=hq.example.net
#                   SANs: hq.example.net, hq@example.net, 192.0.2.1, 2001:db8::1
#   branch          end entity issued by root-ca         ... CN=branch.example.net
#                   SANs: branch.example.net, branch@example.net, 192.0.2.2; EKU serverAuth
#   expired         like branch, valid only in 2020
#   rogue-ca        another self-signed CA with the same DN as root-ca but its own key
#   wrong-ca        "branch" issued by rogue-ca (a certificate from the wrong CA)
#   mismatch        issued by root-ca for other.example.net (its IDs match no configured peer)
#   ocsp-signer     issued by root-ca with extendedKeyUsage OCSPSigning only (not for IKE)
#   *.key           the end entities' private keys, mode 0600 (RSA: PKCS#1, ECDSA: SEC1, Ed25519: PKCS#8, as
#                   `pki --gen` writes them)
#
# Validity is fixed (not "now + N days") so the committed files do not drift: CAs 2024-2054,
# end entities 2024-2044, expired 2020-01-01 to 2021-01-01. Tests pass a time inside those.
# Keys and signatures are random, so every run gives new files; commit them together.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"

if ! command -v pki >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "make-certs.sh: installing strongswan-pki" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y strongswan-pki >/dev/null ||
      { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y strongswan-pki >/dev/null; }
  else
    echo "make-certs.sh: needs strongSwan's pki (apt-get install strongswan-pki, as root)" >&2
    exit 1
  fi
fi

# pki reports plugins it cannot load on stderr; keep only real failures.
run() { "$@" 2> >(grep -v "failed to load" >&2); }

DATE='%Y-%m-%d %H:%M:%S'
CA_FROM='2024-01-01 00:00:00' CA_TO='2054-01-01 00:00:00'
EE_FROM='2024-01-01 00:00:00' EE_TO='2044-01-01 00:00:00'
OLD_FROM='2020-01-01 00:00:00' OLD_TO='2021-01-01 00:00:00'
O='C=CH, O=ipsec-rs test'

make_kind() {
  local kind="$1" title="$2"; shift 2
  local gen=("$@") dir="$out/$kind"
  rm -rf "$dir"
  mkdir -p "$dir"
  umask 077
  for k in root-ca intermediate-ca rogue-ca hq branch expired wrong-ca mismatch ocsp-signer; do
    run pki --gen "${gen[@]}" --outform pem >"$dir/$k.key"
  done
  umask 022
  local dates=(--dateform "$DATE")
  issue() { # issue NAME ISSUER FROM TO ARGS...
    local name="$1" issuer="$2" from="$3" to="$4"; shift 4
    run pki --pub --in "$dir/$name.key" |
      run pki --issue --cacert "$dir/$issuer.crt" --cakey "$dir/$issuer.key" \
        "${dates[@]}" --not-before "$from" --not-after "$to" "$@" --outform pem >"$dir/$name.crt"
  }
  for ca in root-ca rogue-ca; do
    run pki --self --ca --in "$dir/$ca.key" --dn "$O, CN=$title Root CA" \
      "${dates[@]}" --not-before "$CA_FROM" --not-after "$CA_TO" --outform pem >"$dir/$ca.crt"
  done
  issue intermediate-ca root-ca "$CA_FROM" "$CA_TO" --ca --pathlen 0 \
    --dn "$O, CN=$title Intermediate CA"
  issue hq intermediate-ca "$EE_FROM" "$EE_TO" --dn "$O, CN=hq.example.net" \
    --san hq.example.net --san hq@example.net --san 192.0.2.1 --san 2001:db8::1
  issue branch root-ca "$EE_FROM" "$EE_TO" --dn "$O, CN=branch.example.net" \
    --san branch.example.net --san branch@example.net --san 192.0.2.2 --flag serverAuth
  issue expired root-ca "$OLD_FROM" "$OLD_TO" --dn "$O, CN=branch.example.net" \
    --san branch.example.net --san branch@example.net --san 192.0.2.2
  issue wrong-ca rogue-ca "$EE_FROM" "$EE_TO" --dn "$O, CN=branch.example.net" \
    --san branch.example.net --san branch@example.net --san 192.0.2.2
  issue mismatch root-ca "$EE_FROM" "$EE_TO" --dn "$O, CN=other.example.net" \
    --san other.example.net --san other@example.net --san 192.0.2.99
  issue ocsp-signer root-ca "$EE_FROM" "$EE_TO" --dn "$O, CN=ocsp.example.net" \
    --san ocsp.example.net --flag ocspSigning
  # Only the end entities' keys stay: CA keys are needed to issue, not to verify.
  rm -f "$dir/root-ca.key" "$dir/intermediate-ca.key" "$dir/rogue-ca.key" "$dir/ocsp-signer.key"
  chmod 600 "$dir"/*.key
  chmod 644 "$dir"/*.crt
}

kinds="${KINDS:-rsa ecdsa-p256 ecdsa-p384 ecdsa-p521 ed25519}"
for kind in $kinds; do
  case "$kind" in
    rsa) make_kind rsa "RSA" --type rsa --size 3072 ;;
    ecdsa-p256) make_kind ecdsa-p256 "ECDSA P-256" --type ecdsa --size 256 ;;
    ecdsa-p384) make_kind ecdsa-p384 "ECDSA P-384" --type ecdsa --size 384 ;;
    ecdsa-p521) make_kind ecdsa-p521 "ECDSA P-521" --type ecdsa --size 521 ;;
    ed25519) make_kind ed25519 "Ed25519" --type ed25519 ;;
    *) echo "make-certs.sh: unknown kind $kind" >&2; exit 1 ;;
  esac
  echo "make-certs.sh: wrote $out/$kind" >&2
done
