//! Retransmission, duplicates, loss, liveness, deletes and fragmentation in the [`Pair`] harness.

use core::time::Duration;
use ikev2::testing::{Pair, Side, SiteSpec, Verdict};
use ikev2::{Event, Reason};

fn up(p: &mut Pair) {
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
}

fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

/// 30 % of datagrams are lost in both directions; retransmission (4 s, x1.8) brings the tunnel
/// up anyway, for every seed tried.
///
/// ```text
/// IKE_SA_INIT  --x          (lost)
/// IKE_SA_INIT  -->          (retransmit after 4 s)
///              x--  resp    (lost)
/// IKE_SA_INIT  -->          (duplicate: answered from the response cache)
///              <--  resp
/// IKE_AUTH ... (same pattern)
/// ```
#[test]
fn handshake_survives_30_percent_loss() {
    let mut retransmits = 0;
    for seed in 0..12 {
        let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), seed);
        p.loss_permille = 300;
        p.left.connect(p.now, "tun").unwrap();
        let ok = p.drive_until(Duration::from_secs(160), |p| {
            p.tunnel_up(Side::Left) && p.tunnel_up(Side::Right)
        });
        assert!(ok, "seed {seed}: {:?}", p.left_events);
        retransmits += p.left.stats().retransmits_sent;
        // Keys agree despite retransmissions.
        let l = &p.installed(Side::Left)[0];
        let r = &p.installed(Side::Right)[0];
        assert_eq!(l.outbound.encryption_key, r.inbound.encryption_key);
    }
    assert!(retransmits > 0, "loss caused retransmissions");
}

/// Every datagram is duplicated and a third are reordered: the duplicate requests are answered
/// from the response cache and nothing is processed twice.
#[test]
fn duplicates_and_reordering_are_harmless() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 21);
    p.duplicate_permille = 1000;
    p.reorder_permille = 300;
    up(&mut p);
    p.drive_for(Duration::from_secs(2));
    assert!(p.right.stats().retransmits_answered > 0);
    assert_eq!(
        count(&p.right_events, |e| matches!(e, Event::ChildSaUp { .. })),
        1
    );
    assert_eq!(
        count(&p.left_events, |e| matches!(e, Event::ChildSaUp { .. })),
        1
    );
}

/// The responder never answers: the initiator retransmits at 4, 11.2, 24.2, 47.5 and 89.5 s and
/// gives up at 165 s.
///
/// ```text
/// IKE_SA_INIT -->x  (x6, exponential back-off)
/// Phase1Failed "due to timeout"
/// ```
#[test]
fn retransmissions_exhausted() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 22);
    p.tamper = Some(Box::new(|side, _, _| {
        if side == Side::Right {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    }));
    let start = p.now;
    p.left.connect(p.now, "tun").unwrap();
    let failed = p.drive_until(Duration::from_secs(300), |p| {
        p.left_events
            .iter()
            .any(|e| matches!(e, Event::Phase1Failed { .. }))
    });
    assert!(failed);
    let took = p.now - start;
    assert!(
        took >= Duration::from_secs(165) && took < Duration::from_secs(166),
        "{took:?}"
    );
    let sent = p.sent.iter().filter(|s| s.0 == Side::Left).count();
    assert_eq!(sent, 6, "one request and five retransmissions");
    let text = p
        .left_events
        .iter()
        .find(|e| matches!(e, Event::Phase1Failed { .. }))
        .unwrap()
        .to_string();
    assert!(
        text.starts_with("IKE phase-1 negotiation is failed as initiator")
            && text.ends_with("due to timeout."),
        "{text}"
    );
}

/// After the tunnel is up the right peer vanishes. The left peer's liveness check (idle 5 s)
/// goes unanswered; the SAs are torn down and, the gateway not being passive, a new
/// IKE_SA_INIT goes out.
///
/// ```text
/// ... tunnel up ...
/// INFORMATIONAL SK{} -->x   (after 5 s idle, retransmitted with back-off)
/// ChildSaDown, IkeSaDown(DeadPeer)
/// IKE_SA_INIT        -->x   (restart)
/// ```
#[test]
fn dead_peer_is_detected_and_the_endpoint_starts_over() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 23);
    up(&mut p);
    p.tamper = Some(Box::new(|side, _, _| {
        if side == Side::Right {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    }));
    let dead = p.drive_until(Duration::from_secs(400), |p| {
        p.left_events.iter().any(|e| {
            matches!(
                e,
                Event::IkeSaDown {
                    reason: Reason::DeadPeer,
                    ..
                }
            )
        })
    });
    assert!(dead, "{:?}", p.left_events);
    assert!(p.left_events.iter().any(|e| matches!(
        e,
        Event::ChildSaDown {
            reason: Reason::IkeSaGone,
            ..
        }
    )));
    let sent_before = p.sent.len();
    p.drive_for(Duration::from_secs(3));
    let restart = p.sent[sent_before..]
        .iter()
        .any(|(s, _, _, b)| *s == Side::Left && b.len() > 28 && b[18] == 34);
    assert!(restart, "a new IKE_SA_INIT after the dead peer");
}

