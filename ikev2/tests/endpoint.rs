//! Endpoint-level behaviour: several gateways, INITIAL_CONTACT, the half-open cookie threshold,
//! a real strongSwan IKE_SA_INIT, and arbitrary input.

use core::time::Duration;
use ikev2::config::EndpointConfig;
use ikev2::testing::{Pair, Side, SiteSpec};
use ikev2::{Endpoint, Event, Reason, Received};
use ipsec_core::crypto::default::SeededRandom;
use ipsec_core::crypto::default_provider;
use std::net::SocketAddr;

fn seeded(n: u8) -> Box<SeededRandom> {
    Box::new(SeededRandom::new([n; 32]))
}

/// Two gateways on the right endpoint (peers .1 and .3); the right endpoint picks the gateway by
/// the peer's address and answers each with its own PSK and ID.
///
/// ```text
/// .1 IKE_SA_INIT/IKE_AUTH --> right (gateway "gw")
/// .3 IKE_SA_INIT/IKE_AUTH --> right (gateway "gw3")
/// ```
#[test]
fn several_gateways_on_one_endpoint() {
    let mut right = SiteSpec::right().config();
    let mut third = SiteSpec::right();
    third.peer = Some("192.0.2.3".parse().unwrap());
    third.psk = "another-key";
    third.peer_id = None;
    third.remote_net = "10.3.0.0/24";
    let mut extra = third.config();
    extra.gateways[0].name = "gw3".into();
    extra.tunnels[0].name = "tun3".into();
    extra.tunnels[0].gateway = "gw3".into();
    right.gateways.extend(extra.gateways);
    right.tunnels.extend(extra.tunnels);

    let mut p = Pair::new(SiteSpec::left().config(), right, 41);
    p.left.connect(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Right)));

    // The third peer speaks directly to the right endpoint through a second Pair-less exchange.
    let mut l3 = SiteSpec::left();
    l3.addr = "192.0.2.3".parse().unwrap();
    l3.psk = "another-key";
    l3.local_net = "10.3.0.0/24";
    l3.id = ikev2::identity::Identity::Fqdn("third.ike.test".into());
    let mut c = Endpoint::with_rng(l3.config(), default_provider(), seeded(9)).unwrap();
    let mut now = p.now;
    c.connect(now, "tun").unwrap();
    let mut buf = vec![0u8; 65535];
    for _ in 0..10 {
        let mut moved = false;
        while let Some(t) = c.poll_transmit(&mut buf) {
            p.right
                .handle_datagram(now, t.remote, t.local, &buf[..t.len]);
            moved = true;
        }
        while let Some(t) = p.right.poll_transmit(&mut buf) {
            if t.remote.ip().to_string() == "192.0.2.3" {
                c.handle_datagram(now, t.remote, t.local, &buf[..t.len]);
                moved = true;
            }
        }
        if !moved {
            break;
        }
        now += Duration::from_millis(10);
    }
    let sas = p.right.ike_sas();
    assert_eq!(sas.len(), 2);
    let gw3 = sas.iter().find(|s| s.gateway == "gw3").expect("gw3 SA");
    assert!(gw3.established);
    assert_eq!(gw3.children[0].tunnel, "tun3");
    assert!(c.ike_sas()[0].established);
}

/// The left endpoint restarts (loses its state) and connects again with INITIAL_CONTACT; the
/// right endpoint drops the stale IKE SA without waiting for liveness to notice.
///
/// ```text
/// (left A) IKE_SA_INIT/IKE_AUTH              -->  SA #1
/// (left A dies; left B, same config)
/// (left B) IKE_AUTH {N(INITIAL_CONTACT)...}  -->  SA #2 up, SA #1 deleted
/// ```
#[test]
fn initial_contact_replaces_stale_sas() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 42);
    p.left.connect(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Right)));
    p.left = Endpoint::with_rng(SiteSpec::left().config(), default_provider(), seeded(77)).unwrap();
    p.left.connect(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)));
    p.drive_for(Duration::from_millis(100));
    assert_eq!(p.right.ike_sas().len(), 1, "the stale SA is gone");
    assert!(p.right_events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: Reason::PeerRestarted,
            ..
        }
    )));
}

