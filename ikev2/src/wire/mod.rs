//! The IKEv2 wire format (RFC 7296 section 3), one file per payload.
//!
//! Each format has an owned representation with `parse`, `emit` and `buffer_len`; the IKE header
//! also has a zero-copy view, [`Packet`], so a datagram can be routed by SPI and message ID before
//! anything else is decoded. A whole message is a [`Message`]: a [`Header`] plus a list of
//! [`Payload`]s.
//!
//! Decoding is in two phases (RFC 7296 section 3.14): [`Message::parse`] reads the header and the
//! unprotected payload chain, leaving an SK payload ([`Encrypted`]) or SKF payload
//! ([`EncryptedFragment`]) opaque; the IKE SA holding the keys then calls [`unprotect`] (or a
//! [`Reassembler`] for fragments) to check the ICV, decrypt and parse the inner payloads.
//!
//! ```
//! use ikev2::wire::{ExchangeType, Flags, Header, Message, Notify, NotifyType, Packet, Payload};
//!
//! let msg = Message {
//!     header: Header::new(0x1111, 0x2222, ExchangeType::INFORMATIONAL, Flags::new(true, false), 7),
//!     payloads: vec![Payload::Notify(Notify::new(NotifyType::COOKIE, &[1, 2, 3, 4]))],
//! };
//! let bytes = msg.to_bytes().unwrap();
//! // Route first, by SPI and message ID, without decoding the payloads...
//! let packet = Packet::new_checked(&bytes[..]).unwrap();
//! assert_eq!((packet.responder_spi(), packet.message_id()), (0x2222, 7));
//! // ...then decode everything, and get the same bytes back.
//! let parsed = Message::parse(&bytes).unwrap();
//! assert_eq!(parsed, msg);
//! assert_eq!(parsed.to_bytes().unwrap(), bytes);
//! assert!(Message::parse(&bytes[..bytes.len() - 1]).is_err());
//! ```
//!
//! # No-panic contract
//!
//! Parsing never panics and never reads out of bounds on any input: every length is checked against
//! the buffer and against the enclosing length, and the work is bounded by [`Limits`] (message size,
//! payload count, proposals, transforms, selectors, fragments). Every failure is an [`Error`] whose
//! [`Error::notify`] says which notification the peer should get, if any.
//!
//! # Exact re-emit
//!
//! `emit(parse(x)) == x` for every well-formed message: unknown payload types, unknown registry
//! values, unknown attributes and selector types are kept verbatim. Fields RFC 7296 section 3.2
//! tells receivers to ignore (RESERVED fields, the critical bit of a payload we understand, the
//! AF bit of a variable-length transform attribute) are emitted as the RFC says to send them.

mod auth;
mod cert;
mod config;
mod delete;
mod eap;
mod error;
mod fragment;
mod header;
mod id;
mod ke;
mod message;
mod nonce;
mod notify;
mod payload;
mod protect;
mod registry;
mod sa;
mod sk;
mod ts;
mod vendor;

pub use auth::Auth;
pub use cert::{Cert, CertReq};
pub use config::{Config, ConfigAttribute};
pub use delete::Delete;
pub use eap::Eap;
pub use error::Error;
pub use fragment::{protect_fragments, Reassembler};
pub use header::{Flags, Header, Packet, HEADER_LEN};
pub use id::Identification;
pub use ke::KeyExchange;
pub use message::Message;
pub use nonce::Nonce;
pub use notify::Notify;
pub use payload::{Payload, PayloadHeader, RawPayload, RawPayloads, PAYLOAD_HEADER_LEN};
#[cfg(feature = "testing")]
pub(crate) use protect::seal;
pub use protect::{protect, unprotect, unprotect_with, SkKeys};
pub(crate) use protect::{unprotect_checked, Rejected};
pub use registry::{
    AuthMethod, CertEncoding, CfgType, ConfigAttributeType, ExchangeType, IdType, NotifyType,
    PayloadType, ProtocolId, TsType,
};
pub use sa::{Attribute, Proposal, SecurityAssociation, Transform, TransformId};
pub use sk::{Encrypted, EncryptedFragment};
pub use ts::{TrafficSelectors, TsEntry};
pub use vendor::VendorId;

/// Bounds on the work a parser does for one message. [`Limits::default`] suits any real peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest IKE message accepted, in bytes (header `Length` field included).
    pub max_message_len: usize,
    /// Most payloads in one payload chain (outer, or inner after decryption).
    pub max_payloads: usize,
    /// Most proposals in one SA payload.
    pub max_proposals: usize,
    /// Most transforms in one proposal.
    pub max_transforms: usize,
    /// Most attributes in one transform or one CP payload.
    pub max_attributes: usize,
    /// Most traffic selectors in one TS payload, or SPIs in one Delete payload.
    pub max_entries: usize,
    /// Most fragments of one message (RFC 7383).
    pub max_fragments: usize,
    /// Largest reassembled plaintext of one fragmented message, in bytes.
    pub max_reassembled_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_len: 65_535,
            max_payloads: 128,
            max_proposals: 64,
            max_transforms: 64,
            max_attributes: 64,
            max_entries: 256,
            max_fragments: 64,
            max_reassembled_len: 256 * 1024,
        }
    }
}

/// A big-endian `u16` at `at`, or [`Error::Truncated`].
fn be16(b: &[u8], at: usize) -> Result<u16, Error> {
    match b.get(at..at.checked_add(2).ok_or(Error::Truncated)?) {
        Some(&[x, y]) => Ok(u16::from_be_bytes([x, y])),
        _ => Err(Error::Truncated),
    }
}

/// The byte at `at`, or [`Error::Truncated`].
fn byte(b: &[u8], at: usize) -> Result<u8, Error> {
    b.get(at).copied().ok_or(Error::Truncated)
}

/// `b[from..from + len]`, or [`Error::Truncated`].
fn slice(b: &[u8], from: usize, len: usize) -> Result<&[u8], Error> {
    b.get(from..from.checked_add(len).ok_or(Error::Truncated)?)
        .ok_or(Error::Truncated)
}

/// `b[from..]`, or [`Error::Truncated`].
fn rest(b: &[u8], from: usize) -> Result<&[u8], Error> {
    b.get(from..).ok_or(Error::Truncated)
}

/// `len` as a `u16` length field, or [`Error::TooLong`] naming `what`.
fn len16(len: usize, what: &'static str) -> Result<u16, Error> {
    u16::try_from(len).map_err(|_| Error::TooLong(what))
}

/// `len` as a `u8` count or size field, or [`Error::TooLong`] naming `what`.
fn len8(len: usize, what: &'static str) -> Result<u8, Error> {
    u8::try_from(len).map_err(|_| Error::TooLong(what))
}
