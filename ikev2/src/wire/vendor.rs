//! The Vendor ID payload (RFC 7296 section 3.12).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                        Vendor ID                    ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::Error;

/// A Vendor ID payload body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VendorId {
    /// The body: an opaque vendor identifier, usually a hash of a product string.
    pub data: Vec<u8>,
}

impl VendorId {
    /// Decodes the body.
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        Ok(VendorId { data: b.to_vec() })
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
