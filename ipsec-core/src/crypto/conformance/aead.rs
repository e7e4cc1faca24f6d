//! AEAD suites: parameters, known answers, and the properties ESP and IKE rely on.

use super::vectors::{self, Record};
use super::{outcome, Check, Report};
use crate::crypto::{AeadAlgorithm, AeadKey, CryptoError, EncrId};

/// Salt, explicit IV and tag lengths of every AEAD transform IKEv2 negotiates for ESP and the SK
/// payload with a 16-octet ICV (RFC 4106 sections 4 and 8.1, RFC 5282, RFC 7634 section 2).
const SALT: usize = 4;
const IV: usize = 8;
const TAG: usize = 16;

pub(super) fn check(aead: &'static dyn AeadAlgorithm, report: &mut Report) {
    report.push(parameters(aead));
    let enc = aead.encryption();
    if enc.id == EncrId::ENCR_AES_GCM_16 {
        let key_len = usize::from(enc.key_bits / 8);
        report.push(known_answers(
            aead,
            "NIST CAVP gcmEncryptExtIV",
            vectors::AES_GCM_NIST,
            key_len,
        ));
        report.push(known_answers(
            aead,
            "Wycheproof aes_gcm_test",
            vectors::AES_GCM_WYCHEPROOF,
            key_len,
        ));
    } else if enc.id == EncrId::ENCR_CHACHA20_POLY1305 {
        report.push(known_answers(
            aead,
            "RFC 8439 and RFC 7634",
            vectors::CHACHA_RFC,
            32,
        ));
        report.push(known_answers(
            aead,
            "Wycheproof chacha20_poly1305_test",
            vectors::CHACHA_WYCHEPROOF,
            32,
        ));
    } else {
        report.push(Check::new(aead, "known answers").skip("no vectors for this transform"));
    }
    report.push(properties(aead));
}

/// The lengths the transform must declare.
fn parameters(aead: &dyn AeadAlgorithm) -> Check {
    let mut c = Check::new(aead, "parameters (RFC 4106, RFC 7634)");
    let enc = aead.encryption();
    let key_len = match enc.id {
        EncrId::ENCR_AES_GCM_16 => Some(usize::from(enc.key_bits / 8)),
        EncrId::ENCR_CHACHA20_POLY1305 => Some(32),
        _ => None,
    };
    if let Some(key_len) = key_len {
        c.expect(aead.key_len() == key_len, || {
            format!("key length {} (expected {key_len})", aead.key_len())
        });
        let got = (aead.salt_len(), aead.iv_len(), aead.tag_len());
        c.expect(got == (SALT, IV, TAG), || {
            format!("salt, IV, tag lengths {got:?} (expected ({SALT}, {IV}, {TAG}))")
        });
    }
    c.expect(
        aead.keymat_len() == aead.key_len() + aead.salt_len(),
        || "keymat_len() is not key_len() + salt_len()".to_string(),
    );
    c
}

/// One vector: key material, explicit IV, AAD, plaintext, ciphertext, tag, and whether the file
/// says it must verify (`None` for Wycheproof's "acceptable").
struct Vector {
    keymat: Vec<u8>,
    iv: Vec<u8>,
    aad: Vec<u8>,
    pt: Vec<u8>,
    ct: Vec<u8>,
    tag: Vec<u8>,
    valid: Option<bool>,
}

/// Reads a record of any of the AEAD files: NIST (`plaintext`, `ciphertext`, 12-octet `iv`),
/// Wycheproof (`msg`, `ct`, 12-octet `iv`, `result`), or the RFC file (`salt` and 8-octet `iv`).
fn vector(r: &Record) -> Option<Vector> {
    let key = r.hex("key")?;
    let (salt, iv) = match r.hex("salt") {
        Some(salt) => (salt, r.hex("iv")?),
        None => {
            let nonce = r.hex("iv")?;
            if nonce.len() != SALT + IV {
                return None;
            }
            let (s, i) = nonce.split_at(SALT);
            (s.to_vec(), i.to_vec())
        }
    };
    let mut keymat = key;
    keymat.extend_from_slice(&salt);
    let valid = match r.get("result") {
        None | Some("valid") => Some(true),
        Some("invalid") => Some(false),
        Some(_) => None,
    };
    Some(Vector {
        keymat,
        iv,
        aad: r.hex("aad")?,
        pt: r.hex("plaintext").or_else(|| r.hex("msg"))?,
        ct: r.hex("ciphertext").or_else(|| r.hex("ct"))?,
        tag: r.hex("tag")?,
        valid,
    })
}

