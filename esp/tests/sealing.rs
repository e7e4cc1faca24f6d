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
