//! Negotiation failures (RFC 7296 section 2.21) in the [`Pair`] harness: each side reports the
//! failure with the notify the mismatch predicts, and Child SA failures leave the IKE SA up.

use core::time::Duration;
use ikev2::identity::{IdPattern, Identity};
use ikev2::testing::{Pair, Side, SiteSpec};
use ikev2::{Event, Reason};
use ipsec_core::crypto::{DhGroup, EncrId, Encryption};

fn run(p: &mut Pair) {
    p.left.connect(p.now, "tun").unwrap();
    p.drive_until(Duration::from_secs(10), |_| false);
}

fn phase1_failure(events: &[Event]) -> Option<&Reason> {
    events.iter().find_map(|e| match e {
        Event::Phase1Failed { reason, .. } => Some(reason),
        _ => None,
    })
}

fn phase2_failure(events: &[Event]) -> Option<(&Reason, String)> {
    events.iter().find_map(|e| match e {
        Event::Phase2Failed { reason, .. } => Some((reason, e.to_string())),
        _ => None,
    })
}

fn ike_up(events: &[Event]) -> bool {
    events.iter().any(|e| matches!(e, Event::IkeSaUp { .. }))
}

/// ```text
/// left                                   right
/// IKE_SA_INIT                      -->
///                                  <--   IKE_SA_INIT
/// IKE_AUTH SK{IDi AUTH(wrong PSK)} -->   AUTH does not verify
///                                  <--   SK{N(AUTHENTICATION_FAILED)}
/// ```
#[test]
fn wrong_psk_fails_on_both_sides() {
    let mut l = SiteSpec::left();
    l.psk = "not-the-same-key";
    let mut p = Pair::new(l.config(), SiteSpec::right().config(), 11);
    run(&mut p);
    assert!(matches!(
        phase1_failure(&p.right_events),
        Some(Reason::AuthenticationFailed(_))
    ));
    assert!(matches!(
        phase1_failure(&p.left_events),
        Some(Reason::AuthenticationFailed(_))
    ));
    assert!(!ike_up(&p.left_events) && !ike_up(&p.right_events));
    assert!(p.left.ike_sas().is_empty() && p.right.ike_sas().is_empty());
}

