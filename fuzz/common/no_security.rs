//! A no-security crypto provider's algorithms, shared by the fuzz targets: they let the fuzzer past
//! authentication so that it reaches the parsers and checks behind it (rustls' fuzzing provider is
//! the model). Never use these outside fuzzing.
//!
//! The AEAD is the identity cipher (announced as ENCR_AES_GCM_16-128, 16-byte key, 4-byte salt,
//! 8-byte IV) that seals with an all-zero tag; the MAC (announced as AUTH_HMAC_SHA2_256_128) signs
//! with an all-zero ICV and accepts only that.

// Each target uses the parts it needs.
#![allow(dead_code)]

use ipsec_core::crypto::{
    AeadAlgorithm, AeadKey, CryptoError, EncrId, Encryption, IntegId, IntegrityAlgorithm,
    IntegrityKey,
};

/// The identity "AEAD". With `require_zero_tag`, open accepts only an all-zero tag (so a mutated
/// tag is still rejected); without it, every tag passes.
#[derive(Debug)]
pub struct NoSecurityAead {
    require_zero_tag: bool,
}

/// Opens only packets whose tag is all zeros.
pub static ZERO_TAG_AEAD: NoSecurityAead = NoSecurityAead {
    require_zero_tag: true,
};
/// Opens everything.
pub static ANY_TAG_AEAD: NoSecurityAead = NoSecurityAead {
    require_zero_tag: false,
};

struct NoSecurityAeadKey {
    require_zero_tag: bool,
}

impl AeadAlgorithm for NoSecurityAead {
    fn encryption(&self) -> Encryption {
        Encryption::new(EncrId::ENCR_AES_GCM_16, 128)
    }
    fn key_len(&self) -> usize {
        16
    }
    fn salt_len(&self) -> usize {
        4
    }
    fn iv_len(&self) -> usize {
        8
    }
    fn tag_len(&self) -> usize {
        16
    }
    fn new_key(&self, _keymat: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError> {
        Ok(Box::new(NoSecurityAeadKey {
            require_zero_tag: self.require_zero_tag,
        }))
    }
}

impl AeadKey for NoSecurityAeadKey {
    fn seal_in_place(
        &self,
        _iv: &[u8],
        _aad: &[u8],
        _buf: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        tag.fill(0);
        Ok(())
    }
    fn open_in_place(
        &self,
        _iv: &[u8],
        _aad: &[u8],
        _buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        if !self.require_zero_tag || tag.iter().all(|b| *b == 0) {
            Ok(())
        } else {
            Err(CryptoError::IntegrityCheckFailed)
        }
    }
}

/// The all-zero-ICV "MAC".
#[derive(Debug)]
pub struct ZeroIcvMac;

struct ZeroIcvMacKey;

impl IntegrityAlgorithm for ZeroIcvMac {
    fn id(&self) -> IntegId {
        IntegId::AUTH_HMAC_SHA2_256_128
    }
    fn key_len(&self) -> usize {
        32
    }
    fn icv_len(&self) -> usize {
        16
    }
    fn new_key(&self, _key: &[u8]) -> Result<Box<dyn IntegrityKey>, CryptoError> {
        Ok(Box::new(ZeroIcvMacKey))
    }
}

impl IntegrityKey for ZeroIcvMacKey {
    fn sign(&self, _data: &[&[u8]], icv: &mut [u8]) {
        icv.fill(0);
    }
    fn verify(&self, _data: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        if icv.iter().all(|b| *b == 0) {
            Ok(())
        } else {
            Err(CryptoError::IntegrityCheckFailed)
        }
    }
}
