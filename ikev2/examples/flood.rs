//! Floods one responder endpoint with IKE_SA_INIT requests from many addresses, returning every
//! cookie it asks for, and reports what it holds: IKE SAs, half-open SAs, heap bytes, and the cost
//! of `handle_timeout` with nothing due and when the half-open SAs expire.
//!
//! `cargo run --release -p ikev2 --example flood -- [INITIATORS] [HALF_OPEN_LIMIT]`
//! (defaults: 100000 initiators, the default limit of 1024).

use ikev2::testing::flood::Flood;
use ikev2::testing::SiteSpec;
use ikev2::Endpoint;
use ipsec_core::crypto::default::SeededRandom;
use ipsec_core::crypto::default_provider;
use ipsec_core::time::Instant;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::net::SocketAddr;
use std::time::Duration;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn live_bytes() -> isize {
    let s = GLOBAL.stats();
    // Reallocations are counted in both already.
    s.bytes_allocated as isize - s.bytes_deallocated as isize
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let site = SiteSpec {
        peer: None,
        peer_id: None,
        ..SiteSpec::right()
    };
    let mut cfg = site.config();
    if let Some(limit) = args.next().and_then(|a| a.parse().ok()) {
        cfg.half_open_limit = limit;
    }
    let limit = cfg.half_open_limit;
    let rng = Box::new(SeededRandom::new([1; 32]));
    let ep = Endpoint::with_rng(cfg, default_provider(), rng).expect("endpoint");
    let mut f = Flood::new(ep, SocketAddr::new(site.addr, 500));
    let before = live_bytes();
    let start = std::time::Instant::now();
    // One initiator per simulated millisecond, driven as an event loop drives the endpoint:
    // `handle_timeout` whenever `poll_timeout` has passed. Half-open SAs expire 30 s after they
    // were made, so a flood longer than that also exercises expiry.
    let t0 = Instant::from_secs(1);
    let mut timeout_calls = 0u64;
    for i in 0..n {
        let now = t0 + Duration::from_millis(i as u64);
        if f.responder.poll_timeout().is_some_and(|t| t <= now) {
            f.responder.handle_timeout(now);
            timeout_calls += 1;
        }
        f.initiator(now);
    }
    let took = start.elapsed();
    let end = t0 + Duration::from_millis(n as u64);
    let r = f.report();
    let heap = live_bytes() - before;
    println!("initiators: {n} (half-open limit {limit}) in {took:.2?}");
    println!(
        "requests {} (cookies returned {}), bytes in {} out {}, full answers {}",
        r.requests, r.cookies_returned, r.bytes_in, r.bytes_out, r.answered
    );
    println!(
        "held: {} IKE SAs, {} half-open, {heap} heap bytes ({} per SA)",
        r.ike_sas,
        r.half_open,
        heap / r.ike_sas.max(1) as isize
    );
    let stats = f.responder.stats();
    println!(
        "dropped at the half-open limit: {}, amplification refused: {}",
        stats.dropped_half_open_limit, stats.dropped_amplification
    );
    println!(
        "during the flood: {timeout_calls} handle_timeout calls visited {} SAs",
        stats.timeout_visits
    );
    let visits = stats.timeout_visits;
    let start = std::time::Instant::now();
    // Up to 10,000 calls, or a second's worth.
    let mut calls = 0u32;
    while calls < 10_000 && start.elapsed() < std::time::Duration::from_secs(1) {
        f.responder.handle_timeout(end);
        calls += 1;
    }
    let idle = start.elapsed() / calls;
    let visited = f.responder.stats().timeout_visits - visits;
    println!("handle_timeout, nothing due: {idle:.2?} per call, {visited} SAs visited");
    let visits = f.responder.stats().timeout_visits;
    let start = std::time::Instant::now();
    f.responder.handle_timeout(end + Duration::from_secs(60));
    let expiry = start.elapsed();
    let visited = f.responder.stats().timeout_visits - visits;
    println!(
        "handle_timeout, all expire: {expiry:.2?}, {visited} SAs visited, {} left",
        f.responder.ike_sa_count()
    );
}
