//! Helpers shared by the tests that use the strongSwan captures in `testdata/strongswan-x25519/`:
//! their UDP datagrams (read with `pcap-file` and `etherparse`) and the keys of its `keys.txt`.

#![allow(dead_code)]

use std::path::PathBuf;

/// A UDP datagram from a capture.
pub(crate) struct Datagram {
    pub(crate) src_port: u16,
    pub(crate) dst_port: u16,
    pub(crate) payload: Vec<u8>,
}

pub(crate) fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/strongswan-x25519")
        .join(name)
}

/// The UDP datagrams of a pcap file of Ethernet frames.
pub(crate) fn udp_datagrams(pcap: &[u8]) -> Vec<Datagram> {
    let (mut rest, parser) = pcap_file::pcap::PcapParser::new(pcap).expect("a pcap file");
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (next, packet) = parser.next_packet(rest).expect("a whole record");
        rest = next;
        let sliced = etherparse::SlicedPacket::from_ethernet(packet.data()).expect("a frame");
        if let Some(etherparse::TransportSlice::Udp(udp)) = sliced.transport {
            out.push(Datagram {
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
                payload: udp.payload().to_vec(),
            });
        }
    }
    out
}

/// The IKE messages of a capture: UDP 500 as is, UDP 4500 after the 4-byte zero non-ESP marker
/// (RFC 3948); ESP packets and NAT-T keepalives are skipped.
pub(crate) fn ike_messages(pcap: &[u8]) -> Vec<Vec<u8>> {
    udp_datagrams(pcap)
        .into_iter()
        .filter_map(|d| {
            if d.src_port == 500 || d.dst_port == 500 {
                Some(d.payload)
            } else if d.payload.len() > 4 && d.payload[..4] == [0, 0, 0, 0] {
                Some(d.payload[4..].to_vec())
            } else {
                None
            }
        })
        .collect()
}

pub(crate) fn read(name: &str) -> Vec<u8> {
    std::fs::read(testdata(name)).unwrap()
}

pub(crate) fn unhex(s: &str) -> Vec<u8> {
    base16ct::mixed::decode_vec(s).expect("hex")
}

/// A key from `keys.txt` by its name (`Sk_ei secret`).
pub(crate) fn key(name: &str) -> Vec<u8> {
    let text = String::from_utf8(read("keys.txt")).unwrap();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            if k.trim() == name {
                return unhex(v.trim());
            }
        }
    }
    panic!("no key {name}");
}
pub(crate) mod strategy;
