//! The error type of the crate.
//!
//! Each variant says whose fault it is (the peer's message, the peer's policy, our configuration,
//! the caller) and what to do about it. Errors caused by the peer map to the notify it is told
//! ([`Error::notify`], RFC 7296 section 2.21).

use ipsec_core::crypto::{CryptoError, DhGroup};

/// Notify message types we send in answer to errors (RFC 7296 section 3.10.1).
pub mod notify_code {
    /// UNSUPPORTED_CRITICAL_PAYLOAD.
    pub const UNSUPPORTED_CRITICAL_PAYLOAD: u16 = 1;
    /// INVALID_IKE_SPI.
    pub const INVALID_IKE_SPI: u16 = 4;
    /// INVALID_SYNTAX.
    pub const INVALID_SYNTAX: u16 = 7;
    /// INVALID_MESSAGE_ID.
    pub const INVALID_MESSAGE_ID: u16 = 9;
    /// INVALID_SPI.
    pub const INVALID_SPI: u16 = 11;
    /// NO_PROPOSAL_CHOSEN.
    pub const NO_PROPOSAL_CHOSEN: u16 = 14;
    /// INVALID_KE_PAYLOAD.
    pub const INVALID_KE_PAYLOAD: u16 = 17;
    /// AUTHENTICATION_FAILED.
    pub const AUTHENTICATION_FAILED: u16 = 24;
    /// SINGLE_PAIR_REQUIRED.
    pub const SINGLE_PAIR_REQUIRED: u16 = 34;
    /// NO_ADDITIONAL_SAS.
    pub const NO_ADDITIONAL_SAS: u16 = 35;
    /// INTERNAL_ADDRESS_FAILURE.
    pub const INTERNAL_ADDRESS_FAILURE: u16 = 36;
    /// FAILED_CP_REQUIRED.
    pub const FAILED_CP_REQUIRED: u16 = 37;
    /// TS_UNACCEPTABLE.
    pub const TS_UNACCEPTABLE: u16 = 38;
    /// INVALID_SELECTORS.
    pub const INVALID_SELECTORS: u16 = 39;
    /// TEMPORARY_FAILURE.
    pub const TEMPORARY_FAILURE: u16 = 43;
    /// CHILD_SA_NOT_FOUND.
    pub const CHILD_SA_NOT_FOUND: u16 = 44;
}

/// Errors of the IKEv2 core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The peer sent a message or payload that does not parse. Answered with INVALID_SYNTAX where
    /// the message was authenticated; otherwise dropped.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A key derivation asked for impossible lengths (a negotiation bug on our side).
    #[error("key derivation failed: {0}")]
    KeyDerivation(&'static str),
    /// The crypto provider failed or rejected the peer's public value.
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
    /// None of the peer's proposals is acceptable to our crypto profile. Compare the two sides'
    /// profiles.
    #[error("no suitable proposal found in peer's SA payload")]
    NoProposalChosen,
    /// The peer's KE payload uses another group than the one we selected; the initiator retries
    /// with the group named here (RFC 7296 section 1.2).
    #[error("invalid KE payload: expected group {0}")]
    InvalidKePayload(DhGroup),
    /// The peer's AUTH payload did not verify or its ID is not the configured peer ID. Check the
    /// pre-shared key and the IDs on both sides.
    #[error("authentication failed: {0}")]
    AuthenticationFailed(String),
    /// The peer's traffic selectors do not overlap ours (proxy-ID mismatch).
    #[error("traffic selectors unacceptable")]
    TsUnacceptable,
    /// The configuration is invalid; the message names the object and field.
    #[error("configuration: {0}")]
    Config(String),
    /// A command named a tunnel or gateway that is not configured (caller misuse).
    #[error("unknown tunnel or gateway `{0}`")]
    UnknownName(String),
    /// A command needs an established IKE SA and there is none.
    #[error("no established IKE SA for `{0}`")]
    NotEstablished(String),
    /// The request needs a feature this implementation does not have yet.
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    /// A caller's buffer is too small for the datagram to transmit.
    #[error("buffer too small: need {0} bytes")]
    BufferTooSmall(usize),
}

impl Error {
    /// The notify message type the peer is told about this error, if any.
    pub fn notify(&self) -> Option<u16> {
        use notify_code::*;
        match self {
            Error::Malformed(_) => Some(INVALID_SYNTAX),
            Error::Crypto(CryptoError::InvalidPeerPublicKey(_)) => Some(INVALID_SYNTAX),
            Error::NoProposalChosen => Some(NO_PROPOSAL_CHOSEN),
            Error::InvalidKePayload(_) => Some(INVALID_KE_PAYLOAD),
            Error::AuthenticationFailed(_) => Some(AUTHENTICATION_FAILED),
            Error::TsUnacceptable => Some(TS_UNACCEPTABLE),
            _ => None,
        }
    }
}
