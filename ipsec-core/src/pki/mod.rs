//! X.509 certificates for IKEv2 authentication: decoding ([`Certificate`]), path validation to
//! a certificate profile's trusted CAs ([`TrustStore`]), identities against certificates
//! ([`check_identity`]), distinguished names ([`DistinguishedName`]), and our own credential
//! ([`LocalCredential`]).
//!
//! It is Sans-IO like the rest of the crate: certificates come in as bytes, the time as a
//! [`UnixTime`] the caller reads from its clock, signatures are verified by the
//! [`CryptoProvider`] passed in. Parsing is the `x509-cert`
//! crate's (RustCrypto, the same DER stack as the signature crates); path building and the
//! RFC 5280 checks are `rustls-webpki`'s, the validator rustls uses. No ASN.1 is decoded by
//! hand.
//!
//! Every refusal is a [`CertificateError`] whose text names the certificate and the check
//! (`certificate "C=CH, O=Example, CN=branch" expired on 2021-01-01T00:00:00Z (now ...)`), and
//! whose [`CertificateError::check`] says which check failed, for the log line an admin reads.
//!
//! **Revocation is out of scope**: CRLs and OCSP are not fetched or consulted (rustls-webpki can
//! check CRLs an embedder supplies; fetching them needs I/O this crate does not do). A revoked
//! certificate is accepted until it expires; keep lifetimes short or remove the CA from the
//! profile.
//!
//! # How IKE_AUTH uses this module
//!
//! Configuration gives each certificate-authenticated gateway a [`LocalCredential`] (the
//! `local-certificate` object: our chain and private key) and a [`TrustStore`] plus a
//! [`CertificateField`] (its `certificate-profile`).
//!
//! *Sending* (initiator in its IKE_AUTH request, responder in its answer):
//!
//! 1. IKE_SA_INIT: each side sends CERTREQ (encoding 4) with [`TrustStore::ca_key_hashes`] and
//!    the SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 section 4) listing the hashes of the
//!    provider's schemes ([`crate::crypto::SignatureScheme::hash`]).
//! 2. The ID payload is the configured `local-id` ([`DistinguishedName::to_der`] for type
//!    `dn`), or by default our certificate's subject DN ([`Certificate::subject_der`]).
//! 3. CERT payloads (encoding 4, X.509 Signature): [`LocalCredential::chain`] in order, end
//!    entity first.
//! 4. AUTH: pick the scheme with [`LocalCredential::choose_scheme`] given the peer's hash list
//!    (`None` when the peer sent no SIGNATURE_HASH_ALGORITHMS: then the classic method from
//!    [`crate::crypto::SignatureScheme::classic_auth_method`]). Sign the octets of RFC 7296
//!    section 2.15 with the [`crate::crypto::SigningKey`] from [`LocalCredential::signing_key`].
//!    For method 14 the AUTH data is `len(AlgorithmIdentifier) || AlgorithmIdentifier ||
//!    signature` ([`crate::crypto::SignatureScheme::algorithm_identifier`], DER ECDSA); for
//!    methods 9-11 the signature is `r || s`
//!    ([`crate::crypto::SignatureScheme::encoding_for_auth_method`]).
//!
//! *Receiving*:
//!
//! 1. The first CERT payload is the peer's certificate, the others intermediates
//!    ([`peer_chain`]); CERT payloads of other encodings are ignored.
//! 2. The peer's ID is checked against the configured `peer-id` (exact or wildcard; DN IDs with
//!    [`DistinguishedName::matches`] / [`DistinguishedName::matches_pattern`]).
//! 3. [`TrustStore::verify`] at the current wall-clock time; then, unless the gateway sets
//!    `allow-id-payload-mismatch`, [`check_identity`] with the profile's field.
//! 4. The AUTH method gives the scheme: 14 through
//!    [`crate::crypto::SignatureScheme::from_algorithm_identifier`] with the certificate's
//!    [`Certificate::key_type`]; 1, 9-11 through
//!    [`crate::crypto::SignatureScheme::from_classic_auth_method`]. Verify with the provider's
//!    scheme and [`Certificate::public_key`].
//! 5. Any failure: AUTHENTICATION_FAILED to the peer, and the [`CertificateError`] text (or
//!    "signature verification failed") in the log.

mod certificate;
mod error;
mod identity;
mod name;
mod verify;

