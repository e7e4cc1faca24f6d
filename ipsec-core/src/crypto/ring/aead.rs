//! AES-GCM with a 16-octet ICV (RFC 4106, RFC 5282) and ChaCha20-Poly1305 (RFC 7634) on *ring*.
//!
//! Key material is `key || salt` with a 4-octet salt; the 12-octet nonce is `salt || iv` with the
//! 8-octet explicit IV of each packet. *ring* compares tags in constant time and works in place
//! without allocating.

use ::ring::aead::{self, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use zeroize::Zeroizing;

use crate::crypto::{AeadAlgorithm, AeadKey, CryptoError, EncrId, Encryption};

const SALT_LEN: usize = 4;
const IV_LEN: usize = 8;
const TAG_LEN: usize = 16;

/// One AEAD transform backed by a *ring* algorithm.
struct Aead {
    encryption: Encryption,
    name: &'static str,
    algorithm: &'static aead::Algorithm,
}

impl core::fmt::Debug for Aead {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (ring)", self.name)
    }
}

impl AeadAlgorithm for Aead {
    fn encryption(&self) -> Encryption {
        self.encryption
    }
    fn key_len(&self) -> usize {
        self.algorithm.key_len()
    }
    fn salt_len(&self) -> usize {
        SALT_LEN
    }
    fn iv_len(&self) -> usize {
        IV_LEN
    }
    fn tag_len(&self) -> usize {
        TAG_LEN
    }
    fn new_key(&self, keymat: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError> {
        let key_len = self.algorithm.key_len();
        let invalid = CryptoError::InvalidKeyLength {
            algorithm: self.name,
            expected: key_len + SALT_LEN,
            got: keymat.len(),
        };
        if keymat.len() != key_len + SALT_LEN {
            return Err(invalid);
        }
        let (key, salt) = keymat.split_at(key_len);
        let key = UnboundKey::new(self.algorithm, key).map_err(|_| invalid)?;
        let mut s = Zeroizing::new([0u8; SALT_LEN]);
        s.copy_from_slice(salt);
        Ok(Box::new(Keyed {
            key: LessSafeKey::new(key),
            salt: s,
        }))
    }
}

/// A keyed AEAD with its salt.
struct Keyed {
    key: LessSafeKey,
    salt: Zeroizing<[u8; SALT_LEN]>,
}

impl Keyed {
    fn nonce(&self, iv: &[u8]) -> Result<Nonce, CryptoError> {
        if iv.len() != IV_LEN {
            return Err(CryptoError::InvalidLength("AEAD IV must be 8 octets"));
        }
        let mut nonce = [0u8; SALT_LEN + IV_LEN];
        nonce[..SALT_LEN].copy_from_slice(&self.salt[..]);
        nonce[SALT_LEN..].copy_from_slice(iv);
        // The caller guarantees uniqueness: ESP and IKE never reuse a sequence number or
        // message ID under one key, and the IV is derived from it or drawn at random.
        Ok(Nonce::assume_unique_for_key(nonce))
    }
}

impl AeadKey for Keyed {
    fn seal_in_place(
        &self,
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        let nonce = self.nonce(iv)?;
        if tag.len() != TAG_LEN {
            return Err(CryptoError::InvalidLength("AEAD tag must be 16 octets"));
        }
        let t = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(aad), buf)
            .map_err(|_| CryptoError::InvalidLength("AEAD input too long"))?;
        tag.copy_from_slice(t.as_ref());
        Ok(())
    }

    fn open_in_place(
        &self,
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        let nonce = self.nonce(iv)?;
        let tag = Tag::try_from(tag)
            .map_err(|_| CryptoError::InvalidLength("AEAD tag must be 16 octets"))?;
        self.key
            .open_in_place_separate_tag(nonce, Aad::from(aad), tag, buf, 0..)
            .map(|_| ())
            .map_err(|_| CryptoError::IntegrityCheckFailed)
    }
}

impl Drop for Keyed {
    fn drop(&mut self) {
        // *ring* keeps key schedules in plain memory and does not clear them. Overwrite this one
        // with the schedule of an all-zero key (which reveals nothing); `black_box` keeps the
        // store from being removed as dead before the memory is freed.
        let algorithm = self.key.algorithm();
        let zeros = [0u8; 32];
        if let Some(Ok(blank)) = zeros
            .get(..algorithm.key_len())
            .map(|z| UnboundKey::new(algorithm, z))
        {
            self.key = LessSafeKey::new(blank);
            core::hint::black_box(&self.key);
        }
    }
}

/// ENCR_AES_GCM_16 with 128-bit keys (RFC 4106, RFC 5282), on *ring*.
pub static AES_128_GCM_16: &dyn AeadAlgorithm = &Aead {
    encryption: Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
    name: "AES-128-GCM-16",
    algorithm: &aead::AES_128_GCM,
};

/// ENCR_AES_GCM_16 with 256-bit keys (RFC 4106, RFC 5282), on *ring*.
pub static AES_256_GCM_16: &dyn AeadAlgorithm = &Aead {
    encryption: Encryption::new(EncrId::ENCR_AES_GCM_16, 256),
    name: "AES-256-GCM-16",
    algorithm: &aead::AES_256_GCM,
};

/// ENCR_CHACHA20_POLY1305 (RFC 7634), on *ring*.
pub static CHACHA20_POLY1305: &dyn AeadAlgorithm = &Aead {
    encryption: Encryption::new(EncrId::ENCR_CHACHA20_POLY1305, 0),
    name: "ChaCha20-Poly1305",
    algorithm: &aead::CHACHA20_POLY1305,
};
