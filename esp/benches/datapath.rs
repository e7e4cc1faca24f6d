//! ESP encapsulation + decapsulation against the provider's raw cipher calls on the same payload,
//! for every provider compiled in (RustCrypto, *ring*, aws-lc-rs and the mixed one), in the same
//! run.
//!
//! For each suite, provider and inner packet size (64, 512, 1400, 9000 bytes):
//! - `<provider>/esp`: `OutboundSa::encapsulate` (tunnel mode) then `InboundSa::decapsulate` of
//!   the result, whose inner packet is checked against the SA's selectors (one proxy ID);
//! - `<provider>/raw`: the provider's keyed objects on the same number of bytes: AEAD
//!   `seal_in_place` then `open_in_place` (8-byte AAD), or cipher encrypt + MAC sign + MAC verify
//!   + decrypt.
//!
//! The ratio esp/raw of one provider is the datapath's overhead; raw/raw across providers compares
//! the crates. `esp-own-work/<size>` runs the same encapsulation and decapsulation with the
//! no-security provider's identity AEAD: the datapath's own work per packet pair without the
//! cipher, the figure to compare between two builds (a few percent of the esp/raw ratio is
//! lost in the noise of a shared machine, not so this). A provider without a suite's algorithms is left out of that suite. Run:
//! `cargo bench -p esp --bench datapath -- --warm-up-time 1 --measurement-time 3`
//! (a filter such as `aes128gcm16/` after `--` runs one suite).

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use esp::{InboundSa, OutboundSa};
use ipsec_core::child_sa::{ChildSa, DirectionKeys, IpsecProtocol, Lifetimes, Mode};
use ipsec_core::crypto::{builtin_providers, EncrId, Encryption, IntegId, SecretBytes};
use ipsec_core::selector::TrafficSelector;
use ipsec_core::time::Instant;
use std::hint::black_box;

const SIZES: [usize; 4] = [64, 512, 1400, 9000];

fn suites() -> Vec<(&'static str, Encryption, IntegId, usize, usize)> {
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
            "aes128cbc-sha256",
            Encryption::new(EncrId::ENCR_AES_CBC, 128),
            IntegId::AUTH_HMAC_SHA2_256_128,
            16,
            32,
        ),
        (
            "null-sha256",
            Encryption::new(EncrId::ENCR_NULL, 0),
            IntegId::AUTH_HMAC_SHA2_256_128,
            0,
            32,
        ),
        (
            "3des-sha256",
            Encryption::new(EncrId::ENCR_3DES, 0),
            IntegId::AUTH_HMAC_SHA2_256_128,
            24,
            32,
        ),
    ]
}

fn child(enc: Encryption, integ: IntegId, el: usize, il: usize) -> ChildSa {
    let keys = DirectionKeys {
        spi: 0x0100_0001,
        encryption_key: SecretBytes::from_slice(&vec![0x42; el]),
        integrity_key: SecretBytes::from_slice(&vec![0x24; il]),
    };
    ChildSa {
        tunnel: "bench".into(),
        proxy_id: None,
        protocol: IpsecProtocol::Esp,
        mode: Mode::Tunnel,
        encryption: enc,
        integrity: integ,
        esn: false,
        inbound: keys.clone(),
        outbound: keys,
        // What a proxy ID of 10.1.0.0/16 to 10.2.0.0/16 installs: the inbound SA checks each
        // decrypted packet against them.
        local_ts: vec![selector("10.1.0.0/16")],
        remote_ts: vec![selector("10.2.0.0/16")],
        local_addr: "192.0.2.1:4500".parse().unwrap(),
        remote_addr: "192.0.2.2:4500".parse().unwrap(),
        encapsulation: None,
        lifetimes: Lifetimes::default(),
        replay_window: 1024,
        tfc_padding: false,
    }
}

fn selector(prefix: &str) -> TrafficSelector {
    TrafficSelector::from_prefix(prefix.parse().unwrap(), 0, (0, u16::MAX)).unwrap()
}

/// The receiving end's view of `child`: the same keys, the selectors the other way round.
fn mirrored(child: &ChildSa) -> ChildSa {
    let mut m = child.clone();
    std::mem::swap(&mut m.local_ts, &mut m.remote_ts);
    m
}

