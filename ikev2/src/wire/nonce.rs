//! The Nonce payload (RFC 7296 section 3.9).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                        Nonce Data                    ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::Error;

/// A Nonce payload body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nonce {
    /// The body: the nonce (RFC 7296 requires 16 to 256 bytes; the exchange checks it, so that a short one gets a reasoned error there).
    pub data: Vec<u8>,
}

impl Nonce {
    /// Decodes the body.
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        Ok(Nonce { data: b.to_vec() })
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
