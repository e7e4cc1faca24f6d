//! The SA table: SPI allocation and O(1) inbound lookup, outbound selection by tunnel and traffic
//! selector (several proxy IDs under one tunnel, rekeys), counters per drop reason, events.

mod common;

use common::{child, provider};
use esp::wire::Udp4500;
use esp::{DropReason, EspError, LimitKind, SaEvent, SaTable, SpiAllocator};
use ipsec_core::child_sa::{ChildSa, Lifetimes};
use ipsec_core::crypto::{EncrId, Encryption, IntegId};
use ipsec_core::selector::{IpPrefix, TrafficSelector};
use ipsec_core::time::Instant;

const NOW: Instant = Instant::ZERO;

fn ts(prefix: &str) -> TrafficSelector {
    let p: IpPrefix = prefix.parse().unwrap();
    TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
        start_addr: p.network(),
        end_addr: p.last(),
    }
}

/// A Child SA of tunnel `tunnel` for local -> remote prefixes, with keys derived from `k`.
fn proxy(tunnel: &str, local: &str, remote: &str, in_spi: u32, out_spi: u32, k: u8) -> ChildSa {
    let enc = Encryption::new(EncrId::ENCR_AES_GCM_16, 128);
    let mut c = child(enc, IntegId::NONE, &[k; 20], &[], 0);
    c.tunnel = tunnel.into();
    c.inbound.spi = in_spi;
    c.outbound.spi = out_spi;
    c.local_ts = vec![ts(local)];
    c.remote_ts = vec![ts(remote)];
    c
}

/// The peer's view of `c`: directions and selectors swapped.
fn mirror(c: &ChildSa) -> ChildSa {
    let mut m = c.clone();
    std::mem::swap(&mut m.inbound, &mut m.outbound);
    std::mem::swap(&mut m.local_ts, &mut m.remote_ts);
    std::mem::swap(&mut m.local_addr, &mut m.remote_addr);
    m
}

fn ipv4(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0u8; 48];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&48u16.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p
}

fn send(table: &mut SaTable, tunnel: &str, inner: &[u8]) -> Result<(u32, Vec<u8>), EspError> {
    let t = table.tunnel(tunnel).ok_or(EspError::NoOutboundSa)?;
    let mut buf = vec![0u8; 64 + inner.len() + 64];
    buf[64..64 + inner.len()].copy_from_slice(inner);
    let tx = table.encapsulate(NOW, t, &mut buf, 64..64 + inner.len())?;
    Ok((tx.spi, buf[tx.range].to_vec()))
}

#[test]
fn allocated_spis_encode_a_slot_and_avoid_the_reserved_range() {
    let mut t = SaTable::new(provider());
    let spis: Vec<u32> = (0..100).map(|_| t.allocate_spi().unwrap()).collect();
    for (i, s) in spis.iter().enumerate() {
        assert!(*s > 0xffff, "{s:#x}");
        assert_eq!((s & 0xffff) as usize, i);
    }
    // Released slots are reused.
    t.release_spi(spis[7]);
    assert_eq!(t.allocate_spi().unwrap() & 0xffff, 7);
}

#[test]
fn proxy_ids_under_one_tunnel_each_get_their_packets() {
    let mut gw = SaTable::new(provider());
    let mut peer = SaTable::new(provider());
    let a_in = gw.allocate_spi().unwrap();
    let b_in = gw.allocate_spi().unwrap();
    let a = proxy(
        "to-branch",
        "10.1.0.0/24",
        "10.2.0.0/24",
        a_in,
        0xa000_0001,
        1,
    );
    let b = proxy(
        "to-branch",
        "10.1.1.0/24",
        "10.2.1.0/24",
        b_in,
        0xb000_0001,
        2,
    );
    let ha = gw.install(NOW, &a).unwrap();
    let hb = gw.install(NOW, &b).unwrap();
    peer.install(NOW, &mirror(&a)).unwrap();
    peer.install(NOW, &mirror(&b)).unwrap();
    assert_eq!(gw.inbound_count(), 2);

    let (spi, _) = send(&mut gw, "to-branch", &ipv4([10, 1, 0, 5], [10, 2, 0, 9])).unwrap();
    assert_eq!(spi, 0xa000_0001);
    let (spi, mut pkt) = send(&mut gw, "to-branch", &ipv4([10, 1, 1, 5], [10, 2, 1, 9])).unwrap();
    assert_eq!(spi, 0xb000_0001);
    let got = peer.decapsulate(NOW, &mut pkt).unwrap().unwrap();
    assert_eq!(got.spi, 0xb000_0001);
    assert_eq!(peer.tunnel_name(got.tunnel), Some("to-branch"));
    // Traffic of no proxy ID has no SA.
    assert_eq!(
        send(&mut gw, "to-branch", &ipv4([10, 9, 0, 5], [10, 2, 0, 9])),
        Err(EspError::NoOutboundSa)
    );

    // The peer answers on each proxy ID; our table finds the SAs by SPI.
    let (_, mut reply) = send(&mut peer, "to-branch", &ipv4([10, 2, 0, 9], [10, 1, 0, 5])).unwrap();
    let got = gw.decapsulate(NOW, &mut reply).unwrap().unwrap();
    assert_eq!(got.spi, a_in);
    assert_eq!(gw.inbound_counters(a_in).unwrap().packets, 1);
    assert_eq!(gw.outbound(ha).unwrap().counters().packets, 1);
    assert_eq!(gw.outbound(hb).unwrap().counters().packets, 1);
}

