//! HMAC integrity algorithms (RFC 4868, RFC 2404, RFC 2403) and PRFs (RFC 4868, RFC 2104).
//!
//! The key object keeps the raw key in zeroizing memory and keys a fresh HMAC per call: the
//! precomputed inner/outer hash states of the `hmac` crate are key-equivalent secrets that it does
//! not zeroize, so they live only on the stack for the duration of one call.

use hmac::digest::core_api::BlockSizeUser;
use hmac::digest::{Digest, FixedOutputReset};
use hmac::{Mac, SimpleHmac};

use crate::crypto::{
    constant_time_eq, CryptoError, IntegId, IntegrityAlgorithm, IntegrityKey, PrfAlgorithm, PrfId,
    SecretBytes,
};

/// The longest HMAC output we compute (SHA-512).
const MAX_OUT: usize = 64;

/// Computes the full HMAC of the concatenation of `data` into `out`, returning its length.
type MacFn = fn(key: &[u8], data: &[&[u8]], out: &mut [u8; MAX_OUT]) -> usize;

fn hmac<D>(key: &[u8], data: &[&[u8]], out: &mut [u8; MAX_OUT]) -> usize
where
    D: Digest + BlockSizeUser + FixedOutputReset + Clone,
{
    // HMAC accepts keys of any length (RFC 2104 section 2), so keying cannot fail.
    let Ok(mut mac) = <SimpleHmac<D> as Mac>::new_from_slice(key) else {
        return 0;
    };
    for piece in data {
        mac.update(piece);
    }
    let full = mac.finalize().into_bytes();
    let n = full.len().min(MAX_OUT);
    out[..n].copy_from_slice(&full[..n]);
    n
}

/// An HMAC truncated to `icv_len` octets.
struct Integrity {
    id: IntegId,
    name: &'static str,
    key_len: usize,
    icv_len: usize,
    mac: MacFn,
}

impl core::fmt::Debug for Integrity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name)
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
        // RFC 4868 section 2.1.1: the key length equals the hash output length; RFC 2404 and
        // RFC 2403 fix 20 and 16 octets.
        if key.len() != self.key_len {
            return Err(CryptoError::InvalidKeyLength {
                algorithm: self.name,
                expected: self.key_len,
                got: key.len(),
            });
        }
        Ok(Box::new(IntegrityKeyImpl {
            key: SecretBytes::from_slice(key),
            icv_len: self.icv_len,
            mac: self.mac,
        }))
    }
}

struct IntegrityKeyImpl {
    key: SecretBytes,
    icv_len: usize,
    mac: MacFn,
}

impl IntegrityKey for IntegrityKeyImpl {
    /// Writes the truncated ICV; if `icv` has the wrong length, the common prefix is written and
    /// the rest zeroed (such an ICV never verifies).
    fn sign(&self, data: &[&[u8]], icv: &mut [u8]) {
        let mut full = zeroize::Zeroizing::new([0u8; MAX_OUT]);
        let len = (self.mac)(self.key.expose(), data, &mut full).min(self.icv_len);
        let n = icv.len().min(len);
        icv[..n].copy_from_slice(&full[..n]);
        icv[n..].fill(0);
    }

    fn verify(&self, data: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        if icv.len() != self.icv_len {
            return Err(CryptoError::InvalidLength("ICV has the wrong length"));
        }
        let mut full = zeroize::Zeroizing::new([0u8; MAX_OUT]);
        let len = (self.mac)(self.key.expose(), data, &mut full);
        if len < self.icv_len {
            return Err(CryptoError::IntegrityCheckFailed);
        }
        if constant_time_eq(&full[..self.icv_len], icv) {
            Ok(())
        } else {
            Err(CryptoError::IntegrityCheckFailed)
        }
    }
}

/// AUTH_HMAC_SHA2_256_128 (RFC 4868): 32-octet key, 16-octet ICV.
pub static HMAC_SHA2_256_128: &dyn IntegrityAlgorithm = &Integrity {
    id: IntegId::AUTH_HMAC_SHA2_256_128,
    name: "HMAC-SHA2-256-128",
    key_len: 32,
    icv_len: 16,
    mac: hmac::<sha2::Sha256>,
};