/// A passive gateway never starts over.
#[test]
fn passive_gateway_does_not_restart() {
    let mut p = Pair::new(
        SiteSpec::left().config(),
        {
            let mut r = SiteSpec::right().config();
            r.gateways[0].passive = true;
            r
        },
        24,
    );
    up(&mut p);
    assert!(
        p.right.connect(p.now, "tun").is_err(),
        "passive never initiates"
    );
    p.tamper = Some(Box::new(|side, _, _| {
        if side == Side::Left {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    }));
    p.drive_for(Duration::from_secs(400));
    assert!(p.right_events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: Reason::DeadPeer,
            ..
        }
    )));
    assert!(p.right.ike_sas().is_empty());
    assert!(p.right.poll_timeout().is_none(), "nothing scheduled");
}

/// Liveness checks on an idle but healthy tunnel keep it up.
#[test]
fn liveness_keeps_a_healthy_tunnel_up() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 25);
    up(&mut p);
    p.drive_for(Duration::from_secs(120));
    assert!(p.tunnel_up(Side::Left) && p.tunnel_up(Side::Right));
    let informational = p
        .sent
        .iter()
        .filter(|(_, _, _, b)| b.len() > 28 && b[18] == 37)
        .count();
    assert!(informational >= 20, "{informational} liveness messages");
    assert!(p
        .left_events
        .iter()
        .all(|e| !matches!(e, Event::IkeSaDown { .. })));
}

/// ```text
/// left                                 right
/// INFORMATIONAL SK{D(ESP, spi_l)} -->
///                                 <--  SK{D(ESP, spi_r)}
/// (both: ChildSaDown)
/// INFORMATIONAL SK{D(IKE)}        <--  (right deletes the IKE SA)
///                                 -->  SK{}
/// (both: IkeSaDown)
/// ```
#[test]
fn deletes_both_ways() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 26);
    up(&mut p);
    p.left.delete_child(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(5), |p| {
        count(&p.left_events, |e| matches!(e, Event::ChildSaDown { .. })) == 1
            && count(&p.right_events, |e| matches!(e, Event::ChildSaDown { .. })) == 1
    }));
    assert!(p.left.ike_sas()[0].established && p.left.ike_sas()[0].children.is_empty());
    assert!(p.right.ike_sas()[0].children.is_empty());
    p.right.delete_ike(p.now, "gw").unwrap();
    assert!(p.drive_until(Duration::from_secs(5), |p| {
        p.left.ike_sas().is_empty() && p.right.ike_sas().is_empty()
    }));
    assert!(p.left_events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: Reason::DeletedByPeer,
            ..
        }
    )));
    assert!(p.right_events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: Reason::DeletedLocally,
            ..
        }
    )));
    // Commands on what no longer exists are caller errors.
    assert!(p.left.delete_ike(p.now, "gw").is_err());
    assert!(p.left.delete_child(p.now, "tun").is_err());
    assert!(p.left.connect(p.now, "nope").is_err());
}

/// A protected message with one flipped bit fails its integrity check, is dropped and counted;
/// the retransmission gets through.
///
/// ```text
/// IKE_AUTH (bit flipped) -->   ICV fails: dropped
/// IKE_AUTH (retransmit)  -->   ok
///                        <--   IKE_AUTH
/// ```
#[test]
fn tampered_message_is_dropped_and_retransmission_recovers() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 27);
    let mut done = false;
    p.tamper = Some(Box::new(move |side, _, bytes| {
        if side == Side::Left && !done && bytes.len() > 28 && bytes[18] == 35 {
            done = true;
            let last = bytes.len() - 1;
            bytes[last] ^= 0x80;
        }
        Verdict::Deliver
    }));
    up(&mut p);
    assert_eq!(p.right.stats().dropped_bad_icv, 1);
    assert!(p.left.stats().retransmits_sent >= 1);
}

