//! A hostile network against one negotiation: forged answers, spoofed errors, short nonces,
//! greedy peers and peer text meant for a terminal. Nothing here may wedge an IKE SA, end an
//! attempt the genuine peer would complete, or put a raw control character into a log line.

use core::cell::{Cell, RefCell};
use core::time::Duration;
use ikev2::config::{EndpointConfig, ProxyId};
use ikev2::identity::{IdPattern, Identity};
use ikev2::testing::{Pair, Side, SiteSpec, Verdict};
use ikev2::wire::{
    ExchangeType, Flags, Header, Message, Nonce, Notify, NotifyType, Packet, Payload, PayloadType,
};
use ikev2::{Endpoint, Event, Reason};
use ipsec_core::crypto::default::SeededRandom;
use ipsec_core::crypto::{default_provider, DhGroup};
use ipsec_core::selector::TrafficSelector;
use ipsec_core::text::needs_escape;
use ipsec_core::time::Instant;
use std::net::SocketAddr;
use std::rc::Rc;

const LEFT: &str = "192.0.2.1:500";
const RIGHT: &str = "192.0.2.2:500";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn pair(seed: u64) -> Pair {
    Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), seed)
}

/// The exchange type and response flag of an IKE message on port 500.
fn kind(bytes: &[u8]) -> Option<(ExchangeType, bool)> {
    let p = Packet::new_checked(bytes).ok()?;
    Some((p.exchange_type(), p.flags().is_response()))
}

fn phase1_failures(events: &[Event]) -> Vec<&Reason> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Phase1Failed { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

fn both_up(p: &Pair) -> bool {
    p.tunnel_up(Side::Left) && p.tunnel_up(Side::Right)
}

/// An unprotected IKE_SA_INIT response to the initiator with SPI `spi_i` carrying one notify,
/// as anyone who saw the request can send it.
fn forged_init_answer(spi_i: u64, ty: NotifyType, data: &[u8]) -> Vec<u8> {
    Message {
        header: Header::new(
            spi_i,
            0,
            ExchangeType::IKE_SA_INIT,
            Flags::new(false, true),
            0,
        ),
        payloads: vec![Payload::Notify(Notify::new(ty, data))],
    }
    .to_bytes()
    .unwrap()
}

/// Drops the first `n` messages `from` sends of `exchange` (requests or responses), counting
/// them in the returned cell; the rest pass.
fn drop_first(
    p: &mut Pair,
    from: Side,
    exchange: ExchangeType,
    response: bool,
    n: u32,
) -> Rc<Cell<u32>> {
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    p.tamper = Some(Box::new(move |side, _, bytes| {
        if side == from && kind(bytes) == Some((exchange, response)) && d.get() < n {
            d.set(d.get() + 1);
            return Verdict::Drop;
        }
        Verdict::Deliver
    }));
    dropped
}

/// The right peer, holding keys after IKE_SA_INIT, answers our IKE_AUTH (message ID 1) with an
/// encrypted INFORMATIONAL. It is not an answer to IKE_AUTH: the initiator drops it and keeps
/// retransmitting, and the retransmission establishes the SA.
///
/// ```text
/// left                                     right
/// IKE_SA_INIT                        -->
///                                    <--   IKE_SA_INIT
/// IKE_AUTH (id 1)                    --x   (lost)
///                                    <--   INFORMATIONAL response (id 1), SK{}   forged
/// IKE_AUTH (id 1), retransmitted     -->
///                                    <--   IKE_AUTH
/// ```
#[test]
fn a_response_of_another_exchange_does_not_answer_ike_auth() {
    let mut p = pair(31);
    let dropped = drop_first(&mut p, Side::Left, ExchangeType::IKE_AUTH, false, 1);
    p.left.connect(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(2), |_| dropped.get() == 1));
    let forged = p
        .seal_response(
            Side::Right,
            "gw",
            ExchangeType::INFORMATIONAL,
            1,
            PayloadType::NONE,
            &[],
        )
        .expect("the right side has keys");
    assert!(p.inject(Side::Right, "gw", &forged));
    assert!(
        p.drive_until(Duration::from_secs(20), both_up),
        "IKE_AUTH must be retransmitted after the forged answer: {:?}",
        p.left_events
    );
    assert!(phase1_failures(&p.left_events).is_empty());
}

