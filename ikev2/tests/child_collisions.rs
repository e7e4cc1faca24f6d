//! Child SA exchanges that cross (RFC 7296 section 2.25): a Child SA deleted by the responder
//! of the CREATE_CHILD_SA that made it before the initiator has the answer must not be
//! installed by that answer; a late request that duplicates a Child SA the peer has since
//! rekeyed leaves one Child SA per proxy ID.

use core::time::Duration;
use ikev2::testing::{Pair, Side, SiteSpec, Verdict};
use ikev2::Event;
use std::cell::Cell;
use std::rc::Rc;

/// ```text
/// left                                          right
/// ... Child SA A up ...
///                                       <--     CREATE_CHILD_SA N(REKEY_SA A)     (msg 0)
/// answer: B installed  -- lost -->
/// delete_child(tun):
/// INFORMATIONAL D(ESP A)                -->     A deleted
///                                       <--     D(ESP A)
/// INFORMATIONAL D(ESP B)                -->     B unknown: answer pending, remembered
///                                       <--     (empty)
///                                       <--     CREATE_CHILD_SA (msg 0, retransmitted)
/// answer from the cache                 -->     B not installed
/// ```
#[test]
fn a_child_sa_deleted_before_its_answer_arrives_is_not_installed() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 41);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    p.tamper = Some(Box::new(move |side, _, bytes| {
        // The left's first CREATE_CHILD_SA answer (exchange 36, response flag).
        let answer = bytes.get(18) == Some(&36) && bytes.get(19).is_some_and(|f| f & 0x20 != 0);
        if side == Side::Left && answer && !d.get() {
            d.set(true);
            return Verdict::Drop;
        }
        Verdict::Deliver
    }));
    p.right.rekey_child(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(1), |p| p.left.ike_sas()[0]
            .children
            .len()
            == 2)
    );
    assert!(dropped.get());
    p.left.delete_child(p.now, "tun").unwrap();
    p.drive_for(Duration::from_secs(30));
    assert!(p.left.ike_sas()[0].children.is_empty());
    assert!(
        p.right.ike_sas()[0].children.is_empty(),
        "the right installed the Child SA the left deleted: {}",
        p.right.ike_sas()[0]
    );
    // The right reported only the first Child SA, up and down.
    let ups = p
        .events(Side::Right)
        .iter()
        .filter(|e| matches!(e, Event::ChildSaUp { .. }))
        .count();
    let downs = p
        .events(Side::Right)
        .iter()
        .filter(|e| matches!(e, Event::ChildSaDown { .. }))
        .count();
    assert_eq!((ups, downs), (1, 1));
}

/// `site`'s configuration plus a tunnel `tun2` with proxy ID `pid2` (`local` <-> `remote`).
fn with_second_tunnel(
    site: SiteSpec,
    local: [u8; 3],
    remote: [u8; 3],
) -> ikev2::config::EndpointConfig {
    let mut c = site.config();
    let mut t = c.tunnels[0].clone();
    t.name = "tun2".into();
    let net = |n: [u8; 3]| ipsec_core::selector::TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: [n[0], n[1], n[2], 0].into(),
        end_addr: [n[0], n[1], n[2], 255].into(),
    };
    t.proxy_ids[0].name = "pid2".into();
    t.proxy_ids[0].local = net(local);
    t.proxy_ids[0].remote = net(remote);
    c.tunnels.push(t);
    c
}

/// Both sides connect `tun2`; the left's request is lost, and before its retransmission
/// arrives the right has created the Child SA, rekeyed it and deleted the old one. The left's
/// request then makes a second Child SA for the same proxy ID: it is a duplicate of the
/// right's rekeyed one (same selectors), and the creator of the one from the lower nonces
/// deletes it.
///
/// ```text
/// left                                          right
/// CREATE_CHILD_SA (pid2, new)  -- lost -->
///                                       <--     CREATE_CHILD_SA (pid2, new): A
///                                       <--     CREATE_CHILD_SA N(REKEY_SA A): A'
///                                       <--     INFORMATIONAL D(A)
/// CREATE_CHILD_SA (pid2, new, again)    -->     B: a duplicate of A'
/// INFORMATIONAL D(A' or B)              <->     (by the creator of the one with lower nonces)
/// ```
#[test]
fn a_late_create_duplicating_a_rekeyed_child_sa_is_resolved() {
    for seed in 42..46 {
        let l = with_second_tunnel(SiteSpec::left(), [10, 11, 0], [10, 12, 0]);
        let r = with_second_tunnel(SiteSpec::right(), [10, 12, 0], [10, 11, 0]);
        let mut p = Pair::new(l, r, seed);
        p.left.connect(p.now, "tun").unwrap();
        assert!(
            p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
                && p.tunnel_up(Side::Right))
        );
        let drop_left_requests = Rc::new(Cell::new(true));
        let d = drop_left_requests.clone();
        p.tamper = Some(Box::new(move |side, _, bytes| {
            let request =
                bytes.get(18) == Some(&36) && bytes.get(19).is_some_and(|f| f & 0x20 == 0);
            if side == Side::Left && request && d.get() {
                return Verdict::Drop;
            }
            Verdict::Deliver
        }));
        p.left.connect(p.now, "tun2").unwrap();
        p.right.connect(p.now, "tun2").unwrap();
        p.drive_for(Duration::from_millis(500));
        p.right.rekey_child(p.now, "tun2").unwrap();
        p.drive_for(Duration::from_millis(500));
        drop_left_requests.set(false);
        p.drive_for(Duration::from_secs(30));
        let count = |ep: &ikev2::Endpoint| {
            ep.ike_sas()[0]
                .children
                .iter()
                .filter(|c| c.tunnel == "tun2")
                .count()
        };
        assert_eq!(
            (count(&p.left), count(&p.right)),
            (1, 1),
            "seed {seed}: {}{}",
            p.left.ike_sas()[0],
            p.right.ike_sas()[0]
        );
        let (lc, rc) = (
            p.left.ike_sas()[0]
                .children
                .iter()
                .find(|c| c.tunnel == "tun2")
                .unwrap()
                .clone(),
            p.right.ike_sas()[0]
                .children
                .iter()
                .find(|c| c.tunnel == "tun2")
                .unwrap()
                .clone(),
        );
        assert_eq!(
            (lc.inbound_spi, lc.outbound_spi),
            (rc.outbound_spi, rc.inbound_spi)
        );
    }
}
