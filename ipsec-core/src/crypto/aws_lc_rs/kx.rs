//! Key exchange on aws-lc-rs: group 31 (X25519, RFC 8031) and ECP groups 19, 20 and 21
//! (RFC 5903).
//!
//! Private keys are drawn from the [`SecureRandom`] passed to `start` (so a seeded source makes
//! exchanges reproducible) and held by AWS-LC, which clears them when freed. ECP values travel as
//! `x | y` without the SEC1 `0x04` prefix (RFC 5903 section 7); AWS-LC checks that the peer's
//! point is on the curve (RFC 6989 section 2.3) and, for X25519, that the shared secret is not all
//! zeros (RFC 8031 section 2.3).

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::crypto::{
    ActiveKeyExchange, CryptoError, DhGroup, KeyExchangeGroup, SecretBytes, SecureRandom,
};

/// The longest private key (P-521: 66 octets).
const MAX_PRIVATE: usize = 66;
/// The longest SEC1 public value (P-521: 0x04 | 66 | 66 octets).
const MAX_SEC1: usize = 1 + 2 * MAX_PRIVATE;
/// How many private-key candidates to draw before giving up on a broken random source (a
/// candidate masked to the order's bit length is out of range with probability below 2^-32).
const MAX_TRIES: usize = 64;

/// One key exchange group backed by an aws-lc-rs agreement algorithm.
struct Group {
    group: DhGroup,
    name: &'static str,
    algorithm: &'static agreement::Algorithm,
    private_len: usize,
    public_len: usize,
    /// Mask for the first octet of a private-key candidate (P-521's order has 521 bits).
    top_mask: u8,
    /// Whether the SEC1 encoding carries the `0x04` prefix that IKEv2 leaves out.
    sec1: bool,
}

impl core::fmt::Debug for Group {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (aws-lc-rs)", self.name)
    }
}

impl Group {
    fn exchange(&self, private: PrivateKey) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        let public = private
            .compute_public_key()
            .map_err(|_| CryptoError::Unsupported("aws-lc-rs could not compute a public key"))?;
        let skip = usize::from(self.sec1);
        let public = public.as_ref().get(skip..).unwrap_or_default().to_vec();
        if public.len() != self.public_len {
            return Err(CryptoError::Unsupported("unexpected public value length"));
        }
        Ok(Box::new(Exchange {
            group: self.group,
            algorithm: self.algorithm,
            sec1: self.sec1,
            private,
            public,
        }))
    }
}

impl KeyExchangeGroup for Group {
    fn group(&self) -> DhGroup {
        self.group
    }

    fn public_len(&self) -> usize {
        self.public_len
    }

    fn start(&self, rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        let mut candidate = Zeroizing::new([0u8; MAX_PRIVATE]);
        let buf = candidate
            .get_mut(..self.private_len)
            .ok_or(CryptoError::Unsupported("private key too long"))?;
        for _ in 0..MAX_TRIES {
            rng.fill(buf)?;
            if let Some(first) = buf.first_mut() {
                *first &= self.top_mask;
            }
            // Rejection sampling: zero or not below the order is drawn again.
            if let Ok(private) = PrivateKey::from_private_key(self.algorithm, buf) {
                return self.exchange(private);
            }
        }
        Err(CryptoError::RandomFailed)
    }

    fn start_with_private(
        &self,
        private: &[u8],
    ) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        if private.len() != self.private_len {
            return Err(CryptoError::InvalidKeyLength {
                algorithm: self.name,
                expected: self.private_len,
                got: private.len(),
            });
        }
        let private = PrivateKey::from_private_key(self.algorithm, private).map_err(|_| {
            CryptoError::InvalidLength("private key is zero or not below the group order")
        })?;
        self.exchange(private)
    }
}

/// One side of an exchange; AWS-LC frees (and clears) the private key on drop.
struct Exchange {
    group: DhGroup,
    algorithm: &'static agreement::Algorithm,
    sec1: bool,
    private: PrivateKey,
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
        agreement::agree(
            &self.private,
            UnparsedPublicKey::new(self.algorithm, &peer[..]),
            invalid,
            |secret| Ok(SecretBytes::from_slice(secret)),
        )
    }
}

static X25519_GROUP: Group = Group {
    group: DhGroup::CURVE25519,
    name: "Curve25519",
    algorithm: &agreement::X25519,
    private_len: 32,
    public_len: 32,
    top_mask: 0xff,
    sec1: false,
};

static ECP_256_GROUP: Group = Group {
    group: DhGroup::ECP_256,
    name: "ECP-256",
    algorithm: &agreement::ECDH_P256,
    private_len: 32,
    public_len: 64,
    top_mask: 0xff,
    sec1: true,
};

static ECP_384_GROUP: Group = Group {
    group: DhGroup::ECP_384,
    name: "ECP-384",
    algorithm: &agreement::ECDH_P384,
    private_len: 48,
    public_len: 96,
    top_mask: 0xff,
    sec1: true,
};

static ECP_521_GROUP: Group = Group {
    group: DhGroup::ECP_521,
    name: "ECP-521",
    algorithm: &agreement::ECDH_P521,
    private_len: 66,
    public_len: 132,
    top_mask: 0x01,
    sec1: true,
};

/// Group 31: Curve25519 (RFC 8031), on aws-lc-rs.
pub static CURVE25519: &dyn KeyExchangeGroup = &X25519_GROUP;
/// Group 19: NIST P-256 (RFC 5903), on aws-lc-rs.
pub static ECP_256: &dyn KeyExchangeGroup = &ECP_256_GROUP;
/// Group 20: NIST P-384 (RFC 5903), on aws-lc-rs.
pub static ECP_384: &dyn KeyExchangeGroup = &ECP_384_GROUP;
/// Group 21: NIST P-521 (RFC 5903), on aws-lc-rs.
pub static ECP_521: &dyn KeyExchangeGroup = &ECP_521_GROUP;
