//! The gateway's packet path allocates nothing: a counting global allocator (`stats_alloc`,
//! which keeps this file free of `unsafe`) watches packets cross two gateways both ways, from a
//! LAN port through routing, security policy, session lookup and ESP to the other gateway's
//! LAN port, new sessions included. The file runs without the libtest harness
//! (`harness = false`), so the process has a single thread and nothing else allocates while it
//! counts.

use gateway::{default_provider, Action, Config, Gateway, Instant, Options, HEADROOM, TAILROOM};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    packets_through_two_gateways_do_not_allocate();
    println!("no_alloc: ok");
}

fn firewall(me: &str, peer: &str, lan: &str, remote: &str) -> Config {
    Config::from_toml_str(&format!(
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

[[ipsec-tunnel.proxy-id]]
name = "lans"
local = "{lan}"
remote = "{remote}"

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
action = "allow"

[[security-rule]]
name = "in"
from = ["vpn"]
to = ["trust"]
action = "allow"
"#
    ))
    .expect("config")
}

fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&53u16.to_be_bytes());
    p[24..26].copy_from_slice(&((len - 20) as u16).to_be_bytes());
    p
}

fn packets_through_two_gateways_do_not_allocate() {
    let options = Options {
        force_udp_encapsulation: true,
        ..Options::default()
    };
    let hq_cfg = firewall("192.0.2.1", "192.0.2.2", "10.1.0.0/24", "10.2.0.0/24");
    let br_cfg = firewall("192.0.2.2", "192.0.2.1", "10.2.0.0/24", "10.1.0.0/24");
    let mut hq = Gateway::with_options(hq_cfg, default_provider(), options).unwrap();
    let mut br = Gateway::with_options(br_cfg, default_provider(), options).unwrap();
    hq.set_interface_address("ethernet1/2", "10.1.0.1/24".parse().unwrap())
        .unwrap();
    br.set_interface_address("ethernet1/2", "10.2.0.1/24".parse().unwrap())
        .unwrap();
    let now = Instant::from_secs(1);
    hq.connect_all(now).unwrap();
    let mut buf = vec![0u8; 65_535];
    for _ in 0..8 {
        while let Some(t) = hq.poll_transmit(&mut buf) {
            br.handle_datagram(now, t.destination, t.source, &mut buf[t.range]);
        }
        while let Some(t) = br.poll_transmit(&mut buf) {
            hq.handle_datagram(now, t.destination, t.source, &mut buf[t.range]);
        }
    }
    while hq.poll_event().is_some() || br.poll_event().is_some() {}
    let (hq_lan, br_lan) = (
        hq.interface("ethernet1/2").unwrap(),
        br.interface("ethernet1/2").unwrap(),
    );

    const N: u16 = 500;
    const LEN: usize = 1400;
    // Each round is a new flow (a new session on both sides) and its answer.
    let out: Vec<Vec<u8>> = (0..N)
        .map(|i| udp([10, 1, 0, 5], [10, 2, 0, 7], 10_000 + i, LEN))
        .collect();
    let back: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            let mut p = udp([10, 2, 0, 7], [10, 1, 0, 5], 53, LEN);
            p[22..24].copy_from_slice(&(10_000 + i).to_be_bytes());
            p
        })
        .collect();
    let mut buf = vec![0u8; HEADROOM + LEN + TAILROOM];
    let inner = HEADROOM..HEADROOM + LEN;
    let mut delivered = 0usize;

    // One packet from `from`'s LAN to `to`'s: true when it arrived intact.
    let mut cross = |from: &mut Gateway, lan, to: &mut Gateway, packet: &[u8]| -> bool {
        buf[inner.clone()].copy_from_slice(packet);
        let Action::Send(t) = from.handle_inner(now, lan, &mut buf, inner.clone()) else {
            return false;
        };
        let datagram = &mut buf[t.range];
        match to.handle_datagram(now, t.destination, t.source, datagram) {
            Action::Deliver(d) => datagram[d.range] == *packet,
            _ => false,
        }
    };

    let region = Region::new(GLOBAL);
    for i in 0..usize::from(N) {
        delivered += usize::from(cross(&mut hq, hq_lan, &mut br, &out[i]));
        delivered += usize::from(cross(&mut br, br_lan, &mut hq, &back[i]));
    }
    let stats = region.change();
    assert_eq!(delivered, 2 * usize::from(N));
    assert_eq!(stats.allocations, 0, "allocated");
    assert_eq!(stats.reallocations, 0, "reallocated");
}
