//! Signature suites: Wycheproof verification, known signatures, round trips and key loading.

use super::vectors::{self, Record};
use super::{outcome, Check, Report};
use crate::crypto::{
    CryptoError, CryptoProvider, KeyType, PrivateKeyDer, SecretBytes, SignatureAlgorithm,
    SignatureEncoding, SignatureScheme, SigningKey,
};

use SignatureEncoding::{Der, P1363};

/// A Wycheproof verification file: suite name, text, encoding of its signatures.
type VerifyFile = (&'static str, &'static str, SignatureEncoding);

/// The Wycheproof verification files for `scheme`.
fn wycheproof_files(scheme: SignatureScheme) -> Vec<VerifyFile> {
    use vectors as v;
    use SignatureScheme as S;
    match scheme {
        S::RsaPkcs1Sha256 => vec![
            (
                "Wycheproof rsa_signature_2048_sha256",
                v::SIG_RSA_2048_SHA256,
                Der,
            ),
            (
                "Wycheproof rsa_signature_3072_sha256",
                v::SIG_RSA_3072_SHA256,
                Der,
            ),
        ],
        S::RsaPkcs1Sha384 => vec![(
            "Wycheproof rsa_signature_2048_sha384",
            v::SIG_RSA_2048_SHA384,
            Der,
        )],
        S::RsaPkcs1Sha512 => vec![(
            "Wycheproof rsa_signature_2048_sha512",
            v::SIG_RSA_2048_SHA512,
            Der,
        )],
        S::RsaPssSha256 => vec![(
            "Wycheproof rsa_pss_2048_sha256_mgf1_32",
            v::SIG_PSS_2048_SHA256,
            Der,
        )],
        S::RsaPssSha384 => vec![(
            "Wycheproof rsa_pss_2048_sha384_mgf1_48",
            v::SIG_PSS_2048_SHA384,
            Der,
        )],
        S::RsaPssSha512 => vec![(
            "Wycheproof rsa_pss_4096_sha512_mgf1_64",
            v::SIG_PSS_4096_SHA512,
            Der,
        )],
        S::EcdsaP256Sha256 => vec![
            (
                "Wycheproof ecdsa_secp256r1_sha256 (DER)",
                v::SIG_ECDSA_P256_DER,
                Der,
            ),
            (
                "Wycheproof ecdsa_secp256r1_sha256 (P1363)",
                v::SIG_ECDSA_P256_P1363,
                P1363,
            ),
        ],
        S::EcdsaP384Sha384 => vec![
            (
                "Wycheproof ecdsa_secp384r1_sha384 (DER)",
                v::SIG_ECDSA_P384_DER,
                Der,
            ),
            (
                "Wycheproof ecdsa_secp384r1_sha384 (P1363)",
                v::SIG_ECDSA_P384_P1363,
                P1363,
            ),
        ],
        S::EcdsaP521Sha512 => vec![
            (
                "Wycheproof ecdsa_secp521r1_sha512 (DER)",
                v::SIG_ECDSA_P521_DER,
                Der,
            ),
            (
                "Wycheproof ecdsa_secp521r1_sha512 (P1363)",
                v::SIG_ECDSA_P521_P1363,
                P1363,
            ),
        ],
        S::Ed25519 => vec![("Wycheproof ed25519", v::SIG_ED25519, Der)],
        _ => Vec::new(),
    }
}

pub(super) fn check(
    alg: &'static dyn SignatureAlgorithm,
    provider: &CryptoProvider,
    report: &mut Report,
) {
    let scheme = alg.scheme();
    for (suite, text, encoding) in wycheproof_files(scheme) {
        report.push(wycheproof(alg, suite, text, encoding));
    }
    report.push(known_signatures(alg, provider));
    report.push(round_trips(alg, provider));
    report.push(key_loading(alg));
}

/// A Wycheproof verification file: "valid" cases verify, "invalid" ones do not ("acceptable"
/// legacy forms may go either way). A record without `tcId` sets the public key.
fn wycheproof(
    alg: &'static dyn SignatureAlgorithm,
    suite: &'static str,
    text: &'static str,
    encoding: SignatureEncoding,
) -> Check {
    let mut c = Check::new(alg, suite);
    let mut key = Vec::new();
    for r in vectors::records(text) {
        if r.get("tcId").is_none() {
            key = r.hex("key").unwrap_or_default();
            continue;
        }
        let (Some(msg), Some(sig)) = (r.hex("msg"), r.hex("sig")) else {
            continue;
        };
        let got = alg.verify(&key, &msg, &sig, encoding);
        match r.get("result") {
            Some("valid") => c.expect(got.is_ok(), || {
                format!("{}: valid signature, {}", r.label(), outcome(&got))
            }),
            Some("invalid") => c.expect(got.is_err(), || {
                format!(
                    "{}: invalid signature ({}) accepted",
                    r.label(),
                    r.get("flags").unwrap_or("")
                )
            }),
            _ => {}
        }
    }
    c
}

