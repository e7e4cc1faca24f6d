//! ECP key exchange groups 19, 20 and 21 (RFC 5903) on the `p256`, `p384` and `p521` crates.
//!
//! The KE payload carries `x | y`, each coordinate padded to the field length, without the SEC1
//! `0x04` prefix (RFC 5903 section 7); the shared secret is the x coordinate of the shared point
//! (section 9). A peer value is accepted only if it is a point on the curve (RFC 6989 section
//! 2.3); the identity has no `x | y` encoding, so it cannot be sent.

use core::marker::PhantomData;

use p256::elliptic_curve::ecdh::diffie_hellman;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ModulusSize, ToEncodedPoint};
use p256::elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytesSize, PublicKey, SecretKey};
use zeroize::Zeroizing;

use crate::crypto::{
    ActiveKeyExchange, CryptoError, DhGroup, KeyExchangeGroup, SecretBytes, SecureRandom,
};

/// The longest field element we handle (P-521: 66 octets).
const MAX_FIELD: usize = 66;

/// How many private-key candidates to draw before giving up on a broken random source. A
/// candidate (masked to the order's bit length) is rejected only when it is zero or not below the
/// order, which for these curves happens with probability below 2^-32, so 64 failures in a row
/// mean the source is not random.
const MAX_TRIES: usize = 64;

/// One ECP group.
struct Ecp<C> {
    group: DhGroup,
    name: &'static str,
    /// Mask for the first octet of a random private-key candidate, so that P-521's 521-bit order
    /// is hit with useful probability.
    top_mask: u8,
    curve: PhantomData<fn() -> C>,
}

impl<C> core::fmt::Debug for Ecp<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name)
    }
}

impl<C> Ecp<C>
where
    C: CurveArithmetic,
{
    fn field_len() -> usize {
        use p256::elliptic_curve::generic_array::typenum::Unsigned;
        FieldBytesSize::<C>::USIZE
    }
}

impl<C> KeyExchangeGroup for Ecp<C>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    fn group(&self) -> DhGroup {
        self.group
    }

    fn public_len(&self) -> usize {
        2 * Self::field_len()
    }

    fn start(&self, rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        let len = Self::field_len();
        let mut candidate = Zeroizing::new([0u8; MAX_FIELD]);
        let buf = candidate
            .get_mut(..len)
            .ok_or(CryptoError::Unsupported("field too long"))?;
        for _ in 0..MAX_TRIES {
            rng.fill(buf)?;
            if let Some(first) = buf.first_mut() {
                *first &= self.top_mask;
            }
            // Rejection sampling: a candidate that is zero or not below the order is drawn again.
            if let Ok(secret) = SecretKey::<C>::from_slice(buf) {
                return Ok(Box::new(EcpExchange::new(self.group, secret)));
            }
        }
        Err(CryptoError::RandomFailed)
    }

    fn start_with_private(
        &self,
        private: &[u8],
    ) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        let len = Self::field_len();
        if private.len() != len {
            return Err(CryptoError::InvalidKeyLength {
                algorithm: self.name,
                expected: len,
                got: private.len(),
            });
        }
        let secret = SecretKey::<C>::from_slice(private).map_err(|_| {
            CryptoError::InvalidLength("ECP private key is zero or not below the group order")
        })?;
        Ok(Box::new(EcpExchange::new(self.group, secret)))
    }
}

/// One side of an ECP exchange; `SecretKey` zeroizes itself on drop.
struct EcpExchange<C: CurveArithmetic> {
    group: DhGroup,
    secret: SecretKey<C>,
    public: Vec<u8>,
}

impl<C> EcpExchange<C>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    fn new(group: DhGroup, secret: SecretKey<C>) -> Self {
        let point = secret.public_key().to_encoded_point(false);
        // Uncompressed SEC1 is 0x04 | x | y; the KE payload drops the 0x04.
        let public = point.as_bytes().get(1..).unwrap_or_default().to_vec();
        EcpExchange {
            group,
            secret,
            public,
        }
    }
}

impl<C> ActiveKeyExchange for EcpExchange<C>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
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
        let mut sec1 = [0u8; 1 + 2 * MAX_FIELD];
        sec1[0] = 0x04;
        let encoded = sec1
            .get_mut(..1 + peer_public.len())
            .ok_or(invalid.clone())?;
        encoded[1..].copy_from_slice(peer_public);
        // Decoding checks that the point satisfies the curve equation (RFC 6989 section 2.3).
        let peer = PublicKey::<C>::from_sec1_bytes(encoded).map_err(|_| invalid)?;
        let shared = diffie_hellman(self.secret.to_nonzero_scalar(), peer.as_affine());
        Ok(SecretBytes::from_slice(shared.raw_secret_bytes()))
    }
}

static ECP_256_GROUP: Ecp<p256::NistP256> = Ecp {
    group: DhGroup::ECP_256,
    name: "ECP-256",
    top_mask: 0xff,
    curve: PhantomData,
};

static ECP_384_GROUP: Ecp<p384::NistP384> = Ecp {
    group: DhGroup::ECP_384,
    name: "ECP-384",
    top_mask: 0xff,
    curve: PhantomData,
};

static ECP_521_GROUP: Ecp<p521::NistP521> = Ecp {
    group: DhGroup::ECP_521,
    name: "ECP-521",
    top_mask: 0x01,
    curve: PhantomData,
};

/// Group 19: 256-bit random ECP group, NIST P-256 (RFC 5903 section 3.1).
pub static ECP_256: &dyn KeyExchangeGroup = &ECP_256_GROUP;
/// Group 20: 384-bit random ECP group, NIST P-384 (RFC 5903 section 3.2).
pub static ECP_384: &dyn KeyExchangeGroup = &ECP_384_GROUP;
/// Group 21: 521-bit random ECP group, NIST P-521 (RFC 5903 section 3.3).
pub static ECP_521: &dyn KeyExchangeGroup = &ECP_521_GROUP;
