//! What the RustCrypto provider's signature schemes promise beyond the conformance check (which
//! runs the Wycheproof, RFC 6979 and RFC 8032 suites on every provider, see `conformance.rs`):
//! exact errors for refused keys, randomized schemes failing with the random source, and
//! deterministic ECDSA (RFC 6979) signatures byte for byte.

mod kat_common;

use ipsec_core::crypto::{
    default_provider, CryptoError, PrivateKeyDer, SecretBytes, SecureRandom, SignatureAlgorithm,
    SignatureEncoding, SignatureScheme,
};
use kat_common::load;

fn scheme(s: SignatureScheme) -> &'static dyn SignatureAlgorithm {
    default_provider()
        .signature(s)
        .expect("default provider has every scheme")
}

/// RFC 6979 (P-256, P-384) and RFC 8032 (Ed25519) signatures, exactly.
#[test]
fn deterministic_signatures() {
    let records = load("signature_deterministic.txt");
    assert_eq!(records.len(), 7);
    for r in records {
        let s = SignatureScheme::ALL
            .into_iter()
            .find(|s| format!("{s:?}") == r.get("scheme"))
            .unwrap();
        let key = scheme(s)
            .signing_key(&PrivateKeyDer::Pkcs8(SecretBytes::from_slice(
                &r.hex("private"),
            )))
            .unwrap();
        assert_eq!(key.public_key(), &r.hex("public")[..], "{}", r.label());
        let msg = r.hex("msg");
        let raw = key
            .sign(&msg, SignatureEncoding::P1363, default_provider().random)
            .unwrap();
        assert_eq!(raw, r.hex("sig"), "{}", r.label());
        let der = key
            .sign(&msg, SignatureEncoding::Der, default_provider().random)
            .unwrap();
        scheme(s)
            .verify(&r.hex("public"), &msg, &der, SignatureEncoding::Der)
            .unwrap();
        scheme(s)
            .verify(&r.hex("public"), &msg, &raw, SignatureEncoding::P1363)
            .unwrap();
    }
}

/// The key of each scheme for round trips: Wycheproof's 2048-bit RSA key, the RFC 6979 and
/// RFC 8032 keys, and a generated P-521 key.
fn key_for(s: SignatureScheme) -> PrivateKeyDer {
    let pick = |file: &str, field: &str, pred: &dyn Fn(&kat_common::Record) -> bool| {
        load(file)
            .into_iter()
            .find(|r| pred(r))
            .map(|r| SecretBytes::from_slice(&r.hex(field)))
            .unwrap()
    };
    match s.key_type() {
        ipsec_core::crypto::KeyType::Rsa => PrivateKeyDer::Pkcs8(pick(
            "wycheproof_sig_rsa_pkcs1_2048_sig_gen.txt",
            "private",
            &|r| r.opt("private").is_some(),
        )),
        ipsec_core::crypto::KeyType::EcdsaP521 => {
            PrivateKeyDer::Sec1(pick("signature_keys.txt", "sec1", &|r| {
                r.get("case") == "P-521"
            }))
        }
        _ => PrivateKeyDer::Pkcs8(pick("signature_deterministic.txt", "private", &|r| {
            r.get("scheme") == format!("{s:?}")
        })),
    }
}

