//! [`SelectorSet`]: one end's selectors, prepared for checking packets.

use super::addr::{self, Family};
use super::traffic_selector::Parts;
use super::{Packet5Tuple, TrafficSelector};
use std::net::IpAddr;

/// The selectors of one end of a Child SA, prepared for the per-packet check a datapath makes
/// (RFC 4301 section 5.2: a decrypted packet must fall inside the SA's selectors).
///
/// Each selector is validated and turned into integers once, when the set is built, so admitting
/// a packet end costs a few integer comparisons per selector, with no conversion or validation
/// per packet. Selectors with broken invariants are left out: they match nothing, as
/// [`TrafficSelector::matches_source`] says of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectorSet {
    parts: Vec<Parts>,
}

impl SelectorSet {
    /// The set of `selectors` (invalid ones left out).
    pub fn new(selectors: &[TrafficSelector]) -> Self {
        SelectorSet {
            parts: selectors
                .iter()
                .filter_map(TrafficSelector::parts)
                .collect(),
        }
    }

    /// Number of (valid) selectors.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// True when the set admits nothing.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// True when some selector admits the packet end `ip`, `protocol`, `port` (`None`: ports
    /// unavailable, see [`Packet5Tuple`]).
    #[inline]
    pub fn admits(&self, ip: IpAddr, protocol: u8, port: Option<u16>) -> bool {
        let (family, value) = addr::to_u128(ip);
        self.admits_value(family, value, protocol, port)
    }

    /// [`admits`](Self::admits) for an address as an integer: `ipv6` and the address's value
    /// (an IPv4 address in the low 32 bits), the form a datapath that parses packet headers
    /// into integers has at hand.
    #[inline]
    pub fn admits_integer(&self, ipv6: bool, value: u128, protocol: u8, port: Option<u16>) -> bool {
        let family = if ipv6 { Family::V6 } else { Family::V4 };
        self.admits_value(family, value, protocol, port)
    }

    #[inline]
    fn admits_value(&self, family: Family, value: u128, protocol: u8, port: Option<u16>) -> bool {
        self.parts
            .iter()
            .any(|p| p.admits_value(family, value, protocol, port))
    }

    /// True when some selector admits the packet's source end (what a local selector judges of
    /// an outbound packet, a remote one of an inbound packet).
    #[inline]
    pub fn admits_source(&self, packet: &Packet5Tuple) -> bool {
        self.admits(packet.src, packet.protocol, packet.src_port)
    }

    /// True when some selector admits the packet's destination end.
    #[inline]
    pub fn admits_destination(&self, packet: &Packet5Tuple) -> bool {
        self.admits(packet.dst, packet.protocol, packet.dst_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::{PortSelector, PROTO_TCP, PROTO_UDP};

    fn ts(prefix: &str, protocol: u8, ports: (u16, u16)) -> TrafficSelector {
        TrafficSelector::from_prefix(prefix.parse().unwrap(), protocol, ports).unwrap()
    }

    #[test]
    fn admits_what_each_selector_admits() {
        let list = [
            ts("10.1.0.0/16", 0, (0, u16::MAX)),
            ts("2001:db8::/32", PROTO_TCP, (443, 443)),
        ];
        let set = SelectorSet::new(&list);
        assert_eq!(set.len(), 2);
        let packets = [
            Packet5Tuple::new(
                "10.1.2.3".parse().unwrap(),
                1000,
                "192.0.2.1".parse().unwrap(),
                53,
                PROTO_UDP,
            ),
            Packet5Tuple::new(
                "10.2.0.1".parse().unwrap(),
                1000,
                "10.1.0.1".parse().unwrap(),
                53,
                PROTO_UDP,
            ),
            Packet5Tuple::new(
                "2001:db8::1".parse().unwrap(),
                443,
                "2001:db8::2".parse().unwrap(),
                80,
                PROTO_TCP,
            ),
            Packet5Tuple::new(
                "2001:db8::1".parse().unwrap(),
                443,
                "2001:db8::2".parse().unwrap(),
                80,
                PROTO_UDP,
            ),
            Packet5Tuple::without_ports(
                "2001:db8::1".parse().unwrap(),
                "2001:db8::2".parse().unwrap(),
                PROTO_TCP,
            ),
            Packet5Tuple::icmp(
                "10.1.0.9".parse().unwrap(),
                "10.1.0.1".parse().unwrap(),
                8,
                0,
            ),
        ];
        for p in &packets {
            let one_by_one = list.iter().any(|t| t.matches_source(p));
            assert_eq!(set.admits_source(p), one_by_one, "{p:?}");
            let (ipv6, value) = match p.src {
                IpAddr::V4(a) => (false, u128::from(u32::from(a))),
                IpAddr::V6(a) => (true, u128::from(a)),
            };
            assert_eq!(
                set.admits_integer(ipv6, value, p.protocol, p.src_port),
                one_by_one
            );
            let one_by_one = list.iter().any(|t| t.matches_destination(p));
            assert_eq!(set.admits_destination(p), one_by_one, "{p:?}");
        }
        assert!(set.admits_source(&packets[0]));
        assert!(!set.admits_source(&packets[1]));
        assert!(set.admits_source(&packets[2]));
        assert!(!set.admits_source(&packets[3]));
        assert!(!set.admits_source(&packets[4]));
    }

    #[test]
    fn broken_selectors_match_nothing() {
        let mut reversed = ts("10.1.0.0/16", 0, (0, u16::MAX));
        std::mem::swap(&mut reversed.start_addr, &mut reversed.end_addr);
        let mut mixed = ts("10.1.0.0/16", 0, (0, u16::MAX));
        mixed.end_addr = "2001:db8::1".parse().unwrap();
        let set = SelectorSet::new(&[reversed, mixed]);
        assert!(set.is_empty());
        let p = Packet5Tuple::new(
            "10.1.0.1".parse().unwrap(),
            1,
            "10.1.0.2".parse().unwrap(),
            2,
            PROTO_UDP,
        );
        assert!(!set.admits_source(&p) && !set.admits_destination(&p));
        assert_eq!(
            PortSelector::from_fields(0, u16::MAX),
            Some(PortSelector::Any)
        );
    }
}
