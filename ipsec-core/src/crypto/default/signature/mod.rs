//! Signature schemes on RustCrypto crates: RSA PKCS#1 v1.5 and PSS (`rsa`), ECDSA on P-256,
//! P-384 and P-521 (`p256`, `p384`, `p521`), Ed25519 (`ed25519-dalek`).
//!
//! Private keys live inside the crates' key types, which zeroize on drop.
//!
//! **RSA signing and RUSTSEC-2023-0071 (the Marvin attack).** The `rsa` crate's private-key
//! operation is not constant time. It blinds the operation with randomness from the provider's
//! source, but the advisory holds that timing can still leak information about the key to an
//! attacker who measures many signatures. In IKEv2 an initiator signs its first IKE_AUTH before it
//! has authenticated the responder, so anyone on the path can collect timed RSA signatures each
//! time the tunnel is (re)established. Verification uses only public keys and is not affected.
//! Prefer ECDSA or Ed25519 certificates with this provider, or sign RSA with a provider whose RSA
//! is constant time (aws-lc-rs, ring).

mod ecdsa;
mod ed25519;
mod rsa;

pub use self::ecdsa::{ECDSA_P256_SHA256, ECDSA_P384_SHA384, ECDSA_P521_SHA512};
pub use self::ed25519::ED25519;
pub use self::rsa::{
    RSA_PKCS1_SHA1, RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PKCS1_SHA512, RSA_PSS_SHA256,
    RSA_PSS_SHA384, RSA_PSS_SHA512,
};

use crate::crypto::{CryptoError, SecureRandom};
use core::cell::Cell;

/// A `rand_core` view of a [`SecureRandom`], for the crates that draw randomness themselves.
/// `fill_bytes` cannot fail, so a failure of the source is remembered and the caller discards
/// what was computed with the zeros written instead ([`RngAdapter::check`]).
pub(crate) struct RngAdapter<'a> {
    source: &'a dyn SecureRandom,
    failed: Cell<bool>,
}

impl<'a> RngAdapter<'a> {
    pub(crate) fn new(source: &'a dyn SecureRandom) -> Self {
        RngAdapter {
            source,
            failed: Cell::new(false),
        }
    }

    /// `Err` when the source failed at any point.
    pub(crate) fn check(&self) -> Result<(), CryptoError> {
        if self.failed.get() {
            Err(CryptoError::RandomFailed)
        } else {
            Ok(())
        }
    }
}

impl rand_core::RngCore for RngAdapter<'_> {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if self.source.fill(dest).is_err() {
            dest.fill(0);
            self.failed.set(true);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for RngAdapter<'_> {}

#[cfg(test)]
mod tests {
    use zeroize::ZeroizeOnDrop;

    /// The key types the loaded keys keep their secrets in clear them on drop.
    #[test]
    fn private_keys_zeroize_on_drop() {
        fn zeroizes<T: ZeroizeOnDrop>() {}
        zeroizes::<rsa::RsaPrivateKey>();
        zeroizes::<p256::SecretKey>();
        zeroizes::<p384::SecretKey>();
        zeroizes::<p521::SecretKey>();
        zeroizes::<ed25519_dalek::SigningKey>();
        zeroizes::<crate::crypto::SecretBytes>();
    }
}
