//! The Identification payloads, IDi and IDr (RFC 7296 section 3.5).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   ID Type     |                 RESERVED                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                   Identification Data                         ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{byte, rest, Error, IdType};
use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An IDi or IDr body: the ID type and its data.
///
/// The data is kept as bytes so any type round-trips; [`Identification::ip`] and
/// [`Identification::text`] read the usual types, and `Display` prints them the way strongSwan and
/// PAN-OS logs do (addresses, names, hex for KEY_ID and DNs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identification {
    /// The ID type.
    pub id_type: IdType,
    /// The identification data.
    pub data: Vec<u8>,
}

impl Identification {
    /// An FQDN identity (`right.ike.test`).
    pub fn fqdn(name: &str) -> Self {
        Identification {
            id_type: IdType::FQDN,
            data: name.as_bytes().to_vec(),
        }
    }

    /// An RFC 822 (email address) identity.
    pub fn rfc822(addr: &str) -> Self {
        Identification {
            id_type: IdType::RFC822_ADDR,
            data: addr.as_bytes().to_vec(),
        }
    }

    /// An IPv4 or IPv6 address identity.
    pub fn ip(addr: std::net::IpAddr) -> Self {
        match addr {
            std::net::IpAddr::V4(a) => Identification {
                id_type: IdType::IPV4_ADDR,
                data: a.octets().to_vec(),
            },
            std::net::IpAddr::V6(a) => Identification {
                id_type: IdType::IPV6_ADDR,
                data: a.octets().to_vec(),
            },
        }
    }

    /// A KEY_ID identity (opaque bytes).
    pub fn key_id(bytes: &[u8]) -> Self {
        Identification {
            id_type: IdType::KEY_ID,
            data: bytes.to_vec(),
        }
    }

    /// A DER_ASN1_DN identity (a DER-encoded distinguished name).
    pub fn der_asn1_dn(der: &[u8]) -> Self {
        Identification {
            id_type: IdType::DER_ASN1_DN,
            data: der.to_vec(),
        }
    }

    /// The address of an IPV4_ADDR or IPV6_ADDR identity with the right data length.
    pub fn ip_addr(&self) -> Option<std::net::IpAddr> {
        match self.id_type {
            IdType::IPV4_ADDR => <[u8; 4]>::try_from(&self.data[..])
                .ok()
                .map(|a| Ipv4Addr::from(a).into()),
            IdType::IPV6_ADDR => <[u8; 16]>::try_from(&self.data[..])
                .ok()
                .map(|a| Ipv6Addr::from(a).into()),
            _ => None,
        }
    }

    /// The text of an FQDN or RFC822_ADDR identity, when it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        match self.id_type {
            IdType::FQDN | IdType::RFC822_ADDR => core::str::from_utf8(&self.data).ok(),
            _ => None,
        }
    }

    /// Decodes an ID body.
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        Ok(Identification {
            id_type: IdType(byte(b, 0)?),
            data: rest(b, 4)?.to_vec(),
        })
    }

    /// Length of the body in bytes.
    pub fn buffer_len(&self) -> usize {
        4 + self.data.len()
    }

    /// Appends the body to `out`. The body is also what AUTH signs (`RestOfIDPayload`, RFC 7296
    /// section 2.15).
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&[self.id_type.0, 0, 0, 0]);
        out.extend_from_slice(&self.data);
        Ok(())
    }

    /// The body as bytes: `RestOfInitIDPayload` / `RestOfRespIDPayload` for AUTH.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.buffer_len());
        v.extend_from_slice(&[self.id_type.0, 0, 0, 0]);
        v.extend_from_slice(&self.data);
        v
    }
}

impl fmt::Display for Identification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ip) = self.ip_addr() {
            return write!(f, "{ip}");
        }
        if let Some(t) = self.text() {
            return f.write_str(t);
        }
        write!(f, "{}:{:x}", self.id_type, base16ct::HexDisplay(&self.data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_types_decode_and_print() {
        let id = Identification::parse(b"\x02\0\0\0left.ike.test").unwrap();
        assert_eq!(id, Identification::fqdn("left.ike.test"));
        assert_eq!(id.to_string(), "left.ike.test");
        let v4 = Identification::parse(&[1, 0, 0, 0, 192, 0, 2, 1]).unwrap();
        assert_eq!(v4.to_string(), "192.0.2.1");
        let v6 = Identification::ip("2001:db8::1".parse().unwrap());
        assert_eq!(Identification::parse(&v6.to_bytes()).unwrap(), v6);
        assert_eq!(v6.to_string(), "2001:db8::1");
        // A short IPv4 ID is kept but does not decode as an address.
        let bad = Identification::parse(&[1, 0, 0, 0, 192, 0]).unwrap();
        assert_eq!(bad.ip_addr(), None);
        assert_eq!(bad.to_string(), "IPV4_ADDR:c000");
        assert_eq!(Identification::key_id(&[0xab]).to_string(), "KEY_ID:ab");
        assert_eq!(Identification::parse(&[2, 0, 0]), Err(Error::Truncated));
    }
}
