//! Shared vocabulary of the IPsec stack.
//!
//! `ipsec-core` holds what both protocol cores ([`ikev2`] and [`esp`]) speak:
//!
//! - [`config`]: the PAN-OS configuration model (IKE gateway, crypto profiles, tunnel interface,
//!   IPsec tunnel with proxy IDs, static routes, zones, security and NAT rules), loaded from TOML or
//!   built in code, validated into errors that name the object and field;
//! - [`selector`]: traffic selectors, proxy-ID conversion, RFC 7296 section 2.9 narrowing and packet
//!   matching;
//! - [`crypto`]: IANA transform identifiers and the pluggable crypto provider (rustls style: passed
//!   explicitly, no process-wide default);
//! - [`pki`]: X.509 certificates for IKE authentication: decoding, path validation to trusted
//!   CAs, identities against certificates;
//! - [`child_sa`]: the description of a negotiated Child SA that IKE emits and ESP installs;
//! - [`spi`]: the inbound SPI allocator trait, where IKE asks the datapath for SPIs;
//! - [`demux`]: the IKE ports and what arrives on them (IKE, ESP in UDP, NAT keepalives);
//! - [`time`]: a monotonic [`time::Instant`] in integer microseconds, passed in by the caller;
//! - [`text`]: escaping of text from outside (peer identities, configured names) before it is
//!   printed or handed to a C caller.
//!
//! Nothing here performs I/O, reads a clock or keeps global state.
//!
//! [`ikev2`]: https://docs.rs/ikev2
//! [`esp`]: https://docs.rs/esp

pub mod child_sa;
pub mod config;
pub mod crypto;
pub mod demux;
mod iana;
pub mod pki;
pub mod selector;
pub mod spi;
pub mod text;
pub mod time;
