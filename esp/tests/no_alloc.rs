//! The per-packet path allocates nothing: a counting global allocator (`stats_alloc`, which keeps
//! this file free of `unsafe`) watches N encapsulations and decapsulations through the SA table,
//! for every suite of every built-in provider, after setup. The file runs without the libtest
//! harness (`harness = false`), so the process has a single thread and nothing else allocates
//! while it counts. (It counts Rust allocations; AWS-LC's C code allocates through `malloc`, and
//! its AEAD, AES and HMAC calls keep their state inline without allocating.)

mod common;

use common::{child, suites};
use esp::SaTable;
use ipsec_core::crypto::builtin_providers;
use ipsec_core::time::Instant;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    encapsulation_and_decapsulation_do_not_allocate();
    println!("no_alloc: ok");
}

fn encapsulation_and_decapsulation_do_not_allocate() {
    const N: usize = 500;
    let now = Instant::from_secs(1);
    let mut runs = 0;
    for (provider_name, provider) in builtin_providers() {
        for (suite, enc, integ, el, il) in suites() {
            if !provider.supports_encryption(enc)
                || (integ != ipsec_core::crypto::IntegId::NONE
                    && provider.integrity(integ).is_none())
            {
                continue;
            }
            let name = format!("{provider_name} {suite}");
            let mut c = child(enc, integ, &vec![5u8; el], &vec![6u8; il], 0x0100_0001);
            c.esn = true;
            // Selectors on both sides, so outbound lookup and the inbound policy check run too.
            let ten = ipsec_core::selector::TrafficSelector {
                protocol: 0,
                start_port: 0,
                end_port: u16::MAX,
                start_addr: [10, 0, 0, 0].into(),
                end_addr: [10, 255, 255, 255].into(),
            };
            c.local_ts = vec![ten];
            c.remote_ts = vec![ten];
            let mut table = SaTable::new(provider);
            table.install(now, &c).unwrap();
            let tunnel = table.tunnel("to-branch").unwrap();
            let mut inner = vec![0u8; 1400];
            inner[0] = 0x45;
            inner[2..4].copy_from_slice(&1400u16.to_be_bytes());
            inner[9] = 17;
            inner[12..16].copy_from_slice(&[10, 1, 0, 1]);
            inner[16..20].copy_from_slice(&[10, 2, 0, 1]);
            let mut buf = vec![0u8; 64 + 1400 + 64];

            let region = Region::new(GLOBAL);
            let mut delivered = 0usize;
            for _ in 0..N {
                buf[64..64 + 1400].copy_from_slice(&inner);
                let tx = table.encapsulate(now, tunnel, &mut buf, 64..1464).unwrap();
                let rx = table.decapsulate(now, &mut buf[tx.range]).unwrap();
                delivered += usize::from(rx.is_some());
            }
            let stats = region.change();
            assert_eq!(delivered, N, "{name}");
            assert_eq!(stats.allocations, 0, "{name} allocated");
            assert_eq!(stats.reallocations, 0, "{name} reallocated");
            runs += 1;
        }
    }
    // rust-crypto 9 suites, ring 4 (AEADs and NULL), aws-lc-rs 8 (no 3DES), the mixed one 9.
    assert_eq!(runs, 9 + 4 + 8 + 9);
}
