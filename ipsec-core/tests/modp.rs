//! MODP groups of the RustCrypto provider: private exponents sized to the group's security
//! strength (RFC 3526 section 8, NIST SP 800-56A rev. 3 section 5.6.1.1.4: N = 2s bits), two
//! parties agreeing with them, and the private-exponent inputs `start_with_private` refuses.
//! Known answers and the RFC 6989 checks are in the conformance suite.

use std::sync::Mutex;

use ipsec_core::crypto::default::{
    SeededRandom, MODP_1024, MODP_1536, MODP_2048, MODP_3072, MODP_4096,
};
use ipsec_core::crypto::{CryptoError, KeyExchangeGroup, SecureRandom};

/// A seeded source that remembers how many octets each call asked for and what it gave.
struct Recording {
    inner: SeededRandom,
    draws: Mutex<Vec<Vec<u8>>>,
}

impl Recording {
    fn new(seed: u8) -> Self {
        Recording {
            inner: SeededRandom::new([seed; 32]),
            draws: Mutex::new(Vec::new()),
        }
    }
    fn take(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.draws.lock().unwrap())
    }
}

impl core::fmt::Debug for Recording {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Recording")
    }
}

impl SecureRandom for Recording {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        self.inner.fill(buf)?;
        self.draws.lock().unwrap().push(buf.to_vec());
        Ok(())
    }
}

/// Each group with its security strength in bits: SP 800-56A rev. 3 appendix D for groups 14,
/// 15 and 16, SP 800-57 part 1 for group 2, RFC 3526 section 8 (low end) for group 5.
fn groups() -> [(&'static dyn KeyExchangeGroup, usize); 5] {
    [
        (MODP_1024, 80),
        (MODP_1536, 90),
        (MODP_2048, 112),
        (MODP_3072, 128),
        (MODP_4096, 152),
    ]
}

#[test]
fn private_exponents_are_twice_the_security_strength() {
    let rng = Recording::new(0x42);
    for (g, strength) in groups() {
        let exchange = g.start(&rng).unwrap();
        let draws = rng.take();
        // One draw, exactly the exponent: 2s bits rounded up to whole octets.
        assert_eq!(draws.len(), 1, "{g:?}");
        let exponent = &draws[0];
        assert_eq!(exponent.len(), (2 * strength).div_ceil(8), "{g:?}");
        assert!(
            exponent.len() * 8 < g.public_len() * 8 / 2,
            "{g:?}: well below q"
        );
        // The public value is g^x for exactly those octets.
        let same = g.start_with_private(exponent).unwrap();
        assert_eq!(exchange.public_value(), same.public_value(), "{g:?}");
    }
}

#[test]
fn two_parties_agree_with_short_exponents() {
    let rng = SeededRandom::new([0x33; 32]);
    for (g, _) in groups() {
        for _ in 0..3 {
            let a = g.start(&rng).unwrap();
            let b = g.start(&rng).unwrap();
            assert_ne!(a.public_value(), b.public_value());
            let s1 = a.complete(b.public_value()).unwrap();
            let s2 = b.complete(a.public_value()).unwrap();
            assert_eq!(s1, s2, "{g:?}");
            assert_eq!(
                s1.len(),
                g.public_len(),
                "g^ir is padded to the modulus length"
            );
        }
        // A party with a short exponent agrees with one whose exponent is full-length.
        let short = g.start(&rng).unwrap();
        let full = g
            .start_with_private(&vec![0x9d; g.public_len() - 1])
            .unwrap();
        assert_eq!(
            short.complete(full.public_value()).unwrap(),
            full.complete(short.public_value()).unwrap(),
            "{g:?}"
        );
    }
}

#[test]
fn seeded_random_makes_exchanges_reproducible() {
    let (r1, r2) = (SeededRandom::new([7; 32]), SeededRandom::new([7; 32]));
    for (g, _) in groups() {
        assert_eq!(
            g.start(&r1).unwrap().public_value(),
            g.start(&r2).unwrap().public_value()
        );
    }
}

#[test]
fn an_all_zero_draw_is_drawn_again() {
    /// Zeros first, then a seeded stream.
    struct ZerosFirst(Mutex<usize>, SeededRandom);
    impl core::fmt::Debug for ZerosFirst {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("ZerosFirst")
        }
    }
    impl SecureRandom for ZerosFirst {
        fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
            let mut n = self.0.lock().unwrap();
            *n += 1;
            if *n <= 2 {
                buf.fill(0);
                Ok(())
            } else {
                self.1.fill(buf)
            }
        }
    }
    let rng = ZerosFirst(Mutex::new(0), SeededRandom::new([1; 32]));
    let e = MODP_2048.start(&rng).unwrap();
    assert_eq!(*rng.0.lock().unwrap(), 3);
    let mut one = vec![0u8; 256];
    one[255] = 1;
    assert_ne!(e.public_value(), &one[..], "x = 0 would give g^x = 1");
    // A source that only ever gives zeros is broken, and said to be.
    struct AlwaysZero;
    impl core::fmt::Debug for AlwaysZero {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("AlwaysZero")
        }
    }
    impl SecureRandom for AlwaysZero {
        fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
            buf.fill(0);
            Ok(())
        }
    }
    assert!(matches!(
        MODP_2048.start(&AlwaysZero),
        Err(CryptoError::RandomFailed)
    ));
}

