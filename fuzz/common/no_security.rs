//! The no-security provider of the endpoint targets: the AEAD of `ipsec_core::crypto::no_security`
//! (the identity cipher with an all-zero tag, announced as ENCR_AES_GCM_16-128) with, added here,
//! a PRF whose output is all zeros and a key exchange that agrees on a zero secret with any
//! 32-byte public value. Every key is then zero and every AUTH payload the same whatever the
//! pre-shared key, so whole IKE exchanges written by the fuzzer authenticate (rustls' fuzzing
//! provider is the model). Never use these outside fuzzing.

// Each target uses the parts it needs.
#![allow(dead_code)]

use ipsec_core::crypto::no_security::ZERO_TAG_AEAD;
use ipsec_core::crypto::{
    ActiveKeyExchange, AeadAlgorithm, CryptoError, CryptoProvider, DhGroup, KeyExchangeGroup,
    PrfAlgorithm, PrfId, SecretBytes, SecureRandom,
};

/// The constant "PRF" (announced as PRF_HMAC_SHA2_256): every output is 32 zero bytes. Keys
/// derived with it are all zeros and so is every AUTH payload, whatever the pre-shared key,
/// so the fuzzer can write IKE_AUTH and later exchanges that authenticate.
#[derive(Debug)]
pub struct ZeroPrf;

impl PrfAlgorithm for ZeroPrf {
    fn id(&self) -> PrfId {
        PrfId::PRF_HMAC_SHA2_256
    }
    fn output_len(&self) -> usize {
        32
    }
    fn prf(&self, _key: &[u8], _data: &[&[u8]], out: &mut [u8]) {
        out.fill(0);
    }
}

/// The "key exchange" (announced as Curve25519, group 31): the public value is 32 bytes from
/// the random source, any 32-byte peer value is accepted and the shared secret is 32 zero
/// bytes. Other lengths are refused, as a real group refuses them.
#[derive(Debug)]
pub struct ZeroKeyExchange;

struct ZeroKeyExchangeActive {
    public: [u8; 32],
}

impl KeyExchangeGroup for ZeroKeyExchange {
    fn group(&self) -> DhGroup {
        DhGroup::CURVE25519
    }
    fn public_len(&self) -> usize {
        32
    }
    fn start(&self, rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        let mut public = [0u8; 32];
        rng.fill(&mut public)?;
        Ok(Box::new(ZeroKeyExchangeActive { public }))
    }
    fn start_with_private(
        &self,
        private: &[u8],
    ) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        let public = private
            .try_into()
            .map_err(|_| CryptoError::InvalidLength("private value of 32 bytes"))?;
        Ok(Box::new(ZeroKeyExchangeActive { public }))
    }
}

impl ActiveKeyExchange for ZeroKeyExchangeActive {
    fn group(&self) -> DhGroup {
        DhGroup::CURVE25519
    }
    fn public_value(&self) -> &[u8] {
        &self.public
    }
    fn complete(&self, peer_public: &[u8]) -> Result<SecretBytes, CryptoError> {
        if peer_public.len() != 32 {
            return Err(CryptoError::InvalidPeerPublicKey(DhGroup::CURVE25519));
        }
        Ok(SecretBytes::from_slice(&[0; 32]))
    }
}

static PROVIDER_AEADS: [&dyn AeadAlgorithm; 1] = [&ZERO_TAG_AEAD];
static PROVIDER_PRFS: [&dyn PrfAlgorithm; 1] = [&ZeroPrf];
static PROVIDER_KES: [&dyn KeyExchangeGroup; 1] = [&ZeroKeyExchange];

/// A provider of the no-security algorithms: the zero-tag AEAD (IKE and ESP as
/// AES-GCM-16-128), the constant PRF and the zero key exchange (Curve25519), with `random`
/// (give endpoints a seeded source of their own for reproducible runs).
pub fn provider(random: &'static dyn SecureRandom) -> CryptoProvider {
    CryptoProvider {
        aeads: &PROVIDER_AEADS,
        ciphers: &[],
        integrity: &[],
        prfs: &PROVIDER_PRFS,
        key_exchanges: &PROVIDER_KES,
        signatures: &[],
        random,
    }
}
