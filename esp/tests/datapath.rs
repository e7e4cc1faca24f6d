//! Round trips through every supported transform and mode, and the receive-side rules: tampering,
//! replay, padding, dummy packets, TFC padding, lifetimes, sequence number exhaustion, ESN.

mod common;

use common::{child, provider, suites};
use esp::encap::{parse_outer, DfPolicy, Framing, Received};
use esp::ip::ecn;
use esp::{DropReason, EspError, InboundSa, LimitKind, OutboundSa, SaEvent};
use ipsec_core::child_sa::{ChildSa, Lifetimes, Mode, UdpEncapsulation};
use ipsec_core::crypto::{EncrId, Encryption, IntegId};
use ipsec_core::time::Instant;

const NOW: Instant = Instant::ZERO;

/// A minimal IPv4 UDP packet of `len` bytes from `src` to `dst` with the given TOS and DF.
fn ipv4(len: usize, src: [u8; 4], dst: [u8; 4], tos: u8, df: bool) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[1] = tos;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    if df {
        p[6] = 0x40;
    }
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    let sum = esp::ip::checksum(&[&p[..20]]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p[20..22].copy_from_slice(&1234u16.to_be_bytes());
    p[22..24].copy_from_slice(&53u16.to_be_bytes());
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

/// A minimal IPv6 UDP packet of `len` bytes.
fn ipv6(len: usize, tclass: u8) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x60 | (tclass >> 4);
    p[1] = tclass << 4;
    p[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(
        &"2001:db8:1::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    p[24..40].copy_from_slice(
        &"2001:db8:2::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    for (i, b) in p[40..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

fn pair(c: &ChildSa) -> (OutboundSa, InboundSa) {
    let p = provider();
    (
        OutboundSa::new(&p, c, NOW).unwrap(),
        InboundSa::new(&p, c, NOW).unwrap(),
    )
}

fn keyed(name_filter: &str) -> ChildSa {
    let (_, enc, integ, el, il) = suites().into_iter().find(|s| s.0 == name_filter).unwrap();
    child(enc, integ, &vec![7u8; el], &vec![9u8; il], 0x1000_0001)
}

/// Encapsulates `inner` in a fresh buffer with exactly the headroom and tailroom the SA asks
/// for; returns the buffer and the range of the packet to send.
fn seal(tx: &mut OutboundSa, inner: &[u8]) -> Vec<u8> {
    let head = tx.headroom();
    let mut buf = vec![0xee; head + inner.len() + tx.max_tailroom()];
    buf[head..head + inner.len()].copy_from_slice(inner);
    let r = tx
        .encapsulate(NOW, &mut buf, head..head + inner.len())
        .unwrap();
    buf[r].to_vec()
}

#[test]
fn every_suite_round_trips_ipv4_and_ipv6_in_tunnel_mode() {
    for (name, enc, integ, el, il) in suites() {
        for esn in [false, true] {
            let mut c = child(enc, integ, &vec![1u8; el], &vec![2u8; il], 0x2000_0002);
            c.esn = esn;
            let (mut tx, mut rx) = pair(&c);
            for inner in [
                ipv4(28, [10, 1, 0, 1], [10, 2, 0, 1], 0, true),
                ipv4(1400, [10, 1, 0, 1], [10, 2, 0, 1], 0, false),
                ipv6(48, 0),
                ipv6(1280, 0),
            ] {
                let mut pkt = seal(&mut tx, &inner);
                let d = rx.decapsulate(NOW, &mut pkt).unwrap().unwrap();
                assert_eq!(&pkt[d.range.clone()], &inner[..], "{name} esn={esn}");
                let nh = if inner[0] >> 4 == 4 { 4 } else { 41 };
                assert_eq!(d.next_header, nh);
            }
            assert_eq!(tx.counters().packets, 4);
            assert_eq!(rx.counters().packets, 4);
            assert_eq!(rx.counters().drops.total(), 0);
        }
    }
}

#[test]
fn transport_mode_carries_the_upper_layer_payload() {
    let mut c = keyed("aes256-sha256");
    c.mode = Mode::Transport;
    let (mut tx, mut rx) = pair(&c);
    let payload = b"an upper-layer segment of 37 bytes!!!";
    let mut buf = vec![0u8; 64 + payload.len() + 64];
    buf[64..64 + payload.len()].copy_from_slice(payload);
    assert!(matches!(
        tx.encapsulate(NOW, &mut buf, 64..64 + payload.len()),
        Err(EspError::Config(_))
    ));
    let r = tx
        .encapsulate_payload(NOW, &mut buf, 64..64 + payload.len(), 6)
        .unwrap();
    // AES-CBC: 16-byte blocks, IV of 16, ICV of 16.
    assert_eq!(r.len(), 8 + 16 + 48 + 16);
    let mut pkt = buf[r].to_vec();
    let d = rx.decapsulate(NOW, &mut pkt).unwrap().unwrap();
    assert_eq!(&pkt[d.range], payload);
    assert_eq!(d.next_header, 6);
}

#[test]
fn any_flipped_bit_fails_and_changes_nothing_but_a_drop_counter() {
    for (name, enc, integ, el, il) in suites() {
        let c = child(enc, integ, &vec![3u8; el], &vec![4u8; il], 0x3000_0003);
        let (mut tx, mut rx) = pair(&c);
        let pkt = seal(&mut tx, &ipv4(60, [10, 1, 0, 1], [10, 2, 0, 1], 0, false));
        for bit in 0..pkt.len() * 8 {
            let mut bad = pkt.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let r = rx.decapsulate(NOW, &mut bad);
            assert!(r.is_err(), "{name}: bit {bit} accepted");
        }
        assert_eq!(rx.replay_window().top(), 0, "{name}");
        assert_eq!(rx.counters().packets, 0);
        let drops = rx.counters().drops;
        assert_eq!(drops.total(), (pkt.len() * 8) as u64);
        // SPI flips name another SA; the flip of the sequence number's low bit makes it 0, which is
        // never sent; every other flip fails the ICV.
        assert_eq!(drops.get(DropReason::UnknownSpi), 32, "{name}");
        assert_eq!(drops.get(DropReason::Replay), 1, "{name}");
        assert_eq!(
            drops.get(DropReason::IcvFailure),
            (pkt.len() * 8 - 33) as u64,
            "{name}"
        );
        // The genuine packet is still accepted afterwards.
        let mut good = pkt.clone();
        assert!(rx.decapsulate(NOW, &mut good).unwrap().is_some());
    }
}

#[test]
fn truncated_packets_of_any_length_are_malformed() {
    let c = keyed("aes128gcm16");
    let (mut tx, mut rx) = pair(&c);
    let pkt = seal(&mut tx, &ipv4(40, [10, 1, 0, 1], [10, 2, 0, 1], 0, false));
    for n in 0..pkt.len() {
        let mut short = pkt[..n].to_vec();
        assert!(rx.decapsulate(NOW, &mut short).is_err(), "{n}");
    }
    assert_eq!(rx.replay_window().top(), 0);
}

#[test]
fn replays_are_dropped_before_decryption_and_counted() {
    let c = keyed("chacha20poly1305");
    let (mut tx, mut rx) = pair(&c);
    let inner = ipv4(100, [10, 1, 0, 1], [10, 2, 0, 1], 0, false);
    let pkts: Vec<_> = (0..3).map(|_| seal(&mut tx, &inner)).collect();
    for p in [&pkts[2], &pkts[0]] {
        let mut b = p.clone();
        rx.decapsulate(NOW, &mut b).unwrap();
    }
    let mut again = pkts[0].clone();
    assert_eq!(rx.decapsulate(NOW, &mut again), Err(EspError::Replay(1)));
    // A replay is not even decrypted: the buffer is untouched.
    assert_eq!(again, pkts[0]);
    let mut late = pkts[1].clone();
    assert!(rx.decapsulate(NOW, &mut late).unwrap().is_some());
    assert_eq!(rx.counters().drops.get(DropReason::Replay), 1);
}

#[test]
fn dummy_packets_are_dropped_silently_after_authentication() {
    let c = keyed("aes128gcm16");
    let (mut tx, mut rx) = pair(&c);
    let mut buf = vec![0u8; 200];
    let r = tx.encapsulate_payload(NOW, &mut buf, 16..66, 59).unwrap();
    let mut pkt = buf[r].to_vec();
    assert_eq!(rx.decapsulate(NOW, &mut pkt), Ok(None));
    assert_eq!(rx.counters().dummies, 1);
    assert_eq!(rx.counters().packets, 0);
    assert_eq!(
        rx.replay_window().top(),
        1,
        "a dummy still consumes its sequence number"
    );
}

#[test]
fn tfc_padding_is_added_when_allowed_and_stripped_on_receipt() {
    let mut c = keyed("aes128gcm16");
    let inner = ipv4(40, [10, 1, 0, 1], [10, 2, 0, 1], 0, false);
    // Not negotiated: the setting is ignored.
    let (mut tx, _) = pair(&c);
    tx.set_tfc_padding(Some(1000));
    assert_eq!(seal(&mut tx, &inner).len(), 8 + 8 + 44 + 16);
    c.tfc_padding = true;
    let (mut tx, mut rx) = pair(&c);
    tx.set_tfc_padding(Some(1000));
    let mut pkt = seal(&mut tx, &inner);
    assert_eq!(pkt.len(), 8 + 8 + 1004 + 16);
    let d = rx.decapsulate(NOW, &mut pkt).unwrap().unwrap();
    assert_eq!(&pkt[d.range], &inner[..]);
}

/// Signs an ENCR_NULL + HMAC-SHA2-256-128 packet by hand, so the trailer can be anything.
fn null_packet(ikey: &[u8], seq: u32, plaintext: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut p = Vec::new();
    p.extend_from_slice(&0x1000_0001u32.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(plaintext);
    let mut m = <hmac::Hmac<sha2::Sha256>>::new_from_slice(ikey).unwrap();
    m.update(&p);
    let icv = m.finalize().into_bytes();
    p.extend_from_slice(&icv[..16]);
    p
}

#[test]
fn bad_padding_is_detected_after_authentication() {
    let mut c = keyed("null-sha256");
    c.mode = Mode::Transport;
    let (_, mut rx) = pair(&c);
    let ikey = [9u8; 32];
    // Correct: payload "ab", padding 1 2, pad length 2, next header 17.
    let mut ok = null_packet(&ikey, 1, b"abcd\x01\x02\x02\x11");
    let d = rx.decapsulate(NOW, &mut ok).unwrap().unwrap();
    assert_eq!(&ok[d.range], b"abcd");
    // Authentic but padding bytes not 1, 2, ...
    let mut bad = null_packet(&ikey, 2, b"abcd\x07\x07\x02\x11");
    assert_eq!(rx.decapsulate(NOW, &mut bad), Err(EspError::BadPadding));
    // Authentic but pad length longer than the packet.
    let mut bad = null_packet(&ikey, 3, b"abcd\x01\x02\xff\x11");
    assert_eq!(rx.decapsulate(NOW, &mut bad), Err(EspError::BadPadding));
    assert_eq!(rx.counters().drops.get(DropReason::BadPadding), 2);
    // Authenticated packets move the window even when their content is bad: no replays.
    assert_eq!(rx.replay_window().top(), 3);
    // ENCR_NULL still needs the 4-octet alignment of RFC 4303 section 2.4.
    let mut odd = null_packet(&ikey, 4, b"abc\x00\x11");
    assert!(matches!(
        rx.decapsulate(NOW, &mut odd),
        Err(EspError::Malformed(_))
    ));
}

#[test]
fn outer_ipv4_and_ipv6_headers_with_udp_encapsulation() {
    for (local, remote) in [
        ("192.0.2.1:4500", "192.0.2.2:4500"),
        ("[2001:db8::1]:4500", "[2001:db8::2]:4500"),
    ] {
        for udp in [false, true] {
            let mut c = keyed("aes256gcm16");
            c.local_addr = local.parse().unwrap();
            c.remote_addr = remote.parse().unwrap();
            c.encapsulation = udp.then_some(UdpEncapsulation {
                local_port: 4500,
                remote_port: 40123,
            });
            let (mut tx, mut rx) = pair(&c);
            tx.set_framing(Framing::IpPacket);
            for inner in [
                ipv4(60, [10, 1, 0, 1], [10, 2, 0, 1], 0xb8 | ecn::ECT0, true),
                ipv6(80, 0xb8 | ecn::ECT1),
            ] {
                let mut out = seal(&mut tx, &inner);
                let flow = esp::ip::flow(&out).unwrap();
                assert_eq!(flow.src, c.local_addr.ip());
                assert_eq!(flow.dst, c.remote_addr.ip());
                // DSCP and ECN copied (RFC 6040 normal mode); DF copied from an IPv4 inner.
                assert_eq!(flow.tos, inner_tos(&inner));
                assert_eq!(flow.df, local.starts_with('1') && inner[0] >> 4 == 4);
                if remote.starts_with('1') {
                    assert_eq!(esp::ip::checksum(&[&out[..20]]), 0);
                }
                let port = if udp { 40123 } else { 4500 };
                let Received::Esp(o) = parse_outer(&out, port).unwrap() else {
                    panic!("not ESP")
                };
                if udp {
                    assert_eq!(o.source.port(), 4500);
                    assert_eq!(flow.dst_port, Some(40123));
                    if remote.starts_with('[') {
                        // IPv6: a real UDP checksum over pseudo-header, header and ESP.
                        let len = out.len() - 40;
                        let mut pseudo = [0u8; 40];
                        pseudo[..32].copy_from_slice(&out[8..40]);
                        pseudo[32..36].copy_from_slice(&(len as u32).to_be_bytes());
                        pseudo[39] = 17;
                        assert_eq!(esp::ip::checksum(&[&pseudo, &out[40..]]), 0);
                    }
                }
                let d = rx
                    .decapsulate_with_ecn(NOW, &mut out[o.esp_start..o.esp_end], o.ecn)
                    .unwrap()
                    .unwrap();
                let got = &out[o.esp_start..o.esp_end][d.range];
                assert_eq!(got, &inner[..]);
            }
        }
    }
}

fn inner_tos(p: &[u8]) -> u8 {
    esp::ip::flow(p).unwrap().tos
}

#[test]
fn df_policy_and_ecn_decapsulation() {
    let c = keyed("aes128gcm16");
    let (mut tx, mut rx) = pair(&c);
    tx.set_framing(Framing::IpPacket);
    tx.set_df_policy(DfPolicy::Clear);
    let out = seal(&mut tx, &ipv4(60, [10, 1, 0, 1], [10, 2, 0, 1], 0, true));
    assert!(!esp::ip::flow(&out).unwrap().df);
    tx.set_df_policy(DfPolicy::Set);
    let out = seal(&mut tx, &ipv4(60, [10, 1, 0, 1], [10, 2, 0, 1], 0, false));
    assert!(esp::ip::flow(&out).unwrap().df);

    // Congestion experienced on the outer header reaches an ECN-capable inner packet...
    tx.set_framing(Framing::Payload);
    let mut pkt = seal(
        &mut tx,
        &ipv4(60, [10, 1, 0, 1], [10, 2, 0, 1], ecn::ECT0, false),
    );
    let d = rx
        .decapsulate_with_ecn(NOW, &mut pkt, ecn::CE)
        .unwrap()
        .unwrap();
    let inner = &pkt[d.range];
    assert_eq!(inner[1] & 3, ecn::CE);
    assert_eq!(esp::ip::checksum(&[&inner[..20]]), 0);
    // ...and drops a Not-ECT one (RFC 6040 section 4.2).
    let mut pkt = seal(&mut tx, &ipv4(60, [10, 1, 0, 1], [10, 2, 0, 1], 0, false));
    assert_eq!(
        rx.decapsulate_with_ecn(NOW, &mut pkt, ecn::CE),
        Err(EspError::EcnDrop)
    );
    assert_eq!(rx.counters().drops.get(DropReason::Ecn), 1);
}

#[test]
fn buffers_without_room_are_refused_without_consuming_a_sequence_number() {
    let c = keyed("aes128-sha256");
    let (mut tx, _) = pair(&c);
    let inner = ipv4(60, [10, 1, 0, 1], [10, 2, 0, 1], 0, false);
    let mut buf = vec![0u8; tx.headroom() - 1 + inner.len() + tx.max_tailroom()];
    let h = tx.headroom() - 1;
    buf[h..h + 60].copy_from_slice(&inner);
    assert!(matches!(
        tx.encapsulate(NOW, &mut buf, h..h + 60),
        Err(EspError::BufferTooSmall { .. })
    ));
    let mut buf = vec![0u8; tx.headroom() + inner.len() + 10];
    let h = tx.headroom();
    buf[h..h + 60].copy_from_slice(&inner);
    assert!(matches!(
        tx.encapsulate(NOW, &mut buf, h..h + 60),
        Err(EspError::BufferTooSmall { .. })
    ));
    assert_eq!(tx.next_sequence(), 1);
}

#[test]
fn sequence_numbers_never_wrap() {
    let c = keyed("aes128gcm16");
    let (mut tx, _) = pair(&c);
    tx.set_next_sequence(u64::from(u32::MAX) - 1).unwrap();
    let inner = ipv4(40, [10, 1, 0, 1], [10, 2, 0, 1], 0, false);
    seal(&mut tx, &inner);
    assert_eq!(
        tx.poll_event(),
        Some(SaEvent::SoftExpired(LimitKind::SequenceNumber))
    );
    seal(&mut tx, &inner);
    assert_eq!(
        tx.poll_event(),
        Some(SaEvent::HardExpired(LimitKind::SequenceNumber))
    );
    let mut buf = vec![0u8; 200];
    buf[40..80].copy_from_slice(&inner);
    assert_eq!(
        tx.encapsulate(NOW, &mut buf, 40..80),
        Err(EspError::SequenceExhausted)
    );
    assert_eq!(tx.poll_event(), None);

    // With ESN the same SA continues past 2^32, and the receiver follows.
    let mut c = keyed("aes128gcm16");
    c.esn = true;
    let (mut tx, mut rx) = pair(&c);
    tx.set_next_sequence(u64::from(u32::MAX) - 1).unwrap();
    rx.set_replay_top(u64::from(u32::MAX) - 2);
    for expect in [0xffff_fffe_u64, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0001] {
        let mut pkt = seal(&mut tx, &inner);
        let d = rx.decapsulate(NOW, &mut pkt).unwrap().unwrap();
        assert_eq!(d.sequence, expect);
    }
    assert_eq!(tx.poll_event(), None);
}

#[test]
fn lifetimes_raise_events_and_hard_limits_stop_traffic() {
    let mut c = keyed("aes128gcm16");
    c.lifetimes = Lifetimes {
        soft_bytes: Some(100),
        hard_bytes: Some(200),
        soft_time: Some(core::time::Duration::from_secs(60)),
        hard_time: Some(core::time::Duration::from_secs(90)),
        ..Lifetimes::default()
    };
    let (mut tx, mut rx) = pair(&c);
    let inner = ipv4(60, [10, 1, 0, 1], [10, 2, 0, 1], 0, false);
    assert_eq!(tx.poll_timeout(), Some(Instant::from_secs(60)));
    let mut pkts = Vec::new();
    for _ in 0..4 {
        pkts.push(seal(&mut tx, &inner));
    }
    assert_eq!(
        tx.poll_event(),
        Some(SaEvent::HardExpired(LimitKind::Bytes))
    );
    assert_eq!(
        tx.poll_event(),
        Some(SaEvent::SoftExpired(LimitKind::Bytes))
    );
    let mut buf = vec![0u8; 200];
    buf[40..100].copy_from_slice(&inner);
    assert_eq!(
        tx.encapsulate(NOW, &mut buf, 40..100),
        Err(EspError::LifetimeExpired)
    );
    for (i, p) in pkts.iter().enumerate() {
        let mut b = p.clone();
        let r = rx.decapsulate(NOW, &mut b);
        assert_eq!(r.is_ok(), i < 4, "{i}");
    }
    assert_eq!(
        rx.poll_event(),
        Some(SaEvent::HardExpired(LimitKind::Bytes))
    );
    let mut b = pkts[0].clone();
    assert_eq!(rx.decapsulate(NOW, &mut b), Err(EspError::LifetimeExpired));

    // Time limits come from `now`.
    let (mut tx, _) = pair(&keyed("aes128gcm16"));
    assert_eq!(tx.poll_timeout(), None);
    let (mut tx2, _) = pair(&c);
    tx2.handle_timeout(Instant::from_secs(61));
    assert_eq!(
        tx2.poll_event(),
        Some(SaEvent::SoftExpired(LimitKind::Time))
    );
    assert_eq!(tx2.poll_timeout(), Some(Instant::from_secs(90)));
    let mut buf = vec![0u8; 200];
    buf[40..100].copy_from_slice(&inner);
    assert_eq!(
        tx2.encapsulate(Instant::from_secs(91), &mut buf, 40..100),
        Err(EspError::LifetimeExpired)
    );
    assert!(tx
        .encapsulate(Instant::from_secs(91), &mut buf, 40..100)
        .is_ok());
}

#[test]
fn inner_packets_outside_the_selectors_are_dropped() {
    let mut c = keyed("aes128gcm16");
    let ts = |a: [u8; 4], b: [u8; 4]| ipsec_core::selector::TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
        start_addr: a.into(),
        end_addr: b.into(),
    };
    // Symmetric description: what we send must be from local to remote, and what we receive
    // from remote to local; with the same keys both ways, use one selector covering both.
    c.local_ts = vec![ts([10, 0, 0, 0], [10, 255, 255, 255])];
    c.remote_ts = vec![ts([10, 0, 0, 0], [10, 255, 255, 255])];
    let (mut tx, mut rx) = pair(&c);
    let mut pkt = seal(&mut tx, &ipv4(40, [10, 1, 0, 1], [10, 2, 0, 1], 0, false));
    assert!(rx.decapsulate(NOW, &mut pkt).unwrap().is_some());
    let mut pkt = seal(
        &mut tx,
        &ipv4(40, [192, 168, 0, 1], [10, 2, 0, 1], 0, false),
    );
    assert_eq!(rx.decapsulate(NOW, &mut pkt), Err(EspError::PolicyMismatch));
    assert_eq!(rx.counters().drops.get(DropReason::Policy), 1);
}

#[test]
fn tunnel_mode_accepts_only_ip_packets() {
    let c = keyed("aes128gcm16");
    let (mut tx, mut rx) = pair(&c);
    let inner = ipv4(40, [10, 1, 0, 1], [10, 2, 0, 1], 0, false);
    for (nh, want) in [
        (6u8, EspError::PolicyMismatch),
        (
            41,
            EspError::BadInnerPacket("next header and IP version disagree"),
        ),
    ] {
        let mut buf = vec![0u8; 200];
        buf[16..56].copy_from_slice(&inner);
        let r = tx.encapsulate_payload(NOW, &mut buf, 16..56, nh).unwrap();
        let mut pkt = buf[r].to_vec();
        assert_eq!(rx.decapsulate(NOW, &mut pkt), Err(want));
    }
    assert_eq!(rx.counters().drops.get(DropReason::Policy), 1);
    assert_eq!(rx.counters().drops.get(DropReason::Malformed), 1);
    assert_eq!(rx.counters().packets, 0);
}

#[test]
fn configuration_mistakes_are_errors() {
    let p = provider();
    let mut c = keyed("aes128gcm16");
    c.integrity = IntegId::AUTH_HMAC_SHA2_256_128;
    assert!(matches!(
        OutboundSa::new(&p, &c, NOW),
        Err(EspError::Config(_))
    ));
    let mut c = keyed("aes128gcm16");
    c.inbound.encryption_key = ipsec_core::crypto::SecretBytes::from_slice(&[1; 5]);
    assert!(matches!(
        InboundSa::new(&p, &c, NOW),
        Err(EspError::Config(_))
    ));
    let mut c = keyed("aes128gcm16");
    c.replay_window = 1 << 20;
    assert!(matches!(
        InboundSa::new(&p, &c, NOW),
        Err(EspError::Config(_))
    ));
    let c = child(
        Encryption::new(EncrId::ENCR_NULL, 0),
        IntegId::NONE,
        &[],
        &[],
        1,
    );
    assert!(matches!(
        OutboundSa::new(&p, &c, NOW),
        Err(EspError::Config(_))
    ));
    let mut c = keyed("aes128gcm16");
    c.protocol = ipsec_core::child_sa::IpsecProtocol::Ah;
    assert!(matches!(
        OutboundSa::new(&p, &c, NOW),
        Err(EspError::Config(_))
    ));
    let c = child(
        Encryption::new(EncrId::ENCR_AES_CCM_16, 128),
        IntegId::NONE,
        &[0; 19],
        &[],
        1,
    );
    assert!(matches!(
        OutboundSa::new(&p, &c, NOW),
        Err(EspError::Config(_))
    ));
}

#[test]
fn the_default_provider_and_the_test_provider_interoperate() {
    // Two independent implementations of the provider traits agree on every suite.
    let other = common::provider::test_provider();
    for (name, enc, integ, el, il) in suites() {
        if other.integrity(integ).is_none() && integ != IntegId::NONE
            || other.aead(enc).is_none()
                && other.cipher(enc).is_none()
                && enc.id != EncrId::ENCR_NULL
        {
            continue;
        }
        let c = child(enc, integ, &vec![8u8; el], &vec![7u8; il], 0x4000_0004);
        let mut tx = OutboundSa::new(&provider(), &c, NOW).unwrap();
        let mut rx = InboundSa::new(&other, &c, NOW).unwrap();
        let inner = ipv4(300, [10, 1, 0, 1], [10, 2, 0, 1], 0, false);
        let mut pkt = seal(&mut tx, &inner);
        let d = rx.decapsulate(NOW, &mut pkt).unwrap().unwrap();
        assert_eq!(&pkt[d.range], &inner[..], "{name}");
        let mut tx = OutboundSa::new(&other, &c, NOW).unwrap();
        let mut rx = InboundSa::new(&provider(), &c, NOW).unwrap();
        let mut pkt = seal(&mut tx, &inner);
        let d = rx.decapsulate(NOW, &mut pkt).unwrap().unwrap();
        assert_eq!(&pkt[d.range], &inner[..], "{name}");
    }
}

#[test]
fn cbc_ivs_are_the_encrypted_sequence_number() {
    use aes::cipher::{BlockEncrypt, KeyInit};
    let c = keyed("aes128-sha256");
    let (mut tx, _) = pair(&c);
    let inner = ipv4(60, [10, 1, 0, 1], [10, 2, 0, 1], 0, false);
    let aes = aes::Aes128::new_from_slice(&[7u8; 16]).unwrap();
    let mut ivs = Vec::new();
    for seq in 1u64..=3 {
        let pkt = seal(&mut tx, &inner);
        let mut block = [0u8; 16];
        block[8..].copy_from_slice(&seq.to_be_bytes());
        aes.encrypt_block((&mut block).into());
        assert_eq!(pkt[8..24], block, "IV of packet {seq}");
        ivs.push(pkt[8..24].to_vec());
    }
    assert_ne!(ivs[0], ivs[1]);
}
