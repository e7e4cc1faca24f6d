//! Error answers to authenticated requests whose payloads do not decode (RFC 7296 sections
//! 2.21.2 and 3.10.1), in the [`Pair`] harness: the test seals the malformed request with the
//! sender's real keys ([`Pair::seal_request`]) so that the receiver's integrity check passes.

use core::time::Duration;
use ikev2::testing::{Pair, Side, SiteSpec, Verdict};
use ikev2::wire::{ExchangeType, NotifyType, Packet, PayloadType};
use ikev2::{Event, Reason};

/// A Notify payload whose body is one byte: too short for the Notify header.
const BAD_NOTIFY: [u8; 5] = [0, 0, 0, 5, 0];
/// An unknown payload type (200) with the critical bit set and an empty body.
const CRITICAL_200: [u8; 4] = [0, 0x80, 0, 4];

fn established() -> Pair {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 71);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(10), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    p.drive_for(Duration::from_secs(1));
    p
}

/// The datagrams `side` sent from index `from` of [`Pair::sent`] on.
fn sent_since(p: &Pair, side: Side, from: usize) -> Vec<Vec<u8>> {
    p.sent[from..]
        .iter()
        .filter(|(s, ..)| *s == side)
        .map(|(.., b)| b.clone())
        .collect()
}

/// Injects `request` from the left, drives the pair, and returns what the right sent back.
fn exchange(p: &mut Pair, request: &[u8]) -> Vec<Vec<u8>> {
    let mark = p.sent.len();
    assert!(p.inject(Side::Left, "gw", request));
    p.drive_for(Duration::from_secs(1));
    sent_since(p, Side::Right, mark)
}

/// ```text
/// left                                   right
/// INFORMATIONAL #2 SK{N(1 byte)}   -->   ICV ok, Notify does not parse
///                                  <--   INFORMATIONAL #2 response SK{N(INVALID_SYNTAX)}
/// INFORMATIONAL #2 (again)         -->   retransmission
///                                  <--   the same cached response
/// ```
#[test]
fn malformed_informational_request_gets_invalid_syntax_once() {
    let mut p = established();
    let before = p.right.stats();
    let req = p
        .seal_request(
            Side::Left,
            "gw",
            ExchangeType::INFORMATIONAL,
            2,
            PayloadType::NOTIFY,
            &BAD_NOTIFY,
        )
        .expect("keys");
    let answers = exchange(&mut p, &req);
    assert_eq!(answers.len(), 1);
    let msg = p
        .open_message(Side::Left, "gw", &answers[0])
        .expect("protected");
    assert!(msg.header.flags.is_response());
    assert_eq!(msg.header.message_id, 2);
    assert_eq!(msg.header.exchange_type, ExchangeType::INFORMATIONAL);
    let n = msg
        .notify(NotifyType::INVALID_SYNTAX)
        .expect("INVALID_SYNTAX");
    assert!(n.data.is_empty());
    let after = p.right.stats();
    assert_eq!(after.malformed_answered, before.malformed_answered + 1);
    assert_eq!(after.dropped_bad_icv, before.dropped_bad_icv);
    // The SA stays up: INVALID_SYNTAX outside IKE_AUTH does not end it.
    assert!(p.tunnel_up(Side::Right));

    // The message ID is consumed: the retransmission gets the cached answer.
    let again = exchange(&mut p, &req);
    assert_eq!(again, answers);
    let last = p.right.stats();
    assert_eq!(last.retransmits_answered, after.retransmits_answered + 1);
    assert_eq!(last.malformed_answered, after.malformed_answered);
}