#[test]
fn start_with_private_refuses_empty_zero_and_oversized_exponents() {
    for (g, _) in groups() {
        assert!(g.start_with_private(&[]).is_err(), "{g:?}");
        assert!(g.start_with_private(&[0, 0]).is_err(), "{g:?}");
        assert!(
            g.start_with_private(&vec![1; g.public_len() + 1]).is_err(),
            "{g:?}"
        );
        assert!(
            g.start_with_private(&vec![1; g.public_len()]).is_ok(),
            "{g:?}"
        );
    }
}

/// The prime of a group, from the conformance vectors (RFC text), as big-endian octets.
fn prime(g: &dyn KeyExchangeGroup) -> Vec<u8> {
    let text = include_str!("../src/crypto/conformance/vectors/modp_primes.txt");
    let id = format!("group = {}", g.group().0);
    let record = text
        .split("\n\n")
        .find(|r| r.lines().any(|l| l == id))
        .unwrap();
    let hex = record.lines().find_map(|l| l.strip_prefix("p = ")).unwrap();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// `base^exponent mod p` on `crypto-bigint`, all values big-endian octets of the modulus length
/// (the exponent any length up to it).
fn reference_pow_in<const L: usize>(p: &[u8], base: &[u8], exponent: &[u8]) -> Vec<u8> {
    use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
    use crypto_bigint::Uint;
    let uint = |bytes: &[u8]| {
        let mut padded = vec![0u8; L * 8 - bytes.len()];
        padded.extend_from_slice(bytes);
        Uint::<L>::from_be_slice(&padded)
    };
    let params = DynResidueParams::new(&uint(p));
    let value = DynResidue::new(&uint(base), params)
        .pow_bounded_exp(&uint(exponent), exponent.len() * 8)
        .retrieve();
    value
        .as_words()
        .iter()
        .rev()
        .flat_map(|w| w.to_be_bytes())
        .collect()
}

fn reference_pow(g: &dyn KeyExchangeGroup, base: &[u8], exponent: &[u8]) -> Vec<u8> {
    let p = prime(g);
    match g.public_len() {
        128 => reference_pow_in::<16>(&p, base, exponent),
        192 => reference_pow_in::<24>(&p, base, exponent),
        256 => reference_pow_in::<32>(&p, base, exponent),
        384 => reference_pow_in::<48>(&p, base, exponent),
        _ => reference_pow_in::<64>(&p, base, exponent),
    }
}

/// `value + delta` as big-endian octets of the same length (no overflow in the uses here).
fn add_small(value: &[u8], delta: i8) -> Vec<u8> {
    let mut out = value.to_vec();
    let mut carry = i16::from(delta);
    for byte in out.iter_mut().rev() {
        let v = i16::from(*byte) + carry;
        *byte = v.rem_euclid(256) as u8;
        carry = v.div_euclid(256);
        if carry == 0 {
            break;
        }
    }
    out
}

mod against_reference {
    use super::*;
    use proptest::prelude::*;

    /// A group, an exponent of 1 to 8 N octets (short ones as `start` draws them take the
    /// generator's tables, longer ones the generic exponentiation) and a peer value below p.
    fn case() -> impl Strategy<Value = (usize, Vec<u8>, Vec<u8>)> {
        (0..5usize, any::<bool>()).prop_flat_map(|(index, short)| {
            let (g, strength) = groups()[index];
            let max = if short {
                (2 * strength).div_ceil(8)
            } else {
                g.public_len()
            };
            (
                Just(index),
                proptest::collection::vec(any::<u8>(), 1..=max),
                proptest::collection::vec(any::<u8>(), g.public_len()),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn public_value_and_shared_secret_match_crypto_bigint(
            (index, exponent, mut peer) in case()
        ) {
            let (g, _) = groups()[index];
            prop_assume!(exponent.iter().any(|&b| b != 0));
            // The top octet of every prime is 0xff: keep the peer value below p - 1.
            peer[0] &= 0x7f;
            prop_assume!(peer[..peer.len() - 1].iter().any(|&b| b != 0));
            let ours = g.start_with_private(&exponent).unwrap();
            let mut two = vec![0u8; g.public_len()];
            two[g.public_len() - 1] = 2;
            prop_assert_eq!(ours.public_value(), &reference_pow(g, &two, &exponent)[..]);
            let shared = ours.complete(&peer).unwrap();
            prop_assert_eq!(shared.expose(), &reference_pow(g, &peer, &exponent)[..]);
        }
    }
}

#[test]
fn edge_exponents_and_peer_values_match_crypto_bigint() {
    for (g, strength) in groups() {
        let p = prime(g);
        let len = g.public_len();
        let short = (2 * strength).div_ceil(8);
        let mut exponents = vec![vec![1u8], vec![2u8], vec![0xffu8; short], vec![0xffu8; len]];
        // Just past the generator tables' bound, and an exponent equal to p - 1 (Fermat: 1).
        exponents.push(vec![0x80; short + 1]);
        exponents.push(add_small(&p, -1));
        let mut two = vec![0u8; len];
        two[len - 1] = 2;
        let peers = [two.clone(), add_small(&two, 1), add_small(&p, -2)];
        for exponent in &exponents {
            let ours = g.start_with_private(exponent).unwrap();
            assert_eq!(
                ours.public_value(),
                &reference_pow(g, &two, exponent)[..],
                "{g:?} 2^{exponent:02x?}"
            );
            // One peer value for the modulus-length exponents (slow in unoptimized builds).
            let peers = if exponent.len() > short + 1 {
                &peers[2..]
            } else {
                &peers[..]
            };
            for peer in peers {
                assert_eq!(
                    ours.complete(peer).unwrap().expose(),
                    &reference_pow(g, peer, exponent)[..],
                    "{g:?}"
                );
            }
        }
        // 2^1 = 2, and (p - 2)^(p - 1) = 1.
        assert_eq!(g.start_with_private(&[1]).unwrap().public_value(), &two[..]);
        let mut one = vec![0u8; len];
        one[len - 1] = 1;
        let fermat = g.start_with_private(&add_small(&p, -1)).unwrap();
        assert_eq!(fermat.public_value(), &one[..], "{g:?}");
    }
}

#[test]
fn peer_values_outside_2_to_p_minus_2_are_refused() {
    let rng = SeededRandom::new([0x77; 32]);
    for (g, _) in groups() {
        let p = prime(g);
        let len = g.public_len();
        let ours = g.start(&rng).unwrap();
        let mut one = vec![0u8; len];
        one[len - 1] = 1;
        let refused = [
            vec![0u8; len],
            one,
            add_small(&p, -1),
            p.clone(),
            add_small(&p, 1),
            vec![0xff; len],
            vec![2u8; len - 1],
            vec![2u8; len + 1],
            Vec::new(),
        ];
        for peer in &refused {
            assert_eq!(
                ours.complete(peer),
                Err(CryptoError::InvalidPeerPublicKey(g.group())),
                "{g:?}"
            );
        }
        assert!(ours.complete(&add_small(&p, -2)).is_ok(), "{g:?}");
    }
}