pub use certificate::{AltName, Certificate};
pub use error::{CertificateError, Check};
pub use identity::{check_identity, CertificateField, PeerIdentity};
pub use name::{DistinguishedName, NameError};
pub use verify::{TrustStore, VerifiedChain};

pub use crate::time::UnixTime;

use crate::crypto::{
    CryptoError, CryptoProvider, HashAlgorithmId, PrivateKeyDer, SignatureScheme, SigningKey,
};

/// The peer's chain from its CERT payloads' DER (encoding 4 only, in payload order): the first
/// is its own certificate (RFC 7296 section 3.6), the rest intermediates.
pub fn peer_chain<'a>(
    ders: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(Certificate, Vec<Certificate>), CertificateError> {
    let mut certs = ders.into_iter().map(|d| Certificate::from_der(d.to_vec()));
    let first = certs
        .next()
        .ok_or_else(|| CertificateError::Malformed("the peer sent no certificate".into()))??;
    let rest = certs.collect::<Result<Vec<_>, _>>()?;
    Ok((first, rest))
}

/// Our certificate chain (end entity first) and its private key.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalCredential {
    chain: Vec<Certificate>,
    key: PrivateKeyDer,
}

impl core::fmt::Debug for LocalCredential {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalCredential")
            .field("chain", &self.chain)
            .field("key", &self.key)
            .finish()
    }
}

impl LocalCredential {
    /// A credential from a chain (end entity first) and its key. Fails when the chain is empty
    /// or the key does not belong to the first certificate (checked with `provider`).
    pub fn new(
        provider: &CryptoProvider,
        chain: Vec<Certificate>,
        key: PrivateKeyDer,
    ) -> Result<Self, CertificateError> {
        let ee = chain
            .first()
            .ok_or_else(|| CertificateError::Malformed("the chain is empty".into()))?;
        let key_type = ee.key_type()?;
        let mismatch = |why: &str| CertificateError::PublicKey {
            subject: ee.subject().to_string(),
            why: why.to_string(),
        };
        if key.key_type().ok() != Some(key_type) {
            return Err(mismatch(
                "the private key is of another type than the certificate's",
            ));
        }
        let scheme = SignatureScheme::ALL
            .into_iter()
            .find(|s| s.key_type() == key_type && provider.signature(*s).is_some())
            .ok_or_else(|| mismatch("the crypto provider has no scheme for this key type"))?;
        let loaded = provider
            .signature(scheme)
            .map(|a| a.signing_key(&key))
            .transpose()
            .map_err(|e| mismatch(&e.to_string()))?;
        if loaded.is_some_and(|k| k.public_key() != ee.public_key()) {
            return Err(mismatch(
                "the private key does not belong to this certificate",
            ));
        }
        Ok(LocalCredential { chain, key })
    }

    /// The chain, end entity first: the CERT payloads to send.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// Our certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.chain[0]
    }

    /// The private key.
    pub fn private_key(&self) -> &PrivateKeyDer {
        &self.key
    }

    /// The scheme to sign with: the first of `preference` (or [`SignatureScheme::ALL`]) that
    /// suits our key, the provider implements and, when the peer sent SIGNATURE_HASH_ALGORITHMS,
    /// uses a hash it listed. `None` when nothing fits.
    pub fn choose_scheme(
        &self,
        provider: &CryptoProvider,
        peer_hashes: Option<&[HashAlgorithmId]>,
        preference: Option<&[SignatureScheme]>,
    ) -> Option<SignatureScheme> {
        let key_type = self.certificate().key_type().ok()?;
        let order = preference.unwrap_or(&SignatureScheme::ALL);
        order.iter().copied().find(|s| {
            s.key_type() == key_type
                && provider.signature(*s).is_some()
                && match peer_hashes {
                    // RFC 7427 method 14: a hash the peer accepts; never SHA-1 (RFC 8247).
                    Some(h) => h.contains(&s.hash()) && s.hash() != HashAlgorithmId::SHA1,
                    // The classic methods fix the scheme per key type.
                    None => s.classic_auth_method().is_some(),
                }
        })
    }

    /// Loads the private key for `scheme`.
    pub fn signing_key(
        &self,
        provider: &CryptoProvider,
        scheme: SignatureScheme,
    ) -> Result<Box<dyn SigningKey>, CryptoError> {
        provider
            .signature(scheme)
            .ok_or(CryptoError::Unsupported("signature scheme"))?
            .signing_key(&self.key)
    }
}
