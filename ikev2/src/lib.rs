//! IKEv2 (RFC 7296) as a Sans-IO library.
//!
//! This crate turns datagrams into IKE SA and Child SA state changes and back, with no sockets,
//! threads or clocks of its own: time, randomness and crypto come in from the caller
//! (see [`ipsec_core::crypto::CryptoProvider`] and [`ipsec_core::time::Instant`]).

pub mod error;
pub mod keys;
#[cfg(test)]
mod test_crypto;

pub use endpoint::{Endpoint, IkeSaInfo, Received, Stats, Transmit};
pub use error::Error;
pub use event::{Event, Reason, Role};
pub mod config;
pub mod cookie;
mod endpoint;
pub mod event;
mod exchange;
pub mod identity;
pub mod nat;
pub mod proposal;
pub mod queue;
mod resolve;
mod sa;
pub mod testing;
pub mod timer;
pub mod wire;
