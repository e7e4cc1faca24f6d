//! Integrity is required, and the anti-replay window only ever moves on authenticated packets
//! (RFC 4303 section 3.4.3: check before decrypting, update after the ICV verified).
//!
//! An SA without integrity (a cipher with no integrity algorithm, or one whose ICV is empty) is
//! refused unless the caller asks for confidentiality-only ESP by name; such an SA then has no
//! anti-replay window to corrupt.

mod common;

use common::{child, provider, seal, udp4};
use esp::{EspError, InboundSa, OutboundSa, SaTable};
use ipsec_core::child_sa::ChildSa;
use ipsec_core::crypto::{
    CryptoError, CryptoProvider, EncrId, Encryption, IntegId, IntegrityAlgorithm, IntegrityKey,
};
use ipsec_core::time::Instant;

const NOW: Instant = Instant::ZERO;

fn cbc_only() -> ChildSa {
    child(
        Encryption::new(EncrId::ENCR_AES_CBC, 128),
        IntegId::NONE,
        &[5; 16],
        &[],
        0x5000_0005,
    )
}

/// Rewrites the (unauthenticated) sequence number field of an ESP packet.
fn with_sequence(pkt: &[u8], seq: u32) -> Vec<u8> {
    let mut p = pkt.to_vec();
    p[4..8].copy_from_slice(&seq.to_be_bytes());
    p
}

#[test]
fn ciphers_without_integrity_are_refused_unless_asked_for_by_name() {
    let p = provider();
    for enc in [
        Encryption::new(EncrId::ENCR_AES_CBC, 128),
        Encryption::new(EncrId::ENCR_AES_CBC, 256),
        Encryption::new(EncrId::ENCR_3DES, 0),
    ] {
        let key = vec![1u8; p.cipher(enc).unwrap().key_len()];
        let c = child(enc, IntegId::NONE, &key, &[], 0x5000_0005);
        for r in [
            InboundSa::new(&p, &c, NOW).map(drop),
            OutboundSa::new(&p, &c, NOW).map(drop),
        ] {
            match r {
                Err(EspError::Config(m)) => assert!(m.contains("without integrity"), "{m}"),
                other => panic!("{enc}: {other:?}"),
            }
        }
        let mut table = SaTable::new(provider());
        assert!(matches!(table.install(NOW, &c), Err(EspError::Config(_))));
        assert_eq!(table.inbound_count(), 0, "{enc}: nothing half-installed");
        // The explicit request still builds both halves.
        InboundSa::new_confidentiality_only(&p, &c, NOW).unwrap();
        OutboundSa::new_confidentiality_only(&p, &c, NOW).unwrap();
    }
}

#[test]
fn forged_sequence_numbers_never_move_the_window_of_a_confidentiality_only_sa() {
    let p = provider();
    let c = cbc_only();
    let mut tx = OutboundSa::new_confidentiality_only(&p, &c, NOW).unwrap();
    let mut rx = InboundSa::new_confidentiality_only(&p, &c, NOW).unwrap();
    let inner = udp4(60);
    let genuine: Vec<_> = (0..3).map(|_| seal(&mut tx, NOW, &inner)).collect();

    // Nothing authenticates the sequence number: an attacker rewrites it far ahead, and the
    // packet still decrypts. It must not drag the window along.
    let mut forged = with_sequence(&genuine[0], 1_000_000);
    let d = rx.decapsulate(NOW, &mut forged).unwrap().unwrap();
    assert_eq!(d.sequence, 1_000_000);
    // A packet that fails only after decryption (its next header garbled) changes nothing either.
    let mut garbage = with_sequence(&genuine[1], 2_000_000);
    let last = garbage.len() - 1;
    garbage[last - 16] ^= 0xff;
    assert!(rx.decapsulate(NOW, &mut garbage).is_err());
    assert_eq!(rx.replay_window().top(), 0);
    assert!(
        !rx.replay_window().enabled(),
        "no anti-replay without integrity"
    );

    // The genuine packets, in order, all arrive.
    for (i, g) in genuine.iter().enumerate() {
        let mut b = g.clone();
        let d = rx
            .decapsulate(NOW, &mut b)
            .unwrap_or_else(|e| panic!("packet {}: {e}", i + 1));
        assert_eq!(&b[d.unwrap().range], &inner[..]);
    }
    assert_eq!(rx.replay_window().top(), 0);
}

