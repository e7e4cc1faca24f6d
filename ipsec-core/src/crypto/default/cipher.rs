//! Ciphers used with a separate integrity algorithm: AES-CBC (RFC 3602) and 3DES-CBC (RFC 2451).
//! ENCR_NULL, which every provider shares, is in [`crate::crypto::null`].
//!
//! The caller pads: `buf` must be a whole number of blocks. The IV is the explicit per-packet IV,
//! one block long.

use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{
    BlockCipher, BlockDecrypt, BlockDecryptMut, BlockEncrypt, BlockEncryptMut, InnerIvInit, KeyInit,
};

use crate::crypto::{CipherAlgorithm, CipherKey, CryptoError, EncrId, Encryption};

type MakeKey = fn(&[u8]) -> Result<Box<dyn CipherKey>, CryptoError>;

/// A CBC-mode cipher.
struct Cbc {
    encryption: Encryption,
    name: &'static str,
    key_len: usize,
    block_len: usize,
    make: MakeKey,
}

impl core::fmt::Debug for Cbc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name)
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
        self.block_len
    }
    fn iv_len(&self) -> usize {
        self.block_len
    }
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn CipherKey>, CryptoError> {
        if key.len() != self.key_len {
            return Err(CryptoError::InvalidKeyLength {
                algorithm: self.name,
                expected: self.key_len,
                got: key.len(),
            });
        }
        (self.make)(key)
    }
}

/// A keyed block cipher; the key schedule zeroizes on drop (the `zeroize` features of `aes` and
/// `des`), and so do the per-call copies that CBC mode works on.
struct CbcKey<C> {
    cipher: C,
}

fn make<C>(key: &[u8]) -> Result<Box<dyn CipherKey>, CryptoError>
where
    C: KeyInit + BlockCipher + BlockEncrypt + BlockDecrypt + Clone + Send + Sync + 'static,
{
    let cipher = C::new_from_slice(key).map_err(|_| CryptoError::InvalidLength("cipher key"))?;
    Ok(Box::new(CbcKey { cipher }))
}

impl<C> CbcKey<C>
where
    C: BlockCipher + BlockEncrypt,
{
    fn check(iv: &[u8], buf: &[u8]) -> Result<(), CryptoError> {
        let block = C::block_size();
        if iv.len() != block {
            return Err(CryptoError::InvalidLength("CBC IV must be one block"));
        }
        if !buf.len().is_multiple_of(block) {
            return Err(CryptoError::InvalidLength(
                "CBC input must be a multiple of the block length",
            ));
        }
        Ok(())
    }
}

impl<C> CipherKey for CbcKey<C>
where
    C: BlockCipher + BlockEncrypt + BlockDecrypt + Clone + Send + Sync,
{
    fn encrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        Self::check(iv, buf)?;
        let len = buf.len();
        cbc::Encryptor::<C>::inner_iv_slice_init(self.cipher.clone(), iv)
            .map_err(|_| CryptoError::InvalidLength("CBC IV must be one block"))?
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map_err(|_| {
                CryptoError::InvalidLength("CBC input must be a multiple of the block length")
            })?;
        Ok(())
    }

    fn decrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        Self::check(iv, buf)?;
        cbc::Decryptor::<C>::inner_iv_slice_init(self.cipher.clone(), iv)
            .map_err(|_| CryptoError::InvalidLength("CBC IV must be one block"))?
            .decrypt_padded_mut::<NoPadding>(buf)
            .map_err(|_| {
                CryptoError::InvalidLength("CBC input must be a multiple of the block length")
            })?;
        Ok(())
    }
}

/// ENCR_AES_CBC with 128-bit keys (RFC 3602).
pub static AES_128_CBC: &dyn CipherAlgorithm = &Cbc {
    encryption: Encryption::new(EncrId::ENCR_AES_CBC, 128),
    name: "AES-128-CBC",
    key_len: 16,
    block_len: 16,
    make: make::<aes::Aes128>,
};

/// ENCR_AES_CBC with 192-bit keys (RFC 3602).
pub static AES_192_CBC: &dyn CipherAlgorithm = &Cbc {
    encryption: Encryption::new(EncrId::ENCR_AES_CBC, 192),
    name: "AES-192-CBC",
    key_len: 24,
    block_len: 16,
    make: make::<aes::Aes192>,
};

/// ENCR_AES_CBC with 256-bit keys (RFC 3602).
pub static AES_256_CBC: &dyn CipherAlgorithm = &Cbc {
    encryption: Encryption::new(EncrId::ENCR_AES_CBC, 256),
    name: "AES-256-CBC",
    key_len: 32,
    block_len: 16,
    make: make::<aes::Aes256>,
};

/// ENCR_3DES: three-key Triple DES, EDE, in CBC mode (RFC 2451); 24-octet key, 8-octet blocks.
pub static TRIPLE_DES_CBC: &dyn CipherAlgorithm = &Cbc {
    encryption: Encryption::new(EncrId::ENCR_3DES, 0),
    name: "3DES-CBC",
    key_len: 24,
    block_len: 8,
    make: make::<des::TdesEde3>,
};
