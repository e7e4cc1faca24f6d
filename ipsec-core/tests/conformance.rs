//! The conformance check on every provider compiled in, and on deliberately broken ones: each
//! kind of mistake a provider can make must show up in the report, against the broken algorithm
//! and nothing else.

use ipsec_core::crypto::default::{
    AES_128_CBC, AES_128_GCM_16, CURVE25519, ECDSA_P256_SHA256, HMAC_SHA2_256_128, MODP_2048,
    OS_RANDOM, PRF_HMAC_SHA2_256,
};
use ipsec_core::crypto::{
    builtin_providers, conformance, ActiveKeyExchange, AeadAlgorithm, AeadKey, CipherAlgorithm,
    CipherKey, CryptoError, CryptoProvider, DhGroup, Encryption, IntegId, IntegrityAlgorithm,
    IntegrityKey, KeyExchangeGroup, PrfAlgorithm, PrfId, PrivateKeyDer, SecretBytes, SecureRandom,
    SignatureAlgorithm, SignatureEncoding, SignatureScheme, SigningKey,
};

#[test]
fn every_builtin_provider_conforms() {
    let providers = builtin_providers();
    let names: Vec<_> = providers.iter().map(|(n, _)| *n).collect();
    // The test build enables every provider (see the dev-dependencies).
    assert_eq!(names, ["rust-crypto", "ring", "aws-lc-rs", "fastest"]);
    for (name, provider) in providers {
        let report = conformance::check(&provider);
        assert!(report.passed(), "{name}:\n{report}");
        let skipped: Vec<_> = report
            .skipped()
            .map(|c| format!("{}: {}", c.subject, c.suite))
            .collect();
        let mut expected = Vec::new();
        if name == "ring" {
            // *ring* cannot import private keys: the known answers that need them are skipped;
            // its key exchanges still face the invalid-point and agreement suites.
            expected.extend([
                "Curve25519 (ring): RFC 7748 sections 5.2 and 6.1".to_string(),
                "ECP-256 (ring): RFC 5903 section 8".to_string(),
                "ECP-384 (ring): RFC 5903 section 8".to_string(),
            ]);
        }
        for s in provider.signatures {
            // No known signatures exist for RSA-PSS (randomized) or for ECDSA on P-521 here.
            if matches!(
                s.scheme(),
                SignatureScheme::RsaPssSha256
                    | SignatureScheme::RsaPssSha384
                    | SignatureScheme::RsaPssSha512
                    | SignatureScheme::EcdsaP521Sha512
            ) {
                expected.push(format!("{s:?}: RFC 6979, RFC 8032"));
            }
            // *ring* and aws-lc-rs verify RSA with SHA-1 but do not sign with it.
            if s.scheme() == SignatureScheme::RsaPkcs1Sha1
                && name != "rust-crypto"
                && name != "fastest"
            {
                expected.push(format!("{s:?}: round trips"));
            }
        }
        assert_eq!(skipped, expected, "{name}:\n{report}");
        assert!(report.cases_passed() > 4000, "{name}:\n{report}");
    }
}

