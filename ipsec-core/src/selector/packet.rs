//! [`Packet5Tuple`]: what selector matching reads from an IP packet.

use super::TrafficSelector;
use std::net::IpAddr;

/// ICMP for IPv4 (IANA protocol number).
pub const PROTO_ICMP: u8 = 1;
/// TCP (IANA protocol number).
pub const PROTO_TCP: u8 = 6;
/// UDP (IANA protocol number).
pub const PROTO_UDP: u8 = 17;
/// ICMPv6 (IANA protocol number).
pub const PROTO_ICMPV6: u8 = 58;

/// The fields of a packet that selectors look at.
///
/// A port is `None` when it is not available: non-initial fragments, protocols without ports
/// (GRE, ESP, OSPF...). Such a packet matches only selectors whose ports are ANY or OPAQUE (RFC 4301
/// section 4.4.1).
///
/// ICMP and ICMPv6 have no ports; RFC 7296 section 3.13.1 carries their type and code in the port
/// fields as one 16-bit value, type in the high byte. [`Packet5Tuple::icmp`] puts that value in
/// both `src_port` and `dst_port`, so a packet matches when each selector's port range admits it
/// (a selector with ANY ports admits every type). The reply to a type-restricted message has a
/// different type, so restricting ICMP on one side only is the admin's deliberate choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Packet5Tuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol (IPv6: the upper-layer protocol after extension headers).
    pub protocol: u8,
    /// Source port, `None` when unavailable.
    pub src_port: Option<u16>,
    /// Destination port, `None` when unavailable.
    pub dst_port: Option<u16>,
}

impl Packet5Tuple {
    /// A packet of a protocol with ports (TCP, UDP, SCTP...).
    pub fn new(src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16, protocol: u8) -> Self {
        Packet5Tuple {
            src,
            dst,
            protocol,
            src_port: Some(src_port),
            dst_port: Some(dst_port),
        }
    }

    /// A packet whose ports are unavailable (a non-initial fragment or a protocol without ports).
    pub fn without_ports(src: IpAddr, dst: IpAddr, protocol: u8) -> Self {
        Packet5Tuple {
            src,
            dst,
            protocol,
            src_port: None,
            dst_port: None,
        }
    }

    /// An ICMP or ICMPv6 message: `(icmp_type << 8) | code` stands in for both ports.
    pub fn icmp(src: IpAddr, dst: IpAddr, icmp_type: u8, code: u8) -> Self {
        let value = (u16::from(icmp_type) << 8) | u16::from(code);
        let protocol = if src.is_ipv4() {
            PROTO_ICMP
        } else {
            PROTO_ICMPV6
        };
        Packet5Tuple {
            src,
            dst,
            protocol,
            src_port: Some(value),
            dst_port: Some(value),
        }
    }

    /// The same flow seen in the other direction (source and destination swapped).
    pub fn reversed(&self) -> Self {
        Packet5Tuple {
            src: self.dst,
            dst: self.src,
            protocol: self.protocol,
            src_port: self.dst_port,
            dst_port: self.src_port,
        }
    }

    /// True when an outbound packet belongs to a Child SA with these selectors: the source is
    /// admitted by one of `local`, the destination by one of `remote` (RFC 7296 section 2.9: each
    /// list is a union).
    pub fn matches_outbound(&self, local: &[TrafficSelector], remote: &[TrafficSelector]) -> bool {
        local.iter().any(|ts| ts.matches_source(self))
            && remote.iter().any(|ts| ts.matches_destination(self))
    }

    /// True when a decrypted inbound packet is allowed by a Child SA with these selectors: the
    /// source is admitted by one of `remote`, the destination by one of `local` (RFC 4301 section
    /// 5.2: the inner header must match the SA's selectors).
    pub fn matches_inbound(&self, local: &[TrafficSelector], remote: &[TrafficSelector]) -> bool {
        self.reversed().matches_outbound(local, remote)
    }
}
