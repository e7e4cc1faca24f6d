//! Known answers for the CBC ciphers: ENCR_AES_CBC (RFC 3602 section 4, NIST SP 800-38A F.2) and
//! ENCR_3DES (OpenSSL's three-key CBC vector), plus ENCR_NULL's identity behaviour.

mod kat_common;

use ipsec_core::crypto::default::{AES_128_CBC, AES_192_CBC, AES_256_CBC, NULL, TRIPLE_DES_CBC};
use ipsec_core::crypto::{default_provider, CipherAlgorithm, CryptoError, EncrId, Encryption};
use kat_common::load;

fn cipher_for(name: &str, key_len: usize) -> &'static dyn CipherAlgorithm {
    match (name, key_len) {
        ("aes", 16) => AES_128_CBC,
        ("aes", 24) => AES_192_CBC,
        ("aes", 32) => AES_256_CBC,
        ("3des", 24) => TRIPLE_DES_CBC,
        other => panic!("no cipher for {other:?}"),
    }
}

#[test]
fn cbc_known_answers() {
    let records = load("cbc.txt");
    let mut seen = std::collections::BTreeSet::new();
    for r in &records {
        let key = r.hex("key");
        let c = cipher_for(r.get("cipher"), key.len());
        seen.insert(format!("{c:?}"));
        let k = c.new_key(&key).unwrap();
        let (iv, pt, ct) = (r.hex("iv"), r.hex("plaintext"), r.hex("ciphertext"));
        assert_eq!(iv.len(), c.iv_len(), "{}", r.label());
        let mut buf = pt.clone();
        k.encrypt_in_place(&iv, &mut buf).unwrap();
        assert_eq!(buf, ct, "{}: encrypt", r.label());
        k.decrypt_in_place(&iv, &mut buf).unwrap();
        assert_eq!(buf, pt, "{}: decrypt", r.label());
        // CBC chains: decrypting from the second block on with the first ciphertext block as IV
        // gives the rest of the plaintext.
        let b = c.block_len();
        if ct.len() > b {
            let mut tail = ct[b..].to_vec();
            k.decrypt_in_place(&ct[..b], &mut tail).unwrap();
            assert_eq!(tail, pt[b..], "{}: chaining", r.label());
        }
    }
    assert_eq!(
        seen.len(),
        4,
        "every CBC cipher has a known answer: {seen:?}"
    );
}

#[test]
fn cbc_rejects_partial_blocks_bad_ivs_and_bad_keys() {
    for c in [AES_128_CBC, AES_192_CBC, AES_256_CBC, TRIPLE_DES_CBC] {
        let k = c.new_key(&vec![7; c.key_len()]).unwrap();
        let iv = vec![0; c.iv_len()];
        let mut buf = vec![0u8; 3 * c.block_len()];
        for bad in [1, c.block_len() - 1, c.block_len() + 1] {
            assert!(matches!(
                k.encrypt_in_place(&iv, &mut buf[..bad]),
                Err(CryptoError::InvalidLength(_))
            ));
            assert!(matches!(
                k.decrypt_in_place(&iv, &mut buf[..bad]),
                Err(CryptoError::InvalidLength(_))
            ));
        }
        assert!(k.encrypt_in_place(&iv[1..], &mut buf).is_err());
        assert!(k.decrypt_in_place(&[], &mut buf).is_err());
        assert!(matches!(
            c.new_key(&vec![7; c.key_len() - 1]),
            Err(CryptoError::InvalidKeyLength { .. })
        ));
    }
}

#[test]
fn null_cipher_is_the_identity_and_takes_no_key_or_iv() {
    let p = default_provider();
    let null = p.cipher(Encryption::new(EncrId::ENCR_NULL, 0)).unwrap();
    assert_eq!((null.key_len(), null.block_len(), null.iv_len()), (0, 1, 0));
    let k = NULL.new_key(&[]).unwrap();
    let mut buf = *b"plain text stays";
    k.encrypt_in_place(&[], &mut buf).unwrap();
    assert_eq!(&buf, b"plain text stays");
    k.decrypt_in_place(&[], &mut buf).unwrap();
    assert_eq!(&buf, b"plain text stays");
    assert!(k.encrypt_in_place(&[0; 8], &mut buf).is_err());
    assert!(NULL.new_key(&[1]).is_err());
}

#[test]
fn provider_maps_key_length_attributes() {
    let p = default_provider();
    for (bits, len) in [(128, 16), (192, 24), (256, 32)] {
        let c = p
            .cipher(Encryption::new(EncrId::ENCR_AES_CBC, bits))
            .unwrap();
        assert_eq!((c.key_len(), c.block_len(), c.iv_len()), (len, 16, 16));
    }
    let des = p.cipher(Encryption::new(EncrId::ENCR_3DES, 0)).unwrap();
    assert_eq!((des.key_len(), des.block_len(), des.iv_len()), (24, 8, 8));
    assert!(p
        .cipher(Encryption::new(EncrId::ENCR_AES_CBC, 512))
        .is_none());
}
