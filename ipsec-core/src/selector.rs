//! Traffic selectors (RFC 7296 section 3.13.1) and PAN-OS proxy IDs.
//!
//! A [`TrafficSelector`] is an address range, an IP protocol (0 = any) and a port range, IPv4 or
//! IPv6. A PAN-OS proxy ID (`local`/`remote` prefix, protocol, ports) converts into a pair of them.

use std::net::IpAddr;

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