/// Every IKE_AUTH is lost and a forged INFORMATIONAL "answers" it: the negotiation still ends,
/// with a failure event, within its deadline; nothing is left behind.
#[test]
fn a_stuck_negotiation_ends_with_a_failure_event() {
    let mut p = pair(32);
    let dropped = drop_first(&mut p, Side::Left, ExchangeType::IKE_AUTH, false, u32::MAX);
    p.left.connect(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(2), |_| dropped.get() == 1));
    let forged = p
        .seal_response(
            Side::Right,
            "gw",
            ExchangeType::INFORMATIONAL,
            1,
            PayloadType::NONE,
            &[],
        )
        .unwrap();
    p.inject(Side::Right, "gw", &forged);
    let policy = SiteSpec::left().config().gateways[0].retransmit;
    let limit = policy.give_up_after() * 2 + Duration::from_secs(1);
    let ended = p.drive_until(limit, |p| !phase1_failures(&p.left_events).is_empty());
    assert!(ended, "no failure event within {limit:?}: the SA is wedged");
    assert_eq!(phase1_failures(&p.left_events), [&Reason::Timeout]);
    assert!(p.left.ike_sas().is_empty());
    assert!(p.left.poll_timeout().is_none(), "no timer left behind");
}

/// `delete_ike` ends a negotiation that goes nowhere (the responder never answers), and a new
/// `connect` starts afresh.
#[test]
fn delete_ike_ends_a_negotiation() {
    let mut p = pair(33);
    let dropped = drop_first(
        &mut p,
        Side::Left,
        ExchangeType::IKE_SA_INIT,
        false,
        u32::MAX,
    );
    p.left.connect(p.now, "tun").unwrap();
    p.drive_for(Duration::from_secs(5));
    assert!(dropped.get() >= 2);
    assert_eq!(p.left.ike_sas().len(), 1);
    p.left
        .delete_ike(p.now, "gw")
        .expect("a negotiating SA can be deleted");
    p.drive_for(Duration::from_millis(1));
    assert_eq!(phase1_failures(&p.left_events), [&Reason::DeletedLocally]);
    assert!(p.left.ike_sas().is_empty());
    assert!(
        p.left.delete_ike(p.now, "gw").is_err(),
        "nothing left to delete"
    );
    p.tamper = None;
    p.left.connect(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(10), both_up));
}

/// Someone sends an IKE_SA_INIT from the left peer's address to the right peer, which answers
/// and keeps a half-open SA. The right peer, told to connect, waits on that SA (it could be the
/// peer starting at the same moment), but when it dies unauthenticated the tunnel is tried
/// again: the work is not lost with it.
#[test]
fn connect_survives_a_spoofed_half_open_sa() {
    let mut p = pair(34);
    let seed = {
        let mut s = [0u8; 32];
        s[0] = 99;
        s
    };
    let mut spoofer = Endpoint::with_rng(
        SiteSpec::left().config(),
        default_provider(),
        Box::new(SeededRandom::new(seed)),
    )
    .unwrap();
    spoofer.connect(p.now, "tun").unwrap();
    let mut buf = vec![0u8; 65535];
    let t = spoofer.poll_transmit(&mut buf).unwrap();
    p.right
        .handle_datagram(p.now, t.remote, t.local, &buf[..t.len]);
    assert_eq!(p.right.ike_sas().len(), 1, "a half-open responder SA");
    p.right.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(60), both_up),
        "the right peer's tunnel died with the spoofed SA"
    );
}

