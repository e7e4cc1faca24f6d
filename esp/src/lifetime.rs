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
///
/// The limits are turned into thresholds once (the lowest byte count, packet count and instant
/// at which a limit not yet raised is reached), so counting a packet is three comparisons; the
/// thresholds move only when an event is raised.
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
    /// The byte count at which a byte limit not yet raised is reached (`u64::MAX`: none).
    next_bytes: u64,
    /// The same for packets.
    next_packets: u64,
    /// When a time limit not yet raised falls due ([`NEVER`]: none).
    next_time: Instant,
}

/// The far future: no time limit left.
const NEVER: Instant = Instant::from_micros(u64::MAX);

fn bit(kind: LimitKind, hard: bool) -> u8 {
    1u8 << (kind as u8 + if hard { 4 } else { 0 })
}

impl Lifetime {
    /// Limits counted from `now`.
    pub fn new(limits: Lifetimes, now: Instant) -> Self {
        let mut l = Lifetime {
            limits,
            installed: now,
            bytes: 0,
            packets: 0,
            raised: 0,
            pending: 0,
            next_bytes: u64::MAX,
            next_packets: u64::MAX,
            next_time: NEVER,
        };
        l.rearm();
        l
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
    #[inline]
    pub fn is_expired(&mut self, now: Instant) -> bool {
        self.check_time(now);
        self.raised & 0xf0 != 0
    }

    /// Counts one packet of `bytes` bytes and raises the events whose limits it crosses.
    #[inline]
    pub fn count(&mut self, now: Instant, bytes: usize) {
        self.bytes = self.bytes.saturating_add(bytes as u64);
        self.packets = self.packets.saturating_add(1);
        if self.bytes >= self.next_bytes || self.packets >= self.next_packets {
            self.check_volume();
        }
        self.check_time(now);
    }

    fn check_volume(&mut self) {
        let l = self.limits;
        for (kind, count, soft, hard) in [
            (LimitKind::Bytes, self.bytes, l.soft_bytes, l.hard_bytes),
            (
                LimitKind::Packets,
                self.packets,
                l.soft_packets,
                l.hard_packets,
            ),
        ] {
            if soft.is_some_and(|limit| count >= limit) {
                self.raise(kind, false);
            }
            if hard.is_some_and(|limit| count >= limit) {
                self.raise(kind, true);
            }
        }
    }

    /// Raises the soft or hard event of `kind` (once).
    pub fn raise(&mut self, kind: LimitKind, hard: bool) {
        let bit = bit(kind, hard);
        if self.raised & bit == 0 {
            self.raised |= bit;
            self.pending |= bit;
            self.rearm();
        }
    }

    /// Raises the time events due at `now`.
    #[inline]
    pub fn check_time(&mut self, now: Instant) {
        if now >= self.next_time {
            self.raise_time(now);
        }
    }

    fn raise_time(&mut self, now: Instant) {
        let l = self.limits;
        for (limit, hard) in [(l.soft_time, false), (l.hard_time, true)] {
            if limit.is_some_and(|t| now >= self.installed.saturating_add(t)) {
                self.raise(LimitKind::Time, hard);
            }
        }
    }

    /// Recomputes the thresholds from the limits not yet raised.
    fn rearm(&mut self) {
        let raised = self.raised;
        let pending =
            |kind, hard, limit: Option<u64>| limit.filter(|_| raised & bit(kind, hard) == 0);
        let l = self.limits;
        let lowest = |kind, soft, hard| {
            pending(kind, false, soft)
                .into_iter()
                .chain(pending(kind, true, hard))
                .min()
                .unwrap_or(u64::MAX)
        };
        self.next_bytes = lowest(LimitKind::Bytes, l.soft_bytes, l.hard_bytes);
        self.next_packets = lowest(LimitKind::Packets, l.soft_packets, l.hard_packets);
        let at = |t: Option<core::time::Duration>| t.map(|d| self.installed.saturating_add(d));
        self.next_time = [(l.soft_time, false), (l.hard_time, true)]
            .into_iter()
            .filter(|&(_, hard)| raised & bit(LimitKind::Time, hard) == 0)
            .filter_map(|(t, _)| at(t))
            .min()
            .unwrap_or(NEVER);
    }

    /// The next time limit still to come, for the caller's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        (self.next_time != NEVER).then_some(self.next_time)
    }

    /// True when an event was raised and not yet polled.
    pub fn has_pending(&self) -> bool {
        self.pending != 0
    }

    /// The next event not yet polled, hard ones first.
    pub fn poll_event(&mut self) -> Option<SaEvent> {
        for hard in [true, false] {
            for k in KINDS {
                let bit = bit(k, hard);
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

    #[test]
    fn thresholds_follow_the_limits_not_yet_raised() {
        let limits = Lifetimes {
            soft_bytes: Some(1000),
            hard_bytes: Some(1500),
            hard_packets: Some(5),
            soft_time: Some(Duration::from_secs(10)),
            hard_time: Some(Duration::from_secs(20)),
            ..Lifetimes::default()
        };
        let t0 = Instant::from_secs(100);
        let mut l = Lifetime::new(limits, t0);
        assert_eq!(l.next_deadline(), Some(Instant::from_secs(110)));
        l.count(Instant::from_secs(101), 999);
        assert_eq!(l.poll_event(), None);
        l.count(Instant::from_secs(101), 1);
        assert_eq!(l.poll_event(), Some(SaEvent::SoftExpired(LimitKind::Bytes)));
        // The soft byte event is raised once; the hard one waits for its own limit.
        l.count(Instant::from_secs(102), 499);
        assert_eq!(l.poll_event(), None);
        assert!(!l.is_expired(Instant::from_secs(109)));
        l.check_time(Instant::from_secs(110));
        assert_eq!(l.poll_event(), Some(SaEvent::SoftExpired(LimitKind::Time)));
        assert_eq!(l.next_deadline(), Some(Instant::from_secs(120)));
        // The fourth packet crosses the hard byte limit, the fifth the hard packet limit.
        l.count(Instant::from_secs(111), 1);
        assert_eq!(l.poll_event(), Some(SaEvent::HardExpired(LimitKind::Bytes)));
        assert!(l.is_expired(Instant::from_secs(111)));
        l.count(Instant::from_secs(111), 1);
        assert_eq!(
            l.poll_event(),
            Some(SaEvent::HardExpired(LimitKind::Packets))
        );
        assert_eq!(l.poll_event(), None);
        l.check_time(Instant::from_secs(125));
        assert_eq!(l.poll_event(), Some(SaEvent::HardExpired(LimitKind::Time)));
        assert_eq!(l.next_deadline(), None);
        assert_eq!((l.bytes(), l.packets()), (1501, 5));
    }

    #[test]
    fn a_hard_limit_below_the_soft_one_comes_first() {
        let limits = Lifetimes {
            soft_time: Some(Duration::from_secs(30)),
            hard_time: Some(Duration::from_secs(20)),
            ..Lifetimes::default()
        };
        let mut l = Lifetime::new(limits, Instant::ZERO);
        assert_eq!(l.next_deadline(), Some(Instant::from_secs(20)));
        assert!(l.is_expired(Instant::from_secs(20)));
        assert_eq!(l.poll_event(), Some(SaEvent::HardExpired(LimitKind::Time)));
        assert_eq!(l.next_deadline(), Some(Instant::from_secs(30)));
    }
}
