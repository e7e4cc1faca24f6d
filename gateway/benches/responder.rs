//! The gateway as an IKE responder: its CPU time per IKE SA, the crypto that time contains,
//! and both with 1,000 and 10,000 IKE SAs held, in the same run.
//!
//! The responder is a [`Gateway`] set up as `ipsec-gateway run` is for the IKE load figures
//! (`tests/interop/configs/daemon-load.toml`: a dynamic peer with a wildcard peer-id, PSK,
//! AES-256-GCM, PRF-HMAC-SHA2-256, Curve25519, one proxy ID) on the fastest provider. Each
//! IKE SA is opened by an initiator endpoint of its own (its own address and ID) and lives as
//! the load-tester's do: IKE_SA_INIT, IKE_AUTH with one Child SA (installed in the gateway's
//! SA table), then the initiator's Delete.
//!
//! - `life/<n>`: the responder's time for one such life beside the `n` IKE SAs it holds: only
//!   its own calls are timed (`handle_datagram`, `poll_transmit`, `poll_event`), not the
//!   initiator's; one second divided by it is the responder's IKE SAs per CPU-second, without
//!   sockets, system calls or logging;
//! - `crypto`: the responder's share of the crypto of one life straight on the provider (one
//!   Curve25519 key pair and shared secret, SKEYSEED, the IKE SA's keys, the peer's AUTH and
//!   ours, the Child SA's keys, the four IKE messages sealed or opened, the Child SA's two
//!   AEAD keys).
//!
//! The ratio `life / crypto` is what the protocol, the gateway and its tables add.
//!
//! `cargo bench -p gateway --bench responder -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, BenchmarkId, Criterion};
use gateway::{Config, Event, Gateway, Instant};
use ikev2::identity::Identity;
use ikev2::keys;
use ikev2::testing::SiteSpec;
use ikev2::Endpoint;
use ipsec_core::crypto::{fastest_provider, DhGroup, EncrId, Encryption, PrfId};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The responder of the load figures, for initiators `n<i>.ike.test` (as [`initiator`] makes).
const RESPONDER: &str = r#"
[[ike-crypto-profile]]
name = "ike"
encryption = ["aes-256-gcm"]
hash = ["sha256"]
dh-group = ["group31"]
lifetime = { hours = 8 }

[[ipsec-crypto-profile]]
name = "esp"
protocol = "esp"
encryption = ["aes-128-gcm"]
authentication = ["none"]
dh-group = "no-pfs"
lifetime = { hours = 1 }

[[ike-gateway]]
name = "load"
version = "ikev2"
local-address = { interface = "ethernet1/1", ip = "192.0.2.2" }
peer-address = "dynamic"
authentication = { pre-shared-key = "interop-test-psk-0123456789" }
local-id = { type = "fqdn", id = "right.ike.test" }
peer-id = { type = "fqdn", id = "n*.ike.test", matching = "wildcard" }
ike-crypto-profile = "ike"
liveness-check = { enable = false }

[[tunnel-interface]]
name = "tunnel.1"
zone = "vpn"

[[ipsec-tunnel]]
name = "load"
tunnel-interface = "tunnel.1"
ike-gateway = "load"
ipsec-crypto-profile = "esp"

[[ipsec-tunnel.proxy-id]]
name = "lan"
local = "10.2.0.0/24"
remote = "10.1.0.0/24"

[[zone]]
name = "vpn"
interfaces = ["tunnel.1"]
"#;

/// The instant everything happens at: nothing falls due during the bench.
const NOW: Instant = Instant::from_secs(1);

fn responder() -> Gateway {
    let config = Config::from_toml_str(RESPONDER).expect("responder config");
    Gateway::new(config, fastest_provider()).expect("responder")
}

/// The `i`-th initiator: its own address (10.0.0.0/8) and ID.
fn initiator(i: u32) -> Endpoint {
    let mut s = SiteSpec::left();
    s.addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0001u32 + i));
    s.id = Identity::Fqdn(format!("n{i}.ike.test"));
    Endpoint::new(s.config(), fastest_provider()).expect("initiator")
}

/// A datagram from the responder: from, to, bytes.
type Datagram = (SocketAddr, SocketAddr, Vec<u8>);

/// What the responder saw of one exchange run.
#[derive(Default)]
struct Seen {
    /// Its time in its own calls.
    spent: Duration,
    child_sas_up: usize,
    ike_sas_down: usize,
}

/// Passes datagrams between `left` and the responder until neither sends; times the
/// responder's calls only.
fn exchange(
    left: &mut Endpoint,
    right: &mut Gateway,
    buf: &mut [u8],
    out: &mut Vec<Datagram>,
) -> Seen {
    let mut seen = Seen::default();
    loop {
        let mut moved = false;
        while let Some(t) = left.poll_transmit(buf) {
            moved = true;
            let start = std::time::Instant::now();
            right.handle_datagram(NOW, t.remote, t.local, &mut buf[..t.len]);
            while let Some(r) = right.poll_transmit(buf) {
                out.push((r.source, r.destination, buf[r.range].to_vec()));
            }
            while let Some(e) = right.poll_event() {
                match e {
                    Event::Ike(ikev2::Event::ChildSaUp { .. }) => seen.child_sas_up += 1,
                    Event::Ike(ikev2::Event::IkeSaDown { .. }) => seen.ike_sas_down += 1,
                    _ => {}
                }
            }
            seen.spent += start.elapsed();
            for (from, to, m) in out.drain(..) {
                left.handle_datagram(NOW, to, from, &m);
            }
        }
        if !moved {
            return seen;
        }
    }
}

