//! The Certificate and Certificate Request payloads (RFC 7296 sections 3.6 and 3.7).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Cert Encoding |                                               |
//! +-+-+-+-+-+-+-+-+                                               |
//! ~       Certificate Data / Certification Authority              ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{byte, rest, CertEncoding, Error};

/// A CERT body: the encoding and the certificate data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cert {
    /// How `data` is encoded.
    pub encoding: CertEncoding,
    /// The certificate (DER for X509_SIGNATURE), CRL, or hash and URL.
    pub data: Vec<u8>,
}

/// A CERTREQ body: the encoding and the certification authorities, for X.509 a concatenation of
/// 20-byte SHA-1 hashes of trusted CAs' public keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertReq {
    /// The encoding requested.
    pub encoding: CertEncoding,
    /// The certification authority data.
    pub authorities: Vec<u8>,
}

impl Cert {
    /// Decodes a CERT body.
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        Ok(Cert {
            encoding: CertEncoding(byte(b, 0)?),
            data: rest(b, 1)?.to_vec(),
        })
    }

    /// Length of the body in bytes.
    pub fn buffer_len(&self) -> usize {
        1 + self.data.len()
    }

    /// Appends the body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(self.encoding.0);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

impl CertReq {
    /// Decodes a CERTREQ body.
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        Ok(CertReq {
            encoding: CertEncoding(byte(b, 0)?),
            authorities: rest(b, 1)?.to_vec(),
        })
    }

    /// The 20-byte SHA-1 key hashes of an X509_SIGNATURE request (a trailing partial hash is
    /// ignored).
    pub fn key_hashes(&self) -> impl Iterator<Item = &[u8]> {
        self.authorities.chunks_exact(20)
    }

    /// Length of the body in bytes.
    pub fn buffer_len(&self) -> usize {
        1 + self.authorities.len()
    }

    /// Appends the body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(self.encoding.0);
        out.extend_from_slice(&self.authorities);
        Ok(())
    }
}
