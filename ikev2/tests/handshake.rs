//! IKE_SA_INIT + IKE_AUTH between two endpoints in the deterministic [`Pair`] harness.

use core::time::Duration;
use ikev2::testing::{Pair, Side, SiteSpec};
use ikev2::{Event, Role};

fn child_up(events: &[Event]) -> Option<&ipsec_core::child_sa::ChildSa> {
    events.iter().find_map(|e| match e {
        Event::ChildSaUp { child, .. } => Some(&**child),
        _ => None,
    })
}

/// ```text
/// left (initiator)                          right (responder)
/// IKE_SA_INIT SAi1 KEi Ni N(NAT_D)x2  -->
///                                     <--   SAr1 KEr Nr N(NAT_D)x2
/// IKE_AUTH SK{IDi AUTH SAi2 TSi TSr}  -->
///                                     <--   SK{IDr AUTH SAr2 TSi TSr}
/// ```
#[test]
fn psk_handshake_installs_matching_child_sas() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 1);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    let l = child_up(&p.left_events).expect("left child");
    let r = child_up(&p.right_events).expect("right child");
    assert_eq!(l.inbound.spi, r.outbound.spi);
    assert_eq!(l.outbound.spi, r.inbound.spi);
    assert_eq!(l.inbound.encryption_key, r.outbound.encryption_key);
    assert_eq!(l.outbound.encryption_key, r.inbound.encryption_key);
    assert_ne!(l.inbound.encryption_key, l.outbound.encryption_key);
    assert_eq!(l.outbound.encryption_key.len(), 20);
    assert_eq!(l.local_ts, r.remote_ts);
    assert_eq!(l.encapsulation, None, "no NAT, no encapsulation");
    let up = p
        .left_events
        .iter()
        .find(|e| matches!(e, Event::IkeSaUp { .. }))
        .unwrap();
    assert!(matches!(
        up,
        Event::IkeSaUp {
            role: Role::Initiator,
            ..
        }
    ));
    println!("{up}");
}
