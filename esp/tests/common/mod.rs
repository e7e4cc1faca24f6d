//! Helpers shared by the esp integration tests and the benchmark.

#![allow(dead_code, unreachable_pub)]

pub mod provider;

/// The provider the tests run on: the workspace's default provider.
pub fn provider() -> ipsec_core::crypto::CryptoProvider {
    ipsec_core::crypto::default_provider()
}

use ipsec_core::child_sa::{ChildSa, DirectionKeys, IpsecProtocol, Lifetimes, Mode};
use ipsec_core::crypto::{EncrId, Encryption, IntegId, SecretBytes};
use std::collections::HashMap;

/// Decodes hex (whitespace ignored).
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    base16ct::mixed::decode_vec(digits).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

/// Reads a `testdata/esp` file of `[case]` blocks of `name = value` lines.
pub fn cases(text: &str) -> Vec<HashMap<String, String>> {
    let mut out = Vec::new();
    let mut cur: Option<HashMap<String, String>> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            if let Some(c) = cur.take() {
                out.push(c);
            }
            let mut c = HashMap::new();
            c.insert("name".to_string(), line.to_string());
            cur = Some(c);
            continue;
        }
        let (k, v) = line.split_once('=').expect("name = value");
        cur.as_mut()
            .expect("a [case] first")
            .insert(k.trim().to_string(), v.trim().to_string());
    }
    out.extend(cur);
    out
}

/// A Child SA description using the same keys both ways, so one description can build the
/// sending and the receiving side of a direction.
pub fn child(enc: Encryption, integ: IntegId, ekey: &[u8], ikey: &[u8], spi: u32) -> ChildSa {
    let keys = DirectionKeys {
        spi,
        encryption_key: SecretBytes::from_slice(ekey),
        integrity_key: SecretBytes::from_slice(ikey),
    };
    ChildSa {
        tunnel: "to-branch".into(),
        proxy_id: None,
        protocol: IpsecProtocol::Esp,
        mode: Mode::Tunnel,
        encryption: enc,
        integrity: integ,
        esn: false,
        inbound: keys.clone(),
        outbound: keys,
        local_ts: Vec::new(),
        remote_ts: Vec::new(),
        local_addr: "192.0.2.1:4500".parse().unwrap(),
        remote_addr: "192.0.2.2:4500".parse().unwrap(),
        encapsulation: None,
        lifetimes: Lifetimes::default(),
        replay_window: 1024,
        tfc_padding: false,
    }
}

/// The transforms the datapath supports, with key lengths: (name, encryption, integrity,
/// encryption key length, integrity key length).
pub fn suites() -> Vec<(&'static str, Encryption, IntegId, usize, usize)> {
    vec![
        (
            "aes128gcm16",
            Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
            IntegId::NONE,
            20,
            0,
        ),
        (
            "aes256gcm16",
            Encryption::new(EncrId::ENCR_AES_GCM_16, 256),
            IntegId::NONE,
            36,
            0,
        ),
        (
            "chacha20poly1305",
            Encryption::new(EncrId::ENCR_CHACHA20_POLY1305, 0),
            IntegId::NONE,
            36,
            0,
        ),
        (
            "aes128-sha256",
            Encryption::new(EncrId::ENCR_AES_CBC, 128),
            IntegId::AUTH_HMAC_SHA2_256_128,
            16,
            32,
        ),
        (
            "aes256-sha256",
            Encryption::new(EncrId::ENCR_AES_CBC, 256),
            IntegId::AUTH_HMAC_SHA2_256_128,
            32,
            32,
        ),
        (
            "aes192-sha384",
            Encryption::new(EncrId::ENCR_AES_CBC, 192),
            IntegId::AUTH_HMAC_SHA2_384_192,
            24,
            48,
        ),
        (
            "aes256-sha512",
            Encryption::new(EncrId::ENCR_AES_CBC, 256),
            IntegId::AUTH_HMAC_SHA2_512_256,
            32,
            64,
        ),
        (
            "3des-sha256",
            Encryption::new(EncrId::ENCR_3DES, 0),
            IntegId::AUTH_HMAC_SHA2_256_128,
            24,
            32,
        ),
        (
            "null-sha256",
            Encryption::new(EncrId::ENCR_NULL, 0),
            IntegId::AUTH_HMAC_SHA2_256_128,
            0,
            32,
        ),
    ]
}

/// A minimal IPv4 UDP packet of `len` bytes from 10.1.0.1 to 10.2.0.1, with a valid header
/// checksum and a counting payload.
pub fn udp4(len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 1, 0, 1]);
    p[16..20].copy_from_slice(&[10, 2, 0, 1]);
    let sum = esp::ip::checksum(&[&p[..20]]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

/// Encapsulates the tunnel-mode `inner` packet with exactly the headroom and tailroom `tx` asks
/// for, and returns the ESP packet.
pub fn seal(tx: &mut esp::OutboundSa, now: ipsec_core::time::Instant, inner: &[u8]) -> Vec<u8> {
    let head = tx.headroom();
    let mut buf = vec![0xee; head + inner.len() + tx.max_tailroom()];
    buf[head..head + inner.len()].copy_from_slice(inner);
    let r = tx
        .encapsulate(now, &mut buf, head..head + inner.len())
        .unwrap();
    buf[r].to_vec()
}

/// The sequence number as the datapath lays it into an IV of `len` bytes (right-aligned).
pub fn counter_block(seq: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    let n = len.min(8);
    b[len - n..].copy_from_slice(&seq.to_be_bytes()[8 - n..]);
    b
}

/// The AEAD IV mask under which packet `seq` carries `iv` (IV = sequence number XOR mask).
pub fn aead_iv_mask(iv: &[u8], seq: u64) -> Vec<u8> {
    let c = counter_block(seq, iv.len());
    iv.iter().zip(&c).map(|(a, b)| a ^ b).collect()
}

/// The AES-CBC IV mask under which packet `seq` carries `iv` (IV = AES_k(sequence number XOR
/// mask)), so that a published packet can be reproduced.
pub fn aes_cbc_iv_mask(key: &[u8], iv: &[u8], seq: u64) -> Vec<u8> {
    use aes::cipher::{BlockDecrypt, KeyInit};
    let mut block = aes::Block::clone_from_slice(iv);
    match key.len() {
        16 => aes::Aes128::new_from_slice(key)
            .unwrap()
            .decrypt_block(&mut block),
        24 => aes::Aes192::new_from_slice(key)
            .unwrap()
            .decrypt_block(&mut block),
        _ => aes::Aes256::new_from_slice(key)
            .unwrap()
            .decrypt_block(&mut block),
    }
    aead_iv_mask(&block, seq)
}

/// The packets of a classic pcap file, as `(link type, frame bytes)`.
pub fn pcap_frames(file: &[u8]) -> (u32, Vec<Vec<u8>>) {
    let (mut rest, parser) = pcap_file::pcap::PcapParser::new(file).expect("a pcap file");
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let (next, packet) = parser.next_packet(rest).expect("a whole record");
        frames.push(packet.data().to_vec());
        rest = next;
    }
    (u32::from(parser.header().datalink), frames)
}