fn inner_packet(len: usize) -> Vec<u8> {
    let mut p = vec![0x5a; len];
    p[0] = 0x45;
    p[1] = 0;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 1, 0, 1]);
    p[16..20].copy_from_slice(&[10, 2, 0, 1]);
    p
}

fn datapath(c: &mut Criterion) {
    let now = Instant::ZERO;
    let providers = builtin_providers();
    for (name, enc, integ, el, il) in suites() {
        let mut group = c.benchmark_group(name);
        let desc = child(enc, integ, el, il);
        for (pname, provider) in &providers {
            let has_cipher = provider.aead(enc).is_some()
                || (provider.cipher(enc).is_some() && provider.integrity(integ).is_some());
            if !has_cipher {
                continue;
            }
            for size in SIZES {
                group.throughput(Throughput::Bytes(size as u64));

                let mut tx = OutboundSa::new(provider, &desc, now).unwrap();
                let mut rx = InboundSa::new(provider, &mirrored(&desc), now).unwrap();
                let head = tx.headroom();
                let mut buf = vec![0u8; head + size + tx.max_tailroom()];
                buf[head..head + size].copy_from_slice(&inner_packet(size));
                let id = BenchmarkId::new(format!("{pname}/esp"), size);
                group.bench_with_input(id, &size, |b, &size| {
                    b.iter(|| {
                        // Decapsulation leaves the inner packet where encapsulation found it.
                        let r = tx.encapsulate(now, &mut buf, head..head + size).unwrap();
                        let d = rx.decapsulate(now, &mut buf[r]).unwrap();
                        black_box(d);
                    })
                });

                let aad = [0u8; 8];
                let id = BenchmarkId::new(format!("{pname}/raw"), size);
                if let Some(aead) = provider.aead(enc) {
                    let key = aead.new_key(&vec![0x42; el]).unwrap();
                    let iv = [7u8; 8];
                    let mut data = vec![0x5a; size];
                    let mut tag = [0u8; 16];
                    group.bench_with_input(id, &size, |b, _| {
                        b.iter(|| {
                            key.seal_in_place(&iv, &aad, &mut data, &mut tag).unwrap();
                            key.open_in_place(&iv, &aad, &mut data, &tag).unwrap();
                        })
                    });
                } else {
                    let cipher = provider.cipher(enc).unwrap();
                    let ck = cipher.new_key(&vec![0x42; el]).unwrap();
                    let mac = provider.integrity(integ).unwrap();
                    let mk = mac.new_key(&vec![0x24; il]).unwrap();
                    let bl = cipher.block_len().max(4);
                    let n = size.div_ceil(bl) * bl;
                    let mut data = vec![0x5a; n];
                    let iv = vec![7u8; cipher.iv_len()];
                    let mut icv = vec![0u8; mac.icv_len()];
                    group.bench_with_input(id, &size, |b, _| {
                        b.iter(|| {
                            ck.encrypt_in_place(&iv, &mut data).unwrap();
                            mk.sign(&[&aad, &iv, &data], &mut icv);
                            mk.verify(&[&aad, &iv, &data], &icv).unwrap();
                            ck.decrypt_in_place(&iv, &mut data).unwrap();
                        })
                    });
                }
            }
        }
        group.finish();
    }
}

/// ESP encapsulation + decapsulation with the identity AEAD (no cipher work): what the datapath
/// itself costs per packet pair.
fn own_work(c: &mut Criterion) {
    let now = Instant::ZERO;
    let provider = ipsec_core::crypto::no_security::provider();
    let mut group = c.benchmark_group("esp-own-work");
    let desc = child(
        Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
        IntegId::NONE,
        20,
        0,
    );
    for size in [64, 1400] {
        group.throughput(Throughput::Bytes(size as u64));
        let mut tx = OutboundSa::new(&provider, &desc, now).unwrap();
        let mut rx = InboundSa::new(&provider, &mirrored(&desc), now).unwrap();
        let head = tx.headroom();
        let mut buf = vec![0u8; head + size + tx.max_tailroom()];
        buf[head..head + size].copy_from_slice(&inner_packet(size));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            b.iter(|| {
                let r = tx.encapsulate(now, &mut buf, head..head + size).unwrap();
                let d = rx.decapsulate(now, &mut buf[r]).unwrap();
                black_box(d);
            })
        });
    }
    group.finish();
}

#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::datapath, super::own_work);
}

criterion_main!(group::benches);
