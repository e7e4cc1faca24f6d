//! The crypto provider: algorithm identifiers, traits, and secrets.
//!
//! A [`CryptoProvider`] is plain data, in the style of rustls: tables of `&'static dyn` algorithm
//! objects plus a random source. It is passed explicitly to whatever needs it; there is no
//! process-wide default. Providers that come with the crate, each behind a cargo feature:
//!
//! | feature | provider | built on |
//! |---|---|---|
//! | `rust-crypto` (default) | [`default_provider`] | the RustCrypto crates; every transform, MODP and 3DES included |
//! | `ring` | `ring::provider()` | *ring* |
//! | `aws-lc-rs` | `aws_lc_rs::provider()` | aws-lc-rs (AWS-LC) |
//! | any of them | [`fastest_provider`] | each transform from the fastest implementation compiled in |
//!
//! Turning off default features (`default-features = false, features = ["aws-lc-rs"]`) builds
//! without the RustCrypto algorithms. Another provider (a hardware one, say) is built by filling
//! the same tables, and proves itself with [`conformance::check`].
//!
//! Keys are set up once per SA ([`AeadAlgorithm::new_key`] and friends return a boxed key object);
//! the per-packet path is then one dynamic call on that object, working in place in the caller's
//! buffer, with no allocation. Secret material lives in types that zeroize on drop
//! ([`SecretBytes`]); tags and MACs are compared in constant time.

pub mod algorithms;
#[cfg(feature = "aws-lc-rs")]
pub mod aws_lc_rs;
pub mod conformance;
#[cfg(feature = "rust-crypto")]
pub mod default;
#[cfg(any(feature = "rust-crypto", feature = "ring", feature = "aws-lc-rs"))]
pub mod fastest;
mod ids;
#[cfg(feature = "no-security")]
pub mod no_security;
mod null;
pub mod random;
#[cfg(feature = "ring")]
pub mod ring;
pub mod signature;

#[cfg(feature = "rust-crypto")]
pub use default::default_provider;
#[cfg(any(feature = "rust-crypto", feature = "ring", feature = "aws-lc-rs"))]
pub use fastest::fastest_provider;
pub use ids::{DhGroup, EncrId, Encryption, EsnId, IntegId, PrfId, TransformType};
pub use null::NULL;
pub use signature::{
    HashAlgorithmId, KeyType, PrivateKeyDer, SignatureAlgorithm, SignatureEncoding,
    SignatureScheme, SigningKey,
};

use core::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Errors from the crypto provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The authentication tag or ICV did not verify. The data must be dropped.
    #[error("integrity check failed")]
    IntegrityCheckFailed,
    /// A key had the wrong length for the algorithm (a caller or negotiation bug).
    #[error("invalid key length {got} for {algorithm} (expected {expected})")]
    InvalidKeyLength {
        /// The algorithm's name.
        algorithm: &'static str,
        /// The length that was expected, in bytes.
        expected: usize,
        /// The length that was given, in bytes.
        got: usize,
    },
    /// An IV, nonce, tag or buffer had the wrong length or alignment.
    #[error("invalid input length: {0}")]
    InvalidLength(&'static str),
    /// The peer's public key-exchange value is invalid (RFC 6989): not on the curve, a small-order
    /// point, an all-zero shared secret, or a MODP value of 0, 1 or p-1. The peer should get
    /// INVALID_SYNTAX.
    #[error("invalid peer public value for {0}")]
    InvalidPeerPublicKey(DhGroup),
    /// The random source failed.
    #[error("random source failed")]
    RandomFailed,
    /// The provider does not implement the requested algorithm.
    #[error("algorithm not supported: {0}")]
    Unsupported(&'static str),
    /// A signature did not verify with the public key given. The peer is not who it claims to
    /// be (or signed other data): AUTHENTICATION_FAILED.
    #[error("signature verification failed")]
    SignatureInvalid,
    /// A public or private key cannot be used with the scheme: malformed, of another type, or an
    /// RSA modulus outside 2048-8192 bits.
    #[error("unusable key: {0}")]
    InvalidKey(&'static str),
}

/// Bytes that are secret: zeroized on drop, redacted in `Debug`, compared in constant time.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

/// Equality takes the same time for any contents of a given length (a derived `==` stops at the
/// first differing byte, telling a timing attacker how much of a guess was right). The lengths
/// themselves are not secret.
impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for SecretBytes {}

impl subtle::ConstantTimeEq for SecretBytes {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        if self.0.len() != other.0.len() {
            return subtle::Choice::from(0);
        }
        self.0.ct_eq(&other.0)
    }
}

impl SecretBytes {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }

    /// Copies `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Self {
        SecretBytes(bytes.to_vec())
    }

    /// `len` zero bytes, to be filled in place.
    pub fn zeroed(len: usize) -> Self {
        SecretBytes(vec![0; len])
    }

    /// The secret bytes. Keep the borrow short and never log it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret bytes, mutably.
    pub fn expose_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes({} bytes, redacted)", self.0.len())
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        SecretBytes(v)
    }
}

