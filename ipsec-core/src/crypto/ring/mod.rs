//! A provider on *ring*: its AES-GCM and ChaCha20-Poly1305 (hand-tuned assembly, VAES and AVX2
//! where the CPU has them), HMAC-SHA1/SHA2 and X25519/P-256/P-384 key agreement.
//!
//! | family | transforms |
//! |---|---|
//! | AEAD | ENCR_AES_GCM_16 (128, 256), ENCR_CHACHA20_POLY1305 |
//! | cipher | ENCR_NULL |
//! | integrity | AUTH_HMAC_SHA2_256_128, _384_192, _512_256, AUTH_HMAC_SHA1_96 |
//! | PRF | PRF_HMAC_SHA2_256, _384, _512, PRF_HMAC_SHA1 |
//! | key exchange | groups 31, 19, 20 |
//! | signature | RSA PKCS#1 v1.5 (SHA-2; SHA-1 verification only) and PSS, ECDSA P-256/P-384, Ed25519 |
//!
//! *ring* has no CBC modes, no MD5, no P-521 and no MODP groups, and does not sign with RSA and
//! SHA-1; a [`CryptoProvider`] that needs
//! them takes them from another provider (see [`crate::crypto::fastest_provider`]). Key exchange
//! here cannot be seeded or given a private key (see [below](#key-exchange)).
//!
//! # Key exchange
//!
//! *ring* generates ephemeral private keys from the operating system and does not import them,
//! so `start` ignores its random source and `start_with_private` is unsupported; an exchange
//! completes once. *ring* does not clear agreement secrets from memory. Its AEAD and HMAC keys are
//! overwritten when dropped.
//!
//! Enabled by the `ring` feature.

mod aead;
mod hmac;
mod kx;
mod signature;

pub use aead::{AES_128_GCM_16, AES_256_GCM_16, CHACHA20_POLY1305};
pub use hmac::{
    HMAC_SHA1_96, HMAC_SHA2_256_128, HMAC_SHA2_384_192, HMAC_SHA2_512_256, PRF_HMAC_SHA1,
    PRF_HMAC_SHA2_256, PRF_HMAC_SHA2_384, PRF_HMAC_SHA2_512,
};
pub use kx::{CURVE25519, ECP_256, ECP_384};
pub use signature::{
    ECDSA_P256_SHA256, ECDSA_P384_SHA384, ED25519, RSA_PKCS1_SHA1, RSA_PKCS1_SHA256,
    RSA_PKCS1_SHA384, RSA_PKCS1_SHA512, RSA_PSS_SHA256, RSA_PSS_SHA384, RSA_PSS_SHA512,
};

use super::{
    AeadAlgorithm, CipherAlgorithm, CryptoError, CryptoProvider, IntegrityAlgorithm,
    KeyExchangeGroup, PrfAlgorithm, SecureRandom, SignatureAlgorithm,
};

/// Every AEAD of the *ring* provider.
pub static ALL_AEADS: &[&dyn AeadAlgorithm] = &[AES_128_GCM_16, AES_256_GCM_16, CHACHA20_POLY1305];

/// Every non-AEAD cipher of the *ring* provider: ENCR_NULL only.
pub static ALL_CIPHERS: &[&dyn CipherAlgorithm] = &[super::null::NULL];

/// Every integrity algorithm of the *ring* provider.
pub static ALL_INTEGRITY: &[&dyn IntegrityAlgorithm] = &[
    HMAC_SHA2_256_128,
    HMAC_SHA2_384_192,
    HMAC_SHA2_512_256,
    HMAC_SHA1_96,
];

/// Every PRF of the *ring* provider.
pub static ALL_PRFS: &[&dyn PrfAlgorithm] = &[
    PRF_HMAC_SHA2_256,
    PRF_HMAC_SHA2_384,
    PRF_HMAC_SHA2_512,
    PRF_HMAC_SHA1,
];

/// Every key exchange group of the *ring* provider.
pub static ALL_KEY_EXCHANGES: &[&dyn KeyExchangeGroup] = &[CURVE25519, ECP_256, ECP_384];

/// Every signature scheme of the *ring* provider, in [`SignatureScheme::ALL`] order.
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
    ED25519,
];

/// *ring*'s random source (the operating system's, through `getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct RingRandom;

impl SecureRandom for RingRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        ::ring::rand::SecureRandom::fill(&::ring::rand::SystemRandom::new(), buf)
            .map_err(|_| CryptoError::RandomFailed)
    }
}

/// *ring*'s random source as a `'static` value for a [`CryptoProvider`].
pub static RANDOM: RingRandom = RingRandom;

/// The *ring* provider: every algorithm above and *ring*'s random source.
///
/// ```
/// # #[cfg(feature = "ring")] {
/// use ipsec_core::crypto::{ring, EncrId, Encryption};
///
/// let provider = ring::provider();
/// provider.consistency_check().unwrap();
/// assert!(provider.aead(Encryption::new(EncrId::ENCR_AES_GCM_16, 256)).is_some());
/// assert!(provider.cipher(Encryption::new(EncrId::ENCR_AES_CBC, 128)).is_none());
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
