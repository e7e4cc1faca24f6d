//! Path validation: from the peer's certificate, through the intermediates it sent, to a CA the
//! certificate profile trusts. Path building, signatures along the path, validity of every
//! certificate on it, basicConstraints, path length, name constraints and critical extensions
//! are rustls-webpki's; this module adds what IKE asks of the end entity (RFC 4945 section
//! 5.1.3: keyUsage, extendedKeyUsage), checks the trusted CAs' own validity as strongSwan does,
//! and turns every failure into a [`CertificateError`] naming the certificate at fault.
//!
//! Signatures are verified by the crypto provider's [`SignatureAlgorithm`]s, so a provider
//! that lacks a scheme cannot validate certificates signed with it. Certificate signatures are
//! accepted with SHA-256, SHA-384 or SHA-512 (not SHA-1), ECDSA with the curve's own hash.

use rustls_pki_types::{
    alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm,
    TrustAnchor,
};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter};

use super::certificate::Certificate;
use super::error::CertificateError;
use crate::crypto::{CryptoProvider, SignatureAlgorithm, SignatureEncoding, SignatureScheme};
use crate::time::UnixTime;

/// The CAs one certificate profile trusts.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    cas: Vec<Certificate>,
}

/// A validated path, end entity first, ending at the trusted CA.
#[derive(Clone, Debug)]
pub struct VerifiedChain {
    /// The end entity, the intermediates used, the trusted CA.
    pub path: Vec<Certificate>,
}

impl TrustStore {
    /// A store trusting `cas` (roots, or intermediates trusted directly, as PAN-OS allows).
    pub fn new(cas: Vec<Certificate>) -> Self {
        TrustStore { cas }
    }

    /// The trusted CAs.
    pub fn cas(&self) -> &[Certificate] {
        &self.cas
    }

    /// SHA-1 hashes of the trusted CAs' public keys, for our CERTREQ payloads (RFC 7296
    /// section 3.7).
    pub fn ca_key_hashes(&self) -> Vec<[u8; 20]> {
        self.cas.iter().map(Certificate::key_hash).collect()
    }

    /// Validates `end_entity` at `now`, with `intermediates` (the peer's other CERT payloads,
    /// in any order; unneeded ones are ignored), verifying signatures with `provider`.
    pub fn verify(
        &self,
        provider: &CryptoProvider,
        end_entity: &Certificate,
        intermediates: &[Certificate],
        now: UnixTime,
    ) -> Result<VerifiedChain, CertificateError> {
        let subject = || end_entity.subject().to_string();
        // The end entity first, to name it precisely; webpki checks it too.
        end_entity.check_validity(now)?;
        if end_entity.is_ca() {
            return Err(CertificateError::BasicConstraints {
                subject: subject(),
                why: "is a CA certificate, not a peer's own",
            });
        }
        if !end_entity.key_usage_allows_signing() {
            return Err(CertificateError::KeyUsage { subject: subject() });
        }
        end_entity.key_type()?;

        let algs = webpki_algorithms(provider);
        let algs: Vec<&dyn SignatureVerificationAlgorithm> = algs
            .iter()
            .map(|a| a as &dyn SignatureVerificationAlgorithm)
            .collect();
        let ca_ders: Vec<CertificateDer<'_>> = self
            .cas
            .iter()
            .map(|c| CertificateDer::from(c.der()))
            .collect();
        let anchors: Vec<TrustAnchor<'_>> = ca_ders
            .iter()
            .filter_map(|d| webpki::anchor_from_trusted_cert(d).ok())
            .collect();
        let inter_ders: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|c| CertificateDer::from(c.der()))
            .collect();
        let ee_der = CertificateDer::from(end_entity.der());
        let ee = EndEntityCert::try_from(&ee_der).map_err(|e| CertificateError::Path {
            subject: subject(),
            why: e.to_string(),
        })?;
        let time = rustls_pki_types::UnixTime::since_unix_epoch(core::time::Duration::from_secs(
            now.as_secs(),
        ));
        let usage = IkeUsage::default();
        let verified = ee
            .verify_for_usage(&algs, &anchors, &inter_ders, time, &usage, None, None)
            .map_err(|e| self.explain(e, end_entity, intermediates, now, usage.refused.get()))?;

