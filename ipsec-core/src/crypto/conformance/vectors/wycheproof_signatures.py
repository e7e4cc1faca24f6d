#!/usr/bin/env python3
"""Converts Project Wycheproof signature test files into the text format of the conformance vectors.

Usage: wycheproof_signatures.py WYCHEPROOF_CHECKOUT OUT_DIR

Reads testvectors_v1/*.json from a checkout of github.com/C2SP/wycheproof and writes one
wycheproof_sig_*.txt per file below, copying every test case (tcId, msg, sig, result, flags)
verbatim. A group record (no tcId) carries the group's public key as the verifier takes it:
the PKCS#1 RSAPublicKey for RSA, the uncompressed SEC1 point for ECDSA, the 32-octet key for
Ed25519; RSA signature-generation groups also carry the PKCS#8 private key.
"""
import json
import pathlib
import subprocess
import sys

FILES = {
    # verify: RSASSA-PKCS1-v1_5
    "rsa_signature_2048_sha256_test.json": "rsa_pkcs1_2048_sha256",
    "rsa_signature_2048_sha384_test.json": "rsa_pkcs1_2048_sha384",
    "rsa_signature_2048_sha512_test.json": "rsa_pkcs1_2048_sha512",
    "rsa_signature_3072_sha256_test.json": "rsa_pkcs1_3072_sha256",
    # sign (deterministic) and verify: RSASSA-PKCS1-v1_5 with private keys
    "rsa_pkcs1_2048_sig_gen_test.json": "rsa_pkcs1_2048_sig_gen",
    "rsa_pkcs1_3072_sig_gen_test.json": "rsa_pkcs1_3072_sig_gen",
    # verify: RSASSA-PSS, salt as long as the hash
    "rsa_pss_2048_sha256_mgf1_32_test.json": "rsa_pss_2048_sha256",
    "rsa_pss_2048_sha384_mgf1_48_test.json": "rsa_pss_2048_sha384",
    "rsa_pss_4096_sha512_mgf1_64_test.json": "rsa_pss_4096_sha512",
    # verify: ECDSA, DER and IEEE P1363
    "ecdsa_secp256r1_sha256_test.json": "ecdsa_p256_sha256_der",
    "ecdsa_secp256r1_sha256_p1363_test.json": "ecdsa_p256_sha256_p1363",
    "ecdsa_secp384r1_sha384_test.json": "ecdsa_p384_sha384_der",
    "ecdsa_secp384r1_sha384_p1363_test.json": "ecdsa_p384_sha384_p1363",
    "ecdsa_secp521r1_sha512_test.json": "ecdsa_p521_sha512_der",
    "ecdsa_secp521r1_sha512_p1363_test.json": "ecdsa_p521_sha512_p1363",
    # verify: Ed25519
    "ed25519_test.json": "ed25519",
}


def main():
    repo, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    commit = subprocess.check_output(["git", "-C", str(repo), "rev-parse", "HEAD"], text=True).strip()
    for name, stem in FILES.items():
        path = f"testvectors_v1/{name}"
        data = json.loads(subprocess.check_output(["git", "-C", str(repo), "show", f"HEAD:{path}"]))
        lines = [
            f"# {data['algorithm']}: {' '.join(data.get('header', []))}",
            f"# Source: Project Wycheproof (github.com/C2SP/wycheproof), {path},",
            f"# commit {commit}. Every test case copied verbatim (tcId kept); converted by",
            "# wycheproof_signatures.py (beside this file). A record without tcId starts a group and",
            "# carries its public key (and, for signature generation, the PKCS#8 private key).",
            "",
        ]
        for group in data["testGroups"]:
            pk = group["publicKey"] if "publicKey" in group else None
            if group["type"].startswith("Rsassa"):
                key = group.get("publicKeyAsn") or group.get("keyAsn")
            elif group["type"].startswith("Ecdsa"):
                key = pk["uncompressed"]
            else:
                key = pk["pk"]
            lines.append(f"key = {key}")
            if "sha" in group:
                lines.append(f"sha = {group['sha']}")
            if "privateKeyPkcs8" in group:
                lines.append(f"private = {group['privateKeyPkcs8']}")
            lines.append("")
            for t in group["tests"]:
                lines += [
                    f"tcId = {t['tcId']}",
                    f"msg = {t['msg']}",
                    f"sig = {t['sig']}",
                    f"result = {t['result']}",
                    f"flags = {','.join(t['flags'])}",
                    "",
                ]
        (out / f"wycheproof_sig_{stem}.txt").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
