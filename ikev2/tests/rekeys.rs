//! Rekeys that lose no packet: the responder's switch-over to a rekeyed Child SA, Child SA
//! rekeys refused with TEMPORARY_FAILURE or overtaken by an IKE SA rekey, and crossing IKE SA
//! rekeys settled by their nonces (RFC 7296 sections 2.8.1, 2.8.2, 2.25). ESP probes run through
//! each peer's datapath (the harness's `esp::SaTable`) at 100 packets per second both ways.

use core::time::Duration;
use ikev2::config::EndpointConfig;
use ikev2::testing::{Pair, Probes, Side, SiteSpec, Verdict};
use ikev2::{Endpoint, Event, Outbound, Reason, Role};
use std::cell::Cell;
use std::rc::Rc;

const PROBE: Duration = Duration::from_millis(10);
const CREATE_CHILD_SA: u8 = 36;

fn is_request(b: &[u8], exchange: u8) -> bool {
    b.len() > 19 && b[18] == exchange && b[19] & 0x20 == 0
}

fn is_response(b: &[u8], exchange: u8) -> bool {
    b.len() > 19 && b[18] == exchange && b[19] & 0x20 != 0
}

/// Both sides with a retransmission timeout of 1 s (no back-off) and Child SAs of `life`.
fn configs(life: Duration) -> (EndpointConfig, EndpointConfig) {
    let (mut l, mut r) = (SiteSpec::left().config(), SiteSpec::right().config());
    for c in [&mut l, &mut r] {
        c.gateways[0].retransmit.timeout = Duration::from_secs(1);
        c.gateways[0].retransmit.backoff_percent = 100;
        c.tunnels[0].lifetime = life;
    }
    (l, r)
}

fn up(p: &mut Pair) {
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
}

/// One Child SA pair on both sides, with matching SPIs and keys; one IKE SA each, the same.
fn converged(p: &Pair) -> bool {
    let (l, r) = (p.installed(Side::Left), p.installed(Side::Right));
    let (li, ri) = (p.left.ike_sas(), p.right.ike_sas());
    l.len() == 1
        && r.len() == 1
        && l[0].inbound.spi == r[0].outbound.spi
        && l[0].outbound.spi == r[0].inbound.spi
        && l[0].inbound.encryption_key == r[0].outbound.encryption_key
        && li.len() == 1
        && ri.len() == 1
        && (li[0].spi_i, li[0].spi_r) == (ri[0].spi_i, ri[0].spi_r)
        && li[0].established
}

fn lost(p: &Pair) -> (Probes, Probes) {
    (p.probes(Side::Left), p.probes(Side::Right))
}

/// Stops the probes and lets those on the wire arrive.
fn drain(p: &mut Pair) {
    p.stop_probes();
    p.drive_for(Duration::from_millis(200));
    assert_eq!(p.probes_in_flight(), 0);
}

fn failures(p: &Pair) -> Vec<&Event> {
    p.left_events
        .iter()
        .chain(&p.right_events)
        .filter(|e| {
            matches!(
                e,
                Event::Phase2Failed { .. } | Event::IkeSaDown { .. } | Event::Phase1Failed { .. }
            ) || matches!(e, Event::ChildSaDown { reason, .. } if *reason != Reason::DeletedByPeer && *reason != Reason::DeletedLocally)
        })
        .collect()
}

/// The lost-answer case, with a datapath that follows the events or one that switches at once.
/// Returns the probes lost.
fn lost_answer(naive: bool) -> u64 {
    let (l, r) = configs(Duration::from_secs(3600));
    let mut p = Pair::new(l, r, 101);
    if naive {
        p.naive_datapaths();
    }
    up(&mut p);
    p.start_probes(PROBE);
    p.drive_for(Duration::from_secs(1));
    let old = p.installed(Side::Left)[0].inbound.spi;
    // The right side's first CREATE_CHILD_SA response is lost; the left side retransmits its
    // request a second later and gets the cached answer.
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    p.tamper = Some(Box::new(move |from, _, b| {
        if from == Side::Right && is_response(b, CREATE_CHILD_SA) && d.get() == 0 {
            d.set(1);
            return Verdict::Drop;
        }
        Verdict::Deliver
    }));
    p.left.rekey_child(p.now, "tun").unwrap();
    p.drive_for(Duration::from_secs(4));
    drain(&mut p);
    assert_eq!(dropped.get(), 1);
    assert!(converged(&p));
    assert_ne!(p.installed(Side::Left)[0].inbound.spi, old);
    let (l, r) = lost(&p);
    assert!(l.delivered + r.delivered > 900, "{l:?} {r:?}");
    l.lost() + r.lost()
}

