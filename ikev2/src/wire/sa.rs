//! The Security Association payload: proposals, transforms and attributes (RFC 7296 section 3.3).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                          <Proposals>                          ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Proposal substructure (3.3.1):
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Last Substruc |   RESERVED    |         Proposal Length       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                        SPI (variable)                         ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                        <Transforms>                           ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Transform substructure (3.3.2):
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Last Substruc |   RESERVED    |        Transform Length       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Transform Type |   RESERVED    |          Transform ID         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                      Transform Attributes                     ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Transform attribute (3.3.5):
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |A|       Attribute Type        |    AF=0  Attribute Length     |
//! |F|                             |    AF=1  Attribute Value      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   AF=0  Attribute Value                       |
//! |                   AF=1  Not Transmitted                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! `Last Substruc` must be 2 (proposals) or 3 (transforms) on all but the last substructure and 0
//! on the last; a mismatch is INVALID_SYNTAX, so the lengths and these markers always agree.

use super::{be16, byte, len16, len8, slice, Error, Limits, ProtocolId};
use ipsec_core::crypto::{DhGroup, EncrId, Encryption, EsnId, IntegId, PrfId, TransformType};

const MORE_PROPOSALS: u8 = 2;
const MORE_TRANSFORMS: u8 = 3;
const AF_TV: u16 = 0x8000;

/// A transform's type and ID, typed by the IANA registry of its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransformId {
    /// Type 1, encryption algorithm.
    Encr(EncrId),
    /// Type 2, pseudorandom function.
    Prf(PrfId),
    /// Type 3, integrity algorithm.
    Integ(IntegId),
    /// Type 4, key exchange method.
    Dh(DhGroup),
    /// Type 5, extended sequence numbers.
    Esn(EsnId),
    /// A transform type we do not know (never types 1 to 5), with its ID.
    Other(TransformType, u16),
}

impl TransformId {
    /// Builds the typed ID from the wire's type and ID.
    pub fn new(ty: TransformType, id: u16) -> Self {
        match ty {
            TransformType::ENCR => TransformId::Encr(EncrId(id)),
            TransformType::PRF => TransformId::Prf(PrfId(id)),
            TransformType::INTEG => TransformId::Integ(IntegId(id)),
            TransformType::DH => TransformId::Dh(DhGroup(id)),
            TransformType::ESN => TransformId::Esn(EsnId(id)),
            other => TransformId::Other(other, id),
        }
    }

    /// The transform type.
    pub fn transform_type(self) -> TransformType {
        match self {
            TransformId::Encr(_) => TransformType::ENCR,
            TransformId::Prf(_) => TransformType::PRF,
            TransformId::Integ(_) => TransformType::INTEG,
            TransformId::Dh(_) => TransformType::DH,
            TransformId::Esn(_) => TransformType::ESN,
            TransformId::Other(t, _) => t,
        }
    }

    /// The raw transform ID.
    pub fn id(self) -> u16 {
        match self {
            TransformId::Encr(v) => v.0,
            TransformId::Prf(v) => v.0,
            TransformId::Integ(v) => v.0,
            TransformId::Dh(v) => v.0,
            TransformId::Esn(v) => v.0,
            TransformId::Other(_, v) => v,
        }
    }
}

impl core::fmt::Display for TransformId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TransformId::Encr(v) => write!(f, "{v}"),
            TransformId::Prf(v) => write!(f, "{v}"),
            TransformId::Integ(v) => write!(f, "{v}"),
            TransformId::Dh(v) => write!(f, "{v}"),
            TransformId::Esn(v) => write!(f, "{v}"),
            TransformId::Other(t, v) => write!(f, "{t}/{v}"),
        }
    }
}

/// A transform attribute (RFC 7296 section 3.3.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attribute {
    /// Type/value form (AF = 1): a 2-byte value, such as the Key Length.
    Tv {
        /// The attribute type (15 bits).
        attr_type: u16,
        /// The value.
        value: u16,
    },
    /// Type/length/value form (AF = 0).
    Tlv {
        /// The attribute type (15 bits).
        attr_type: u16,
        /// The value.
        value: Vec<u8>,
    },
}

impl Attribute {
    /// The Key Length attribute type (RFC 7296 section 3.3.5).
    pub const KEY_LENGTH: u16 = 14;

    fn len(&self) -> usize {
        match self {
            Attribute::Tv { .. } => 4,
            Attribute::Tlv { value, .. } => 4 + value.len(),
        }
    }
}

/// One transform: its typed ID and attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transform {
    /// The transform's type and ID.
    pub id: TransformId,
    /// Its attributes (only Key Length is defined for IKEv2).
    pub attributes: Vec<Attribute>,
}

impl Transform {
    /// A transform without attributes.
    pub fn new(id: TransformId) -> Self {
        Transform {
            id,
            attributes: Vec::new(),
        }
    }

