//! One X.509 certificate, decoded once (with `x509-cert`) into what IKE needs from it: subject,
//! issuer, validity, subjectAltNames, key usage, the public key, and the CA key hash CERTREQ
//! payloads carry.

use core::fmt;
use std::net::IpAddr;

use der::{Decode, Encode};
use sha1::{Digest, Sha1};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};

use super::error::CertificateError;
use super::name::DistinguishedName;
use crate::crypto::signature::key_type_of_algorithm;
use crate::crypto::KeyType;
use crate::time::UnixTime;

/// A subjectAltName entry IKE identities can match (RFC 4945 section 3.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AltName {
    /// dNSName.
    Dns(String),
    /// rfc822Name (an e-mail address).
    Email(String),
    /// iPAddress.
    Ip(IpAddr),
    /// directoryName.
    Dn(DistinguishedName),
}

/// A decoded certificate. Cheap to clone; the DER is kept for CERT payloads and path building.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    subject: DistinguishedName,
    subject_der: Vec<u8>,
    issuer: DistinguishedName,
    not_before: UnixTime,
    not_after: UnixTime,
    alt_names: Vec<AltName>,
    is_ca: bool,
    key_usage_ok: Option<bool>,
    extended_key_usage: Option<Vec<String>>,
    key_type: Result<KeyType, String>,
    public_key: Vec<u8>,
    spki: Vec<u8>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Certificate(\"{}\", issuer \"{}\")",
            self.subject, self.issuer
        )
    }
}

fn malformed(why: impl fmt::Display) -> CertificateError {
    CertificateError::Malformed(why.to_string())
}

impl Certificate {
    /// Decodes a DER certificate (a CERT payload of encoding 4, X.509 Certificate - Signature).
    pub fn from_der(der: impl Into<Vec<u8>>) -> Result<Certificate, CertificateError> {
        let der = der.into();
        let cert = x509_cert::Certificate::from_der(&der).map_err(malformed)?;
        let tbs = &cert.tbs_certificate;
        let subject = DistinguishedName::from_name(&tbs.subject);
        let ext = |e: der::Error| malformed(format!("certificate \"{subject}\": {e}"));
        let mut alt_names = Vec::new();
        if let Some((_, san)) = tbs.get::<SubjectAltName>().map_err(ext)? {
            for name in san.0 {
                match name {
                    GeneralName::DnsName(s) => alt_names.push(AltName::Dns(s.to_string())),
                    GeneralName::Rfc822Name(s) => alt_names.push(AltName::Email(s.to_string())),
                    GeneralName::IpAddress(o) => match o.as_bytes().len() {
                        4 => alt_names.push(AltName::Ip(IpAddr::from(
                            <[u8; 4]>::try_from(o.as_bytes()).map_err(malformed)?,
                        ))),
                        16 => alt_names.push(AltName::Ip(IpAddr::from(
                            <[u8; 16]>::try_from(o.as_bytes()).map_err(malformed)?,
                        ))),
                        _ => {}
                    },
                    GeneralName::DirectoryName(n) => {
                        alt_names.push(AltName::Dn(DistinguishedName::from_name(&n)))
                    }
                    _ => {}
                }
            }
        }
        let is_ca = tbs
            .get::<BasicConstraints>()
            .map_err(ext)?
            .is_some_and(|(_, bc)| bc.ca);
        let key_usage_ok = tbs
            .get::<KeyUsage>()
            .map_err(ext)?
            .map(|(_, ku)| ku.digital_signature() || ku.non_repudiation());
        let extended_key_usage = tbs
            .get::<ExtendedKeyUsage>()
            .map_err(ext)?
            .map(|(_, eku)| eku.0.iter().map(|o| o.to_string()).collect());
        let spki_info = &tbs.subject_public_key_info;
        let spki = spki_info.to_der().map_err(malformed)?;
        let key_type = spki::SubjectPublicKeyInfoRef::from_der(&spki)
            .map_err(malformed)
            .map(|info| key_type_of_algorithm(&info.algorithm))?;
        Ok(Certificate {
            subject_der: tbs.subject.to_der().map_err(malformed)?,
            issuer: DistinguishedName::from_name(&tbs.issuer),
            not_before: UnixTime::from_secs(tbs.validity.not_before.to_unix_duration().as_secs()),
            not_after: UnixTime::from_secs(tbs.validity.not_after.to_unix_duration().as_secs()),
            alt_names,
            is_ca,
            key_usage_ok,
            extended_key_usage,
            key_type,
            public_key: spki_info.subject_public_key.raw_bytes().to_vec(),
            spki,
            subject,
            der,
        })
    }

