//! Property tests of traffic selector algebra, narrowing and lookup, IPv4 and IPv6.
//!
//! Addresses and ports are drawn from small windows so that random selectors overlap often; some
//! cases use the whole address space and wide IPv6 strides to exercise the high bits.

use ipsec_core::selector::{
    check_narrowed, narrow_as_responder, narrow_list, IpPrefix, Packet5Tuple, SelectorTable,
    TrafficSelector,
};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const V4_BASE: u128 = 0x0a00_0000; // 10.0.0.0
const V6_BASE: u128 = 0x2001_0db8 << 96; // 2001:db8::

fn ip(v6: bool, value: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(value))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(value).unwrap()))
    }
}

/// An address inside the test window: base + small << shift.
fn arb_addr(v6: bool) -> impl Strategy<Value = u128> {
    let shifts: Vec<u32> = if v6 { vec![0, 64, 110] } else { vec![0, 8] };
    let base = if v6 { V6_BASE } else { V4_BASE };
    (0u128..48, proptest::sample::select(shifts))
        .prop_map(move |(small, shift)| base + (small << shift))
}

fn arb_protocol() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0u8), Just(6), Just(17), Just(1)]
}

fn arb_ports() -> impl Strategy<Value = (u16, u16)> {
    prop_oneof![
        2 => Just((0u16, u16::MAX)),
        1 => Just((u16::MAX, 0u16)),
        3 => (0u16..40, 0u16..40).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ]
}

fn arb_ts(v6: bool) -> impl Strategy<Value = TrafficSelector> {
    let any = if v6 {
        TrafficSelector::any_v6()
    } else {
        TrafficSelector::any_v4()
    };
    let ranged = (arb_addr(v6), arb_addr(v6), arb_protocol(), arb_ports()).prop_map(
        move |(a, b, proto, (sp, ep))| {
            TrafficSelector::new(ip(v6, a.min(b)), ip(v6, a.max(b)), proto, sp, ep).unwrap()
        },
    );
    let full = (arb_protocol(), arb_ports()).prop_map(move |(proto, (sp, ep))| TrafficSelector {
        protocol: proto,
        start_port: sp,
        end_port: ep,
        ..any
    });
    prop_oneof![6 => ranged, 1 => full]
}

/// One end of a packet: address, protocol, port (None = unavailable).
fn arb_end(v6: bool) -> impl Strategy<Value = Packet5Tuple> {
    (
        arb_addr(v6),
        prop_oneof![Just(6u8), Just(17), Just(1), Just(47)],
        prop_oneof![1 => Just(None), 4 => (0u16..45).prop_map(Some)],
    )
        .prop_map(move |(a, proto, port)| Packet5Tuple {
            src: ip(v6, a),
            dst: ip(v6, a),
            protocol: proto,
            src_port: port,
            dst_port: port,
        })
}

fn arb_prefix(v6: bool) -> impl Strategy<Value = IpPrefix> {
    let bits: u8 = if v6 { 128 } else { 32 };
    (any::<u128>(), 0..=bits).prop_map(move |(raw, len)| {
        let value = if v6 { raw } else { raw & u128::from(u32::MAX) };
        let host = if len == 0 {
            if v6 {
                u128::MAX
            } else {
                u128::from(u32::MAX)
            }
        } else {
            (1u128 << (u32::from(bits) - u32::from(len))) - 1
        };
        IpPrefix::new(ip(v6, value & !host), len).unwrap()
    })
}