/// Compares two byte strings in constant time (for equal lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A combined-mode (AEAD) cipher as used by ESP (RFC 4106, RFC 7634) and IKEv2's SK payload
/// (RFC 5282, RFC 7634).
///
/// Key material is `key || salt`, as IKEv2 derives it (the salt is the implicit part of the nonce);
/// the nonce is `salt || iv`, where `iv` is the explicit IV carried in each packet.
pub trait AeadAlgorithm: Send + Sync + fmt::Debug {
    /// The transform this implements.
    fn encryption(&self) -> Encryption;
    /// Length of the cipher key in bytes, without the salt.
    fn key_len(&self) -> usize;
    /// Length of the salt (implicit nonce part) in bytes.
    fn salt_len(&self) -> usize;
    /// Length of the explicit IV carried in each packet, in bytes.
    fn iv_len(&self) -> usize;
    /// Length of the ICV (authentication tag) in bytes.
    fn tag_len(&self) -> usize;
    /// Length of the key material IKE derives for this transform: `key_len() + salt_len()`.
    fn keymat_len(&self) -> usize {
        self.key_len() + self.salt_len()
    }
    /// Sets up a key from `key || salt`.
    fn new_key(&self, keymat: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError>;
}

/// A keyed AEAD, set up once per SA.
pub trait AeadKey: Send + Sync {
    /// Encrypts `buf` in place and writes the tag into `tag` (`tag.len()` = the tag length).
    fn seal_in_place(
        &self,
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError>;
    /// Verifies `tag` over `aad` and `buf`, then decrypts `buf` in place. On failure `buf` is left
    /// unspecified and [`CryptoError::IntegrityCheckFailed`] is returned.
    fn open_in_place(
        &self,
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError>;
}

/// A block or stream cipher used with a separate integrity algorithm (AES-CBC, 3DES-CBC), or
/// ENCR_NULL.
pub trait CipherAlgorithm: Send + Sync + fmt::Debug {
    /// The transform this implements.
    fn encryption(&self) -> Encryption;
    /// Key length in bytes.
    fn key_len(&self) -> usize;
    /// Block length in bytes (1 for ENCR_NULL); plaintext is padded to a multiple of it.
    fn block_len(&self) -> usize;
    /// Length of the explicit IV carried in each packet (0 for ENCR_NULL).
    fn iv_len(&self) -> usize;
    /// Sets up a key.
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn CipherKey>, CryptoError>;
}

/// A keyed cipher, set up once per SA.
pub trait CipherKey: Send + Sync {
    /// Encrypts `buf` in place; `buf.len()` must be a multiple of the block length.
    fn encrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError>;
    /// Decrypts `buf` in place; `buf.len()` must be a multiple of the block length.
    fn decrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError>;
}

/// A truncated-MAC integrity algorithm (AUTH_HMAC_SHA2_256_128 and friends).
pub trait IntegrityAlgorithm: Send + Sync + fmt::Debug {
    /// The transform this implements.
    fn id(&self) -> IntegId;
    /// Key length in bytes.
    fn key_len(&self) -> usize;
    /// Length of the (truncated) ICV in bytes.
    fn icv_len(&self) -> usize;
    /// Sets up a key.
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn IntegrityKey>, CryptoError>;
}

/// A keyed integrity algorithm, set up once per SA.
pub trait IntegrityKey: Send + Sync {
    /// Computes the ICV over the concatenation of `data` into `icv` (`icv.len()` = the ICV length).
    /// Several pieces let ESP append the high sequence bits (ESN) without copying.
    fn sign(&self, data: &[&[u8]], icv: &mut [u8]);
    /// Computes the ICV over `data` and compares it with `icv` in constant time.
    fn verify(&self, data: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError>;
}

/// A pseudorandom function (RFC 7296 section 2.13).
pub trait PrfAlgorithm: Send + Sync + fmt::Debug {
    /// The transform this implements.
    fn id(&self) -> PrfId;
    /// Output length in bytes (also the preferred key length for SK_d, SK_pi, SK_pr).
    fn output_len(&self) -> usize;
    /// `prf(key, data[0] | data[1] | ...)` written into `out` (`out.len()` = the output length).
    /// Any key length is accepted (HMAC hashes long keys).
    fn prf(&self, key: &[u8], data: &[&[u8]], out: &mut [u8]);
}

/// A key exchange method (Diffie-Hellman group).
pub trait KeyExchangeGroup: Send + Sync + fmt::Debug {
    /// The group this implements.
    fn group(&self) -> DhGroup;
    /// Length of the public value in the KE payload, in bytes.
    fn public_len(&self) -> usize;
    /// Starts a key exchange with a fresh private key from `rng`.
    fn start(&self, rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKeyExchange>, CryptoError>;
    /// Starts a key exchange with the given private key (known-answer tests, scripted peers).
    fn start_with_private(&self, private: &[u8])
        -> Result<Box<dyn ActiveKeyExchange>, CryptoError>;
}

/// One side of a key exchange in progress. Its private key is zeroized on drop.
pub trait ActiveKeyExchange: Send + Sync {
    /// The group.
    fn group(&self) -> DhGroup;
    /// Our public value, encoded as the KE payload carries it (RFC 5903 x|y for ECP, RFC 8031
    /// for Curve25519, big-endian padded to the modulus length for MODP).
    fn public_value(&self) -> &[u8];
    /// Validates the peer's public value (RFC 6989) and computes the shared secret g^ir.
    fn complete(&self, peer_public: &[u8]) -> Result<SecretBytes, CryptoError>;
}

/// A cryptographically secure random source.
pub trait SecureRandom: Send + Sync + fmt::Debug {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError>;
}

/// The algorithms available to the protocol cores: plain data, passed explicitly.
///
/// Tables are searched in order; the first entry that implements a transform wins. Override a
/// field to replace or restrict algorithms, then call [`CryptoProvider::consistency_check`].
#[derive(Clone, Copy, Debug)]
pub struct CryptoProvider {
    /// AEAD ciphers.
    pub aeads: &'static [&'static dyn AeadAlgorithm],
    /// Non-AEAD ciphers (CBC modes, ENCR_NULL).
    pub ciphers: &'static [&'static dyn CipherAlgorithm],
    /// Integrity algorithms.
    pub integrity: &'static [&'static dyn IntegrityAlgorithm],
    /// Pseudorandom functions.
    pub prfs: &'static [&'static dyn PrfAlgorithm],
    /// Key exchange methods.
    pub key_exchanges: &'static [&'static dyn KeyExchangeGroup],
    /// Signature schemes, for certificate authentication (may be empty for PSK-only use).
    pub signatures: &'static [&'static dyn SignatureAlgorithm],
    /// The random source.
    pub random: &'static dyn SecureRandom,
}

