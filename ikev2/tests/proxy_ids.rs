//! One Child SA per proxy ID (as PAN-OS negotiates them), in the [`Pair`] harness: both come up
//! from either side, a refused proxy ID leaves the others and the IKE SA alone, and a dead-peer
//! restart or an IKE SA rekey keeps all of them.

use core::time::Duration;
use ikev2::config::{EndpointConfig, ProxyId};
use ikev2::testing::{Pair, Side, SiteSpec, Verdict};
use ikev2::{Event, Reason};
use ipsec_core::child_sa::ChildSa;
use ipsec_core::selector::{IpPrefix, TrafficSelector};

fn sel(p: &str) -> TrafficSelector {
    let p: IpPrefix = p.parse().unwrap();
    TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: p.network(),
        end_addr: p.last(),
    }
}

/// `site`'s configuration with a second proxy ID `pid2` (`local` <-> `remote`) on tunnel `tun`.
fn two_proxy_ids(site: SiteSpec, local: &str, remote: &str) -> EndpointConfig {
    let mut c = site.config();
    c.tunnels[0].proxy_ids.push(ProxyId {
        name: "pid2".into(),
        local: sel(local),
        remote: sel(remote),
    });
    c
}

fn left() -> EndpointConfig {
    two_proxy_ids(SiteSpec::left(), "10.11.0.0/24", "10.12.0.0/24")
}

fn right() -> EndpointConfig {
    two_proxy_ids(SiteSpec::right(), "10.12.0.0/24", "10.11.0.0/24")
}

/// The Child SAs `side` installed (from its events), keys included.
fn children(p: &Pair, side: Side) -> Vec<ChildSa> {
    p.installed(side).to_vec()
}

fn both_have(p: &Pair, n: usize) -> bool {
    children(p, Side::Left).len() == n && children(p, Side::Right).len() == n
}

fn child_of<'a>(v: &'a [ChildSa], proxy_id: &str) -> &'a ChildSa {
    v.iter()
        .find(|c| c.proxy_id.as_deref() == Some(proxy_id))
        .unwrap_or_else(|| panic!("no Child SA for {proxy_id} in {v:?}"))
}

/// Checks both Child SAs of tunnel `tun` on both sides: names, selectors, SPIs and keys pair up.
fn check_pair_of_children(p: &Pair) {
    let (l, r) = (children(p, Side::Left), children(p, Side::Right));
    for (pid, left_net, right_net) in [
        ("pid", "10.1.0.0/24", "10.2.0.0/24"),
        ("pid2", "10.11.0.0/24", "10.12.0.0/24"),
    ] {
        let (lc, rc) = (child_of(&l, pid), child_of(&r, pid));
        assert_eq!((lc.tunnel.as_str(), rc.tunnel.as_str()), ("tun", "tun"));
        assert_eq!(lc.local_ts, vec![sel(left_net)], "{pid}");
        assert_eq!(lc.remote_ts, vec![sel(right_net)], "{pid}");
        assert_eq!(rc.local_ts, vec![sel(right_net)], "{pid}");
        assert_eq!(rc.remote_ts, vec![sel(left_net)], "{pid}");
        assert_eq!(lc.outbound.spi, rc.inbound.spi, "{pid}");
        assert_eq!(lc.inbound.spi, rc.outbound.spi, "{pid}");
        assert_eq!(lc.outbound.encryption_key, rc.inbound.encryption_key);
    }
    let mut spis: Vec<u32> = l.iter().chain(&r).map(|c| c.inbound.spi).collect();
    spis.sort_unstable();
    spis.dedup();
    assert_eq!(spis.len(), 4, "four distinct inbound SPIs: {l:?} {r:?}");
    assert_ne!(
        child_of(&l, "pid").outbound.encryption_key,
        child_of(&l, "pid2").outbound.encryption_key
    );
}

fn connect_and_wait(p: &mut Pair, side: Side) {
    let now = p.now;
    p.endpoint(side).connect(now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(10), |p| both_have(p, 2)),
        "{:?}\n{:?}",
        p.left_events,
        p.right_events
    );
}

fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