/// Above the half-open threshold the responder answers every IKE_SA_INIT with a cookie.
#[test]
fn half_open_threshold_turns_cookies_on() {
    let mut r = SiteSpec::right().config();
    r.cookie_threshold = 1;
    let mut right = Endpoint::with_rng(r, default_provider(), seeded(5)).unwrap();
    let mut buf = vec![0u8; 65535];
    let now = ipsec_core::time::Instant::from_secs(1);
    let mut cookies = 0;
    let mut created = 0;
    for i in 0..3u8 {
        let mut l = Endpoint::with_rng(
            SiteSpec::left().config(),
            default_provider(),
            seeded(50 + i),
        )
        .unwrap();
        l.connect(now, "tun").unwrap();
        let t = l.poll_transmit(&mut buf).unwrap();
        right.handle_datagram(now, t.remote, t.local, &buf[..t.len]);
        let t = right.poll_transmit(&mut buf).unwrap();
        let resp = &buf[..t.len];
        if resp[16] == 41 && resp[28 + 6..28 + 8] == 16390u16.to_be_bytes() {
            cookies += 1;
        } else {
            created += 1;
        }
    }
    assert_eq!((created, cookies), (1, 2));
    assert_eq!(right.ike_sas().len(), 1);
}

fn strongswan_messages() -> Vec<Vec<u8>> {
    let d = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/strongswan-x25519/ike_all.pcap"
    ))
    .unwrap();
    let mut off = 24;
    let mut out = Vec::new();
    while off + 16 <= d.len() {
        let incl = u32::from_le_bytes(d[off + 8..off + 12].try_into().unwrap()) as usize;
        out.push(d[off + 16 + 14 + 20 + 8..off + 16 + incl].to_vec());
        off += 16 + incl;
    }
    out
}

