//! IKEv2 (RFC 7296) as a Sans-IO library.
//!
//! This crate turns datagrams into IKE SA and Child SA state changes and back, with no sockets,
//! threads or clocks of its own: time, randomness and crypto come in from the caller
//! (see [`ipsec_core::crypto::CryptoProvider`] and [`ipsec_core::time::Instant`]).
//!
//! - [`Endpoint`]: the IKE SAs of one configuration, driven by `handle_datagram`,
//!   `handle_timeout` and commands, polled for datagrams, [`Event`]s and deadlines (its rustdoc
//!   is the contract);
//! - [`config`]: the resolved configuration it runs from, built in code or with
//!   [`config::EndpointConfig::from_config`] from the PAN-OS model of `ipsec_core::config`;
//! - [`wire`]: the message codec; [`keys`]: key derivation; [`proposal`]: negotiation;
//! - [`testing`]: a deterministic two-peer harness with a simulated network and clock.
//!
//! Two endpoints negotiating through an in-memory "network":
//!
//! ```
//! use ikev2::testing::SiteSpec;
//! use ikev2::{Endpoint, Event};
//! use ipsec_core::crypto::default_provider;
//! use ipsec_core::time::Instant;
//!
//! let mut left = Endpoint::new(SiteSpec::left().config(), default_provider()).unwrap();
//! let mut right = Endpoint::new(SiteSpec::right().config(), default_provider()).unwrap();
//! let now = Instant::from_secs(1);
//! left.connect(now, "tun").unwrap();
//! let mut buf = vec![0u8; 65535];
//! for _ in 0..4 {
//!     while let Some(t) = left.poll_transmit(&mut buf) {
//!         right.handle_datagram(now, t.remote, t.local, &buf[..t.len]);
//!     }
//!     while let Some(t) = right.poll_transmit(&mut buf) {
//!         left.handle_datagram(now, t.remote, t.local, &buf[..t.len]);
//!     }
//! }
//! let mut installed = 0;
//! while let Some(event) = left.poll_event() {
//!     println!("{event}");
//!     if let Event::ChildSaUp { child, .. } = event {
//!         assert_eq!(child.tunnel, "tun");
//!         installed += 1;
//!     }
//! }
//! assert_eq!(installed, 1);
//! ```

pub mod error;
pub mod keys;
#[cfg(test)]
mod test_crypto;

pub use endpoint::{Endpoint, IkeSaInfo, Received, Stats, Transmit};
pub use error::Error;
pub use event::{Event, Reason, Role};
pub mod config;
pub mod cookie;
mod ctx;
mod endpoint;
pub mod event;
mod exchange;
pub mod identity;
pub mod nat;
pub mod proposal;
mod queue;
mod resolve;
mod sa;
pub mod testing;
mod timer;
pub mod wire;