    /// Decodes every `CERTIFICATE` block of PEM text, in order (a file may hold a certificate
    /// followed by its intermediates). A DER file (starting with a SEQUENCE) is one certificate.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Vec<Certificate>, CertificateError> {
        if bytes.first() == Some(&0x30) {
            return Ok(vec![Certificate::from_der(bytes.to_vec())?]);
        }
        let text = core::str::from_utf8(bytes).map_err(|_| malformed("neither PEM nor DER"))?;
        let mut out = Vec::new();
        let mut rest = text;
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        while let Some(start) = rest.find(BEGIN) {
            let end = rest[start..]
                .find(END)
                .ok_or_else(|| malformed("PEM block without END line"))?
                + start
                + END.len();
            let (_, der) =
                pem_rfc7468::decode_vec(&rest.as_bytes()[start..end]).map_err(malformed)?;
            out.push(Certificate::from_der(der)?);
            rest = &rest[end..];
        }
        if out.is_empty() {
            return Err(malformed("no \"-----BEGIN CERTIFICATE-----\" block"));
        }
        Ok(out)
    }

    /// The DER encoding, as a CERT payload carries it.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject.
    pub fn subject(&self) -> &DistinguishedName {
        &self.subject
    }

    /// The subject's DER, as an ID_DER_ASN1_DN payload would carry it.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// The issuer.
    pub fn issuer(&self) -> &DistinguishedName {
        &self.issuer
    }

    /// notBefore.
    pub fn not_before(&self) -> UnixTime {
        self.not_before
    }

    /// notAfter.
    pub fn not_after(&self) -> UnixTime {
        self.not_after
    }

    /// The subjectAltName entries IKE identities can match.
    pub fn alt_names(&self) -> &[AltName] {
        &self.alt_names
    }

    /// True when basicConstraints says cA.
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }

    /// The public key's type; `Err` names an algorithm no scheme here uses.
    pub fn key_type(&self) -> Result<KeyType, CertificateError> {
        self.key_type
            .clone()
            .map_err(|why| CertificateError::PublicKey {
                subject: self.subject.to_string(),
                why: format!("unsupported public key ({why})"),
            })
    }

    /// The subjectPublicKey bits, as [`crate::crypto::SignatureAlgorithm::verify`] takes them.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// SHA-1 of the SubjectPublicKeyInfo: how a CERTREQ payload names a CA (RFC 7296 section
    /// 3.7), and how a peer's CERTREQ is matched against our chain.
    pub fn key_hash(&self) -> [u8; 20] {
        Sha1::digest(&self.spki).into()
    }

    /// `Err` when `now` is outside notBefore..=notAfter.
    pub fn check_validity(&self, now: UnixTime) -> Result<(), CertificateError> {
        if now < self.not_before {
            return Err(CertificateError::NotYetValid {
                subject: self.subject.to_string(),
                not_before: self.not_before,
                now,
            });
        }
        if now > self.not_after {
            return Err(CertificateError::Expired {
                subject: self.subject.to_string(),
                not_after: self.not_after,
                now,
            });
        }
        Ok(())
    }

    /// keyUsage allows signing (absent, or with digitalSignature or nonRepudiation).
    pub(crate) fn key_usage_allows_signing(&self) -> bool {
        self.key_usage_ok.unwrap_or(true)
    }

    /// The extendedKeyUsage OIDs, `None` without the extension.
    pub(crate) fn extended_key_usage(&self) -> Option<&[String]> {
        self.extended_key_usage.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        for junk in [
            &b""[..],
            b"\x30",
            b"\x30\x03\x02\x01\x00",
            b"hello",
            &[0xff; 64],
        ] {
            assert!(Certificate::from_pem_or_der(junk).is_err());
            assert!(Certificate::from_der(junk.to_vec()).is_err());
        }
        let no_end = "-----BEGIN CERTIFICATE-----\nMIIB\n";
        assert!(Certificate::from_pem_or_der(no_end.as_bytes()).is_err());
        let bad_b64 = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(Certificate::from_pem_or_der(bad_b64.as_bytes()).is_err());
    }
}
