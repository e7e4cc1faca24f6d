//! MODP key exchange groups 2, 5, 14, 15 and 16 (RFC 2409, RFC 3526), generator 2.
//!
//! Exponentiation is Montgomery arithmetic over 64-bit words (`montgomery.rs`) whose running time
//! depends on the exponent's bit bound, not on its value: the shared secret `y^x` uses a fixed
//! window over a table of the peer's powers, the public value `g^x` tables of the generator's
//! powers built on first use of the group (20 KiB for group 2 to 152 KiB for group 16), so key
//! generation costs a multiplication per 4 exponent bits and 12 squarings. The public value and
//! the shared secret are big-endian, padded to the modulus length (RFC 7296 sections 3.4 and
//! 2.14).
//!
//! Private exponents are sized to the group's security strength, as RFC 3526 section 8 advises
//! and NIST SP 800-56A rev. 3 section 5.6.1.1.4 requires for the safe-prime groups: `N = 2s`
//! random bits for a strength of `s` bits (SP 800-56A appendix D: 112 for MODP-2048, 128 for
//! MODP-3072, 152 for MODP-4096; SP 800-57 part 1 puts MODP-1024 at 80 and RFC 3526 section 8
//! MODP-1536 at 90 at the low end). That is 224, 256 and 304 bits for groups 14, 15 and 16, and
//! 160 and 184 (180 rounded up to whole octets) for groups 2 and 5; a full-length exponent would
//! add work without adding strength, since the discrete logarithm in the group is the cheaper
//! attack. Because every RFC 3526 prime is safe (p = 2q + 1), checking 1 < y < p - 1 is all the
//! peer validation RFC 6989 section 2.1 requires.

use std::sync::OnceLock;

use zeroize::Zeroizing;

use super::modp_primes::{P_1024, P_1536, P_2048, P_3072, P_4096};
use super::montgomery::{less_than, FixedBase, Montgomery, Scratch};
use crate::crypto::{
    ActiveKeyExchange, CryptoError, DhGroup, KeyExchangeGroup, SecretBytes, SecureRandom,
};

/// One MODP group over `N` 64-bit words.
struct Modp<const N: usize> {
    group: DhGroup,
    name: &'static str,
    prime: [u64; N],
    /// Bits of a freshly generated private exponent (`2s` for a strength of `s` bits, a multiple
    /// of 8).
    exponent_bits: usize,
    /// Rounds of the generator's fixed-base exponentiation: fewer rounds, larger tables, fewer
    /// squarings (see [`FixedBase`]).
    generator_rounds: usize,
    tables: OnceLock<Tables<N>>,
}

/// What a group precomputes once: the modulus's constants and the generator's powers.
struct Tables<const N: usize> {
    field: Montgomery<N>,
    /// The generator 2 in Montgomery form, for exponents longer than the tables cover.
    generator: [u64; N],
    powers: FixedBase<N>,
}

impl<const N: usize> core::fmt::Debug for Modp<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name)
    }
}

/// Big-endian octets (at most `8 N` of them) to words, least significant first.
fn from_be<const N: usize>(bytes: &[u8]) -> Option<Zeroizing<[u64; N]>> {
    if bytes.len() > 8 * N {
        return None;
    }
    let mut words = Zeroizing::new([0u64; N]);
    for (i, byte) in bytes.iter().rev().enumerate() {
        let word = words.get_mut(i / 8)?;
        *word |= u64::from(*byte) << (8 * (i % 8));
    }
    Some(words)
}

/// Words to big-endian octets filling `out` (`out.len()` = `8 N`).
fn to_be<const N: usize>(value: &[u64; N], out: &mut [u8]) {
    for (chunk, word) in out.rchunks_exact_mut(8).zip(value) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
}

impl<const N: usize> Modp<N> {
    fn tables(&self) -> &Tables<N> {
        self.tables.get_or_init(|| {
            let field = Montgomery::new(self.prime);
            let mut two = [0u64; N];
            two[0] = 2;
            let generator = field.enter_montgomery(&two, &mut Scratch::new());
            let powers = FixedBase::new(
                &field,
                &generator,
                self.exponent_bits,
                self.generator_rounds,
            );
            Tables {
                field,
                generator,
                powers,
            }
        })
    }

    fn exchange(
        &self,
        exponent: Zeroizing<[u64; N]>,
        exponent_bits: usize,
    ) -> Box<dyn ActiveKeyExchange> {
        let tables = self.tables();
        let field = &tables.field;
        let power = if exponent_bits <= tables.powers.bits() {
            tables.powers.pow(field, &exponent)
        } else {
            field.pow(&tables.generator, &exponent, exponent_bits)
        };
        let public = field.leave_montgomery(&power, &mut Scratch::new());
        let mut bytes = vec![0u8; 8 * N];
        to_be(&public, &mut bytes);
        Box::new(ModpExchange {
            group: self.group,
            field: field.clone(),
            exponent,
            exponent_bits,
            public: bytes,
        })
    }
}

impl<const N: usize> KeyExchangeGroup for Modp<N> {
    fn group(&self) -> DhGroup {
        self.group
    }

    fn public_len(&self) -> usize {
        8 * N
    }

