//! The Authentication payload (RFC 7296 section 3.8).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Auth Method   |                RESERVED                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                      Authentication Data                      ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{byte, rest, AuthMethod, Error};

/// An AUTH body: the method and the authentication data (a MIC or a signature).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    /// The authentication method.
    pub method: AuthMethod,
    /// The authentication data.
    pub data: Vec<u8>,
}

impl Auth {
    /// Decodes an AUTH body.
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        Ok(Auth {
            method: AuthMethod(byte(b, 0)?),
            data: rest(b, 4)?.to_vec(),
        })
    }

    /// Length of the body in bytes.
    pub fn buffer_len(&self) -> usize {
        4 + self.data.len()
    }

    /// Appends the body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&[self.method.0, 0, 0, 0]);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
