//! The default crypto provider, on RustCrypto crates.
//!
//! Every algorithm is a `static` object behind a `&'static dyn` trait reference, exported here so
//! that a custom [`CryptoProvider`] can reuse some of them. [`default_provider`] bundles them all
//! with the operating system's random source.
//!
//! | family | transforms |
//! |---|---|
//! | AEAD | ENCR_AES_GCM_16 (128, 256), ENCR_CHACHA20_POLY1305 |
//! | cipher | ENCR_AES_CBC (128, 192, 256), ENCR_3DES, ENCR_NULL |
//! | integrity | AUTH_HMAC_SHA2_256_128, _384_192, _512_256, AUTH_HMAC_SHA1_96, AUTH_HMAC_MD5_96 |
//! | PRF | PRF_HMAC_SHA2_256, _384, _512, PRF_HMAC_SHA1 |
//! | key exchange | groups 31, 19, 20, 21, 14, 15, 16, 5, 2 |
//! | signature | RSA PKCS#1 v1.5 (SHA-1, SHA-256/384/512), RSA-PSS (SHA-256/384/512), ECDSA P-256/SHA-256, P-384/SHA-384, P-521/SHA-512, Ed25519 |
//!
//! RSA signing has a timing side channel (RUSTSEC-2023-0071); see [`signature`] before using RSA
//! certificates with this provider.

mod aead;
mod cipher;
mod curve25519;
mod ecp;
mod hmac;
mod modp;
mod modp_primes;
mod montgomery;
pub mod signature;

pub use super::null::NULL;
pub use super::random::{OsRandom, SeededRandom, OS_RANDOM};
pub use aead::{AES_128_GCM_16, AES_256_GCM_16, CHACHA20_POLY1305};
pub use cipher::{AES_128_CBC, AES_192_CBC, AES_256_CBC, TRIPLE_DES_CBC};
pub use curve25519::CURVE25519;
pub use ecp::{ECP_256, ECP_384, ECP_521};
pub use hmac::{
    HMAC_MD5_96, HMAC_SHA1_96, HMAC_SHA2_256_128, HMAC_SHA2_384_192, HMAC_SHA2_512_256,
    PRF_HMAC_SHA1, PRF_HMAC_SHA2_256, PRF_HMAC_SHA2_384, PRF_HMAC_SHA2_512,
};
pub use modp::{MODP_1024, MODP_1536, MODP_2048, MODP_3072, MODP_4096};
pub use signature::{
    ECDSA_P256_SHA256, ECDSA_P384_SHA384, ECDSA_P521_SHA512, ED25519, RSA_PKCS1_SHA1,
    RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PKCS1_SHA512, RSA_PSS_SHA256, RSA_PSS_SHA384,
    RSA_PSS_SHA512,
};

use super::{
    AeadAlgorithm, CipherAlgorithm, CryptoProvider, IntegrityAlgorithm, KeyExchangeGroup,
    PrfAlgorithm, SignatureAlgorithm,
};

/// Every AEAD of the default provider.
pub static ALL_AEADS: &[&dyn AeadAlgorithm] = &[AES_128_GCM_16, AES_256_GCM_16, CHACHA20_POLY1305];

/// Every non-AEAD cipher of the default provider.
pub static ALL_CIPHERS: &[&dyn CipherAlgorithm] =
    &[AES_128_CBC, AES_192_CBC, AES_256_CBC, TRIPLE_DES_CBC, NULL];

/// Every integrity algorithm of the default provider.
pub static ALL_INTEGRITY: &[&dyn IntegrityAlgorithm] = &[
    HMAC_SHA2_256_128,
    HMAC_SHA2_384_192,
    HMAC_SHA2_512_256,
    HMAC_SHA1_96,
    HMAC_MD5_96,
];

/// Every PRF of the default provider.
pub static ALL_PRFS: &[&dyn PrfAlgorithm] = &[
    PRF_HMAC_SHA2_256,
    PRF_HMAC_SHA2_384,
    PRF_HMAC_SHA2_512,
    PRF_HMAC_SHA1,
];

/// Every key exchange group of the default provider.
pub static ALL_KEY_EXCHANGES: &[&dyn KeyExchangeGroup] = &[
    CURVE25519, ECP_256, ECP_384, ECP_521, MODP_2048, MODP_3072, MODP_4096, MODP_1536, MODP_1024,
];

/// Every signature scheme of the default provider, in [`crate::crypto::SignatureScheme::ALL`]
/// order.
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