/// ```text
/// left (initiator)                                    right (responder)
/// IKE_SA_INIT                                   -->
///                                               <--   IKE_SA_INIT
/// IKE_AUTH SK{IDi AUTH SAi2 TSi=10.1/24 TSr=10.2/24}  -->  (proxy ID pid)
///                                               <--   SK{IDr AUTH SAr2 TSi TSr}
/// CREATE_CHILD_SA SK{SA Ni TSi=10.11/24 TSr=10.12/24} -->  (proxy ID pid2)
///                                               <--   SK{SA Nr TSi TSr}
/// ```
#[test]
fn every_proxy_id_comes_up_as_its_own_child_sa() {
    let mut p = Pair::new(left(), right(), 61);
    connect_and_wait(&mut p, Side::Left);
    check_pair_of_children(&p);
    let up = |e: &Event| matches!(e, Event::ChildSaUp { .. });
    assert_eq!(count(&p.left_events, up), 2);
    assert_eq!(count(&p.right_events, up), 2);
    assert_eq!(p.left.ike_sas().len(), 1, "one IKE SA carries both");
    // Connecting again adds nothing: both proxy IDs are up.
    p.left.connect(p.now, "tun").unwrap();
    p.drive_for(Duration::from_secs(3));
    assert_eq!(count(&p.left_events, up), 2);
    assert!(both_have(&p, 2));
}

/// The same, with the right side initiating: the left responder picks the proxy ID that
/// matches each request.
///
/// ```text
/// left (responder)                                    right (initiator)
///                                               <--   IKE_SA_INIT, IKE_AUTH (pid)
/// IKE_SA_INIT, IKE_AUTH                         -->
///                                               <--   CREATE_CHILD_SA (pid2)
/// SK{SA Nr TSi TSr}                             -->
/// ```
#[test]
fn the_responder_matches_each_request_to_its_proxy_id() {
    let mut p = Pair::new(left(), right(), 62);
    connect_and_wait(&mut p, Side::Right);
    check_pair_of_children(&p);
}

/// The right side's second proxy ID does not match the left's (10.13.0.0/24 instead of
/// 10.11.0.0/24).
///
/// ```text
/// left                                                right
/// IKE_SA_INIT / IKE_AUTH (pid)                  <->   pid up
/// CREATE_CHILD_SA SK{SA Ni TSi=10.11/24 TSr=10.12/24} -->  no proxy ID covers it
///                                               <--   SK{N(TS_UNACCEPTABLE)}
/// ```
///
/// pid stays up, and so does the IKE SA.
#[test]
fn a_refused_proxy_id_leaves_the_others_up() {
    let r = two_proxy_ids(SiteSpec::right(), "10.12.0.0/24", "10.13.0.0/24");
    let mut p = Pair::new(left(), r, 63);
    p.left.connect(p.now, "tun").unwrap();
    let failed = |e: &Event| {
        matches!(
            e,
            Event::Phase2Failed {
                reason: Reason::TsUnacceptable { .. },
                ..
            }
        )
    };
    assert!(p.drive_until(Duration::from_secs(10), |p| {
        count(&p.left_events, failed) == 1 && count(&p.right_events, failed) == 1
    }));
    p.drive_for(Duration::from_secs(3));
    let text = p
        .left_events
        .iter()
        .find(|e| failed(e))
        .map(|e| e.to_string())
        .unwrap();
    assert!(text.contains("10.11.0.0/24"), "{text}");
    assert!(text.contains("TS_UNACCEPTABLE"), "{text}");
    assert!(both_have(&p, 1));
    let l = children(&p, Side::Left);
    assert_eq!(l[0].proxy_id.as_deref(), Some("pid"));
    assert_eq!(l[0].local_ts, vec![sel("10.1.0.0/24")]);
    assert!(p.left.ike_sas()[0].established && p.right.ike_sas()[0].established);
    assert!(!p
        .left_events
        .iter()
        .chain(&p.right_events)
        .any(|e| matches!(e, Event::IkeSaDown { .. } | Event::ChildSaDown { .. })));
}

