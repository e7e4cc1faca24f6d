//! A provider on aws-lc-rs (AWS-LC, the BoringSSL-derived library with FIPS-validated builds):
//! AES-GCM, ChaCha20-Poly1305, AES-CBC, HMAC-SHA1/SHA2 and X25519/P-256/P-384/P-521.
//!
//! | family | transforms |
//! |---|---|
//! | AEAD | ENCR_AES_GCM_16 (128, 256), ENCR_CHACHA20_POLY1305 |
//! | cipher | ENCR_AES_CBC (128, 192, 256), ENCR_NULL |
//! | integrity | AUTH_HMAC_SHA2_256_128, _384_192, _512_256, AUTH_HMAC_SHA1_96 |
//! | PRF | PRF_HMAC_SHA2_256, _384, _512, PRF_HMAC_SHA1 |
//! | key exchange | groups 31, 19, 20, 21 |
//! | signature | RSA PKCS#1 v1.5 (SHA-2; SHA-1 verification only) and PSS, ECDSA P-256/P-384/P-521, Ed25519 |
//!
//! aws-lc-rs has no 3DES (outside a legacy feature), no MD5 and no MODP groups; a
//! [`CryptoProvider`] that needs them takes them from another provider (see
//! [`crate::crypto::fastest_provider`]). Keys live in AWS-LC's structures, which it clears when
//! they are freed.
//!
//! Enabled by the `aws-lc-rs` feature. Building it compiles AWS-LC's C and assembly sources
//! with the system C compiler (no CMake, Go or NASM needed on Linux x86-64 and aarch64).

mod aead;
mod cipher;
mod hmac;
mod kx;
mod signature;

pub use aead::{AES_128_GCM_16, AES_256_GCM_16, CHACHA20_POLY1305};
pub use cipher::{AES_128_CBC, AES_192_CBC, AES_256_CBC};
pub use hmac::{
    HMAC_SHA1_96, HMAC_SHA2_256_128, HMAC_SHA2_384_192, HMAC_SHA2_512_256, PRF_HMAC_SHA1,
    PRF_HMAC_SHA2_256, PRF_HMAC_SHA2_384, PRF_HMAC_SHA2_512,
};
pub use kx::{CURVE25519, ECP_256, ECP_384, ECP_521};
pub use signature::{
    ECDSA_P256_SHA256, ECDSA_P384_SHA384, ECDSA_P521_SHA512, ED25519, RSA_PKCS1_SHA1,
    RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PKCS1_SHA512, RSA_PSS_SHA256, RSA_PSS_SHA384,
    RSA_PSS_SHA512,
};

use super::{
    AeadAlgorithm, CipherAlgorithm, CryptoError, CryptoProvider, IntegrityAlgorithm,
    KeyExchangeGroup, PrfAlgorithm, SecureRandom, SignatureAlgorithm,
};

/// Every AEAD of the aws-lc-rs provider.
pub static ALL_AEADS: &[&dyn AeadAlgorithm] = &[AES_128_GCM_16, AES_256_GCM_16, CHACHA20_POLY1305];

/// Every non-AEAD cipher of the aws-lc-rs provider.
pub static ALL_CIPHERS: &[&dyn CipherAlgorithm] =
    &[AES_128_CBC, AES_192_CBC, AES_256_CBC, super::null::NULL];

/// Every integrity algorithm of the aws-lc-rs provider.
pub static ALL_INTEGRITY: &[&dyn IntegrityAlgorithm] = &[
    HMAC_SHA2_256_128,
    HMAC_SHA2_384_192,
    HMAC_SHA2_512_256,
    HMAC_SHA1_96,
];

/// Every PRF of the aws-lc-rs provider.
pub static ALL_PRFS: &[&dyn PrfAlgorithm] = &[
    PRF_HMAC_SHA2_256,
    PRF_HMAC_SHA2_384,
    PRF_HMAC_SHA2_512,
    PRF_HMAC_SHA1,
];

/// Every key exchange group of the aws-lc-rs provider.
pub static ALL_KEY_EXCHANGES: &[&dyn KeyExchangeGroup] = &[CURVE25519, ECP_256, ECP_384, ECP_521];

/// Every signature scheme of the aws-lc-rs provider, in [`SignatureScheme::ALL`] order.
///
/// [`SignatureScheme::ALL`]: crate::crypto::SignatureScheme::ALL
pub static ALL_SIGNATURES: &[&dyn SignatureAlgorithm] = &[
    RSA_PSS_SHA256,
    RSA_PSS_SHA384,
    RSA_PSS_SHA512,
    RSA_PKCS1_SHA256,
    RSA_PKCS1_SHA384,
    RSA_PKCS1_SHA512,
    RSA_PKCS1_SHA1,
    ECDSA_P256_SHA256,
    ECDSA_P384_SHA384,
    ECDSA_P521_SHA512,
    ED25519,
];

/// AWS-LC's random source (its DRBG, seeded from the operating system).
#[derive(Debug, Default, Clone, Copy)]
pub struct AwsLcRandom;

impl SecureRandom for AwsLcRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        aws_lc_rs::rand::fill(buf).map_err(|_| CryptoError::RandomFailed)
    }
}

/// AWS-LC's random source as a `'static` value for a [`CryptoProvider`].
pub static RANDOM: AwsLcRandom = AwsLcRandom;

/// The aws-lc-rs provider: every algorithm above and AWS-LC's random source.
///
/// ```
/// # #[cfg(feature = "aws-lc-rs")] {
/// use ipsec_core::crypto::{aws_lc_rs, DhGroup, EncrId, Encryption};
///
/// let provider = aws_lc_rs::provider();
/// provider.consistency_check().unwrap();
/// assert!(provider.cipher(Encryption::new(EncrId::ENCR_AES_CBC, 192)).is_some());
/// assert!(provider.key_exchange(DhGroup::ECP_521).is_some());
/// # }
/// ```
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        aeads: ALL_AEADS,
        ciphers: ALL_CIPHERS,
        integrity: ALL_INTEGRITY,
        prfs: ALL_PRFS,
        key_exchanges: ALL_KEY_EXCHANGES,
        signatures: ALL_SIGNATURES,
        random: &RANDOM,
    }
}