#[test]
fn confidentiality_only_sas_take_no_extended_sequence_numbers() {
    let p = provider();
    let mut c = cbc_only();
    c.esn = true;
    assert!(matches!(
        InboundSa::new_confidentiality_only(&p, &c, NOW),
        Err(EspError::Config(_))
    ));
    assert!(matches!(
        OutboundSa::new_confidentiality_only(&p, &c, NOW),
        Err(EspError::Config(_))
    ));
}

/// An integrity algorithm whose ICV is empty: it "verifies" anything.
#[derive(Debug)]
struct EmptyIcv;

struct EmptyIcvKey;

impl IntegrityAlgorithm for EmptyIcv {
    fn id(&self) -> IntegId {
        IntegId::AUTH_HMAC_SHA2_256_128
    }
    fn key_len(&self) -> usize {
        0
    }
    fn icv_len(&self) -> usize {
        0
    }
    fn new_key(&self, _key: &[u8]) -> Result<Box<dyn IntegrityKey>, CryptoError> {
        Ok(Box::new(EmptyIcvKey))
    }
}

impl IntegrityKey for EmptyIcvKey {
    fn sign(&self, _data: &[&[u8]], _icv: &mut [u8]) {}
    fn verify(&self, _data: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        if icv.is_empty() {
            Ok(())
        } else {
            Err(CryptoError::IntegrityCheckFailed)
        }
    }
}

static EMPTY_ICV: &[&dyn IntegrityAlgorithm] = &[&EmptyIcv];

#[test]
fn an_empty_icv_counts_as_no_integrity() {
    let p = CryptoProvider {
        integrity: EMPTY_ICV,
        ..provider()
    };
    let mut c = cbc_only();
    c.integrity = IntegId::AUTH_HMAC_SHA2_256_128;
    assert!(matches!(
        InboundSa::new(&p, &c, NOW),
        Err(EspError::Config(_))
    ));
    assert!(matches!(
        OutboundSa::new(&p, &c, NOW),
        Err(EspError::Config(_))
    ));
    let mut table = SaTable::new(p);
    assert!(matches!(table.install(NOW, &c), Err(EspError::Config(_))));

    // Asked for by name, it behaves as confidentiality-only: the window stays put.
    let mut tx = OutboundSa::new_confidentiality_only(&p, &c, NOW).unwrap();
    let mut rx = InboundSa::new_confidentiality_only(&p, &c, NOW).unwrap();
    let pkt = seal(&mut tx, NOW, &udp4(40));
    let mut forged = with_sequence(&pkt, 99_999);
    rx.decapsulate(NOW, &mut forged).unwrap();
    let mut b = pkt.clone();
    rx.decapsulate(NOW, &mut b).unwrap();
    assert_eq!(rx.replay_window().top(), 0);
}

#[test]
fn authenticated_sas_move_the_window_only_after_the_icv_verified() {
    // Every supported suite: a forged packet far ahead is checked (it is new), fails its ICV and
    // leaves the window where it was; the genuine packet behind it still arrives.
    for (name, enc, integ, el, il) in common::suites() {
        let c = child(enc, integ, &vec![3u8; el], &vec![4u8; il], 0x6000_0006);
        let mut tx = OutboundSa::new(&provider(), &c, NOW).unwrap();
        let mut rx = InboundSa::new(&provider(), &c, NOW).unwrap();
        let pkt = seal(&mut tx, NOW, &udp4(52));
        let mut forged = with_sequence(&pkt, 1_000_000);
        assert_eq!(
            rx.decapsulate(NOW, &mut forged),
            Err(EspError::IcvFailure),
            "{name}"
        );
        assert_eq!(rx.replay_window().top(), 0, "{name}");
        let mut b = pkt.clone();
        assert!(rx.decapsulate(NOW, &mut b).unwrap().is_some(), "{name}");
        assert_eq!(rx.replay_window().top(), 1, "{name}");
    }
}
