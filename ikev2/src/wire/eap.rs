//! The EAP payload (RFC 7296 section 3.16).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                        EAP Message                    ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::Error;

/// A EAP payload body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eap {
    /// The body: the EAP message (RFC 3748), kept opaque.
    pub data: Vec<u8>,
}

impl Eap {
    /// Decodes the body.
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        Ok(Eap { data: b.to_vec() })
    }

    /// Length of the body in bytes.
    pub fn buffer_len(&self) -> usize {
        self.data.len()
    }

    /// Appends the body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
