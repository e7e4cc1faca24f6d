//! A responder's cost per IKE SA against the number of IKE SAs it holds: one endpoint holding
//! 1,000, 10,000 and 100,000 established IKE SAs (PSK, Curve25519, one Child SA each, every
//! initiator at its own address with its own ID), in the same run:
//!
//! - `idle/handle_timeout/<n>`: `handle_timeout` with nothing due;
//! - `idle/poll_timeout/<n>`: `poll_timeout`;
//! - `life/<n>`: one whole IKE SA life beside the `n` held: a new initiator connects (IKE_SA_INIT,
//!   IKE_AUTH, its Child SA installed on both sides), then deletes its IKE SA (INFORMATIONAL).
//!
//! The ratio of each figure at 100,000 to the same at 1,000 is what matters (1.0 is flat).
//! Before the timings, the bench prints the heap bytes held per established IKE SA with one
//! Child SA (a counting allocator: requested bytes, allocator overhead not included), and the
//! growth of the resident set for comparison.
//!
//! `cargo bench -p ikev2 --bench housekeeping -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, BenchmarkId, Criterion};
use ikev2::identity::Identity;
use ikev2::testing::SiteSpec;
use ikev2::{Endpoint, Event};
use ipsec_core::crypto::default_provider;
use ipsec_core::time::Instant;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap bytes allocated and not freed.
fn live_bytes() -> isize {
    let s = GLOBAL.stats();
    // Reallocations are counted in both already.
    s.bytes_allocated as isize - s.bytes_deallocated as isize
}

/// Resident memory of this process in bytes (Linux `/proc/self/statm`), 0 elsewhere.
fn resident_bytes() -> isize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<isize>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// Passes datagrams between the two endpoints until neither has anything to send.
fn exchange(left: &mut Endpoint, right: &mut Endpoint, now: Instant, buf: &mut [u8]) {
    loop {
        let mut moved = false;
        while let Some(t) = left.poll_transmit(buf) {
            right.handle_datagram(now, t.remote, t.local, &buf[..t.len]);
            moved = true;
        }
        while let Some(t) = right.poll_transmit(buf) {
            left.handle_datagram(now, t.remote, t.local, &buf[..t.len]);
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

/// The `i`-th initiator: its own address and ID (one ID for all would make INITIAL_CONTACT
/// replace the previous SA each time).
fn initiator(i: u32) -> Endpoint {
    let mut ls = SiteSpec::left();
    ls.addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0001u32 + i));
    ls.id = Identity::Fqdn(format!("n{i}.ike.test"));
    Endpoint::new(ls.config(), default_provider()).unwrap()
}

/// A responder for any peer.
fn responder() -> Endpoint {
    let mut rs = SiteSpec::right();
    rs.peer = None;
    rs.peer_id = None;
    let mut rc = rs.config();
    rc.cookie_threshold = usize::MAX;
    Endpoint::new(rc, default_provider()).unwrap()
}

/// The instant everything happens at: nothing falls due during the bench.
const NOW: Instant = Instant::from_secs(1);

/// Brings up initiator `i` against `right` and returns it, its IKE SA established.
fn handshake(right: &mut Endpoint, i: u32, buf: &mut [u8]) -> Endpoint {
    let mut left = initiator(i);
    left.connect(NOW, "tun").unwrap();
    exchange(&mut left, right, NOW, buf);
    while right.poll_event().is_some() {}
    left
}

/// A responder holding `n` established IKE SAs with one Child SA each, and the heap and
/// resident bytes they take.
fn holding(n: u32) -> (Endpoint, isize, isize) {
    let mut right = responder();
    let mut buf = vec![0u8; 65535];
    let (heap, rss) = (live_bytes(), resident_bytes());
    for i in 0..n {
        drop(handshake(&mut right, i, &mut buf));
    }
    let (heap, rss) = (live_bytes() - heap, resident_bytes() - rss);
    let sas = right.ike_sas();
    assert_eq!(sas.len(), n as usize);
    assert!(sas.iter().all(|s| s.established && s.children.len() == 1));
    (right, heap / n as isize, rss / n as isize)
}

fn bench_sizes(c: &mut Criterion, sizes: &[u32]) {
    let mut buf = vec![0u8; 65535];
    for &n in sizes {
        let (mut right, heap, rss) = holding(n);
        println!(
            "memory: {heap} heap bytes ({:.2} KiB; resident set {rss} bytes) per established IKE SA with one Child SA ({n} in one endpoint)",
            heap as f64 / 1024.0
        );
        let mut g = c.benchmark_group("idle");
        g.bench_function(BenchmarkId::new("handle_timeout", n), |b| {
            b.iter(|| right.handle_timeout(black_box(NOW)))
        });
        g.bench_function(BenchmarkId::new("poll_timeout", n), |b| {
            b.iter(|| black_box(right.poll_timeout()))
        });
        g.finish();
        let mut next = n;
        let mut g = c.benchmark_group("life");
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                next += 1;
                let mut left = handshake(&mut right, next, &mut buf);
                left.delete_ike(NOW, "gw").unwrap();
                exchange(&mut left, &mut right, NOW, &mut buf);
                let mut down = false;
                while let Some(e) = right.poll_event() {
                    down |= matches!(e, Event::IkeSaDown { .. });
                }
                assert!(down, "the responder saw the delete");
            })
        });
        g.finish();
        assert_eq!(right.ike_sa_count(), n as usize, "every life ended");
    }
}

fn bench(c: &mut Criterion) {
    // `cargo test --all-targets` runs this too (without `--bench`): small sizes check the path,
    // the large ones are for `cargo bench`.
    if std::env::args().any(|a| a == "--bench") {
        bench_sizes(c, &[1_000, 10_000, 100_000]);
    } else {
        bench_sizes(c, &[10, 100]);
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
