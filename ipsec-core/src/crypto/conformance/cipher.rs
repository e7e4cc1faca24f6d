//! Cipher suites: CBC known answers and chaining, length checks, and ENCR_NULL.

use super::vectors;
use super::{outcome, Check, Report};
use crate::crypto::{CipherAlgorithm, CryptoError, EncrId};

pub(super) fn check(cipher: &'static dyn CipherAlgorithm, report: &mut Report) {
    let enc = cipher.encryption();
    // RFC 3602 section 2 (AES: 16-octet blocks and IVs), RFC 2451 (3DES: 24-octet keys, 8-octet
    // blocks and IVs), RFC 2410 (NULL: nothing at all).
    let expected = match enc.id {
        EncrId::ENCR_AES_CBC => Some((usize::from(enc.key_bits / 8), 16, 16, "aes")),
        EncrId::ENCR_3DES => Some((24, 8, 8, "3des")),
        EncrId::ENCR_NULL => Some((0, 1, 0, "")),
        _ => None,
    };
    let mut params = Check::new(cipher, "parameters (RFC 3602, RFC 2451, RFC 2410)");
    if let Some((key, block, iv, _)) = expected {
        let got = (cipher.key_len(), cipher.block_len(), cipher.iv_len());
        params.expect(got == (key, block, iv), || {
            format!(
                "key, block, IV lengths {got:?} (expected {:?})",
                (key, block, iv)
            )
        });
    }
    params.expect(cipher.block_len() > 0, || "block length 0".to_string());
    report.push(params);
    match expected {
        Some((_, _, _, "")) => report.push(null(cipher)),
        Some((key_len, _, _, name)) => report.push(known_answers(cipher, name, key_len)),
        None => {
            report.push(Check::new(cipher, "known answers").skip("no vectors for this transform"))
        }
    }
    report.push(properties(cipher));
}

/// The records of `cbc.txt` for this cipher: encryption, decryption, and CBC chaining.
fn known_answers(cipher: &'static dyn CipherAlgorithm, name: &str, key_len: usize) -> Check {
    let suite = if name == "aes" {
        "RFC 3602, SP 800-38A F.2"
    } else {
        "3DES-CBC (OpenSSL destest)"
    };
    let mut c = Check::new(cipher, suite);
    for r in vectors::records(vectors::CBC) {
        let label = r.label();
        let (Some(key), Some(iv), Some(pt), Some(ct)) = (
            r.hex("key"),
            r.hex("iv"),
            r.hex("plaintext"),
            r.hex("ciphertext"),
        ) else {
            c.fail(format!("{label}: unreadable vector"));
            continue;
        };
        if r.get("cipher") != Some(name) || key.len() != key_len {
            continue;
        }
        let k = match cipher.new_key(&key) {
            Ok(k) => k,
            Err(e) => {
                c.fail(format!("{label}: new_key: {e:?}"));
                continue;
            }
        };
        let mut buf = pt.clone();
        let r1 = k.encrypt_in_place(&iv, &mut buf);
        c.expect(r1.is_ok() && buf == ct, || {
            format!("{label}: encrypt gave {}", outcome(&r1))
        });
        let mut buf = ct.clone();
        let r2 = k.decrypt_in_place(&iv, &mut buf);
        c.expect(r2.is_ok() && buf == pt, || {
            format!("{label}: decrypt gave {}", outcome(&r2))
        });
        // CBC chains: the second block on, decrypted with the first ciphertext block as IV.
        let b = cipher.block_len();
        if ct.len() > b {
            let mut tail = ct[b..].to_vec();
            let r3 = k.decrypt_in_place(&ct[..b], &mut tail);
            c.expect(r3.is_ok() && tail == pt[b..], || {
                format!("{label}: CBC chaining")
            });
        }
    }
    if c.passed + c.failed == 0 {
        return c.skip("no vectors for this key length");
    }
    c
}

/// ENCR_NULL changes nothing and takes no key and no IV.
fn null(cipher: &'static dyn CipherAlgorithm) -> Check {
    let mut c = Check::new(cipher, "RFC 2410 identity");
    let key = cipher.new_key(&[]);
    c.expect(key.is_ok(), || {
        format!("new_key with no key: {}", outcome(&key))
    });
    if let Ok(k) = key {
        let mut buf = *b"plain text stays";
        let r = k.encrypt_in_place(&[], &mut buf);
        c.expect(r.is_ok() && &buf == b"plain text stays", || {
            "encrypt changed the data".into()
        });
        let r = k.decrypt_in_place(&[], &mut buf);
        c.expect(r.is_ok() && &buf == b"plain text stays", || {
            "decrypt changed the data".into()
        });
        c.expect(k.encrypt_in_place(&[0; 8], &mut buf).is_err(), || {
            "an IV was accepted".into()
        });
    }
    c.expect(cipher.new_key(&[1]).is_err(), || {
        "a key was accepted".to_string()
    });
    c
}

/// Round trips of whole blocks, and refusals of partial blocks, bad IVs and bad keys.
fn properties(cipher: &'static dyn CipherAlgorithm) -> Check {
    let mut c = Check::new(cipher, "properties");
    let block = cipher.block_len().max(1);
    let keybytes: Vec<u8> = (0..cipher.key_len()).map(|i| (i as u8) ^ 0x3c).collect();
    let key = match cipher.new_key(&keybytes) {
        Ok(k) => k,
        Err(e) => {
            c.fail(format!("new_key: {e:?}"));
            return c;
        }
    };
    let iv: Vec<u8> = (0..cipher.iv_len()).map(|i| i as u8).collect();
    for blocks in [0usize, 1, 2, 7, 94] {
        let pt: Vec<u8> = (0..blocks * block).map(|i| (i * 13) as u8).collect();
        let mut buf = pt.clone();
        let r = key
            .encrypt_in_place(&iv, &mut buf)
            .and_then(|()| key.decrypt_in_place(&iv, &mut buf));
        c.expect(r.is_ok() && buf == pt, || {
            format!("{blocks} blocks: round trip gave {}", outcome(&r))
        });
    }
    if block > 1 {
        let mut buf = vec![0u8; 3 * block];
        for bad in [1, block - 1, block + 1] {
            let r = key.encrypt_in_place(&iv, &mut buf[..bad]);
            c.expect(matches!(r, Err(CryptoError::InvalidLength(_))), || {
                format!("encrypt of {bad} octets: {}", outcome(&r))
            });
            let r = key.decrypt_in_place(&iv, &mut buf[..bad]);
            c.expect(matches!(r, Err(CryptoError::InvalidLength(_))), || {
                format!("decrypt of {bad} octets: {}", outcome(&r))
            });
        }
        let r = key.encrypt_in_place(&iv[1..], &mut buf);
        c.expect(r.is_err(), || "a short IV was accepted".to_string());
        let r = key.decrypt_in_place(&[], &mut buf);
        c.expect(r.is_err(), || "an empty IV was accepted".to_string());
    }
    if cipher.key_len() > 0 {
        for len in [cipher.key_len() - 1, cipher.key_len() + 1] {
            let r = cipher.new_key(&vec![7; len]);
            c.expect(
                matches!(r, Err(CryptoError::InvalidKeyLength { .. })),
                || format!("{len}-octet key: {}", outcome(&r)),
            );
        }
    }
    c
}