#[test]
fn the_newest_sa_wins_after_a_rekey_and_removal_frees_the_old_one() {
    let mut gw = SaTable::new(provider());
    let old = proxy(
        "t",
        "10.1.0.0/24",
        "10.2.0.0/24",
        0x1111_0000,
        0xaaaa_0000,
        1,
    );
    let new = proxy(
        "t",
        "10.1.0.0/24",
        "10.2.0.0/24",
        0x2222_0000,
        0xbbbb_0000,
        2,
    );
    let h_old = gw.install(NOW, &old).unwrap();
    let inner = ipv4([10, 1, 0, 5], [10, 2, 0, 9]);
    assert_eq!(send(&mut gw, "t", &inner).unwrap().0, 0xaaaa_0000);
    gw.install(NOW, &new).unwrap();
    assert_eq!(send(&mut gw, "t", &inner).unwrap().0, 0xbbbb_0000);
    // Installing the same inbound SPI twice is refused.
    assert!(matches!(gw.install(NOW, &new), Err(EspError::Config(_))));
    gw.remove(h_old);
    assert!(gw.inbound(0x1111_0000).is_none());
    assert!(gw.inbound(0x2222_0000).is_some());
    assert_eq!(send(&mut gw, "t", &inner).unwrap().0, 0xbbbb_0000);
}

#[test]
fn a_retired_sa_sends_nothing_but_still_receives_until_removed() {
    let mut gw = SaTable::new(provider());
    let mut peer = SaTable::new(provider());
    let a = proxy(
        "t",
        "10.1.0.0/24",
        "10.2.0.0/24",
        0x1111_0000,
        0xaaaa_0000,
        1,
    );
    let b = proxy(
        "t",
        "10.1.0.0/24",
        "10.2.0.0/24",
        0x2222_0000,
        0xbbbb_0000,
        2,
    );
    let h_a = gw.install(NOW, &a).unwrap();
    let h_b = gw.install(NOW, &b).unwrap();
    peer.install(NOW, &mirror(&b)).unwrap();
    let inner = ipv4([10, 1, 0, 5], [10, 2, 0, 9]);
    assert_eq!(send(&mut gw, "t", &inner).unwrap().0, 0xbbbb_0000);
    // Retiring the newest: the older one sends again; b's inbound half still receives.
    gw.retire(h_b);
    assert!(gw.outbound(h_b).is_none());
    assert_eq!(send(&mut gw, "t", &inner).unwrap().0, 0xaaaa_0000);
    let back = ipv4([10, 2, 0, 9], [10, 1, 0, 5]);
    let (_, mut esp) = send(&mut peer, "t", &back).unwrap();
    let d = gw.decapsulate(NOW, &mut esp).unwrap().unwrap();
    assert_eq!(d.spi, 0x2222_0000);
    // A new SA takes the freed outbound slot; the old handle no longer reaches it.
    let c = proxy(
        "t",
        "10.1.0.0/24",
        "10.2.0.0/24",
        0x3333_0000,
        0xcccc_0000,
        3,
    );
    let h_c = gw.install(NOW, &c).unwrap();
    assert!(gw.outbound(h_b).is_none());
    gw.remove(h_b);
    assert!(gw.inbound(0x2222_0000).is_none());
    assert_eq!(gw.outbound(h_c).map(|o| o.spi()), Some(0xcccc_0000));
    assert_eq!(send(&mut gw, "t", &inner).unwrap().0, 0xcccc_0000);
    gw.remove(h_a);
    assert_eq!(gw.inbound_count(), 1);
}

#[test]
fn drops_are_counted_by_reason_like_show_counter_global() {
    let mut gw = SaTable::new(provider());
    let mut peer = SaTable::new(provider());
    let spi = gw.allocate_spi().unwrap();
    let c = proxy("t", "10.1.0.0/24", "10.2.0.0/24", spi, 0x5000_0000, 1);
    let hc = gw.install(NOW, &c).unwrap();
    peer.install(NOW, &mirror(&c)).unwrap();
    let (_, pkt) = send(&mut peer, "t", &ipv4([10, 2, 0, 9], [10, 1, 0, 5])).unwrap();

    let mut unknown = pkt.clone();
    unknown[0] ^= 0x80;
    assert!(matches!(
        gw.decapsulate(NOW, &mut unknown),
        Err(EspError::UnknownSpi(_))
    ));
    let mut short = pkt[..5].to_vec();
    assert!(matches!(
        gw.decapsulate(NOW, &mut short),
        Err(EspError::Malformed(_))
    ));
    let mut forged = pkt.clone();
    let n = forged.len();
    forged[n - 1] ^= 1;
    assert_eq!(gw.decapsulate(NOW, &mut forged), Err(EspError::IcvFailure));
    let mut good = pkt.clone();
    assert!(gw.decapsulate(NOW, &mut good).unwrap().is_some());
    let mut replay = pkt.clone();
    assert_eq!(gw.decapsulate(NOW, &mut replay), Err(EspError::Replay(1)));

    let d = gw.drop_counters();
    assert_eq!(d.get(DropReason::UnknownSpi), 1);
    assert_eq!(d.get(DropReason::Malformed), 1);
    assert_eq!(d.get(DropReason::IcvFailure), 1);
    assert_eq!(d.get(DropReason::Replay), 1);
    assert_eq!(d.total(), 4);
    let names: Vec<_> = d.iter().map(|(r, _)| r.name()).collect();
    assert!(names.contains(&"esp_drop_unknown_spi"));
    // Removing the SA keeps its drops in the global counters.
    gw.remove(hc);
    assert!(gw.inbound(spi).is_none());
    assert_eq!(gw.drop_counters(), d);
}