    /// An encryption transform, with a Key Length attribute when `enc.key_bits` is non-zero.
    pub fn encryption(enc: Encryption) -> Self {
        let mut t = Transform::new(TransformId::Encr(enc.id));
        if enc.key_bits != 0 {
            t.attributes.push(Attribute::Tv {
                attr_type: Attribute::KEY_LENGTH,
                value: enc.key_bits,
            });
        }
        t
    }

    /// The Key Length attribute's value in bits, if present.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Tv {
                attr_type: Attribute::KEY_LENGTH,
                value,
            } => Some(*value),
            _ => None,
        })
    }

    /// The encryption transform with its key length (0 when absent), for type 1.
    pub fn as_encryption(&self) -> Option<Encryption> {
        match self.id {
            TransformId::Encr(id) => Some(Encryption::new(id, self.key_length().unwrap_or(0))),
            _ => None,
        }
    }

    fn parse(b: &[u8], limits: &Limits) -> Result<Self, Error> {
        let ty = TransformType(byte(b, 4)?);
        let id = be16(b, 6)?;
        let mut attributes = Vec::new();
        let mut at = 8;
        if b.len() < at {
            return Err(Error::BadLength("transform shorter than its header"));
        }
        while at < b.len() {
            if attributes.len() >= limits.max_attributes {
                return Err(Error::LimitExceeded("transform attributes"));
            }
            let word = be16(b, at)?;
            let attr_type = word & 0x7fff;
            if word & AF_TV != 0 {
                attributes.push(Attribute::Tv {
                    attr_type,
                    value: be16(b, at + 2)?,
                });
                at += 4;
            } else {
                let len = usize::from(be16(b, at + 2)?);
                attributes.push(Attribute::Tlv {
                    attr_type,
                    value: slice(b, at + 4, len)?.to_vec(),
                });
                at += 4 + len;
            }
        }
        Ok(Transform {
            id: TransformId::new(ty, id),
            attributes,
        })
    }

    /// Length of the transform substructure in bytes.
    pub fn buffer_len(&self) -> usize {
        8 + self.attributes.iter().map(Attribute::len).sum::<usize>()
    }

    fn emit(&self, last: bool, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(if last { 0 } else { MORE_TRANSFORMS });
        out.push(0);
        out.extend_from_slice(&len16(self.buffer_len(), "transform")?.to_be_bytes());
        out.extend_from_slice(&[self.id.transform_type().0, 0]);
        out.extend_from_slice(&self.id.id().to_be_bytes());
        for a in &self.attributes {
            match a {
                Attribute::Tv { attr_type, value } => {
                    if *attr_type > 0x7fff {
                        return Err(Error::Unrepresentable("attribute type over 15 bits"));
                    }
                    out.extend_from_slice(&(attr_type | AF_TV).to_be_bytes());
                    out.extend_from_slice(&value.to_be_bytes());
                }
                Attribute::Tlv { attr_type, value } => {
                    if *attr_type > 0x7fff {
                        return Err(Error::Unrepresentable("attribute type over 15 bits"));
                    }
                    out.extend_from_slice(&attr_type.to_be_bytes());
                    out.extend_from_slice(&len16(value.len(), "attribute")?.to_be_bytes());
                    out.extend_from_slice(value);
                }
            }
        }
        Ok(())
    }
}

/// One proposal: a protocol, an SPI and the transforms offered for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The proposal number (1 for the first, RFC 7296 section 3.3.1).
    pub number: u8,
    /// The protocol: IKE, ESP or AH.
    pub protocol: ProtocolId,
    /// The sender's SPI: empty in a first IKE_SA_INIT, 8 bytes when rekeying IKE, 4 for ESP/AH.
    pub spi: Vec<u8>,
    /// The transforms.
    pub transforms: Vec<Transform>,
}

impl Proposal {
    /// The transforms of type `ty`, in order.
    pub fn transforms_of(&self, ty: TransformType) -> impl Iterator<Item = &Transform> {
        self.transforms
            .iter()
            .filter(move |t| t.id.transform_type() == ty)
    }

