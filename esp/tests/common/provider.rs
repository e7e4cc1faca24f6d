//! A second, independent implementation of the provider traits, for the esp tests.
//!
//! The tests run on the workspace's default provider; this one cross-checks it (packets sealed by
//! one open with the other) and adds AES-192-GCM, which one case of draft-mcgrew-gcm-test-01 uses
//! and the default provider does not offer. Its random source is deterministic: tests only.

#![allow(dead_code, unreachable_pub)]

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{AesGcm, Nonce, Tag};
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use ipsec_core::crypto::{
    constant_time_eq, AeadAlgorithm, AeadKey, CipherAlgorithm, CipherKey, CryptoError,
    CryptoProvider, EncrId, Encryption, IntegId, IntegrityAlgorithm, IntegrityKey, SecureRandom,
};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
struct Gcm(u16);
#[derive(Debug)]
struct ChaCha;

struct Keyed<C> {
    cipher: C,
    salt: [u8; 4],
}

fn nonce(salt: &[u8; 4], iv: &[u8]) -> Result<[u8; 12], CryptoError> {
    if iv.len() != 8 {
        return Err(CryptoError::InvalidLength("IV"));
    }
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(salt);
    n[4..].copy_from_slice(iv);
    Ok(n)
}

impl<C: AeadInPlace + Send + Sync> AeadKey for Keyed<C>
where
    C: aes_gcm::aead::AeadCore<NonceSize = U12>,
{
    fn seal_in_place(
        &self,
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        let n = nonce(&self.salt, iv)?;
        let t = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(&n), aad, buf)
            .map_err(|_| CryptoError::InvalidLength("buffer"))?;
        if tag.len() != t.len() {
            return Err(CryptoError::InvalidLength("tag"));
        }
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
        let n = nonce(&self.salt, iv)?;
        if tag.len() != 16 {
            return Err(CryptoError::InvalidLength("tag"));
        }
        self.cipher
            .decrypt_in_place_detached(Nonce::from_slice(&n), aad, buf, Tag::from_slice(tag))
            .map_err(|_| CryptoError::IntegrityCheckFailed)
    }
}

fn split_salt(keymat: &[u8], key_len: usize) -> Result<(&[u8], [u8; 4]), CryptoError> {
    if keymat.len() != key_len + 4 {
        return Err(CryptoError::InvalidKeyLength {
            algorithm: "aead",
            expected: key_len + 4,
            got: keymat.len(),
        });
    }
    let (k, s) = keymat.split_at(key_len);
    let mut salt = [0u8; 4];
    salt.copy_from_slice(s);
    Ok((k, salt))
}