/// Runs the records of `file` whose key is `key_len` octets with a 16-octet tag.
fn known_answers(
    aead: &'static dyn AeadAlgorithm,
    suite: &'static str,
    file: &'static str,
    key_len: usize,
) -> Check {
    let mut c = Check::new(aead, suite);
    for r in vectors::records(file) {
        let Some(v) = vector(&r) else {
            c.fail(format!("{}: unreadable vector", r.label()));
            continue;
        };
        if v.keymat.len() != key_len + SALT || v.tag.len() != TAG {
            continue;
        }
        let key = match aead.new_key(&v.keymat) {
            Ok(k) => k,
            Err(e) => {
                c.fail(format!("{}: new_key: {e:?}", r.label()));
                continue;
            }
        };
        let label = r.label();
        let mut buf = v.ct.clone();
        let opened = key.open_in_place(&v.iv, &v.aad, &mut buf, &v.tag);
        match v.valid {
            Some(true) => {
                c.expect(opened.is_ok() && buf == v.pt, || {
                    format!("{label}: open gave {} / wrong plaintext", outcome(&opened))
                });
                let mut buf = v.pt.clone();
                let mut tag = [0u8; TAG];
                let sealed = key.seal_in_place(&v.iv, &v.aad, &mut buf, &mut tag);
                c.expect(
                    sealed.is_ok() && buf == v.ct && tag[..] == v.tag[..],
                    || {
                        format!(
                            "{label}: seal gave {} / wrong ciphertext or tag",
                            outcome(&sealed)
                        )
                    },
                );
            }
            Some(false) => c.expect(opened == Err(CryptoError::IntegrityCheckFailed), || {
                format!("{label}: a forged message was {}", outcome(&opened))
            }),
            None => c.expect(
                opened.is_ok() || opened == Err(CryptoError::IntegrityCheckFailed),
                || format!("{label}: open gave {}", outcome(&opened)),
            ),
        }
    }
    if c.passed + c.failed == 0 {
        return c.skip("no vectors for this key length");
    }
    c
}

/// Seals `pt` and returns the ciphertext and tag, or a failure message.
fn seal(key: &dyn AeadKey, iv: &[u8], aad: &[u8], pt: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut buf = pt.to_vec();
    let mut tag = [0u8; TAG];
    key.seal_in_place(iv, aad, &mut buf, &mut tag)
        .map_err(|e| format!("seal of {} octets: {e:?}", pt.len()))?;
    Ok((buf, tag.to_vec()))
}