/// Signatures with a known value: RSA PKCS#1 v1.5 (deterministic, Wycheproof signature
/// generation) and Ed25519 (RFC 8032) must come out byte for byte; ECDSA (RFC 6979) signatures
/// must verify, and the provider's own must verify in both encodings, but a provider may draw
/// its nonces at random and sign differently.
fn known_signatures(alg: &'static dyn SignatureAlgorithm, provider: &CryptoProvider) -> Check {
    let scheme = alg.scheme();
    let rsa_hash = match scheme {
        SignatureScheme::RsaPkcs1Sha1 => Some("SHA-1"),
        SignatureScheme::RsaPkcs1Sha256 => Some("SHA-256"),
        SignatureScheme::RsaPkcs1Sha384 => Some("SHA-384"),
        SignatureScheme::RsaPkcs1Sha512 => Some("SHA-512"),
        _ => None,
    };
    if let Some(hash) = rsa_hash {
        return rsa_signature_generation(alg, hash, provider);
    }
    let mut c = Check::new(alg, "RFC 6979, RFC 8032");
    let records: Vec<Record> = vectors::records(vectors::SIG_DETERMINISTIC)
        .into_iter()
        .filter(|r| r.get("scheme") == Some(format!("{scheme:?}").as_str()))
        .collect();
    if records.is_empty() {
        return c.skip("no known signatures for this scheme");
    }
    let exact = scheme == SignatureScheme::Ed25519;
    for r in records {
        let (Some(private), Some(public), Some(msg), Some(expected)) = (
            r.hex("private"),
            r.hex("public"),
            r.hex("msg"),
            r.hex("sig"),
        ) else {
            continue;
        };
        let got = alg.verify(&public, &msg, &expected, P1363);
        c.expect(got.is_ok(), || {
            format!("{}: known signature, {}", r.label(), outcome(&got))
        });
        let key = match alg.signing_key(&PrivateKeyDer::Pkcs8(SecretBytes::new(private))) {
            Ok(k) => k,
            Err(CryptoError::Unsupported(_)) => continue,
            Err(e) => {
                c.fail(format!("{}: the key does not load: {e:?}", r.label()));
                continue;
            }
        };
        c.expect(key.public_key() == public, || {
            format!("{}: wrong public key", r.label())
        });
        for encoding in [P1363, Der] {
            match key.sign(&msg, encoding, provider.random) {
                Ok(sig) => {
                    if exact {
                        c.expect(sig == expected, || {
                            format!("{}: signature differs from RFC 8032's", r.label())
                        });
                    }
                    let got = alg.verify(&public, &msg, &sig, encoding);
                    c.expect(got.is_ok(), || {
                        format!(
                            "{}: own {encoding:?} signature, {}",
                            r.label(),
                            outcome(&got)
                        )
                    });
                }
                Err(e) => c.fail(format!("{}: signing failed: {e:?}", r.label())),
            }
        }
    }
    c
}

