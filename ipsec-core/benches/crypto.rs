//! Criterion benchmarks of the crypto providers compiled in (RustCrypto, *ring*, aws-lc-rs), side
//! by side in one run.
//!
//! - every AEAD of every provider, sealing and opening 64 and 1400 octets in place (ESP-sized
//!   packets), with RustCrypto's AES-128-CBC + HMAC-SHA2-256-128 (encrypt then MAC; verify then
//!   decrypt) for comparison;
//! - every key exchange group of every provider: key generation (`start`) and the shared secret
//!   (`complete`); for MODP also key generation with a modulus-length exponent, the baseline of
//!   the short exponents `start` draws, and both operations on `crypto-bigint`'s `DynResidue`
//!   (a fixed 4-bit window, no precomputation: the provider's former arithmetic), the baseline of
//!   its own Montgomery arithmetic (`kex/keygen-crypto-bigint/MODP-2048` etc.).
//!
//! - each provider's random source (`random/<provider>/<bytes>`), the mixed one's included.
//!
//! Names carry the provider (`AES-128-GCM-16 (ring)`; RustCrypto's have no suffix). Baselines for
//! ratios: RustCrypto's `aead/seal/AES-128-GCM-16/1400` and `kex/*/Curve25519`.
//!
//! Run: `cargo bench -p ipsec-core --bench crypto -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Encoding, Uint, U1024, U1536, U2048, U3072, U4096};
use ipsec_core::crypto::default::{SeededRandom, AES_128_CBC, HMAC_SHA2_256_128};
use ipsec_core::crypto::{
    builtin_providers, AeadAlgorithm, DhGroup, KeyExchangeGroup, SecureRandom,
};

const SIZES: [usize; 2] = [64, 1400];

/// Every algorithm of every provider once (the mixed provider only repeats them).
fn all<T: ?Sized>(
    table: impl Fn(&ipsec_core::crypto::CryptoProvider) -> &'static [&'static T],
) -> Vec<&'static T> {
    builtin_providers()
        .into_iter()
        .filter(|(name, _)| *name != "fastest")
        .flat_map(|(_, p)| table(&p).iter().copied())
        .collect()
}

fn aeads(c: &mut Criterion) {
    let mut group = c.benchmark_group("aead");
    for aead in all::<dyn AeadAlgorithm>(|p| p.aeads) {
        let name = format!("{aead:?}");
        let key = aead.new_key(&vec![0x5a; aead.keymat_len()]).unwrap();
        let iv = [1u8; 8];
        let aad = [2u8; 8];
        for size in SIZES {
            group.throughput(Throughput::Bytes(size as u64));
            let mut buf = vec![0u8; size];
            let mut tag = [0u8; 16];
            group.bench_with_input(
                BenchmarkId::new(format!("seal/{name}"), size),
                &size,
                |b, _| {
                    b.iter(|| {
                        key.seal_in_place(&iv, &aad, black_box(&mut buf), &mut tag)
                            .unwrap()
                    })
                },
            );
            let mut sealed = vec![0u8; size];
            key.seal_in_place(&iv, &aad, &mut sealed, &mut tag).unwrap();
            group.bench_with_input(
                BenchmarkId::new(format!("open/{name}"), size),
                &size,
                |b, _| {
                    b.iter(|| {
                        // Opening decrypts in place, so each iteration starts from a fresh copy; the
                        // copy is part of the measured time (one memcpy of `size` octets).
                        buf.copy_from_slice(&sealed);
                        key.open_in_place(&iv, &aad, black_box(&mut buf), &tag)
                            .unwrap()
                    })
                },
            );
        }
    }
    group.finish();
}

fn cbc_hmac(c: &mut Criterion) {
    let mut group = c.benchmark_group("aead");
    let cipher = AES_128_CBC.new_key(&[0x5a; 16]).unwrap();
    let mac = HMAC_SHA2_256_128.new_key(&[0xa5; 32]).unwrap();
    let iv = [1u8; 16];
    let hdr = [2u8; 8];
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        // CBC works on whole blocks: ESP pads 1400 octets of payload to 1408.
        let mut buf = vec![0u8; size.next_multiple_of(16)];
        let mut icv = [0u8; 16];
        let name = "AES-128-CBC+HMAC-SHA2-256-128";
        group.bench_with_input(
            BenchmarkId::new(format!("seal/{name}"), size),
            &size,
            |b, _| {
                b.iter(|| {
                    cipher.encrypt_in_place(&iv, black_box(&mut buf)).unwrap();
                    mac.sign(&[&hdr, &iv, &buf], &mut icv);
                })
            },
        );
        let mut sealed = vec![0u8; buf.len()];
        cipher.encrypt_in_place(&iv, &mut sealed).unwrap();
        mac.sign(&[&hdr, &iv, &sealed], &mut icv);
        group.bench_with_input(
            BenchmarkId::new(format!("open/{name}"), size),
            &size,
            |b, _| {
                b.iter(|| {
                    buf.copy_from_slice(&sealed);
                    mac.verify(&[&hdr, &iv, &buf], &icv).unwrap();
                    cipher.decrypt_in_place(&iv, black_box(&mut buf)).unwrap();
                })
            },
        );
    }
    group.finish();
}