#[test]
fn lifetime_events_come_out_of_the_table() {
    let mut gw = SaTable::new(provider());
    let mut c = proxy(
        "t",
        "10.1.0.0/24",
        "10.2.0.0/24",
        0x7000_0000,
        0x7100_0000,
        1,
    );
    c.lifetimes = Lifetimes {
        soft_packets: Some(1),
        soft_time: Some(core::time::Duration::from_secs(5)),
        ..Lifetimes::default()
    };
    gw.install(NOW, &c).unwrap();
    assert_eq!(gw.poll_timeout(), Some(Instant::from_secs(5)));
    assert_eq!(gw.poll_event(), None);
    send(&mut gw, "t", &ipv4([10, 1, 0, 5], [10, 2, 0, 9])).unwrap();
    let e = gw.poll_event().unwrap();
    assert_eq!((e.spi, e.outbound), (0x7100_0000, true));
    assert_eq!(Some(e.tunnel), gw.tunnel("t"));
    assert_eq!(e.event, SaEvent::SoftExpired(LimitKind::Packets));
    assert_eq!(gw.poll_event(), None, "one event per limit");
    assert_eq!(e.event.to_string(), "IPsec SA soft packet lifetime expired");
    gw.handle_timeout(Instant::from_secs(6));
    let mut got = Vec::new();
    while let Some(e) = gw.poll_event() {
        got.push((e.spi, e.event));
    }
    got.sort_by_key(|g| g.0);
    assert_eq!(
        got,
        vec![
            (0x7000_0000, SaEvent::SoftExpired(LimitKind::Time)),
            (0x7100_0000, SaEvent::SoftExpired(LimitKind::Time)),
        ]
    );
}

#[test]
fn port_4500_traffic_is_demultiplexed() {
    let mut gw = SaTable::new(provider());
    let mut peer = SaTable::new(provider());
    let c = proxy(
        "t",
        "10.1.0.0/24",
        "10.2.0.0/24",
        0x0100_0001,
        0x0200_0002,
        3,
    );
    gw.install(NOW, &c).unwrap();
    peer.install(NOW, &mirror(&c)).unwrap();
    let (_, esp_pkt) = send(&mut peer, "t", &ipv4([10, 2, 0, 9], [10, 1, 0, 5])).unwrap();
    let ike = [0u8, 0, 0, 0, 0x11, 0x22, 0x33];
    let mut seen = Vec::new();
    for datagram in [&esp_pkt[..], &[0xff][..], &ike[..]] {
        match Udp4500::classify(datagram).unwrap() {
            Udp4500::Esp(p) => {
                let mut b = p.to_vec();
                assert!(gw.decapsulate(NOW, &mut b).unwrap().is_some());
                seen.push("esp");
            }
            Udp4500::Keepalive => seen.push("keepalive"),
            Udp4500::Ike(m) => {
                assert_eq!(m, &[0x11, 0x22, 0x33]);
                seen.push("ike");
            }
        }
    }
    assert_eq!(seen, ["esp", "keepalive", "ike"]);

    // Keepalives on request, only for UDP-encapsulated SAs.
    let h = gw
        .install(
            NOW,
            &proxy(
                "u",
                "10.1.0.0/24",
                "10.2.0.0/24",
                0x0300_0003,
                0x0400_0004,
                4,
            ),
        )
        .unwrap();
    let mut buf = [0u8; 8];
    assert!(matches!(
        gw.nat_keepalive(h, &mut buf),
        Err(EspError::Config(_))
    ));
    let mut c = proxy(
        "v",
        "10.1.0.0/24",
        "10.2.0.0/24",
        0x0500_0005,
        0x0600_0006,
        5,
    );
    c.encapsulation = Some(ipsec_core::child_sa::UdpEncapsulation {
        local_port: 4500,
        remote_port: 31000,
    });
    let h = gw.install(NOW, &c).unwrap();
    let k = gw.nat_keepalive(h, &mut buf).unwrap();
    assert_eq!(&buf[k.range], &[0xff]);
    assert_eq!(k.destination, "192.0.2.2:31000".parse().unwrap());
    assert_eq!(k.source.port(), 4500);
}
