//! The gateway's packet path against the bare ESP datapath, in the same run.
//!
//! For inner packets of 64 and 1400 bytes over AES-128-GCM in UDP:
//! - `gateway`: a packet from hq's LAN port through `Gateway::handle_inner` (route, zones,
//!   session, ESP) and into branch through `Gateway::handle_datagram` (demultiplexer, ESP,
//!   route, zones, session), delivered to branch's LAN port;
//! - `esp`: the same packet through `SaTable::encapsulate` and `SaTable::decapsulate` of two
//!   tables holding an SA of the same suite.
//!
//! The ratio gateway/esp is what routing, policy and sessions add. Run:
//! `cargo bench -p gateway --bench forward -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use esp::SaTable;
use gateway::{default_provider, Action, Config, Gateway, Instant, Options, HEADROOM, TAILROOM};
use ipsec_core::child_sa::{
    ChildSa, DirectionKeys, IpsecProtocol, Lifetimes, Mode, UdpEncapsulation,
};
use ipsec_core::crypto::{EncrId, Encryption, IntegId, SecretBytes};
use std::hint::black_box;

const SIZES: [usize; 2] = [64, 1400];

fn firewall(me: &str, peer: &str, lan: &str, remote: &str) -> Config {
    let text = format!(
        r#"
[[ike-crypto-profile]]
name = "ike"
dh-group = ["group19"]
hash = ["sha256"]
encryption = ["aes-256-gcm"]

[[ipsec-crypto-profile]]
name = "esp"
encryption = ["aes-128-gcm"]
authentication = ["none"]
dh-group = "group19"

[[ike-gateway]]
name = "peer"
version = "ikev2"
local-address = {{ interface = "ethernet1/1", ip = "{me}" }}
peer-address = {{ ip = "{peer}" }}
authentication = {{ pre-shared-key = "correct horse battery staple" }}
ike-crypto-profile = "ike"

[[tunnel-interface]]
name = "tunnel.1"
zone = "vpn"

[[ipsec-tunnel]]
name = "vpn"
tunnel-interface = "tunnel.1"
ike-gateway = "peer"
ipsec-crypto-profile = "esp"

[[static-route]]
name = "peer-lan"
destination = "{remote}"
interface = "tunnel.1"

[[zone]]
name = "trust"
interfaces = ["ethernet1/2"]

[[zone]]
name = "vpn"
interfaces = ["tunnel.1"]

[[security-rule]]
name = "out"
from = ["trust"]
to = ["vpn"]
source = ["{lan}"]
action = "allow"

[[security-rule]]
name = "in"
from = ["vpn"]
to = ["trust"]
destination = ["{lan}"]
action = "allow"
"#
    );
    Config::from_toml_str(&text).expect("config")
}

/// Two gateways with their tunnel up.
fn pair() -> (Gateway, Gateway) {
    let options = Options {
        force_udp_encapsulation: true,
        ..Options::default()
    };
    let hq = firewall("192.0.2.1", "192.0.2.2", "10.1.0.0/24", "10.2.0.0/24");
    let br = firewall("192.0.2.2", "192.0.2.1", "10.2.0.0/24", "10.1.0.0/24");
    let mut hq = Gateway::with_options(hq, default_provider(), options).expect("hq");
    let mut br = Gateway::with_options(br, default_provider(), options).expect("branch");
    hq.set_interface_address("ethernet1/2", "10.1.0.1/24".parse().expect("address"))
        .expect("LAN port");
    br.set_interface_address("ethernet1/2", "10.2.0.1/24".parse().expect("address"))
        .expect("LAN port");
    let now = Instant::from_secs(1);
    hq.connect_all(now).expect("connect");
    let mut buf = vec![0u8; 65_535];
    for _ in 0..8 {
        while let Some(t) = hq.poll_transmit(&mut buf) {
            br.handle_datagram(now, t.destination, t.source, &mut buf[t.range]);
        }
        while let Some(t) = br.poll_transmit(&mut buf) {
            hq.handle_datagram(now, t.destination, t.source, &mut buf[t.range]);
        }
    }
    (hq, br)
}

/// Two SA tables sharing one AES-128-GCM Child SA in UDP, crosswise.
fn tables() -> (SaTable, SaTable) {
    let keys = |spi| DirectionKeys {
        spi,
        encryption_key: SecretBytes::from_slice(&[0x11; 20]),
        integrity_key: SecretBytes::default(),
    };
    let child = ChildSa {
        tunnel: "vpn".into(),
        proxy_id: None,
        protocol: IpsecProtocol::Esp,
        mode: Mode::Tunnel,
        encryption: Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
        integrity: IntegId::NONE,
        esn: false,
        inbound: keys(0x1111_0001),
        outbound: keys(0x2222_0001),
        local_ts: vec![],
        remote_ts: vec![],
        local_addr: "192.0.2.1:4500".parse().expect("address"),
        remote_addr: "192.0.2.2:4500".parse().expect("address"),
        encapsulation: Some(UdpEncapsulation {
            local_port: 4500,
            remote_port: 4500,
        }),
        lifetimes: Lifetimes::default(),
        replay_window: 1024,
        tfc_padding: false,
    };
    let mut peer = child.clone();
    std::mem::swap(&mut peer.inbound, &mut peer.outbound);
    std::mem::swap(&mut peer.local_addr, &mut peer.remote_addr);
    let (mut a, mut b) = (
        SaTable::new(default_provider()),
        SaTable::new(default_provider()),
    );
    a.install(Instant::ZERO, &child).expect("install");
    b.install(Instant::ZERO, &peer).expect("install");
    (a, b)
}

fn udp(len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 1, 0, 5]);
    p[16..20].copy_from_slice(&[10, 2, 0, 7]);
    p[20..22].copy_from_slice(&40_000u16.to_be_bytes());
    p[22..24].copy_from_slice(&53u16.to_be_bytes());
    p[24..26].copy_from_slice(&((len - 20) as u16).to_be_bytes());
    p
}

fn bench(c: &mut Criterion) {
    let now = Instant::from_secs(1);
    let mut group = c.benchmark_group("forward");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let packet = udp(size);
        let inner = HEADROOM..HEADROOM + size;
        let mut buf = vec![0u8; HEADROOM + size + TAILROOM];

        let (mut hq, mut br) = pair();
        let lan = hq.interface("ethernet1/2").expect("LAN port");
        group.bench_with_input(BenchmarkId::new("gateway", size), &size, |b, _| {
            b.iter(|| {
                buf[inner.clone()].copy_from_slice(&packet);
                let Action::Send(t) = hq.handle_inner(now, lan, &mut buf, inner.clone()) else {
                    panic!("not sent");
                };
                let datagram = &mut buf[t.range];
                let a = br.handle_datagram(now, t.destination, t.source, datagram);
                assert!(matches!(a, Action::Deliver(_)), "{a:?}");
                black_box(a);
            })
        });

        let (mut out, mut inb) = tables();
        let tunnel = out.tunnel("vpn").expect("tunnel");
        group.bench_with_input(BenchmarkId::new("esp", size), &size, |b, _| {
            b.iter(|| {
                buf[inner.clone()].copy_from_slice(&packet);
                let t = out
                    .encapsulate(now, tunnel, &mut buf, inner.clone())
                    .expect("encapsulate");
                let d = inb
                    .decapsulate(now, &mut buf[t.range])
                    .expect("decapsulate");
                black_box(d);
            })
        });
    }
    group.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

criterion_main!(benches);
