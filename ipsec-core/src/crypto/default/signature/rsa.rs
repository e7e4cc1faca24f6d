//! RSASSA-PKCS1-v1_5 and RSASSA-PSS (RFC 8017) on the `rsa` crate.
//!
//! Moduli from 2048 to 8192 bits are accepted: RFC 8247 section 3.2 requires at least 2048 for
//! IKEv2, and the upper bound keeps a peer's key from making verification arbitrarily slow. PSS
//! uses MGF1 with the signature's hash and a salt as long as the hash (RFC 8017 section 9.1).

use core::fmt;
use core::marker::PhantomData;

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::{AssociatedOid, DecodePrivateKey};
use rsa::signature::{RandomizedSigner, SignatureEncoding as _, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::digest::{Digest, FixedOutputReset};
use sha2::{Sha256, Sha384, Sha512};

use super::RngAdapter;
use crate::crypto::signature::{PrivateKeyDer, SignatureEncoding, SignatureScheme, SigningKey};
use crate::crypto::{CryptoError, SecureRandom, SignatureAlgorithm};

const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 8192;

/// The padding, as a type parameter.
trait Padding: Send + Sync + 'static {
    const PSS: bool;
}
struct Pkcs1;
struct Pss;
impl Padding for Pkcs1 {
    const PSS: bool = false;
}
impl Padding for Pss {
    const PSS: bool = true;
}

/// One RSA scheme: a padding and a hash.
struct Rsa<P, D> {
    scheme: SignatureScheme,
    types: PhantomData<fn() -> (P, D)>,
}

impl<P, D> fmt::Debug for Rsa<P, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.scheme)
    }
}

fn size_ok(bits: usize) -> Result<(), CryptoError> {
    if (MIN_BITS..=MAX_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(CryptoError::InvalidKey(
            "RSA modulus outside 2048-8192 bits",
        ))
    }
}

impl<P, D> SignatureAlgorithm for Rsa<P, D>
where
    P: Padding,
    D: Digest + AssociatedOid + FixedOutputReset + Send + Sync + 'static,
{
    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    fn verify(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
        _encoding: SignatureEncoding,
    ) -> Result<(), CryptoError> {
        let key = RsaPublicKey::from_pkcs1_der(public_key)
            .map_err(|_| CryptoError::InvalidKey("not a PKCS#1 RSA public key"))?;
        size_ok(key.n().bits())?;
        let ok = if P::PSS {
            let sig = rsa::pss::Signature::try_from(signature)
                .map_err(|_| CryptoError::SignatureInvalid)?;
            rsa::pss::VerifyingKey::<D>::new(key).verify(message, &sig)
        } else {
            let sig = rsa::pkcs1v15::Signature::try_from(signature)
                .map_err(|_| CryptoError::SignatureInvalid)?;
            rsa::pkcs1v15::VerifyingKey::<D>::new(key).verify(message, &sig)
        };
        ok.map_err(|_| CryptoError::SignatureInvalid)
    }

    fn signing_key(&self, key: &PrivateKeyDer) -> Result<Box<dyn SigningKey>, CryptoError> {
        let private = match key {
            PrivateKeyDer::Pkcs1(der) => RsaPrivateKey::from_pkcs1_der(der.expose()).ok(),
            PrivateKeyDer::Pkcs8(der) => RsaPrivateKey::from_pkcs8_der(der.expose()).ok(),
            PrivateKeyDer::Sec1(_) => return Err(CryptoError::InvalidKey("not an RSA key")),
        }
        .ok_or(CryptoError::InvalidKey("not an RSA private key"))?;
        size_ok(private.n().bits())?;
        let public = private
            .to_public_key()
            .to_pkcs1_der()
            .map_err(|_| CryptoError::InvalidKey("RSA public key does not encode"))?
            .into_vec();
        Ok(Box::new(RsaKey::<P, D> {
            scheme: self.scheme,
            private,
            public,
            types: PhantomData,
        }))
    }
}

/// A loaded RSA private key (`RsaPrivateKey` zeroizes its secrets on drop).
struct RsaKey<P, D> {
    scheme: SignatureScheme,
    private: RsaPrivateKey,
    public: Vec<u8>,
    types: PhantomData<fn() -> (P, D)>,
}

impl<P, D> fmt::Debug for RsaKey<P, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RsaKey({}, {} bits, redacted)",
            self.scheme,
            self.private.n().bits()
        )
    }
}

impl<P, D> SigningKey for RsaKey<P, D>
where
    P: Padding,
    D: Digest + AssociatedOid + FixedOutputReset + Send + Sync + 'static,
{
    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    fn public_key(&self) -> &[u8] {
        &self.public
    }

    fn sign(
        &self,
        message: &[u8],
        _encoding: SignatureEncoding,
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, CryptoError> {
        let mut rng = RngAdapter::new(rng);
        // Both signers blind the private-key operation with randomness from `rng`.
        let sig = if P::PSS {
            rsa::pss::BlindedSigningKey::<D>::new(self.private.clone())
                .try_sign_with_rng(&mut rng, message)
                .map(|s| s.to_vec())
        } else {
            rsa::pkcs1v15::SigningKey::<D>::new(self.private.clone())
                .try_sign_with_rng(&mut rng, message)
                .map(|s| s.to_vec())
        };
        // A failed source first: its zeros may also have made the signer fail.
        rng.check()?;
        sig.map_err(|_| CryptoError::InvalidKey("RSA signing failed"))
    }
}

/// RSASSA-PKCS1-v1_5 with SHA-1 (auth method 1 only).
pub static RSA_PKCS1_SHA1: &dyn SignatureAlgorithm = &Rsa::<Pkcs1, Sha1> {
    scheme: SignatureScheme::RsaPkcs1Sha1,
    types: PhantomData,
};
/// RSASSA-PKCS1-v1_5 with SHA-256.
pub static RSA_PKCS1_SHA256: &dyn SignatureAlgorithm = &Rsa::<Pkcs1, Sha256> {
    scheme: SignatureScheme::RsaPkcs1Sha256,
    types: PhantomData,
};
/// RSASSA-PKCS1-v1_5 with SHA-384.
pub static RSA_PKCS1_SHA384: &dyn SignatureAlgorithm = &Rsa::<Pkcs1, Sha384> {
    scheme: SignatureScheme::RsaPkcs1Sha384,
    types: PhantomData,
};
/// RSASSA-PKCS1-v1_5 with SHA-512.
pub static RSA_PKCS1_SHA512: &dyn SignatureAlgorithm = &Rsa::<Pkcs1, Sha512> {
    scheme: SignatureScheme::RsaPkcs1Sha512,
    types: PhantomData,
};
/// RSASSA-PSS with SHA-256.
pub static RSA_PSS_SHA256: &dyn SignatureAlgorithm = &Rsa::<Pss, Sha256> {
    scheme: SignatureScheme::RsaPssSha256,
    types: PhantomData,
};
/// RSASSA-PSS with SHA-384.
pub static RSA_PSS_SHA384: &dyn SignatureAlgorithm = &Rsa::<Pss, Sha384> {
    scheme: SignatureScheme::RsaPssSha384,
    types: PhantomData,
};
/// RSASSA-PSS with SHA-512.
pub static RSA_PSS_SHA512: &dyn SignatureAlgorithm = &Rsa::<Pss, Sha512> {
    scheme: SignatureScheme::RsaPssSha512,
    types: PhantomData,
};
