//! The rate limit on INVALID_SPI notifications.
//!
//! RFC 7296 section 1.5: a node receiving ESP for an SPI it does not know MAY tell the peer with
//! an INVALID_SPI notify, and SHOULD limit the rate of such responses, since the packets that
//! cause them cost an attacker nothing. Here each (peer, SPI) pair gets at most one notify per
//! interval, and all of them together at most a burst per second. The memory is a fixed ring of
//! recent pairs, so a flood of random SPIs costs neither allocation nor more than a burst of
//! notifies.

use core::time::Duration;
use ipsec_core::time::Instant;
use std::net::IpAddr;

/// Pairs remembered.
const RECENT: usize = 64;
/// Notifies per second, all peers together, and the burst allowed.
const PER_SECOND: u32 = 10;

#[derive(Clone, Copy, Debug)]
struct Sent {
    peer: IpAddr,
    spi: u32,
    at: Instant,
}

/// Decides which unknown-SPI packets get an INVALID_SPI.
#[derive(Clone, Debug)]
pub(crate) struct InvalidSpiLimiter {
    interval: Duration,
    recent: [Option<Sent>; RECENT],
    next: usize,
    tokens: u32,
    refilled: Instant,
}

impl InvalidSpiLimiter {
    /// At most one notify per (peer, SPI) every `interval`.
    pub(crate) fn new(interval: Duration) -> Self {
        InvalidSpiLimiter {
            interval,
            recent: [None; RECENT],
            next: 0,
            tokens: PER_SECOND,
            refilled: Instant::ZERO,
        }
    }

    /// True when a notify for `spi` may go to `peer` now (and records it).
    pub(crate) fn allow(&mut self, now: Instant, peer: IpAddr, spi: u32) -> bool {
        let recently = self.recent.iter().flatten().any(|s| {
            s.peer == peer && s.spi == spi && now.saturating_duration_since(s.at) < self.interval
        });
        if recently {
            return false;
        }
        let elapsed = now.saturating_duration_since(self.refilled);
        if elapsed >= Duration::from_secs(1) {
            self.tokens = PER_SECOND;
            self.refilled = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        if let Some(slot) = self.recent.get_mut(self.next) {
            *slot = Some(Sent { peer, spi, at: now });
        }
        self.next = (self.next + 1) % RECENT;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_spi_per_interval_and_a_bounded_burst() {
        let mut l = InvalidSpiLimiter::new(Duration::from_secs(10));
        let peer: IpAddr = "192.0.2.2".parse().unwrap();
        let t = Instant::from_secs(100);
        assert!(l.allow(t, peer, 0x1234_5678));
        assert!(!l.allow(t, peer, 0x1234_5678), "same SPI again");
        assert!(
            l.allow(t, "192.0.2.3".parse().unwrap(), 0x1234_5678),
            "other peer"
        );
        let more = (1..100u32).filter(|s| l.allow(t, peer, *s)).count();
        assert_eq!(more, PER_SECOND as usize - 2, "the rest of the burst");
        let later = Instant::from_secs(101);
        assert!(l.allow(later, peer, 0xaaaa_0000), "tokens refill");
        assert!(
            !l.allow(Instant::from_secs(105), peer, 0x1234_5678),
            "within the interval"
        );
        // Sixty-four other SPIs push it out of memory; after the interval it is sent again.
        assert!(l.allow(Instant::from_secs(111), peer, 0x1234_5678));
    }
}
