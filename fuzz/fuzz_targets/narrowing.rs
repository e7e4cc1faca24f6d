//! Fuzz target: traffic selector narrowing (RFC 7296 section 2.9), differential against a naive
//! reference.
//!
//! Input: selectors of one address family (the first byte picks IPv4 or IPv6), 11 bytes each
//! (address start and end as offsets into a small range, protocol, ports), split into an
//! offered list and our list, then TSi, TSr and up to three policies. Selectors may be
//! invalid (reversed ranges) as a peer may send them: they admit nothing.
//!
//! The reference decides membership of a packet end (address, protocol, port or "unavailable")
//! straight from the RFC's field rules, with no shared code. Every cell of the grid that the
//! selectors' boundaries cut the space into is tried, so union equalities are exact:
//! - `narrow_list(offered, ours)` admits exactly what both lists admit, and each entry lies
//!   inside some offered and some of our selectors; swapping the lists admits the same;
//! - `narrow_as_responder` succeeds exactly when both lists meet our policy with a protocol in
//!   common, answers inside what was proposed (`check_narrowed` accepts it: never wider) and
//!   inside the policy;
//! - `choose_policy` returns, among the policies that admit the first TSi and TSr in full and
//!   narrow, the first that no other of them lies strictly inside (judged point by point); else
//!   the first that narrows; with that policy's narrowing; or fails when none narrows.

#![no_main]

use ipsec_core::selector::{
    check_narrowed, choose_policy, narrow_as_responder, narrow_list, TrafficSelector,
};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A base address per family, so that offsets stay small and ranges overlap often.
const V4_BASE: u128 = 0x0a00_0000;
const V6_BASE: u128 = 0x2001_0db8 << 96;

fn addr(v6: bool, offset: u16) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(V6_BASE + u128::from(offset)))
    } else {
        IpAddr::V4(Ipv4Addr::from((V4_BASE + u128::from(offset)) as u32))
    }
}

