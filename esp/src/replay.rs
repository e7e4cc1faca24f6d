//! The anti-replay window (RFC 4303 section 3.4.3 and appendix A).
//!
//! The receiver keeps the highest sequence number it has authenticated (`top`) and a bitmap of
//! the `size` numbers ending at `top`. A packet is [checked](ReplayWindow::check) before the ICV is
//! verified (cheap rejection of replays) and [committed](ReplayWindow::commit) only after it
//! authenticated, so forged packets never move the window.
//!
//! With extended sequence numbers only the low 32 bits travel in the packet; the high 32 bits are
//! inferred from the window position as in RFC 4303 appendix A2.2 and fed into the ICV, so a wrong
//! guess fails authentication instead of corrupting state.
//!
//! The bitmap is a ring of 64-bit words indexed by `seq mod ring`, where the ring is `size`
//! rounded up to a power of two (numbers a ring apart never both lie in the window, so they may
//! share a bit; the window itself stays `size`), allocated once when the SA is installed;
//! per-packet work is a few word operations and masks (no division) and never allocates.

/// Smallest configurable window, in packets (PAN-OS offers 64 to 4096).
pub const MIN_WINDOW: u32 = 64;
/// Largest configurable window, in packets.
pub const MAX_WINDOW: u32 = 65536;

/// Why [`ReplayWindow::check`] rejected a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// The number was already received.
    Duplicate(u64),
    /// The number is left of the window (or is 0, which is never sent), or its ESN high half
    /// cannot be inferred.
    TooOld(u64),
}

impl ReplayError {
    /// The full (inferred) sequence number that was rejected.
    pub fn sequence(self) -> u64 {
        match self {
            ReplayError::Duplicate(s) | ReplayError::TooOld(s) => s,
        }
    }
}

/// An anti-replay window of `size` packets, with or without ESN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Window size in packets, a multiple of 64.
    size: u64,
    /// Replay checks on (`false` when the SA was negotiated with a window of 0).
    enabled: bool,
    /// 64-bit sequence numbers.
    esn: bool,
    /// Highest authenticated sequence number, 0 before the first packet.
    top: u64,
    /// Bit `s mod ring` is set when `s` (within the window) was received; the ring is
    /// `bits.len() * 64`, a power of two.
    bits: Box<[u64]>,
    /// The ring's length minus one.
    mask: u64,
}

impl ReplayWindow {
    /// A window of `size` packets, rounded up to a multiple of 64 (0 disables replay checks but
    /// still tracks the ESN high half). Sizes above [`MAX_WINDOW`] are refused.
    pub fn new(size: u32, esn: bool) -> Option<Self> {
        if size > MAX_WINDOW {
            return None;
        }
        let enabled = size != 0;
        let size = u64::from(size.max(MIN_WINDOW).div_ceil(64) * 64);
        let ring = size.next_power_of_two();
        let words = usize::try_from(ring / 64).ok()?;
        Some(ReplayWindow {
            size,
            enabled,
            esn,
            top: 0,
            bits: vec![0u64; words].into_boxed_slice(),
            mask: ring - 1,
        })
    }

    /// The window size in packets (after rounding).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The highest authenticated sequence number (0 before the first packet).
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Whether replay checks are on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Infers the full sequence number of a received low half (RFC 4303 appendix A2.2).
    /// Without ESN the low half is the number. `None` when the high half would leave `0..2^32`.
    pub fn infer(&self, low: u32) -> Option<u64> {
        if !self.esn {
            return Some(u64::from(low));
        }
        let w = self.size;
        let tl = self.top & 0xffff_ffff;
        let th = self.top >> 32;
        let low64 = u64::from(low);
        let high = if tl >= w - 1 {
            // The window lies within one 2^32 subspace.
            if low64 >= tl - (w - 1) {
                th
            } else {
                th.checked_add(1)?
            }
        } else {
            // The window spans two subspaces: numbers above the wrapped bottom are in the
            // previous one.
            let bottom = (tl + (1u64 << 32) - (w - 1)) & 0xffff_ffff;
            if low64 >= bottom {
                th.checked_sub(1)?
            } else {
                th
            }
        };
        if high > 0xffff_ffff {
            return None;
        }
        Some(high << 32 | low64)
    }

    /// Checks a received low half without changing anything; returns the full sequence number
    /// to authenticate and later [`commit`](Self::commit).
    pub fn check(&self, low: u32) -> Result<u64, ReplayError> {
        let seq = self.infer(low).ok_or(ReplayError::TooOld(u64::from(low)))?;
        self.check_sequence(seq)?;
        Ok(seq)
    }

