//! Child SA hard lifetimes when the clock jumps (a host that slept, an embedder that polls
//! late): every expired Child SA is deleted, one INFORMATIONAL after the other, and
//! `handle_timeout` returns.

use core::time::Duration;
use ikev2::testing::{Pair, Side, SiteSpec};
use ikev2::Event;
use ipsec_core::selector::TrafficSelector;
use std::sync::mpsc;

fn host(a: [u8; 4]) -> TrafficSelector {
    TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: a.into(),
        end_addr: a.into(),
    }
}

/// Two proxy IDs up, then one `handle_timeout` an hour and a half later, past the Child SAs'
/// one-hour hard lifetime and their rekey times.
///
/// ```text
/// left                                      right
/// handle_timeout(now + 90 min): both Child SAs expired, rekeys overdue
/// INFORMATIONAL D(ESP first SPI)  -->       (the second delete waits for the queue)
///                                 <--       D(ESP)
/// INFORMATIONAL D(ESP second SPI) -->
///                                 <--       D(ESP)
/// ```
#[test]
fn expired_child_sas_are_deleted_after_a_clock_jump() {
    let (tx, rx) = mpsc::channel();
    let run = std::thread::spawn(move || {
        let mut l = SiteSpec::left().config();
        let mut r = SiteSpec::right().config();
        for (c, (mine, theirs)) in [
            (&mut l, ([10, 1, 0, 9], [10, 2, 0, 9])),
            (&mut r, ([10, 2, 0, 9], [10, 1, 0, 9])),
        ] {
            let mut second = c.tunnels[0].proxy_ids[0].clone();
            second.name = "host".into();
            second.local = host(mine);
            second.remote = host(theirs);
            c.tunnels[0].proxy_ids.push(second);
        }
        let mut p = Pair::new(l, r, 31);
        p.left.connect(p.now, "tun").unwrap();
        p.drive();
        assert_eq!(p.left.ike_sas()[0].children.len(), 2);
        let late = p.now + Duration::from_secs(90 * 60);
        p.left.handle_timeout(late);
        tx.send(()).unwrap();
        p.now = late;
        p.drive();
        let downs = p
            .events(Side::Left)
            .iter()
            .filter(|e| matches!(e, Event::ChildSaDown { .. }))
            .count();
        tx.send(()).unwrap();
        (
            downs,
            p.left.ike_sas()[0].children.len(),
            p.right.ike_sas()[0].children.len(),
        )
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("handle_timeout returns after the clock jumped past two expiries");
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the pair settles");
    let (downs, left, right) = run.join().unwrap();
    assert_eq!(downs, 2, "both Child SAs reported down");
    assert_eq!((left, right), (0, 0), "and gone on both sides");
}