/// Round trips, tampering, other keys, and length checks, on any AEAD transform.
fn properties(aead: &'static dyn AeadAlgorithm) -> Check {
    let mut c = Check::new(aead, "properties");
    if aead.tag_len() != TAG || aead.iv_len() != IV {
        return c.skip("not a 16-octet tag with an 8-octet IV");
    }
    let keymat: Vec<u8> = (0..aead.keymat_len()).map(|i| (i as u8) ^ 0x5c).collect();
    let key = match aead.new_key(&keymat) {
        Ok(k) => k,
        Err(e) => {
            c.fail(format!("new_key: {e:?}"));
            return c;
        }
    };
    let iv = [0x1f, 0x2e, 0x3d, 0x4c, 0x5b, 0x6a, 0x79, 0x88];
    let aad = [0xa5u8; 12];
    for len in [0usize, 1, 15, 16, 17, 64, 255, 1400, 1500] {
        let pt: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let (ct, tag) = match seal(key.as_ref(), &iv, &aad, &pt) {
            Ok(s) => s,
            Err(m) => {
                c.fail(m);
                continue;
            }
        };
        c.expect(len < 16 || ct != pt, || {
            format!("{len} octets: ciphertext equals plaintext")
        });
        let mut buf = ct.clone();
        let opened = key.open_in_place(&iv, &aad, &mut buf, &tag);
        c.expect(opened.is_ok() && buf == pt, || {
            format!("{len} octets: round trip gave {}", outcome(&opened))
        });
        // Any single flipped bit, wherever it is, must make opening fail.
        let bits = [
            (0usize, 0x01u8),
            (len / 2, 0x80),
            (len.saturating_sub(1), 0x10),
        ];
        for (at, bit) in bits.iter().filter(|_| len > 0) {
            let mut bad = ct.clone();
            bad[*at] ^= bit;
            let r = key.open_in_place(&iv, &aad, &mut bad, &tag);
            c.expect(r == Err(CryptoError::IntegrityCheckFailed), || {
                format!(
                    "{len} octets: ciphertext bit flipped at {at}: {}",
                    outcome(&r)
                )
            });
        }
        for at in [0, TAG - 1] {
            let mut bad_tag = tag.clone();
            bad_tag[at] ^= 0x01;
            let mut buf = ct.clone();
            let r = key.open_in_place(&iv, &aad, &mut buf, &bad_tag);
            c.expect(r == Err(CryptoError::IntegrityCheckFailed), || {
                format!("{len} octets: tag bit flipped at {at}: {}", outcome(&r))
            });
        }
        let mut bad_aad = aad;
        bad_aad[11] ^= 0x02;
        let mut buf = ct.clone();
        let r = key.open_in_place(&iv, &bad_aad, &mut buf, &tag);
        c.expect(r == Err(CryptoError::IntegrityCheckFailed), || {
            format!("{len} octets: AAD changed: {}", outcome(&r))
        });
        let mut buf = ct.clone();
        let r = key.open_in_place(&iv, &aad[..8], &mut buf, &tag);
        c.expect(r == Err(CryptoError::IntegrityCheckFailed), || {
            format!("{len} octets: AAD shortened: {}", outcome(&r))
        });
        let mut bad_iv = iv;
        bad_iv[7] ^= 0x01;
        let mut buf = ct.clone();
        let r = key.open_in_place(&bad_iv, &aad, &mut buf, &tag);
        c.expect(r == Err(CryptoError::IntegrityCheckFailed), || {
            format!("{len} octets: IV changed: {}", outcome(&r))
        });
    }
    other_keys(aead, &keymat, &iv, &aad, &mut c);
    lengths(aead, key.as_ref(), &keymat, &mut c);
    c
}

/// Another cipher key, or the same key with another salt, must not open the message.
fn other_keys(aead: &dyn AeadAlgorithm, keymat: &[u8], iv: &[u8], aad: &[u8], c: &mut Check) {
    let Ok(key) = aead.new_key(keymat) else {
        return;
    };
    let Ok((ct, tag)) = seal(key.as_ref(), iv, aad, b"sixteen octets!!") else {
        return;
    };
    for (what, at) in [("key", 0), ("salt", keymat.len() - 1)] {
        let mut other = keymat.to_vec();
        other[at] ^= 0x01;
        let r = aead.new_key(&other).and_then(|k| {
            let mut buf = ct.clone();
            k.open_in_place(iv, aad, &mut buf, &tag)
        });
        c.expect(r == Err(CryptoError::IntegrityCheckFailed), || {
            format!("another {what} opened the message: {}", outcome(&r))
        });
    }
}

/// Wrong key material, IV and tag lengths are refused, not truncated or padded.
fn lengths(aead: &dyn AeadAlgorithm, key: &dyn AeadKey, keymat: &[u8], c: &mut Check) {
    for len in [0, keymat.len() - 1, keymat.len() + 1] {
        let r = aead.new_key(&vec![7; len]);
        c.expect(
            matches!(r, Err(CryptoError::InvalidKeyLength { .. })),
            || format!("{len}-octet key material: {}", outcome(&r)),
        );
    }
    let mut buf = [0u8; 32];
    let mut tag = [0u8; TAG];
    for iv_len in [0, IV - 1, IV + 1, 12] {
        let r = key.seal_in_place(&vec![0; iv_len], b"", &mut buf, &mut tag);
        c.expect(r.is_err(), || {
            format!("seal with a {iv_len}-octet IV was accepted")
        });
        let r = key.open_in_place(&vec![0; iv_len], b"", &mut buf, &tag);
        c.expect(r.is_err(), || {
            format!("open with a {iv_len}-octet IV was accepted")
        });
    }
    for tag_len in [0, 8, 12, TAG + 1] {
        let mut t = vec![0u8; tag_len];
        let r = key.seal_in_place(&[0; IV], b"", &mut buf, &mut t);
        c.expect(r.is_err(), || {
            format!("seal into a {tag_len}-octet tag was accepted")
        });
        let r = key.open_in_place(&[0; IV], b"", &mut buf, &t);
        c.expect(r.is_err(), || {
            format!("open with a {tag_len}-octet tag was accepted")
        });
    }
}
