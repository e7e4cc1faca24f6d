//! Group 31: X25519 key exchange (RFC 8031, RFC 7748) on `x25519-dalek`.
//!
//! The KE payload is the 32-octet little-endian u-coordinate, and so is the shared secret. A peer
//! value that makes the shared secret all zeros (a small-order point) is rejected (RFC 8031
//! section 2.3).

use x25519_dalek::{PublicKey, StaticSecret};

use crate::crypto::{
    ActiveKeyExchange, CryptoError, DhGroup, KeyExchangeGroup, SecretBytes, SecureRandom,
};

const LEN: usize = 32;

#[derive(Debug)]
struct Curve25519;

impl KeyExchangeGroup for Curve25519 {
    fn group(&self) -> DhGroup {
        DhGroup::CURVE25519
    }

    fn public_len(&self) -> usize {
        LEN
    }

    fn start(&self, rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        let mut bytes = zeroize::Zeroizing::new([0u8; LEN]);
        rng.fill(&mut bytes[..])?;
        Ok(Box::new(X25519Exchange::new(StaticSecret::from(*bytes))))
    }

    fn start_with_private(
        &self,
        private: &[u8],
    ) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        let bytes: [u8; LEN] = private
            .try_into()
            .map_err(|_| CryptoError::InvalidKeyLength {
                algorithm: "X25519",
                expected: LEN,
                got: private.len(),
            })?;
        let bytes = zeroize::Zeroizing::new(bytes);
        Ok(Box::new(X25519Exchange::new(StaticSecret::from(*bytes))))
    }
}

/// One side of an X25519 exchange; `StaticSecret` zeroizes itself on drop. (It is "static" only
/// in `x25519-dalek`'s sense of being usable more than once, which `start_with_private` needs.)
struct X25519Exchange {
    secret: StaticSecret,
    public: [u8; LEN],
}

impl X25519Exchange {
    fn new(secret: StaticSecret) -> Self {
        let public = PublicKey::from(&secret).to_bytes();
        X25519Exchange { secret, public }
    }
}

impl ActiveKeyExchange for X25519Exchange {
    fn group(&self) -> DhGroup {
        DhGroup::CURVE25519
    }

    fn public_value(&self) -> &[u8] {
        &self.public
    }

    fn complete(&self, peer_public: &[u8]) -> Result<SecretBytes, CryptoError> {
        let invalid = CryptoError::InvalidPeerPublicKey(DhGroup::CURVE25519);
        let peer: [u8; LEN] = peer_public.try_into().map_err(|_| invalid.clone())?;
        let shared = self.secret.diffie_hellman(&PublicKey::from(peer));
        // `was_contributory` is false exactly when the output is all zeros (checked in constant
        // time): the peer sent a point of small order.
        if !shared.was_contributory() {
            return Err(invalid);
        }
        Ok(SecretBytes::from_slice(shared.as_bytes()))
    }
}

/// Group 31: Curve25519 (RFC 8031).
pub static CURVE25519: &dyn KeyExchangeGroup = &Curve25519;
