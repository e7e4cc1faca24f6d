//! HMAC integrity algorithms (RFC 4868, RFC 2404) and PRFs (RFC 4868, RFC 2104) on *ring*.
//!
//! *ring* has no MD5, so AUTH_HMAC_MD5_96 is not here. The ICV is the HMAC truncated to the
//! transform's length and compared in constant time.

use ::ring::hmac;

use crate::crypto::{
    constant_time_eq, CryptoError, IntegId, IntegrityAlgorithm, IntegrityKey, PrfAlgorithm, PrfId,
};

/// The HMAC over the concatenation of `data`.
fn mac(key: &hmac::Key, data: &[&[u8]]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    for piece in data {
        ctx.update(piece);
    }
    ctx.sign()
}

/// An HMAC truncated to `icv_len` octets.
struct Integrity {
    id: IntegId,
    name: &'static str,
    key_len: usize,
    icv_len: usize,
    algorithm: hmac::Algorithm,
}

impl core::fmt::Debug for Integrity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (ring)", self.name)
    }
}

impl IntegrityAlgorithm for Integrity {
    fn id(&self) -> IntegId {
        self.id
    }
    fn key_len(&self) -> usize {
        self.key_len
    }
    fn icv_len(&self) -> usize {
        self.icv_len
    }
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn IntegrityKey>, CryptoError> {
        // RFC 4868 section 2.1.1 and RFC 2404: the key is as long as the hash output.
        if key.len() != self.key_len {
            return Err(CryptoError::InvalidKeyLength {
                algorithm: self.name,
                expected: self.key_len,
                got: key.len(),
            });
        }
        Ok(Box::new(Keyed {
            key: hmac::Key::new(self.algorithm, key),
            icv_len: self.icv_len,
        }))
    }
}

struct Keyed {
    key: hmac::Key,
    icv_len: usize,
}

impl IntegrityKey for Keyed {
    /// Writes the truncated ICV; if `icv` has the wrong length, the common prefix is written and
    /// the rest zeroed (such an ICV never verifies).
    fn sign(&self, data: &[&[u8]], icv: &mut [u8]) {
        let tag = mac(&self.key, data);
        let full = tag.as_ref();
        let n = icv.len().min(self.icv_len).min(full.len());
        icv[..n].copy_from_slice(&full[..n]);
        icv[n..].fill(0);
    }

    fn verify(&self, data: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        if icv.len() != self.icv_len {
            return Err(CryptoError::InvalidLength("ICV has the wrong length"));
        }
        let tag = mac(&self.key, data);
        match tag.as_ref().get(..self.icv_len) {
            Some(expected) if constant_time_eq(expected, icv) => Ok(()),
            _ => Err(CryptoError::IntegrityCheckFailed),
        }
    }
}

impl Drop for Keyed {
    fn drop(&mut self) {
        // The key holds the inner and outer hash states after the padded key, which are as good
        // as the key, and *ring* does not clear them: overwrite them with those of an empty key.
        self.key = hmac::Key::new(self.key.algorithm(), &[]);
        core::hint::black_box(&self.key);
    }
}

/// AUTH_HMAC_SHA2_256_128 (RFC 4868), on *ring*.
pub static HMAC_SHA2_256_128: &dyn IntegrityAlgorithm = &Integrity {
    id: IntegId::AUTH_HMAC_SHA2_256_128,
    name: "HMAC-SHA2-256-128",
    key_len: 32,
    icv_len: 16,
    algorithm: hmac::HMAC_SHA256,
};

/// AUTH_HMAC_SHA2_384_192 (RFC 4868), on *ring*.
pub static HMAC_SHA2_384_192: &dyn IntegrityAlgorithm = &Integrity {
    id: IntegId::AUTH_HMAC_SHA2_384_192,
    name: "HMAC-SHA2-384-192",
    key_len: 48,
    icv_len: 24,
    algorithm: hmac::HMAC_SHA384,
};

/// AUTH_HMAC_SHA2_512_256 (RFC 4868), on *ring*.
pub static HMAC_SHA2_512_256: &dyn IntegrityAlgorithm = &Integrity {
    id: IntegId::AUTH_HMAC_SHA2_512_256,
    name: "HMAC-SHA2-512-256",
    key_len: 64,
    icv_len: 32,
    algorithm: hmac::HMAC_SHA512,
};

/// AUTH_HMAC_SHA1_96 (RFC 2404), on *ring*.
pub static HMAC_SHA1_96: &dyn IntegrityAlgorithm = &Integrity {
    id: IntegId::AUTH_HMAC_SHA1_96,
    name: "HMAC-SHA1-96",
    key_len: 20,
    icv_len: 12,
    algorithm: hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
};

/// An HMAC used as the IKEv2 PRF (RFC 7296 section 2.13).
struct Prf {
    id: PrfId,
    name: &'static str,
    algorithm: hmac::Algorithm,
}

impl core::fmt::Debug for Prf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (ring)", self.name)
    }
}

impl PrfAlgorithm for Prf {
    fn id(&self) -> PrfId {
        self.id
    }
    fn output_len(&self) -> usize {
        self.algorithm.digest_algorithm().output_len()
    }
    /// Writes the PRF output; if `out` has the wrong length, the common prefix is written and the
    /// rest zeroed.
    fn prf(&self, key: &[u8], data: &[&[u8]], out: &mut [u8]) {
        // Wrapped so that the keyed hash states are overwritten when the call ends.
        let keyed = Keyed {
            key: hmac::Key::new(self.algorithm, key),
            icv_len: 0,
        };
        let tag = mac(&keyed.key, data);
        let full = tag.as_ref();
        let n = out.len().min(full.len());
        out[..n].copy_from_slice(&full[..n]);
        out[n..].fill(0);
    }
}

/// PRF_HMAC_SHA2_256 (RFC 4868), on *ring*.
pub static PRF_HMAC_SHA2_256: &dyn PrfAlgorithm = &Prf {
    id: PrfId::PRF_HMAC_SHA2_256,
    name: "PRF-HMAC-SHA2-256",
    algorithm: hmac::HMAC_SHA256,
};

/// PRF_HMAC_SHA2_384 (RFC 4868), on *ring*.
pub static PRF_HMAC_SHA2_384: &dyn PrfAlgorithm = &Prf {
    id: PrfId::PRF_HMAC_SHA2_384,
    name: "PRF-HMAC-SHA2-384",
    algorithm: hmac::HMAC_SHA384,
};

/// PRF_HMAC_SHA2_512 (RFC 4868), on *ring*.
pub static PRF_HMAC_SHA2_512: &dyn PrfAlgorithm = &Prf {
    id: PrfId::PRF_HMAC_SHA2_512,
    name: "PRF-HMAC-SHA2-512",
    algorithm: hmac::HMAC_SHA512,
};

/// PRF_HMAC_SHA1 (RFC 2104), on *ring*.
pub static PRF_HMAC_SHA1: &dyn PrfAlgorithm = &Prf {
    id: PrfId::PRF_HMAC_SHA1,
    name: "PRF-HMAC-SHA1",
    algorithm: hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
};
