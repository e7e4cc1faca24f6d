//! AES-CBC (RFC 3602) on aws-lc-rs.
//!
//! The caller pads: `buf` must be a whole number of 16-octet blocks. The IV is the explicit
//! per-packet IV. aws-lc-rs clears both key schedules when a key is dropped.

use aws_lc_rs::cipher::{
    self, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;

use crate::crypto::{CipherAlgorithm, CipherKey, CryptoError, EncrId, Encryption};

const BLOCK: usize = 16;

/// AES in CBC mode with one key length.
struct Cbc {
    encryption: Encryption,
    name: &'static str,
    key_len: usize,
    algorithm: &'static cipher::Algorithm,
}

impl core::fmt::Debug for Cbc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (aws-lc-rs)", self.name)
    }
}

impl CipherAlgorithm for Cbc {
    fn encryption(&self) -> Encryption {
        self.encryption
    }
    fn key_len(&self) -> usize {
        self.key_len
    }
    fn block_len(&self) -> usize {
        BLOCK
    }
    fn iv_len(&self) -> usize {
        BLOCK
    }
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn CipherKey>, CryptoError> {
        let invalid = CryptoError::InvalidKeyLength {
            algorithm: self.name,
            expected: self.key_len,
            got: key.len(),
        };
        if key.len() != self.key_len {
            return Err(invalid);
        }
        let unbound = || UnboundCipherKey::new(self.algorithm, key).map_err(|_| invalid.clone());
        let encrypt = EncryptingKey::cbc(unbound()?).map_err(|_| invalid.clone())?;
        let decrypt = DecryptingKey::cbc(unbound()?).map_err(|_| invalid.clone())?;
        Ok(Box::new(Keyed { encrypt, decrypt }))
    }
}

struct Keyed {
    encrypt: EncryptingKey,
    decrypt: DecryptingKey,
}

/// The IV as one block, after checking the IV and input lengths.
fn check(iv: &[u8], buf: &[u8]) -> Result<[u8; BLOCK], CryptoError> {
    let iv: [u8; BLOCK] = iv
        .try_into()
        .map_err(|_| CryptoError::InvalidLength("CBC IV must be one block"))?;
    if !buf.len().is_multiple_of(BLOCK) {
        return Err(CryptoError::InvalidLength(
            "CBC input must be a multiple of the block length",
        ));
    }
    Ok(iv)
}

impl CipherKey for Keyed {
    fn encrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        let iv = check(iv, buf)?;
        if buf.is_empty() {
            return Ok(());
        }
        self.encrypt
            .less_safe_encrypt(buf, EncryptionContext::Iv128(FixedLength::from(iv)))
            .map(|_| ())
            .map_err(|_| CryptoError::InvalidLength("CBC encryption failed"))
    }

    fn decrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        let iv = check(iv, buf)?;
        if buf.is_empty() {
            return Ok(());
        }
        self.decrypt
            .decrypt(buf, DecryptionContext::Iv128(FixedLength::from(iv)))
            .map(|_| ())
            .map_err(|_| CryptoError::InvalidLength("CBC decryption failed"))
    }
}

/// ENCR_AES_CBC with 128-bit keys (RFC 3602), on aws-lc-rs.
pub static AES_128_CBC: &dyn CipherAlgorithm = &Cbc {
    encryption: Encryption::new(EncrId::ENCR_AES_CBC, 128),
    name: "AES-128-CBC",
    key_len: 16,
    algorithm: &cipher::AES_128,
};

/// ENCR_AES_CBC with 192-bit keys (RFC 3602), on aws-lc-rs.
pub static AES_192_CBC: &dyn CipherAlgorithm = &Cbc {
    encryption: Encryption::new(EncrId::ENCR_AES_CBC, 192),
    name: "AES-192-CBC",
    key_len: 24,
    algorithm: &cipher::AES_192,
};

/// ENCR_AES_CBC with 256-bit keys (RFC 3602), on aws-lc-rs.
pub static AES_256_CBC: &dyn CipherAlgorithm = &Cbc {
    encryption: Encryption::new(EncrId::ENCR_AES_CBC, 256),
    name: "AES-256-CBC",
    key_len: 32,
    algorithm: &cipher::AES_256,
};