/// A forged NO_PROPOSAL_CHOSEN arrives before the responder's answer (RFC 7296 section
/// 2.21.1): the answer still establishes the SA.
///
/// ```text
/// left                                     right
/// IKE_SA_INIT                        -->
///        <--  N(NO_PROPOSAL_CHOSEN)  (forged, first)
///                                    <--   IKE_SA_INIT
/// IKE_AUTH                           -->
/// ```
#[test]
fn a_forged_error_does_not_end_ike_sa_init() {
    let mut p = pair(35);
    p.left.connect(p.now, "tun").unwrap();
    let spi_i = p.left.ike_sas()[0].spi_i;
    let forged = forged_init_answer(spi_i, NotifyType::NO_PROPOSAL_CHOSEN, &[]);
    p.left
        .handle_datagram(p.now, addr(LEFT), addr(RIGHT), &forged);
    assert!(
        p.drive_until(Duration::from_secs(10), both_up),
        "{:?}",
        p.left_events
    );
    assert!(phase1_failures(&p.left_events).is_empty());
}

/// With no genuine answer, the refusal is reported, but only when the retransmissions end.
#[test]
fn an_unauthenticated_refusal_is_reported_when_the_retransmissions_end() {
    let mut p = pair(36);
    drop_first(
        &mut p,
        Side::Left,
        ExchangeType::IKE_SA_INIT,
        false,
        u32::MAX,
    );
    p.left.connect(p.now, "tun").unwrap();
    let spi_i = p.left.ike_sas()[0].spi_i;
    let forged = forged_init_answer(spi_i, NotifyType::NO_PROPOSAL_CHOSEN, &[]);
    p.left
        .handle_datagram(p.now, addr(LEFT), addr(RIGHT), &forged);
    p.drive_for(Duration::from_secs(10));
    assert!(
        phase1_failures(&p.left_events).is_empty(),
        "reported at once"
    );
    let policy = SiteSpec::left().config().gateways[0].retransmit;
    p.drive_for(policy.give_up_after());
    let failures = phase1_failures(&p.left_events);
    assert!(
        matches!(failures.as_slice(), [Reason::NoProposalChosen { .. }]),
        "{failures:?}"
    );
    assert!(p.left.ike_sas().is_empty());
}

/// A spoofer answers each IKE_SA_INIT with a COOKIE. Three rounds are followed (each request
/// goes out again with the cookie), the fourth is only noted, and the responder's genuine answer
/// to the retransmitted request still establishes the SA.
#[test]
fn cookie_rounds_are_bounded_and_a_late_answer_still_counts() {
    let mut p = pair(37);
    let sent = Rc::new(RefCell::new(Vec::<Vec<u8>>::new()));
    let late = Rc::new(Cell::new(false));
    let (s, l) = (sent.clone(), late.clone());
    // Every distinct request is recorded; none reaches the responder until `late`.
    p.tamper = Some(Box::new(move |side, _, bytes| {
        if side == Side::Left && kind(bytes) == Some((ExchangeType::IKE_SA_INIT, false)) {
            let mut s = s.borrow_mut();
            if !s.contains(bytes) {
                s.push(bytes.clone());
            }
            if !l.get() {
                return Verdict::Drop;
            }
        }
        Verdict::Deliver
    }));
    p.left.connect(p.now, "tun").unwrap();
    let spi_i = p.left.ike_sas()[0].spi_i;
    for round in 1..=4u8 {
        let want = usize::from(round);
        assert!(p.drive_until(Duration::from_secs(1), |_| sent.borrow().len() == want));
        let cookie = forged_init_answer(spi_i, NotifyType::COOKIE, &[round; 20]);
        p.left
            .handle_datagram(p.now, addr(LEFT), addr(RIGHT), &cookie);
    }
    p.drive_for(Duration::from_millis(100));
    assert_eq!(sent.borrow().len(), 4, "three restarts, not four");
    assert!(phase1_failures(&p.left_events).is_empty());
    late.set(true);
    assert!(
        p.drive_until(Duration::from_secs(30), both_up),
        "{:?}",
        p.left_events
    );
}

fn two_groups(mut c: EndpointConfig) -> EndpointConfig {
    c.gateways[0].ike_proposals[0].dh = vec![DhGroup::CURVE25519, DhGroup::ECP_256];
    c
}

