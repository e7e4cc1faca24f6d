//! No amplification: a retransmission is recognised by the whole request (RFC 7296 section
//! 2.1), so a bare header with the right SPIs and message ID gets nothing; and an address that
//! has not proved it receives (no cookie returned, no authenticated message) never gets more
//! bytes than it sent.

use crate::flood::responder;
use crate::memory;
use ikev2::testing::flood::Flood;
use ikev2::testing::{Pair, Side, SiteSpec};
use ikev2::wire::{ExchangeType, Flags, Header, Message, Packet};
use ikev2::Endpoint;
use ipsec_core::time::Instant;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Feeds `data` to `ep` and returns what it sends.
fn exchange(
    ep: &mut Endpoint,
    now: Instant,
    (local, remote): (SocketAddr, SocketAddr),
    data: &[u8],
) -> Vec<(SocketAddr, Vec<u8>)> {
    ep.handle_datagram(now, local, remote, data);
    let mut buf = vec![0u8; 65535];
    let mut out = Vec::new();
    while let Some(t) = ep.poll_transmit(&mut buf) {
        out.push((t.remote, buf[..t.len].to_vec()));
    }
    out
}

/// A bare IKE header: 28 bytes, no payload.
fn header_only(
    spi_i: u64,
    spi_r: u64,
    exchange: ExchangeType,
    initiator: bool,
    id: u32,
) -> Vec<u8> {
    let m = Message {
        header: Header::new(spi_i, spi_r, exchange, Flags::new(initiator, false), id),
        payloads: Vec::new(),
    };
    m.to_bytes().expect("a header encodes")
}

/// ```text
/// initiator (192.0.2.1)                       responder
/// HDR(SPIi, 0), SA, KE, Ni            -->
///                                     <--     HDR(SPIi, SPIr), SA, KE, Nr
/// HDR(SPIi, 0)   (28 bytes)           -->     (nothing)
/// HDR(SPIi, 0), SA, KE, Ni  (again)   -->
///                                     <--     the same response
/// ```
#[test]
fn a_bare_ike_sa_init_header_gets_no_cached_response() {
    let _serial = memory::serial();
    let mut f = responder(|_| {});
    let now = Instant::from_secs(1);
    let peer = Flood::address(1);
    let local = f.local;
    let spi = 0x1234_5678_9abc_def0;
    let request = f.request(spi, None);
    let first = exchange(&mut f.responder, now, (local, peer), &request);
    assert_eq!(first.len(), 1, "the IKE_SA_INIT response");
    assert!(
        first[0].1.len() <= request.len(),
        "no larger than the request"
    );
    let bare = header_only(spi, 0, ExchangeType::IKE_SA_INIT, true, 0);
    assert_eq!(bare.len(), 28);
    assert!(
        exchange(&mut f.responder, now, (local, peer), &bare).is_empty(),
        "a bare header is not the request"
    );
    let again = exchange(&mut f.responder, now, (local, peer), &request);
    assert_eq!(
        again, first,
        "a genuine retransmission gets the cached response"
    );
    assert_eq!(f.responder.ike_sa_count(), 1);
}

/// ```text
/// left                                        right
/// ... IKE_SA_INIT, IKE_AUTH (message ID 1) ... established
/// HDR(SPIi, SPIr, IKE_AUTH, ID 1)  (28 bytes) -->  (nothing)
/// the IKE_AUTH request again                  -->
///                                             <--  the cached IKE_AUTH response
/// ```
#[test]
fn a_bare_header_of_an_established_sa_gets_no_cached_response() {
    let _serial = memory::serial();
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 9);
    p.left.connect(p.now, "tun").expect("connect");
    assert!(p.drive_until(Duration::from_secs(5), |p| {
        p.tunnel_up(Side::Left) && p.tunnel_up(Side::Right)
    }));
    let is = |bytes: &[u8], response: bool| {
        Packet::new_checked(bytes).is_ok_and(|h| {
            h.exchange_type() == ExchangeType::IKE_AUTH && h.flags().is_response() == response
        })
    };
    let (_, l, r, request) = p
        .sent
        .iter()
        .find(|(s, _, _, b)| *s == Side::Left && is(b, false))
        .cloned()
        .expect("the IKE_AUTH request");
    let (_, _, _, response) = p
        .sent
        .iter()
        .find(|(s, _, _, b)| *s == Side::Right && is(b, true))
        .cloned()
        .expect("the IKE_AUTH response");
    let h = Packet::new_checked(&request[..]).expect("header");
    let bare = header_only(
        h.initiator_spi(),
        h.responder_spi(),
        ExchangeType::IKE_AUTH,
        true,
        h.message_id(),
    );
    let now = p.now;
    let answer = exchange(&mut p.right, now, (r, l), &bare);
    assert!(
        answer.is_empty(),
        "{} datagrams sent for a bare header",
        answer.len()
    );
    let answer = exchange(&mut p.right, now, (r, l), &request);
    assert_eq!(
        answer,
        vec![(l, response)],
        "a genuine retransmission gets the cached response"
    );
}

/// Whatever arrives from addresses that never return a cookie, each gets back no more bytes
/// than it sent: bare headers (new SPIs and known ones), truncated and garbled requests, genuine
/// requests and their retransmissions.
#[test]
fn no_unproven_address_gets_more_bytes_than_it_sent() {
    let _serial = memory::serial();
    let mut f = responder(|c| c.cookie_threshold = 200);
    let now = Instant::from_secs(1);
    let local = f.local;
    let mut sent: HashMap<SocketAddr, (usize, usize)> = HashMap::new();
    for i in 0..300u32 {
        let peer = Flood::address(i + 1);
        let spi = 0xabcd_0000_0000_0000 | u64::from(i);
        let request = f.request(spi, None);
        let mut garbled = request.clone();
        let n = garbled.len();
        garbled[n - 5] ^= 0xff;
        let packets = [
            header_only(spi ^ 1, 0, ExchangeType::IKE_SA_INIT, true, 0),
            request[..request.len() / 2].to_vec(),
            garbled,
            request.clone(),
            header_only(spi, 0, ExchangeType::IKE_SA_INIT, true, 0),
            request.clone(),
            header_only(spi, 0x77, ExchangeType::IKE_AUTH, true, 1),
        ];
        for data in packets {
            let out = exchange(&mut f.responder, now, (local, peer), &data);
            let e = sent.entry(peer).or_default();
            e.0 += data.len();
            for (to, bytes) in out {
                assert_eq!(to, peer);
                e.1 += bytes.len();
            }
        }
    }
    for (peer, (bytes_in, bytes_out)) in &sent {
        assert!(
            bytes_out <= bytes_in,
            "{peer}: {bytes_out} bytes out for {bytes_in} in"
        );
    }
    assert!(
        f.responder.half_open_count() > 0,
        "genuine requests still answered"
    );
}