/// Initiator `i` brings its IKE SA and Child SA up at `right`; the responder's time.
fn open(
    right: &mut Gateway,
    i: u32,
    buf: &mut [u8],
    out: &mut Vec<Datagram>,
) -> (Endpoint, Duration) {
    let mut left = initiator(i);
    left.connect(NOW, "tun").expect("connect");
    let seen = exchange(&mut left, right, buf, out);
    assert_eq!(seen.child_sas_up, 1, "initiator {i}: the Child SA came up");
    (left, seen.spent)
}

/// A responder holding `n` IKE SAs with one Child SA each.
fn holding(n: u32, buf: &mut [u8], out: &mut Vec<Datagram>) -> Gateway {
    let mut right = responder();
    for i in 0..n {
        drop(open(&mut right, i, buf, out));
    }
    right
}

/// The responder's crypto of one IKE SA life, straight on the provider.
fn crypto(peer_public: &[u8], msg: &mut [u8]) {
    let p = fastest_provider();
    let kx = p.key_exchange(DhGroup::CURVE25519).expect("x25519");
    let prf = p.prf(PrfId::PRF_HMAC_SHA2_256).expect("prf");
    let sk = p
        .aead(Encryption::new(EncrId::ENCR_AES_GCM_16, 256))
        .expect("aes-256-gcm");
    let esp = p
        .aead(Encryption::new(EncrId::ENCR_AES_GCM_16, 128))
        .expect("aes-128-gcm");
    let mine = kx.start(p.random).expect("key pair");
    let mut ni = [0u8; 32];
    let mut nr = [0u8; 32];
    p.random.fill(&mut nr).expect("nonce");
    ni[0] = 1;
    let g = mine.complete(peer_public).expect("shared secret");
    let seed = keys::skeyseed(prf, &ni, &nr, g.expose());
    let lens = keys::IkeKeyLengths {
        prf_key: 32,
        integ_key: 0,
        encr_key: 36,
    };
    let k = keys::ike_keys(prf, seed.expose(), &ni, &nr, 1, 2, lens).expect("keys");
    let id = Identity::Fqdn("n1.ike.test".into()).payload_body();
    for sk_p in [&k.sk_pi, &k.sk_pr] {
        let m = keys::maced_id(prf, sk_p.expose(), &id);
        black_box(keys::psk_auth(
            prf,
            b"interop-test-psk-0123456789",
            msg,
            &nr,
            &m,
        ));
    }
    let child = keys::ChildKeyLengths {
        encr_key: 20,
        integ_key: 0,
    };
    let km = keys::child_keys(prf, k.sk_d.expose(), None, &ni, &nr, child).expect("keymat");
    // The IKE SA's two keys, each message of the life sealed or opened (an open costs what a
    // seal does), and the Child SA's two keys.
    let iv = [0u8; 8];
    let mut tag = [0u8; 16];
    let ike = [sk.new_key(k.sk_ei.expose()), sk.new_key(k.sk_er.expose())];
    for key in ike.iter().chain(ike.iter()) {
        let key = key.as_ref().expect("SK_e");
        key.seal_in_place(&iv, b"header", msg, &mut tag)
            .expect("seal");
    }
    for key in [&km.encr_i, &km.encr_r] {
        black_box(esp.new_key(key.expose()).expect("ESP key"));
    }
}

fn bench_sizes(c: &mut Criterion, sizes: &[u32]) {
    let mut buf = vec![0u8; 65_535];
    let mut out = Vec::new();
    let peer = fastest_provider()
        .key_exchange(DhGroup::CURVE25519)
        .expect("x25519")
        .start(fastest_provider().random)
        .expect("key pair");
    let mut msg = [0u8; 300];
    let mut g = c.benchmark_group("responder");
    g.bench_function("crypto", |b| {
        b.iter(|| crypto(peer.public_value(), &mut msg))
    });
    for &n in sizes {
        let mut right = holding(n, &mut buf, &mut out);
        let mut next = n;
        g.bench_function(BenchmarkId::new("life", n), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    next += 1;
                    let (mut left, up) = open(&mut right, next, &mut buf, &mut out);
                    left.delete_ike(NOW, "gw").expect("delete");
                    let seen = exchange(&mut left, &mut right, &mut buf, &mut out);
                    assert_eq!(seen.ike_sas_down, 1, "the responder saw the delete");
                    spent += up + seen.spent;
                }
                spent
            })
        });
        assert_eq!(
            right.endpoint().ike_sa_count(),
            n as usize,
            "every life ended, the {n} held stay"
        );
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    // `cargo test --all-targets` runs this too (without `--bench`): a few SAs check the path.
    if std::env::args().any(|a| a == "--bench") {
        bench_sizes(c, &[1_000, 10_000]);
    } else {
        bench_sizes(c, &[10]);
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
