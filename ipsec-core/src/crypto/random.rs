//! Random sources: the operating system's, and a deterministic seeded one for tests.

use std::sync::Mutex;

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;

use crate::crypto::{CryptoError, SecureRandom};

/// The operating system's random source (`getrandom(2)` on Linux).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl SecureRandom for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        getrandom::getrandom(buf).map_err(|_| CryptoError::RandomFailed)
    }
}

/// The operating system's random source, as a `'static` value for a [`crate::crypto::CryptoProvider`].
pub static OS_RANDOM: OsRandom = OsRandom;

/// A deterministic random source: the ChaCha20 keystream (RFC 8439) under a 32-octet seed with a
/// zero nonce. Two sources with the same seed produce the same bytes, which makes key exchanges
/// and nonces in tests and simulations reproducible. Never use it for real traffic.
pub struct SeededRandom {
    stream: Mutex<ChaCha20>,
}

impl SeededRandom {
    /// A source whose output is determined by `seed`.
    pub fn new(seed: [u8; 32]) -> Self {
        let seed = zeroize::Zeroizing::new(seed);
        let stream = ChaCha20::new(&(*seed).into(), &[0u8; 12].into());
        SeededRandom {
            stream: Mutex::new(stream),
        }
    }
}

impl core::fmt::Debug for SeededRandom {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SeededRandom { .. }")
    }
}

impl SecureRandom for SeededRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        // A panic while holding the lock cannot leave the keystream half-applied in a way that
        // matters for a test source, so a poisoned lock is simply taken over.
        let mut stream = self
            .stream
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        buf.fill(0);
        // Fails only once the 256 GiB keystream of one nonce is used up.
        stream
            .try_apply_keystream(buf)
            .map_err(|_| CryptoError::RandomFailed)
    }
}
