//! Signature schemes of the default provider: Project Wycheproof verification suites (RSA PKCS#1
//! v1.5 and PSS, ECDSA in DER and IEEE P1363 forms, Ed25519), Wycheproof RSA PKCS#1 v1.5
//! signature generation, RFC 6979 and RFC 8032 deterministic signatures, and round trips.

mod kat_common;

use ipsec_core::crypto::default::ALL_SIGNATURES;
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

/// Runs one converted Wycheproof verification file: a record without `tcId` sets the public key,
/// each following record is a test case. Returns (valid, invalid) counts checked.
fn wycheproof(file: &str, s: SignatureScheme, encoding: SignatureEncoding) -> (usize, usize) {
    let alg = scheme(s);
    let mut key = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    let mut failures = Vec::new();
    for r in load(file) {
        if r.opt("tcId").is_none() {
            key = r.hex("key");
            continue;
        }
        let got = alg.verify(&key, &r.hex("msg"), &r.hex("sig"), encoding);
        match r.get("result") {
            "valid" => {
                valid += 1;
                if let Err(e) = got {
                    failures.push(format!("tcId {} valid, got {e}", r.label()));
                }
            }
            "invalid" => {
                invalid += 1;
                if got.is_ok() {
                    failures.push(format!(
                        "tcId {} invalid, verified ({})",
                        r.label(),
                        r.get("flags")
                    ));
                }
            }
            // "acceptable": legacy forms either way; nothing to assert.
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{file}: {failures:#?}");
    (valid, invalid)
}

#[test]
fn wycheproof_rsa_pkcs1_verify() {
    for (file, s) in [
        (
            "wycheproof_sig_rsa_pkcs1_2048_sha256.txt",
            SignatureScheme::RsaPkcs1Sha256,
        ),
        (
            "wycheproof_sig_rsa_pkcs1_2048_sha384.txt",
            SignatureScheme::RsaPkcs1Sha384,
        ),
        (
            "wycheproof_sig_rsa_pkcs1_2048_sha512.txt",
            SignatureScheme::RsaPkcs1Sha512,
        ),
        (
            "wycheproof_sig_rsa_pkcs1_3072_sha256.txt",
            SignatureScheme::RsaPkcs1Sha256,
        ),
    ] {
        let (valid, invalid) = wycheproof(file, s, SignatureEncoding::Der);
        assert!(
            valid >= 5 && invalid >= 100,
            "{file}: {valid} valid, {invalid} invalid"
        );
    }
}

#[test]
fn wycheproof_rsa_pss_verify() {
    for (file, s) in [
        (
            "wycheproof_sig_rsa_pss_2048_sha256.txt",
            SignatureScheme::RsaPssSha256,
        ),
        (
            "wycheproof_sig_rsa_pss_2048_sha384.txt",
            SignatureScheme::RsaPssSha384,
        ),
        (
            "wycheproof_sig_rsa_pss_4096_sha512.txt",
            SignatureScheme::RsaPssSha512,
        ),
    ] {
        let (valid, invalid) = wycheproof(file, s, SignatureEncoding::Der);
        assert!(
            valid >= 50 && invalid >= 30,
            "{file}: {valid} valid, {invalid} invalid"
        );
    }
}

fn wycheproof_ecdsa(curve: &str, s: SignatureScheme) {
    for (form, e) in [
        ("der", SignatureEncoding::Der),
        ("p1363", SignatureEncoding::P1363),
    ] {
        let file = format!("wycheproof_sig_ecdsa_{curve}_{form}.txt");
        let (valid, invalid) = wycheproof(&file, s, e);
        assert!(
            valid >= 100 && invalid >= 50,
            "{file}: {valid} valid, {invalid} invalid"
        );
    }
}

#[test]
fn wycheproof_ecdsa_p256_verify_der_and_p1363() {
    wycheproof_ecdsa("p256_sha256", SignatureScheme::EcdsaP256Sha256);
}

#[test]
fn wycheproof_ecdsa_p384_verify_der_and_p1363() {
    wycheproof_ecdsa("p384_sha384", SignatureScheme::EcdsaP384Sha384);
}

#[test]
fn wycheproof_ecdsa_p521_verify_der_and_p1363() {
    wycheproof_ecdsa("p521_sha512", SignatureScheme::EcdsaP521Sha512);
}

#[test]
fn wycheproof_ed25519_verify() {
    let (valid, invalid) = wycheproof(
        "wycheproof_sig_ed25519.txt",
        SignatureScheme::Ed25519,
        SignatureEncoding::Der,
    );
    assert!(
        valid >= 80 && invalid >= 60,
        "{valid} valid, {invalid} invalid"
    );
}

/// PKCS#1 v1.5 is deterministic: signing Wycheproof's messages with its private keys must give
/// its signatures byte for byte, and they must verify.
#[test]
fn wycheproof_rsa_pkcs1_sign() {
    let mut checked = 0;
    for file in [
        "wycheproof_sig_rsa_pkcs1_2048_sig_gen.txt",
        "wycheproof_sig_rsa_pkcs1_3072_sig_gen.txt",
    ] {
        let mut group: Option<(Vec<u8>, Option<SignatureScheme>, Vec<u8>)> = None;
        for r in load(file) {
            if r.opt("tcId").is_none() {
                let s = match r.get("sha") {
                    "SHA-1" => Some(SignatureScheme::RsaPkcs1Sha1),
                    "SHA-256" => Some(SignatureScheme::RsaPkcs1Sha256),
                    "SHA-384" => Some(SignatureScheme::RsaPkcs1Sha384),
                    "SHA-512" => Some(SignatureScheme::RsaPkcs1Sha512),
                    _ => None,
                };
                group = Some((r.hex("key"), s, r.hex("private")));
                continue;
            }
            let Some((public, Some(s), private)) = &group else {
                continue;
            };
            let key = scheme(*s)
                .signing_key(&PrivateKeyDer::Pkcs8(SecretBytes::from_slice(private)))
                .unwrap();
            assert_eq!(key.public_key(), &public[..], "{file} tcId {}", r.label());
            let sig = key
                .sign(
                    &r.hex("msg"),
                    SignatureEncoding::Der,
                    default_provider().random,
                )
                .unwrap();
            assert_eq!(sig, r.hex("sig"), "{file} tcId {}", r.label());
            scheme(*s)
                .verify(public, &r.hex("msg"), &sig, SignatureEncoding::Der)
                .unwrap();
            checked += 1;
        }
    }
    assert!(checked >= 50, "{checked}");
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
fn every_scheme_round_trips_and_rejects_tampering() {
    let provider = default_provider();
    assert_eq!(provider.signatures.len(), SignatureScheme::ALL.len());
    for alg in ALL_SIGNATURES {
        let s = alg.scheme();
        let key = alg
            .signing_key(&key_for(s))
            .unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(key.scheme(), s);
        for enc in [SignatureEncoding::Der, SignatureEncoding::P1363] {
            let msg = b"IKE_SA_INIT | Nr | prf(SK_pi, IDi')";
            let sig = key.sign(msg, enc, provider.random).unwrap();
            alg.verify(key.public_key(), msg, &sig, enc)
                .unwrap_or_else(|e| panic!("{s} {enc:?}: {e}"));
            assert_eq!(
                alg.verify(key.public_key(), b"another message", &sig, enc),
                Err(CryptoError::SignatureInvalid),
                "{s}"
            );
            let mut flipped = sig.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            assert!(
                alg.verify(key.public_key(), msg, &flipped, enc).is_err(),
                "{s}"
            );
            assert!(
                alg.verify(key.public_key(), msg, &sig[..sig.len() - 1], enc)
                    .is_err(),
                "{s}"
            );
            assert!(
                alg.verify(&key.public_key()[1..], msg, &sig, enc).is_err(),
                "{s}"
            );
        }
    }
}

#[test]
fn ecdsa_encodings_are_not_interchangeable() {
    let alg = scheme(SignatureScheme::EcdsaP256Sha256);
    let key = alg
        .signing_key(&key_for(SignatureScheme::EcdsaP256Sha256))
        .unwrap();
    let der = key
        .sign(b"m", SignatureEncoding::Der, default_provider().random)
        .unwrap();
    let raw = key
        .sign(b"m", SignatureEncoding::P1363, default_provider().random)
        .unwrap();
    assert_eq!(raw.len(), 64);
    assert_eq!(der[0], 0x30);
    assert!(alg
        .verify(key.public_key(), b"m", &der, SignatureEncoding::P1363)
        .is_err());
    assert!(alg
        .verify(key.public_key(), b"m", &raw, SignatureEncoding::Der)
        .is_err());
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