/// ```text
/// left (initiator)                                  right (responder)
/// CREATE_CHILD_SA {N(REKEY_SA) SA Ni TSi TSr}  -->  new SA: ChildSaUp(outbound later)
///                          (lost)     X        <--  {SA Nr TSi TSr}
/// ... right keeps sending on the old SA; left has only the old one ...
/// CREATE_CHILD_SA (retransmitted)              -->
///                                              <--  {SA Nr TSi TSr} (from the cache)
/// new SA, sends on it at once
/// INFORMATIONAL {D(ESP old)}                   -->  ChildSaOutbound(new), ChildSaDown(old, linger)
/// ```
#[test]
fn the_responder_switches_when_the_initiator_has_the_new_sa() {
    assert_eq!(lost_answer(false), 0);
    // A datapath that sends on the responder's new SA at once loses a second of packets.
    let naive = lost_answer(true);
    assert!(naive >= 90, "naive datapath lost {naive}");
}

#[test]
fn the_responder_announces_the_switch_right_before_the_old_sa_goes() {
    let (l, r) = configs(Duration::from_secs(3600));
    let mut p = Pair::new(l, r, 102);
    up(&mut p);
    let old = p.installed(Side::Right)[0].inbound.spi;
    let before = p.right_events.len();
    p.left.rekey_child(p.now, "tun").unwrap();
    p.drive_for(Duration::from_secs(2));
    let ev = &p.right_events[before..];
    let new = match &ev[0] {
        Event::ChildSaUp {
            role: Role::Responder,
            outbound: Outbound::Later,
            replaces: Some(o),
            child,
            ..
        } if *o == old => child.inbound.spi,
        e => panic!("{e:?}"),
    };
    assert!(matches!(&ev[1], Event::ChildSaOutbound { inbound_spi, .. } if *inbound_spi == new));
    assert!(
        matches!(&ev[2], Event::ChildSaDown { inbound_spi, linger, .. }
        if *inbound_spi == old && *linger == ikev2::REKEYED_LINGER)
    );
    assert_eq!(ev.len(), 3);
    // The initiator sends on its new SA at once.
    assert!(p.left_events.iter().any(|e| matches!(
        e,
        Event::ChildSaUp {
            role: Role::Initiator,
            outbound: Outbound::Now,
            replaces: Some(_),
            ..
        }
    )));
}

/// The soft-lifetime rekey of the left side's Child SA (30 s) reaches the right side while the
/// right side's IKE SA rekey is in flight (its requests held back): TEMPORARY_FAILURE (RFC 7296
/// section 2.25). The left side retries after a short random delay, on the IKE SA the right
/// side's rekey made, well before the hard lifetime.
///
/// ```text
/// left                                             right
///                                             <--  CREATE_CHILD_SA {SA(IKE) Ni KEi} (held)
/// CREATE_CHILD_SA {N(REKEY_SA) SA Ni TSi TSr} -->
///                                             <--  {N(TEMPORARY_FAILURE)}
///                                             <--  CREATE_CHILD_SA {SA(IKE) ...} (retransmitted)
/// {SA Nr KEr}                                 -->  (new IKE SA; the Child SA moves)
/// ... 0.5-2.5 s later, on the new IKE SA ...
/// CREATE_CHILD_SA {N(REKEY_SA) SA Ni TSi TSr} -->
///                                             <--  {SA Nr TSi TSr}
/// ```
#[test]
fn a_rekey_refused_with_temporary_failure_is_retried() {
    for seed in 110..114 {
        let (l, mut r) = configs(Duration::from_secs(30));
        r.tunnels[0].lifetime = Duration::from_secs(3600);
        let mut p = Pair::new(l, r, seed);
        up(&mut p);
        p.start_probes(PROBE);
        let old = p.installed(Side::Left)[0].inbound.spi;
        p.drive_for(Duration::from_secs(24));
        // Hold the right side's IKE rekey until it has refused the left side's rekey.
        let refused = Rc::new(Cell::new(false));
        let f = refused.clone();
        p.tamper = Some(Box::new(move |from, _, b| {
            if from == Side::Right && is_response(b, CREATE_CHILD_SA) {
                f.set(true);
            }
            if from == Side::Right && is_request(b, CREATE_CHILD_SA) && !f.get() {
                return Verdict::Drop;
            }
            Verdict::Deliver
        }));
        p.right.rekey_ike(p.now, "gw").unwrap();
        p.drive_for(Duration::from_secs(10));
        drain(&mut p);
        assert!(refused.get(), "seed {seed}");
        assert!(converged(&p), "seed {seed}");
        let rekeyed = p.left_events.iter().any(|e| {
            matches!(e, Event::ChildSaUp { replaces: Some(o), role: Role::Initiator, .. } if *o == old)
        });
        assert!(rekeyed, "seed {seed}");
        assert!(failures(&p).is_empty(), "seed {seed}: {:?}", failures(&p));
        let (l, r) = lost(&p);
        assert_eq!(l.lost() + r.lost(), 0, "seed {seed}: {l:?} {r:?}");
    }
}

