//! Complete IKE_SA_INIT + IKE_AUTH handshakes (PSK, one Child SA) between two in-process
//! endpoints, beside the bare crypto they contain, in the same run:
//!
//! - `handshake/<group>`: two fresh endpoints, `connect`, datagrams passed until both sides have
//!   the Child SA installed;
//! - `bare/<group>`: the same key exchanges (two key pairs, two shared secrets) and PRF work
//!   (SKEYSEED, SK_* for both sides, four AUTH computations, Child SA KEYMAT for both sides)
//!   straight on the provider.
//!
//! The ratio `handshake / bare` is the protocol overhead. Before the timings, the bench prints the
//! memory held per established IKE SA with one Child SA, measured with 10,000 of them in one
//! responder endpoint (growth of the resident set, allocator overhead included; Linux only).
//!
//! `cargo bench -p ikev2 --bench handshake -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, Criterion};
use ikev2::identity::Identity;
use ikev2::keys;
use ikev2::testing::SiteSpec;
use ikev2::Endpoint;
use ipsec_core::crypto::{default_provider, DhGroup, PrfId};
use ipsec_core::time::Instant;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

/// Resident memory of this process in bytes (Linux `/proc/self/statm`), 0 elsewhere.
fn resident_bytes() -> isize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<isize>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn with_group(s: &SiteSpec, group: DhGroup) -> ikev2::config::EndpointConfig {
    let mut c = s.config();
    c.gateways[0].ike_proposals[0].dh = vec![group];
    c
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

fn handshake(group: DhGroup, buf: &mut [u8]) {
    let mut left = Endpoint::new(with_group(&SiteSpec::left(), group), default_provider()).unwrap();
    let mut right =
        Endpoint::new(with_group(&SiteSpec::right(), group), default_provider()).unwrap();
    let now = Instant::from_secs(1);
    left.connect(now, "tun").unwrap();
    exchange(&mut left, &mut right, now, buf);
    let mut children = 0;
    while let Some(e) = left.poll_event() {
        if matches!(e, ikev2::Event::ChildSaUp { .. }) {
            children += 1;
        }
    }
    assert_eq!(children, 1);
}

/// The crypto of one handshake, both sides, without the protocol.
fn bare(group: DhGroup) {
    let p = default_provider();
    let kx = p.key_exchange(group).unwrap();
    let prf = p.prf(PrfId::PRF_HMAC_SHA2_256).unwrap();
    let a = kx.start(p.random).unwrap();
    let b = kx.start(p.random).unwrap();
    let mut ni = [0u8; 32];
    let mut nr = [0u8; 32];
    p.random.fill(&mut ni).unwrap();
    p.random.fill(&mut nr).unwrap();
    let lens = keys::IkeKeyLengths {
        prf_key: 32,
        integ_key: 0,
        encr_key: 36,
    };
    let child = keys::ChildKeyLengths {
        encr_key: 20,
        integ_key: 0,
    };
    let msg = [0u8; 300];
    let id = Identity::Fqdn("left.ike.test".into()).payload_body();
    for (mine, theirs) in [(&a, &b), (&b, &a)] {
        let g = mine.complete(theirs.public_value()).unwrap();
        let seed = keys::skeyseed(prf, &ni, &nr, g.expose());
        let k = keys::ike_keys(prf, seed.expose(), &ni, &nr, 1, 2, lens).unwrap();
        for sk_p in [&k.sk_pi, &k.sk_pr] {
            let m = keys::maced_id(prf, sk_p.expose(), &id);
            black_box(keys::psk_auth(prf, b"psk", &msg, &nr, &m));
        }
        black_box(keys::child_keys(prf, k.sk_d.expose(), None, &ni, &nr, child).unwrap());
    }
}

/// Resident bytes per established IKE SA with one Child SA, with `n` of them in one responder
/// (allocator overhead included).
fn memory_per_sa(n: u32) -> isize {
    let mut rs = SiteSpec::right();
    rs.peer = None;
    rs.peer_id = None;
    let mut rc = rs.config();
    rc.cookie_threshold = usize::MAX;
    let mut right = Endpoint::new(rc, default_provider()).unwrap();
    let now = Instant::from_secs(1);
    let mut buf = vec![0u8; 65535];
    let before = resident_bytes();
    for i in 0..n {
        let mut ls = SiteSpec::left();
        ls.addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0001u32 + i));
        // Distinct IDs: with one ID, INITIAL_CONTACT would replace the previous SA each time.
        ls.id = Identity::Fqdn(format!("n{i}.ike.test"));
        let mut left = Endpoint::new(ls.config(), default_provider()).unwrap();
        left.connect(now, "tun").unwrap();
        exchange(&mut left, &mut right, now, &mut buf);
        while right.poll_event().is_some() {}
    }
    let after = resident_bytes();
    let sas = right.ike_sas();
    assert_eq!(sas.len(), n as usize);
    assert!(sas.iter().all(|s| s.established && s.children.len() == 1));
    (after - before) / n as isize
}

fn bench(c: &mut Criterion) {
    let mut buf = vec![0u8; 65535];
    for (name, group) in [
        ("curve25519", DhGroup::CURVE25519),
        ("modp2048", DhGroup::MODP_2048),
    ] {
        let mut g = c.benchmark_group(name);
        g.bench_function("handshake", |b| b.iter(|| handshake(group, &mut buf)));
        g.bench_function("bare", |b| b.iter(|| bare(group)));
        g.finish();
    }
}

criterion_group!(benches, bench);

fn main() {
    // `cargo test --all-targets` runs this too (without `--bench`): a few SAs check the path,
    // the 10,000 of the measurement are for `cargo bench`.
    let n = if std::env::args().any(|a| a == "--bench") {
        10_000
    } else {
        10
    };
    let per_sa = memory_per_sa(n);
    println!(
        "memory: {per_sa} bytes ({:.2} KiB) per established IKE SA with one Child SA ({n} in one endpoint)",
        per_sa as f64 / 1024.0
    );
    benches();
    Criterion::default().configure_from_args().final_summary();
}
