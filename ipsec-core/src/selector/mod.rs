//! Traffic selectors (RFC 7296 section 3.13.1) and PAN-OS proxy IDs.
//!
//! A [`TrafficSelector`] is an address range, an IP protocol (0 = any) and a port range, IPv4 or
//! IPv6. Selectors are treated as sets of packet ends (address, protocol, port), so
//! [`TrafficSelector::contains`] is the subset test and [`TrafficSelector::intersect`] the
//! intersection that RFC 7296 section 2.9 narrowing needs. Ports follow RFC 4301 section 4.4.1:
//! ANY includes OPAQUE (ports unavailable), see [`PortSelector`].
//!
//! - [`ProxyIdSpec`] turns a PAN-OS proxy ID (prefixes, protocol, ports) into `(local, remote)`
//!   selectors; [`tunnel_selectors`] applies the `0.0.0.0/0` default.
//! - [`narrow_as_responder`], [`choose_policy`] and [`check_narrowed`] implement both roles of
//!   narrowing.
//! - [`is_mirror`] and [`mirror_differences`] compare two peers' proxy IDs.
//! - [`SelectorTable`] finds the entry (SA) for a packet's [`Packet5Tuple`]; [`SelectorSet`]
//!   checks a packet against one end's selectors (an SA's inbound check).
//!
//! Nothing here panics on any selector value: selectors with broken invariants (possible through
//! the public fields) are reported by [`TrafficSelector::validate`] and otherwise match nothing.

mod addr;
mod coverage;
mod mirror;
mod narrowing;
mod packet;
mod ports;
mod prefix;
mod proxy_id;
mod set;
mod table;
mod traffic_selector;

use std::net::IpAddr;

pub use mirror::{is_mirror, mirror_differences, MirrorMismatch, ProxyIdEnd, Relation};
pub use narrowing::{
    check_narrowed, choose_policy, narrow_as_responder, narrow_list, Narrowed, NarrowingError,
    TsList,
};
pub use packet::{Packet5Tuple, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};
pub use ports::PortSelector;
pub use prefix::{IpPrefix, PrefixError};
pub use proxy_id::{tunnel_selectors, ProxyIdSpec};
pub use set::SelectorSet;
pub use table::SelectorTable;

/// One traffic selector: addresses `start_addr..=end_addr`, IP protocol `protocol` (0 = any), ports
/// `start_port..=end_port`. Both addresses are of the same family and `start <= end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// IP protocol number; 0 matches any protocol.
    pub protocol: u8,
    /// First port of the range (0 with `end_port` 65535 for any port).
    pub start_port: u16,
    /// Last port of the range.
    pub end_port: u16,
    /// First address of the range.
    pub start_addr: IpAddr,
    /// Last address of the range, same family as `start_addr`.
    pub end_addr: IpAddr,
}

/// Why values do not form a [`TrafficSelector`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// One address is IPv4 and the other IPv6; a selector is of one family (RFC 7296 section
    /// 3.13.1 has a separate TS type for each).
    #[error("address range {start}-{end} mixes IPv4 and IPv6")]
    MixedFamilies {
        /// The start address.
        start: IpAddr,
        /// The end address.
        end: IpAddr,
    },
    /// The start address is above the end address.
    #[error("address range {start}-{end} runs backwards")]
    AddressRangeReversed {
        /// The start address.
        start: IpAddr,
        /// The end address.
        end: IpAddr,
    },
    /// The start port is above the end port (and this is not the OPAQUE encoding `65535, 0`).
    #[error("port range {start}-{end} runs backwards")]
    PortRangeReversed {
        /// The start port.
        start: u16,
        /// The end port.
        end: u16,
    },
    /// A proxy ID's local and remote networks are of different families; use `proxy-id` for IPv4
    /// and `proxy-id-v6` for IPv6.
    #[error("proxy ID local {local} and remote {remote} are of different address families")]
    ProxyIdFamilies {
        /// The local network.
        local: IpPrefix,
        /// The remote network.
        remote: IpPrefix,
    },
}
