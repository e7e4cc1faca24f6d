//! ESP (RFC 4303) and its UDP encapsulation (RFC 3948) as a Sans-IO datapath.
//!
//! SAs are built from an [`ipsec_core::child_sa::ChildSa`] description; packets are transformed in
//! place in caller-owned buffers.
//!
//! - [`wire`]: the ESP header view, the port-4500 demultiplexer (non-ESP marker, NAT keepalive);
//! - [`OutboundSa`] / [`InboundSa`]: encapsulation and decapsulation, one provider call per
//!   packet, no allocation;
//! - [`replay`]: the anti-replay window with ESN;
//! - [`lifetime`]: byte/packet/time limits and the events they raise;
//! - [`encap`]: outer IP and UDP headers (DSCP, ECN, DF) for embedders that send raw IP;
//! - [`SaTable`]: inbound lookup by SPI in O(1), outbound lookup by tunnel and traffic selector,
//!   counters per SA and per drop reason.
//!
//! Nothing here performs I/O, reads a clock or keeps global state: time comes in as `now`.

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

pub use error::{DropCounters, DropReason, EspError};
pub use inbound::{Decapsulated, InboundSa};
pub use lifetime::{LimitKind, SaEvent};
pub use outbound::OutboundSa;
pub use sa::{IvSource, SaCounters};
pub use table::{ChildHandle, Delivered, SaTable, TableEvent, Transmit, TunnelId, MAX_INBOUND};