#[test]
fn keys_of_the_wrong_type_or_size_are_refused() {
    let keys = load("signature_keys.txt");
    let field = |case: &str, f: &str| {
        keys.iter()
            .find(|r| r.get("case").starts_with(case))
            .map(|r| SecretBytes::from_slice(&r.hex(f)))
            .unwrap()
    };
    let p256 = PrivateKeyDer::Sec1(field("P-256", "sec1"));
    let rsa1024 = PrivateKeyDer::Pkcs1(field("RSA 1024", "pkcs1"));
    let rsa1024_public = keys
        .iter()
        .find(|r| r.get("case").starts_with("RSA"))
        .unwrap()
        .hex("public");
    // An EC key for RSA, Ed25519 and another curve; an RSA key for ECDSA.
    for s in [
        SignatureScheme::RsaPssSha256,
        SignatureScheme::Ed25519,
        SignatureScheme::EcdsaP384Sha384,
    ] {
        assert!(
            matches!(
                scheme(s).signing_key(&p256),
                Err(CryptoError::InvalidKey(_))
            ),
            "{s}"
        );
    }
    assert!(matches!(
        scheme(SignatureScheme::EcdsaP256Sha256).signing_key(&rsa1024),
        Err(CryptoError::InvalidKey(_))
    ));
    // RSA below 2048 bits: neither signing nor verifying (RFC 8247 section 3.2).
    assert_eq!(
        scheme(SignatureScheme::RsaPkcs1Sha256)
            .signing_key(&rsa1024)
            .unwrap_err(),
        CryptoError::InvalidKey("RSA modulus outside 2048-8192 bits")
    );
    assert!(matches!(
        scheme(SignatureScheme::RsaPkcs1Sha256).verify(
            &rsa1024_public,
            b"m",
            &[0; 128],
            SignatureEncoding::Der
        ),
        Err(CryptoError::InvalidKey(_))
    ));
    // The same P-256 key as PKCS#8 and SEC1 loads to the same public key.
    let a = scheme(SignatureScheme::EcdsaP256Sha256)
        .signing_key(&p256)
        .unwrap();
    let b = scheme(SignatureScheme::EcdsaP256Sha256)
        .signing_key(&PrivateKeyDer::Pkcs8(field("P-256", "pkcs8")))
        .unwrap();
    assert_eq!(a.public_key(), b.public_key());
    assert_eq!(a.public_key(), &keys[1].hex("public")[..]);
    // Garbage never panics.
    for s in SignatureScheme::ALL {
        for junk in [
            PrivateKeyDer::Pkcs8(SecretBytes::from_slice(&[0x30, 0x03, 0x02, 0x01, 0x00])),
            PrivateKeyDer::Pkcs1(SecretBytes::from_slice(&[0x30, 0x00])),
            PrivateKeyDer::Sec1(SecretBytes::from_slice(&[])),
        ] {
            assert!(scheme(s).signing_key(&junk).is_err());
        }
        assert!(scheme(s)
            .verify(&[], b"", &[], SignatureEncoding::Der)
            .is_err());
        assert!(scheme(s)
            .verify(&[0x04; 65], b"", &[0x30, 0x00], SignatureEncoding::P1363)
            .is_err());
    }
}

#[derive(Debug)]
struct BrokenRandom;
impl SecureRandom for BrokenRandom {
    fn fill(&self, _: &mut [u8]) -> Result<(), CryptoError> {
        Err(CryptoError::RandomFailed)
    }
}

#[test]
fn a_failing_random_source_fails_randomized_signatures() {
    for s in [
        SignatureScheme::RsaPssSha256,
        SignatureScheme::RsaPkcs1Sha256,
        SignatureScheme::EcdsaP521Sha512,
    ] {
        let key = scheme(s).signing_key(&key_for(s)).unwrap();
        assert_eq!(
            key.sign(b"m", SignatureEncoding::Der, &BrokenRandom),
            Err(CryptoError::RandomFailed),
            "{s}"
        );
    }
    // Deterministic schemes need no randomness.
    for s in [SignatureScheme::EcdsaP256Sha256, SignatureScheme::Ed25519] {
        let key = scheme(s).signing_key(&key_for(s)).unwrap();
        assert!(
            key.sign(b"m", SignatureEncoding::Der, &BrokenRandom)
                .is_ok(),
            "{s}"
        );
    }
}

#[test]
fn signing_key_debug_is_redacted() {
    for s in SignatureScheme::ALL {
        let pk = key_for(s);
        let key = scheme(s).signing_key(&pk).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("redacted"), "{shown}");
        assert!(
            !shown.contains(&hex_of(&pk.expose()[pk.expose().len() - 8..])),
            "{shown}"
        );
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
