//! Property tests: the capture readers and the decoder never panic, whatever the bytes, and every
//! record they produce renders as text and as JSON.

use ipsec_examples::decode::{Decoder, KeyFile};
use ipsec_examples::pcap::{self, write, DataLink, Frame};
use proptest::prelude::*;

const KEYS: &str = include_str!("../../testdata/strongswan-x25519/keys.txt");
const IKE_ALL: &[u8] = include_bytes!("../../testdata/strongswan-x25519/ike_all.pcap");

fn link_type() -> impl Strategy<Value = DataLink> {
    prop::sample::select(vec![
        DataLink::NULL,
        DataLink::ETHERNET,
        DataLink::RAW,
        DataLink::LOOP,
        DataLink::LINUX_SLL,
        DataLink::IPV4,
        DataLink::IPV6,
        DataLink::LINUX_SLL2,
    ])
}

/// Decodes a whole file if it is a capture; checks the records are well formed.
fn decode_file(bytes: &[u8]) {
    if let Ok(cap) = pcap::read(bytes) {
        let keys = KeyFile::parse(KEYS).unwrap();
        let mut d = Decoder::new(Some(keys));
        let records = d.decode_capture(&cap);
        assert!(records.len() <= cap.records.len());
        for r in records {
            assert!(r.to_text().starts_with(&format!("#{}", r.frame)));
            assert!(r.to_json().starts_with("{\"frame\":"));
        }
        assert_eq!(d.summary().records, cap.records.len());
    }
}

/// An IPv4/UDP packet carrying `payload` between the given ports.
fn ipv4_udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(28 + payload.len()).unwrap_or(u16::MAX);
    let mut p = vec![
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&total.saturating_sub(20).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_bytes_after_a_pcap_header(link in link_type(), big: bool, tail in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut file = write::pcap(link, big, false, &[]).unwrap();
        file.extend_from_slice(&tail);
        decode_file(&file);
    }

    #[test]
    fn any_bytes_after_a_pcapng_interface(link in link_type(), big: bool, tail in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut file = write::pcapng(big, link, None, &[]).unwrap();
        file.extend_from_slice(&tail);
        decode_file(&file);
    }

    #[test]
    fn any_frame_of_any_link_type(link in link_type(), data in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut d = Decoder::new(None);
        let frame = Frame { link_type: link, timestamp_ns: 0, data: &data, original_len: 0 };
        if let Some(r) = d.decode_frame(1, &frame) {
            prop_assert_eq!(r.frame, 1);
        }
    }

    #[test]
    fn any_payload_on_the_ike_ports(
        port in prop::sample::select(vec![500u16, 4500]),
        marker: bool,
        payload in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        // After the strongSwan IKE_SA_INIT, so that SK payloads are tried with real keys.
        let cap = pcap::read(IKE_ALL).unwrap();
        let mut d = Decoder::new(Some(KeyFile::parse(KEYS).unwrap()));
        d.decode_capture(&cap);
        let mut udp = if marker { vec![0; 4] } else { Vec::new() };
        udp.extend_from_slice(&payload);
        let ip = ipv4_udp(port, port, &udp);
        let frame = Frame { link_type: DataLink::RAW, timestamp_ns: 0, data: &ip, original_len: 0 };
        let r = d.decode_frame(7, &frame);
        prop_assert!(r.is_some(), "traffic on an IKE port is always reported");
    }

    #[test]
    fn mutated_ike_messages_keep_the_header_or_report_an_error(
        frame in 0usize..6,
        at in 0usize..300,
        xor in 1u8..=255,
    ) {
        let cap = pcap::read(IKE_ALL).unwrap();
        let mut data = cap.records[frame].as_ref().unwrap().data.to_vec();
        // Only touch the IKE message, after Ethernet + IPv4 + UDP (+ marker on 4500).
        let start = if frame < 2 { 42 } else { 46 };
        let i = start + at % (data.len() - start);
        data[i] ^= xor;
        let mut d = Decoder::new(Some(KeyFile::parse(KEYS).unwrap()));
        for earlier in &cap.records[..frame] {
            d.decode_frame(0, earlier.as_ref().unwrap());
        }
        let f = Frame { link_type: DataLink::ETHERNET, timestamp_ns: 0, data: &data, original_len: 0 };
        let r = d.decode_frame(1, &f).unwrap();
        prop_assert!(r.kind == "ike" || r.kind == "error", "{}", r.to_text());
        // A flipped bit inside a protected message is never reported as decrypted.
        if frame >= 2 {
            prop_assert!(!r.to_text().contains(" decrypted"), "{}", r.to_text());
        }
    }
}
