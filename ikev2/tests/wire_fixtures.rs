//! The wire codec against a real peer: the strongSwan 5.9.8 exchange captured in
//! `testdata/strongswan-x25519/` (see its README for the parameters and the payload lists).

mod wire_support;

use ikev2::wire::*;
use ipsec_core::crypto::{default_provider, EncrId, Encryption, IntegId};
use wire_support::{ike_messages, key, read};

fn sk_keys(name: &str) -> SkKeys {
    SkKeys::new(
        &default_provider(),
        Encryption::new(EncrId::ENCR_AES_GCM_16, 256),
        IntegId::NONE,
        &key(name),
        &[],
    )
    .unwrap()
}

fn summary(payloads: &[Payload]) -> Vec<String> {
    payloads
        .iter()
        .map(|p| match p {
            Payload::Notify(n) => format!("N({})", n.notify_type),
            p => p.payload_type().to_string(),
        })
        .collect()
}

fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

fn selector(net: &str, last: &str) -> ipsec_core::selector::TrafficSelector {
    ipsec_core::selector::TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: ip(net),
        end_addr: ip(last),
    }
}

const SPI_I: u64 = 0xf5b9_d1ee_4555_cab4;
const SPI_R: u64 = 0xa1d2_eec7_4353_2a67;

#[test]
fn ike_sa_init_pair_parses_into_the_readme_payloads() {
    let msgs = ike_messages(&read("ike_sa_init.pcap"));
    assert_eq!(msgs.len(), 2);
    let req = Message::parse(&msgs[0]).unwrap();
    assert_eq!(
        summary(&req.payloads),
        [
            "SA",
            "KE",
            "NONCE",
            "N(NAT_DETECTION_SOURCE_IP)",
            "N(NAT_DETECTION_DESTINATION_IP)",
            "N(IKEV2_FRAGMENTATION_SUPPORTED)",
            "N(SIGNATURE_HASH_ALGORITHMS)",
            "N(REDIRECT_SUPPORTED)"
        ]
    );
    assert_eq!(
        req.header,
        Header::new(
            SPI_I,
            0,
            ExchangeType::IKE_SA_INIT,
            Flags::new(true, false),
            0
        )
    );
    let Payload::Sa(sa) = &req.payloads[0] else {
        panic!("SA first")
    };
    let p = &sa.proposals[0];
    assert_eq!((p.number, p.protocol), (1, ProtocolId::IKE));
    let ids: Vec<TransformId> = p.transforms.iter().map(|t| t.id).collect();
    assert_eq!(
        ids,
        [
            TransformId::Encr(EncrId::ENCR_AES_GCM_16),
            TransformId::Prf(ipsec_core::crypto::PrfId::PRF_HMAC_SHA2_256),
            TransformId::Dh(ipsec_core::crypto::DhGroup::CURVE25519),
        ]
    );
    assert_eq!(p.transforms[0].key_length(), Some(256));
    let Payload::Ke(ke) = &req.payloads[1] else {
        panic!("KE second")
    };
    assert_eq!(ke.group, ipsec_core::crypto::DhGroup::CURVE25519);
    assert_eq!(ke.data.len(), 32);
    let Payload::Nonce(n) = &req.payloads[2] else {
        panic!("Ni third")
    };
    assert!((16..=256).contains(&n.data.len()));
    // NAT detection data is a SHA-1 hash.
    assert_eq!(
        req.notify(NotifyType::NAT_DETECTION_SOURCE_IP)
            .unwrap()
            .data
            .len(),
        20
    );

    let resp = Message::parse(&msgs[1]).unwrap();
    assert_eq!(
        summary(&resp.payloads),
        [
            "SA",
            "KE",
            "NONCE",
            "N(NAT_DETECTION_SOURCE_IP)",
            "N(NAT_DETECTION_DESTINATION_IP)",
            "N(IKEV2_FRAGMENTATION_SUPPORTED)",
            "N(SIGNATURE_HASH_ALGORITHMS)",
            "N(CHILDLESS_IKEV2_SUPPORTED)",
            "N(MULTIPLE_AUTH_SUPPORTED)"
        ]
    );
    assert_eq!(resp.header.responder_spi, SPI_R);
    assert!(resp.header.flags.is_response() && !resp.header.flags.is_initiator());
}

