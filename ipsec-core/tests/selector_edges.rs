//! Edge cases of single traffic selectors: /0, /32, /128, single ports, ANY and OPAQUE ports,
//! protocol any vs specific, mixed families, rendering.

use ipsec_core::selector::{
    IpPrefix, Packet5Tuple, PortSelector, SelectorError, TrafficSelector, PROTO_TCP, PROTO_UDP,
};
use std::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn prefix(s: &str) -> IpPrefix {
    s.parse().unwrap()
}

fn ts(p: &str, protocol: u8, ports: (u16, u16)) -> TrafficSelector {
    TrafficSelector::from_prefix(prefix(p), protocol, ports).unwrap()
}

const ANY: (u16, u16) = (0, 65535);
const OPAQUE: (u16, u16) = (65535, 0);

#[test]
fn new_rejects_mixed_families_and_reversed_ranges() {
    assert_eq!(
        TrafficSelector::new(ip("10.0.0.1"), ip("::1"), 0, 0, 65535),
        Err(SelectorError::MixedFamilies {
            start: ip("10.0.0.1"),
            end: ip("::1")
        })
    );
    assert!(matches!(
        TrafficSelector::new(ip("10.0.0.9"), ip("10.0.0.1"), 0, 0, 65535),
        Err(SelectorError::AddressRangeReversed { .. })
    ));
    assert_eq!(
        TrafficSelector::new(ip("10.0.0.1"), ip("10.0.0.9"), 6, 90, 80),
        Err(SelectorError::PortRangeReversed { start: 90, end: 80 })
    );
    // 65535, 0 is OPAQUE, not a reversed range (RFC 7296 section 3.13.1).
    let opaque = TrafficSelector::new(ip("10.0.0.1"), ip("10.0.0.9"), 6, 65535, 0).unwrap();
    assert_eq!(opaque.ports(), Some(PortSelector::Opaque));
    // A hand-built invalid selector is reported by validate() and matches nothing.
    let broken = TrafficSelector {
        start_addr: ip("::1"),
        ..TrafficSelector::any_v4()
    };
    assert!(broken.validate().is_err());
    assert!(!broken.contains_addr(ip("10.0.0.1")));
    assert!(!broken.contains(&broken));
    assert_eq!(broken.intersect(&TrafficSelector::any_v4()), None);
    assert!(broken.to_prefixes().is_empty());
    assert_eq!(broken.as_prefix(), None);
}

#[test]
fn slash_zero_and_host_prefixes() {
    let any4 = TrafficSelector::any_v4();
    assert!(any4.is_ipv4());
    assert_eq!(any4.as_prefix(), Some(prefix("0.0.0.0/0")));
    assert!(any4.contains_addr(ip("0.0.0.0")) && any4.contains_addr(ip("255.255.255.255")));
    assert!(!any4.contains_addr(ip("::")));
    let any6 = TrafficSelector::any_v6();
    assert!(!any6.is_ipv4());
    assert_eq!(any6.to_prefixes(), vec![prefix("::/0")]);
    assert_eq!(TrafficSelector::from(prefix("::/0")), any6);

    let host4 = ts("192.0.2.7/32", 0, ANY);
    assert_eq!(host4.start_addr, host4.end_addr);
    assert_eq!(host4.as_prefix(), Some(prefix("192.0.2.7/32")));
    assert!(host4.contains_addr(ip("192.0.2.7")) && !host4.contains_addr(ip("192.0.2.8")));
    assert_eq!(any4.intersect(&host4), Some(host4));

    let host6 = ts("2001:db8::1/128", 0, ANY);
    assert_eq!(host6.to_prefixes(), vec![prefix("2001:db8::1/128")]);
    assert_eq!(any6.intersect(&host6), Some(host6));
    assert!(any6.contains(&host6) && !host6.contains(&any6));

    // The top of the IPv6 space: no overflow.
    let top = TrafficSelector::new(
        ip("ffff::"),
        ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        0,
        0,
        65535,
    )
    .unwrap();
    assert_eq!(top.as_prefix(), Some(prefix("ffff::/16")));
    let all_but_zero = TrafficSelector::new(
        ip("::1"),
        ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        0,
        0,
        65535,
    )
    .unwrap();
    assert_eq!(all_but_zero.to_prefixes().len(), 128);
}

