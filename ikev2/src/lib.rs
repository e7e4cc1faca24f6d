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
//!   [`config::EndpointConfig::from_config`] from the PAN-OS model of [`ipsec_core::config`];
//! - [`event`]: what it reports (SAs up and down, negotiation failures with their reasons);
//! - [`wire`]: the message codec; [`proposal`]: negotiation; [`identity`]: IKE identities;
//! - errors per operation: [`ConfigError`], [`CommandError`], [`NegotiationError`].
//!
//! Peers authenticate with a pre-shared key or with certificates
//! ([`config::Authentication`]): RFC 7427 signatures (AUTH method 14, announced with
//! SIGNATURE_HASH_ALGORITHMS) or, with peers that do not announce RFC 7427, the classic RSA and
//! ECDSA methods; CERT payloads carry our chain and CERTREQ names the CAs we trust. Checking a
//! certificate's dates needs the wall-clock time, which the caller passes in like every other
//! input ([`Endpoint::set_wall_clock`]). Revocation (CRL, OCSP) is not checked.
//!
//! With the `testing` feature, `ikev2::testing` adds a deterministic two-peer harness with a
//! simulated network and clock, for tests, benchmarks and fuzzers.
//!
//! A PAN-OS-shaped configuration in, the first IKE datagram out:
//!
//! ```
//! use ikev2::config::EndpointConfig;
//! use ikev2::{Endpoint, Event};
//! use ipsec_core::config::Config;
//! use ipsec_core::crypto::default_provider;
//! use ipsec_core::time::Instant;
//!
//! let toml = r#"
//! [[ike-crypto-profile]]
//! name = "ike"
//! dh-group = ["group19"]
//! hash = ["sha256"]
//! encryption = ["aes-256-gcm"]
//!
//! [[ipsec-crypto-profile]]
//! name = "esp"
//! encryption = ["aes-128-gcm"]
//! authentication = ["none"]
//! dh-group = "group19"
//!
//! [[ike-gateway]]
//! name = "gw-branch"
//! version = "ikev2"
//! local-address = { interface = "ethernet1/1", ip = "192.0.2.1" }
//! peer-address = { ip = "192.0.2.2" }
//! authentication = { pre-shared-key = "correct horse battery staple" }
//! ike-crypto-profile = "ike"
//!
//! [[tunnel-interface]]
//! name = "tunnel.1"
//! zone = "vpn"
//!
//! [[zone]]
//! name = "vpn"
//! interfaces = ["tunnel.1"]
//!
//! [[ipsec-tunnel]]
//! name = "vpn-branch"
//! tunnel-interface = "tunnel.1"
//! ike-gateway = "gw-branch"
//! ipsec-crypto-profile = "esp"
//!
//! [[ipsec-tunnel.proxy-id]]
//! name = "lan"
//! local = "10.1.0.0/24"
//! remote = "10.2.0.0/24"
//! "#;
//! let config = Config::from_toml_str(toml).expect("a valid configuration");
//! let config = EndpointConfig::from_config(&config)?;
//! let mut endpoint = Endpoint::new(config, default_provider())?;
//!
//! let now = Instant::from_secs(1);
//! endpoint.connect(now, "vpn-branch")?;
//! let mut buf = vec![0u8; 65535];
//! let sent = endpoint.poll_transmit(&mut buf).expect("IKE_SA_INIT");
//! assert_eq!((sent.local.port(), sent.remote.to_string()), (500, "192.0.2.2:500".to_owned()));
//! // Send `&buf[..sent.len]` from `sent.local` to `sent.remote`; hand every datagram that comes
//! // back on ports 500 and 4500 to `endpoint.handle_datagram(now, local, remote, bytes)`, call
//! // `endpoint.handle_timeout(now)` when `endpoint.poll_timeout()` is due, and install each
//! // Child SA the events report in the ESP datapath:
//! while let Some(event) = endpoint.poll_event() {
//!     if let Event::ChildSaUp { child, .. } = event {
//!         println!("install {:08x} for {}", child.inbound.spi, child.tunnel);
//!     }
//! }
//! assert!(endpoint.poll_timeout().is_some(), "the retransmission of IKE_SA_INIT");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod check;
pub mod config;
mod cookie;
mod ctx;
mod endpoint;
pub mod error;
pub mod event;
mod exchange;
pub mod identity;
#[cfg(feature = "testing")]
pub mod keys;
#[cfg(not(feature = "testing"))]
#[allow(unreachable_pub)]
mod keys;
mod nat;
pub mod proposal;
mod queue;
mod resolve;
mod sa;
#[cfg(test)]
mod test_crypto;
#[cfg(feature = "testing")]
pub mod testing;
mod timer;
pub mod wire;

pub use endpoint::{
    Changes, ChildSaInfo, Endpoint, IkeSaInfo, Received, Reconfigured, Stats, Transmit, WithSpis,
};
pub use error::{CommandError, ConfigError, LocalError, Mismatch, NegotiationError};
pub use event::{Event, Outbound, Reason, Role, SaName, REKEYED_LINGER};