/// Wycheproof's RSA PKCS#1 v1.5 signature generation records for one hash.
fn rsa_signature_generation(
    alg: &'static dyn SignatureAlgorithm,
    hash: &str,
    provider: &CryptoProvider,
) -> Check {
    let mut c = Check::new(alg, "Wycheproof rsa_sig_gen_misc");
    let mut signs = true;
    for text in [vectors::SIG_RSA_2048_SIG_GEN, vectors::SIG_RSA_3072_SIG_GEN] {
        let mut group: Option<(Vec<u8>, Vec<u8>)> = None;
        let mut key: Option<Box<dyn SigningKey>> = None;
        for r in vectors::records(text) {
            if r.get("tcId").is_none() {
                group = None;
                key = None;
                if r.get("sha") == Some(hash) {
                    if let (Some(public), Some(private)) = (r.hex("key"), r.hex("private")) {
                        group = Some((public, private));
                    }
                }
                continue;
            }
            let Some((public, private)) = &group else {
                continue;
            };
            let (Some(msg), Some(expected)) = (r.hex("msg"), r.hex("sig")) else {
                continue;
            };
            let got = alg.verify(public, &msg, &expected, Der);
            c.expect(got.is_ok(), || {
                format!("{}: known signature, {}", r.label(), outcome(&got))
            });
            if !signs {
                continue;
            }
            if key.is_none() {
                let der = PrivateKeyDer::Pkcs8(SecretBytes::from_slice(private));
                match alg.signing_key(&der) {
                    Ok(k) => {
                        c.expect(k.public_key() == &public[..], || {
                            format!("{}: wrong public key", r.label())
                        });
                        key = Some(k);
                    }
                    Err(CryptoError::Unsupported(_)) => {
                        signs = false;
                        continue;
                    }
                    // Wycheproof marks keys some libraries refuse (a public exponent of 3) as
                    // "acceptable": refusing them is allowed, signing wrongly with them is not.
                    Err(_) if r.get("result") == Some("acceptable") => continue,
                    Err(e) => {
                        c.fail(format!("{}: the key does not load: {e:?}", r.label()));
                        continue;
                    }
                }
            }
            if let Some(k) = &key {
                let sig = k.sign(&msg, Der, provider.random);
                c.expect(sig.as_ref() == Ok(&expected), || {
                    format!("{}: signature {}", r.label(), outcome(&sig))
                });
            }
        }
    }
    if c.passed + c.failed == 0 {
        return c.skip("no known signatures for this hash");
    }
    c
}

/// A private key of the scheme's type from the vector files.
fn test_key(scheme: SignatureScheme) -> Option<PrivateKeyDer> {
    let find = |text: &'static str, field: &str, pred: &dyn Fn(&Record) -> bool| {
        vectors::records(text)
            .into_iter()
            .find(|r| pred(r))
            .and_then(|r| r.hex(field))
            .map(SecretBytes::new)
    };
    Some(match scheme.key_type() {
        KeyType::Rsa => {
            PrivateKeyDer::Pkcs8(find(vectors::SIG_RSA_2048_SIG_GEN, "private", &|r| {
                r.get("private").is_some()
            })?)
        }
        KeyType::EcdsaP521 => PrivateKeyDer::Sec1(find(vectors::SIG_KEYS, "sec1", &|r| {
            r.get("case") == Some("P-521")
        })?),
        _ => PrivateKeyDer::Pkcs8(find(vectors::SIG_DETERMINISTIC, "private", &|r| {
            r.get("scheme") == Some(format!("{scheme:?}").as_str())
        })?),
    })
}

/// Sign and verify in both encodings; another message, a flipped or missing octet, a truncated
/// public key and the other ECDSA encoding are refused; the key never prints.
fn round_trips(alg: &'static dyn SignatureAlgorithm, provider: &CryptoProvider) -> Check {
    let mut c = Check::new(alg, "round trips");
    let scheme = alg.scheme();
    let Some(private) = test_key(scheme) else {
        return c.skip("no test key for this scheme");
    };
    let key = match alg.signing_key(&private) {
        Ok(k) => k,
        Err(CryptoError::Unsupported(_)) => {
            return c.skip("the provider verifies but does not sign with this scheme")
        }
        Err(e) => {
            c.fail(format!("the test key does not load: {e:?}"));
            return c;
        }
    };
    c.expect(key.scheme() == scheme, || {
        format!("the key signs with {}", key.scheme())
    });
    let secret = private.expose();
    let tail: String = secret[secret.len().saturating_sub(8)..]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let shown = format!("{key:?}");
    c.expect(!shown.contains(&tail), || {
        format!("Debug shows the private key: {shown}")
    });
    let public = key.public_key().to_vec();
    let msg = b"IKE_SA_INIT | Nr | prf(SK_pi, IDi')";
    let ecdsa = matches!(
        scheme.key_type(),
        KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521
    );
    for (encoding, other) in [(Der, P1363), (P1363, Der)] {
        let sig = match key.sign(msg, encoding, provider.random) {
            Ok(s) if !s.is_empty() => s,
            got => {
                c.fail(format!("{encoding:?}: signing gave {}", outcome(&got)));
                continue;
            }
        };
        let ok = alg.verify(&public, msg, &sig, encoding);
        c.expect(ok.is_ok(), || format!("{encoding:?}: {}", outcome(&ok)));
        let refused = |c: &mut Check, got: Result<(), CryptoError>, what: &str| {
            c.expect(got.is_err(), || format!("{encoding:?}: {what} verified"));
        };
        refused(
            &mut c,
            alg.verify(&public, b"another message", &sig, encoding),
            "another message",
        );
        let mut flipped = sig.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        refused(
            &mut c,
            alg.verify(&public, msg, &flipped, encoding),
            "a flipped bit",
        );
        refused(
            &mut c,
            alg.verify(&public, msg, &sig[..last], encoding),
            "a truncated signature",
        );
        refused(
            &mut c,
            alg.verify(&public[1..], msg, &sig, encoding),
            "a truncated public key",
        );
        if ecdsa {
            refused(
                &mut c,
                alg.verify(&public, msg, &sig, other),
                "the signature read in the other encoding",
            );
        }
    }
    c
}