/// The right side's first proxy ID does not match (10.9.0.0/24 instead of 10.1.0.0/24): the
/// Child SA of IKE_AUTH fails, the IKE SA is up, and the second proxy ID follows anyway.
///
/// ```text
/// left                                                right
/// IKE_AUTH SK{IDi AUTH SAi2 TSi=10.1/24 TSr=10.2/24}  -->
///                                               <--   SK{IDr AUTH N(TS_UNACCEPTABLE)}
/// CREATE_CHILD_SA SK{SA Ni TSi=10.11/24 TSr=10.12/24} -->  (pid2)
///                                               <--   SK{SA Nr TSi TSr}
/// ```
#[test]
fn a_refused_first_proxy_id_does_not_stop_the_next() {
    let mut rs = SiteSpec::right();
    rs.remote_net = "10.9.0.0/24";
    let r = two_proxy_ids(rs, "10.12.0.0/24", "10.11.0.0/24");
    let mut p = Pair::new(left(), r, 66);
    p.left.connect(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(10), |p| both_have(p, 1)));
    p.drive_for(Duration::from_secs(3));
    assert!(both_have(&p, 1));
    let l = children(&p, Side::Left);
    assert_eq!(l[0].proxy_id.as_deref(), Some("pid2"));
    assert_eq!(l[0].local_ts, vec![sel("10.11.0.0/24")]);
    let failed = |e: &Event| {
        matches!(
            e,
            Event::Phase2Failed {
                reason: Reason::TsUnacceptable { .. },
                ..
            }
        )
    };
    assert_eq!(count(&p.left_events, failed), 1);
    assert_eq!(count(&p.right_events, failed), 1);
    assert!(p.left.ike_sas()[0].established);
}

/// ```text
/// left                                                right
/// ... pid and pid2 up ...
/// INFORMATIONAL SK{}                            --x   (right's answers are lost)
/// ChildSaDown x2, IkeSaDown(DeadPeer)
/// IKE_SA_INIT, IKE_AUTH (pid, INITIAL_CONTACT)  -->   (after the restart delay; the network
///                                               <--    works again)
/// CREATE_CHILD_SA (pid2)                        -->
///                                               <--
/// ```
///
/// The right gateway is passive, so only the left one starts over.
#[test]
fn a_dead_peer_restart_brings_every_proxy_id_back() {
    let mut r = right();
    r.gateways[0].passive = true;
    let mut p = Pair::new(left(), r, 64);
    connect_and_wait(&mut p, Side::Left);
    let before: Vec<u32> = children(&p, Side::Left)
        .iter()
        .map(|c| c.inbound.spi)
        .collect();
    p.tamper = Some(Box::new(|side, _, _| {
        if side == Side::Right {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    }));
    let dead = |e: &Event| {
        matches!(
            e,
            Event::IkeSaDown {
                reason: Reason::DeadPeer,
                ..
            }
        )
    };
    assert!(
        p.drive_until(Duration::from_secs(400), |p| count(&p.left_events, dead)
            == 1)
    );
    let gone = |e: &Event| {
        matches!(
            e,
            Event::ChildSaDown {
                reason: Reason::IkeSaGone,
                ..
            }
        )
    };
    assert_eq!(count(&p.left_events, gone), 2);
    p.tamper = None;
    assert!(
        p.drive_until(Duration::from_secs(30), |p| both_have(p, 2)),
        "{:?}",
        p.left_events
    );
    check_pair_of_children(&p);
    let after: Vec<u32> = children(&p, Side::Left)
        .iter()
        .map(|c| c.inbound.spi)
        .collect();
    assert!(after.iter().all(|s| !before.contains(s)), "new Child SAs");
    assert_eq!(p.right.ike_sas().len(), 1, "the stale IKE SA is gone");
}

/// ```text
/// left                                                right
/// ... pid and pid2 up ...
/// CREATE_CHILD_SA SK{SA(IKE) Ni KEi}            -->
///                                               <--   SK{SA Nr KEr}
/// INFORMATIONAL SK{D(IKE)} (old IKE SA)         <->
/// ```
///
/// Both Child SAs move to the new IKE SA, unchanged.
#[test]
fn an_ike_rekey_keeps_every_proxy_id() {
    let mut p = Pair::new(left(), right(), 65);
    connect_and_wait(&mut p, Side::Left);
    let before = children(&p, Side::Left);
    let old_spi = p.left.ike_sas()[0].spi_i;
    p.left.rekey_ike(p.now, "gw").unwrap();
    assert!(p.drive_until(Duration::from_secs(10), |p| {
        p.left.ike_sas().len() == 1 && p.left.ike_sas()[0].spi_i != old_spi
    }));
    assert!(both_have(&p, 2));
    assert_eq!(children(&p, Side::Left), before);
    check_pair_of_children(&p);
    // The rekeyed IKE SA still carries new exchanges for both: a Child SA rekey of the tunnel
    // replaces each proxy ID's SA.
    p.left.rekey_child(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(10), |p| {
        both_have(p, 2)
            && children(p, Side::Left)
                .iter()
                .all(|c| !before.iter().any(|b| b.inbound.spi == c.inbound.spi))
    }));
    check_pair_of_children(&p);
}

