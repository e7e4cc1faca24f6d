//! PAN-OS keeps re-initiating toward a non-passive gateway after dead-peer detection, with a
//! back-off between failed attempts (`EndpointConfig::restart_retry`, doubling up to
//! `restart_retry_max`), in the [`Pair`] harness.

use core::time::Duration;
use ikev2::testing::{Pair, Side, SiteSpec, Verdict};
use ikev2::{Event, Reason};
use std::cell::Cell;
use std::rc::Rc;

fn up(p: &mut Pair) {
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
}

/// How many Phase 1 failures by timeout `events` holds.
fn timeouts(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Phase1Failed {
                    reason: Reason::Timeout,
                    ..
                }
            )
        })
        .count()
}

/// The right peer drops off the network for 20 minutes, then comes back.
///
/// ```text
/// left                                     right (silent)
/// ... tunnel up ...
/// INFORMATIONAL SK{}        -->x  liveness unanswered: IkeSaDown(DeadPeer)
/// IKE_SA_INIT               -->x  restart after 2 s; retransmissions run out: Phase1Failed
/// IKE_SA_INIT               -->x  again after 5 s, then 10 s, 20 s ... up to 5 min
/// ...                                      (back on the network)
/// IKE_SA_INIT               -->
///                           <--   IKE_SA_INIT
/// IKE_AUTH                  -->
///                           <--   IKE_AUTH: tunnel up, no new connect
/// ```
#[test]
fn restart_keeps_trying_until_the_peer_is_back() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 81);
    up(&mut p);
    let silent = Rc::new(Cell::new(true));
    let s = silent.clone();
    p.tamper = Some(Box::new(move |_, _, _| {
        if s.get() {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    }));
    p.drive_for(Duration::from_secs(20 * 60));
    assert!(p.left_events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: Reason::DeadPeer,
            ..
        }
    )));
    let failed = timeouts(&p.left_events);
    // Without retries there would be one failed restart; with 5 s doubling to 5 min and each
    // attempt taking its retransmissions, 20 minutes hold several.
    assert!(failed >= 4, "{failed} failed restart attempts");
    assert!(
        p.left.poll_timeout().is_some(),
        "a further attempt is scheduled"
    );
    assert!(!p.tunnel_up(Side::Left));

    silent.set(false);
    let events_before = p.left_events.len();
    let back = p.drive_until(Duration::from_secs(8 * 60), |p| {
        p.tunnel_up(Side::Left) && p.tunnel_up(Side::Right)
    });
    assert!(back, "{:?}", &p.left_events[events_before..]);
    assert!(p.left_events[events_before..]
        .iter()
        .any(|e| matches!(e, Event::ChildSaUp { .. })));
}

/// The back-off doubles from `restart_retry` and stops growing at `restart_retry_max`: with a
/// cap of 10 s instead of 5 min, the same silence holds many more attempts.
#[test]
fn restart_back_off_is_capped_by_the_config() {
    let count = |cap: Duration| {
        let mut l = SiteSpec::left().config();
        l.restart_retry = Duration::from_secs(5);
        l.restart_retry_max = cap;
        let mut p = Pair::new(l, SiteSpec::right().config(), 82);
        up(&mut p);
        p.tamper = Some(Box::new(|_, _, _| Verdict::Drop));
        p.drive_for(Duration::from_secs(30 * 60));
        timeouts(&p.left_events)
    };
    let capped = count(Duration::from_secs(10));
    let default = count(Duration::from_secs(300));
    assert!(capped > default, "capped {capped}, default {default}");
}

/// After each failed restart attempt the next one is scheduled 5 s, then 10 s, then 20 s later.
#[test]
fn restart_waits_double_after_each_failure() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 84);
    up(&mut p);
    p.tamper = Some(Box::new(|_, _, _| Verdict::Drop));
    for (n, secs) in [(1, 5), (2, 10), (3, 20)] {
        assert!(
            p.drive_until(Duration::from_secs(30 * 60), |p| timeouts(&p.left_events)
                == n)
        );
        let next = p.left.poll_timeout().expect("a restart is scheduled");
        assert_eq!(next - p.now, Duration::from_secs(secs), "after failure {n}");
    }
}

/// An IKE SA deleted by command is not restarted.
#[test]
fn deleted_ike_sa_is_not_restarted() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 83);
    up(&mut p);
    p.left.delete_ike(p.now, "gw").unwrap();
    p.drive_for(Duration::from_secs(600));
    assert!(p.left.ike_sas().is_empty() && p.right.ike_sas().is_empty());
    assert!(!p
        .left_events
        .iter()
        .any(|e| matches!(e, Event::Phase1Failed { .. })));
}
