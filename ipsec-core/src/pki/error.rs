//! Why a certificate was refused: one variant per check, each naming the certificate by its
//! subject so the log line tells an admin what to fix.

use crate::time::UnixTime;

/// The check a [`CertificateError`] comes from, for counters and short log fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Check {
    /// Decoding the certificate.
    Syntax,
    /// notBefore / notAfter against the time passed in.
    Validity,
    /// A path to a trusted CA.
    Issuer,
    /// The signatures along the path.
    Signature,
    /// basicConstraints and path length.
    BasicConstraints,
    /// keyUsage of the end entity.
    KeyUsage,
    /// extendedKeyUsage.
    ExtendedKeyUsage,
    /// Name constraints and critical extensions.
    Extensions,
    /// The peer's ID against the certificate.
    Identity,
    /// The public key's type and size.
    PublicKey,
}

impl Check {
    /// Lower-case name (`validity`, `issuer`).
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Syntax => "syntax",
            Check::Validity => "validity",
            Check::Issuer => "issuer",
            Check::Signature => "signature",
            Check::BasicConstraints => "basic constraints",
            Check::KeyUsage => "key usage",
            Check::ExtendedKeyUsage => "extended key usage",
            Check::Extensions => "extensions",
            Check::Identity => "identity",
            Check::PublicKey => "public key",
        }
    }
}

/// A certificate refused, with the check that refused it. `subject` is the refused
/// certificate's subject DN as text (escaped: it comes from the peer).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// Not a DER X.509 certificate (or not PEM where PEM was expected).
    #[error("not an X.509 certificate: {0}")]
    Malformed(String),
    /// The certificate's validity ended before `now`.
    #[error("certificate \"{subject}\" expired on {not_after} (now {now})")]
    Expired {
        /// The certificate's subject.
        subject: String,
        /// Its notAfter.
        not_after: UnixTime,
        /// The time checked against.
        now: UnixTime,
    },
    /// The certificate's validity starts after `now` (or the local clock is wrong).
    #[error("certificate \"{subject}\" is not valid before {not_before} (now {now})")]
    NotYetValid {
        /// The certificate's subject.
        subject: String,
        /// Its notBefore.
        not_before: UnixTime,
        /// The time checked against.
        now: UnixTime,
    },
    /// No path leads from the certificate to a trusted CA: issued by a CA the profile does not
    /// list, or an intermediate CA was not sent.
    #[error(
        "certificate \"{subject}\" was issued by \"{issuer}\", which is not a trusted CA \
         (nor an intermediate leading to one)"
    )]
    UnknownIssuer {
        /// The certificate's subject.
        subject: String,
        /// Its issuer.
        issuer: String,
    },
    /// A signature along the path does not verify with the issuer's key: forged, corrupted,
    /// or issued by another CA of the same name.
    #[error(
        "the signature on certificate \"{subject}\" does not verify with the key of \"{issuer}\" \
         (another CA of that name, or a forged or damaged certificate)"
    )]
    BadSignature {
        /// The certificate's subject.
        subject: String,
        /// Its issuer's name.
        issuer: String,
    },
    /// A signature or key algorithm the crypto provider does not verify.
    #[error("certificate \"{subject}\": unsupported signature or key algorithm {algorithm}")]
    UnsupportedAlgorithm {
        /// The certificate's subject.
        subject: String,
        /// What was found.
        algorithm: String,
    },
    /// A certificate used as an issuer is not a CA (basicConstraints cA absent), or a CA
    /// certificate is presented as the peer's own.
    #[error("certificate \"{subject}\": {why}")]
    BasicConstraints {
        /// The certificate's subject.
        subject: String,
        /// What is wrong.
        why: &'static str,
    },
    /// keyUsage present without digitalSignature or nonRepudiation (RFC 4945 section 5.1.3.2).
    #[error("certificate \"{subject}\" has keyUsage without digitalSignature or nonRepudiation")]
    KeyUsage {
        /// The certificate's subject.
        subject: String,
    },
    /// extendedKeyUsage present without a purpose IKE accepts.
    #[error(
        "certificate \"{subject}\" has extendedKeyUsage {found} without ipsecIKE, \
         anyExtendedKeyUsage, serverAuth, clientAuth or ikeIntermediate"
    )]
    ExtendedKeyUsage {
        /// The certificate's subject.
        subject: String,
        /// The purposes found.
        found: String,
    },
    /// An extension marked critical that is not understood, or a name constraint violated.
    #[error("certificate \"{subject}\": {why}")]
    Extension {
        /// The certificate's subject.
        subject: String,
        /// What is wrong.
        why: String,
    },
    /// The peer's identity is not in its certificate.
    #[error("peer ID {id} is not in certificate \"{subject}\" ({field})")]
    IdMismatch {
        /// The identity the peer sent, as text (`fqdn:branch.example.net`).
        id: String,
        /// The certificate's subject.
        subject: String,
        /// Where it was looked for (`subject or subjectAltName`).
        field: &'static str,
    },
    /// The public key is of no type the schemes use, or too weak.
    #[error("certificate \"{subject}\": {why}")]
    PublicKey {
        /// The certificate's subject.
        subject: String,
        /// What is wrong.
        why: String,
    },
    /// Any other path-building failure (too deep, too many signatures): the validator's own
    /// wording.
    #[error("certificate \"{subject}\": path validation failed: {why}")]
    Path {
        /// The certificate's subject.
        subject: String,
        /// The validator's reason.
        why: String,
    },
}

impl CertificateError {
    /// The check that failed.
    pub fn check(&self) -> Check {
        match self {
            CertificateError::Malformed(_) => Check::Syntax,
            CertificateError::Expired { .. } | CertificateError::NotYetValid { .. } => {
                Check::Validity
            }
            CertificateError::UnknownIssuer { .. } | CertificateError::Path { .. } => Check::Issuer,
            CertificateError::BadSignature { .. }
            | CertificateError::UnsupportedAlgorithm { .. } => Check::Signature,
            CertificateError::BasicConstraints { .. } => Check::BasicConstraints,
            CertificateError::KeyUsage { .. } => Check::KeyUsage,
            CertificateError::ExtendedKeyUsage { .. } => Check::ExtendedKeyUsage,
            CertificateError::Extension { .. } => Check::Extensions,
            CertificateError::IdMismatch { .. } => Check::Identity,
            CertificateError::PublicKey { .. } => Check::PublicKey,
        }
    }
}
