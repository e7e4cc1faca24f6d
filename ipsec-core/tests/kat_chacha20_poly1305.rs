//! Known answers for ENCR_CHACHA20_POLY1305: RFC 8439 section 2.8.2, the ESP and IKEv2 examples of
//! RFC 7634 appendix B, and Wycheproof cases including modified tags.

mod kat_common;

use ipsec_core::crypto::default::CHACHA20_POLY1305;
use ipsec_core::crypto::{default_provider, CryptoError, EncrId, Encryption};
use kat_common::load;

/// Seals and opens with `key || salt` key material; returns false when the tag does not verify.
fn run(key: &[u8], salt: &[u8], iv: &[u8], aad: &[u8], pt: &[u8], ct: &[u8], tag: &[u8]) -> bool {
    let mut keymat = key.to_vec();
    keymat.extend_from_slice(salt);
    let k = CHACHA20_POLY1305.new_key(&keymat).unwrap();
    let mut buf = ct.to_vec();
    match k.open_in_place(iv, aad, &mut buf, tag) {
        Ok(()) => assert_eq!(buf, pt),
        Err(e) => {
            assert_eq!(e, CryptoError::IntegrityCheckFailed);
            return false;
        }
    }
    let mut buf = pt.to_vec();
    let mut out = [0u8; 16];
    k.seal_in_place(iv, aad, &mut buf, &mut out).unwrap();
    assert_eq!(buf, ct);
    assert_eq!(&out[..], tag);
    true
}

#[test]
fn rfc8439_and_rfc7634_known_answers() {
    let records = load("chacha20_poly1305.txt");
    assert_eq!(records.len(), 3);
    for r in &records {
        let (pt, ct, tag) = (r.hex("plaintext"), r.hex("ciphertext"), r.hex("tag"));
        let (key, salt, iv, aad) = (r.hex("key"), r.hex("salt"), r.hex("iv"), r.hex("aad"));
        assert!(run(&key, &salt, &iv, &aad, &pt, &ct, &tag), "{}", r.label());
        let mut bad = tag.clone();
        bad[15] ^= 0x01;
        assert!(
            !run(&key, &salt, &iv, &aad, &pt, &ct, &bad),
            "{}",
            r.label()
        );
        let mut bad_ct = ct.clone();
        bad_ct[0] ^= 0x01;
        assert!(
            !run(&key, &salt, &iv, &aad, &pt, &bad_ct, &tag),
            "{}",
            r.label()
        );
    }
}

#[test]
fn wycheproof_chacha20_poly1305() {
    let records = load("wycheproof_chacha20_poly1305.txt");
    let (mut valid, mut invalid) = (0, 0);
    for r in &records {
        let nonce = r.hex("iv");
        assert_eq!(nonce.len(), 12);
        let ok = run(
            &r.hex("key"),
            &nonce[..4],
            &nonce[4..],
            &r.hex("aad"),
            &r.hex("msg"),
            &r.hex("ct"),
            &r.hex("tag"),
        );
        match r.get("result") {
            "valid" => {
                assert!(ok, "tcId {}", r.label());
                valid += 1;
            }
            "invalid" => {
                assert!(!ok, "tcId {}", r.label());
                invalid += 1;
            }
            other => panic!("unexpected result {other}"),
        }
    }
    assert!(
        valid >= 30 && invalid >= 50,
        "{valid} valid, {invalid} invalid"
    );
}

#[test]
fn chacha_parameters_and_bad_lengths() {
    let aead = default_provider()
        .aead(Encryption::new(EncrId::ENCR_CHACHA20_POLY1305, 0))
        .unwrap();
    assert_eq!(
        (
            aead.key_len(),
            aead.salt_len(),
            aead.iv_len(),
            aead.tag_len()
        ),
        (32, 4, 8, 16)
    );
    assert!(matches!(
        aead.new_key(&[0; 32]),
        Err(CryptoError::InvalidKeyLength {
            expected: 36,
            got: 32,
            ..
        })
    ));
    let k = aead.new_key(&[0; 36]).unwrap();
    let mut buf = [0u8; 4];
    assert!(matches!(
        k.seal_in_place(&[0; 12], b"", &mut buf, &mut [0; 16]),
        Err(CryptoError::InvalidLength(_))
    ));
}