/// Child SA work queued behind an IKE SA rekey moves to the new IKE SA instead of being lost.
///
/// ```text
/// left                                                right
/// ... pid and pid2 up; rekey_ike, then delete_child(tun) queued ...
/// CREATE_CHILD_SA SK{SA(IKE) Ni KEi}            -->
///                                               <--   SK{SA Nr KEr}
/// INFORMATIONAL SK{D(IKE)} (old IKE SA)         <->
/// INFORMATIONAL SK{D(ESP pid)}  (new IKE SA)    <->
/// INFORMATIONAL SK{D(ESP pid2)}                 <->
/// ... connect(tun): pid and pid2 again, by CREATE_CHILD_SA on the new IKE SA ...
/// ```
#[test]
fn child_work_queued_behind_an_ike_rekey_is_kept() {
    let mut p = Pair::new(left(), right(), 67);
    connect_and_wait(&mut p, Side::Left);
    let old_spi = p.left.ike_sas()[0].spi_i;
    p.left.rekey_ike(p.now, "gw").unwrap();
    p.left.delete_child(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(10), |p| {
        let sas = p.left.ike_sas();
        sas.len() == 1 && sas[0].spi_i != old_spi && both_have(p, 0)
    }));
    let down = |e: &Event| matches!(e, Event::ChildSaDown { .. });
    assert_eq!(count(&p.left_events, down), 2);
    assert_eq!(count(&p.right_events, down), 2);
    p.left.connect(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(10), |p| both_have(p, 2)));
    check_pair_of_children(&p);
    assert_eq!(p.left.ike_sas().len(), 1);
    assert_ne!(p.left.ike_sas()[0].spi_i, old_spi);
}

/// Both gateways active: both see the peer dead (the right side's datagrams are lost, so its
/// own liveness checks go unanswered too) and both start over at once.
///
/// ```text
/// left                                                right
/// IKE_SA_INIT, IKE_AUTH (pid)                   <->   IKE_SA_INIT, IKE_AUTH (pid)
///   (INITIAL_CONTACT on each side ends the other's fresh IKE SA: one survives)
/// CREATE_CHILD_SA (pid2)                        -->
///                                               <--   CREATE_CHILD_SA (pid2)   (crossing)
/// INFORMATIONAL SK{D(ESP)}  (the pid2 SA of the exchange with the lowest nonce, by its creator)
/// ```
///
/// Each proxy ID ends with exactly one Child SA on each side.
#[test]
fn simultaneous_restarts_settle_on_one_child_sa_per_proxy_id() {
    for seed in 60..66 {
        let mut p = Pair::new(left(), right(), seed);
        connect_and_wait(&mut p, Side::Left);
        p.tamper = Some(Box::new(|side, _, _| {
            if side == Side::Right {
                Verdict::Drop
            } else {
                Verdict::Deliver
            }
        }));
        let dead = |e: &Event| {
            matches!(
                e,
                Event::IkeSaDown {
                    reason: Reason::DeadPeer,
                    ..
                }
            )
        };
        assert!(p.drive_until(Duration::from_secs(400), |p| {
            count(&p.left_events, dead) == 1
        }));
        p.tamper = None;
        p.drive_for(Duration::from_secs(30));
        assert!(both_have(&p, 2), "seed {seed}: {:?}", p.left.ike_sas());
        check_pair_of_children(&p);
        assert_eq!(p.left.ike_sas().len(), 1, "seed {seed}");
        assert_eq!(p.right.ike_sas().len(), 1, "seed {seed}");
    }
}

