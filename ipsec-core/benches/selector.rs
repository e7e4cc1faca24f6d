//! Criterion benchmarks of traffic selector lookup and narrowing.
//!
//! - `lookup/table/N`: `SelectorTable::lookup_outbound` over N proxy-ID-like entries (distinct
//!   remote /24s, one local /16), the packet matching the entry scanned last (worst case);
//! - `lookup/pair_api`: one `matches_source` + `matches_destination` pair through the public
//!   per-selector API (validates the selector on each call), the **baseline** for ratios;
//! - `narrow/responder`: `narrow_as_responder` on a packet-specific plus wide proposal.
//!
//! Run: `cargo bench -p ipsec-core --bench selector -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ipsec_core::selector::{
    narrow_as_responder, IpPrefix, Packet5Tuple, SelectorTable, TrafficSelector, PROTO_TCP,
};

fn remote_net(i: u32) -> TrafficSelector {
    let addr = Ipv4Addr::from(0x0a00_0000 | (i << 8));
    TrafficSelector::from(IpPrefix::new(IpAddr::V4(addr), 24).unwrap())
}

fn local_net() -> TrafficSelector {
    TrafficSelector::from("10.255.0.0/16".parse::<IpPrefix>().unwrap())
}

fn packet_to(i: u32) -> Packet5Tuple {
    let dst = Ipv4Addr::from(0x0a00_0000 | (i << 8) | 7);
    Packet5Tuple::new(
        IpAddr::V4(Ipv4Addr::new(10, 255, 1, 1)),
        40000,
        IpAddr::V4(dst),
        443,
        PROTO_TCP,
    )
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    let (local, remote) = (local_net(), remote_net(0));
    let pkt = packet_to(0);
    group.bench_function("pair_api", |b| {
        b.iter(|| {
            black_box(&local).matches_source(black_box(&pkt))
                && black_box(&remote).matches_destination(black_box(&pkt))
        })
    });
    for n in [1u32, 8, 64, 256] {
        let mut table = SelectorTable::new();
        for i in 0..n {
            table.insert(local_net(), remote_net(i), i).unwrap();
        }
        let pkt = packet_to(n - 1);
        assert_eq!(table.lookup_outbound(&pkt), Some(&(n - 1)));
        group.bench_with_input(BenchmarkId::new("table", n), &pkt, |b, pkt| {
            b.iter(|| table.lookup_outbound(black_box(pkt)).copied())
        });
    }
    group.finish();
}

fn narrow(c: &mut Criterion) {
    let tsi = [
        TrafficSelector::new(
            "10.2.0.5".parse().unwrap(),
            "10.2.0.5".parse().unwrap(),
            PROTO_TCP,
            5000,
            5000,
        )
        .unwrap(),
        TrafficSelector::any_v4(),
    ];
    let tsr = [
        TrafficSelector::new(
            "10.1.3.4".parse().unwrap(),
            "10.1.3.4".parse().unwrap(),
            PROTO_TCP,
            22,
            22,
        )
        .unwrap(),
        TrafficSelector::any_v4(),
    ];
    let local = [TrafficSelector::from(
        "10.1.0.0/16".parse::<IpPrefix>().unwrap(),
    )];
    let remote = [TrafficSelector::from(
        "10.2.0.0/24".parse::<IpPrefix>().unwrap(),
    )];
    c.bench_function("narrow/responder", |b| {
        b.iter(|| narrow_as_responder(black_box(&tsi), black_box(&tsr), &local, &remote))
    });
}

criterion_group!(benches, lookup, narrow);
criterion_main!(benches);