/// A forged INVALID_KE_PAYLOAD asks for another group we offer, before the responder's answer
/// to our first request arrives. We restart in that group, and the answer to the first request,
/// arriving late, is still taken: its key exchange and octets are those of the first request.
#[test]
fn an_answer_to_the_request_before_a_forged_invalid_ke_still_counts() {
    let mut p = Pair::new(
        two_groups(SiteSpec::left().config()),
        two_groups(SiteSpec::right().config()),
        38,
    );
    p.left.connect(p.now, "tun").unwrap();
    let spi_i = p.left.ike_sas()[0].spi_i;
    let forged = forged_init_answer(
        spi_i,
        NotifyType::INVALID_KE_PAYLOAD,
        &DhGroup::ECP_256.0.to_be_bytes(),
    );
    p.left
        .handle_datagram(p.now, addr(LEFT), addr(RIGHT), &forged);
    assert!(
        p.drive_until(Duration::from_secs(10), both_up),
        "{:?}",
        p.left_events
    );
}

fn selector(s: &str) -> TrafficSelector {
    let (a, len) = s.split_once('/').unwrap();
    let a: std::net::Ipv4Addr = a.parse().unwrap();
    let len: u32 = len.parse().unwrap();
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let start = u32::from(a) & mask;
    TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: std::net::Ipv4Addr::from(start).into(),
        end_addr: std::net::Ipv4Addr::from(start | !mask).into(),
    }
}

/// An authenticated peer asks for more Child SAs than the IKE SA may carry: the one too many is
/// refused with NO_ADDITIONAL_SAS (RFC 7296 section 1.3) and the others stay up.
#[test]
fn child_sas_per_ike_sa_are_bounded() {
    let mut left = SiteSpec::left().config();
    left.tunnels[0].proxy_ids = (1..=3)
        .map(|i| ProxyId {
            name: format!("p{i}"),
            local: selector(&format!("10.1.{i}.0/24")),
            remote: selector(&format!("10.2.{i}.0/24")),
        })
        .collect();
    let mut right = SiteSpec::right().config();
    right.tunnels[0].proxy_ids[0].local = selector("10.2.0.0/16");
    right.tunnels[0].proxy_ids[0].remote = selector("10.1.0.0/16");
    right.max_child_sas = 2;
    let mut p = Pair::new(left, right, 39);
    p.left.connect(p.now, "tun").unwrap();
    p.drive_for(Duration::from_secs(10));
    assert_eq!(p.installed(Side::Right).len(), 2);
    assert_eq!(p.installed(Side::Left).len(), 2);
    let refused = p.left_events.iter().any(|e| {
        matches!(e, Event::Phase2Failed { reason: Reason::PeerNotify(n), .. }
            if *n == NotifyType::NO_ADDITIONAL_SAS.0)
    });
    assert!(refused, "{:?}", p.left_events);
    assert!(p.left.ike_sas()[0].established);
}

/// Holds the first CREATE_CHILD_SA message `from` sends (request or response), dropping it.
fn hold_create_child(p: &mut Pair, from: Side, response: bool) -> Rc<RefCell<Option<Vec<u8>>>> {
    let held = Rc::new(RefCell::new(None));
    let h = held.clone();
    p.tamper = Some(Box::new(move |side, _, bytes| {
        let mut h = h.borrow_mut();
        if side == from
            && h.is_none()
            && kind(bytes) == Some((ExchangeType::CREATE_CHILD_SA, response))
        {
            *h = Some(bytes.clone());
            return Verdict::Drop;
        }
        Verdict::Deliver
    }));
    held
}

/// `msg`'s payloads with the nonce cut to 8 bytes, as a payload chain and its first type.
fn with_short_nonce(msg: &Message) -> (PayloadType, Vec<u8>) {
    let payloads: Vec<Payload> = msg
        .payloads
        .iter()
        .map(|pl| match pl {
            Payload::Nonce(_) => Payload::Nonce(Nonce { data: vec![7; 8] }),
            other => other.clone(),
        })
        .collect();
    let first = payloads[0].payload_type();
    let bytes = Message {
        header: msg.header,
        payloads,
    }
    .to_bytes()
    .unwrap();
    (first, bytes[28..].to_vec())
}

fn rekeys_up(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::ChildSaUp {
                    replaces: Some(_),
                    ..
                }
            )
        })
        .count()
}

