//! Errors of the wire codec, each mapped to the notification the peer should get.

use super::{Notify, NotifyType, PayloadType};
use ipsec_core::crypto::CryptoError;

/// Why a message could not be decoded, protected or emitted.
///
/// Decoding errors are the peer's fault; [`Error::notify`] says what to tell it (RFC 7296 section
/// 2.21.2: only a request that fails this way gets an error response, and a message failing its
/// integrity check gets none). Emit and protection errors with no notify are the caller's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer ended inside a field. Answer INVALID_SYNTAX.
    #[error("truncated message")]
    Truncated,
    /// A length field disagrees with the data around it. Answer INVALID_SYNTAX.
    #[error("bad length: {0}")]
    BadLength(&'static str),
    /// A field holds a value the RFC forbids. Answer INVALID_SYNTAX.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The header's major version is not 2 (RFC 7296 section 2.5). Answer INVALID_MAJOR_VERSION,
    /// sent with version 2.
    #[error("unsupported IKE major version {0}")]
    InvalidMajorVersion(u8),
    /// A payload we do not understand has the critical bit set (RFC 7296 section 2.5). Answer
    /// UNSUPPORTED_CRITICAL_PAYLOAD with the payload type as its data.
    #[error("unsupported critical payload {0}")]
    UnsupportedCriticalPayload(PayloadType),
    /// The message exceeds one of the parser's [`Limits`](super::Limits). Answer INVALID_SYNTAX.
    #[error("limit exceeded: {0}")]
    LimitExceeded(&'static str),
    /// The ICV or AEAD tag did not verify. Drop the message silently (RFC 7296 section 2.21.2).
    #[error("integrity check failed")]
    IntegrityCheckFailed,
    /// A protected message was expected but the message carries no SK (or SKF) payload, or it is
    /// not the last payload. Answer INVALID_SYNTAX.
    #[error("no encrypted payload")]
    NotProtected,
    /// A fragment was out of range or inconsistent with the ones received before (RFC 7383).
    /// Drop it.
    #[error("bad fragment: {0}")]
    BadFragment(&'static str),
    /// A value is too long for its length field when emitting. A caller bug.
    #[error("{0} too long to encode")]
    TooLong(&'static str),
    /// A representation is inconsistent and cannot be emitted. A caller bug.
    #[error("cannot emit: {0}")]
    Unrepresentable(&'static str),
    /// The output buffer is smaller than `buffer_len()`. A caller bug.
    #[error("buffer too small: need {needed} bytes, have {got}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// The crypto provider does not implement the negotiated transforms, or a key has the wrong
    /// length. A configuration or negotiation bug.
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
}

impl Error {
    /// The notification the peer should get in an error response, `None` when the message is to be
    /// dropped silently or the error is ours.
    pub fn notify(&self) -> Option<NotifyType> {
        match self {
            Error::Truncated
            | Error::BadLength(_)
            | Error::Malformed(_)
            | Error::LimitExceeded(_)
            | Error::NotProtected => Some(NotifyType::INVALID_SYNTAX),
            Error::InvalidMajorVersion(_) => Some(NotifyType::INVALID_MAJOR_VERSION),
            Error::UnsupportedCriticalPayload(_) => Some(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD),
            Error::IntegrityCheckFailed
            | Error::BadFragment(_)
            | Error::TooLong(_)
            | Error::Unrepresentable(_)
            | Error::BufferTooSmall { .. }
            | Error::Crypto(_) => None,
        }
    }
}

impl Error {
    /// The Notify payload for an error response, with the data RFC 7296 section 3.10.1 asks for
    /// (the payload type for UNSUPPORTED_CRITICAL_PAYLOAD, the highest supported version in the
    /// header rather than in the data for INVALID_MAJOR_VERSION), `None` as for [`Error::notify`].
    pub fn notify_payload(&self) -> Option<Notify> {
        let ty = self.notify()?;
        Some(match self {
            Error::UnsupportedCriticalPayload(t) => Notify::new(ty, &[t.0]),
            _ => Notify::new(ty, &[]),
        })
    }
}

impl From<&Error> for Option<NotifyType> {
    fn from(e: &Error) -> Self {
        e.notify()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_notify_payloads() {
        let n = Error::UnsupportedCriticalPayload(PayloadType(200))
            .notify_payload()
            .unwrap();
        assert_eq!(n.notify_type, NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
        assert_eq!(n.data, [200]);
        let n = Error::Truncated.notify_payload().unwrap();
        assert_eq!(
            (n.notify_type, n.data.len()),
            (NotifyType::INVALID_SYNTAX, 0)
        );
        assert_eq!(Error::IntegrityCheckFailed.notify_payload(), None);
        assert_eq!(
            Option::<NotifyType>::from(&Error::NotProtected),
            Some(NotifyType::INVALID_SYNTAX)
        );
        assert!(NotifyType::INVALID_SYNTAX.is_error() && !NotifyType::COOKIE.is_error());
        assert_eq!(
            NotifyType(16430).to_string(),
            "IKEV2_FRAGMENTATION_SUPPORTED"
        );
        assert_eq!(NotifyType(40000).to_string(), "40000");
    }
}