    fn start(&self, rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        let len = self.exponent_bits / 8;
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        // An all-zero draw (probability 2^-exponent_bits) would give the public value 1.
        for _ in 0..8 {
            rng.fill(&mut bytes)?;
            if bytes.iter().any(|&b| b != 0) {
                let exponent =
                    from_be::<N>(&bytes).ok_or(CryptoError::Unsupported("exponent size"))?;
                return Ok(self.exchange(exponent, self.exponent_bits));
            }
        }
        Err(CryptoError::RandomFailed)
    }

    fn start_with_private(
        &self,
        private: &[u8],
    ) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        // Any exponent from 1 up to the modulus length is accepted; its bound is its length in
        // bits, which is not secret.
        if private.is_empty() || private.len() > 8 * N {
            return Err(CryptoError::InvalidKeyLength {
                algorithm: self.name,
                expected: self.exponent_bits / 8,
                got: private.len(),
            });
        }
        if private.iter().all(|&b| b == 0) {
            return Err(CryptoError::InvalidLength("MODP private exponent is zero"));
        }
        let exponent = from_be::<N>(private).ok_or(CryptoError::Unsupported("exponent"))?;
        Ok(self.exchange(exponent, private.len() * 8))
    }
}

/// One side of a MODP exchange; the exponent is zeroized on drop.
struct ModpExchange<const N: usize> {
    group: DhGroup,
    field: Montgomery<N>,
    exponent: Zeroizing<[u64; N]>,
    exponent_bits: usize,
    public: Vec<u8>,
}

impl<const N: usize> ActiveKeyExchange for ModpExchange<N> {
    fn group(&self) -> DhGroup {
        self.group
    }

    fn public_value(&self) -> &[u8] {
        &self.public
    }

    fn complete(&self, peer_public: &[u8]) -> Result<SecretBytes, CryptoError> {
        let invalid = CryptoError::InvalidPeerPublicKey(self.group);
        if peer_public.len() != 8 * N {
            return Err(invalid);
        }
        let y = from_be::<N>(peer_public).ok_or(invalid.clone())?;
        // RFC 6989 section 2.1: 1 < y < p - 1 (this also rejects y >= p). The prime is odd, so
        // p - 1 only clears its lowest bit.
        let mut one = [0u64; N];
        one[0] = 1;
        let mut p_minus_1 = *self.field.modulus();
        p_minus_1[0] ^= 1;
        if !less_than(&one, &y) || !less_than(&y, &p_minus_1) {
            return Err(invalid);
        }
        let mut s = Scratch::new();
        let base = self.field.enter_montgomery(&y, &mut s);
        let shared = Zeroizing::new(self.field.pow(&base, &self.exponent, self.exponent_bits));
        let value = Zeroizing::new(self.field.leave_montgomery(&shared, &mut s));
        let mut out = SecretBytes::zeroed(8 * N);
        to_be(&value, out.expose_mut());
        Ok(out)
    }
}

static MODP_1024_GROUP: Modp<16> = Modp {
    group: DhGroup::MODP_1024,
    name: "MODP-1024",
    prime: P_1024,
    exponent_bits: 160,
    generator_rounds: 4,
    tables: OnceLock::new(),
};

static MODP_1536_GROUP: Modp<24> = Modp {
    group: DhGroup::MODP_1536,
    name: "MODP-1536",
    prime: P_1536,
    exponent_bits: 184,
    generator_rounds: 4,
    tables: OnceLock::new(),
};

static MODP_2048_GROUP: Modp<32> = Modp {
    group: DhGroup::MODP_2048,
    name: "MODP-2048",
    prime: P_2048,
    exponent_bits: 224,
    generator_rounds: 4,
    tables: OnceLock::new(),
};

static MODP_3072_GROUP: Modp<48> = Modp {
    group: DhGroup::MODP_3072,
    name: "MODP-3072",
    prime: P_3072,
    exponent_bits: 256,
    generator_rounds: 4,
    tables: OnceLock::new(),
};

static MODP_4096_GROUP: Modp<64> = Modp {
    group: DhGroup::MODP_4096,
    name: "MODP-4096",
    prime: P_4096,
    exponent_bits: 304,
    generator_rounds: 4,
    tables: OnceLock::new(),
};

/// Group 2: 1024-bit MODP (RFC 2409 section 6.2). RFC 8247 says SHOULD NOT; PAN-OS defaults to it.
pub static MODP_1024: &dyn KeyExchangeGroup = &MODP_1024_GROUP;
/// Group 5: 1536-bit MODP (RFC 3526 section 2).
pub static MODP_1536: &dyn KeyExchangeGroup = &MODP_1536_GROUP;
/// Group 14: 2048-bit MODP (RFC 3526 section 3).
pub static MODP_2048: &dyn KeyExchangeGroup = &MODP_2048_GROUP;
/// Group 15: 3072-bit MODP (RFC 3526 section 4).
pub static MODP_3072: &dyn KeyExchangeGroup = &MODP_3072_GROUP;
/// Group 16: 4096-bit MODP (RFC 3526 section 5).
pub static MODP_4096: &dyn KeyExchangeGroup = &MODP_4096_GROUP;
