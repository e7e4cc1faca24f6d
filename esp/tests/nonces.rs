//! No caller can make an outbound SA repeat a nonce: sequence numbers only move forward, and IVs
//! are a fixed bijection of them (the sequence number XOR a mask chosen before the first packet,
//! encrypted under the key for CBC), so a repeated IV under one key cannot be produced through
//! the public API (RFC 4106 section 3.1 and RFC 7634 section 2 need unique nonces per key).

mod common;

use common::{aead_iv_mask, child, counter_block, provider, seal, suites, udp4};
use esp::{EspError, InboundSa, OutboundSa, SaTable};
use ipsec_core::time::Instant;
use std::collections::HashSet;

const NOW: Instant = Instant::ZERO;

/// The explicit IV of an ESP packet.
fn iv(pkt: &[u8], len: usize) -> Vec<u8> {
    pkt[8..8 + len].to_vec()
}

#[test]
fn the_sequence_number_never_moves_backwards() {
    for (name, enc, integ, el, il) in suites() {
        let c = child(enc, integ, &vec![1u8; el], &vec![2u8; il], 0x7000_0007);
        let mut tx = OutboundSa::new(&provider(), &c, NOW).unwrap();
        let n = tx.iv_len();
        let inner = udp4(48);
        let mut ivs = HashSet::new();
        for _ in 0..3 {
            assert!(ivs.insert(iv(&seal(&mut tx, NOW, &inner), n)) || n == 0);
        }
        // Moving back would send sequence number 1, and its IV, again under the same key.
        let _ = tx.set_next_sequence(1);
        assert_eq!(tx.next_sequence(), 4, "{name}");
        let pkt = seal(&mut tx, NOW, &inner);
        assert_eq!(
            u32::from_be_bytes(pkt[4..8].try_into().unwrap()),
            4,
            "{name}"
        );
        assert!(n == 0 || ivs.insert(iv(&pkt, n)), "{name}: IV repeated");
        assert_eq!(
            tx.set_next_sequence(2),
            Err(EspError::Misuse("the sequence number only moves forward"))
        );
        // Forward (failover, RFC 6311) is fine, and so is staying put.
        tx.set_next_sequence(5).unwrap();
        tx.set_next_sequence(100).unwrap();
        let pkt = seal(&mut tx, NOW, &inner);
        assert_eq!(
            u32::from_be_bytes(pkt[4..8].try_into().unwrap()),
            100,
            "{name}"
        );
    }
}

#[test]
fn the_sequence_number_of_an_installed_sa_never_moves_backwards() {
    let (_, enc, integ, el, il) = suites().into_iter().next().unwrap();
    let c = child(enc, integ, &vec![1u8; el], &vec![2u8; il], 0x7000_0007);
    let mut table = SaTable::new(provider());
    let h = table.install(NOW, &c).unwrap();
    let tunnel = table.tunnel("to-branch").unwrap();
    let inner = udp4(48);
    let mut buf = vec![0u8; 64 + inner.len() + 64];
    buf[64..64 + inner.len()].copy_from_slice(&inner);
    table
        .encapsulate(NOW, tunnel, &mut buf, 64..64 + inner.len())
        .unwrap();
    let mut sa = table.outbound_mut(h).unwrap();
    assert!(sa.set_next_sequence(1).is_err());
    assert_eq!(sa.next_sequence(), 2);
}

#[test]
fn the_iv_mask_is_fixed_before_the_first_packet() {
    for (name, enc, integ, el, il) in suites() {
        let c = child(enc, integ, &vec![1u8; el], &vec![2u8; il], 0x7000_0007);
        let mut tx = OutboundSa::new(&provider(), &c, NOW).unwrap();
        let n = tx.iv_len();
        assert!(
            matches!(tx.set_iv_mask(&vec![0; n + 1]), Err(EspError::Misuse(_))),
            "{name}: wrong length"
        );
        tx.set_iv_mask(&vec![0x5a; n]).unwrap();
        tx.set_iv_mask(&vec![0xa5; n]).unwrap();
        seal(&mut tx, NOW, &udp4(48));
        // Another mask now could map sequence number 2 onto the IV packet 1 carried.
        let mut other = counter_block(1, n);
        for (o, m) in other.iter_mut().zip(&aead_iv_mask(&vec![0xa5; n], 2)) {
            *o ^= m;
        }
        assert!(
            matches!(tx.set_iv_mask(&other), Err(EspError::Misuse(_))),
            "{name}: mask changed after a packet"
        );
    }
}

#[test]
fn aead_ivs_are_the_sequence_number_xor_the_mask_and_never_repeat() {
    let mask = [0x17, 0x26, 0x6e, 0x0e, 0x9b, 0x15, 0x61, 0xc7];
    for (name, enc, integ, el, il) in suites().into_iter().filter(|s| s.1.is_aead()) {
        let c = child(enc, integ, &vec![1u8; el], &vec![2u8; il], 0x7000_0007);
        let mut tx = OutboundSa::new(&provider(), &c, NOW).unwrap();
        let mut rx = InboundSa::new(&provider(), &c, NOW).unwrap();
        tx.set_iv_mask(&mask).unwrap();
        let mut seen = HashSet::new();
        for seq in 1..=300u64 {
            let mut pkt = seal(&mut tx, NOW, &udp4(40));
            let v = iv(&pkt, 8);
            assert_eq!(aead_iv_mask(&v, seq), mask, "{name}: packet {seq}");
            assert!(seen.insert(v), "{name}: IV of packet {seq} repeated");
            // The receiver needs nothing to know about the mask.
            assert!(rx.decapsulate(NOW, &mut pkt).unwrap().is_some());
        }
    }
}

#[test]
fn cbc_ivs_are_the_encrypted_masked_sequence_number() {
    use aes::cipher::{BlockDecrypt, KeyInit};
    let (_, enc, integ, _, il) = suites()
        .into_iter()
        .find(|s| s.0 == "aes128-sha256")
        .unwrap();
    let key = [7u8; 16];
    let c = child(enc, integ, &key, &vec![2u8; il], 0x7000_0007);
    let mut tx = OutboundSa::new(&provider(), &c, NOW).unwrap();
    let mask: Vec<u8> = (0u8..16).map(|i| i.wrapping_mul(37)).collect();
    tx.set_iv_mask(&mask).unwrap();
    let aes = aes::Aes128::new_from_slice(&key).unwrap();
    for seq in 1..=5u64 {
        let pkt = seal(&mut tx, NOW, &udp4(40));
        let mut block = aes::Block::clone_from_slice(&pkt[8..24]);
        aes.decrypt_block(&mut block);
        assert_eq!(aead_iv_mask(&block, seq), mask, "packet {seq}");
    }
}