/// A Child SA rekey request whose nonce is 8 bytes (RFC 7296 section 2.10 asks for 16 to 256)
/// is answered with INVALID_SYNTAX, and no Child SA is made of it.
#[test]
fn a_short_nonce_in_a_create_child_sa_request_is_refused() {
    let mut p = pair(40);
    p.left.connect(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(5), both_up));
    let held = hold_create_child(&mut p, Side::Left, false);
    p.left.rekey_child(p.now, "tun").unwrap();
    p.drive_for(Duration::from_millis(100));
    let request = held.borrow_mut().take().expect("the rekey request");
    let id = Packet::new_checked(&request[..]).unwrap().message_id();
    let msg = p.open_message(Side::Right, "gw", &request).unwrap();
    let (first, inner) = with_short_nonce(&msg);
    let forged = p
        .seal_request(
            Side::Left,
            "gw",
            ExchangeType::CREATE_CHILD_SA,
            id,
            first,
            &inner,
        )
        .unwrap();
    let answers = Rc::new(RefCell::new(Vec::new()));
    let a = answers.clone();
    p.tamper = Some(Box::new(move |side, _, bytes| {
        if side == Side::Right && kind(bytes) == Some((ExchangeType::CREATE_CHILD_SA, true)) {
            a.borrow_mut().push(bytes.clone());
        }
        Verdict::Drop
    }));
    p.inject(Side::Left, "gw", &forged);
    p.drive_for(Duration::from_millis(100));
    assert_eq!(rekeys_up(&p.right_events), 0, "{:?}", p.right_events);
    let answer = answers.borrow().first().cloned().expect("an answer");
    let answer = p.open_message(Side::Left, "gw", &answer).unwrap();
    assert!(
        answer.notify(NotifyType::INVALID_SYNTAX).is_some(),
        "{answer:?}"
    );
}

/// Brings a pair up, holds the right's answer to the CREATE_CHILD_SA exchange `rekey` starts
/// on the left, and returns the pair (tampering off) with that answer sealed again with its nonce
/// cut to 8 bytes.
fn short_nonce_answer(seed: u64, rekey: impl FnOnce(&mut Pair)) -> (Pair, Vec<u8>) {
    let mut p = pair(seed);
    p.left.connect(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(5), both_up));
    let held = hold_create_child(&mut p, Side::Right, true);
    rekey(&mut p);
    p.drive_for(Duration::from_millis(100));
    let response = held.borrow_mut().take().expect("the rekey response");
    let id = Packet::new_checked(&response[..]).unwrap().message_id();
    let msg = p.open_message(Side::Left, "gw", &response).unwrap();
    let (first, inner) = with_short_nonce(&msg);
    let forged = p
        .seal_response(
            Side::Right,
            "gw",
            ExchangeType::CREATE_CHILD_SA,
            id,
            first,
            &inner,
        )
        .unwrap();
    p.tamper = None;
    (p, forged)
}

/// The answer to our Child SA rekey carries an 8-byte nonce: the rekey fails, nothing is
/// installed from it.
#[test]
fn a_short_nonce_in_a_create_child_sa_response_fails_the_exchange() {
    let (mut p, forged) = short_nonce_answer(41, |p| p.left.rekey_child(p.now, "tun").unwrap());
    let before = rekeys_up(&p.left_events);
    p.inject(Side::Right, "gw", &forged);
    p.drive_for(Duration::from_millis(100));
    assert_eq!(rekeys_up(&p.left_events), before, "{:?}", p.left_events);
    assert!(p.left_events.iter().any(|e| matches!(
        e,
        Event::Phase2Failed {
            reason: Reason::Malformed(_),
            ..
        }
    )));
}