#[test]
fn ranges_to_prefixes() {
    let r = TrafficSelector::new(ip("10.0.0.1"), ip("10.0.0.6"), 0, 0, 65535).unwrap();
    assert_eq!(
        r.to_prefixes(),
        vec![
            prefix("10.0.0.1/32"),
            prefix("10.0.0.2/31"),
            prefix("10.0.0.4/31"),
            prefix("10.0.0.6/32")
        ]
    );
    assert_eq!(r.as_prefix(), None);
    let r = TrafficSelector::new(ip("10.0.0.0"), ip("10.0.1.255"), 0, 0, 65535).unwrap();
    assert_eq!(r.as_prefix(), Some(prefix("10.0.0.0/23")));
}

#[test]
fn single_ports_and_port_ranges() {
    let web = ts("10.1.0.0/24", PROTO_TCP, (443, 443));
    let wide = ts("10.1.0.0/16", PROTO_TCP, (400, 500));
    assert_eq!(web.intersect(&wide), Some(web));
    assert!(wide.contains(&web));
    let other = ts("10.1.0.0/24", PROTO_TCP, (444, 444));
    assert_eq!(web.intersect(&other), None);
    let p = Packet5Tuple::new(ip("10.1.0.5"), 443, ip("10.9.0.1"), 5000, PROTO_TCP);
    assert!(web.matches_source(&p));
    assert!(!web.matches_destination(&p));
    let p2 = Packet5Tuple {
        src_port: Some(442),
        ..p
    };
    assert!(!web.matches_source(&p2));
    // Port range edges.
    let r = ts("10.1.0.0/24", PROTO_UDP, (1000, 2000));
    let edge = |port| Packet5Tuple::new(ip("10.1.0.1"), port, ip("10.2.0.1"), 1, PROTO_UDP);
    assert!(r.matches_source(&edge(1000)) && r.matches_source(&edge(2000)));
    assert!(!r.matches_source(&edge(999)) && !r.matches_source(&edge(2001)));
}

#[test]
fn protocol_any_narrows_to_the_specific_one() {
    let any = ts("10.0.0.0/8", 0, ANY);
    let tcp = ts("10.1.0.0/16", PROTO_TCP, (22, 22));
    let n = any.intersect(&tcp).unwrap();
    assert_eq!(n, tcp);
    assert_eq!(n.protocol, PROTO_TCP);
    assert!(any.contains(&tcp) && !tcp.contains(&any));
    let udp = ts("10.1.0.0/16", PROTO_UDP, ANY);
    assert_eq!(tcp.intersect(&udp), None);
    // Any-protocol selectors admit packets of every protocol, specific ones only theirs.
    let gre = Packet5Tuple::without_ports(ip("10.1.2.3"), ip("10.9.9.9"), 47);
    assert!(any.matches_source(&gre));
    assert!(!udp.matches_source(&gre));
}

#[test]
fn any_includes_opaque_but_ranges_do_not() {
    let any = ts("10.0.0.0/8", PROTO_UDP, ANY);
    let opaque = ts("10.0.0.0/8", PROTO_UDP, OPAQUE);
    let range = ts("10.0.0.0/8", PROTO_UDP, (53, 53));
    assert_eq!(any.intersect(&opaque), Some(opaque));
    assert_eq!(range.intersect(&opaque), None);
    assert!(any.contains(&opaque) && !opaque.contains(&any) && !range.contains(&opaque));
    let fragment = Packet5Tuple::without_ports(ip("10.0.0.1"), ip("10.9.0.1"), PROTO_UDP);
    let dns = Packet5Tuple::new(ip("10.0.0.1"), 53, ip("10.9.0.1"), 53, PROTO_UDP);
    assert!(any.matches_source(&fragment) && any.matches_source(&dns));
    assert!(opaque.matches_source(&fragment) && !opaque.matches_source(&dns));
    assert!(!range.matches_source(&fragment) && range.matches_source(&dns));
}

