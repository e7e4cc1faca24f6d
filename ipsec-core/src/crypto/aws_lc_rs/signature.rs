//! Signature schemes on aws-lc-rs: RSA PKCS#1 v1.5 and PSS (2048-8192-bit moduli), ECDSA on
//! P-256, P-384 and P-521, Ed25519.
//!
//! AWS-LC's RSA private-key operation is constant time and blinded. Its ECDSA nonces are random
//! (not RFC 6979), so signing the same message twice gives two different, equally valid
//! signatures. Its signers draw randomness from AWS-LC's own generator: the `rng` argument of
//! [`SigningKey::sign`] is not used. Private keys live in AWS-LC's structures, which it clears
//! when they are freed.
//!
//! RSA PKCS#1 v1.5 with SHA-1 (auth method 1) verifies but does not sign
//! ([`CryptoError::Unsupported`]): aws-lc-rs offers SHA-1 for verification only.

use ::aws_lc_rs::rand::SystemRandom;
use ::aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};

use crate::crypto::signature::{PrivateKeyDer, SignatureEncoding, SignatureScheme, SigningKey};
use crate::crypto::{CryptoError, SecureRandom, SignatureAlgorithm};

/// How a scheme signs.
enum Signer {
    /// RSA with this padding and hash; `None` when aws-lc-rs cannot sign with the scheme.
    Rsa(Option<&'static dyn sig::RsaEncoding>),
    /// ECDSA, with one aws-lc-rs algorithm per encoding.
    Ecdsa {
        der: &'static sig::EcdsaSigningAlgorithm,
        p1363: &'static sig::EcdsaSigningAlgorithm,
    },
    /// Ed25519.
    Ed25519,
}

/// One scheme: aws-lc-rs's verification algorithms (per ECDSA encoding) and how it signs.
struct Scheme {
    scheme: SignatureScheme,
    verify_der: &'static dyn sig::VerificationAlgorithm,
    verify_p1363: &'static dyn sig::VerificationAlgorithm,
    signer: Signer,
}

impl core::fmt::Debug for Scheme {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (aws-lc-rs)", self.scheme)
    }
}

const NOT_RSA: CryptoError = CryptoError::InvalidKey("not an RSA private key of 2048-8192 bits");
const NOT_EC: CryptoError = CryptoError::InvalidKey("not a private key on this curve");
const NOT_ED25519: CryptoError = CryptoError::InvalidKey("not an Ed25519 private key");

impl SignatureAlgorithm for Scheme {
    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    fn verify(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
        encoding: SignatureEncoding,
    ) -> Result<(), CryptoError> {
        let alg = match encoding {
            SignatureEncoding::Der => self.verify_der,
            SignatureEncoding::P1363 => self.verify_p1363,
        };
        // aws-lc-rs reports every failure (malformed key, RSA modulus out of range, bad signature)
        // as one error.
        sig::UnparsedPublicKey::new(alg, public_key)
            .verify(message, signature)
            .map_err(|_| CryptoError::SignatureInvalid)
    }

    fn signing_key(&self, key: &PrivateKeyDer) -> Result<Box<dyn SigningKey>, CryptoError> {
        let rng = SystemRandom::new();
        let loaded = match &self.signer {
            Signer::Rsa(None) => {
                return Err(CryptoError::Unsupported(
                    "RSA PKCS#1 v1.5 signing with SHA-1 (aws-lc-rs)",
                ))
            }
            Signer::Rsa(Some(padding)) => {
                let pair = match key {
                    PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.expose()),
                    PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.expose()),
                    PrivateKeyDer::Sec1(_) => return Err(NOT_RSA),
                }
                .map_err(|_| NOT_RSA)?;
                Loaded::Rsa(pair, *padding)
            }
            Signer::Ecdsa { der, p1363 } => {
                // PKCS#8 or SEC1 (RFC 5915), both read by AWS-LC.
                let bytes = match key {
                    PrivateKeyDer::Pkcs8(b) | PrivateKeyDer::Sec1(b) => b.expose(),
                    PrivateKeyDer::Pkcs1(_) => return Err(NOT_EC),
                };
                // aws-lc-rs ties the signature encoding to the key pair: one pair per encoding.
                let der = EcdsaKeyPair::from_private_key_der(der, bytes).map_err(|_| NOT_EC)?;
                let p1363 = EcdsaKeyPair::from_private_key_der(p1363, bytes).map_err(|_| NOT_EC)?;
                Loaded::Ecdsa { der, p1363 }
            }
            Signer::Ed25519 => match key {
                PrivateKeyDer::Pkcs8(der) => Loaded::Ed25519(
                    Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.expose())
                        .map_err(|_| NOT_ED25519)?,
                ),
                _ => return Err(NOT_ED25519),
            },
        };
        let public = match &loaded {
            Loaded::Rsa(pair, _) => pair.public_key().as_ref().to_vec(),
            Loaded::Ecdsa { der, .. } => der.public_key().as_ref().to_vec(),
            Loaded::Ed25519(pair) => pair.public_key().as_ref().to_vec(),
        };
        Ok(Box::new(Key {
            scheme: self.scheme,
            loaded,
            public,
            rng,
        }))
    }
}

