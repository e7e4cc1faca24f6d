//! The Configuration payload (RFC 7296 section 3.15).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C| RESERVED    |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   CFG Type    |                    RESERVED                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                   Configuration Attributes                    ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Each attribute (section 3.15.1):
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |R|         Attribute Type      |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                             Value                             ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{be16, byte, len16, slice, CfgType, ConfigAttributeType, Error, Limits};

/// One configuration attribute; the value is opaque (an empty value requests the attribute).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigAttribute {
    /// The attribute type (15 bits; the reserved top bit is not kept).
    pub attr_type: ConfigAttributeType,
    /// The value.
    pub value: Vec<u8>,
}

/// A CP body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Request, reply, set or acknowledge.
    pub cfg_type: CfgType,
    /// The attributes in order.
    pub attributes: Vec<ConfigAttribute>,
}

impl Config {
    /// Decodes a CP body.
    pub fn parse(b: &[u8], limits: &Limits) -> Result<Self, Error> {
        let cfg_type = CfgType(byte(b, 0)?);
        let mut attributes = Vec::new();
        let mut at = 4;
        if b.len() < at {
            return Err(Error::Truncated);
        }
        while at < b.len() {
            if attributes.len() >= limits.max_attributes {
                return Err(Error::LimitExceeded("configuration attributes"));
            }
            let attr_type = ConfigAttributeType(be16(b, at)? & 0x7fff);
            let len = usize::from(be16(b, at + 2)?);
            let value = slice(b, at + 4, len)?.to_vec();
            attributes.push(ConfigAttribute { attr_type, value });
            at += 4 + len;
        }
        Ok(Config {
            cfg_type,
            attributes,
        })
    }

    /// Length of the body in bytes.
    pub fn buffer_len(&self) -> usize {
        4 + self
            .attributes
            .iter()
            .map(|a| 4 + a.value.len())
            .sum::<usize>()
    }

    /// Appends the body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&[self.cfg_type.0, 0, 0, 0]);
        for a in &self.attributes {
            if a.attr_type.0 > 0x7fff {
                return Err(Error::Unrepresentable("configuration attribute type"));
            }
            out.extend_from_slice(&a.attr_type.0.to_be_bytes());
            out.extend_from_slice(&len16(a.value.len(), "configuration attribute")?.to_be_bytes());
            out.extend_from_slice(&a.value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_emit_and_reject() {
        let l = Limits::default();
        // CFG_REQUEST for INTERNAL_IP4_ADDRESS (empty) and INTERNAL_IP4_DNS = 10.0.0.53.
        let cp = [1, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 4, 10, 0, 0, 53];
        let c = Config::parse(&cp, &l).unwrap();
        assert_eq!(c.cfg_type, CfgType::CFG_REQUEST);
        assert_eq!(c.attributes.len(), 2);
        assert_eq!(
            c.attributes[0].attr_type,
            ConfigAttributeType::INTERNAL_IP4_ADDRESS
        );
        assert!(c.attributes[0].value.is_empty());
        assert_eq!(c.attributes[1].value, [10, 0, 0, 53]);
        let mut out = Vec::new();
        c.emit(&mut out).unwrap();
        assert_eq!(out, cp);
        assert_eq!(c.buffer_len(), cp.len());
        // Cut anywhere but between attributes.
        for n in (0..cp.len()).filter(|n| *n != 4 && *n != 8) {
            assert!(Config::parse(&cp[..n], &l).is_err(), "{n}");
        }
    }
}
