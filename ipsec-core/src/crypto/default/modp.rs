//! MODP key exchange groups 2, 5, 14, 15 and 16 (RFC 2409, RFC 3526), generator 2.
//!
//! Exponentiation uses `crypto-bigint`'s Montgomery form with a fixed-window ladder whose running
//! time depends on the exponent's bit bound, not on its value. The public value and the shared
//! secret are big-endian, padded to the modulus length (RFC 7296 sections 3.4 and 2.14).
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

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Limb, Uint, Word, U1024, U1536, U2048, U3072, U4096};
use zeroize::{Zeroize, Zeroizing};

use super::modp_primes::{P_1024, P_1536, P_2048, P_3072, P_4096};
use crate::crypto::{
    ActiveKeyExchange, CryptoError, DhGroup, KeyExchangeGroup, SecretBytes, SecureRandom,
};

/// One MODP group over `LIMBS` machine words.
struct Modp<const LIMBS: usize> {
    group: DhGroup,
    name: &'static str,
    prime: Uint<LIMBS>,
    /// Bits of a freshly generated private exponent (`2s` for a strength of `s` bits, a multiple
    /// of 8).
    exponent_bits: usize,
    params: OnceLock<DynResidueParams<LIMBS>>,
}

impl<const LIMBS: usize> core::fmt::Debug for Modp<LIMBS> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name)
    }
}

/// Length of a `Uint<LIMBS>` in octets.
const fn octets<const LIMBS: usize>() -> usize {
    LIMBS * Limb::BYTES
}

/// Big-endian octets (at most `octets::<LIMBS>()` of them) to an integer.
fn from_be<const LIMBS: usize>(bytes: &[u8]) -> Option<Uint<LIMBS>> {
    if bytes.len() > octets::<LIMBS>() {
        return None;
    }
    let mut words = [0 as Word; LIMBS];
    for (i, byte) in bytes.iter().rev().enumerate() {
        let word = words.get_mut(i / Limb::BYTES)?;
        *word |= Word::from(*byte) << (8 * (i % Limb::BYTES));
    }
    let value = Uint::from_words(words);
    words.zeroize();
    Some(value)
}

/// An integer to big-endian octets filling `out` (`out.len()` = `octets::<LIMBS>()`).
fn to_be<const LIMBS: usize>(value: &Uint<LIMBS>, out: &mut [u8]) {
    let words = value.as_words();
    let len = out.len();
    for (i, byte) in out.iter_mut().enumerate() {
        let from_end = len - 1 - i;
        let word = words.get(from_end / Limb::BYTES).copied().unwrap_or(0);
        // Truncation to the addressed octet is the point here.
        *byte = (word >> (8 * (from_end % Limb::BYTES))) as u8;
    }
}

impl<const LIMBS: usize> Modp<LIMBS> {
    fn params(&self) -> &DynResidueParams<LIMBS> {
        self.params
            .get_or_init(|| DynResidueParams::new(&self.prime))
    }

    fn exchange(&self, exponent: Uint<LIMBS>, exponent_bits: usize) -> Box<dyn ActiveKeyExchange> {
        let params = *self.params();
        let generator = DynResidue::new(&Uint::<LIMBS>::from_u8(2), params);
        let public = generator
            .pow_bounded_exp(&exponent, exponent_bits)
            .retrieve();
        let mut bytes = vec![0u8; octets::<LIMBS>()];
        to_be(&public, &mut bytes);
        Box::new(ModpExchange {
            group: self.group,
            prime: self.prime,
            params,
            exponent,
            exponent_bits,
            public: bytes,
        })
    }
}

impl<const LIMBS: usize> KeyExchangeGroup for Modp<LIMBS> {
    fn group(&self) -> DhGroup {
        self.group
    }

    fn public_len(&self) -> usize {
        octets::<LIMBS>()
    }

