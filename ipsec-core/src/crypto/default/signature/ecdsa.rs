//! ECDSA (FIPS 186-4) on P-256, P-384 and P-521 with the curve's own hash (RFC 4754, RFC 7427).
//!
//! P-256 and P-384 derive nonces from the key and the message (RFC 6979), so a weak random source
//! cannot leak their keys; P-521 draws its nonce from the provider's source (see `sign_p521`). Signatures are DER `Ecdsa-Sig-Value`s or `r || s`
//! ([`SignatureEncoding`]); DER is parsed strictly, so BER variants and trailing bytes are refused.

use crate::crypto::signature::{PrivateKeyDer, SignatureEncoding, SignatureScheme, SigningKey};
use crate::crypto::{CryptoError, SecureRandom, SignatureAlgorithm};

macro_rules! ecdsa_scheme {
    (
        $curve:ident, $sign:ident, $Alg:ident, $Key:ident, $NAME:ident, $scheme:expr,
        $doc:literal
    ) => {
        mod $curve {
            use super::*;
            use ::$curve::ecdsa::signature::Verifier;
            use ::$curve::ecdsa::{Signature, VerifyingKey};
            use ::$curve::elliptic_curve::sec1::ToEncodedPoint;
            use ::$curve::pkcs8::DecodePrivateKey;
            use ::$curve::SecretKey;

            #[derive(Debug)]
            pub(super) struct $Alg;

            impl SignatureAlgorithm for $Alg {
                fn scheme(&self) -> SignatureScheme {
                    $scheme
                }

                fn verify(
                    &self,
                    public_key: &[u8],
                    message: &[u8],
                    signature: &[u8],
                    encoding: SignatureEncoding,
                ) -> Result<(), CryptoError> {
                    let key = VerifyingKey::from_sec1_bytes(public_key)
                        .map_err(|_| CryptoError::InvalidKey("not a point on the curve"))?;
                    let sig = match encoding {
                        SignatureEncoding::Der => Signature::from_der(signature),
                        SignatureEncoding::P1363 => Signature::from_slice(signature),
                    }
                    .map_err(|_| CryptoError::SignatureInvalid)?;
                    key.verify(message, &sig)
                        .map_err(|_| CryptoError::SignatureInvalid)
                }

                fn signing_key(
                    &self,
                    key: &PrivateKeyDer,
                ) -> Result<Box<dyn SigningKey>, CryptoError> {
                    let secret = match key {
                        PrivateKeyDer::Sec1(der) => SecretKey::from_sec1_der(der.expose()).ok(),
                        PrivateKeyDer::Pkcs8(der) => SecretKey::from_pkcs8_der(der.expose()).ok(),
                        PrivateKeyDer::Pkcs1(_) => {
                            return Err(CryptoError::InvalidKey("not an EC key"))
                        }
                    }
                    .ok_or(CryptoError::InvalidKey("not a private key on this curve"))?;
                    let public = secret
                        .public_key()
                        .to_encoded_point(false)
                        .as_bytes()
                        .to_vec();
                    Ok(Box::new($Key {
                        key: secret,
                        public,
                    }))
                }
            }

            /// A loaded key; `SecretKey` zeroizes on drop.
            pub(super) struct $Key {
                key: SecretKey,
                public: Vec<u8>,
            }

            impl core::fmt::Debug for $Key {
                fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                    write!(f, "EcdsaKey({}, redacted)", $scheme)
                }
            }

            impl SigningKey for $Key {
                fn scheme(&self) -> SignatureScheme {
                    $scheme
                }

                fn public_key(&self) -> &[u8] {
                    &self.public
                }

                fn sign(
                    &self,
                    message: &[u8],
                    encoding: SignatureEncoding,
                    rng: &dyn SecureRandom,
                ) -> Result<Vec<u8>, CryptoError> {
                    let sig: Signature = super::$sign(&self.key, message, rng)?;
                    Ok(match encoding {
                        SignatureEncoding::Der => sig.to_der().as_bytes().to_vec(),
                        SignatureEncoding::P1363 => sig.to_bytes().to_vec(),
                    })
                }
            }
        }

        #[doc = $doc]
        pub static $NAME: &dyn SignatureAlgorithm = &$curve::$Alg;
    };
}

const SIGN_FAILED: CryptoError = CryptoError::InvalidKey("ECDSA signing failed");

/// P-256 and P-384 sign with the RFC 6979 nonce their crates derive from the key and the
/// message hash.
fn sign_p256(
    key: &::p256::SecretKey,
    message: &[u8],
    _rng: &dyn SecureRandom,
) -> Result<::p256::ecdsa::Signature, CryptoError> {
    use ::p256::ecdsa::signature::Signer;
    ::p256::ecdsa::SigningKey::from(key)
        .try_sign(message)
        .map_err(|_| SIGN_FAILED)
}

fn sign_p384(
    key: &::p384::SecretKey,
    message: &[u8],
    _rng: &dyn SecureRandom,
) -> Result<::p384::ecdsa::Signature, CryptoError> {
    use ::p384::ecdsa::signature::Signer;
    ::p384::ecdsa::SigningKey::from(key)
        .try_sign(message)
        .map_err(|_| SIGN_FAILED)
}

/// P-521 draws its nonce from the provider's random source: RFC 6979 needs a hash as long as the
/// field, and SHA-512 is two octets shorter than P-521's, which `p521` does not support.
fn sign_p521(
    key: &::p521::SecretKey,
    message: &[u8],
    rng: &dyn SecureRandom,
) -> Result<::p521::ecdsa::Signature, CryptoError> {
    use ::p521::ecdsa::signature::RandomizedSigner;
    let mut rng = super::RngAdapter::new(rng);
    let signer = ::p521::ecdsa::SigningKey::from(::ecdsa::SigningKey::from(key));
    let sig = signer.try_sign_with_rng(&mut rng, message);
    // A failed source first: its zeros may also have made the signer fail.
    rng.check()?;
    sig.map_err(|_| SIGN_FAILED)
}

ecdsa_scheme!(
    p256,
    sign_p256,
    EcdsaP256,
    EcdsaP256Key,
    ECDSA_P256_SHA256,
    SignatureScheme::EcdsaP256Sha256,
    "ECDSA on P-256 with SHA-256 (auth method 9, or 14 with ecdsa-with-SHA256)."
);
ecdsa_scheme!(
    p384,
    sign_p384,
    EcdsaP384,
    EcdsaP384Key,
    ECDSA_P384_SHA384,
    SignatureScheme::EcdsaP384Sha384,
    "ECDSA on P-384 with SHA-384 (auth method 10, or 14 with ecdsa-with-SHA384)."
);
ecdsa_scheme!(
    p521,
    sign_p521,
    EcdsaP521,
    EcdsaP521Key,
    ECDSA_P521_SHA512,
    SignatureScheme::EcdsaP521Sha512,
    "ECDSA on P-521 with SHA-512 (auth method 11, or 14 with ecdsa-with-SHA512)."
);
