//! HMAC integrity algorithms (RFC 4868, RFC 2404, RFC 2403) and PRFs (RFC 4868, RFC 2104).
//!
//! HMAC's intermediate values are as good as the key: the key XOR ipad/opad blocks, and the hash
//! states that have absorbed them (knowing those, anyone can compute the MAC). The `hmac` crate
//! leaves them in memory after use, so the construction of RFC 2104 section 2 is written out here:
//! the padded key blocks live in [`Zeroizing`] buffers, the outputs are written straight into the
//! caller's zeroizing buffers, and the hashes are the RustCrypto ones built with their `zeroize`
//! feature, whose state is wiped on drop (the [`ZeroizeOnDrop`] bound makes that a compile-time
//! requirement). The key object keeps the raw key in zeroizing memory and runs a fresh HMAC per
//! call, so no keyed state outlives a call.

use sha2_zeroize::digest::{array::Array, block_api::BlockSizeUser, Digest};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::crypto::{
    constant_time_eq, CryptoError, IntegId, IntegrityAlgorithm, IntegrityKey, PrfAlgorithm, PrfId,
    SecretBytes,
};

use md5_zeroize as md5;
use sha1_zeroize as sha1;
use sha2_zeroize as sha2;

/// The longest HMAC output we compute (SHA-512).
const MAX_OUT: usize = 64;
/// The largest hash block (SHA-384 and SHA-512).
const MAX_BLOCK: usize = 128;
const IPAD: u8 = 0x36;
const OPAD: u8 = 0x5c;

/// Computes the full HMAC of the concatenation of `data` into `out`, returning its length.
type MacFn = fn(key: &[u8], data: &[&[u8]], out: &mut [u8; MAX_OUT]) -> usize;

/// Finishes `hash` into the first bytes of `out` (no copy of the digest outside `out`).
fn finish<D: Digest>(hash: D, out: &mut [u8]) -> Option<usize> {
    let n = <D as Digest>::output_size();
    let dst: &mut Array<u8, _> = out.get_mut(..n)?.try_into().ok()?;
    Digest::finalize_into(hash, dst);
    Some(n)
}

/// HMAC (RFC 2104 section 2): `H(K ^ opad, H(K ^ ipad, data))`, with `K` the key padded to the
/// block size, or its hash when it is longer than a block.
fn hmac<D>(key: &[u8], data: &[&[u8]], out: &mut [u8; MAX_OUT]) -> usize
where
    D: Digest + BlockSizeUser + ZeroizeOnDrop,
{
    let block = D::block_size();
    let mut k = Zeroizing::new([0u8; MAX_BLOCK]);
    let Some(padded) = k.get_mut(..block) else {
        return 0;
    };
    if key.len() > block {
        let mut h = D::new();
        Digest::update(&mut h, key);
        if finish(h, padded).is_none() {
            return 0;
        }
    } else {
        padded[..key.len()].copy_from_slice(key);
    }
    padded.iter_mut().for_each(|b| *b ^= IPAD);
    let mut inner = D::new();
    Digest::update(&mut inner, &*padded);
    for piece in data {
        Digest::update(&mut inner, piece);
    }
    let Some(n) = finish(inner, out) else {
        return 0;
    };
    padded.iter_mut().for_each(|b| *b ^= IPAD ^ OPAD);
    let mut outer = D::new();
    Digest::update(&mut outer, &*padded);
    Digest::update(&mut outer, &out[..n]);
    finish(outer, out).unwrap_or(0)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles only for types that wipe themselves on drop.
    fn wiped_on_drop<T: ZeroizeOnDrop>() {}

    #[test]
    fn every_hash_under_hmac_wipes_its_state_on_drop() {
        wiped_on_drop::<sha2::Sha256>();
        wiped_on_drop::<sha2::Sha384>();
        wiped_on_drop::<sha2::Sha512>();
        wiped_on_drop::<sha1::Sha1>();
        wiped_on_drop::<md5::Md5>();
        wiped_on_drop::<Zeroizing<[u8; MAX_BLOCK]>>();
    }

    #[test]
    fn keys_longer_than_a_block_are_hashed_first() {
        // RFC 2104 section 2: HMAC(K) = HMAC(H(K)) for a key longer than the block.
        let long = [0xaau8; 131];
        let mut hashed = [0u8; MAX_OUT];
        let n = finish(
            {
                let mut h = sha2::Sha256::new();
                Digest::update(&mut h, long);
                h
            },
            &mut hashed,
        )
        .unwrap();
        let (mut a, mut b) = ([0u8; MAX_OUT], [0u8; MAX_OUT]);
        let la = hmac::<sha2::Sha256>(&long, &[b"data"], &mut a);
        let lb = hmac::<sha2::Sha256>(&hashed[..n], &[b"data"], &mut b);
        assert_eq!((la, lb), (32, 32));
        assert_eq!(a, b);
        assert_ne!(a, [0u8; MAX_OUT]);
    }
}