/// The right gateway expects `other.ike.test`; the left presents `left.ike.test`.
///
/// ```text
/// IKE_AUTH SK{IDi=left.ike.test ...} -->   peer-id mismatch
///                                    <--   SK{N(AUTHENTICATION_FAILED)}
/// ```
#[test]
fn peer_id_mismatch_fails_authentication() {
    let mut r = SiteSpec::right();
    r.peer_id = Some(IdPattern::Exact(Identity::Fqdn("other.ike.test".into())));
    let mut p = Pair::new(SiteSpec::left().config(), r.config(), 12);
    run(&mut p);
    match phase1_failure(&p.right_events) {
        Some(Reason::AuthenticationFailed(why)) => assert!(why.contains("left.ike.test"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        phase1_failure(&p.left_events),
        Some(Reason::AuthenticationFailed(_))
    ));
}

/// ```text
/// IKE_SA_INIT SAi1(aes-256-gcm/sha256/group31) -->  nothing acceptable
///                                              <--  N(NO_PROPOSAL_CHOSEN)
/// ```
#[test]
fn no_common_ike_proposal() {
    let mut r = SiteSpec::right().config();
    r.gateways[0].ike_proposals[0].dh = vec![DhGroup::ECP_384];
    r.gateways[0].ike_proposals[0].encryption[0].key_bits = 128;
    let mut p = Pair::new(SiteSpec::left().config(), r, 13);
    run(&mut p);
    // The refusal is unauthenticated: the initiator reports it once its retransmissions end,
    // in case it was forged (RFC 7296 section 2.21.1).
    assert!(phase1_failure(&p.left_events).is_none());
    p.drive_for(Duration::from_secs(170));
    match phase1_failure(&p.right_events) {
        Some(Reason::NoProposalChosen { ours, theirs }) => {
            assert_eq!(ours, "aes-128-gcm/sha256/group20");
            assert_eq!(theirs, "aes-256-gcm/sha256/group31");
        }
        other => panic!("{other:?}"),
    }
    match phase1_failure(&p.left_events) {
        Some(r @ Reason::NoProposalChosen { .. }) => {
            assert!(r.to_string().contains("NO_PROPOSAL_CHOSEN"))
        }
        other => panic!("{other:?}"),
    }
}

/// ```text
/// IKE_AUTH SK{... SAi2(aes-128-gcm) TSi TSr} -->  IKE SA fine, ESP proposal not acceptable
///                                            <--  SK{IDr AUTH N(NO_PROPOSAL_CHOSEN)}
/// ```
#[test]
fn no_common_esp_proposal_keeps_the_ike_sa() {
    let mut r = SiteSpec::right().config();
    r.tunnels[0].esp_proposals[0].encryption = vec![Encryption {
        id: EncrId::ENCR_CHACHA20_POLY1305,
        key_bits: 0,
    }];
    let mut p = Pair::new(SiteSpec::left().config(), r, 14);
    run(&mut p);
    assert!(ike_up(&p.left_events) && ike_up(&p.right_events));
    for ev in [&p.left_events, &p.right_events] {
        let (reason, text) = phase2_failure(ev).expect("phase-2 failure");
        assert!(matches!(reason, Reason::NoProposalChosen { .. }));
        assert!(text.contains("when processing SA payload"), "{text}");
    }
    assert!(p.left.ike_sas()[0].established && p.left.ike_sas()[0].children.is_empty());
}

/// The right side's proxy ID is 10.9.0.0/24 instead of 10.1.0.0/24.
///
/// ```text
/// IKE_AUTH SK{... TSi=10.1.0.0/24 TSr=10.2.0.0/24} -->  no overlap with our proxy IDs
///                                                  <--  SK{IDr AUTH N(TS_UNACCEPTABLE)}
/// ```
#[test]
fn proxy_id_mismatch_is_ts_unacceptable() {
    let mut rs = SiteSpec::right();
    rs.remote_net = "10.9.0.0/24";
    let mut p = Pair::new(SiteSpec::left().config(), rs.config(), 15);
    run(&mut p);
    assert!(ike_up(&p.left_events) && ike_up(&p.right_events));
    let (reason, text) = phase2_failure(&p.right_events).expect("right phase-2 failure");
    assert!(matches!(reason, Reason::TsUnacceptable { .. }));
    assert!(
        text.starts_with(
            "IKE phase-2 negotiation failed when processing Proxy ID. Received local id \
             10.2.0.0/24 type IPv4_subnet protocol 0 port 0, received remote id 10.1.0.0/24"
        ),
        "{text}"
    );
    let (reason, text) = phase2_failure(&p.left_events).expect("left phase-2 failure");
    assert!(matches!(reason, Reason::TsUnacceptable { .. }));
    assert_eq!(
        text,
        "IKE phase-2 negotiation failed when processing Proxy ID. Peer rejected local id \
         10.1.0.0/24 type IPv4_subnet protocol 0 port 0, remote id 10.2.0.0/24 type IPv4_subnet \
         protocol 0 port 0 with notify type TS_UNACCEPTABLE (tunnel tun as initiator)."
    );
}

fn init_requests(p: &Pair, side: Side) -> Vec<Vec<u8>> {
    p.sent
        .iter()
        .filter(|(s, _, _, b)| *s == side && b.len() > 28 && b[18] == 34 && b[19] & 0x20 == 0)
        .map(|(_, _, _, b)| b.clone())
        .collect()
}

/// The left side offers groups 31 and 19 with a group-31 KE; the right accepts only 19.
///
/// ```text
/// IKE_SA_INIT SAi1(31,19) KEi(31)  -->
///                                  <--  N(INVALID_KE_PAYLOAD, 19)
/// IKE_SA_INIT SAi1(19,31) KEi(19)  -->
///                                  <--  SAr1(19) KEr(19) ...
/// ```
#[test]
fn invalid_ke_payload_is_retried_with_the_requested_group() {
    let mut l = SiteSpec::left().config();
    l.gateways[0].ike_proposals[0].dh = vec![DhGroup::CURVE25519, DhGroup::ECP_256];
    let mut r = SiteSpec::right().config();
    r.gateways[0].ike_proposals[0].dh = vec![DhGroup::ECP_256];
    let mut p = Pair::new(l, r, 16);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    assert_eq!(init_requests(&p, Side::Left).len(), 2);
    assert_eq!(p.left.ike_sas()[0].suite.unwrap().dh, DhGroup::ECP_256);
}

/// ```text
/// IKE_SA_INIT SAi1 KEi Ni               -->   require-cookie
///                                       <--   N(COOKIE)
/// IKE_SA_INIT N(COOKIE) SAi1 KEi Ni     -->   cookie verifies
///                                       <--   SAr1 KEr Nr
/// ```
#[test]
fn cookie_round_trip() {
    let mut r = SiteSpec::right().config();
    r.gateways[0].require_cookie = true;
    let mut p = Pair::new(SiteSpec::left().config(), r, 17);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    let reqs = init_requests(&p, Side::Left);
    assert_eq!(reqs.len(), 2);
    // The second request starts with the COOKIE notify (type 16390).
    assert_eq!(reqs[1][16], 41, "first payload is a Notify");
    assert_eq!(&reqs[1][28 + 6..28 + 8], &16390u16.to_be_bytes());
    assert_eq!(&reqs[0][8..16], &reqs[1][8..16]);
}

/// A forged cookie (one byte flipped) is answered with a fresh cookie challenge, never with
/// state.
#[test]
fn forged_cookie_creates_no_state() {
    let mut r = SiteSpec::right().config();
    r.gateways[0].require_cookie = true;
    let mut p = Pair::new(SiteSpec::left().config(), r, 18);
    p.tamper = Some(Box::new(move |side, _, bytes| {
        if side == ikev2::testing::Side::Left && bytes.len() > 40 && bytes[16] == 41 {
            let last = 28 + 8 + 5;
            bytes[last] ^= 1;
        }
        ikev2::testing::Verdict::Deliver
    }));
    p.left.connect(p.now, "tun").unwrap();
    p.drive_until(Duration::from_secs(10), |_| false);
    assert!(
        p.right.ike_sas().is_empty(),
        "no half-open SA for a bad cookie"
    );
    assert!(!p.tunnel_up(Side::Left));
    // Three COOKIE rounds, then the initiator waits out its retransmissions and gives up.
    p.drive_for(Duration::from_secs(170));
    assert_eq!(
        phase1_failure(&p.left_events),
        Some(&Reason::PeerNotify(ikev2::wire::NotifyType::COOKIE.0)),
        "initiator gives up"
    );
}

/// The initiator expects `other.ike.test` but the responder is `right.ike.test`: the responder
/// has already established the IKE SA when the initiator rejects it, so the initiator tells it
/// in an INFORMATIONAL exchange (RFC 7296 section 2.21.2).
///
/// ```text
/// IKE_AUTH                               -->
///                                        <--  IKE_AUTH {IDr=right.ike.test ...}  (right: up)
/// INFORMATIONAL SK{N(AUTHENTICATION_FAILED)} -->                              (right: down)
/// ```
#[test]
fn initiator_side_id_mismatch_is_reported_to_the_responder() {
    let mut l = SiteSpec::left();
    l.peer_id = Some(IdPattern::Exact(Identity::Fqdn("other.ike.test".into())));
    let mut p = Pair::new(l.config(), SiteSpec::right().config(), 19);
    run(&mut p);
    assert!(matches!(
        phase1_failure(&p.left_events),
        Some(Reason::AuthenticationFailed(_))
    ));
    assert!(p.right_events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: Reason::AuthenticationFailed(_),
            ..
        }
    )));
    assert!(p.right.ike_sas().is_empty() && p.left.ike_sas().is_empty());
}