impl AeadAlgorithm for Gcm {
    fn encryption(&self) -> Encryption {
        Encryption::new(EncrId::ENCR_AES_GCM_16, self.0)
    }
    fn key_len(&self) -> usize {
        usize::from(self.0 / 8)
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
    fn new_key(&self, keymat: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError> {
        let (k, salt) = split_salt(keymat, self.key_len())?;
        let bad = |_| CryptoError::InvalidLength("key");
        Ok(match self.0 {
            128 => Box::new(Keyed {
                cipher: AesGcm::<aes::Aes128, U12>::new_from_slice(k).map_err(bad)?,
                salt,
            }),
            192 => Box::new(Keyed {
                cipher: AesGcm::<aes::Aes192, U12>::new_from_slice(k).map_err(bad)?,
                salt,
            }),
            _ => Box::new(Keyed {
                cipher: AesGcm::<aes::Aes256, U12>::new_from_slice(k).map_err(bad)?,
                salt,
            }),
        })
    }
}

impl AeadAlgorithm for ChaCha {
    fn encryption(&self) -> Encryption {
        Encryption::new(EncrId::ENCR_CHACHA20_POLY1305, 0)
    }
    fn key_len(&self) -> usize {
        32
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
    fn new_key(&self, keymat: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError> {
        let (k, salt) = split_salt(keymat, 32)?;
        Ok(Box::new(Keyed {
            cipher: ChaCha20Poly1305::new_from_slice(k)
                .map_err(|_| CryptoError::InvalidLength("key"))?,
            salt,
        }))
    }
}

#[derive(Debug)]
enum Block {
    Aes(u16),
    Tdes,
}

struct CbcKey<C> {
    cipher: C,
}

impl<C> CipherKey for CbcKey<C>
where
    C: cbc::cipher::BlockCipher + BlockEncryptMut + BlockDecryptMut + Clone + Send + Sync,
{
    fn encrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        let mut e = cbc::Encryptor::<C>::inner_iv_slice_init(self.cipher.clone(), iv)
            .map_err(|_| CryptoError::InvalidLength("IV"))?;
        let bs = C::block_size();
        if !buf.len().is_multiple_of(bs) {
            return Err(CryptoError::InvalidLength("not block aligned"));
        }
        for b in buf.chunks_exact_mut(bs) {
            e.encrypt_block_mut(b.into());
        }
        Ok(())
    }
    fn decrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        let mut d = cbc::Decryptor::<C>::inner_iv_slice_init(self.cipher.clone(), iv)
            .map_err(|_| CryptoError::InvalidLength("IV"))?;
        let bs = C::block_size();
        if !buf.len().is_multiple_of(bs) {
            return Err(CryptoError::InvalidLength("not block aligned"));
        }
        for b in buf.chunks_exact_mut(bs) {
            d.decrypt_block_mut(b.into());
        }
        Ok(())
    }
}

impl CipherAlgorithm for Block {
    fn encryption(&self) -> Encryption {
        match self {
            Block::Aes(bits) => Encryption::new(EncrId::ENCR_AES_CBC, *bits),
            Block::Tdes => Encryption::new(EncrId::ENCR_3DES, 0),
        }
    }
    fn key_len(&self) -> usize {
        match self {
            Block::Aes(bits) => usize::from(*bits / 8),
            Block::Tdes => 24,
        }
    }
    fn block_len(&self) -> usize {
        match self {
            Block::Aes(_) => 16,
            Block::Tdes => 8,
        }
    }
    fn iv_len(&self) -> usize {
        self.block_len()
    }
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn CipherKey>, CryptoError> {
        let bad = |_| CryptoError::InvalidKeyLength {
            algorithm: "cbc",
            expected: self.key_len(),
            got: key.len(),
        };
        Ok(match self {
            Block::Aes(128) => Box::new(CbcKey {
                cipher: aes::Aes128::new_from_slice(key).map_err(bad)?,
            }),
            Block::Aes(_) => Box::new(CbcKey {
                cipher: aes::Aes256::new_from_slice(key).map_err(bad)?,
            }),
            Block::Tdes => Box::new(CbcKey {
                cipher: des::TdesEde3::new_from_slice(key).map_err(bad)?,
            }),
        })
    }
}

#[derive(Debug)]
struct HmacSha256;

struct HmacKey(Hmac<sha2::Sha256>);

impl IntegrityKey for HmacKey {
    fn sign(&self, data: &[&[u8]], icv: &mut [u8]) {
        let mut m = self.0.clone();
        for d in data {
            m.update(d);
        }
        let out = m.finalize().into_bytes();
        let n = icv.len().min(out.len());
        icv[..n].copy_from_slice(&out[..n]);
    }
    fn verify(&self, data: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        let mut expect = [0u8; 16];
        self.sign(data, &mut expect);
        if constant_time_eq(&expect, icv) {
            Ok(())
        } else {
            Err(CryptoError::IntegrityCheckFailed)
        }
    }
}

impl IntegrityAlgorithm for HmacSha256 {
    fn id(&self) -> IntegId {
        IntegId::AUTH_HMAC_SHA2_256_128
    }
    fn key_len(&self) -> usize {
        32
    }
    fn icv_len(&self) -> usize {
        16
    }
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn IntegrityKey>, CryptoError> {
        if key.len() != 32 {
            return Err(CryptoError::InvalidKeyLength {
                algorithm: "HMAC-SHA2-256-128",
                expected: 32,
                got: key.len(),
            });
        }
        Ok(Box::new(HmacKey(
            <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
                .map_err(|_| CryptoError::InvalidLength("key"))?,
        )))
    }
}

/// A deterministic "random" source: a counter through SplitMix64.
#[derive(Debug)]
pub struct TestRandom(AtomicU64);

impl SecureRandom for TestRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        for chunk in buf.chunks_mut(8) {
            let mut z = self
                .0
                .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
                .wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_be_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

static GCM128: Gcm = Gcm(128);
static GCM192: Gcm = Gcm(192);
static GCM256: Gcm = Gcm(256);
static CHACHA: ChaCha = ChaCha;
static AES128: Block = Block::Aes(128);
static AES256: Block = Block::Aes(256);
static TDES: Block = Block::Tdes;
static HMAC256: HmacSha256 = HmacSha256;
static RANDOM: TestRandom = TestRandom(AtomicU64::new(1));

static AEADS: [&dyn AeadAlgorithm; 4] = [&GCM128, &GCM192, &GCM256, &CHACHA];
static CIPHERS: [&dyn CipherAlgorithm; 3] = [&AES128, &AES256, &TDES];
static INTEG: [&dyn IntegrityAlgorithm; 1] = [&HMAC256];

/// The test provider (no PRFs or key exchanges: ESP needs none).
pub fn test_provider() -> CryptoProvider {
    CryptoProvider {
        aeads: &AEADS,
        ciphers: &CIPHERS,
        integrity: &INTEG,
        prfs: &[],
        key_exchanges: &[],
        signatures: &[],
        random: &RANDOM,
    }
}