/// Keys of another type or of an RSA size below 2048 bits are refused; garbage is an error.
fn key_loading(alg: &'static dyn SignatureAlgorithm) -> Check {
    let mut c = Check::new(alg, "key loading");
    let keys = vectors::records(vectors::SIG_KEYS);
    let field = |case: &str, f: &str| {
        keys.iter()
            .find(|r| r.get("case").is_some_and(|k| k.starts_with(case)))
            .and_then(|r| r.hex(f))
            .map(SecretBytes::new)
    };
    let scheme = alg.scheme();
    let (Some(p256_sec1), Some(p256_pkcs8), Some(rsa1024), Some(rsa1024_public)) = (
        field("P-256", "sec1"),
        field("P-256", "pkcs8"),
        field("RSA 1024", "pkcs1"),
        field("RSA 1024", "public"),
    ) else {
        c.fail("the key file is incomplete".to_string());
        return c;
    };
    let p256 = PrivateKeyDer::Sec1(p256_sec1);
    let wrong: Vec<PrivateKeyDer> = match scheme.key_type() {
        KeyType::Rsa => vec![p256],
        KeyType::EcdsaP256 => vec![PrivateKeyDer::Pkcs1(rsa1024.clone())],
        _ => vec![p256, PrivateKeyDer::Pkcs1(rsa1024.clone())],
    };
    for k in &wrong {
        let got = alg.signing_key(k);
        c.expect(got.is_err(), || format!("a {k:?} of another type loaded"));
    }
    if scheme.key_type() == KeyType::Rsa {
        let got = alg.signing_key(&PrivateKeyDer::Pkcs1(rsa1024));
        c.expect(got.is_err(), || "a 1024-bit RSA key loaded".to_string());
        let got = alg.verify(rsa1024_public.expose(), b"m", &[1; 128], Der);
        c.expect(got.is_err(), || "a 1024-bit RSA key verified".to_string());
    }
    if scheme == SignatureScheme::EcdsaP256Sha256 {
        // The same key as SEC1 and as PKCS#8.
        let a = alg.signing_key(&PrivateKeyDer::Sec1(
            field("P-256", "sec1").unwrap_or_default(),
        ));
        let b = alg.signing_key(&PrivateKeyDer::Pkcs8(p256_pkcs8));
        let public = field("P-256", "public").unwrap_or_default();
        match (a, b) {
            (Ok(a), Ok(b)) => {
                c.expect(a.public_key() == public.expose(), || {
                    "the SEC1 key has the wrong public key".to_string()
                });
                c.expect(b.public_key() == public.expose(), || {
                    "the PKCS#8 key has the wrong public key".to_string()
                });
            }
            (a, b) => c.fail(format!(
                "P-256 key as SEC1: {}, as PKCS#8: {}",
                outcome(&a),
                outcome(&b)
            )),
        }
    }
    for junk in [
        PrivateKeyDer::Pkcs8(SecretBytes::from_slice(&[0x30, 0x03, 0x02, 0x01, 0x00])),
        PrivateKeyDer::Pkcs1(SecretBytes::from_slice(&[0x30, 0x00])),
        PrivateKeyDer::Sec1(SecretBytes::from_slice(&[])),
    ] {
        let got = alg.signing_key(&junk);
        c.expect(got.is_err(), || format!("{junk:?} of junk loaded"));
    }
    for (public, sig) in [(&[][..], &[][..]), (&[0x04; 65][..], &[0x30, 0x00][..])] {
        for encoding in [Der, P1363] {
            let got = alg.verify(public, b"", sig, encoding);
            c.expect(got.is_err(), || {
                "a junk key and signature verified".to_string()
            });
        }
    }
    c
}