#[test]
fn the_mixed_provider_takes_each_algorithm_from_the_fastest_crate() {
    let (_, p) = builtin_providers()
        .into_iter()
        .find(|(n, _)| *n == "fastest")
        .unwrap();
    let from = |name: String| {
        if name.ends_with("(ring)") {
            "ring"
        } else if name.ends_with("(aws-lc-rs)") {
            "aws-lc-rs"
        } else {
            "rust-crypto"
        }
    };
    for a in p.aeads {
        assert_eq!(from(format!("{a:?}")), "ring", "{a:?}");
    }
    let cipher = |bits| {
        p.cipher(Encryption::new(
            ipsec_core::crypto::EncrId::ENCR_AES_CBC,
            bits,
        ))
    };
    assert_eq!(from(format!("{:?}", cipher(192).unwrap())), "aws-lc-rs");
    let des = p.cipher(Encryption::new(ipsec_core::crypto::EncrId::ENCR_3DES, 0));
    assert_eq!(from(format!("{:?}", des.unwrap())), "rust-crypto");
    let sha256 = p.integrity(IntegId::AUTH_HMAC_SHA2_256_128).unwrap();
    assert_eq!(from(format!("{sha256:?}")), "aws-lc-rs");
    let md5 = p.integrity(IntegId::AUTH_HMAC_MD5_96).unwrap();
    assert_eq!(from(format!("{md5:?}")), "rust-crypto");
    assert_eq!(
        from(format!("{:?}", p.prf(PrfId::PRF_HMAC_SHA2_256).unwrap())),
        "aws-lc-rs"
    );
    for (group, crate_) in [
        (DhGroup::CURVE25519, "aws-lc-rs"),
        (DhGroup::ECP_256, "aws-lc-rs"),
        (DhGroup::ECP_521, "aws-lc-rs"),
        (DhGroup::MODP_2048, "rust-crypto"),
        (DhGroup::MODP_1024, "rust-crypto"),
    ] {
        let g = p.key_exchange(group).unwrap();
        assert_eq!(from(format!("{g:?}")), crate_, "{group}");
    }
    for (scheme, crate_) in [
        // Only RustCrypto signs with RSA and SHA-1 (auth method 1).
        (SignatureScheme::RsaPkcs1Sha1, "rust-crypto"),
        (SignatureScheme::RsaPkcs1Sha256, "aws-lc-rs"),
        (SignatureScheme::RsaPssSha256, "aws-lc-rs"),
        (SignatureScheme::EcdsaP256Sha256, "aws-lc-rs"),
        (SignatureScheme::EcdsaP521Sha512, "aws-lc-rs"),
        (SignatureScheme::Ed25519, "aws-lc-rs"),
    ] {
        let s = p.signature(scheme).unwrap();
        assert_eq!(from(format!("{s:?}")), crate_, "{scheme}");
    }
    assert_eq!(p.signatures.len(), SignatureScheme::ALL.len());
    // Nothing any provider has is missing.
    for (_, other) in builtin_providers() {
        for a in other.aeads {
            assert!(p.aead(a.encryption()).is_some());
        }
        for c in other.ciphers {
            assert!(p.cipher(c.encryption()).is_some());
        }
        for k in other.key_exchanges {
            assert!(p.key_exchange(k.group()).is_some());
        }
    }
}

// ---- deliberately broken algorithms, each wrapping a correct one ----

/// Opens without checking the tag: the keystream is XORed back (sealing a CTR-mode ciphertext
/// decrypts it) and the tag is ignored.
#[derive(Debug)]
struct TagIgnoringAead;
struct TagIgnoringKey(Box<dyn AeadKey>);

/// Leaves the AAD out of the tag.
#[derive(Debug)]
struct AadIgnoringAead;
struct AadIgnoringKey(Box<dyn AeadKey>);

macro_rules! aead_params {
    () => {
        fn encryption(&self) -> Encryption {
            AES_128_GCM_16.encryption()
        }
        fn key_len(&self) -> usize {
            AES_128_GCM_16.key_len()
        }
        fn salt_len(&self) -> usize {
            AES_128_GCM_16.salt_len()
        }
        fn iv_len(&self) -> usize {
            AES_128_GCM_16.iv_len()
        }
        fn tag_len(&self) -> usize {
            AES_128_GCM_16.tag_len()
        }
    };
}

impl AeadAlgorithm for TagIgnoringAead {
    aead_params!();
    fn new_key(&self, keymat: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError> {
        Ok(Box::new(TagIgnoringKey(AES_128_GCM_16.new_key(keymat)?)))
    }
}

impl AeadKey for TagIgnoringKey {
    fn seal_in_place(
        &self,
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.0.seal_in_place(iv, aad, buf, tag)
    }
    fn open_in_place(
        &self,
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        let mut scratch = vec![0u8; tag.len()];
        self.0.seal_in_place(iv, aad, buf, &mut scratch)
    }
}

impl AeadAlgorithm for AadIgnoringAead {
    aead_params!();
    fn new_key(&self, keymat: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError> {
        Ok(Box::new(AadIgnoringKey(AES_128_GCM_16.new_key(keymat)?)))
    }
}

impl AeadKey for AadIgnoringKey {
    fn seal_in_place(
        &self,
        iv: &[u8],
        _aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.0.seal_in_place(iv, b"", buf, tag)
    }
    fn open_in_place(
        &self,
        iv: &[u8],
        _aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        self.0.open_in_place(iv, b"", buf, tag)
    }
}

/// CBC that ignores the IV it is given and chains from zeros.
#[derive(Debug)]
struct ZeroIvCbc;
struct ZeroIvKey(Box<dyn CipherKey>);

impl CipherAlgorithm for ZeroIvCbc {
    fn encryption(&self) -> Encryption {
        AES_128_CBC.encryption()
    }
    fn key_len(&self) -> usize {
        16
    }
    fn block_len(&self) -> usize {
        16
    }
    fn iv_len(&self) -> usize {
        16
    }
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn CipherKey>, CryptoError> {
        Ok(Box::new(ZeroIvKey(AES_128_CBC.new_key(key)?)))
    }
}

impl CipherKey for ZeroIvKey {
    fn encrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        self.0.encrypt_in_place(&vec![0; iv.len()], buf)
    }
    fn decrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        self.0.decrypt_in_place(&vec![0; iv.len()], buf)
    }
}

