//! NAT traversal configured on one side only, with a NAT between the peers: both sides must agree
//! on whether ESP is UDP-encapsulated (RFC 7296 section 2.23: only a peer doing NAT-T acts on NAT
//! detection), so that neither sends ESP-in-UDP that the other does not expect.

use core::time::Duration;
use ikev2::testing::{Pair, Side, SiteSpec};

/// Left (behind a NAT) initiates to a dynamic-peer right; `nat_t` is each side's setting.
fn negotiate(left_nat_t: bool, right_nat_t: bool) -> Pair {
    let mut l = SiteSpec::left().config();
    l.gateways[0].nat_traversal = left_nat_t;
    let mut r = SiteSpec::right().config();
    r.gateways[0].peer_addr = None;
    r.gateways[0].nat_traversal = right_nat_t;
    let mut p = Pair::new(l, r, 21);
    p.left_nat = Some("203.0.113.9".parse().unwrap());
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(10), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    p
}

fn encapsulated(p: &Pair) -> (bool, bool) {
    let l = p.left.ike_sas()[0].children[0].encapsulation.is_some();
    let r = p.right.ike_sas()[0].children[0].encapsulation.is_some();
    (l, r)
}

/// ```text
/// left (NAT-T on)                      NAT            right (NAT-T off)
/// IKE_SA_INIT N(NAT_D_SRC) N(NAT_D_DST) -->  (rewritten source)
///                                      <--   IKE_SA_INIT, no NAT_D: right ignores NAT detection
/// both: plain ESP, IKE stays on port 500
/// ```
#[test]
fn responder_with_nat_t_off_ignores_nat_detection() {
    let p = negotiate(true, false);
    assert_eq!(encapsulated(&p), (false, false));
    assert!(!p.right.ike_sas()[0].nat);
    assert_eq!(p.right.ike_sas()[0].local.port(), 500);
}

#[test]
fn initiator_with_nat_t_off_ignores_nat_detection() {
    assert_eq!(encapsulated(&negotiate(false, true)), (false, false));
}

#[test]
fn both_with_nat_t_encapsulate() {
    assert_eq!(encapsulated(&negotiate(true, true)), (true, true));
}
