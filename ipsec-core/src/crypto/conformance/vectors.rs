//! The known-answer files under `vectors/`, compiled into the crate, and their reader.
//!
//! The format is plain: `#` starts a comment line, records are separated by blank lines, and each
//! line of a record is `name = value`; hex values may contain spaces. `vectors/README.md` names
//! the source of every file.

/// AES-GCM: NIST CAVP gcmEncryptExtIV128/256.
pub(super) const AES_GCM_NIST: &str = include_str!("vectors/aes_gcm_nist.txt");
/// AES-GCM: Wycheproof aes_gcm_test (96-bit IV, 128-bit tag).
pub(super) const AES_GCM_WYCHEPROOF: &str = include_str!("vectors/wycheproof_aes_gcm.txt");
/// ChaCha20-Poly1305: RFC 8439 section 2.8.2 and RFC 7634 appendix B.
pub(super) const CHACHA_RFC: &str = include_str!("vectors/chacha20_poly1305.txt");
/// ChaCha20-Poly1305: Wycheproof chacha20_poly1305_test.
pub(super) const CHACHA_WYCHEPROOF: &str = include_str!("vectors/wycheproof_chacha20_poly1305.txt");
/// AES-CBC and 3DES-CBC: RFC 3602, NIST SP 800-38A, OpenSSL's 3DES vector.
pub(super) const CBC: &str = include_str!("vectors/cbc.txt");
/// HMAC-SHA2: RFC 4231.
pub(super) const HMAC_RFC4231: &str = include_str!("vectors/hmac_rfc4231.txt");
/// HMAC-SHA2 with full-length keys and truncated ICVs: RFC 4868.
pub(super) const HMAC_RFC4868: &str = include_str!("vectors/hmac_rfc4868.txt");
/// HMAC-MD5 and HMAC-SHA1: RFC 2202.
pub(super) const HMAC_RFC2202: &str = include_str!("vectors/hmac_rfc2202.txt");
/// X25519: RFC 7748.
pub(super) const X25519_RFC: &str = include_str!("vectors/x25519_rfc7748.txt");
/// X25519: Wycheproof x25519_test.
pub(super) const X25519_WYCHEPROOF: &str = include_str!("vectors/wycheproof_x25519.txt");
/// ECP groups 19, 20, 21: RFC 5903 section 8.
pub(super) const ECP_RFC: &str = include_str!("vectors/ecp_rfc5903.txt");
/// ECDH on P-256: Wycheproof ecdh_secp256r1_ecpoint_test.
pub(super) const ECP_256_WYCHEPROOF: &str = include_str!("vectors/wycheproof_ecdh_secp256r1.txt");
/// The MODP primes of RFC 2409 and RFC 3526.
pub(super) const MODP_PRIMES: &str = include_str!("vectors/modp_primes.txt");
/// RSA PKCS#1 v1.5 verification: Wycheproof rsa_signature_2048_sha256_test.
pub(super) const SIG_RSA_2048_SHA256: &str =
    include_str!("vectors/wycheproof_sig_rsa_pkcs1_2048_sha256.txt");
/// RSA PKCS#1 v1.5 verification: Wycheproof rsa_signature_2048_sha384_test.
pub(super) const SIG_RSA_2048_SHA384: &str =
    include_str!("vectors/wycheproof_sig_rsa_pkcs1_2048_sha384.txt");
/// RSA PKCS#1 v1.5 verification: Wycheproof rsa_signature_2048_sha512_test.
pub(super) const SIG_RSA_2048_SHA512: &str =
    include_str!("vectors/wycheproof_sig_rsa_pkcs1_2048_sha512.txt");
/// RSA PKCS#1 v1.5 verification: Wycheproof rsa_signature_3072_sha256_test.
pub(super) const SIG_RSA_3072_SHA256: &str =
    include_str!("vectors/wycheproof_sig_rsa_pkcs1_3072_sha256.txt");
/// RSA PKCS#1 v1.5 signature generation, 2048-bit keys: Wycheproof rsa_sig_gen_misc_test.
pub(super) const SIG_RSA_2048_SIG_GEN: &str =
    include_str!("vectors/wycheproof_sig_rsa_pkcs1_2048_sig_gen.txt");
/// RSA PKCS#1 v1.5 signature generation, 3072-bit keys: Wycheproof rsa_sig_gen_misc_test.
pub(super) const SIG_RSA_3072_SIG_GEN: &str =
    include_str!("vectors/wycheproof_sig_rsa_pkcs1_3072_sig_gen.txt");
/// RSA-PSS verification: Wycheproof rsa_pss_2048_sha256_mgf1_32_test.
pub(super) const SIG_PSS_2048_SHA256: &str =
    include_str!("vectors/wycheproof_sig_rsa_pss_2048_sha256.txt");
/// RSA-PSS verification: Wycheproof rsa_pss_2048_sha384_mgf1_48_test.
pub(super) const SIG_PSS_2048_SHA384: &str =
    include_str!("vectors/wycheproof_sig_rsa_pss_2048_sha384.txt");
/// RSA-PSS verification: Wycheproof rsa_pss_4096_sha512_mgf1_64_test.
pub(super) const SIG_PSS_4096_SHA512: &str =
    include_str!("vectors/wycheproof_sig_rsa_pss_4096_sha512.txt");