/// Verifies only the first octet of the ICV.
#[derive(Debug)]
struct FirstOctetMac;
struct FirstOctetKey(Box<dyn IntegrityKey>);

impl IntegrityAlgorithm for FirstOctetMac {
    fn id(&self) -> IntegId {
        IntegId::AUTH_HMAC_SHA2_256_128
    }
    fn key_len(&self) -> usize {
        32
    }
    fn icv_len(&self) -> usize {
        16
    }
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn IntegrityKey>, CryptoError> {
        Ok(Box::new(FirstOctetKey(HMAC_SHA2_256_128.new_key(key)?)))
    }
}

impl IntegrityKey for FirstOctetKey {
    fn sign(&self, data: &[&[u8]], icv: &mut [u8]) {
        self.0.sign(data, icv)
    }
    fn verify(&self, data: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        if icv.len() != 16 {
            return Err(CryptoError::InvalidLength("ICV"));
        }
        let mut ours = [0u8; 16];
        self.0.sign(data, &mut ours);
        if ours[0] == icv[0] {
            Ok(())
        } else {
            Err(CryptoError::IntegrityCheckFailed)
        }
    }
}

/// A PRF whose last output octet is always zero.
#[derive(Debug)]
struct ClippedPrf;

impl PrfAlgorithm for ClippedPrf {
    fn id(&self) -> PrfId {
        PrfId::PRF_HMAC_SHA2_256
    }
    fn output_len(&self) -> usize {
        32
    }
    fn prf(&self, key: &[u8], data: &[&[u8]], out: &mut [u8]) {
        PRF_HMAC_SHA2_256.prf(key, data, out);
        if let Some(last) = out.last_mut() {
            *last = 0;
        }
    }
}

/// A key exchange that turns "invalid peer value" into an all-zero shared secret, as an
/// implementation without the RFC 6989 / RFC 8031 checks would.
#[derive(Debug)]
struct Unchecked(&'static dyn KeyExchangeGroup);
struct UncheckedExchange(Box<dyn ActiveKeyExchange>);

impl KeyExchangeGroup for Unchecked {
    fn group(&self) -> DhGroup {
        self.0.group()
    }
    fn public_len(&self) -> usize {
        self.0.public_len()
    }
    fn start(&self, rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        Ok(Box::new(UncheckedExchange(self.0.start(rng)?)))
    }
    fn start_with_private(
        &self,
        private: &[u8],
    ) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        Ok(Box::new(UncheckedExchange(
            self.0.start_with_private(private)?,
        )))
    }
}

impl ActiveKeyExchange for UncheckedExchange {
    fn group(&self) -> DhGroup {
        self.0.group()
    }
    fn public_value(&self) -> &[u8] {
        self.0.public_value()
    }
    fn complete(&self, peer: &[u8]) -> Result<SecretBytes, CryptoError> {
        match self.0.complete(peer) {
            Err(CryptoError::InvalidPeerPublicKey(_)) => {
                Ok(SecretBytes::zeroed(self.0.public_value().len()))
            }
            other => other,
        }
    }
}

/// A random source stuck at zero.
#[derive(Debug)]
struct StuckRandom;

impl SecureRandom for StuckRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        buf.fill(0);
        Ok(())
    }
}

static TAG_IGNORING: TagIgnoringAead = TagIgnoringAead;
static AAD_IGNORING: AadIgnoringAead = AadIgnoringAead;
static ZERO_IV: ZeroIvCbc = ZeroIvCbc;
static FIRST_OCTET: FirstOctetMac = FirstOctetMac;
static CLIPPED: ClippedPrf = ClippedPrf;
static STUCK: StuckRandom = StuckRandom;