/// The left side's soft-lifetime Child SA rekey is in flight (its requests held back) when the
/// right side rekeys the IKE SA: the left side answers, its old IKE SA is superseded, and the
/// Child SA rekey starts over on the new IKE SA instead of vanishing with the old one.
///
/// ```text
/// left                                             right
/// CREATE_CHILD_SA {N(REKEY_SA) ...} (held)    -->
///                                             <--  CREATE_CHILD_SA {SA(IKE) Ni KEi}
/// {SA Nr KEr}                                 -->  (new IKE SA; the Child SA moves)
///                                             <--  INFORMATIONAL {D(IKE)} (old IKE SA)
/// CREATE_CHILD_SA {N(REKEY_SA) ...} (new IKE SA) -->
///                                             <--  {SA Nr TSi TSr}
/// ```
#[test]
fn a_rekey_in_flight_moves_to_the_new_ike_sa() {
    for seed in 120..124 {
        let (l, mut r) = configs(Duration::from_secs(30));
        r.tunnels[0].lifetime = Duration::from_secs(3600);
        let mut p = Pair::new(l, r, seed);
        up(&mut p);
        p.start_probes(PROBE);
        let old = p.installed(Side::Left)[0].inbound.spi;
        let ike = p.left.ike_sas()[0].spi_i;
        let hold = Rc::new(Cell::new(true));
        let h = hold.clone();
        let held = Rc::new(Cell::new(0));
        let n = held.clone();
        p.tamper = Some(Box::new(move |from, _, b| {
            if from == Side::Left && is_request(b, CREATE_CHILD_SA) && h.get() {
                n.set(n.get() + 1);
                return Verdict::Drop;
            }
            Verdict::Deliver
        }));
        assert!(p.drive_until(Duration::from_secs(30), |_| held.get() > 0));
        p.right.rekey_ike(p.now, "gw").unwrap();
        assert!(p.drive_until(Duration::from_secs(5), |p| {
            p.right.ike_sas().iter().all(|s| s.spi_i != ike)
        }));
        hold.set(false);
        p.drive_for(Duration::from_secs(8));
        drain(&mut p);
        assert!(converged(&p), "seed {seed}");
        let rekeyed = p.left_events.iter().any(|e| {
            matches!(e, Event::ChildSaUp { replaces: Some(o), role: Role::Initiator, .. } if *o == old)
        });
        assert!(rekeyed, "seed {seed}");
        assert!(failures(&p).is_empty(), "seed {seed}: {:?}", failures(&p));
        let (l, r) = lost(&p);
        assert_eq!(l.lost() + r.lost(), 0, "seed {seed}: {l:?} {r:?}");
    }
}

/// Random bytes whose first byte is fixed and the rest a counter: a side's nonces grow, and
/// the side with the smaller `base` has all the smaller nonces.
#[derive(Debug)]
struct Scripted {
    base: u8,
    counter: std::sync::atomic::AtomicU64,
}

impl ipsec_core::crypto::SecureRandom for Scripted {
    fn fill(&self, buf: &mut [u8]) -> Result<(), ipsec_core::crypto::CryptoError> {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_be_bytes();
        for (j, b) in buf.iter_mut().rev().enumerate() {
            *b = n[7 - j % 8];
        }
        if let Some(first) = buf.first_mut() {
            *first = self.base;
        }
        Ok(())
    }
}

