//! Deferred sealing (`OutboundSa::prepare_payload` and `Sealing::seal`): the same bytes as
//! `encapsulate_payload` for every suite, sealed on other threads and out of order, and the SA's
//! state (sequence numbers, counters, limits) taken when the packet is prepared.

mod common;

use common::{child, provider, suites, udp4};
use esp::{EspError, InboundSa, LimitKind, OutboundSa, SaEvent, Sealing};
use ipsec_core::child_sa::Lifetimes;
use ipsec_core::time::Instant;

const NOW: Instant = Instant::ZERO;
/// IP-in-IP: the payloads are IPv4 packets (tunnel mode).
const NEXT_HEADER_IPV4: u8 = 4;

/// A buffer holding `inner` with the room `tx` asks for, and the payload's range.
fn framed(tx: &OutboundSa, inner: &[u8]) -> (Vec<u8>, core::ops::Range<usize>) {
    let head = tx.headroom();
    let mut buf = vec![0xee; head + inner.len() + tx.max_tailroom()];
    buf[head..head + inner.len()].copy_from_slice(inner);
    (buf, head..head + inner.len())
}

fn pair(i: usize) -> (OutboundSa, OutboundSa, InboundSa) {
    let (_, enc, integ, ek, ik) = suites()[i];
    let ekey: Vec<u8> = (0..ek as u8).collect();
    let ikey: Vec<u8> = (0..ik as u8).map(|b| b ^ 0x5a).collect();
    let mut c = child(enc, integ, &ekey, &ikey, 0x1000 + i as u32);
    // Every other suite with extended sequence numbers (the ICV then covers the high half).
    c.esn = i % 2 == 1;
    let p = provider();
    (
        OutboundSa::new(&p, &c, NOW).unwrap(),
        OutboundSa::new(&p, &c, NOW).unwrap(),
        InboundSa::new(&p, &c, NOW).unwrap(),
    )
}

#[test]
fn a_prepared_and_sealed_packet_is_the_encapsulated_one_for_every_suite() {
    fn sendable<T: Send + Sync>() {}
    sendable::<Sealing>();
    for (i, (name, ..)) in suites().iter().enumerate() {
        let (mut now_tx, mut later_tx, mut rx) = pair(i);
        for len in [28, 100, 1400] {
            let inner = udp4(len);
            let (mut a, payload) = framed(&now_tx, &inner);
            let ra = now_tx
                .encapsulate_payload(NOW, &mut a, payload.clone(), NEXT_HEADER_IPV4)
                .unwrap();
            let (mut b, payload) = framed(&later_tx, &inner);
            let job = later_tx
                .prepare_payload(NOW, &mut b, payload, NEXT_HEADER_IPV4)
                .unwrap();
            assert_eq!(job.range(), ra, "{name} {len}");
            // Sealed on another thread.
            std::thread::scope(|s| {
                s.spawn(|| job.seal(&mut b).unwrap());
            });
            assert_eq!(a[ra.clone()], b[ra.clone()], "{name} {len}");
            let d = rx.decapsulate(NOW, &mut b[ra]).unwrap().unwrap();
            assert_eq!(d.sequence, job.sequence());
        }
        assert_eq!(now_tx.next_sequence(), later_tx.next_sequence(), "{name}");
        assert_eq!(now_tx.counters(), later_tx.counters(), "{name}");
    }
}

#[test]
fn packets_sealed_out_of_order_are_all_accepted() {
    let (mut tx, _, mut rx) = pair(0);
    let inner = udp4(200);
    let mut packets: Vec<(Vec<u8>, Sealing)> = (0..8)
        .map(|_| {
            let (mut buf, payload) = framed(&tx, &inner);
            let job = tx
                .prepare_payload(NOW, &mut buf, payload, NEXT_HEADER_IPV4)
                .unwrap();
            (buf, job)
        })
        .collect();
    // Sequence numbers in the order prepared.
    let seqs: Vec<u64> = packets.iter().map(|(_, j)| j.sequence()).collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<u64>>());
    // Sealed last first, by as many threads as packets, then delivered in sequence order.
    std::thread::scope(|s| {
        for (buf, job) in packets.iter_mut().rev() {
            s.spawn(move || job.seal(buf).unwrap());
        }
    });
    for (buf, job) in &mut packets {
        let d = rx.decapsulate(NOW, &mut buf[job.range()]).unwrap().unwrap();
        assert_eq!(d.sequence, job.sequence());
        assert_eq!(&buf[d.range], &inner[..]);
    }
    // A packet prepared but never sealed fails the peer's integrity check.
    let (mut buf, payload) = framed(&tx, &inner);
    let job = tx
        .prepare_payload(NOW, &mut buf, payload, NEXT_HEADER_IPV4)
        .unwrap();
    assert!(rx.decapsulate(NOW, &mut buf[job.range()]).is_err());
    // A buffer shorter than the prepared packet is refused, not a panic.
    let mut short = buf[..job.range().end - 1].to_vec();
    assert!(matches!(job.seal(&mut short), Err(EspError::Misuse(_))));
}

