//! Property and error-path tests of the message codec: any well-formed message survives emit then
//! parse, arbitrary bytes never panic the parser, and malformed input maps to the right notify.

mod wire_support;

use ikev2::wire::*;
use proptest::prelude::*;
use wire_support::{ike_messages, read};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn emit_then_parse_returns_the_message(m in wire_support::strategy::message()) {
        let bytes = m.to_bytes().unwrap();
        prop_assert_eq!(bytes.len(), m.buffer_len());
        let back = Message::parse(&bytes).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.to_bytes().unwrap(), bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(m) = Message::parse(&bytes) {
            let again = m.to_bytes().unwrap();
            prop_assert_eq!(Message::parse(&again).unwrap(), m);
        }
    }

    #[test]
    fn mutated_captures_parse_consistently_or_fail(
        which in 0usize..6,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut m = ike_messages(&read("ike_all.pcap")).swap_remove(which);
        for (i, v) in edits {
            let at = i.index(m.len());
            m[at] = v;
        }
        match Message::parse(&m) {
            Ok(msg) => {
                let again = msg.to_bytes().unwrap();
                prop_assert_eq!(Message::parse(&again).unwrap(), msg);
            }
            Err(e) => prop_assert!(e.notify().is_some() || matches!(e, Error::BadFragment(_))),
        }
    }
}

fn msg(first: u8, body: &[u8]) -> Vec<u8> {
    let mut m = Message {
        header: Header::new(
            1,
            2,
            ExchangeType::INFORMATIONAL,
            Flags::new(true, false),
            3,
        ),
        payloads: vec![],
    }
    .to_bytes()
    .unwrap();
    m[16] = first;
    m.extend_from_slice(body);
    let len = (m.len() as u32).to_be_bytes();
    m[24..28].copy_from_slice(&len);
    m
}

#[test]
fn unknown_payloads_skip_or_fail_by_the_critical_bit() {
    // Unknown type 200, critical bit clear: kept verbatim, then a Nonce.
    let body = [40, 0x00, 0, 6, 0xaa, 0xbb, 0, 0, 0, 5, 0x77];
    let bytes = msg(200, &body);
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(
        m.payloads,
        [
            Payload::Unknown {
                payload_type: PayloadType(200),
                critical: false,
                body: vec![0xaa, 0xbb]
            },
            Payload::Nonce(Nonce { data: vec![0x77] })
        ]
    );
    assert_eq!(m.to_bytes().unwrap(), bytes);
    // The same with the critical bit set.
    let mut crit = body;
    crit[1] = 0x80;
    let e = Message::parse(&msg(200, &crit)).unwrap_err();
    assert_eq!(e, Error::UnsupportedCriticalPayload(PayloadType(200)));
    assert_eq!(e.notify(), Some(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD));
    // A known payload with the critical bit set is understood (RFC 7296 section 2.5).
    let nonce = [0, 0x80, 0, 5, 0x77];
    assert_eq!(
        Message::parse(&msg(40, &nonce)).unwrap().payloads,
        [Payload::Nonce(Nonce { data: vec![0x77] })]
    );
}

#[test]
fn malformed_messages_map_to_notifies() {
    let syntax = Some(NotifyType::INVALID_SYNTAX);
    // Payload length below its header, or past the message.
    for body in [[40u8, 0, 0, 3], [0, 0, 0, 9]] {
        assert_eq!(
            Message::parse(&msg(40, &body)).unwrap_err().notify(),
            syntax
        );
    }
    // Data after the last payload.
    let e = Message::parse(&msg(40, &[0, 0, 0, 4, 1])).unwrap_err();
    assert_eq!(e, Error::BadLength("data after the last payload"));
    // Header says no payloads, yet there are bytes.
    assert_eq!(Message::parse(&msg(0, &[1])).unwrap_err().notify(), syntax);
    // SK not last.
    let e = Message::parse(&msg(46, &[40, 0, 0, 4, 0, 0, 0, 4])).unwrap_err();
    assert_eq!(e.notify(), syntax);
    // Header length differs from the datagram.
    let mut m = msg(40, &[0, 0, 0, 4]);
    m.push(0);
    assert!(matches!(Message::parse(&m), Err(Error::BadLength(_))));
    // Major version 1.
    let mut v1 = msg(0, &[]);
    v1[17] = 0x10;
    assert_eq!(
        Message::parse(&v1).unwrap_err().notify(),
        Some(NotifyType::INVALID_MAJOR_VERSION)
    );
}

#[test]
fn limits_bound_the_work() {
    // 200 empty Nonce payloads.
    let mut body = Vec::new();
    for i in 0..200 {
        body.extend_from_slice(&[if i == 199 { 0 } else { 40 }, 0, 0, 4]);
    }
    let bytes = msg(40, &body);
    assert_eq!(
        Message::parse(&bytes).unwrap_err(),
        Error::LimitExceeded("payloads in a message")
    );
    let roomy = Limits {
        max_payloads: 200,
        ..Limits::default()
    };
    assert_eq!(
        Message::parse_with(&bytes, &roomy).unwrap().payloads.len(),
        200
    );
    let small = Limits {
        max_message_len: 100,
        ..Limits::default()
    };
    assert_eq!(
        Message::parse_with(&bytes, &small).unwrap_err(),
        Error::LimitExceeded("message size")
    );
}

#[test]
fn emit_rejects_unrepresentable_messages() {
    let h = Header::new(1, 2, ExchangeType::INFORMATIONAL, Flags::default(), 0);
    let sk = Payload::Sk(Encrypted {
        next_payload: PayloadType::NONE,
        data: vec![],
    });
    let bad_order = Message {
        header: h,
        payloads: vec![sk, Payload::Nonce(Nonce { data: vec![] })],
    };
    assert!(matches!(
        bad_order.to_bytes(),
        Err(Error::Unrepresentable(_))
    ));
    let huge = Message {
        header: h,
        payloads: vec![Payload::Nonce(Nonce {
            data: vec![0; 70_000],
        })],
    };
    assert_eq!(huge.to_bytes(), Err(Error::TooLong("payload")));
    let bad_delete = Message {
        header: h,
        payloads: vec![Payload::Delete(Delete {
            protocol: ProtocolId::ESP,
            spi_size: 4,
            spis: vec![vec![1, 2, 3]],
        })],
    };
    assert!(bad_delete.to_bytes().is_err());
}