/// ```text
/// left                                     right
/// INFORMATIONAL #2 SK{payload 200, C=1} -->  unknown critical payload
///                                       <--  SK{N(UNSUPPORTED_CRITICAL_PAYLOAD, data=200)}
/// ```
#[test]
fn unknown_critical_payload_is_named_in_the_answer() {
    let mut p = established();
    let req = p
        .seal_request(
            Side::Left,
            "gw",
            ExchangeType::INFORMATIONAL,
            2,
            PayloadType(200),
            &CRITICAL_200,
        )
        .expect("keys");
    let answers = exchange(&mut p, &req);
    assert_eq!(answers.len(), 1);
    let msg = p
        .open_message(Side::Left, "gw", &answers[0])
        .expect("protected");
    let n = msg
        .notify(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD)
        .expect("UNSUPPORTED_CRITICAL_PAYLOAD");
    assert_eq!(n.data, [200]);
    assert!(msg.notify(NotifyType::INVALID_SYNTAX).is_none());
    assert_eq!(p.right.stats().malformed_answered, 1);
}

/// A request whose ICV does not verify is dropped without an answer (RFC 7296 section 2.21.2).
///
/// ```text
/// INFORMATIONAL #2 SK{..} (one ICV bit flipped) -->  dropped, counted
/// ```
#[test]
fn unauthenticated_garbage_is_dropped_silently() {
    let mut p = established();
    let before = p.right.stats();
    let mut req = p
        .seal_request(
            Side::Left,
            "gw",
            ExchangeType::INFORMATIONAL,
            2,
            PayloadType::NOTIFY,
            &BAD_NOTIFY,
        )
        .expect("keys");
    let last = req.len() - 1;
    req[last] ^= 1;
    let answers = exchange(&mut p, &req);
    assert!(answers.is_empty(), "{answers:?}");
    let after = p.right.stats();
    assert_eq!(after.dropped_bad_icv, before.dropped_bad_icv + 1);
    assert_eq!(after.malformed_answered, before.malformed_answered);
    assert!(p.tunnel_up(Side::Right));
}

/// The left's own IKE_AUTH is lost; a malformed one with the right keys arrives instead.
///
/// ```text
/// left                                  right
/// IKE_SA_INIT                     -->
///                                 <--   IKE_SA_INIT
/// IKE_AUTH #1 (lost; all IKE_AUTH datagrams are dropped, injection bypasses the wire hook)
/// IKE_AUTH #1 SK{N(1 byte)}       -->   INVALID_SYNTAX ends the half-open IKE SA
///                                 <--   IKE_AUTH #1 response SK{N(INVALID_SYNTAX)}
/// ```
#[test]
fn invalid_syntax_in_ike_auth_ends_the_half_open_sa() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 72);
    p.tamper = Some(Box::new(|_, _, bytes| {
        // IKE_AUTH is kept off the wire both ways: the left's own request is lost, and the
        // answer to the injected one (recorded in `sent`) does not end the left's SA before the
        // test reads it with the left's keys.
        let auth = Packet::new_checked(&bytes[..])
            .map(|pk| pk.exchange_type() == ExchangeType::IKE_AUTH)
            .unwrap_or(false);
        if auth {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    }));
    p.left.connect(p.now, "tun").unwrap();
    p.drive_for(Duration::from_millis(100));
    assert_eq!(p.right.ike_sas().len(), 1, "half-open SA on the right");
    let req = p
        .seal_request(
            Side::Left,
            "gw",
            ExchangeType::IKE_AUTH,
            1,
            PayloadType::NOTIFY,
            &BAD_NOTIFY,
        )
        .expect("keys after IKE_SA_INIT");
    let answers = exchange(&mut p, &req);
    assert_eq!(answers.len(), 1);
    let msg = p
        .open_message(Side::Left, "gw", &answers[0])
        .expect("protected");
    assert_eq!(msg.header.exchange_type, ExchangeType::IKE_AUTH);
    assert!(msg.notify(NotifyType::INVALID_SYNTAX).is_some());
    assert_eq!(p.right.stats().malformed_answered, 1);
    assert!(p.right.ike_sas().is_empty());
    assert!(p.right_events.iter().any(|e| matches!(
        e,
        Event::Phase1Failed {
            reason: Reason::Malformed(_),
            ..
        }
    )));
}