fn to_int(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

fn selector(v6: bool, b: &[u8]) -> TrafficSelector {
    let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    // Mostly protocols that matter, sometimes any byte.
    let protocol = match b[4] % 8 {
        0..=2 => 0,
        3 | 4 => 6,
        5 => 17,
        6 => 1,
        _ => b[5],
    };
    // Mostly "any" ports, sometimes a range (possibly reversed) or OPAQUE.
    let (start_port, end_port) = match b[6] % 6 {
        0..=2 => (0, u16::MAX),
        3 => (u16::MAX, 0),
        _ => (u16_at(7) % 64, u16_at(9) % 64),
    };
    TrafficSelector {
        protocol,
        start_port,
        end_port,
        start_addr: addr(v6, u16_at(0) % 512),
        end_addr: addr(v6, u16_at(2) % 512),
    }
}

/// One end of a packet.
#[derive(Clone, Copy, Debug)]
struct Point {
    v6: bool,
    addr: u128,
    protocol: u8,
    port: Option<u16>,
}

/// RFC 7296 section 3.13.1 and RFC 4301 section 4.4.1, read literally: both addresses of the
/// selector's family and in order, protocol 0 or equal, ports 0-65535 (any, including
/// unavailable), 65535-0 (only unavailable) or an ordered range.
fn admits(ts: &TrafficSelector, p: &Point) -> bool {
    let (f1, lo) = to_int(ts.start_addr);
    let (f2, hi) = to_int(ts.end_addr);
    let ports = match (ts.start_port, ts.end_port) {
        (0, u16::MAX) => true,
        (u16::MAX, 0) => p.port.is_none(),
        (s, e) if s <= e => p.port.is_some_and(|x| s <= x && x <= e),
        _ => return false,
    };
    f1 == f2
        && f1 == p.v6
        && lo <= hi
        && lo <= p.addr
        && p.addr <= hi
        && (ts.protocol == 0 || ts.protocol == p.protocol)
        && ports
}

fn union(list: &[TrafficSelector], p: &Point) -> bool {
    list.iter().any(|ts| admits(ts, p))
}

/// One point in every cell the selectors' boundaries cut the space into.
fn grid(v6: bool, all: &[&TrafficSelector]) -> Vec<Point> {
    let mut addrs = Vec::new();
    let mut protocols = vec![0u8, 200];
    let mut ports: Vec<Option<u16>> = vec![None, Some(0), Some(u16::MAX)];
    for ts in all {
        for a in [to_int(ts.start_addr).1, to_int(ts.end_addr).1] {
            addrs.extend([a.saturating_sub(1), a, a.saturating_add(1)]);
        }
        protocols.push(ts.protocol);
        for x in [ts.start_port, ts.end_port] {
            ports.extend([
                Some(x.saturating_sub(1)),
                Some(x),
                Some(x.saturating_add(1)),
            ]);
        }
    }
    for v in [&mut addrs] {
        v.sort_unstable();
        v.dedup();
    }
    protocols.sort_unstable();
    protocols.dedup();
    ports.sort_unstable();
    ports.dedup();
    let mut out = Vec::with_capacity(addrs.len() * protocols.len() * ports.len());
    for &addr in &addrs {
        for &protocol in &protocols {
            for &port in &ports {
                out.push(Point {
                    v6,
                    addr,
                    protocol,
                    port,
                });
            }
        }
    }
    out
}

fn lists(v6: bool, data: &[u8]) -> Vec<Vec<TrafficSelector>> {
    // A length byte per list (1-3 selectors), then the selectors.
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() < 10 {
        let Some((&n, tail)) = rest.split_first() else {
            break;
        };
        let n = usize::from(n % 3) + 1;
        let mut list = Vec::new();
        let mut t = tail;
        for _ in 0..n {
            if t.len() < 11 {
                break;
            }
            list.push(selector(v6, &t[..11]));
            t = &t[11..];
        }
        rest = t;
        if list.is_empty() {
            break;
        }
        out.push(list);
    }
    out
}

fn check_list(v6: bool, offered: &[TrafficSelector], ours: &[TrafficSelector]) {
    let n = narrow_list(offered, ours);
    let back = narrow_list(ours, offered);
    let all: Vec<&TrafficSelector> = offered.iter().chain(ours).chain(&n).chain(&back).collect();
    for p in grid(v6, &all) {
        let want = union(offered, &p) && union(ours, &p);
        assert_eq!(union(&n, &p), want, "narrow_list at {p:?}: {n:?}");
        assert_eq!(
            union(&back, &p),
            want,
            "narrow_list swapped at {p:?}: {back:?}"
        );
        for ts in &n {
            if admits(ts, &p) {
                assert!(
                    offered.iter().any(|o| admits(o, &p)) && ours.iter().any(|o| admits(o, &p))
                );
            }
        }
    }
    for ts in &n {
        assert!(
            ts.validate().is_ok(),
            "narrowed to an invalid selector {ts:?}"
        );
        assert!(
            offered.iter().any(|o| o.contains(ts)),
            "{ts} inside no offered selector"
        );
        assert!(
            ours.iter().any(|o| o.contains(ts)),
            "{ts} inside none of ours"
        );
    }
}

fn check_responder(
    v6: bool,
    (tsi, tsr): (&[TrafficSelector], &[TrafficSelector]),
    (local, remote): (&[TrafficSelector], &[TrafficSelector]),
) {
    let result = narrow_as_responder(tsi, tsr, local, remote);
    let all: Vec<&TrafficSelector> = tsi.iter().chain(tsr).chain(local).chain(remote).collect();
    let points = grid(v6, &all);
    // The protocols packets could use on each side of an SA narrowed to this policy.
    let initiator_side: Vec<u8> = points
        .iter()
        .filter(|p| union(tsi, p) && union(remote, p))
        .map(|p| p.protocol)
        .collect();
    let responder_side: Vec<u8> = points
        .iter()
        .filter(|p| union(tsr, p) && union(local, p))
        .map(|p| p.protocol)
        .collect();
    let possible = initiator_side.iter().any(|p| responder_side.contains(p));
    match result {
        Ok(n) => {
            assert!(
                possible,
                "narrowed although no packet could use the SA: {n:?}"
            );
            assert_eq!(
                check_narrowed(tsi, tsr, &n.tsi, &n.tsr),
                Ok(()),
                "widened: {n:?}"
            );
            for p in &points {
                if union(&n.tsi, p) {
                    assert!(union(tsi, p) && union(remote, p), "TSi {p:?} outside");
                }
                if union(&n.tsr, p) {
                    assert!(union(tsr, p) && union(local, p), "TSr {p:?} outside");
                }
            }
        }
        Err(e) => assert!(!possible, "refused ({e}) although packets could use the SA"),
    }
}

fn check_choice(
    v6: bool,
    tsi: &[TrafficSelector],
    tsr: &[TrafficSelector],
    policies: &[(&[TrafficSelector], &[TrafficSelector])],
) {
    let each: Vec<_> = policies
        .iter()
        .map(|(l, r)| narrow_as_responder(tsi, tsr, l, r))
        .collect();
    let mut all: Vec<&TrafficSelector> = tsi.iter().chain(tsr).collect();
    for (l, r) in policies {
        all.extend(l.iter().chain(r.iter()));
    }
    let points = grid(v6, &all);
    let subset = |a: &[TrafficSelector], b: &[TrafficSelector]| {
        points.iter().all(|p| !union(a, p) || union(b, p))
    };
    // Policy `d` lies inside policy `c`.
    let inside = |d: usize, c: usize| {
        subset(policies[d].0, policies[c].0) && subset(policies[d].1, policies[c].1)
    };
    let covering: Vec<usize> = (0..policies.len())
        .filter(|&i| {
            let (l, r) = policies[i];
            let whole = |first: &TrafficSelector, list: &[TrafficSelector]| {
                list.iter()
                    .any(|x| subset(std::slice::from_ref(first), std::slice::from_ref(x)))
            };
            each[i].is_ok()
                && whole(&tsi[0], r)
                && whole(&tsr[0], l)
                && tsi[0].validate().is_ok()
                && tsr[0].validate().is_ok()
        })
        .collect();
    let preferred = covering.iter().copied().find(|&c| {
        !covering
            .iter()
            .any(|&d| d != c && inside(d, c) && !inside(c, d))
    });
    let first_ok = each.iter().position(|n| n.is_ok());
    match choose_policy(tsi, tsr, policies) {
        Ok((i, n)) => {
            assert_eq!(each.get(i), Some(&Ok(n.clone())), "policy {i}");
            assert_eq!(
                Some(i),
                preferred.or(first_ok),
                "policy chosen for TSi {tsi:?} TSr {tsr:?} among {policies:?}"
            );
        }
        Err(_) => assert!(first_ok.is_none(), "refused although one narrows"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&family, rest)) = data.split_first() else {
        return;
    };
    let v6 = family & 1 != 0;
    let l = lists(v6, rest);
    if l.len() < 2 {
        return;
    }
    check_list(v6, &l[0], &l[1]);
    if l.len() < 4 {
        return;
    }
    let (tsi, tsr) = (&l[2][..], &l[3][..]);
    let pols: Vec<(&[TrafficSelector], &[TrafficSelector])> = l[4..]
        .chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (&c[0][..], &c[1][..]))
        .take(3)
        .collect();
    for p in &pols {
        check_responder(v6, (tsi, tsr), *p);
    }
    if !pols.is_empty() {
        check_choice(v6, tsi, tsr, &pols);
    }
});