    /// The SPI as a `u32` when it is 4 bytes (ESP, AH).
    pub fn spi_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(&self.spi[..])
            .ok()
            .map(u32::from_be_bytes)
    }

    fn parse(b: &[u8], limits: &Limits) -> Result<Self, Error> {
        let number = byte(b, 4)?;
        let protocol = ProtocolId(byte(b, 5)?);
        let spi_size = usize::from(byte(b, 6)?);
        let count = usize::from(byte(b, 7)?);
        if count > limits.max_transforms {
            return Err(Error::LimitExceeded("transforms in a proposal"));
        }
        let spi = slice(b, 8, spi_size)?.to_vec();
        let mut transforms = Vec::with_capacity(count);
        let mut at = 8 + spi_size;
        for i in 0..count {
            let last = byte(b, at)?;
            let len = usize::from(be16(b, at + 2)?);
            let expect = if i + 1 == count { 0 } else { MORE_TRANSFORMS };
            if last != expect {
                return Err(Error::Malformed("transform Last Substruc"));
            }
            let t = slice(b, at, len)?;
            transforms.push(Transform::parse(t, limits)?);
            at += len;
        }
        if at != b.len() {
            return Err(Error::BadLength("proposal length vs. its transforms"));
        }
        Ok(Proposal {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    /// Length of the proposal substructure in bytes.
    pub fn buffer_len(&self) -> usize {
        8 + self.spi.len()
            + self
                .transforms
                .iter()
                .map(Transform::buffer_len)
                .sum::<usize>()
    }

    fn emit(&self, last: bool, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(if last { 0 } else { MORE_PROPOSALS });
        out.push(0);
        out.extend_from_slice(&len16(self.buffer_len(), "proposal")?.to_be_bytes());
        out.push(self.number);
        out.push(self.protocol.0);
        out.push(len8(self.spi.len(), "proposal SPI")?);
        out.push(len8(self.transforms.len(), "transform count")?);
        out.extend_from_slice(&self.spi);
        for (i, t) in self.transforms.iter().enumerate() {
            t.emit(i + 1 == self.transforms.len(), out)?;
        }
        Ok(())
    }
}

/// An SA body: the proposals in order of preference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityAssociation {
    /// The proposals.
    pub proposals: Vec<Proposal>,
}

impl SecurityAssociation {
    /// Decodes an SA body.
    pub fn parse(b: &[u8], limits: &Limits) -> Result<Self, Error> {
        let mut proposals = Vec::new();
        let mut at = 0;
        while at < b.len() {
            if proposals.len() >= limits.max_proposals {
                return Err(Error::LimitExceeded("proposals in an SA payload"));
            }
            let last = byte(b, at)?;
            let len = usize::from(be16(b, at + 2)?);
            if len < 8 {
                return Err(Error::BadLength("proposal shorter than its header"));
            }
            let p = slice(b, at, len)?;
            proposals.push(Proposal::parse(p, limits)?);
            at += len;
            let expect = if at == b.len() { 0 } else { MORE_PROPOSALS };
            if last != expect {
                return Err(Error::Malformed("proposal Last Substruc"));
            }
        }
        Ok(SecurityAssociation { proposals })
    }

    /// Length of the body in bytes.
    pub fn buffer_len(&self) -> usize {
        self.proposals.iter().map(Proposal::buffer_len).sum()
    }

    /// Appends the body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        for (i, p) in self.proposals.iter().enumerate() {
            p.emit(i + 1 == self.proposals.len(), out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The SA payload body of strongSwan's IKE_SA_INIT request: one IKE proposal,
    // ENCR_AES_GCM_16 key length 256, PRF_HMAC_SHA2_256, group 31.
    const SA: [u8; 36] = [
        0, 0, 0, 36, 1, 1, 0, 3, 3, 0, 0, 12, 1, 0, 0, 20, 0x80, 14, 1, 0, 3, 0, 0, 8, 2, 0, 0, 5,
        0, 0, 0, 8, 4, 0, 0, 31,
    ];

    #[test]
    fn parse_emit_fixture() {
        let sa = SecurityAssociation::parse(&SA, &Limits::default()).unwrap();
        assert_eq!(sa.proposals.len(), 1);
        let p = &sa.proposals[0];
        assert_eq!((p.number, p.protocol, p.spi.len()), (1, ProtocolId::IKE, 0));
        assert_eq!(
            p.transforms[0].as_encryption(),
            Some(Encryption::new(EncrId::ENCR_AES_GCM_16, 256))
        );
        assert_eq!(
            p.transforms[1].id,
            TransformId::Prf(PrfId::PRF_HMAC_SHA2_256)
        );
        assert_eq!(p.transforms[2].id, TransformId::Dh(DhGroup::CURVE25519));
        let mut out = vec![0x55];
        sa.emit(&mut out).unwrap();
        assert_eq!(&out[1..], &SA[..]);
        assert_eq!(sa.buffer_len(), SA.len());
    }

    #[test]
    fn bad_structure_rejected() {
        let l = Limits::default();
        for n in 1..SA.len() {
            assert!(SecurityAssociation::parse(&SA[..n], &l).is_err(), "{n}");
        }
        let mut more = SA;
        more[0] = 2;
        assert!(SecurityAssociation::parse(&more, &l).is_err());
        let mut last_t = SA;
        last_t[8] = 0;
        assert!(SecurityAssociation::parse(&last_t, &l).is_err());
        let few = Limits {
            max_transforms: 2,
            ..Limits::default()
        };
        assert_eq!(
            SecurityAssociation::parse(&SA, &few),
            Err(Error::LimitExceeded("transforms in a proposal"))
        );
    }
}
