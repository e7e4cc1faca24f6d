//! The Key Exchange payload (RFC 7296 section 3.4).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Diffie-Hellman Group Num    |           RESERVED            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                       Key Exchange Data                       ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{be16, rest, Error};
use ipsec_core::crypto::DhGroup;

/// A KE payload body: the group and the public value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyExchange {
    /// The key exchange method.
    pub group: DhGroup,
    /// The public value, as the group encodes it. Its length is checked by the key exchange, not
    /// here (a wrong length gets INVALID_SYNTAX from there).
    pub data: Vec<u8>,
}

impl KeyExchange {
    /// Decodes a KE body.
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        Ok(KeyExchange {
            group: DhGroup(be16(b, 0)?),
            data: rest(b, 4)?.to_vec(),
        })
    }

    /// Length of the body in bytes.
    pub fn buffer_len(&self) -> usize {
        4 + self.data.len()
    }

    /// Appends the body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.group.0.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
