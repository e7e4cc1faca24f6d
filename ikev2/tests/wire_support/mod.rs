//! Helpers shared by the `wire_*` tests: a tiny pcap reader for the strongSwan captures in
//! `testdata/strongswan-x25519/` and the parser for its `keys.txt`.

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

/// The UDP datagrams of a classic little-endian pcap file with Ethernet framing and IPv4.
pub(crate) fn udp_datagrams(pcap: &[u8]) -> Vec<Datagram> {
    assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    assert_eq!(
        u32::from_le_bytes(pcap[20..24].try_into().unwrap()),
        1,
        "Ethernet"
    );
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let incl = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &pcap[at + 16..at + 16 + incl];
        at += 16 + incl;
        if frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        if ip[9] != 17 {
            continue;
        }
        let udp = &ip[ihl..total];
        out.push(Datagram {
            src_port: u16::from_be_bytes([udp[0], udp[1]]),
            dst_port: u16::from_be_bytes([udp[2], udp[3]]),
            payload: udp[8..].to_vec(),
        });
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
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
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
