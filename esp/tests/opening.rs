//! Deferred opening (`InboundSa::prepare_open`, `Opening::open`, `InboundSa::finish`): the same
//! result as `decapsulate` for every suite, opened on other threads and finished out of order,
//! with the anti-replay guarantees kept (a replay refused whichever copy finishes first, a
//! forged packet never moving the window, the window checked again at the finish).

mod common;

use common::{child, provider, seal, suites, udp4};
use esp::{DropReason, EspError, InboundSa, Opened, Opening, OutboundSa, SaTable};
use ipsec_core::time::Instant;

const NOW: Instant = Instant::ZERO;

/// An outbound SA and two twin inbound SAs of suite `i` (every other one with ESN).
fn sas(i: usize, window: u32) -> (OutboundSa, InboundSa, InboundSa) {
    let (_, enc, integ, ek, ik) = suites()[i];
    let ekey: Vec<u8> = (0..ek as u8).collect();
    let ikey: Vec<u8> = (0..ik as u8).map(|b| b ^ 0x3c).collect();
    let mut c = child(enc, integ, &ekey, &ikey, 0x3000 + i as u32);
    c.esn = i % 2 == 1;
    c.replay_window = window;
    let p = provider();
    (
        OutboundSa::new(&p, &c, NOW).unwrap(),
        InboundSa::new(&p, &c, NOW).unwrap(),
        InboundSa::new(&p, &c, NOW).unwrap(),
    )
}

#[test]
fn a_packet_opened_elsewhere_is_the_decapsulated_one_for_every_suite() {
    fn sendable<T: Send + Sync>() {}
    sendable::<Opening>();
    sendable::<Opened>();
    for (i, (name, ..)) in suites().iter().enumerate() {
        let (mut tx, mut now_rx, mut later_rx) = sas(i, 64);
        for len in [28, 100, 1400] {
            let packet = seal(&mut tx, NOW, &udp4(len));
            let mut a = packet.clone();
            let da = now_rx.decapsulate(NOW, &mut a).unwrap().unwrap();
            let mut b = packet.clone();
            let opening = later_rx.prepare_open(NOW, &b).unwrap();
            assert_eq!(opening.sequence(), da.sequence, "{name} {len}");
            // Opened on another thread.
            let opened = std::thread::scope(|s| s.spawn(|| opening.open(&mut b)).join().unwrap());
            assert!(opened.authentic(), "{name} {len}");
            let db = later_rx.finish(NOW, opened, &mut b, None).unwrap().unwrap();
            assert_eq!(da, db, "{name} {len}");
            assert_eq!(a, b, "{name} {len}: the same bytes decrypted in place");
            assert_eq!(&b[db.range], &udp4(len)[..], "{name} {len}");
        }
        assert_eq!(now_rx.counters(), later_rx.counters(), "{name}");
        assert_eq!(
            now_rx.replay_window().top(),
            later_rx.replay_window().top(),
            "{name}"
        );
    }
}

