//! The Encrypted and Authenticated payload, SK (RFC 7296 section 3.14), and its fragment form,
//! SKF (RFC 7383 section 2.5), as they appear before decryption.
//!
//! ```text
//! SK:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Initialization Vector                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                    Encrypted IKE Payloads                     ~
//! +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               |             Padding (0-255 octets)            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                               |  Pad Length   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                    Integrity Checksum Data                    ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! SKF: the same, with two fields between the generic header and the IV:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Fragment Number        |        Total Fragments        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Here the IV, ciphertext and ICV are one opaque field: their split depends on the negotiated
//! transforms, known only to the IKE SA ([`super::unprotect`], [`super::Reassembler`]).

use super::{be16, rest, Error, PayloadType};

/// An SK payload before decryption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encrypted {
    /// The type of the first payload inside the encrypted data.
    pub next_payload: PayloadType,
    /// IV, ciphertext (with padding and pad length) and ICV.
    pub data: Vec<u8>,
}

impl Encrypted {
    /// Decodes an SK body; `next_payload` comes from its generic header.
    pub fn parse(next_payload: PayloadType, b: &[u8]) -> Result<Self, Error> {
        Ok(Encrypted {
            next_payload,
            data: b.to_vec(),
        })
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

/// An SKF payload (one fragment of a message) before decryption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedFragment {
    /// The type of the first inner payload in fragment 1; zero in the others (RFC 7383 2.5).
    pub next_payload: PayloadType,
    /// This fragment's number, from 1.
    pub fragment_number: u16,
    /// The number of fragments of the message.
    pub total_fragments: u16,
    /// IV, ciphertext (with padding and pad length) and ICV.
    pub data: Vec<u8>,
}

impl EncryptedFragment {
    /// Decodes an SKF body. A fragment number of zero or above the total is rejected
    /// (RFC 7383 section 2.6).
    pub fn parse(next_payload: PayloadType, b: &[u8]) -> Result<Self, Error> {
        let fragment_number = be16(b, 0)?;
        let total_fragments = be16(b, 2)?;
        if fragment_number == 0 || fragment_number > total_fragments {
            return Err(Error::BadFragment("fragment number out of range"));
        }
        Ok(EncryptedFragment {
            next_payload,
            fragment_number,
            total_fragments,
            data: rest(b, 4)?.to_vec(),
        })
    }

    /// Length of the body in bytes.
    pub fn buffer_len(&self) -> usize {
        4 + self.data.len()
    }

    /// Appends the body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.fragment_number.to_be_bytes());
        out.extend_from_slice(&self.total_fragments.to_be_bytes());
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
