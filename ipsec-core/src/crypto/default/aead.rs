//! AEAD transforms: AES-GCM with a 16-octet ICV (RFC 4106 for ESP, RFC 5282 for IKEv2) and
//! ChaCha20-Poly1305 (RFC 7634).
//!
//! Both take `key || salt` as key material, with a 4-octet salt, and an 8-octet explicit IV per
//! packet; the 12-octet nonce is `salt || iv` (RFC 4106 section 4, RFC 7634 section 2).

use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use zeroize::Zeroizing;

use crate::crypto::{AeadAlgorithm, AeadKey, CryptoError, EncrId, Encryption};

const SALT_LEN: usize = 4;
const IV_LEN: usize = 8;
const TAG_LEN: usize = 16;

type MakeKey = fn(&[u8], [u8; SALT_LEN]) -> Result<Box<dyn AeadKey>, CryptoError>;

/// One AEAD transform; all of ours share the salt, IV and tag lengths.
struct Aead {
    encryption: Encryption,
    name: &'static str,
    key_len: usize,
    make: MakeKey,
}

impl core::fmt::Debug for Aead {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name)
    }
}

impl AeadAlgorithm for Aead {
    fn encryption(&self) -> Encryption {
        self.encryption
    }
    fn key_len(&self) -> usize {
        self.key_len
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
        let expected = self.key_len + SALT_LEN;
        if keymat.len() != expected {
            return Err(CryptoError::InvalidKeyLength {
                algorithm: self.name,
                expected,
                got: keymat.len(),
            });
        }
        let (key, salt) = keymat.split_at(self.key_len);
        let mut s = [0u8; SALT_LEN];
        s.copy_from_slice(salt);
        (self.make)(key, s)
    }
}

/// A keyed AEAD with its salt.
struct Keyed<C> {
    cipher: C,
    salt: Zeroizing<[u8; SALT_LEN]>,
}

fn make<C>(key: &[u8], salt: [u8; SALT_LEN]) -> Result<Box<dyn AeadKey>, CryptoError>
where
    C: KeyInit + AeadInPlace<NonceSize = U12, TagSize = U16> + Send + Sync + 'static,
{
    let cipher = C::new_from_slice(key).map_err(|_| CryptoError::InvalidLength("AEAD key"))?;
    Ok(Box::new(Keyed {
        cipher,
        salt: Zeroizing::new(salt),
    }))
}

impl<C> Keyed<C> {
    fn nonce(&self, iv: &[u8]) -> Result<GenericArray<u8, U12>, CryptoError> {
        if iv.len() != IV_LEN {
            return Err(CryptoError::InvalidLength("AEAD IV must be 8 octets"));
        }
        let mut nonce = GenericArray::<u8, U12>::default();
        nonce[..SALT_LEN].copy_from_slice(&self.salt[..]);
        nonce[SALT_LEN..].copy_from_slice(iv);
        Ok(nonce)
    }
}

impl<C> AeadKey for Keyed<C>
where
    C: AeadInPlace<NonceSize = U12, TagSize = U16> + Send + Sync,
{
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
            .cipher
            .encrypt_in_place_detached(&nonce, aad, buf)
            .map_err(|_| CryptoError::InvalidLength("AEAD input too long"))?;
        tag.copy_from_slice(&t);
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
        if tag.len() != TAG_LEN {
            return Err(CryptoError::InvalidLength("AEAD tag must be 16 octets"));
        }
        // The RustCrypto AEADs compare the tag in constant time before decrypting.
        self.cipher
            .decrypt_in_place_detached(&nonce, aad, buf, GenericArray::from_slice(tag))
            .map_err(|_| CryptoError::IntegrityCheckFailed)
    }
}

/// ENCR_AES_GCM_16 with 128-bit keys (RFC 4106, RFC 5282).
pub static AES_128_GCM_16: &dyn AeadAlgorithm = &Aead {
    encryption: Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
    name: "AES-128-GCM-16",
    key_len: 16,
    make: make::<Aes128Gcm>,
};

/// ENCR_AES_GCM_16 with 256-bit keys (RFC 4106, RFC 5282).
pub static AES_256_GCM_16: &dyn AeadAlgorithm = &Aead {
    encryption: Encryption::new(EncrId::ENCR_AES_GCM_16, 256),
    name: "AES-256-GCM-16",
    key_len: 32,
    make: make::<Aes256Gcm>,
};

/// ENCR_CHACHA20_POLY1305 (RFC 7634): 256-bit key, no Key Length attribute.
pub static CHACHA20_POLY1305: &dyn AeadAlgorithm = &Aead {
    encryption: Encryption::new(EncrId::ENCR_CHACHA20_POLY1305, 0),
    name: "ChaCha20-Poly1305",
    key_len: 32,
    make: make::<ChaCha20Poly1305>,
};