fn scripted(left_base: u8, right_base: u8) -> Pair {
    let ep = |cfg, base| {
        Endpoint::with_rng(
            cfg,
            ipsec_core::crypto::default_provider(),
            Box::new(Scripted {
                base,
                counter: 0x1000.into(),
            }),
        )
        .unwrap()
    };
    let (l, r) = configs(Duration::from_secs(3600));
    Pair::from_endpoints(ep(l, left_base), ep(r, right_base), 130)
}

/// Both peers rekey the IKE SA at once and both exchanges complete (RFC 7296 section 2.8.2): the
/// new SA whose exchange had the lowest of the four nonces is deleted by its creator, the other
/// inherits the Child SA, and the old one is deleted by the survivor's creator. No
/// TEMPORARY_FAILURE, no random pause: settled within a round trip or two.
///
/// ```text
/// left                                       right
/// CREATE_CHILD_SA {SA Ni(L) KEi}  -->  <--  CREATE_CHILD_SA {SA Ni(R) KEi}
///        {SA Nr(L) KEr}           -->  <--  {SA Nr(R) KEr}
/// (three IKE SAs: old, SA(L) from Ni(L)/Nr(R), SA(R) from Ni(R)/Nr(L))
/// the creator of the one with the lowest nonce deletes it; the other's creator deletes the old
/// ```
///
/// With the left side's nonces the smallest, its own Ni (made first) is the lowest: SA(L) goes
/// and SA(R) stays; with the bases swapped, SA(R) goes and SA(L) stays.
#[test]
fn crossing_ike_rekeys_are_settled_by_the_nonces() {
    for (left_base, right_base, survivor_role) in
        [(0x00, 0x80, Role::Responder), (0x80, 0x00, Role::Initiator)]
    {
        let mut p = scripted(left_base, right_base);
        up(&mut p);
        p.start_probes(PROBE);
        p.drive_for(Duration::from_millis(500));
        let first = p.left.ike_sas()[0].clone();
        p.left.rekey_ike(p.now, "gw").unwrap();
        p.right.rekey_ike(p.now, "gw").unwrap();
        assert!(p.drive_until(Duration::from_millis(500), |p| converged(p)
            && p.left.ike_sas()[0].spi_i != first.spi_i));
        p.drive_for(Duration::from_secs(2));
        drain(&mut p);
        assert!(converged(&p));
        let survivor = &p.left.ike_sas()[0];
        assert_eq!(survivor.role, survivor_role, "left {left_base:#x}");
        assert_eq!(
            survivor.children, first.children,
            "the Child SA moved unchanged"
        );
        // Each side reported the survivor only: the redundant SA came and went silently.
        for ev in [&p.left_events, &p.right_events] {
            let ups = ev
                .iter()
                .filter(|e| matches!(e, Event::IkeSaUp { .. }))
                .count();
            assert_eq!(ups, 2);
        }
        assert!(failures(&p).is_empty(), "{:?}", failures(&p));
        let (l, r) = lost(&p);
        assert_eq!(l.lost() + r.lost(), 0, "{l:?} {r:?}");
        assert!(l.delivered > 250 && r.delivered > 250);
    }
}

const INFORMATIONAL: u8 = 37;