#[test]
fn packets_finished_out_of_order_are_accepted_once() {
    let (mut tx, mut rx, _) = sas(1, 64);
    let mut packets: Vec<Vec<u8>> = (0..8).map(|_| seal(&mut tx, NOW, &udp4(200))).collect();
    let openings: Vec<Opening> = packets
        .iter()
        .map(|p| rx.prepare_open(NOW, p).unwrap())
        .collect();
    // Opened by as many threads as packets, finished last first.
    let opened: Vec<Opened> = std::thread::scope(|s| {
        let handles: Vec<_> = openings
            .into_iter()
            .zip(packets.iter_mut())
            .map(|(o, p)| s.spawn(move || o.open(p)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (o, p) in opened.into_iter().zip(packets.iter_mut()).rev() {
        let seq = o.sequence();
        let d = rx.finish(NOW, o, p, None).unwrap().unwrap();
        assert_eq!(d.sequence, seq);
    }
    assert_eq!(rx.counters().packets, 8);
    assert_eq!(rx.replay_window().top(), 8);
    // Any of them again is a replay, refused before its ICV.
    let again = seal(&mut tx, NOW, &udp4(200));
    let mut replayed = packets[3].clone();
    assert!(matches!(
        rx.prepare_open(NOW, &replayed),
        Err(EspError::Replay(4))
    ));
    assert_eq!(rx.counters().drops.get(DropReason::Replay), 1);
    // Decrypted in place already: the stored copy no longer opens (and nothing panics).
    let _ = rx.decapsulate(NOW, &mut replayed);
    let mut next = again.clone();
    assert!(rx.decapsulate(NOW, &mut next).unwrap().is_some());
}

#[test]
fn two_copies_in_flight_one_is_accepted() {
    let (mut tx, mut rx, _) = sas(0, 64);
    let packet = seal(&mut tx, NOW, &udp4(300));
    let (mut a, mut b) = (packet.clone(), packet.clone());
    // Both pass the first check: neither has been finished.
    let oa = rx.prepare_open(NOW, &a).unwrap();
    let ob = rx.prepare_open(NOW, &b).unwrap();
    let (oa, ob) = (oa.open(&mut a), ob.open(&mut b));
    assert!(oa.authentic() && ob.authentic());
    // Whichever finishes second is a duplicate.
    assert!(rx.finish(NOW, ob, &mut b, None).unwrap().is_some());
    assert!(matches!(
        rx.finish(NOW, oa, &mut a, None),
        Err(EspError::Replay(1))
    ));
    assert_eq!(rx.counters().packets, 1);
    assert_eq!(rx.counters().drops.get(DropReason::Replay), 1);
}

#[test]
fn a_forged_packet_never_moves_the_window() {
    let (mut tx, mut rx, _) = sas(1, 64);
    let genuine = seal(&mut tx, NOW, &udp4(120));
    // The same header (SPI and sequence number) with a ciphertext byte changed.
    let mut forged = genuine.clone();
    let at = forged.len() - 30;
    forged[at] ^= 0x01;
    let o = rx.prepare_open(NOW, &forged).unwrap();
    let o = o.open(&mut forged);
    assert!(!o.authentic());
    assert!(matches!(
        rx.finish(NOW, o, &mut forged, None),
        Err(EspError::IcvFailure)
    ));
    assert_eq!(rx.counters().drops.get(DropReason::IcvFailure), 1);
    assert_eq!(rx.replay_window().top(), 0, "the window did not move");
    // The genuine packet with that number is still accepted.
    let mut g = genuine.clone();
    let o = rx.prepare_open(NOW, &g).unwrap();
    let o = o.open(&mut g);
    assert_eq!(
        rx.finish(NOW, o, &mut g, None).unwrap().unwrap().sequence,
        1
    );
}

#[test]
fn the_window_is_checked_again_at_the_finish() {
    let window = 64;
    let (mut tx, mut rx, _) = sas(0, window);
    let mut first = seal(&mut tx, NOW, &udp4(80));
    let o = rx.prepare_open(NOW, &first).unwrap();
    // Meanwhile the window passes the first packet by more than its size.
    let mut last = Vec::new();
    for _ in 0..window + 1 {
        last = seal(&mut tx, NOW, &udp4(80));
    }
    assert!(rx.decapsulate(NOW, &mut last).unwrap().is_some());
    assert_eq!(rx.replay_window().top(), u64::from(window) + 2);
    let o = o.open(&mut first);
    assert!(o.authentic());
    assert!(matches!(
        rx.finish(NOW, o, &mut first, None),
        Err(EspError::Replay(1))
    ));
}

#[test]
fn misuse_is_refused_not_a_panic() {
    let (mut tx, mut rx, mut twin) = sas(0, 64);
    let packet = seal(&mut tx, NOW, &udp4(100));
    // Finished by another SA (even one with the same keys and SPI).
    let mut p = packet.clone();
    let o = rx.prepare_open(NOW, &p).unwrap().open(&mut p);
    assert!(matches!(
        twin.finish(NOW, o, &mut p, None),
        Err(EspError::Misuse(_))
    ));
    assert_eq!(twin.replay_window().top(), 0);
    // Opened or finished in a buffer of another length.
    let mut p = packet.clone();
    let mut short = packet[..packet.len() - 1].to_vec();
    let o = rx.prepare_open(NOW, &p).unwrap().open(&mut short);
    assert!(!o.authentic());
    assert!(rx.finish(NOW, o, &mut p, None).is_err());
    let o = rx.prepare_open(NOW, &p).unwrap().open(&mut p);
    assert!(matches!(
        rx.finish(NOW, o, &mut short, None),
        Err(EspError::Misuse(_))
    ));
    assert_eq!(rx.replay_window().top(), 0, "nothing was accepted");
    // The packet itself is still good.
    assert!(rx.decapsulate(NOW, &mut packet.clone()).unwrap().is_some());
}

#[test]
fn the_table_opens_elsewhere_what_it_would_decapsulate() {
    for (i, (name, enc, integ, ek, ik)) in suites().into_iter().enumerate() {
        let mut c = child(enc, integ, &vec![9; ek], &vec![3; ik], 0x5000 + i as u32);
        c.esn = i % 2 == 0;
        let mut tx = OutboundSa::new(&provider(), &c, NOW).unwrap();
        let (mut now_t, mut later_t) = (SaTable::new(provider()), SaTable::new(provider()));
        now_t.install(NOW, &c).unwrap();
        later_t.install(NOW, &c).unwrap();
        let mut packets: Vec<Vec<u8>> = (0..6)
            .map(|k| seal(&mut tx, NOW, &udp4(40 + 300 * k)))
            .collect();
        // A replay, a forgery and an unknown SPI among them.
        packets.push(packets[2].clone());
        let mut forged = packets[4].clone();
        forged[20] ^= 4;
        packets.push(forged);
        let mut stranger = packets[1].clone();
        stranger[0] ^= 0x80;
        packets.push(stranger);
        for (k, p) in packets.iter().enumerate() {
            let (mut a, mut b) = (p.clone(), p.clone());
            let ra = now_t.decapsulate(NOW, &mut a);
            let rb = later_t.prepare_open(NOW, &b).and_then(|o| {
                let opened = std::thread::scope(|s| s.spawn(|| o.open(&mut b)).join().unwrap());
                later_t.finish_open(NOW, opened, &mut b, None)
            });
            assert_eq!(ra, rb, "{name} packet {k}");
            assert_eq!(a, b, "{name} packet {k}");
        }
        assert_eq!(now_t.drop_counters(), later_t.drop_counters(), "{name}");
        assert_eq!(
            now_t.inbound_counters(c.inbound.spi),
            later_t.inbound_counters(c.inbound.spi),
            "{name}"
        );
    }
}

/// The anti-replay rule as RFC 4303 states it, on sets: what a deferred packet must meet both
/// when it is prepared and when it is finished.
struct Model {
    window: u64,
    top: u64,
    seen: std::collections::BTreeSet<u64>,
}

impl Model {
    fn accepts(&self, seq: u64) -> bool {
        seq > self.top || (self.top - seq < self.window && !self.seen.contains(&seq))
    }

    fn commit(&mut self, seq: u64) {
        self.top = self.top.max(seq);
        self.seen.insert(seq);
    }
}

/// Opens and finishes one packet in flight: accepted exactly when it is genuine and the
/// model's window still accepts it.
fn finish_one(
    rx: &mut InboundSa,
    model: &mut Model,
    (seq, forged, opening, mut p): (u64, bool, Opening, Vec<u8>),
) -> Result<(), proptest::test_runner::TestCaseError> {
    let opened = opening.open(&mut p);
    let r = rx.finish(NOW, opened, &mut p, None);
    let ok = !forged && model.accepts(seq);
    proptest::prop_assert_eq!(r.is_ok(), ok, "seq {} forged {}: {:?}", seq, forged, r);
    if ok {
        model.commit(seq);
    }
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Packets arrive in any order, some twice, some forged; each is prepared as it arrives
    /// and finished in another order. Every outcome is the model's, no sequence number is
    /// accepted twice and no forged packet is accepted.
    #[test]
    fn deferred_packets_meet_the_window_twice(
        arrivals in proptest::collection::vec((0usize..96, proptest::bool::weighted(0.15)), 1..160),
        finish_order in proptest::collection::vec(proptest::num::usize::ANY, 160),
    ) {
        let window = 64u64;
        let (mut tx, mut rx, _) = sas(0, window as u32);
        let sent: Vec<Vec<u8>> = (0..96).map(|_| seal(&mut tx, NOW, &udp4(60))).collect();
        let mut model = Model { window, top: 0, seen: Default::default() };
        // Prepared as they arrive.
        let mut pending = Vec::new();
        for (k, &(i, forge)) in arrivals.iter().enumerate() {
            let mut p = sent[i].clone();
            if forge {
                let at = p.len() - 20;
                p[at] ^= 0x80;
            }
            let seq = i as u64 + 1;
            match rx.prepare_open(NOW, &p) {
                Ok(o) => {
                    proptest::prop_assert!(model.accepts(seq), "arrival {k}: seq {seq} prepared");
                    pending.push((seq, forge, o, p));
                }
                Err(e) => {
                    proptest::prop_assert!(!model.accepts(seq), "arrival {k}: seq {seq}: {e}");
                }
            }
            // Now and then finish one of those in flight, chosen by the finish order.
            if k % 3 == 2 && !pending.is_empty() {
                let j = finish_order[k % finish_order.len()] % pending.len();
                finish_one(&mut rx, &mut model, pending.swap_remove(j))?;
            }
        }
        // The rest, in the finish order.
        while !pending.is_empty() {
            let j = finish_order[pending.len() % finish_order.len()] % pending.len();
            finish_one(&mut rx, &mut model, pending.swap_remove(j))?;
        }
        proptest::prop_assert_eq!(rx.counters().packets, model.seen.len() as u64);
        proptest::prop_assert_eq!(rx.replay_window().top(), model.top);
    }
}
