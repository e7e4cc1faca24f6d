//! ENCR_NULL (RFC 2410): the identity "cipher" ESP may pair with an integrity algorithm.
//!
//! It needs no cryptographic library, so every provider lists this one object.

use crate::crypto::{CipherAlgorithm, CipherKey, CryptoError, EncrId, Encryption};

/// ENCR_NULL (RFC 2410): no key, no IV, block length 1 (ESP still aligns its trailer to 4 octets).
#[derive(Debug)]
struct Null;

struct NullKey;

impl CipherAlgorithm for Null {
    fn encryption(&self) -> Encryption {
        Encryption::new(EncrId::ENCR_NULL, 0)
    }
    fn key_len(&self) -> usize {
        0
    }
    fn block_len(&self) -> usize {
        1
    }
    fn iv_len(&self) -> usize {
        0
    }
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn CipherKey>, CryptoError> {
        if !key.is_empty() {
            return Err(CryptoError::InvalidKeyLength {
                algorithm: "NULL",
                expected: 0,
                got: key.len(),
            });
        }
        Ok(Box::new(NullKey))
    }
}

impl CipherKey for NullKey {
    fn encrypt_in_place(&self, iv: &[u8], _buf: &mut [u8]) -> Result<(), CryptoError> {
        if iv.is_empty() {
            Ok(())
        } else {
            Err(CryptoError::InvalidLength("ENCR_NULL takes no IV"))
        }
    }
    fn decrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        self.encrypt_in_place(iv, buf)
    }
}

/// ENCR_NULL (RFC 2410), for ESP only; IKEv2 never negotiates it.
pub static NULL: &dyn CipherAlgorithm = &Null;