    /// Checks a full sequence number, inferred earlier by [`check`](Self::check), without
    /// changing anything: whether the window still accepts it. A packet verified while the
    /// window moved (its ICV checked on another thread) is checked again with it before its
    /// [`commit`](Self::commit).
    pub fn check_sequence(&self, seq: u64) -> Result<(), ReplayError> {
        if !self.enabled {
            return Ok(());
        }
        if seq == 0 {
            return Err(ReplayError::TooOld(0));
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= self.size {
            return Err(ReplayError::TooOld(seq));
        }
        if self.bit(seq) {
            return Err(ReplayError::Duplicate(seq));
        }
        Ok(())
    }

    /// Records an authenticated sequence number: slides the window right when `seq` is above the
    /// top, and marks it received. Call only after [`check`](Self::check) accepted `seq` and the
    /// ICV verified.
    pub fn commit(&mut self, seq: u64) {
        if seq > self.top {
            let advance = seq - self.top;
            if advance >= self.size {
                self.bits.fill(0);
            } else {
                // Clear the slots of the numbers that enter the window, a word at a time where
                // a whole word enters.
                let mut next = self.top + 1;
                let mut remaining = advance;
                while remaining > 0 {
                    let (w, b) = self.slot(next);
                    let Some(word) = self.bits.get_mut(w) else {
                        break;
                    };
                    if b == 0 && remaining >= 64 {
                        *word = 0;
                        remaining -= 64;
                        next = next.wrapping_add(64);
                    } else {
                        *word &= !(1u64 << b);
                        remaining -= 1;
                        next = next.wrapping_add(1);
                    }
                }
            }
            self.top = seq;
        } else if self.top - seq >= self.size {
            return;
        }
        let (w, b) = self.slot(seq);
        if let Some(word) = self.bits.get_mut(w) {
            *word |= 1u64 << b;
        }
    }

    /// Sets the window's top after a failover (RFC 6311): everything up to `top` counts as
    /// received.
    pub fn reset_to(&mut self, top: u64) {
        self.top = top;
        self.bits.fill(u64::MAX);
    }

    fn slot(&self, seq: u64) -> (usize, u32) {
        let i = seq & self.mask;
        // `i < ring <= MAX_WINDOW` (a power of two), so the word index fits any usize.
        ((i / 64) as usize, (i % 64) as u32)
    }

    fn bit(&self, seq: u64) -> bool {
        let (w, b) = self.slot(seq);
        self.bits.get(w).is_some_and(|word| word & (1u64 << b) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_new_rejects_duplicates_and_old() {
        let mut w = ReplayWindow::new(64, false).unwrap();
        assert_eq!(w.check(0), Err(ReplayError::TooOld(0)));
        for s in [1u32, 3, 2] {
            let full = w.check(s).unwrap();
            w.commit(full);
        }
        assert_eq!(w.check(3), Err(ReplayError::Duplicate(3)));
        w.commit(w.check(100).unwrap());
        assert_eq!(w.check(3), Err(ReplayError::TooOld(3)));
        assert_eq!(w.check(36), Err(ReplayError::TooOld(36)));
        assert_eq!(w.check(37), Ok(37));
        assert_eq!(w.check(100), Err(ReplayError::Duplicate(100)));
        assert_eq!(w.top(), 100);
    }

    #[test]
    fn check_alone_changes_nothing() {
        let w = ReplayWindow::new(1024, true).unwrap();
        assert_eq!(w.check(5), Ok(5));
        assert_eq!(w.check(5), Ok(5));
        assert_eq!(w.top(), 0);
    }

    #[test]
    fn esn_infers_high_half_across_the_boundary() {
        let mut w = ReplayWindow::new(128, true).unwrap();
        w.commit(0xffff_fff0);
        // Just above the 2^32 boundary: the next subspace.
        assert_eq!(w.check(5), Ok(0x1_0000_0005));
        w.commit(0x1_0000_0005);
        // Late packet from the previous subspace, still inside the window.
        assert_eq!(w.check(0xffff_fff5), Ok(0xffff_fff5));
        assert_eq!(
            w.check(0xffff_fff0),
            Err(ReplayError::Duplicate(0xffff_fff0))
        );
    }

    #[test]
    fn window_sizes_round_and_cap() {
        assert_eq!(ReplayWindow::new(100, false).unwrap().size(), 128);
        assert_eq!(ReplayWindow::new(4096, false).unwrap().size(), 4096);
        assert!(ReplayWindow::new(MAX_WINDOW + 1, false).is_none());
        let w = ReplayWindow::new(0, false).unwrap();
        assert!(!w.enabled());
        assert_eq!(w.check(0), Ok(0));
    }
}
