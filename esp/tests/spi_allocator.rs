//! The SA table as the gateway's one inbound SPI allocator: under thousands of SAs and random
//! churn (allocations, installs with allocated and with foreign SPIs, releases, removals), no
//! two live inbound SPIs are ever equal, none is reserved (0-255), and every installed SA is
//! found by its SPI.
//!
//! The table's random source is narrowed to four values of the random half, so allocated SPIs
//! keep landing on the slot and high bits of foreign SPIs: the collisions the allocator must
//! avoid happen in every run instead of once in 2^15.

mod common;

use common::child;
use esp::{SaTable, SpiAllocator};
use ipsec_core::crypto::{
    default_provider, CryptoError, EncrId, Encryption, IntegId, SecureRandom,
};
use ipsec_core::time::Instant;
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

/// Random bytes whose every 16-bit word is 0, 1, 2 or 3.
#[derive(Debug)]
struct Narrow(AtomicU64);

impl SecureRandom for Narrow {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        for pair in buf.chunks_mut(2) {
            let n = self.0.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
            let v = ((n >> 29) & 3) as u16;
            let b = v.to_be_bytes();
            pair.copy_from_slice(&b[2 - pair.len()..]);
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum Op {
    Allocate,
    /// Install the reserved SPI at this index (modulo the number reserved).
    InstallReserved(usize),
    /// Install an SPI chosen elsewhere: random half and slot from small ranges, to collide.
    InstallForeign(u32, u32),
    Release(usize),
    Remove(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        35 => Just(Op::Allocate),
        25 => any::<usize>().prop_map(Op::InstallReserved),
        8 => (1u32..4, 0u32..2048).prop_map(|(h, s)| Op::InstallForeign(h, s)),
        8 => any::<usize>().prop_map(Op::Release),
        16 => any::<usize>().prop_map(Op::Remove),
    ]
}

fn table(seed: u64) -> SaTable {
    let mut provider = default_provider();
    provider.random = Box::leak(Box::new(Narrow(AtomicU64::new(seed))));
    SaTable::new(provider)
}

fn install(t: &mut SaTable, spi: u32) -> Result<esp::ChildHandle, esp::EspError> {
    let enc = Encryption::new(EncrId::ENCR_AES_GCM_16, 128);
    let c = child(enc, IntegId::NONE, &[7; 20], &[], spi);
    t.install(Instant::ZERO, &c)
}

fn take<T>(v: &mut Vec<T>, i: usize) -> Option<T> {
    if v.is_empty() {
        None
    } else {
        let n = v.len();
        Some(v.swap_remove(i % n))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn inbound_spis_never_collide(seed in any::<u64>(), ops in prop::collection::vec(op(), 3000..4000)) {
        let mut t = table(seed);
        let mut reserved: Vec<u32> = Vec::new();
        let mut installed: Vec<(u32, esp::ChildHandle)> = Vec::new();
        let mut peak = 0usize;
        for op in ops {
            let live: BTreeSet<u32> =
                reserved.iter().copied().chain(installed.iter().map(|(s, _)| *s)).collect();
            prop_assert_eq!(live.len(), reserved.len() + installed.len(), "duplicate live SPI");
            match op {
                Op::Allocate => {
                    // With the random half narrowed to 1..=3, a slot whose three values are all
                    // foreign may be refused; that is an error, never a duplicate.
                    if let Ok(spi) = t.allocate_spi() {
                        prop_assert!(spi > 255, "reserved SPI {spi}");
                        prop_assert!(!live.contains(&spi), "allocated {spi:#x} twice");
                        reserved.push(spi);
                    }
                }
                Op::InstallReserved(i) => {
                    if let Some(spi) = take(&mut reserved, i) {
                        let h = install(&mut t, spi);
                        prop_assert!(h.is_ok(), "{:?}", h);
                        installed.push((spi, h.unwrap()));
                    }
                }
                Op::InstallForeign(high, slot) => {
                    let spi = high << 17 | slot;
                    let r = install(&mut t, spi);
                    if installed.iter().any(|(s, _)| *s == spi) {
                        prop_assert!(r.is_err(), "SPI {spi:#x} installed twice");
                    } else {
                        prop_assert!(r.is_ok(), "{:?}", r);
                        // An SPI someone reserved is consumed by installing it.
                        reserved.retain(|s| *s != spi);
                        installed.push((spi, r.unwrap()));
                    }
                }
                Op::Release(i) => {
                    if let Some(spi) = take(&mut reserved, i) {
                        t.release_spi(spi);
                    }
                }
                Op::Remove(i) => {
                    if let Some((spi, h)) = take(&mut installed, i) {
                        t.remove(h);
                        prop_assert!(t.inbound(spi).is_none());
                    }
                }
            }
            peak = peak.max(installed.len());
            prop_assert_eq!(t.inbound_count(), installed.len());
        }
        for (spi, _) in &installed {
            prop_assert_eq!(t.inbound(*spi).map(|sa| sa.spi()), Some(*spi));
        }
        // Hundreds at once (the mix of operations drifts upward; how far depends on the draw).
        prop_assert!(peak > 300, "only {peak} SAs at once");
    }
}

#[test]
fn a_released_or_removed_spi_frees_its_slot_and_a_foreign_one_is_never_handed_out() {
    let mut t = table(1);
    let a = t.allocate_spi().unwrap();
    t.release_spi(a);
    // Releasing twice, or releasing what was never reserved, changes nothing.
    t.release_spi(a);
    t.release_spi(0x0001_0000);
    let b = t.allocate_spi().unwrap();
    assert_eq!(b & 0xffff, a & 0xffff, "the slot is reused");
    // Every value the narrowed source can produce for slot 1 is taken by foreign SPIs:
    // allocation moves on to other slots and never returns one of them.
    let foreign: Vec<u32> = (1..4).map(|h| h << 17 | 1).collect();
    for spi in &foreign {
        install(&mut t, *spi).unwrap();
    }
    for _ in 0..50 {
        if let Ok(spi) = t.allocate_spi() {
            assert!(!foreign.contains(&spi), "{spi:#x}");
        }
    }
}