/// strongSwan's real IKE_SA_INIT request (aes256gcm16-prfsha256-curve25519, with a bogus
/// NAT_DETECTION_SOURCE_IP because `encap = yes`) is accepted by our responder, which answers with
/// the proposal strongSwan offered and marks the SA for UDP encapsulation.
#[test]
fn strongswan_ike_sa_init_is_answered() {
    let msgs = strongswan_messages();
    let cfg: EndpointConfig = SiteSpec::right().config();
    let mut right = Endpoint::with_rng(cfg, default_provider(), seeded(6)).unwrap();
    let local: SocketAddr = "192.0.2.2:500".parse().unwrap();
    let remote: SocketAddr = "192.0.2.1:500".parse().unwrap();
    let now = ipsec_core::time::Instant::from_secs(1);
    assert_eq!(
        right.handle_datagram(now, local, remote, &msgs[0]),
        Received::Ike
    );
    let mut buf = vec![0u8; 65535];
    let t = right.poll_transmit(&mut buf).expect("a response");
    assert_eq!(t.remote, remote);
    let resp = ikev2::wire::Message::parse(&buf[..t.len]).unwrap();
    assert_eq!(resp.header.initiator_spi, 0xf5b9d1ee4555cab4);
    assert!(resp
        .notify(ikev2::wire::NotifyType::NAT_DETECTION_SOURCE_IP)
        .is_some());
    assert!(resp
        .notify(ikev2::wire::NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
        .is_some());
    let sa = &right.ike_sas()[0];
    assert!(sa.nat, "strongSwan's forced encapsulation is honoured");
    assert_eq!(sa.suite.unwrap().to_string(), "aes-256-gcm/sha256/group31");
    // A retransmission of the request gets the same response, not a second SA.
    right.handle_datagram(now, local, remote, &msgs[0]);
    let t2 = right
        .poll_transmit(&mut vec![0u8; 65535])
        .expect("cached response");
    assert_eq!(t2.len, t.len);
    assert_eq!(right.ike_sas().len(), 1);
}

/// Mutations of real messages and random bytes, on both ports, never panic and never create
/// more than one SA per accepted IKE_SA_INIT.
#[test]
fn arbitrary_input_never_panics() {
    let msgs = strongswan_messages();
    let mut right =
        Endpoint::with_rng(SiteSpec::right().config(), default_provider(), seeded(8)).unwrap();
    let mut x: u64 = 0x1234_5678;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let ports: [SocketAddr; 2] = [
        "192.0.2.2:500".parse().unwrap(),
        "192.0.2.2:4500".parse().unwrap(),
    ];
    let remote: SocketAddr = "192.0.2.1:500".parse().unwrap();
    let mut buf = vec![0u8; 65535];
    for i in 0..3000u64 {
        let base = &msgs[(next() % msgs.len() as u64) as usize];
        let mut m = base.clone();
        for _ in 0..(next() % 4 + 1) {
            let pos = (next() as usize) % m.len();
            m[pos] = next() as u8;
        }
        if next() % 5 == 0 {
            let cut = (next() as usize) % m.len();
            m.truncate(cut);
        }
        let local = ports[(i % 2) as usize];
        if local.port() == 4500 && next() % 2 == 0 {
            m.splice(0..0, [0, 0, 0, 0]);
        }
        let now = ipsec_core::time::Instant::from_millis(1000 + i);
        right.handle_datagram(now, local, remote, &m);
        right.handle_timeout(now);
        while right.poll_transmit(&mut buf).is_some() {}
        while right.poll_event().is_some() {}
    }
    assert!(right.ike_sas().len() < 3000);
    assert!(right.stats().dropped_malformed > 0);
}

#[derive(Debug)]
struct Zeros;
impl ipsec_core::crypto::SecureRandom for Zeros {
    fn fill(&self, buf: &mut [u8]) -> Result<(), ipsec_core::crypto::CryptoError> {
        buf.fill(0);
        Ok(())
    }
}

/// A random source stuck at zero cannot produce an SPI: commands fail with an error and
/// requests are dropped, instead of looping for ever.
#[test]
fn broken_random_source_fails_instead_of_hanging() {
    let mut left = Endpoint::with_rng(
        SiteSpec::left().config(),
        default_provider(),
        Box::new(Zeros),
    )
    .unwrap();
    let now = ipsec_core::time::Instant::from_secs(1);
    assert!(matches!(
        left.connect(now, "tun"),
        Err(ikev2::CommandError::Local(ikev2::LocalError::Crypto(
            ipsec_core::crypto::CryptoError::RandomFailed
        )))
    ));
    let mut right = Endpoint::with_rng(
        SiteSpec::right().config(),
        default_provider(),
        Box::new(Zeros),
    )
    .unwrap();
    let msgs = strongswan_messages();
    let local: SocketAddr = "192.0.2.2:500".parse().unwrap();
    let remote: SocketAddr = "192.0.2.1:500".parse().unwrap();
    right.handle_datagram(now, local, remote, &msgs[0]);
    assert!(right.ike_sas().is_empty());
}

/// Every datagram `ep` has queued, as (receiver's local address, sender's address, bytes).
fn queued(ep: &mut Endpoint) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    let mut buf = vec![0u8; 65535];
    let mut out = Vec::new();
    while let Some(t) = ep.poll_transmit(&mut buf) {
        out.push((t.remote, t.local, buf[..t.len].to_vec()));
    }
    out
}

/// The initiator's SPI of an IKE message.
fn spi_i(m: &[u8]) -> u64 {
    u64::from_be_bytes(m[..8].try_into().unwrap())
}