#[test]
fn icmp_type_and_code_act_as_ports() {
    // Echo request is type 8 code 0: port value 0x0800 (RFC 7296 section 3.13.1).
    let echo = ts("10.0.0.0/8", 1, (0x0800, 0x08ff));
    let ping = Packet5Tuple::icmp(ip("10.0.0.1"), ip("10.9.0.1"), 8, 0);
    assert_eq!(ping.src_port, Some(0x0800));
    assert!(echo.matches_source(&ping));
    let reply = Packet5Tuple::icmp(ip("10.0.0.1"), ip("10.9.0.1"), 0, 0);
    assert!(!echo.matches_source(&reply));
    assert!(ts("10.0.0.0/8", 1, ANY).matches_source(&reply));
    let ping6 = Packet5Tuple::icmp(ip("2001:db8::1"), ip("2001:db8::2"), 128, 0);
    assert_eq!(ping6.protocol, 58);
}

#[test]
fn mixed_families_never_meet() {
    let v4 = TrafficSelector::any_v4();
    let v6 = TrafficSelector::any_v6();
    assert_eq!(v4.intersect(&v6), None);
    assert!(!v4.contains(&v6) && !v6.contains(&v4));
    let p6 = Packet5Tuple::new(ip("2001:db8::1"), 1, ip("2001:db8::2"), 2, PROTO_TCP);
    assert!(!v4.matches_source(&p6) && v6.matches_source(&p6));
}

#[test]
fn display_in_pan_os_log_style() {
    assert_eq!(
        ts("10.2.0.0/24", 0, ANY).to_string(),
        "10.2.0.0/24 type IPv4_subnet protocol 0 port 0"
    );
    assert_eq!(
        ts("10.2.0.0/24", PROTO_TCP, (443, 443)).to_string(),
        "10.2.0.0/24 type IPv4_subnet protocol 6 port 443"
    );
    assert_eq!(
        TrafficSelector::new(ip("10.2.0.1"), ip("10.2.0.9"), 17, 1000, 2000)
            .unwrap()
            .to_string(),
        "10.2.0.1-10.2.0.9 type IPv4_range protocol 17 port 1000-2000"
    );
    assert_eq!(
        ts("2001:db8::/32", 17, OPAQUE).to_string(),
        "2001:db8::/32 type IPv6_subnet protocol 17 port opaque"
    );
    assert_eq!(ts("10.1.0.0/24", 0, ANY).short(), "10.1.0.0/24");
    assert_eq!(
        ts("10.1.0.0/24", 6, (22, 22)).short(),
        "10.1.0.0/24 protocol 6 port 22"
    );
}

#[test]
fn union_coverage_counts_opaque_and_other_protocols() {
    let any = ts("10.0.0.0/24", 0, ANY);
    let low = ts("10.0.0.0/24", 0, (0, 1000));
    let high = ts("10.0.0.0/24", 0, (1001, 65535));
    // Every port value is covered, but ANY also holds "ports unavailable" (RFC 4301 4.4.1).
    assert!(!any.is_covered_by(&[low, high]));
    assert!(any.is_covered_by(&[low, high, ts("10.0.0.0/24", 0, OPAQUE)]));
    // Protocol 0 needs every protocol: TCP and UDP alone do not cover it.
    let tcp = ts("10.0.0.0/24", PROTO_TCP, ANY);
    let udp = ts("10.0.0.0/24", PROTO_UDP, ANY);
    assert!(!any.is_covered_by(&[tcp, udp]));
    assert!(tcp.is_covered_by(&[udp, tcp]));
    // Adjacent halves cover the whole; a gap does not.
    let halves = [ts("10.0.0.0/25", 0, ANY), ts("10.0.0.128/25", 0, ANY)];
    assert!(any.is_covered_by(&halves));
    assert!(!any.is_covered_by(&halves[1..]));
    assert!(!any.is_covered_by(&[]));
    assert!(!any.is_covered_by(&[TrafficSelector::any_v6()]));
}