        let mut path = vec![end_entity.clone()];
        for der in verified.intermediate_certificates() {
            if let Some(c) = intermediates.iter().find(|c| c.der() == der.der().as_ref()) {
                path.push(c.clone());
            }
        }
        let anchor = verified.anchor();
        let ca = self
            .cas
            .iter()
            .zip(&anchors)
            .find(|(_, a)| {
                a.subject == anchor.subject
                    && a.subject_public_key_info == anchor.subject_public_key_info
            })
            .map(|(c, _)| c.clone());
        if let Some(ca) = ca {
            // webpki does not check a trust anchor's own dates; strongSwan does, and an
            // expired root is a mistake an admin wants named.
            ca.check_validity(now)?;
            path.push(ca);
        }
        Ok(VerifiedChain { path })
    }

    /// Turns a webpki error into the check an admin understands, naming the certificate.
    fn explain(
        &self,
        e: webpki::Error,
        ee: &Certificate,
        intermediates: &[Certificate],
        now: UnixTime,
        eku_refused: bool,
    ) -> CertificateError {
        use webpki::Error as E;
        let subject = ee.subject().to_string();
        match e {
            _ if eku_refused => CertificateError::ExtendedKeyUsage {
                subject,
                found: ee
                    .extended_key_usage()
                    .map_or("(on an issuer)".into(), |e| e.join(", ")),
            },
            E::CertExpired { .. } | E::CertNotValidYet { .. } => {
                // The end entity was checked first: an intermediate on the path is out of date.
                intermediates
                    .iter()
                    .find_map(|c| c.check_validity(now).err())
                    .unwrap_or(CertificateError::Path {
                        subject,
                        why: e.to_string(),
                    })
            }
            E::UnknownIssuer => CertificateError::UnknownIssuer {
                subject,
                issuer: ee.issuer().to_string(),
            },
            E::InvalidSignatureForPublicKey => CertificateError::BadSignature {
                subject,
                issuer: ee.issuer().to_string(),
            },
            E::UnsupportedSignatureAlgorithmContext(_)
            | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
                CertificateError::UnsupportedAlgorithm {
                    subject,
                    algorithm: e.to_string(),
                }
            }
            E::CaUsedAsEndEntity => CertificateError::BasicConstraints {
                subject,
                why: "is a CA certificate, not a peer's own",
            },
            E::EndEntityUsedAsCa => CertificateError::BasicConstraints {
                subject,
                why: "an issuer on its path is not a CA (basicConstraints)",
            },
            E::PathLenConstraintViolated => CertificateError::BasicConstraints {
                subject,
                why: "the path is longer than a CA's pathLenConstraint allows",
            },
            E::UnsupportedCriticalExtension
            | E::NameConstraintViolation
            | E::MalformedExtensions
            | E::ExtensionValueInvalid => CertificateError::Extension {
                subject,
                why: e.to_string(),
            },
            other => CertificateError::Path {
                subject,
                why: other.to_string(),
            },
        }
    }
}

/// RFC 4945 section 5.1.3.12: without extendedKeyUsage, fine; with it, it must allow IKE. Beyond
/// the RFC's ipsecIKE and anyExtendedKeyUsage, serverAuth and clientAuth (what most CAs issue,
/// and what Windows asks of a gateway) and ikeIntermediate (1.3.6.1.5.5.8.2.2, `pki --flag
/// ikeIntermediate`) are accepted, as strongSwan and Windows do.
#[derive(Default)]
struct IkeUsage {
    /// Set when a certificate's purposes were refused: webpki's own error for it cannot be
    /// built outside the crate, so the refusal is remembered here.
    refused: core::cell::Cell<bool>,
}

const IKE_PURPOSES: &[&[usize]] = &[
    &[1, 3, 6, 1, 5, 5, 7, 3, 17], // id-kp-ipsecIKE (RFC 4945)
    &[2, 5, 29, 37, 0],            // anyExtendedKeyUsage
    &[1, 3, 6, 1, 5, 5, 7, 3, 1],  // id-kp-serverAuth
    &[1, 3, 6, 1, 5, 5, 7, 3, 2],  // id-kp-clientAuth
    &[1, 3, 6, 1, 5, 5, 8, 2, 2],  // iKEIntermediate
];

impl ExtendedKeyUsageValidator for IkeUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let mut empty = true;
        for id in iter {
            empty = false;
            if IKE_PURPOSES.contains(&id?.to_decoded_oid().as_slice()) {
                return Ok(());
            }
        }
        if empty {
            Ok(())
        } else {
            self.refused.set(true);
            Err(webpki::Error::ExtensionValueInvalid)
        }
    }
}

/// A provider scheme as rustls-webpki sees it: the key and signature AlgorithmIdentifiers it
/// verifies.
#[derive(Debug)]
struct WebPkiAlg {
    alg: &'static dyn SignatureAlgorithm,
    public_key: AlgorithmIdentifier,
    signature: AlgorithmIdentifier,
}

impl SignatureVerificationAlgorithm for WebPkiAlg {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        self.alg
            .verify(public_key, message, signature, SignatureEncoding::Der)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.public_key
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature
    }
}

fn webpki_algorithms(provider: &CryptoProvider) -> Vec<WebPkiAlg> {
    use SignatureScheme::*;
    provider
        .signatures
        .iter()
        .filter_map(|alg| {
            let (public_key, signature) = match alg.scheme() {
                RsaPkcs1Sha256 => (alg_id::RSA_ENCRYPTION, alg_id::RSA_PKCS1_SHA256),
                RsaPkcs1Sha384 => (alg_id::RSA_ENCRYPTION, alg_id::RSA_PKCS1_SHA384),
                RsaPkcs1Sha512 => (alg_id::RSA_ENCRYPTION, alg_id::RSA_PKCS1_SHA512),
                RsaPssSha256 => (alg_id::RSA_ENCRYPTION, alg_id::RSA_PSS_SHA256),
                RsaPssSha384 => (alg_id::RSA_ENCRYPTION, alg_id::RSA_PSS_SHA384),
                RsaPssSha512 => (alg_id::RSA_ENCRYPTION, alg_id::RSA_PSS_SHA512),
                EcdsaP256Sha256 => (alg_id::ECDSA_P256, alg_id::ECDSA_SHA256),
                EcdsaP384Sha384 => (alg_id::ECDSA_P384, alg_id::ECDSA_SHA384),
                EcdsaP521Sha512 => (alg_id::ECDSA_P521, alg_id::ECDSA_SHA512),
                Ed25519 => (alg_id::ED25519, alg_id::ED25519),
                // SHA-1 certificate signatures are refused (RFC 8247 section 3.2 spirit).
                _ => return None,
            };
            Some(WebPkiAlg {
                alg: *alg,
                public_key,
                signature,
            })
        })
        .collect()
}