/// Under load the responder asks for a cookie; a retransmission of the request without it,
/// held up until the load has gone, then makes the half-open SA, while the initiator has sent
/// the request again with the cookie. Whichever answer it gets, the initiator's AUTH covers
/// the request with the cookie: the SA takes that one as the request it answered, and the IKE
/// SA comes up (before, its AUTH did not verify).
///
/// ```text
///  J  IKE_SA_INIT ------------------------------> R   one SA half-open: cookies from now on
///  I  IKE_SA_INIT #1 ---------------------------> R
///  I  <------------------------------ N(COOKIE)
///  J  IKE_AUTH ---------------------------------> R   J up: nothing half-open
///  I  IKE_SA_INIT #1 again (held up) -----------> R   the SA is made, answered
///  I  IKE_SA_INIT #2 (#1 with the cookie) ------> R   taken as the request answered
///  I  <---------------------- IKE_SA_INIT answer
///  I  IKE_AUTH (AUTH over #2) ------------------> R   verifies: up
/// ```
#[test]
fn a_request_held_up_past_a_cookie_round_does_not_break_auth() {
    let now = ipsec_core::time::Instant::from_secs(1);
    let mut r = SiteSpec::right().config();
    r.cookie_threshold = 1;
    let mut right = Endpoint::with_rng(r, default_provider(), seeded(21)).unwrap();
    let left = || SiteSpec::left().config();
    let mut j = Endpoint::with_rng(left(), default_provider(), seeded(22)).unwrap();
    let mut i = Endpoint::with_rng(left(), default_provider(), seeded(23)).unwrap();
    j.connect(now, "tun").unwrap();
    i.connect(now, "tun").unwrap();

    for (l, rm, m) in queued(&mut j) {
        right.handle_datagram(now, l, rm, &m);
    }
    let to_j = queued(&mut right);
    assert_eq!(right.ike_sas().len(), 1, "J's request made an SA");

    let first = queued(&mut i);
    assert_eq!(first.len(), 1);
    let (l, rm, init1) = first[0].clone();
    right.handle_datagram(now, l, rm, &init1);
    let cookie = queued(&mut right);
    assert_eq!(right.ike_sas().len(), 1, "asked for a cookie, no state");
    for (l, rm, m) in cookie {
        i.handle_datagram(now, l, rm, &m);
    }
    let second = queued(&mut i);
    assert_eq!(second.len(), 1);
    let init2 = second[0].2.clone();
    assert_ne!(init1, init2, "sent again with the cookie");

    // J completes: nothing half-open any more.
    let mut pending = to_j;
    for _ in 0..4 {
        for (l, rm, m) in pending.drain(..) {
            j.handle_datagram(now, l, rm, &m);
        }
        for (l, rm, m) in queued(&mut j) {
            right.handle_datagram(now, l, rm, &m);
        }
        pending = queued(&mut right);
    }
    assert!(right.ike_sas().iter().all(|s| s.established));

    // The held-up retransmission of #1, then #2.
    right.handle_datagram(now, l, rm, &init1);
    assert_eq!(
        right.ike_sas().len(),
        2,
        "the request without the cookie made an SA"
    );
    right.handle_datagram(now, l, rm, &init2);
    let mut to_i: Vec<_> = queued(&mut right);
    assert!(to_i.iter().all(|(_, _, m)| spi_i(m) == spi_i(&init1)));
    for _ in 0..4 {
        for (l, rm, m) in to_i.drain(..) {
            i.handle_datagram(now, l, rm, &m);
        }
        for (l, rm, m) in queued(&mut i) {
            right.handle_datagram(now, l, rm, &m);
        }
        to_i = queued(&mut right);
    }
    while let Some(e) = right.poll_event() {
        assert!(!matches!(e, Event::Phase1Failed { .. }), "{e}");
    }
    // (I's INITIAL_CONTACT took J's SA with it: they have one identity.)
    let up = |ep: &Endpoint| {
        ep.ike_sas()
            .iter()
            .any(|s| s.established && s.spi_i == spi_i(&init1))
    };
    assert!(up(&right) && up(&i));
}