    fn start(&self, rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        let len = self.exponent_bits / 8;
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        // An all-zero draw (probability 2^-exponent_bits) would give the public value 1.
        for _ in 0..8 {
            rng.fill(&mut bytes)?;
            if bytes.iter().any(|&b| b != 0) {
                let exponent =
                    from_be::<LIMBS>(&bytes).ok_or(CryptoError::Unsupported("exponent size"))?;
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
        if private.is_empty() || private.len() > octets::<LIMBS>() {
            return Err(CryptoError::InvalidKeyLength {
                algorithm: self.name,
                expected: self.exponent_bits / 8,
                got: private.len(),
            });
        }
        if private.iter().all(|&b| b == 0) {
            return Err(CryptoError::InvalidLength("MODP private exponent is zero"));
        }
        let exponent = from_be::<LIMBS>(private).ok_or(CryptoError::Unsupported("exponent"))?;
        Ok(self.exchange(exponent, private.len() * 8))
    }
}

/// One side of a MODP exchange; the exponent is zeroized on drop.
struct ModpExchange<const LIMBS: usize> {
    group: DhGroup,
    prime: Uint<LIMBS>,
    params: DynResidueParams<LIMBS>,
    exponent: Uint<LIMBS>,
    exponent_bits: usize,
    public: Vec<u8>,
}

impl<const LIMBS: usize> Drop for ModpExchange<LIMBS> {
    fn drop(&mut self) {
        self.exponent.zeroize();
    }
}

impl<const LIMBS: usize> ActiveKeyExchange for ModpExchange<LIMBS> {
    fn group(&self) -> DhGroup {
        self.group
    }

    fn public_value(&self) -> &[u8] {
        &self.public
    }

    fn complete(&self, peer_public: &[u8]) -> Result<SecretBytes, CryptoError> {
        let invalid = CryptoError::InvalidPeerPublicKey(self.group);
        if peer_public.len() != octets::<LIMBS>() {
            return Err(invalid);
        }
        let y = from_be::<LIMBS>(peer_public).ok_or(invalid.clone())?;
        // RFC 6989 section 2.1: 1 < y < p - 1 (this also rejects y >= p).
        let p_minus_1 = self.prime.wrapping_sub(&Uint::ONE);
        if y <= Uint::ONE || y >= p_minus_1 {
            return Err(invalid);
        }
        let mut shared =
            DynResidue::new(&y, self.params).pow_bounded_exp(&self.exponent, self.exponent_bits);
        let mut value = shared.retrieve();
        let mut out = SecretBytes::zeroed(octets::<LIMBS>());
        to_be(&value, out.expose_mut());
        shared.zeroize();
        value.zeroize();
        Ok(out)
    }
}

static MODP_1024_GROUP: Modp<{ U1024::LIMBS }> = Modp {
    group: DhGroup::MODP_1024,
    name: "MODP-1024",
    prime: P_1024,
    exponent_bits: 160,
    params: OnceLock::new(),
};

static MODP_1536_GROUP: Modp<{ U1536::LIMBS }> = Modp {
    group: DhGroup::MODP_1536,
    name: "MODP-1536",
    prime: P_1536,
    exponent_bits: 184,
    params: OnceLock::new(),
};

static MODP_2048_GROUP: Modp<{ U2048::LIMBS }> = Modp {
    group: DhGroup::MODP_2048,
    name: "MODP-2048",
    prime: P_2048,
    exponent_bits: 224,
    params: OnceLock::new(),
};

static MODP_3072_GROUP: Modp<{ U3072::LIMBS }> = Modp {
    group: DhGroup::MODP_3072,
    name: "MODP-3072",
    prime: P_3072,
    exponent_bits: 256,
    params: OnceLock::new(),
};

static MODP_4096_GROUP: Modp<{ U4096::LIMBS }> = Modp {
    group: DhGroup::MODP_4096,
    name: "MODP-4096",
    prime: P_4096,
    exponent_bits: 304,
    params: OnceLock::new(),
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