/// A cookie is valid for at most two periods of the cookie secret, even when no request
/// arrived meanwhile to rotate the secret.
#[test]
fn an_old_cookie_is_refused_after_an_idle_hour() {
    let seeded = |n: u8| Box::new(SeededRandom::new([n; 32]));
    let mut left =
        Endpoint::with_rng(SiteSpec::left().config(), default_provider(), seeded(1)).unwrap();
    let mut rc = SiteSpec::right().config();
    rc.gateways[0].require_cookie = true;
    let mut right = Endpoint::with_rng(rc, default_provider(), seeded(2)).unwrap();
    let mut buf = vec![0u8; 65535];
    let mut t0 = Instant::from_secs(1);
    let mut pass = |from: &mut Endpoint, to: &mut Endpoint, now: Instant| -> Vec<u8> {
        let t = from.poll_transmit(&mut buf).expect("a datagram");
        let bytes = buf[..t.len].to_vec();
        to.handle_datagram(now, t.remote, t.local, &bytes);
        bytes
    };
    left.connect(t0, "tun").unwrap();
    pass(&mut left, &mut right, t0);
    pass(&mut right, &mut left, t0);
    // The request with the cookie, held for an hour.
    let t = left.poll_transmit(&mut buf).unwrap();
    let with_cookie = buf[..t.len].to_vec();
    t0 += Duration::from_secs(3600);
    while let Some(at) = right.poll_timeout() {
        if at > t0 {
            break;
        }
        right.handle_timeout(at);
    }
    right.handle_timeout(t0);
    right.handle_datagram(t0, addr(RIGHT), addr(LEFT), &with_cookie);
    assert!(
        right.ike_sas().is_empty(),
        "an hour-old cookie was accepted"
    );
    let t = right.poll_transmit(&mut buf).unwrap();
    let answer = Message::parse(&buf[..t.len]).unwrap();
    assert!(answer.notify(NotifyType::COOKIE).is_some(), "{answer:?}");
}

/// Text a peer chose (its ID here) never reaches a log line, an event's text or `show` output
/// raw: newlines, ANSI escapes and bidirectional overrides are escaped.
#[test]
fn peer_text_is_escaped_in_events_and_show() {
    let evil = "left\n\u{1b}[31mFAKE LOG LINE\u{202e}txt\u{7}";
    let mut l = SiteSpec::left();
    l.id = Identity::Fqdn(evil.into());
    // One right side accepts any ID (the SA comes up), one wants another (AUTH fails).
    for peer_id in [
        None,
        Some(IdPattern::Exact(Identity::Fqdn("left.ike.test".into()))),
    ] {
        let mut r = SiteSpec::right();
        r.peer_id = peer_id.clone();
        let mut p = Pair::new(l.config(), r.config(), 42);
        let lines = capture_logs(|| {
            p.left.connect(p.now, "tun").unwrap();
            p.drive_for(Duration::from_secs(5));
        });
        let mut texts: Vec<String> = p
            .left_events
            .iter()
            .chain(&p.right_events)
            .map(|e| e.to_string())
            .collect();
        texts.extend(p.right.ike_sas().iter().map(|s| s.to_string()));
        texts.extend(lines.iter().cloned());
        let mentions = texts.iter().filter(|t| t.contains("FAKE LOG LINE")).count();
        if peer_id.is_none() {
            assert!(p.right.ike_sas()[0].established);
            let show = p.right.ike_sas()[0].to_string();
            assert!(
                show.contains(r"left\n\u{1b}[31mFAKE LOG LINE\u{202e}txt\u{7}"),
                "{show}"
            );
        } else {
            let failed = phase1_failures(&p.right_events);
            assert!(!failed.is_empty());
            assert!(
                failed[0].to_string().contains(r"\u{1b}[31m"),
                "{}",
                failed[0]
            );
        }
        assert!(mentions > 0, "the ID shows up somewhere: {texts:#?}");
        for t in &texts {
            // Show blocks end their lines with a newline of their own.
            let bad: Vec<char> = t
                .trim_end()
                .chars()
                .filter(|c| needs_escape(*c) && *c != '\n')
                .collect();
            assert!(bad.is_empty(), "raw {bad:?} in {t:?}");
            assert!(!t.contains('\u{1b}') && !t.contains('\u{202e}'), "{t:?}");
        }
        for line in &lines {
            assert!(!line.contains('\n'), "{line:?}");
        }
    }
    let e = ikev2::CommandError::UnknownTunnel("x\n\u{1b}[2J".into()).to_string();
    assert!(!e.chars().any(needs_escape), "{e:?}");
}