/// The default provider: every algorithm above and the operating system's random source.
///
/// For reproducible tests, pass a [`SeededRandom`] to [`KeyExchangeGroup::start`] directly, or
/// build a deterministic provider from this one (the `random` field must be `'static`):
///
/// ```
/// use ipsec_core::crypto::{default::SeededRandom, default_provider, CryptoProvider, DhGroup};
///
/// let rng: &'static SeededRandom = Box::leak(Box::new(SeededRandom::new([7; 32])));
/// let provider = CryptoProvider { random: rng, ..default_provider() };
/// provider.consistency_check().unwrap();
/// let x25519 = provider.key_exchange(DhGroup::CURVE25519).unwrap();
/// let ours = x25519.start(provider.random).unwrap();
/// assert_eq!(ours.public_value().len(), 32);
/// ```
pub fn default_provider() -> CryptoProvider {
    CryptoProvider {
        aeads: ALL_AEADS,
        ciphers: ALL_CIPHERS,
        integrity: ALL_INTEGRITY,
        prfs: ALL_PRFS,
        key_exchanges: ALL_KEY_EXCHANGES,
        signatures: ALL_SIGNATURES,
        random: &OS_RANDOM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{CryptoError, DhGroup, SecureRandom};

    #[test]
    fn default_provider_is_consistent_and_complete() {
        let p = default_provider();
        assert_eq!(p.consistency_check(), Ok(()));
        for g in [2u16, 5, 14, 15, 16, 19, 20, 21, 31] {
            assert!(p.key_exchange(DhGroup(g)).is_some(), "group {g}");
        }
        assert!(p.key_exchange(DhGroup::CURVE448).is_none());
        assert!(
            p.prf(crate::crypto::PrfId::PRF_HMAC_MD5).is_none(),
            "RFC 8247: MUST NOT"
        );
    }

    #[test]
    fn every_aead_round_trips_and_rejects_a_flipped_bit() {
        for aead in ALL_AEADS {
            let keymat = vec![0x42; aead.keymat_len()];
            let key = aead.new_key(&keymat).unwrap();
            let iv = [7u8; 8];
            let mut buf = *b"attack at dawn!!";
            let mut tag = [0u8; 16];
            key.seal_in_place(&iv, b"hdr", &mut buf, &mut tag).unwrap();
            assert_ne!(&buf, b"attack at dawn!!", "{aead:?}");
            let mut copy = buf;
            key.open_in_place(&iv, b"hdr", &mut copy, &tag).unwrap();
            assert_eq!(&copy, b"attack at dawn!!");
            let mut copy = buf;
            assert_eq!(
                key.open_in_place(&iv, b"hdX", &mut copy, &tag),
                Err(CryptoError::IntegrityCheckFailed)
            );
            assert!(matches!(
                aead.new_key(&keymat[1..]),
                Err(CryptoError::InvalidKeyLength { .. })
            ));
            assert!(key
                .seal_in_place(&iv[1..], b"", &mut buf, &mut tag)
                .is_err());
            assert!(key
                .seal_in_place(&iv, b"", &mut buf, &mut tag[1..])
                .is_err());
        }
    }

    #[test]
    fn every_cipher_round_trips_and_checks_lengths() {
        for c in ALL_CIPHERS {
            let key = c.new_key(&vec![0x11; c.key_len()]).unwrap();
            let iv = vec![0x22; c.iv_len()];
            let mut buf = [0x33u8; 32];
            key.encrypt_in_place(&iv, &mut buf).unwrap();
            key.decrypt_in_place(&iv, &mut buf).unwrap();
            assert_eq!(buf, [0x33u8; 32], "{c:?}");
            assert!(c.new_key(&vec![0x11; c.key_len() + 1]).is_err());
            if c.block_len() > 1 {
                assert!(key.encrypt_in_place(&iv, &mut buf[..31]).is_err());
                assert!(key.decrypt_in_place(&iv[1..], &mut buf).is_err());
            }
        }
    }

    #[test]
    fn every_group_agrees_with_itself() {
        let rng = SeededRandom::new([9; 32]);
        for g in ALL_KEY_EXCHANGES {
            let a = g.start(&rng).unwrap();
            let b = g.start(&rng).unwrap();
            assert_eq!(a.public_value().len(), g.public_len(), "{g:?}");
            let s1 = a.complete(b.public_value()).unwrap();
            let s2 = b.complete(a.public_value()).unwrap();
            assert_eq!(s1, s2, "{g:?}");
            assert!(a.complete(&b.public_value()[1..]).is_err());
        }
    }

    #[test]
    fn seeded_random_is_deterministic() {
        let (a, b, c) = (
            SeededRandom::new([1; 32]),
            SeededRandom::new([1; 32]),
            SeededRandom::new([2; 32]),
        );
        let (mut x, mut y, mut z) = ([0u8; 40], [0u8; 40], [0u8; 40]);
        a.fill(&mut x).unwrap();
        b.fill(&mut y).unwrap();
        c.fill(&mut z).unwrap();
        assert_eq!(x, y);
        assert_ne!(x, z);
        let mut next = [0u8; 40];
        a.fill(&mut next).unwrap();
        assert_ne!(x, next);
        let mut os = [0u8; 32];
        OS_RANDOM.fill(&mut os).unwrap();
        assert_ne!(os, [0u8; 32]);
    }
}
