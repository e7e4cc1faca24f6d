//! MODP groups 2, 5, 14, 15 and 16: known answers derived from the RFC primes, RFC 6989 peer-value
//! checks (0, 1, p - 1 and values >= p rejected) and agreement between two parties.
//!
//! There are no published MODP exchange vectors, so the known answers use exponents whose results
//! follow from the prime alone: `2^1 = 2`, `2^k = 2^k` while `2^k < p`, and `2^n mod p = 2^n - p`
//! for the n-bit prime `p` (since `p < 2^n < 2p`). The primes come from `testdata/kat/modp_primes.txt`.

mod kat_common;

use ipsec_core::crypto::default::{
    SeededRandom, MODP_1024, MODP_1536, MODP_2048, MODP_3072, MODP_4096,
};
use ipsec_core::crypto::{default_provider, CryptoError, DhGroup, KeyExchangeGroup};
use kat_common::load;

fn group_for(id: &str) -> &'static dyn KeyExchangeGroup {
    match id {
        "2" => MODP_1024,
        "5" => MODP_1536,
        "14" => MODP_2048,
        "15" => MODP_3072,
        "16" => MODP_4096,
        other => panic!("group {other}"),
    }
}

/// `2^n - p` for an n-bit `p` given in n/8 big-endian octets: the two's complement of `p`.
fn two_pow_n_minus(p: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = p.iter().map(|b| !b).collect();
    for byte in out.iter_mut().rev() {
        let (v, carry) = byte.overflowing_add(1);
        *byte = v;
        if !carry {
            break;
        }
    }
    out
}

/// `p - delta` for a small `delta`: every RFC prime ends in 64 one bits, so nothing borrows.
fn sub_small(p: &[u8], delta: u8) -> Vec<u8> {
    let mut out = p.to_vec();
    let last = out.last_mut().unwrap();
    assert_eq!(*last, 0xff);
    *last -= delta;
    out
}

#[test]
fn modp_public_values_follow_the_rfc_primes() {
    let records = load("modp_primes.txt");
    assert_eq!(records.len(), 5);
    for r in &records {
        let g = group_for(r.get("group"));
        let p = r.hex("p");
        let bits: usize = r.get("bits").parse().unwrap();
        assert_eq!(p.len() * 8, bits);
        assert_eq!(g.public_len(), p.len(), "public value = modulus length");

        // x = 1: g^x = 2, padded to the modulus length.
        let one = g.start_with_private(&[1]).unwrap();
        let mut two = vec![0u8; p.len()];
        two[p.len() - 1] = 2;
        assert_eq!(one.public_value(), &two[..]);

        // x = 10: 2^10 = 0x0400.
        let ten = g.start_with_private(&[10]).unwrap();
        let mut k = vec![0u8; p.len()];
        k[p.len() - 2] = 0x04;
        assert_eq!(ten.public_value(), &k[..]);

        // x = n: 2^n mod p = 2^n - p, which pins down every bit of the prime.
        let n = u16::try_from(bits).unwrap().to_be_bytes();
        let full = g.start_with_private(&n).unwrap();
        assert_eq!(
            full.public_value(),
            &two_pow_n_minus(&p)[..],
            "group {}",
            r.get("group")
        );

        // With the peer's value 2 (the generator), the shared secret is our own public value.
        let shared = full.complete(&two).unwrap();
        assert_eq!(shared.expose(), full.public_value());
    }
}

#[test]
fn rfc6989_peer_values_are_checked() {
    for r in &load("modp_primes.txt") {
        let g = group_for(r.get("group"));
        let p = r.hex("p");
        let me = g.start_with_private(&[0x5a; 20]).unwrap();
        let invalid = Err(CryptoError::InvalidPeerPublicKey(g.group()));
        let mut one = vec![0u8; p.len()];
        *one.last_mut().unwrap() = 1;
        let all_ones = vec![0xff; p.len()];
        for bad in [
            vec![0u8; p.len()],
            one,
            sub_small(&p, 1), // p - 1
            p.clone(),        // p
            all_ones,         // 2^n - 1 > p
        ] {
            assert_eq!(
                me.complete(&bad).map(|_| ()),
                invalid,
                "group {}",
                r.get("group")
            );
        }
        // p - 2 is the largest acceptable value; wrong lengths are rejected.
        assert!(me.complete(&sub_small(&p, 2)).is_ok());
        assert_eq!(me.complete(&p[1..]).map(|_| ()), invalid);
        let mut long = vec![0u8];
        long.extend(sub_small(&p, 2));
        assert_eq!(me.complete(&long).map(|_| ()), invalid);
        // Private exponents: empty, zero, or longer than the modulus are caller errors.
        assert!(g.start_with_private(&[]).is_err());
        assert!(g.start_with_private(&[0, 0]).is_err());
        assert!(g.start_with_private(&vec![1; p.len() + 1]).is_err());
    }
}

#[test]
fn both_sides_agree_for_every_group() {
    let rng = SeededRandom::new([0x33; 32]);
    let provider = default_provider();
    for id in [2u16, 5, 14, 15, 16] {
        let g = provider.key_exchange(DhGroup(id)).unwrap();
        let a = g.start(&rng).unwrap();
        let b = g.start(&rng).unwrap();
        assert_eq!(a.group(), DhGroup(id));
        assert_eq!(a.public_value().len(), g.public_len());
        assert_ne!(a.public_value(), b.public_value());
        let s1 = a.complete(b.public_value()).unwrap();
        let s2 = b.complete(a.public_value()).unwrap();
        assert_eq!(s1, s2, "group {id}");
        assert_eq!(
            s1.len(),
            g.public_len(),
            "g^ir is padded to the modulus length"
        );
    }
}

#[test]
fn seeded_random_makes_exchanges_reproducible() {
    let (r1, r2) = (SeededRandom::new([7; 32]), SeededRandom::new([7; 32]));
    for g in [
        MODP_2048,
        ipsec_core::crypto::default::CURVE25519,
        ipsec_core::crypto::default::ECP_256,
    ] {
        assert_eq!(
            g.start(&r1).unwrap().public_value(),
            g.start(&r2).unwrap().public_value()
        );
    }
}