/// With a 120-byte IKE message limit IKE_AUTH is sent as SKF fragments (RFC 7383) and
/// reassembled.
///
/// ```text
/// IKE_AUTH SKF(1/n) .. SKF(n/n) -->
///                               <--  IKE_AUTH SKF(1/m) .. SKF(m/m)
/// ```
#[test]
fn large_ike_auth_is_fragmented() {
    let mut l = SiteSpec::left().config();
    let mut r = SiteSpec::right().config();
    l.fragment_size = 120;
    r.fragment_size = 120;
    let mut p = Pair::new(l, r, 28);
    up(&mut p);
    let fragments = p
        .sent
        .iter()
        .filter(|(_, _, _, b)| b.len() > 28 && b[16] == 53)
        .count();
    assert!(fragments >= 4, "{fragments} fragments");
    // IKE_SA_INIT is never fragmented; everything after it fits the limit.
    assert!(p
        .sent
        .iter()
        .filter(|(_, _, _, b)| b[18] != 34)
        .all(|(_, _, _, b)| b.len() <= 120));
}

/// Garbage and truncated datagrams are dropped and counted, never panic.
#[test]
fn garbage_is_dropped() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 29);
    let l: std::net::SocketAddr = "192.0.2.2:500".parse().unwrap();
    let r: std::net::SocketAddr = "192.0.2.1:500".parse().unwrap();
    let now = p.now;
    assert_eq!(
        p.right.handle_datagram(now, l, r, &[1, 2, 3]),
        ikev2::Received::Dropped
    );
    let natt: std::net::SocketAddr = "192.0.2.2:4500".parse().unwrap();
    assert_eq!(
        p.right.handle_datagram(now, natt, r, &[0xff]),
        ikev2::Received::Keepalive
    );
    assert_eq!(
        p.right
            .handle_datagram(now, natt, r, &[0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1]),
        ikev2::Received::Esp
    );
    let mut msg = vec![0u8; 28];
    msg[0] = 1;
    msg[17] = 0x20;
    msg[18] = 37;
    msg[27] = 28;
    p.right.handle_datagram(now, l, r, &msg);
    assert_eq!(p.right.stats().dropped_unknown_spi, 1);
    assert_eq!(p.right.stats().dropped_malformed, 1);
}

/// The right datapath sees ESP with an SPI it does not know and reports it; the left side drops
/// the Child SA using that SPI.
///
/// ```text
/// left                                 right
///                                 <--  INFORMATIONAL SK{N(INVALID_SPI, spi)}
/// SK{}                            -->
/// (left: ChildSaDown, PeerNotify(INVALID_SPI))
/// ```
#[test]
fn invalid_spi_notify_removes_the_child_sa() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 30);
    up(&mut p);
    let spi = p.installed(Side::Left)[0].outbound.spi;
    let left_ip = "192.0.2.1".parse().unwrap();
    p.right.invalid_spi(p.now, left_ip, spi).unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.left.ike_sas()[0]
            .children
            .is_empty())
    );
    assert!(p.left_events.iter().any(|e| matches!(
        e,
        Event::ChildSaDown {
            reason: Reason::PeerNotify(11),
            ..
        }
    )));
    assert!(p.left.ike_sas()[0].established, "the IKE SA stays");
    assert!(p
        .right
        .invalid_spi(p.now, "192.0.2.9".parse().unwrap(), 1)
        .is_err());
}

/// An unprotected INFORMATIONAL inside an established IKE SA (right SPIs, next message ID) is
/// dropped and counted; it deletes nothing.
#[test]
fn unprotected_message_in_an_sa_is_dropped() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 31);
    up(&mut p);
    let sa = p.right.ike_sas()[0].clone();
    let msg = ikev2::wire::Message {
        header: ikev2::wire::Header::new(
            sa.spi_i,
            sa.spi_r,
            ikev2::wire::ExchangeType::INFORMATIONAL,
            ikev2::wire::Flags::new(true, false),
            2,
        ),
        payloads: vec![ikev2::wire::Payload::Delete(ikev2::wire::Delete::ike())],
    };
    let bytes = msg.to_bytes().unwrap();
    let before = p.right.stats().dropped_bad_icv;
    p.right.handle_datagram(p.now, sa.local, sa.remote, &bytes);
    assert_eq!(p.right.stats().dropped_bad_icv, before + 1);
    assert!(p.right.ike_sas()[0].established);
}