#[test]
fn the_sa_counts_a_packet_when_it_is_prepared() {
    let (_, enc, integ, ek, ik) = suites()[0];
    let mut c = child(enc, integ, &vec![7; ek], &vec![7; ik], 0x2000);
    c.lifetimes = Lifetimes {
        soft_packets: Some(2),
        hard_packets: Some(3),
        ..Lifetimes::default()
    };
    let mut tx = OutboundSa::new(&provider(), &c, NOW).unwrap();
    let inner = udp4(64);
    let mut jobs = Vec::new();
    for _ in 0..3 {
        let (mut buf, payload) = framed(&tx, &inner);
        jobs.push(
            tx.prepare_payload(NOW, &mut buf, payload, NEXT_HEADER_IPV4)
                .unwrap(),
        );
    }
    assert_eq!(tx.counters().packets, 3);
    assert_eq!(tx.next_sequence(), 4);
    let mut events = Vec::new();
    while let Some(e) = tx.poll_event() {
        events.push(e);
    }
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.contains(&SaEvent::SoftExpired(LimitKind::Packets)));
    assert!(events.contains(&SaEvent::HardExpired(LimitKind::Packets)));
    // The hard limit reached: no fourth packet is prepared.
    let (mut buf, payload) = framed(&tx, &inner);
    assert!(tx
        .prepare_payload(NOW, &mut buf, payload, NEXT_HEADER_IPV4)
        .is_err());
}

#[test]
fn a_prepared_tunnel_packet_is_the_encapsulated_one_with_its_outer_header() {
    use esp::encap::Framing;
    use ipsec_core::child_sa::UdpEncapsulation;
    for (i, (name, ..)) in suites().iter().enumerate() {
        // Every framing, over IPv4 and IPv6, with and without UDP encapsulation (the UDP
        // checksum over IPv6 covers the sealed bytes).
        for (framing, remote, udp) in [
            (Framing::Payload, "192.0.2.2:4500", true),
            (Framing::IpPacket, "192.0.2.2:0", false),
            (Framing::IpPacket, "192.0.2.2:4500", true),
            (Framing::IpPacket, "[2001:db8::2]:4500", true),
            (Framing::IpPacket, "[2001:db8::2]:0", false),
        ] {
            let (_, enc, integ, ek, ik) = suites()[i];
            let mut c = child(enc, integ, &vec![5; ek], &vec![6; ik], 0x6000 + i as u32);
            c.remote_addr = remote.parse().unwrap();
            c.local_addr = if c.remote_addr.is_ipv4() {
                "192.0.2.1:4500"
            } else {
                "[2001:db8::1]:4500"
            }
            .parse()
            .unwrap();
            c.encapsulation = udp.then_some(UdpEncapsulation {
                local_port: 4500,
                remote_port: 4500,
            });
            let p = provider();
            let (mut now_tx, mut later_tx) = (
                OutboundSa::new(&p, &c, NOW).unwrap(),
                OutboundSa::new(&p, &c, NOW).unwrap(),
            );
            now_tx.set_framing(framing);
            later_tx.set_framing(framing);
            for len in [28, 1000] {
                let inner = udp4(len);
                let (mut a, range) = framed(&now_tx, &inner);
                let ra = now_tx.encapsulate(NOW, &mut a, range.clone()).unwrap();
                let (mut b, range) = framed(&later_tx, &inner);
                let job = later_tx.prepare(NOW, &mut b, range).unwrap();
                assert_eq!(job.range(), ra, "{name} {framing:?} {remote} {len}");
                std::thread::scope(|s| {
                    s.spawn(|| job.seal(&mut b).unwrap());
                });
                assert_eq!(a[ra.clone()], b[ra], "{name} {framing:?} {remote} {len}");
            }
            assert_eq!(now_tx.counters(), later_tx.counters(), "{name}");
        }
    }
}

#[test]
fn the_table_prepares_what_it_would_encapsulate() {
    use esp::SaTable;
    let (_, enc, integ, ek, ik) = suites()[0];
    let mut c = child(enc, integ, &vec![1; ek], &vec![2; ik], 0x7000);
    c.local_ts = Vec::new();
    c.remote_ts = Vec::new();
    let (mut now_t, mut later_t) = (SaTable::new(provider()), SaTable::new(provider()));
    now_t.install(NOW, &c).unwrap();
    later_t.install(NOW, &c).unwrap();
    let tunnel = now_t.tunnel(&c.tunnel).unwrap();
    let head = 64;
    for len in [40, 500, 1400] {
        let inner = udp4(len);
        let mut a = vec![0u8; head + len + 64];
        a[head..head + len].copy_from_slice(&inner);
        let mut b = a.clone();
        let ta = now_t
            .encapsulate(NOW, tunnel, &mut a, head..head + len)
            .unwrap();
        let (tb, job) = later_t
            .prepare_encapsulate(NOW, tunnel, &mut b, head..head + len)
            .unwrap();
        assert_eq!(ta, tb);
        job.seal(&mut b).unwrap();
        assert_eq!(a[ta.range.clone()], b[tb.range]);
    }
    // Not an IP packet: refused as by encapsulate, no sequence number taken.
    let mut junk = vec![0u8; 200];
    assert_eq!(
        now_t
            .encapsulate(NOW, tunnel, &mut junk.clone(), head..head + 40)
            .unwrap_err(),
        later_t
            .prepare_encapsulate(NOW, tunnel, &mut junk, head..head + 40)
            .unwrap_err()
    );
    let inner = udp4(60);
    let mut a = vec![0u8; head + 60 + 64];
    a[head..head + 60].copy_from_slice(&inner);
    let mut b = a.clone();
    let ta = now_t
        .encapsulate(NOW, tunnel, &mut a, head..head + 60)
        .unwrap();
    let (tb, job) = later_t
        .prepare_encapsulate(NOW, tunnel, &mut b, head..head + 60)
        .unwrap();
    job.seal(&mut b).unwrap();
    assert_eq!(a[ta.range], b[tb.range], "the same sequence number next");
}
