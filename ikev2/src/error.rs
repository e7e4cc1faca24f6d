//! Errors, one type per operation, each saying whose fault it is and what to do about it.
//!
//! Their text escapes what may come from a peer or a caller ([`ipsec_core::text::Escaped`]).
//!
//! - [`ConfigError`]: building an [`Endpoint`](crate::Endpoint) or resolving a configuration;
//! - [`CommandError`]: a command was refused (the caller's misuse, or the state it finds);
//! - [`NegotiationError`]: an exchange with the peer failed, by blame: the peer's message is
//!   malformed, the peer broke the protocol, the two sides' policies do not fit, or something on
//!   our side failed ([`LocalError`]). [`NegotiationError::notify`] is what the peer is told
//!   (RFC 7296 section 2.21); the failure events carry the same blame in their
//!   [`Reason`](crate::Reason).

use crate::wire::{self, NotifyType};
use ipsec_core::crypto::{CryptoError, DhGroup};
use ipsec_core::spi::SpiError;
use ipsec_core::text::Escaped;

/// A failure on our side, never the peer's: our random source or crypto provider, a key
/// derivation, encoding our own message. The peer is told nothing about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalError {
    /// The random source failed, or the provider lacks a negotiated algorithm. Check the
    /// provider passed to the endpoint.
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
    /// A key derivation asked for impossible lengths (a bug).
    #[error("key derivation failed: {0}")]
    KeyDerivation(&'static str),
    /// One of our own messages could not be encoded or protected (a bug).
    #[error("cannot build our message: {0}")]
    Encode(wire::Error),
    /// A name the validated configuration holds went missing (a bug).
    #[error("configuration has no {}", Escaped(.0))]
    Inconsistent(String),
    /// The SPI allocator had no inbound SPI to give (a full SA table): retry once SAs are
    /// deleted. A peer asking for a Child SA meanwhile is told NO_ADDITIONAL_SAS.
    #[error("inbound SPI: {0}")]
    Spi(#[from] SpiError),
}

/// Why a configuration cannot run. The message names the object and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A mistake in the configuration: fix the named field.
    #[error("configuration: {}", Escaped(.0))]
    Invalid(String),
    /// A valid configuration asks for what this implementation cannot run (certificates, a
    /// peer given by FQDN, AH).
    #[error("not supported: {}", Escaped(.0))]
    Unsupported(String),
    /// The crypto provider's tables do not make sense together.
    #[error("crypto provider: {0}")]
    Provider(CryptoError),
}

/// Why a command was refused; nothing was sent and nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No `ipsec-tunnel` of that name is configured (caller misuse).
    #[error("unknown tunnel `{}`", Escaped(.0))]
    UnknownTunnel(String),
    /// No `ike-gateway` of that name is configured (caller misuse).
    #[error("unknown gateway `{}`", Escaped(.0))]
    UnknownGateway(String),
    /// The gateway never initiates: it is passive, or its peer is dynamic (no address).
    #[error("ike-gateway \"{}\" cannot initiate: {}", Escaped(.0), .1)]
    CannotInitiate(String, &'static str),
    /// The command needs an established IKE SA (or Child SA) for this name and there is none.
    #[error("no established SA for `{}`", Escaped(.0))]
    NotEstablished(String),
    /// No established IKE SA carries a Child SA with this inbound SPI: it was deleted, or
    /// never came up.
    #[error("no Child SA with inbound SPI {0:08X}")]
    NoChildSa(u32),
    /// Our side failed while starting the exchange.
    #[error(transparent)]
    Local(#[from] LocalError),
}

impl CommandError {
    /// True when the caller named something that is not configured; otherwise the command is
    /// valid but the state does not allow it (or our side failed).
    pub fn is_unknown_name(&self) -> bool {
        matches!(
            self,
            CommandError::UnknownTunnel(_) | CommandError::UnknownGateway(_)
        )
    }
}

/// How the two sides' policies fail to fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// None of the peer's proposals is acceptable to our crypto profile. Compare the two sides'
    /// profiles.
    #[error("no suitable proposal found in peer's SA payload")]
    NoProposalChosen,
    /// The peer's traffic selectors do not overlap ours (proxy-ID mismatch).
    #[error("traffic selectors unacceptable")]
    TsUnacceptable,
    /// The peer's AUTH payload did not verify or its ID is not the configured peer ID. Check the
    /// pre-shared key and the IDs on both sides.
    #[error("authentication failed: {}", Escaped(.0))]
    AuthenticationFailed(String),
    /// The peer's KE payload uses another group than the one we selected; the initiator retries
    /// with the group named here (RFC 7296 section 1.2).
    #[error("invalid KE payload: expected group {0}")]
    InvalidKePayload(DhGroup),
}

/// Why an exchange with the peer failed, by whose fault it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// The peer's message does not parse, or lacks a payload it must carry.
    #[error("malformed message: {}", Escaped(.0))]
    Malformed(String),
    /// The peer broke the protocol: it answered with what we did not offer, or with a value the
    /// exchange forbids.
    #[error("peer misbehaved: {}", Escaped(.0))]
    PeerMisbehaved(String),
    /// The two sides' policies do not fit.
    #[error(transparent)]
    Incompatible(#[from] Mismatch),
    /// Our side failed.
    #[error("local failure: {0}")]
    Local(#[from] LocalError),
}

impl NegotiationError {
    /// The notify message type the peer is told about this error, if any (RFC 7296 section
    /// 2.21): nothing for our own failures or a peer that broke the protocol in a response.
    pub fn notify(&self) -> Option<NotifyType> {
        match self {
            NegotiationError::Malformed(_) => Some(NotifyType::INVALID_SYNTAX),
            NegotiationError::Incompatible(m) => Some(match m {
                Mismatch::NoProposalChosen => NotifyType::NO_PROPOSAL_CHOSEN,
                Mismatch::TsUnacceptable => NotifyType::TS_UNACCEPTABLE,
                Mismatch::AuthenticationFailed(_) => NotifyType::AUTHENTICATION_FAILED,
                Mismatch::InvalidKePayload(_) => NotifyType::INVALID_KE_PAYLOAD,
            }),
            NegotiationError::PeerMisbehaved(_) | NegotiationError::Local(_) => None,
        }
    }
}

impl From<CryptoError> for NegotiationError {
    /// An invalid public value is the peer's (RFC 6989); every other crypto error is ours.
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::InvalidPeerPublicKey(_) => NegotiationError::Malformed(e.to_string()),
            e => NegotiationError::Local(LocalError::Crypto(e)),
        }
    }
}

impl From<CryptoError> for CommandError {
    fn from(e: CryptoError) -> Self {
        CommandError::Local(LocalError::Crypto(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_whose_fault_and_what_the_peer_is_told() {
        let peer_key = NegotiationError::from(CryptoError::InvalidPeerPublicKey(DhGroup::ECP_256));
        assert_eq!(peer_key.notify(), Some(NotifyType::INVALID_SYNTAX));
        let rng = NegotiationError::from(CryptoError::RandomFailed);
        assert!(matches!(rng, NegotiationError::Local(_)));
        assert_eq!(rng.notify(), None, "our RNG failure is not the peer's");
        assert_eq!(
            NegotiationError::from(Mismatch::InvalidKePayload(DhGroup::CURVE25519)).notify(),
            Some(NotifyType::INVALID_KE_PAYLOAD)
        );
        assert!(CommandError::UnknownTunnel("x".into()).is_unknown_name());
        assert!(!CommandError::NotEstablished("x".into()).is_unknown_name());
    }
}