#[test]
fn every_captured_message_re_emits_byte_for_byte() {
    let mut all = ike_messages(&read("ike_sa_init.pcap"));
    all.extend(ike_messages(&read("ike_all.pcap")));
    assert_eq!(all.len(), 8);
    for m in &all {
        let msg = Message::parse(m).unwrap();
        assert_eq!(msg.buffer_len(), m.len());
        assert_eq!(&msg.to_bytes().unwrap(), m);
        // emit into a junk-filled, larger buffer
        let mut buf = vec![0xa5; m.len() + 7];
        assert_eq!(msg.emit(&mut buf).unwrap(), m.len());
        assert_eq!(&buf[..m.len()], &m[..]);
        assert_eq!(
            msg.emit(&mut buf[..m.len() - 1]),
            Err(Error::BufferTooSmall {
                needed: m.len(),
                got: m.len() - 1
            })
        );
        let p = Packet::new_checked(&m[..]).unwrap();
        assert_eq!(p.initiator_spi(), SPI_I);
        assert_eq!(p.length() as usize, m.len());
    }
}

#[test]
fn every_truncation_of_a_captured_message_is_rejected() {
    for m in ike_messages(&read("ike_all.pcap")) {
        for n in 0..m.len() {
            let e = Message::parse(&m[..n]).unwrap_err();
            assert_eq!(e.notify(), Some(NotifyType::INVALID_SYNTAX), "{n}: {e}");
        }
    }
}