/// A small provider around one algorithm under test (the PRF and the key exchange are there to
/// make it a provider at all).
fn small() -> CryptoProvider {
    CryptoProvider {
        aeads: &[],
        ciphers: &[],
        integrity: &[],
        prfs: &[],
        key_exchanges: &[],
        signatures: &[],
        random: &OS_RANDOM,
    }
}

fn leak<T: ?Sized>(items: Vec<&'static T>) -> &'static [&'static T] {
    Box::leak(items.into_boxed_slice())
}

/// Runs the check and asserts that it failed, and only on `subject`.
fn assert_caught(provider: CryptoProvider, subject: &str) -> conformance::Report {
    let report = conformance::check(&provider);
    assert!(!report.passed(), "{subject} passed:\n{report}");
    for c in report.failures() {
        assert_eq!(c.subject, subject, "a correct algorithm failed:\n{report}");
        assert!(!c.messages.is_empty());
    }
    report
}

#[test]
fn a_tag_that_is_never_checked_is_caught() {
    let p = CryptoProvider {
        aeads: leak(vec![&TAG_IGNORING as &dyn AeadAlgorithm]),
        prfs: leak(vec![PRF_HMAC_SHA2_256]),
        key_exchanges: leak(vec![CURVE25519]),
        ..small()
    };
    let report = assert_caught(p, "TagIgnoringAead");
    // Known answers still pass (sealing is right); the forgeries and tampering are what fail.
    let failed: Vec<_> = report.failures().map(|c| c.suite).collect();
    assert!(failed.contains(&"Wycheproof aes_gcm_test"), "{report}");
    assert!(failed.contains(&"properties"), "{report}");
    assert!(!failed.contains(&"NIST CAVP gcmEncryptExtIV"), "{report}");
}

#[test]
fn an_aad_left_out_of_the_tag_is_caught() {
    let p = CryptoProvider {
        aeads: leak(vec![&AAD_IGNORING as &dyn AeadAlgorithm]),
        prfs: leak(vec![PRF_HMAC_SHA2_256]),
        key_exchanges: leak(vec![CURVE25519]),
        ..small()
    };
    let report = assert_caught(p, "AadIgnoringAead");
    assert!(
        report
            .failures()
            .any(|c| c.suite == "NIST CAVP gcmEncryptExtIV"),
        "{report}"
    );
}

#[test]
fn an_ignored_cbc_iv_is_caught() {
    let p = CryptoProvider {
        ciphers: leak(vec![&ZERO_IV as &dyn CipherAlgorithm]),
        prfs: leak(vec![PRF_HMAC_SHA2_256]),
        key_exchanges: leak(vec![CURVE25519]),
        ..small()
    };
    let report = assert_caught(p, "ZeroIvCbc");
    assert!(
        report
            .failures()
            .any(|c| c.suite == "RFC 3602, SP 800-38A F.2"),
        "{report}"
    );
}

#[test]
fn an_icv_compared_on_one_octet_is_caught() {
    let p = CryptoProvider {
        integrity: leak(vec![&FIRST_OCTET as &dyn IntegrityAlgorithm]),
        prfs: leak(vec![PRF_HMAC_SHA2_256]),
        key_exchanges: leak(vec![CURVE25519]),
        ..small()
    };
    let report = assert_caught(p, "FirstOctetMac");
    // Its ICVs are right; only tampering beyond the first octet gets through.
    let failed: Vec<_> = report.failures().map(|c| c.suite).collect();
    assert_eq!(failed, ["properties"], "{report}");
}

#[test]
fn a_wrong_prf_output_is_caught() {
    let p = CryptoProvider {
        prfs: leak(vec![&CLIPPED as &dyn PrfAlgorithm]),
        key_exchanges: leak(vec![CURVE25519]),
        ..small()
    };
    assert_caught(p, "ClippedPrf");
}

#[test]
fn small_order_x25519_points_accepted_are_caught() {
    let lax: &'static dyn KeyExchangeGroup = Box::leak(Box::new(Unchecked(CURVE25519)));
    let p = CryptoProvider {
        prfs: leak(vec![PRF_HMAC_SHA2_256]),
        key_exchanges: leak(vec![lax]),
        ..small()
    };
    let report = assert_caught(p, "Unchecked(Curve25519)");
    assert!(
        report
            .failures()
            .any(|c| c.suite == "Wycheproof x25519_test"),
        "{report}"
    );
}

#[test]
fn modp_values_outside_1_to_p_minus_1_accepted_are_caught() {
    let lax: &'static dyn KeyExchangeGroup = Box::leak(Box::new(Unchecked(MODP_2048)));
    let p = CryptoProvider {
        prfs: leak(vec![PRF_HMAC_SHA2_256]),
        key_exchanges: leak(vec![lax]),
        ..small()
    };
    let report = assert_caught(p, "Unchecked(MODP-2048)");
    let c = report.failures().next().unwrap();
    // 0, 1, p - 1, p, 2^n - 1 and the two wrong lengths.
    assert_eq!(c.failed, 7, "{report}");
}

#[test]
fn a_stuck_random_source_is_caught() {
    let p = CryptoProvider {
        prfs: leak(vec![PRF_HMAC_SHA2_256]),
        key_exchanges: leak(vec![CURVE25519]),
        random: &STUCK,
        ..small()
    };
    let report = conformance::check(&p);
    assert!(!report.passed());
    assert!(
        report.failures().any(|c| c.subject == "provider"),
        "{report}"
    );
    // Two exchanges from a stuck source share a public value.
    assert!(
        report.failures().any(|c| c.suite == "agreement"),
        "{report}"
    );
}

#[test]
fn the_report_reads_as_a_table() {
    let report = conformance::check(&CryptoProvider {
        aeads: leak(vec![&TAG_IGNORING as &dyn AeadAlgorithm, AES_128_GCM_16]),
        prfs: leak(vec![PRF_HMAC_SHA2_256]),
        key_exchanges: leak(vec![CURVE25519]),
        ..small()
    });
    let text = report.to_string();
    assert!(text.starts_with("conformance: "), "{text}");
    assert!(
        text.contains("  ok    AES-128-GCM-16: NIST CAVP gcmEncryptExtIV: 20 cases"),
        "{text}"
    );
    assert!(
        text.contains("  FAIL  TagIgnoringAead: Wycheproof aes_gcm_test: "),
        "{text}"
    );
    // A duplicate transform makes the provider inconsistent, and the report says so.
    assert!(report.failures().any(|c| c.subject == "provider"), "{text}");
}

/// ECDSA that checks a signature's shape and never its value.
#[derive(Debug)]
struct ShapeOnlyEcdsa;

impl SignatureAlgorithm for ShapeOnlyEcdsa {
    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::EcdsaP256Sha256
    }
    fn verify(
        &self,
        public_key: &[u8],
        _message: &[u8],
        signature: &[u8],
        encoding: SignatureEncoding,
    ) -> Result<(), CryptoError> {
        let shaped = match encoding {
            SignatureEncoding::Der => signature.first() == Some(&0x30),
            SignatureEncoding::P1363 => signature.len() == 64,
        };
        if public_key.len() == 65 && shaped {
            Ok(())
        } else {
            Err(CryptoError::SignatureInvalid)
        }
    }
    fn signing_key(&self, key: &PrivateKeyDer) -> Result<Box<dyn SigningKey>, CryptoError> {
        ECDSA_P256_SHA256.signing_key(key)
    }
}

static SHAPE_ONLY: ShapeOnlyEcdsa = ShapeOnlyEcdsa;

#[test]
fn a_signature_checked_for_shape_only_is_caught() {
    let p = CryptoProvider {
        prfs: leak(vec![PRF_HMAC_SHA2_256]),
        key_exchanges: leak(vec![CURVE25519]),
        signatures: leak(vec![&SHAPE_ONLY as &dyn SignatureAlgorithm]),
        ..small()
    };
    let report = assert_caught(p, "ShapeOnlyEcdsa");
    let failed: Vec<_> = report.failures().map(|c| c.suite).collect();
    assert_eq!(
        failed,
        [
            "Wycheproof ecdsa_secp256r1_sha256 (DER)",
            "Wycheproof ecdsa_secp256r1_sha256 (P1363)",
            "round trips",
            "key loading"
        ],
        "{report}"
    );
}