/// Runs `f` with a subscriber that writes every event and span field of `tracing`, at every
/// level, as a subscriber formatting them would; returns the lines.
fn capture_logs(f: impl FnOnce()) -> Vec<String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event as TEvent, Metadata, Subscriber};

    #[derive(Default)]
    struct Line(String);
    impl Visit for Line {
        fn record_debug(&mut self, field: &Field, value: &dyn core::fmt::Debug) {
            self.0.push_str(&format!(" {}={:?}", field.name(), value));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            // A subscriber printing strings as they are, as the daemon's log does.
            self.0.push_str(&format!(" {}={}", field.name(), value));
        }
    }
    struct Capture(Arc<Mutex<Vec<String>>>, AtomicU64);
    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut l = Line::default();
            span.record(&mut l);
            self.0.lock().unwrap().push(l.0);
            Id::from_u64(self.1.fetch_add(1, Ordering::Relaxed) + 1)
        }
        fn record(&self, _: &Id, values: &Record<'_>) {
            let mut l = Line::default();
            values.record(&mut l);
            self.0.lock().unwrap().push(l.0);
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &TEvent<'_>) {
            let mut l = Line::default();
            event.record(&mut l);
            self.0.lock().unwrap().push(l.0);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sub = Capture(lines.clone(), AtomicU64::new(0));
    tracing::subscriber::with_default(sub, f);
    let out = lines.lock().unwrap().clone();
    out
}

/// The peer's request and its response to ours may carry the same message ID (each side numbers
/// its own requests). Their fragments, interleaved, reassemble into the two messages, never one
/// of parts of both.
#[test]
fn fragments_of_a_request_and_a_response_with_one_message_id_stay_apart() {
    use ikev2::wire::{protect_fragments, Limits, Reassembler, SkKeys};
    use ipsec_core::crypto::{EncrId, Encryption, IntegId};
    let keys = SkKeys::new(
        &default_provider(),
        Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
        IntegId::NONE,
        &[7; 20],
        &[],
    )
    .unwrap();
    let rng = SeededRandom::new([5; 32]);
    let header = |response| {
        Header::new(
            0x1111,
            0x2222,
            ExchangeType::INFORMATIONAL,
            Flags::new(false, response),
            5,
        )
    };
    let inner = |b: u8| vec![Payload::Notify(Notify::new(NotifyType(40_000), &[b; 900]))];
    let fragments = |response, b| {
        protect_fragments(
            &header(response),
            &inner(b),
            &keys,
            &rng,
            300,
            &Limits::default(),
        )
        .unwrap()
    };
    let (request, response) = (fragments(false, 0xaa), fragments(true, 0xbb));
    assert!(request.len() >= 3 && request.len() == response.len());
    let mut r = Reassembler::default();
    let mut done = Vec::new();
    for (q, s) in request.iter().zip(&response) {
        done.extend(r.handle(q, &keys).unwrap());
        done.extend(r.handle(s, &keys).unwrap());
    }
    assert_eq!(done.len(), 2, "both messages reassemble");
    assert_eq!(done[0].payloads, inner(0xaa));
    assert!(!done[0].header.flags.is_response());
    assert_eq!(done[1].payloads, inner(0xbb));
    assert!(done[1].header.flags.is_response());
}

/// The answer to our IKE SA rekey carries an 8-byte nonce: no successor is made of it (the
/// malformed answer ends the IKE SA, as any malformed rekey answer does).
#[test]
fn a_short_nonce_in_an_ike_rekey_response_makes_no_successor() {
    // Sealed on the right's old IKE SA, which answered the rekey.
    let (mut p, forged) = short_nonce_answer(43, |p| p.left.rekey_ike(p.now, "gw").unwrap());
    let ups = |p: &Pair| {
        p.left_events
            .iter()
            .filter(|e| matches!(e, Event::IkeSaUp { .. }))
            .count()
    };
    let before = ups(&p);
    p.inject(Side::Right, "gw", &forged);
    p.drive_for(Duration::from_millis(100));
    assert_eq!(ups(&p), before, "{:?}", p.left_events);
    assert!(p.left_events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: Reason::Malformed(_),
            ..
        }
    )));
}
