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