/// ECDSA P-256/SHA-256, DER signatures: Wycheproof ecdsa_secp256r1_sha256_test.
pub(super) const SIG_ECDSA_P256_DER: &str =
    include_str!("vectors/wycheproof_sig_ecdsa_p256_sha256_der.txt");
/// ECDSA P-256/SHA-256, r || s signatures: Wycheproof ecdsa_secp256r1_sha256_p1363_test.
pub(super) const SIG_ECDSA_P256_P1363: &str =
    include_str!("vectors/wycheproof_sig_ecdsa_p256_sha256_p1363.txt");
/// ECDSA P-384/SHA-384, DER signatures: Wycheproof ecdsa_secp384r1_sha384_test.
pub(super) const SIG_ECDSA_P384_DER: &str =
    include_str!("vectors/wycheproof_sig_ecdsa_p384_sha384_der.txt");
/// ECDSA P-384/SHA-384, r || s signatures: Wycheproof ecdsa_secp384r1_sha384_p1363_test.
pub(super) const SIG_ECDSA_P384_P1363: &str =
    include_str!("vectors/wycheproof_sig_ecdsa_p384_sha384_p1363.txt");
/// ECDSA P-521/SHA-512, DER signatures: Wycheproof ecdsa_secp521r1_sha512_test.
pub(super) const SIG_ECDSA_P521_DER: &str =
    include_str!("vectors/wycheproof_sig_ecdsa_p521_sha512_der.txt");
/// ECDSA P-521/SHA-512, r || s signatures: Wycheproof ecdsa_secp521r1_sha512_p1363_test.
pub(super) const SIG_ECDSA_P521_P1363: &str =
    include_str!("vectors/wycheproof_sig_ecdsa_p521_sha512_p1363.txt");
/// Ed25519: Wycheproof ed25519_test.
pub(super) const SIG_ED25519: &str = include_str!("vectors/wycheproof_sig_ed25519.txt");
/// RFC 6979 (ECDSA P-256, P-384) and RFC 8032 (Ed25519) signatures.
pub(super) const SIG_DETERMINISTIC: &str = include_str!("vectors/signature_deterministic.txt");
/// Test keys (not known answers): P-521, P-256 as PKCS#8 and SEC1, an RSA-1024 key to refuse.
pub(super) const SIG_KEYS: &str = include_str!("vectors/signature_keys.txt");

/// One record of a known-answer file.
pub(super) struct Record {
    fields: Vec<(&'static str, &'static str)>,
}

impl Record {
    /// The field `name`, if present.
    pub(super) fn get(&self, name: &str) -> Option<&'static str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }

    /// The field `name` decoded from hex; `None` if absent or not hex.
    pub(super) fn hex(&self, name: &str) -> Option<Vec<u8>> {
        hex(self.get(name)?)
    }

    /// A label for failure messages: the `case` or `tcId` field.
    pub(super) fn label(&self) -> String {
        match (self.get("case"), self.get("tcId")) {
            (Some(case), _) => case.to_string(),
            (None, Some(id)) => format!("tcId {id}"),
            (None, None) => "unnamed record".to_string(),
        }
    }
}

/// Decodes hex, ignoring whitespace; `None` on anything else.
pub(super) fn hex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    base16ct::mixed::decode_vec(digits).ok()
}

/// The records of one file.
pub(super) fn records(text: &'static str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut fields = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            if !fields.is_empty() {
                out.push(Record {
                    fields: core::mem::take(&mut fields),
                });
            }
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            fields.push((k.trim(), v.trim()));
        }
    }
    if !fields.is_empty() {
        out.push(Record { fields });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_parses_into_records_of_valid_hex() {
        for text in [
            AES_GCM_NIST,
            AES_GCM_WYCHEPROOF,
            CHACHA_RFC,
            CHACHA_WYCHEPROOF,
            CBC,
            HMAC_RFC4231,
            HMAC_RFC4868,
            HMAC_RFC2202,
            X25519_RFC,
            X25519_WYCHEPROOF,
            ECP_RFC,
            ECP_256_WYCHEPROOF,
            MODP_PRIMES,
            SIG_RSA_2048_SHA256,
            SIG_RSA_2048_SHA384,
            SIG_RSA_2048_SHA512,
            SIG_RSA_3072_SHA256,
            SIG_RSA_2048_SIG_GEN,
            SIG_RSA_3072_SIG_GEN,
            SIG_PSS_2048_SHA256,
            SIG_PSS_2048_SHA384,
            SIG_PSS_4096_SHA512,
            SIG_ECDSA_P256_DER,
            SIG_ECDSA_P256_P1363,
            SIG_ECDSA_P384_DER,
            SIG_ECDSA_P384_P1363,
            SIG_ECDSA_P521_DER,
            SIG_ECDSA_P521_P1363,
            SIG_ED25519,
            SIG_DETERMINISTIC,
            SIG_KEYS,
        ] {
            let records = records(text);
            assert!(records.len() >= 3);
            for r in &records {
                for (name, value) in &r.fields {
                    let textual = [
                        "case", "tcId", "result", "flags", "hash", "cipher", "group", "bits",
                        "sha", "scheme",
                    ];
                    if !textual.contains(name) {
                        assert!(hex(value).is_some(), "{}: {name} is not hex", r.label());
                    }
                }
            }
        }
        assert_eq!(hex("0a 0B"), Some(vec![10, 11]));
        assert_eq!(hex("abc"), None);
        assert_eq!(hex("zz"), None);
    }
}