fn key_exchanges(c: &mut Criterion) {
    let mut group = c.benchmark_group("kex");
    // MODP-4096 takes tens of milliseconds per operation; 20 samples keep the run short.
    group.sample_size(20);
    let rng = SeededRandom::new([3; 32]);
    for kex in all::<dyn KeyExchangeGroup>(|p| p.key_exchanges) {
        let name = format!("{kex:?}");
        group.bench_function(BenchmarkId::new("keygen", &name), |b| {
            b.iter(|| kex.start(&rng).unwrap())
        });
        let theirs = kex.start(&rng).unwrap();
        group.bench_function(BenchmarkId::new("shared", &name), |b| {
            // A fresh exchange per iteration, outside the timing: *ring*'s complete only once.
            b.iter_batched(
                || kex.start(&rng).unwrap(),
                |ours| ours.complete(black_box(theirs.public_value())).unwrap(),
                BatchSize::SmallInput,
            )
        });
        let modp = [
            DhGroup::MODP_1024,
            DhGroup::MODP_1536,
            DhGroup::MODP_2048,
            DhGroup::MODP_3072,
            DhGroup::MODP_4096,
        ];
        if modp.contains(&kex.group()) {
            // The baseline for MODP's short exponents (twice the group's security strength,
            // RFC 3526 section 8): an exponent as long as the modulus, one octet short so it
            // stays below p.
            let mut full = vec![0u8; kex.public_len() - 1];
            rng.fill(&mut full).unwrap();
            group.bench_function(BenchmarkId::new("keygen-full-exponent", &name), |b| {
                b.iter(|| kex.start_with_private(black_box(&full)).unwrap())
            });
            if name.contains('(') {
                // Another provider's MODP: the baseline below is RustCrypto's.
                continue;
            }
            let bits = match kex.group() {
                DhGroup::MODP_1024 => 160,
                DhGroup::MODP_1536 => 184,
                DhGroup::MODP_2048 => 224,
                DhGroup::MODP_3072 => 256,
                _ => 304,
            };
            let hex = prime_hex(kex.group().0);
            match kex.public_len() {
                128 => crypto_bigint_baseline::<{ U1024::LIMBS }>(&mut group, &name, hex, bits),
                192 => crypto_bigint_baseline::<{ U1536::LIMBS }>(&mut group, &name, hex, bits),
                256 => crypto_bigint_baseline::<{ U2048::LIMBS }>(&mut group, &name, hex, bits),
                384 => crypto_bigint_baseline::<{ U3072::LIMBS }>(&mut group, &name, hex, bits),
                _ => crypto_bigint_baseline::<{ U4096::LIMBS }>(&mut group, &name, hex, bits),
            }
        }
    }
    group.finish();
}

/// The prime of MODP group `id` in hexadecimal, from the conformance vectors.
fn prime_hex(id: u16) -> &'static str {
    let text = include_str!("../src/crypto/conformance/vectors/modp_primes.txt");
    let record = text
        .split("\n\n")
        .find(|r| r.lines().any(|l| l == format!("group = {id}")))
        .unwrap();
    record.lines().find_map(|l| l.strip_prefix("p = ")).unwrap()
}

/// Key generation and shared secret with exponents of `bits` bits on `crypto-bigint`'s
/// `DynResidue::pow_bounded_exp`, the arithmetic the provider used before its own.
fn crypto_bigint_baseline<const LIMBS: usize>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    prime_hex: &str,
    bits: usize,
) where
    Uint<LIMBS>: Encoding,
{
    let params = DynResidueParams::new(&Uint::<LIMBS>::from_be_hex(prime_hex));
    let rng = SeededRandom::new([4; 32]);
    let exponent = || {
        let mut x = Uint::<LIMBS>::ZERO.to_be_bytes();
        let len = x.as_ref().len();
        rng.fill(&mut x.as_mut()[len - bits / 8..]).unwrap();
        Uint::<LIMBS>::from_be_bytes(x)
    };
    let g = DynResidue::new(&Uint::<LIMBS>::from_u8(2), params);
    group.bench_function(BenchmarkId::new("keygen-crypto-bigint", name), |b| {
        b.iter_batched(
            exponent,
            |x| g.pow_bounded_exp(black_box(&x), bits).retrieve(),
            BatchSize::SmallInput,
        )
    });
    let theirs = g.pow_bounded_exp(&exponent(), bits);
    group.bench_function(BenchmarkId::new("shared-crypto-bigint", name), |b| {
        b.iter_batched(
            exponent,
            |x| theirs.pow_bounded_exp(black_box(&x), bits).retrieve(),
            BatchSize::SmallInput,
        )
    });
}

/// Each provider's random source drawing what IKE and ESP draw: an 8-byte IV or SPI, a 32-byte
/// nonce.
fn random(c: &mut Criterion) {
    let mut group = c.benchmark_group("random");
    for (name, p) in builtin_providers() {
        for size in [8usize, 32] {
            let mut buf = [0u8; 32];
            group.bench_with_input(BenchmarkId::new(name, size), &size, |b, &size| {
                b.iter(|| p.random.fill(black_box(&mut buf[..size])).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, aeads, cbc_hmac, key_exchanges, random);
criterion_main!(benches);