#[test]
fn ike_all_outer_payloads() {
    let msgs = ike_messages(&read("ike_all.pcap"));
    assert_eq!(msgs.len(), 6);
    let parsed: Vec<Message> = msgs.iter().map(|m| Message::parse(m).unwrap()).collect();
    let kinds: Vec<(ExchangeType, bool, bool, u32)> = parsed
        .iter()
        .map(|m| {
            (
                m.header.exchange_type,
                m.header.flags.is_initiator(),
                m.header.flags.is_response(),
                m.header.message_id,
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (ExchangeType::IKE_SA_INIT, true, false, 0),
            (ExchangeType::IKE_SA_INIT, false, true, 0),
            (ExchangeType::IKE_AUTH, true, false, 1),
            (ExchangeType::IKE_AUTH, false, true, 1),
            (ExchangeType::INFORMATIONAL, false, false, 0),
            (ExchangeType::INFORMATIONAL, true, true, 0),
        ]
    );
    for m in &parsed[2..] {
        assert_eq!(summary(&m.payloads), ["SK"]);
    }
}

fn decrypt(bytes: &[u8]) -> Message {
    let from_initiator = Packet::new_checked(bytes).unwrap().flags().is_initiator();
    let keys = sk_keys(if from_initiator {
        "Sk_ei secret"
    } else {
        "Sk_er secret"
    });
    unprotect(bytes, &keys).unwrap()
}

fn esp_proposal(m: &Message) -> &Proposal {
    let sa = m
        .payloads
        .iter()
        .find_map(|p| match p {
            Payload::Sa(sa) => Some(sa),
            _ => None,
        })
        .unwrap();
    assert_eq!(sa.proposals.len(), 1);
    &sa.proposals[0]
}

fn ts(
    m: &Message,
) -> (
    Vec<ipsec_core::selector::TrafficSelector>,
    Vec<ipsec_core::selector::TrafficSelector>,
) {
    let mut i = None;
    let mut r = None;
    for p in &m.payloads {
        match p {
            Payload::TsI(t) => i = Some(t.ip_selectors()),
            Payload::TsR(t) => r = Some(t.ip_selectors()),
            _ => {}
        }
    }
    (i.unwrap(), r.unwrap())
}

#[test]
fn ike_auth_request_decrypts_with_sk_ei() {
    let msgs = ike_messages(&read("ike_all.pcap"));
    let m = decrypt(&msgs[2]);
    assert_eq!(
        summary(&m.payloads),
        [
            "IDI",
            "N(INITIAL_CONTACT)",
            "IDR",
            "AUTH",
            "SA",
            "TSI",
            "TSR",
            "N(MOBIKE_SUPPORTED)",
            "N(NO_ADDITIONAL_ADDRESSES)",
            "N(MULTIPLE_AUTH_SUPPORTED)",
            "N(EAP_ONLY_AUTHENTICATION)",
            "N(IKEV2_MESSAGE_ID_SYNC_SUPPORTED)"
        ]
    );
    assert_eq!(
        m.payloads[0],
        Payload::IdI(Identification::fqdn("left.ike.test"))
    );
    assert_eq!(
        m.payloads[2],
        Payload::IdR(Identification::fqdn("right.ike.test"))
    );
    let Payload::Auth(auth) = &m.payloads[3] else {
        panic!("AUTH")
    };
    assert_eq!(auth.method, AuthMethod::SHARED_KEY_MIC);
    assert_eq!(auth.data.len(), 32, "prf-hmac-sha256 output");
    let p = esp_proposal(&m);
    assert_eq!(p.protocol, ProtocolId::ESP);
    assert_eq!(p.spi_u32(), Some(0x2f21_4d5a), "initiator's inbound SPI");
    assert_eq!(
        p.transforms[0].as_encryption(),
        Some(Encryption::new(EncrId::ENCR_AES_GCM_16, 128))
    );
    assert_eq!(
        p.transforms[1].id,
        TransformId::Esn(ipsec_core::crypto::EsnId::NO_ESN)
    );
    assert_eq!(p.transforms.len(), 2, "no PFS group, no integrity");
    let (tsi, tsr) = ts(&m);
    assert_eq!(tsi, [selector("10.1.0.0", "10.1.0.255")]);
    assert_eq!(tsr, [selector("10.2.0.0", "10.2.0.255")]);
    assert_eq!(m.header.message_id, 1);
}

#[test]
fn ike_auth_response_and_informational_decrypt_with_the_right_keys() {
    let msgs = ike_messages(&read("ike_all.pcap"));
    let m = decrypt(&msgs[3]);
    assert_eq!(
        summary(&m.payloads),
        [
            "IDR",
            "AUTH",
            "SA",
            "TSI",
            "TSR",
            "N(MOBIKE_SUPPORTED)",
            "N(NO_ADDITIONAL_ADDRESSES)"
        ]
    );
    assert_eq!(
        m.payloads[0],
        Payload::IdR(Identification::fqdn("right.ike.test"))
    );
    let p = esp_proposal(&m);
    assert_eq!(p.spi_u32(), Some(0x2418_309d), "responder's inbound SPI");
    assert_eq!(
        p.transforms[0].as_encryption(),
        Some(Encryption::new(EncrId::ENCR_AES_GCM_16, 128))
    );
    let (tsi, tsr) = ts(&m);
    assert_eq!(tsi, [selector("10.1.0.0", "10.1.0.255")]);
    assert_eq!(tsr, [selector("10.2.0.0", "10.2.0.255")]);

    let info = decrypt(&msgs[4]);
    assert_eq!(summary(&info.payloads), ["N(NO_ADDITIONAL_ADDRESSES)"]);
    let empty = decrypt(&msgs[5]);
    assert!(empty.payloads.is_empty());
}

#[test]
fn wrong_keys_and_tampering_are_rejected() {
    let msgs = ike_messages(&read("ike_all.pcap"));
    // The request is from the initiator: SK_er does not open it.
    assert_eq!(
        unprotect(&msgs[2], &sk_keys("Sk_er secret")).unwrap_err(),
        Error::IntegrityCheckFailed
    );
    assert_eq!(
        unprotect(&msgs[0], &sk_keys("Sk_ei secret")).unwrap_err(),
        Error::NotProtected
    );
    let keys = sk_keys("Sk_ei secret");
    let m = &msgs[2];
    for bit in 0..m.len() * 8 {
        let mut t = m.clone();
        t[bit / 8] ^= 1 << (bit % 8);
        assert!(unprotect(&t, &keys).is_err(), "bit {bit}");
    }
}

#[test]
fn decrypted_payloads_re_protect_and_open_again() {
    let msgs = ike_messages(&read("ike_all.pcap"));
    let keys = sk_keys("Sk_ei secret");
    let m = decrypt(&msgs[2]);
    let rng = ipsec_core::crypto::default::SeededRandom::new([7; 32]);
    let again = protect(&m.header, &m.payloads, &keys, &rng).unwrap();
    assert_eq!(
        again.len(),
        msgs[2].len(),
        "same size as strongSwan's (no padding)"
    );
    assert_eq!(unprotect(&again, &keys).unwrap(), m);
}
