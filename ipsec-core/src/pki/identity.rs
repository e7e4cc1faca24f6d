//! Does the identity a peer sent in IDi/IDr appear in its certificate?
//!
//! RFC 4945 section 3.1 (and RFC 7296 section 3.5): an ID_DER_ASN1_DN must equal the subject
//! (or a directoryName subjectAltName); an ID_FQDN, ID_RFC822_ADDR or ID_IPV4/IPV6_ADDR must
//! equal a subjectAltName of the same kind. A certificate profile may instead name the one field
//! to look at ([`CertificateField`]), as PAN-OS's `username-field` does.

use core::fmt;
use std::net::IpAddr;

use super::certificate::{AltName, Certificate};
use super::error::CertificateError;
use super::name::DistinguishedName;

/// An identity from an ID payload (RFC 7296 section 3.5), borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerIdentity<'a> {
    /// ID_IPV4_ADDR or ID_IPV6_ADDR.
    Ip(IpAddr),
    /// ID_FQDN.
    Fqdn(&'a str),
    /// ID_RFC822_ADDR.
    Email(&'a str),
    /// ID_DER_ASN1_DN: the DER of a Name.
    Dn(&'a [u8]),
    /// ID_KEY_ID: opaque, never in a certificate.
    KeyId(&'a [u8]),
}

impl fmt::Display for PeerIdentity<'_> {
    /// `fqdn:branch.example.net`, `dn:C=CH, O=Example, CN=branch`, like PAN-OS's `show vpn
    /// ike-sa` prints IDs; text from the peer is escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerIdentity::Ip(a) => write!(f, "ipaddr:{a}"),
            PeerIdentity::Fqdn(s) => write!(f, "fqdn:{}", crate::text::Escaped(s)),
            PeerIdentity::Email(s) => write!(f, "ufqdn:{}", crate::text::Escaped(s)),
            PeerIdentity::Dn(d) => match DistinguishedName::from_der(d) {
                Ok(dn) => write!(f, "dn:{dn}"),
                Err(_) => write!(f, "dn:(not DER, {} octets)", d.len()),
            },
            PeerIdentity::KeyId(k) => write!(f, "keyid:{} octets", k.len()),
        }
    }
}

/// Which certificate field the peer's identity must match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CertificateField {
    /// RFC 4945: a DN against the subject or a directoryName; the other types against a
    /// subjectAltName of their kind.
    #[default]
    SubjectOrAltName,
    /// The subject only: a DN against the whole subject, any other type against its common
    /// name (certificates without subjectAltNames).
    SubjectCommonName,
    /// subjectAltName entries only.
    AltName,
}

impl CertificateField {
    fn describe(self) -> &'static str {
        match self {
            CertificateField::SubjectOrAltName => "subject or subjectAltName",
            CertificateField::SubjectCommonName => "subject common name",
            CertificateField::AltName => "subjectAltName",
        }
    }
}

/// `Ok` when `id` appears in `cert` in the field `field` names. DNS names and e-mail addresses
/// compare without regard to ASCII case.
pub fn check_identity(
    cert: &Certificate,
    id: PeerIdentity<'_>,
    field: CertificateField,
) -> Result<(), CertificateError> {
    let subject_ok = || match id {
        PeerIdentity::Dn(d) => {
            DistinguishedName::from_der(d).is_ok_and(|dn| dn.matches(cert.subject()))
        }
        PeerIdentity::Fqdn(s) | PeerIdentity::Email(s) => cert
            .subject()
            .common_name()
            .is_some_and(|cn| cn.eq_ignore_ascii_case(s)),
        PeerIdentity::Ip(a) => {
            cert.subject()
                .common_name()
                .and_then(|cn| cn.parse::<IpAddr>().ok())
                == Some(a)
        }
        PeerIdentity::KeyId(_) => false,
    };
    let alt_ok = || {
        cert.alt_names().iter().any(|n| match (n, id) {
            (AltName::Dns(n), PeerIdentity::Fqdn(s))
            | (AltName::Email(n), PeerIdentity::Email(s)) => n.eq_ignore_ascii_case(s),
            (AltName::Ip(n), PeerIdentity::Ip(a)) => *n == a,
            (AltName::Dn(n), PeerIdentity::Dn(d)) => {
                DistinguishedName::from_der(d).is_ok_and(|dn| dn.matches(n))
            }
            _ => false,
        })
    };
    let found = match field {
        CertificateField::SubjectOrAltName => {
            let dn_subject = matches!(id, PeerIdentity::Dn(_)) && subject_ok();
            dn_subject || alt_ok()
        }
        CertificateField::SubjectCommonName => subject_ok(),
        CertificateField::AltName => alt_ok(),
    };
    if found {
        Ok(())
    } else {
        Err(CertificateError::IdMismatch {
            id: id.to_string(),
            subject: cert.subject().to_string(),
            field: field.describe(),
        })
    }
}