fn to_int(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn check_intersection(a: &TrafficSelector, b: &TrafficSelector) {
    let n = a.intersect(b);
    assert_eq!(n, b.intersect(a), "intersect is commutative");
    if let Some(n) = n {
        assert!(n.validate().is_ok());
        assert!(
            a.contains(&n) && b.contains(&n),
            "{n} not inside {a} and {b}"
        );
    }
    assert_eq!(
        a.contains(b),
        n == Some(*b),
        "contains agrees with intersect"
    );
}

fn check_packet(a: &TrafficSelector, b: &TrafficSelector, p: &Packet5Tuple) {
    let n = a.intersect(b);
    let both = a.matches_source(p) && b.matches_source(p);
    assert_eq!(
        n.is_some_and(|n| n.matches_source(p)),
        both,
        "{a} & {b} on {p:?}"
    );
}

fn check_range_prefixes(ts: &TrafficSelector) {
    let prefixes = ts.to_prefixes();
    assert!(!prefixes.is_empty());
    assert_eq!(prefixes[0].network(), ts.start_addr);
    assert_eq!(prefixes[prefixes.len() - 1].last(), ts.end_addr);
    for pair in prefixes.windows(2) {
        let (p, q) = (pair[0], pair[1]);
        // Disjoint and contiguous.
        assert_eq!(to_int(p.last()) + 1, to_int(q.network()), "{p} then {q}");
        // Minimal: two sibling blocks would merge into one.
        let siblings = p.prefix_len() == q.prefix_len()
            && p.prefix_len() > 0
            && IpPrefix::new(p.network(), p.prefix_len() - 1).is_ok();
        assert!(!siblings, "{p} and {q} could merge");
    }
    let back = TrafficSelector::new(
        prefixes[0].network(),
        prefixes[prefixes.len() - 1].last(),
        0,
        0,
        65535,
    )
    .unwrap();
    assert_eq!(
        (back.start_addr, back.end_addr),
        (ts.start_addr, ts.end_addr)
    );
    assert_eq!(ts.as_prefix().is_some(), prefixes.len() == 1);
    if let Some(p) = ts.as_prefix() {
        assert_eq!(p, prefixes[0]);
    }
}

fn check_prefix_round_trip(p: IpPrefix) {
    let ts = TrafficSelector::from(p);
    assert_eq!(ts.as_prefix(), Some(p));
    assert_eq!(ts.to_prefixes(), vec![p]);
    assert_eq!(TrafficSelector::from_prefix(p, 0, (0, 65535)).unwrap(), ts);
}

fn union_admits(list: &[TrafficSelector], p: &Packet5Tuple) -> bool {
    list.iter().any(|ts| ts.matches_source(p))
}

fn check_list_narrowing(offered: &[TrafficSelector], ours: &[TrafficSelector], p: &Packet5Tuple) {
    let n = narrow_list(offered, ours);
    for ts in &n {
        assert!(offered.iter().any(|o| o.contains(ts)));
        assert!(ours.iter().any(|c| c.contains(ts)));
    }
    assert_eq!(
        union_admits(&n, p),
        union_admits(offered, p) && union_admits(ours, p)
    );
}

fn check_responder(
    tsi: &[TrafficSelector],
    tsr: &[TrafficSelector],
    local: &[TrafficSelector],
    remote: &[TrafficSelector],
) {
    if let Ok(n) = narrow_as_responder(tsi, tsr, local, remote) {
        assert_eq!(check_narrowed(tsi, tsr, &n.tsi, &n.tsr), Ok(()));
    } else {
        // Failure only when one side's unions do not meet (or protocols cannot pair up).
        let i = narrow_list(tsi, remote);
        let r = narrow_list(tsr, local);
        let pairable = i.iter().any(|a| {
            r.iter()
                .any(|b| a.protocol == 0 || b.protocol == 0 || a.protocol == b.protocol)
        });
        assert!(!pairable);
    }
}

fn check_table(
    entries: &[(TrafficSelector, TrafficSelector)],
    src: &Packet5Tuple,
    dst: &Packet5Tuple,
) {
    let mut table = SelectorTable::new();
    for (i, (l, r)) in entries.iter().enumerate() {
        table.insert(*l, *r, i).unwrap();
    }
    let pkt = Packet5Tuple {
        src: src.src,
        dst: dst.dst,
        protocol: src.protocol,
        src_port: src.src_port,
        dst_port: dst.dst_port,
    };
    let matching: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, (l, r))| l.matches_source(&pkt) && r.matches_destination(&pkt))
        .map(|(i, _)| i)
        .collect();
    match table.lookup_outbound(&pkt) {
        None => assert!(matching.is_empty()),
        Some(i) => {
            assert!(matching.contains(i));
            // No matching entry has a strictly smaller remote range.
            let size = |ts: &TrafficSelector| to_int(ts.end_addr) - to_int(ts.start_addr);
            let chosen = size(&entries[*i].1);
            assert!(matching.iter().all(|j| size(&entries[*j].1) >= chosen));
        }
    }
    assert_eq!(
        table.lookup_inbound(&pkt.reversed()),
        table.lookup_outbound(&pkt)
    );
}