/// The answer to the left side's Child SA rekey is on its way when the right side rekeys the
/// IKE SA (RFC 7296 section 2.8.2 leaves the Child SA work in flight to the implementations):
/// the answer arrives after the left side answered the IKE SA rekey, on the IKE SA that is now
/// superseded, before the right side's Delete of it. The Child SA the right side made is the
/// one both sides end up with; none is left behind on the right side, none goes with the old
/// IKE SA, and no packet is lost.
///
/// ```text
/// left                                             right
/// CREATE_CHILD_SA {N(REKEY_SA) SA Ni TSi TSr} -->  new Child SA (outbound later)
///                                  (delayed)  <--  {SA Nr TSi TSr}
///                                             <--  CREATE_CHILD_SA {SA(IKE) Ni KEi}
/// {SA Nr KEr}                                 -->  new IKE SA; the Child SAs move
///                                             <--  {SA Nr TSi TSr} (the delayed answer, old IKE SA)
///                                  (delayed)  <--  INFORMATIONAL {D(IKE)} (old IKE SA)
/// ```
#[test]
fn a_child_sa_answer_after_the_peers_ike_rekey_lands_on_the_new_ike_sa() {
    for seed in 130..134 {
        let (l, r) = configs(Duration::from_secs(3600));
        let mut p = Pair::new(l, r, seed);
        up(&mut p);
        p.start_probes(PROBE);
        p.drive_for(Duration::from_millis(500));
        let old = p.installed(Side::Left)[0].inbound.spi;
        let answer: Rc<std::cell::RefCell<Option<Vec<u8>>>> = Rc::default();
        let delete: Rc<std::cell::RefCell<Option<Vec<u8>>>> = Rc::default();
        let hold = Rc::new(Cell::new(true));
        let (a, d, h) = (answer.clone(), delete.clone(), hold.clone());
        p.tamper = Some(Box::new(move |from, _, b| {
            if from != Side::Right || !h.get() {
                return Verdict::Deliver;
            }
            if is_response(b, CREATE_CHILD_SA) && a.borrow().is_none() {
                *a.borrow_mut() = Some(b.clone());
                return Verdict::Drop;
            }
            if is_request(b, INFORMATIONAL) && a.borrow().is_some() {
                *d.borrow_mut() = Some(b.clone());
                return Verdict::Drop;
            }
            Verdict::Deliver
        }));
        p.left.rekey_child(p.now, "tun").unwrap();
        assert!(p.drive_until(Duration::from_secs(1), |_| answer.borrow().is_some()));
        p.right.rekey_ike(p.now, "gw").unwrap();
        assert!(
            p.drive_until(Duration::from_secs(1), |_| delete.borrow().is_some()),
            "seed {seed}: the right side deletes its old IKE SA"
        );
        hold.set(false);
        let held = answer.borrow_mut().take().unwrap();
        assert!(p.inject(Side::Right, "gw", &held[..]));
        p.drive_for(Duration::from_millis(100));
        let held = delete.borrow_mut().take().unwrap();
        assert!(p.inject(Side::Right, "gw", &held[..]));
        p.drive_for(Duration::from_secs(8));
        drain(&mut p);
        assert_rekeyed_without_loss(&p, seed, old);
    }
}

/// Our Child SA rekey is answered, the answer is lost, and the peer rekeys the IKE SA before our
/// retransmission gets through: the rekey moves to the new IKE SA as a new request, and the peer
/// answers it with a second successor of the same old SA. The first one exists on the peer's
/// side only; it must go, not outlive the old SA as a second Child SA the initiator never had.
#[test]
fn a_rekey_asked_again_after_a_lost_answer_leaves_no_orphan_on_the_responder() {
    for seed in 140..144 {
        let (l, r) = configs(Duration::from_secs(3600));
        let mut p = Pair::new(l, r, seed);
        up(&mut p);
        p.start_probes(PROBE);
        p.drive_for(Duration::from_millis(500));
        let old = p.installed(Side::Left)[0].inbound.spi;
        let lost_answer = Rc::new(Cell::new(false));
        let l2 = lost_answer.clone();
        p.tamper = Some(Box::new(move |from, _, b| {
            if from == Side::Right && !l2.get() && is_response(b, CREATE_CHILD_SA) {
                l2.set(true);
                return Verdict::Drop;
            }
            Verdict::Deliver
        }));
        p.left.rekey_child(p.now, "tun").unwrap();
        assert!(p.drive_until(Duration::from_secs(1), |_| lost_answer.get()));
        assert_eq!(p.installed(Side::Right).len(), 2, "seed {seed}");
        p.right.rekey_ike(p.now, "gw").unwrap();
        p.drive_for(Duration::from_secs(30));
        drain(&mut p);
        assert_rekeyed_without_loss(&p, seed, old);
    }
}

/// One Child SA pair on both sides, not the one before the rekey, no failure and no probe lost.
fn assert_rekeyed_without_loss(p: &Pair, seed: u64, old: u32) {
    let spis = |s| {
        p.installed(s)
            .iter()
            .map(|c| c.inbound.spi)
            .collect::<Vec<_>>()
    };
    assert!(
        converged(p),
        "seed {seed}: left {:x?} right {:x?}\nleft {:#?}\nright {:#?}",
        spis(Side::Left),
        spis(Side::Right),
        p.left_events,
        p.right_events
    );
    assert_ne!(p.installed(Side::Left)[0].inbound.spi, old, "seed {seed}");
    assert!(failures(p).is_empty(), "seed {seed}: {:?}", failures(p));
    let (l, r) = lost(p);
    assert_eq!(l.lost() + r.lost(), 0, "seed {seed}: {l:?} {r:?}");
}
