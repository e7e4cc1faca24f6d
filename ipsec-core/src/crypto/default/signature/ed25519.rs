//! Ed25519 (RFC 8032) on `ed25519-dalek`, as IKEv2 uses it (RFC 8420): method 14 with the
//! `id-Ed25519` AlgorithmIdentifier, the whole signed octets as the message (hash "Identity").

use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer, Verifier};

use crate::crypto::signature::{PrivateKeyDer, SignatureEncoding, SignatureScheme, SigningKey};
use crate::crypto::{CryptoError, SecureRandom, SignatureAlgorithm};

#[derive(Debug)]
struct Ed25519;

impl SignatureAlgorithm for Ed25519 {
    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::Ed25519
    }

    fn verify(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
        _encoding: SignatureEncoding,
    ) -> Result<(), CryptoError> {
        let bytes: &[u8; 32] = public_key
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("an Ed25519 public key is 32 octets"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| CryptoError::InvalidKey("not an Ed25519 point"))?;
        let sig = ed25519_dalek::Signature::from_slice(signature)
            .map_err(|_| CryptoError::SignatureInvalid)?;
        key.verify(message, &sig)
            .map_err(|_| CryptoError::SignatureInvalid)
    }

    fn signing_key(&self, key: &PrivateKeyDer) -> Result<Box<dyn SigningKey>, CryptoError> {
        let PrivateKeyDer::Pkcs8(der) = key else {
            return Err(CryptoError::InvalidKey("not an Ed25519 key"));
        };
        let key = ed25519_dalek::SigningKey::from_pkcs8_der(der.expose())
            .map_err(|_| CryptoError::InvalidKey("not an Ed25519 private key"))?;
        let public = key.verifying_key().to_bytes();
        Ok(Box::new(Ed25519Key { key, public }))
    }
}

/// A loaded key (`ed25519_dalek::SigningKey` zeroizes on drop).
struct Ed25519Key {
    key: ed25519_dalek::SigningKey,
    public: [u8; 32],
}

impl core::fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Ed25519Key(redacted)")
    }
}

impl SigningKey for Ed25519Key {
    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::Ed25519
    }

    fn public_key(&self) -> &[u8] {
        &self.public
    }

    fn sign(
        &self,
        message: &[u8],
        _encoding: SignatureEncoding,
        _rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, CryptoError> {
        Ok(self.key.sign(message).to_bytes().to_vec())
    }
}

/// Ed25519 (method 14 with `id-Ed25519`, RFC 8420).
pub static ED25519: &dyn SignatureAlgorithm = &Ed25519;