enum Loaded {
    Rsa(RsaKeyPair, &'static dyn sig::RsaEncoding),
    Ecdsa {
        der: EcdsaKeyPair,
        p1363: EcdsaKeyPair,
    },
    Ed25519(Ed25519KeyPair),
}

/// A private key loaded into aws-lc-rs.
struct Key {
    scheme: SignatureScheme,
    loaded: Loaded,
    public: Vec<u8>,
    rng: SystemRandom,
}

impl core::fmt::Debug for Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AwsLcSigningKey({}, redacted)", self.scheme)
    }
}

impl SigningKey for Key {
    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    fn public_key(&self) -> &[u8] {
        &self.public
    }

    fn sign(
        &self,
        message: &[u8],
        encoding: SignatureEncoding,
        _rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, CryptoError> {
        const FAILED: CryptoError = CryptoError::InvalidKey("signing failed (aws-lc-rs)");
        match &self.loaded {
            Loaded::Rsa(pair, padding) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(*padding, &self.rng, message, &mut out)
                    .map_err(|_| FAILED)?;
                Ok(out)
            }
            Loaded::Ecdsa { der, p1363 } => {
                let pair = match encoding {
                    SignatureEncoding::Der => der,
                    SignatureEncoding::P1363 => p1363,
                };
                let s = pair.sign(&self.rng, message).map_err(|_| FAILED)?;
                Ok(s.as_ref().to_vec())
            }
            Loaded::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

macro_rules! rsa {
    ($name:ident, $scheme:ident, $verify:ident, $sign:expr, $doc:literal) => {
        #[doc = $doc]
        pub static $name: &dyn SignatureAlgorithm = &Scheme {
            scheme: SignatureScheme::$scheme,
            verify_der: &sig::$verify,
            verify_p1363: &sig::$verify,
            signer: Signer::Rsa($sign),
        };
    };
}

rsa!(
    RSA_PKCS1_SHA1,
    RsaPkcs1Sha1,
    RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
    None,
    "RSASSA-PKCS1-v1_5 with SHA-1 (auth method 1): verification only."
);
rsa!(
    RSA_PKCS1_SHA256,
    RsaPkcs1Sha256,
    RSA_PKCS1_2048_8192_SHA256,
    Some(&sig::RSA_PKCS1_SHA256),
    "RSASSA-PKCS1-v1_5 with SHA-256."
);
rsa!(
    RSA_PKCS1_SHA384,
    RsaPkcs1Sha384,
    RSA_PKCS1_2048_8192_SHA384,
    Some(&sig::RSA_PKCS1_SHA384),
    "RSASSA-PKCS1-v1_5 with SHA-384."
);
rsa!(
    RSA_PKCS1_SHA512,
    RsaPkcs1Sha512,
    RSA_PKCS1_2048_8192_SHA512,
    Some(&sig::RSA_PKCS1_SHA512),
    "RSASSA-PKCS1-v1_5 with SHA-512."
);
rsa!(
    RSA_PSS_SHA256,
    RsaPssSha256,
    RSA_PSS_2048_8192_SHA256,
    Some(&sig::RSA_PSS_SHA256),
    "RSASSA-PSS with SHA-256 (MGF1-SHA-256, 32-octet salt)."
);
rsa!(
    RSA_PSS_SHA384,
    RsaPssSha384,
    RSA_PSS_2048_8192_SHA384,
    Some(&sig::RSA_PSS_SHA384),
    "RSASSA-PSS with SHA-384 (MGF1-SHA-384, 48-octet salt)."
);
rsa!(
    RSA_PSS_SHA512,
    RsaPssSha512,
    RSA_PSS_2048_8192_SHA512,
    Some(&sig::RSA_PSS_SHA512),
    "RSASSA-PSS with SHA-512 (MGF1-SHA-512, 64-octet salt)."
);

/// ECDSA on P-256 with SHA-256 (auth method 9, or 14 with ecdsa-with-SHA256).
pub static ECDSA_P256_SHA256: &dyn SignatureAlgorithm = &Scheme {
    scheme: SignatureScheme::EcdsaP256Sha256,
    verify_der: &sig::ECDSA_P256_SHA256_ASN1,
    verify_p1363: &sig::ECDSA_P256_SHA256_FIXED,
    signer: Signer::Ecdsa {
        der: &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
        p1363: &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
    },
};

/// ECDSA on P-384 with SHA-384 (auth method 10, or 14 with ecdsa-with-SHA384).
pub static ECDSA_P384_SHA384: &dyn SignatureAlgorithm = &Scheme {
    scheme: SignatureScheme::EcdsaP384Sha384,
    verify_der: &sig::ECDSA_P384_SHA384_ASN1,
    verify_p1363: &sig::ECDSA_P384_SHA384_FIXED,
    signer: Signer::Ecdsa {
        der: &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
        p1363: &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
    },
};

/// ECDSA on P-521 with SHA-512 (auth method 11, or 14 with ecdsa-with-SHA512).
pub static ECDSA_P521_SHA512: &dyn SignatureAlgorithm = &Scheme {
    scheme: SignatureScheme::EcdsaP521Sha512,
    verify_der: &sig::ECDSA_P521_SHA512_ASN1,
    verify_p1363: &sig::ECDSA_P521_SHA512_FIXED,
    signer: Signer::Ecdsa {
        der: &sig::ECDSA_P521_SHA512_ASN1_SIGNING,
        p1363: &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
    },
};

/// Ed25519 (RFC 8032, RFC 8420).
pub static ED25519: &dyn SignatureAlgorithm = &Scheme {
    scheme: SignatureScheme::Ed25519,
    verify_der: &sig::ED25519,
    verify_p1363: &sig::ED25519,
    signer: Signer::Ed25519,
};
