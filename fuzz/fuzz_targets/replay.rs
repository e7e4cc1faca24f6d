//! Fuzz target: the anti-replay window (RFC 4303 section 3.4.3 and appendix A), differential
//! against a set.
//!
//! Input: a configuration byte (window 0 = off, 64, 100, 1024, 4096 or 32768; ESN; a start just
//! below 2^32 or at 1), then 3-byte steps: a signed 16-bit move of the sequence number (bit 0
//! of the third byte widens it 64 times) and a "forged" bit (checked, never committed, as a
//! packet whose ICV fails).
//!
//! The reference is the set of numbers received and the highest one: a number is accepted when
//! it is not 0, not in the set, and above the top or less than a window size below it. The
//! window must agree on every number, never move on a forged one, and report the same top. With
//! ESN only the low 32 bits are given; a number far left of the window may be read as one in the
//! next 2^32 subspace (appendix A2.2), which is accepted only as that other number, whose ICV
//! then fails: it is checked to be left of the window and never committed.

#![no_main]

use esp::replay::{ReplayError, ReplayWindow};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;

const SIZES: [u32; 6] = [0, 64, 100, 1024, 4096, 32768];

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, steps)) = data.split_first() else {
        return;
    };
    let size = SIZES[usize::from(cfg % 6)];
    let esn = cfg & 0x10 != 0;
    let start: u64 = if esn && cfg & 0x20 != 0 {
        (1 << 32) - u64::from(cfg & 0x0f) * 1000 - 1
    } else {
        1
    };
    let mut w = ReplayWindow::new(size, esn).expect("window size in range");
    let width = w.size();
    let mut seen: BTreeSet<u64> = BTreeSet::new();
    let mut top = 0u64;
    // After a reset everything up to the top counts as received.
    let mut floor = 0u64;
    if start > 1 {
        w.reset_to(start - 1);
        top = start - 1;
        floor = start - 1;
    }
    let received = |seen: &BTreeSet<u64>, s: u64| s <= floor || seen.contains(&s);
    let accepts = |seen: &BTreeSet<u64>, top: u64, s: u64| {
        size == 0 || (s != 0 && !received(seen, s) && (s > top || top - s < width))
    };
    let mut cursor = start;
    for s in steps.chunks_exact(3) {
        let delta = i64::from(i16::from_be_bytes([s[0], s[1]]));
        let delta = if s[2] & 1 != 0 { delta * 64 } else { delta };
        let forged = s[2] & 2 != 0;
        let full = cursor.saturating_add_signed(delta).max(1);
        if !esn && full > u64::from(u32::MAX) {
            continue;
        }
        let low = full as u32;
        match w.check(low) {
            Ok(inferred) if inferred != full => {
                assert!(esn, "inferred {inferred} for {full} without ESN");
                // With the window off nothing is refused, and a wrong guess fails the ICV.
                if size != 0 {
                    assert!(!accepts(&seen, top, full), "{full} read as {inferred}");
                    assert!(full + width <= top + 1, "{full} is not left of the window");
                }
            }
            Ok(seq) => {
                assert!(accepts(&seen, top, full), "accepted {seq}, top {top}");
                if !forged {
                    w.commit(seq);
                    seen.insert(seq);
                    top = top.max(seq);
                }
            }
            Err(e) => {
                assert!(
                    !accepts(&seen, top, full),
                    "refused {full} ({e:?}), top {top}"
                );
                if let ReplayError::Duplicate(x) = e {
                    assert!(received(&seen, x), "duplicate {x} never received");
                }
            }
        }
        assert_eq!(w.top(), top, "the window moved away from the model");
        cursor = cursor.max(full) + 1;
    }
});
