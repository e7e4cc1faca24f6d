//! Key exchange on *ring*: group 31 (X25519, RFC 8031) and ECP groups 19 and 20 (RFC 5903).
//!
//! *ring* draws ephemeral private keys from the operating system itself and offers no way to
//! import one: [`KeyExchangeGroup::start`] ignores the random source it is given, and
//! [`KeyExchangeGroup::start_with_private`] answers [`CryptoError::Unsupported`]. An exchange
//! completes once (*ring* consumes the private key). *ring* does not clear private keys or shared
//! secrets from memory (its documentation says so); where that matters, take key exchange from
//! another provider, as [`crate::crypto::fastest_provider`] does.
//!
//! ECP values travel as `x | y` without the SEC1 `0x04` prefix (RFC 5903 section 7); *ring*
//! checks that the peer's point is on the curve (RFC 6989 section 2.3) and, for X25519, that the
//! shared secret is not all zeros (RFC 8031 section 2.3).

use std::sync::Mutex;

use ::ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey};
use ::ring::rand::SystemRandom;

use crate::crypto::{
    ActiveKeyExchange, CryptoError, DhGroup, KeyExchangeGroup, SecretBytes, SecureRandom,
};

/// The longest public value handled (P-384: 0x04 | 48 | 48 octets).
const MAX_SEC1: usize = 1 + 2 * 48;

/// One key exchange group backed by a *ring* agreement algorithm.
struct Group {
    group: DhGroup,
    name: &'static str,
    algorithm: &'static agreement::Algorithm,
    /// Length of the KE payload's public value.
    public_len: usize,
    /// Whether *ring*'s encoding carries the SEC1 `0x04` prefix that IKEv2 leaves out.
    sec1: bool,
}

impl core::fmt::Debug for Group {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (ring)", self.name)
    }
}

impl KeyExchangeGroup for Group {
    fn group(&self) -> DhGroup {
        self.group
    }

    fn public_len(&self) -> usize {
        self.public_len
    }

    fn start(&self, _rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        let private = EphemeralPrivateKey::generate(self.algorithm, &SystemRandom::new())
            .map_err(|_| CryptoError::RandomFailed)?;
        let public = private
            .compute_public_key()
            .map_err(|_| CryptoError::RandomFailed)?;
        let skip = usize::from(self.sec1);
        let public = public.as_ref().get(skip..).unwrap_or_default().to_vec();
        if public.len() != self.public_len {
            return Err(CryptoError::Unsupported("unexpected public value length"));
        }
        Ok(Box::new(Exchange {
            group: self.group,
            algorithm: self.algorithm,
            sec1: self.sec1,
            private: Mutex::new(Some(private)),
            public,
        }))
    }

    fn start_with_private(
        &self,
        _private: &[u8],
    ) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        Err(CryptoError::Unsupported(
            "ring cannot import a private key for key agreement",
        ))
    }
}

/// One side of an exchange: the private key until the exchange completes.
struct Exchange {
    group: DhGroup,
    algorithm: &'static agreement::Algorithm,
    sec1: bool,
    private: Mutex<Option<EphemeralPrivateKey>>,
    public: Vec<u8>,
}

impl ActiveKeyExchange for Exchange {
    fn group(&self) -> DhGroup {
        self.group
    }

    fn public_value(&self) -> &[u8] {
        &self.public
    }

    fn complete(&self, peer_public: &[u8]) -> Result<SecretBytes, CryptoError> {
        let invalid = CryptoError::InvalidPeerPublicKey(self.group);
        if peer_public.len() != self.public.len() {
            return Err(invalid);
        }
        let mut encoded = [0u8; MAX_SEC1];
        let skip = usize::from(self.sec1);
        let peer = encoded
            .get_mut(..skip + peer_public.len())
            .ok_or(invalid.clone())?;
        if self.sec1 {
            peer[0] = 0x04;
        }
        peer[skip..].copy_from_slice(peer_public);
        // A poisoned lock means a panic elsewhere mid-call; the key inside is still whole.
        let private = self
            .private
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .ok_or(CryptoError::Unsupported("ring key exchange completes once"))?;
        agreement::agree_ephemeral(
            private,
            &UnparsedPublicKey::new(self.algorithm, &peer[..]),
            SecretBytes::from_slice,
        )
        .map_err(|_| invalid)
    }
}

static X25519_GROUP: Group = Group {
    group: DhGroup::CURVE25519,
    name: "Curve25519",
    algorithm: &agreement::X25519,
    public_len: 32,
    sec1: false,
};

static ECP_256_GROUP: Group = Group {
    group: DhGroup::ECP_256,
    name: "ECP-256",
    algorithm: &agreement::ECDH_P256,
    public_len: 64,
    sec1: true,
};

static ECP_384_GROUP: Group = Group {
    group: DhGroup::ECP_384,
    name: "ECP-384",
    algorithm: &agreement::ECDH_P384,
    public_len: 96,
    sec1: true,
};

/// Group 31: Curve25519 (RFC 8031), on *ring*.
pub static CURVE25519: &dyn KeyExchangeGroup = &X25519_GROUP;
/// Group 19: NIST P-256 (RFC 5903), on *ring*.
pub static ECP_256: &dyn KeyExchangeGroup = &ECP_256_GROUP;
/// Group 20: NIST P-384 (RFC 5903), on *ring*.
pub static ECP_384: &dyn KeyExchangeGroup = &ECP_384_GROUP;