macro_rules! family_props {
    ($name:ident, $v6:expr) => {
        mod $name {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(1000))]

                #[test]
                fn narrowed_lies_inside_both_and_commutes(a in arb_ts($v6), b in arb_ts($v6)) {
                    check_intersection(&a, &b);
                }

                #[test]
                fn packet_matches_narrowed_iff_both(
                    a in arb_ts($v6), b in arb_ts($v6), p in arb_end($v6),
                ) {
                    check_packet(&a, &b, &p);
                }

                #[test]
                fn range_prefixes_round_trip_minimal(ts in arb_ts($v6)) {
                    check_range_prefixes(&ts);
                }

                #[test]
                fn prefix_range_round_trip(p in arb_prefix($v6)) {
                    check_prefix_round_trip(p);
                }

                #[test]
                fn list_narrowing_is_the_intersection_of_unions(
                    offered in proptest::collection::vec(arb_ts($v6), 1..4),
                    ours in proptest::collection::vec(arb_ts($v6), 1..4),
                    p in arb_end($v6),
                ) {
                    check_list_narrowing(&offered, &ours, &p);
                }

                #[test]
                fn responder_answer_passes_initiator_check(
                    tsi in proptest::collection::vec(arb_ts($v6), 1..3),
                    tsr in proptest::collection::vec(arb_ts($v6), 1..3),
                    local in proptest::collection::vec(arb_ts($v6), 1..3),
                    remote in proptest::collection::vec(arb_ts($v6), 1..3),
                ) {
                    check_responder(&tsi, &tsr, &local, &remote);
                }

                #[test]
                fn table_finds_a_most_specific_match(
                    entries in proptest::collection::vec((arb_ts($v6), arb_ts($v6)), 0..6),
                    s in arb_end($v6),
                    d in arb_end($v6),
                ) {
                    check_table(&entries, &s, &d);
                }
            }
        }
    };
}

family_props!(ipv4, false);
family_props!(ipv6, true);

/// A selector inside a 48-address IPv4 window with ports below 41, so its points can be listed.
fn arb_small_ts() -> impl Strategy<Value = TrafficSelector> {
    let ports = prop_oneof![
        3 => arb_ports(),
        1 => Just((41u16, u16::MAX)),
        1 => Just((0u16, 40u16)),
    ];
    (0u128..48, 0u128..48, arb_protocol(), ports).prop_map(|(a, b, proto, (sp, ep))| {
        let (lo, hi) = (V4_BASE + a.min(b), V4_BASE + a.max(b));
        TrafficSelector::new(ip(false, lo), ip(false, hi), proto, sp, ep).unwrap()
    })
}

/// Brute force: every point of `a` (ports above 40 all behave like 1000, protocols other than
/// 1, 6, 17 like 99) is admitted by some selector of `list`.
fn covered_brute_force(a: &TrafficSelector, list: &[TrafficSelector]) -> bool {
    let ports = std::iter::once(None).chain((0u16..=40).chain([1000]).map(Some));
    let ports: Vec<Option<u16>> = ports.collect();
    (to_int(a.start_addr)..=to_int(a.end_addr)).all(|addr| {
        [1u8, 6, 17, 99].iter().all(|&proto| {
            ports.iter().all(|&port| {
                let p = Packet5Tuple {
                    src: ip(false, addr),
                    dst: ip(false, addr),
                    protocol: proto,
                    src_port: port,
                    dst_port: port,
                };
                !a.matches_source(&p) || list.iter().any(|t| t.matches_source(&p))
            })
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn union_coverage_matches_brute_force(
        a in arb_small_ts(),
        list in proptest::collection::vec(arb_small_ts(), 1..4),
    ) {
        prop_assert_eq!(a.is_covered_by(&list), covered_brute_force(&a, &list));
        if list.iter().any(|t| t.contains(&a)) {
            prop_assert!(a.is_covered_by(&list));
        }
    }

    #[test]
    fn mixed_families_never_intersect(a in arb_ts(false), b in arb_ts(true)) {
        prop_assert_eq!(a.intersect(&b), None);
        prop_assert!(!a.contains(&b) && !b.contains(&a));
    }
}