impl CryptoProvider {
    /// The AEAD implementing `enc`, if any.
    pub fn aead(&self, enc: Encryption) -> Option<&'static dyn AeadAlgorithm> {
        self.aeads.iter().copied().find(|a| a.encryption() == enc)
    }

    /// The non-AEAD cipher implementing `enc`, if any.
    pub fn cipher(&self, enc: Encryption) -> Option<&'static dyn CipherAlgorithm> {
        self.ciphers.iter().copied().find(|c| c.encryption() == enc)
    }

    /// The integrity algorithm `id`, if any.
    pub fn integrity(&self, id: IntegId) -> Option<&'static dyn IntegrityAlgorithm> {
        self.integrity.iter().copied().find(|i| i.id() == id)
    }

    /// The PRF `id`, if any.
    pub fn prf(&self, id: PrfId) -> Option<&'static dyn PrfAlgorithm> {
        self.prfs.iter().copied().find(|p| p.id() == id)
    }

    /// The key exchange method `group`, if any.
    pub fn key_exchange(&self, group: DhGroup) -> Option<&'static dyn KeyExchangeGroup> {
        self.key_exchanges
            .iter()
            .copied()
            .find(|k| k.group() == group)
    }

    /// The signature scheme `scheme`, if any.
    pub fn signature(&self, scheme: SignatureScheme) -> Option<&'static dyn SignatureAlgorithm> {
        self.signatures
            .iter()
            .copied()
            .find(|s| s.scheme() == scheme)
    }

    /// True when the provider implements `enc`, as an AEAD or as a plain cipher.
    pub fn supports_encryption(&self, enc: Encryption) -> bool {
        self.aead(enc).is_some() || self.cipher(enc).is_some()
    }

    /// Checks that the tables make sense together: no transform or signature scheme listed
    /// twice, AEADs really are AEAD transforms, and a PRF and a key exchange are available.
    pub fn consistency_check(&self) -> Result<(), CryptoError> {
        fn no_dups<T: PartialEq>(items: &[T], what: &'static str) -> Result<(), CryptoError> {
            for (i, a) in items.iter().enumerate() {
                if items[..i].contains(a) {
                    return Err(CryptoError::Unsupported(what));
                }
            }
            Ok(())
        }
        let aeads: Vec<_> = self.aeads.iter().map(|a| a.encryption()).collect();
        let ciphers: Vec<_> = self.ciphers.iter().map(|c| c.encryption()).collect();
        let all_enc: Vec<_> = aeads.iter().chain(ciphers.iter()).copied().collect();
        no_dups(&all_enc, "encryption transform listed twice")?;
        if aeads.iter().any(|e| !e.is_aead()) || ciphers.iter().any(|e| e.is_aead()) {
            return Err(CryptoError::Unsupported(
                "AEAD and non-AEAD tables mixed up",
            ));
        }
        let integ: Vec<_> = self.integrity.iter().map(|i| i.id()).collect();
        no_dups(&integ, "integrity transform listed twice")?;
        let prfs: Vec<_> = self.prfs.iter().map(|p| p.id()).collect();
        no_dups(&prfs, "PRF listed twice")?;
        let kes: Vec<_> = self.key_exchanges.iter().map(|k| k.group()).collect();
        no_dups(&kes, "key exchange listed twice")?;
        // Key derivation takes lengths from the algorithm table: a provider that disagrees
        // with it would derive keys of the wrong size.
        let table = |ok: bool| {
            ok.then_some(()).ok_or(CryptoError::Unsupported(
                "key length differs from the algorithm table",
            ))
        };
        for a in self.aeads {
            if let Some(c) = algorithms::cipher_of(a.encryption()) {
                table(a.key_len() == c.key_len && a.salt_len() == c.salt_len)?;
            }
        }
        for x in self.ciphers {
            if let Some(c) = algorithms::cipher_of(x.encryption()) {
                table(x.key_len() == c.key_len)?;
            }
        }
        for i in self.integrity {
            if let Some(m) = algorithms::mac_of(i.id()) {
                table(i.key_len() == m.key_len && i.icv_len() == m.icv_len)?;
            }
        }
        for p in self.prfs {
            if let Some(r) = algorithms::prf_of(p.id()) {
                table(p.output_len() == r.output_len)?;
            }
        }
        let sigs: Vec<_> = self.signatures.iter().map(|s| s.scheme()).collect();
        no_dups(&sigs, "signature scheme listed twice")?;
        if prfs.is_empty() || kes.is_empty() {
            return Err(CryptoError::Unsupported(
                "a provider needs a PRF and a key exchange",
            ));
        }
        Ok(())
    }
}

