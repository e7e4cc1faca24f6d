//! Byte, packet and time lifetimes of one SA direction (RFC 4301 section 4.4.2.1), and the events
//! they raise for the IKE side.
//!
//! Soft limits raise an event once (start a rekey); hard limits raise an event once and make the
//! SA refuse further packets. Counters only move for packets that were sent or that authenticated.

use ipsec_core::child_sa::Lifetimes;
use ipsec_core::time::Instant;

/// Which limit an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Bytes protected.
    Bytes,
    /// Packets protected.
    Packets,
    /// Time since installation.
    Time,
    /// Outbound sequence numbers (RFC 4303 section 3.3.3: they never wrap).
    SequenceNumber,
}

/// Something the owner of an SA must act on. The `Display` form reads like a PAN-OS system log
/// line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaEvent {
    /// A soft limit was reached: start a rekey.
    SoftExpired(LimitKind),
    /// A hard limit was reached: the SA refuses packets from now on; delete it.
    HardExpired(LimitKind),
}

impl core::fmt::Display for SaEvent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let kind = |k: &LimitKind| match k {
            LimitKind::Bytes => "byte",
            LimitKind::Packets => "packet",
            LimitKind::Time => "time",
            LimitKind::SequenceNumber => "sequence number",
        };
        match self {
            SaEvent::SoftExpired(k) => write!(f, "IPsec SA soft {} lifetime expired", kind(k)),
            SaEvent::HardExpired(k) => write!(f, "IPsec SA hard {} lifetime expired", kind(k)),
        }
    }
}

const KINDS: [LimitKind; 4] = [
    LimitKind::Bytes,
    LimitKind::Packets,
    LimitKind::Time,
    LimitKind::SequenceNumber,
];

/// Counters and limits of one SA direction, with the events not yet polled.
#[derive(Debug, Clone)]
pub struct Lifetime {
    limits: Lifetimes,
    installed: Instant,
    bytes: u64,
    packets: u64,
    /// Bit `k` set once soft event `k` was raised; bit `4 + k` for hard.
    raised: u8,
    /// Same layout: raised but not yet polled.
    pending: u8,
}

impl Lifetime {
    /// Limits counted from `now`.
    pub fn new(limits: Lifetimes, now: Instant) -> Self {
        Lifetime {
            limits,
            installed: now,
            bytes: 0,
            packets: 0,
            raised: 0,
            pending: 0,
        }
    }

    /// Bytes counted so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Packets counted so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// When the SA was installed.
    pub fn installed(&self) -> Instant {
        self.installed
    }

    /// True once a hard limit was reached (checks the time limit against `now`).
    pub fn is_expired(&mut self, now: Instant) -> bool {
        self.check_time(now);
        self.raised & 0xf0 != 0
    }

    /// Counts one packet of `bytes` bytes and raises the events whose limits it crosses.
    pub fn count(&mut self, now: Instant, bytes: usize) {
        self.bytes = self.bytes.saturating_add(bytes as u64);
        self.packets = self.packets.saturating_add(1);
        if self.limits.soft_bytes.is_some_and(|l| self.bytes >= l) {
            self.raise(LimitKind::Bytes, false);
        }
        if self.limits.hard_bytes.is_some_and(|l| self.bytes >= l) {
            self.raise(LimitKind::Bytes, true);
        }
        if self.limits.soft_packets.is_some_and(|l| self.packets >= l) {
            self.raise(LimitKind::Packets, false);
        }
        if self.limits.hard_packets.is_some_and(|l| self.packets >= l) {
            self.raise(LimitKind::Packets, true);
        }
        self.check_time(now);
    }

    /// Raises the soft or hard event of `kind` (once).
    pub fn raise(&mut self, kind: LimitKind, hard: bool) {
        let bit = 1u8 << (kind as u8 + if hard { 4 } else { 0 });
        if self.raised & bit == 0 {
            self.raised |= bit;
            self.pending |= bit;
        }
    }

    /// Raises the time events due at `now`.
    pub fn check_time(&mut self, now: Instant) {
        let age = now.saturating_duration_since(self.installed);
        if self.limits.soft_time.is_some_and(|t| age >= t) {
            self.raise(LimitKind::Time, false);
        }
        if self.limits.hard_time.is_some_and(|t| age >= t) {
            self.raise(LimitKind::Time, true);
        }
    }

    /// The next time limit still to come, for the caller's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        let soft = self
            .limits
            .soft_time
            .filter(|_| self.raised & (1 << LimitKind::Time as u8) == 0);
        let hard = self
            .limits
            .hard_time
            .filter(|_| self.raised & (1 << (LimitKind::Time as u8 + 4)) == 0);
        soft.or(hard).map(|d| self.installed.saturating_add(d))
    }

    /// True when an event was raised and not yet polled.
    pub fn has_pending(&self) -> bool {
        self.pending != 0
    }

    /// The next event not yet polled, hard ones first.
    pub fn poll_event(&mut self) -> Option<SaEvent> {
        for hard in [true, false] {
            for k in KINDS {
                let bit = 1u8 << (k as u8 + if hard { 4 } else { 0 });
                if self.pending & bit != 0 {
                    self.pending &= !bit;
                    return Some(if hard {
                        SaEvent::HardExpired(k)
                    } else {
                        SaEvent::SoftExpired(k)
                    });
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    #[test]
    fn soft_then_hard_once_each() {
        let limits = Lifetimes {
            soft_packets: Some(2),
            hard_packets: Some(3),
            soft_time: Some(Duration::from_secs(10)),
            ..Lifetimes::default()
        };
        let mut l = Lifetime::new(limits, Instant::ZERO);
        l.count(Instant::ZERO, 100);
        assert_eq!(l.poll_event(), None);
        l.count(Instant::ZERO, 100);
        assert_eq!(
            l.poll_event(),
            Some(SaEvent::SoftExpired(LimitKind::Packets))
        );
        assert_eq!(l.poll_event(), None);
        assert!(!l.is_expired(Instant::ZERO));
        l.count(Instant::ZERO, 100);
        assert_eq!(
            l.poll_event(),
            Some(SaEvent::HardExpired(LimitKind::Packets))
        );
        assert!(l.is_expired(Instant::ZERO));
        assert_eq!(l.bytes(), 300);
        assert_eq!(l.next_deadline(), Some(Instant::from_secs(10)));
        l.check_time(Instant::from_secs(11));
        assert_eq!(l.poll_event(), Some(SaEvent::SoftExpired(LimitKind::Time)));
        assert_eq!(l.next_deadline(), None);
        assert_eq!(
            SaEvent::HardExpired(LimitKind::Bytes).to_string(),
            "IPsec SA hard byte lifetime expired"
        );
    }
}