/// An IKE SA rekey crossing the peer's Child SA rekeys (RFC 7296 section 2.25.2): the right
/// refuses the IKE rekey with TEMPORARY_FAILURE while its own CREATE_CHILD_SA is unanswered, so
/// that answer is not lost on the old IKE SA after the Child SAs moved; the left retries later.
///
/// ```text
/// left                                                right
/// ... pid and pid2 up ...
///                                               <--   CREATE_CHILD_SA N(REKEY_SA pid)
/// CREATE_CHILD_SA SA(IKE) Ni KEi                -->   (crossing)
///                                               <--   N(TEMPORARY_FAILURE)
/// answer (pid rekeyed)                          -->
///       ... pid2 rekeyed, old SAs deleted; the left's IKE rekey retried and done ...
/// ```
///
/// Each proxy ID ends with one Child SA on each side, paired, every one reported.
#[test]
fn an_ike_rekey_crossing_child_rekeys_loses_nothing() {
    for seed in 70..74 {
        let mut p = Pair::new(left(), right(), seed);
        connect_and_wait(&mut p, Side::Left);
        let old_spi = p.left.ike_sas()[0].spi_i;
        p.right.rekey_child(p.now, "tun").unwrap();
        p.left.rekey_ike(p.now, "gw").unwrap();
        p.drive_for(Duration::from_secs(30));
        assert_eq!(p.left.ike_sas().len(), 1, "seed {seed}");
        assert_ne!(
            p.left.ike_sas()[0].spi_i,
            old_spi,
            "seed {seed}: the IKE SA was rekeyed"
        );
        assert!(both_have(&p, 2), "seed {seed}: {:?}", p.right.ike_sas());
        check_pair_of_children(&p);
        // What the events reported up and not down is what is installed, on both sides.
        for side in [Side::Left, Side::Right] {
            let mut up: Vec<u32> = Vec::new();
            for e in p.events(side) {
                match e {
                    Event::ChildSaUp { child, .. } => up.push(child.inbound.spi),
                    Event::ChildSaDown { inbound_spi, .. } => up.retain(|s| s != inbound_spi),
                    _ => {}
                }
            }
            let mut installed: Vec<u32> =
                children(&p, side).iter().map(|c| c.inbound.spi).collect();
            up.sort_unstable();
            installed.sort_unstable();
            assert_eq!(up, installed, "seed {seed}, {side:?}");
        }
    }
}

/// `rekey_child` called again before the first rekey is done (an embedder acting on each soft
/// lifetime event of a tunnel's Child SAs): the rekeys already under way are not repeated, and
/// each proxy ID ends with one Child SA, the successor, on each side.
#[test]
fn a_repeated_rekey_command_rekeys_each_proxy_id_once() {
    let mut p = Pair::new(left(), right(), 68);
    connect_and_wait(&mut p, Side::Left);
    let before = children(&p, Side::Left);
    for _ in 0..3 {
        p.left.rekey_child(p.now, "tun").unwrap();
    }
    p.drive_for(Duration::from_secs(10));
    assert!(both_have(&p, 2), "{:?}", p.left.ike_sas());
    check_pair_of_children(&p);
    assert!(children(&p, Side::Left)
        .iter()
        .all(|c| !before.iter().any(|b| b.inbound.spi == c.inbound.spi)));
    let up = |e: &Event| matches!(e, Event::ChildSaUp { .. });
    assert_eq!(
        count(&p.left_events, up),
        4,
        "two first SAs, two successors"
    );
}

/// The peer rekeys the IKE SA while our delete of it waits in the queue (RFC 7296 section
/// 2.25.2): we refuse the rekey with TEMPORARY_FAILURE instead of making a successor that our
/// delete of the old SA would leave behind on our side only, holding the Child SAs.
///
/// ```text
/// left                                                right
///                                               <--   CREATE_CHILD_SA N(REKEY_SA pid)
/// INFORMATIONAL (liveness)                      -->
/// answer                                        -->
///                                               <--   CREATE_CHILD_SA SA(IKE)
/// N(TEMPORARY_FAILURE)                          -->
/// INFORMATIONAL D(IKE)                          -->   IKE SA and Child SAs gone
/// ```
///
/// Neither side keeps an IKE SA or a Child SA.
#[test]
fn an_ike_rekey_while_we_delete_the_ike_sa_leaves_nothing_behind() {
    // One proxy ID, and no liveness checks of their own: they would find the orphan late, not
    // prevent it.
    let quiet = |site: SiteSpec| {
        let mut c = site.config();
        c.gateways[0].liveness = None;
        c
    };
    for seed in 80..84 {
        let mut p = Pair::new(quiet(SiteSpec::left()), quiet(SiteSpec::right()), seed);
        p.left.connect(p.now, "tun").unwrap();
        assert!(
            p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
                && p.tunnel_up(Side::Right))
        );
        p.right.rekey_child(p.now, "tun").unwrap();
        p.right.rekey_ike(p.now, "gw").unwrap();
        p.left.liveness_check(p.now, "gw").unwrap();
        p.left.delete_ike(p.now, "gw").unwrap();
        p.drive_for(Duration::from_secs(60));
        assert!(
            p.left.ike_sas().is_empty() && p.right.ike_sas().is_empty(),
            "seed {seed}: left {:?} right {:?}",
            p.left.ike_sas(),
            p.right.ike_sas()
        );
    }
}