/// The providers compiled into this build, by name: `"rust-crypto"`, `"ring"`, `"aws-lc-rs"`, and
/// `"fastest"` (the mixed provider) when more than one is compiled in. For tools that let the user
/// pick one, and for tests and benchmarks that run every provider.
pub fn builtin_providers() -> Vec<(&'static str, CryptoProvider)> {
    let compiled: Vec<(&'static str, CryptoProvider)> = vec![
        #[cfg(feature = "rust-crypto")]
        ("rust-crypto", default_provider()),
        #[cfg(feature = "ring")]
        ("ring", ring::provider()),
        #[cfg(feature = "aws-lc-rs")]
        ("aws-lc-rs", aws_lc_rs::provider()),
    ];
    #[cfg(any(feature = "rust-crypto", feature = "ring", feature = "aws-lc-rs"))]
    if compiled.len() > 1 {
        return compiled
            .into_iter()
            .chain([("fastest", fastest_provider())])
            .collect();
    }
    compiled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_bytes_debug_is_redacted() {
        let s = SecretBytes::from_slice(b"hunter2");
        assert_eq!(format!("{s:?}"), "SecretBytes(7 bytes, redacted)");
        assert_eq!(s.expose(), b"hunter2");
    }

    #[test]
    fn secret_bytes_compare_in_constant_time() {
        fn constant_time<T: subtle::ConstantTimeEq + Eq>() {}
        constant_time::<SecretBytes>();
        let a = SecretBytes::from_slice(b"key material");
        assert!(a == SecretBytes::from_slice(b"key material"));
        assert!(a != SecretBytes::from_slice(b"key materiaL"));
        assert!(a != SecretBytes::from_slice(b"Key material"));
        assert!(a != SecretBytes::from_slice(b"key"));
        assert!(bool::from(a.ct_eq(&a.clone())));
        assert!(!bool::from(a.ct_eq(&SecretBytes::default())));
        assert!(SecretBytes::default() == SecretBytes::zeroed(0));
    }

    #[test]
    fn constant_time_eq_checks_length_and_content() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
