//! ESP (RFC 4303) and its UDP encapsulation (RFC 3948) as a Sans-IO datapath.
//!
//! SAs are built from an [`ipsec_core::child_sa::ChildSa`] description; packets are transformed in
//! place in caller-owned buffers.
//!
//! - [`wire`]: the ESP header view, the port-4500 demultiplexer (non-ESP marker, NAT keepalive);
//! - [`OutboundSa`] / [`InboundSa`]: encapsulation and decapsulation, one provider call per
//!   packet, no allocation. Every SA authenticates its packets (an AEAD, or a cipher with an
//!   integrity algorithm) unless built with `new_confidentiality_only`, and no call can make an
//!   SA repeat a sequence number or an IV under its key. [`OutboundSa::prepare_payload`]
//!   takes a packet's sequence number and lays it out, and leaves its encryption to a
//!   [`Sealing`] that may run on another thread (an embedder's workers spreading the ciphers
//!   over its cores, sending in sequence order); on the receiving side
//!   [`InboundSa::prepare_open`] checks a packet against the replay window, an [`Opening`]
//!   verifies and decrypts it anywhere, and [`InboundSa::finish`] checks the window again
//!   before it moves it (a replay is refused whichever copy finishes first, a forged packet
//!   never moves the window);
//! - [`replay`]: the anti-replay window with ESN;
//! - [`lifetime`]: byte/packet/time limits and the events they raise;
//! - [`encap`]: outer IP and UDP headers (DSCP, ECN, DF) for embedders that send raw IP;
//! - [`SaTable`]: inbound lookup by SPI in O(1), outbound lookup by tunnel and traffic selector,
//!   counters per SA and per drop reason.
//!
//! Nothing here performs I/O, reads a clock or keeps global state: time comes in as `now`.
//!
//! The table emits `tracing` events at debug level when an SA pair is installed or removed and
//! when a lifetime event is polled, naming SPIs and algorithms, never keys; nothing is logged per
//! packet (the counters say what happened to packets). Without a subscriber they cost nothing.
//!
//! # Using the table
//!
//! Install every Child SA IKE reports, then per packet: [`SaTable::encapsulate`] what the tunnel
//! interface routes out, [`SaTable::decapsulate`] what arrives on UDP 4500 (after
//! [`wire::Udp4500::classify`]) or as IP protocol 50. After each batch, drain
//! [`SaTable::poll_event`] (rekey and expiry for IKE) and arm a timer for
//! [`SaTable::poll_timeout`], calling [`SaTable::handle_timeout`] when it fires. To run the
//! ciphers on other threads, [`SaTable::prepare_encapsulate`] a packet and [`Sealing::seal`] it
//! anywhere, sending in the order prepared; [`SaTable::prepare_open`] a received packet,
//! [`Opening::open`] it anywhere and [`SaTable::finish_open`] it back on the table's thread,
//! with the same results as `encapsulate` and `decapsulate`.
//!
//! ```
//! use esp::SaTable;
//! use ipsec_core::child_sa::{ChildSa, DirectionKeys, IpsecProtocol, Lifetimes, Mode};
//! use ipsec_core::crypto::{default_provider, EncrId, Encryption, IntegId, SecretBytes};
//! use ipsec_core::time::Instant;
//!
//! let keys = |spi| DirectionKeys {
//!     spi,
//!     encryption_key: SecretBytes::from_slice(&[0x11; 20]), // AES-128 key and salt
//!     integrity_key: SecretBytes::default(),
//! };
//! let child = ChildSa {
//!     tunnel: "to-branch".into(),
//!     proxy_id: None,
//!     protocol: IpsecProtocol::Esp,
//!     mode: Mode::Tunnel,
//!     encryption: Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
//!     integrity: IntegId::NONE,
//!     esn: false,
//!     inbound: keys(0x1111_2222),
//!     outbound: keys(0x1111_2222), // same SPI both ways: this table talks to itself
//!     local_ts: vec![],
//!     remote_ts: vec![],
//!     local_addr: "192.0.2.1:4500".parse().unwrap(),
//!     remote_addr: "192.0.2.2:4500".parse().unwrap(),
//!     encapsulation: None,
//!     lifetimes: Lifetimes::default(),
//!     replay_window: 1024,
//!     tfc_padding: false,
//! };
//! let now = Instant::ZERO;
//! let mut table = SaTable::new(default_provider());
//! table.install(now, &child).unwrap();
//! let tunnel = table.tunnel("to-branch").unwrap();
//!
//! // An IPv4 packet with room around it for the ESP header, IV, trailer and ICV.
//! let mut buf = [0u8; 64 + 20 + 64];
//! buf[64] = 0x45;
//! buf[67] = 20;
//! let tx = table.encapsulate(now, tunnel, &mut buf, 64..84).unwrap();
//! assert_eq!(tx.range.len(), 8 + 8 + 24 + 16);
//!
//! let rx = table.decapsulate(now, &mut buf[tx.range]).unwrap().unwrap();
//! assert_eq!(rx.packet.next_header, 4);
//! ```

mod deadlines;
pub mod encap;
mod error;
mod inbound;
pub mod ip;
pub mod lifetime;
mod outbound;
pub mod replay;
mod sa;
mod table;
pub mod wire;

pub use deadlines::SaMut;
pub use error::{DropCounters, DropReason, EspError};
pub use inbound::{Decapsulated, InboundSa, Opened, Opening};
pub use ipsec_core::spi::{SpiAllocator, SpiError};
pub use lifetime::{LimitKind, SaEvent};
pub use outbound::{OutboundSa, Sealing};
pub use sa::SaCounters;
pub use table::{ChildHandle, Delivered, SaTable, TableEvent, Transmit, TunnelId, MAX_INBOUND};