/// AUTH_HMAC_SHA2_384_192 (RFC 4868): 48-octet key, 24-octet ICV.
pub static HMAC_SHA2_384_192: &dyn IntegrityAlgorithm = &Integrity {
    id: IntegId::AUTH_HMAC_SHA2_384_192,
    name: "HMAC-SHA2-384-192",
    key_len: 48,
    icv_len: 24,
    mac: hmac::<sha2::Sha384>,
};

/// AUTH_HMAC_SHA2_512_256 (RFC 4868): 64-octet key, 32-octet ICV.
pub static HMAC_SHA2_512_256: &dyn IntegrityAlgorithm = &Integrity {
    id: IntegId::AUTH_HMAC_SHA2_512_256,
    name: "HMAC-SHA2-512-256",
    key_len: 64,
    icv_len: 32,
    mac: hmac::<sha2::Sha512>,
};

/// AUTH_HMAC_SHA1_96 (RFC 2404): 20-octet key, 12-octet ICV.
pub static HMAC_SHA1_96: &dyn IntegrityAlgorithm = &Integrity {
    id: IntegId::AUTH_HMAC_SHA1_96,
    name: "HMAC-SHA1-96",
    key_len: 20,
    icv_len: 12,
    mac: hmac::<sha1::Sha1>,
};

/// AUTH_HMAC_MD5_96 (RFC 2403): 16-octet key, 12-octet ICV. RFC 8221 says MUST NOT; provided
/// because PAN-OS crypto profiles can still name `md5` and old peers still offer it.
pub static HMAC_MD5_96: &dyn IntegrityAlgorithm = &Integrity {
    id: IntegId::AUTH_HMAC_MD5_96,
    name: "HMAC-MD5-96",
    key_len: 16,
    icv_len: 12,
    mac: hmac::<md5::Md5>,
};

/// An HMAC used as the IKEv2 PRF (RFC 7296 section 2.13).
struct Prf {
    id: PrfId,
    name: &'static str,
    output_len: usize,
    mac: MacFn,
}

impl core::fmt::Debug for Prf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name)
    }
}

impl PrfAlgorithm for Prf {
    fn id(&self) -> PrfId {
        self.id
    }
    fn output_len(&self) -> usize {
        self.output_len
    }
    /// Writes the PRF output; if `out` has the wrong length, the common prefix is written and the
    /// rest zeroed.
    fn prf(&self, key: &[u8], data: &[&[u8]], out: &mut [u8]) {
        let mut full = zeroize::Zeroizing::new([0u8; MAX_OUT]);
        let len = (self.mac)(key, data, &mut full);
        let n = out.len().min(len);
        out[..n].copy_from_slice(&full[..n]);
        out[n..].fill(0);
    }
}

/// PRF_HMAC_SHA2_256 (RFC 4868).
pub static PRF_HMAC_SHA2_256: &dyn PrfAlgorithm = &Prf {
    id: PrfId::PRF_HMAC_SHA2_256,
    name: "PRF-HMAC-SHA2-256",
    output_len: 32,
    mac: hmac::<sha2::Sha256>,
};

/// PRF_HMAC_SHA2_384 (RFC 4868).
pub static PRF_HMAC_SHA2_384: &dyn PrfAlgorithm = &Prf {
    id: PrfId::PRF_HMAC_SHA2_384,
    name: "PRF-HMAC-SHA2-384",
    output_len: 48,
    mac: hmac::<sha2::Sha384>,
};

/// PRF_HMAC_SHA2_512 (RFC 4868).
pub static PRF_HMAC_SHA2_512: &dyn PrfAlgorithm = &Prf {
    id: PrfId::PRF_HMAC_SHA2_512,
    name: "PRF-HMAC-SHA2-512",
    output_len: 64,
    mac: hmac::<sha2::Sha512>,
};

/// PRF_HMAC_SHA1 (RFC 2104).
pub static PRF_HMAC_SHA1: &dyn PrfAlgorithm = &Prf {
    id: PrfId::PRF_HMAC_SHA1,
    name: "PRF-HMAC-SHA1",
    output_len: 20,
    mac: hmac::<sha1::Sha1>,
};
