//! Known answers for ENCR_AES_GCM_16: NIST CAVP gcmEncryptExtIV128/256 cases, with the 12-octet
//! NIST IV split as RFC 4106 section 4 does (4-octet salt in the key material, 8-octet explicit
//! IV), and Wycheproof cases including modified tags.

mod kat_common;

use ipsec_core::crypto::default::{AES_128_GCM_16, AES_256_GCM_16};
use ipsec_core::crypto::{default_provider, AeadAlgorithm, CryptoError, EncrId, Encryption};
use kat_common::{load, Record};

fn aead_for(key_len: usize) -> &'static dyn AeadAlgorithm {
    match key_len {
        16 => AES_128_GCM_16,
        32 => AES_256_GCM_16,
        other => panic!("no AES-GCM for a {other}-octet key"),
    }
}

/// Seals and opens one case through the provider's interface; returns false when the case's
/// tag does not verify.
fn run(r: &Record, ct_field: &str, pt_field: &str) -> bool {
    let (key, nist_iv) = (r.hex("key"), r.hex("iv"));
    assert_eq!(nist_iv.len(), 12, "{}", r.label());
    let aead = aead_for(key.len());
    let mut keymat = key.clone();
    keymat.extend_from_slice(&nist_iv[..4]);
    let k = aead.new_key(&keymat).unwrap();
    let (iv, aad) = (&nist_iv[4..], r.hex("aad"));
    let (pt, ct, tag) = (r.hex(pt_field), r.hex(ct_field), r.hex("tag"));

    let mut buf = ct.clone();
    let opened = k.open_in_place(iv, &aad, &mut buf, &tag);
    if opened.is_err() {
        assert_eq!(
            opened,
            Err(CryptoError::IntegrityCheckFailed),
            "{}",
            r.label()
        );
        return false;
    }
    assert_eq!(buf, pt, "{}: plaintext", r.label());

    let mut buf = pt.clone();
    let mut out_tag = [0u8; 16];
    k.seal_in_place(iv, &aad, &mut buf, &mut out_tag).unwrap();
    assert_eq!(buf, ct, "{}: ciphertext", r.label());
    assert_eq!(out_tag.to_vec(), tag, "{}: tag", r.label());

    // Any change to the tag, the AAD or the IV must make opening fail.
    let mut bad_tag = tag.clone();
    bad_tag[0] ^= 0x80;
    let mut buf = ct.clone();
    assert_eq!(
        k.open_in_place(iv, &aad, &mut buf, &bad_tag),
        Err(CryptoError::IntegrityCheckFailed)
    );
    let mut bad_iv = iv.to_vec();
    bad_iv[7] ^= 1;
    let mut buf = ct.clone();
    assert_eq!(
        k.open_in_place(&bad_iv, &aad, &mut buf, &tag),
        Err(CryptoError::IntegrityCheckFailed)
    );
    true
}

#[test]
fn nist_gcm_encrypt_ext_iv_known_answers() {
    let records = load("aes_gcm_nist.txt");
    let mut by_len = [0usize; 2];
    for r in &records {
        assert!(run(r, "ciphertext", "plaintext"), "{}", r.label());
        by_len[usize::from(r.hex("key").len() == 32)] += 1;
    }
    assert_eq!(by_len, [10, 5]);
}

#[test]
fn wycheproof_aes_gcm() {
    let records = load("wycheproof_aes_gcm.txt");
    let (mut valid, mut invalid) = (0, 0);
    for r in &records {
        let ok = run(r, "ct", "msg");
        match r.get("result") {
            "valid" => {
                assert!(ok, "tcId {} should verify", r.label());
                valid += 1;
            }
            "invalid" => {
                assert!(!ok, "tcId {} should be rejected", r.label());
                invalid += 1;
            }
            other => panic!("unexpected result {other}"),
        }
    }
    assert!(
        valid >= 50 && invalid >= 20,
        "{valid} valid, {invalid} invalid"
    );
}

#[test]
fn gcm_parameters_and_bad_lengths() {
    let p = default_provider();
    for (bits, key_len) in [(128, 16), (256, 32)] {
        let aead = p
            .aead(Encryption::new(EncrId::ENCR_AES_GCM_16, bits))
            .unwrap();
        assert_eq!(
            (
                aead.key_len(),
                aead.salt_len(),
                aead.iv_len(),
                aead.tag_len()
            ),
            (key_len, 4, 8, 16)
        );
        assert_eq!(aead.keymat_len(), key_len + 4);
        for len in [key_len, key_len + 3, key_len + 5] {
            assert!(matches!(
                aead.new_key(&vec![0; len]),
                Err(CryptoError::InvalidKeyLength { .. })
            ));
        }
        let k = aead.new_key(&vec![0; key_len + 4]).unwrap();
        let mut buf = [0u8; 20];
        let mut tag = [0u8; 16];
        assert!(matches!(
            k.seal_in_place(&[0; 12], b"", &mut buf, &mut tag),
            Err(CryptoError::InvalidLength(_))
        ));
        assert!(matches!(
            k.open_in_place(&[0; 8], b"", &mut buf, &tag[..12]),
            Err(CryptoError::InvalidLength(_))
        ));
    }
    assert!(p
        .aead(Encryption::new(EncrId::ENCR_AES_GCM_16, 192))
        .is_none());
}
