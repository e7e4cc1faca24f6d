//! Time as the caller gives it.
//!
//! The protocol cores never read a clock: every call that can change state takes `now`, and
//! deadlines come back out of `poll_timeout()`. [`Instant`] is an opaque monotonic point counted in
//! integer microseconds from an origin the caller chooses, so a C caller can pass `now_us` and a
//! test can run a simulated clock.
//!
//! Certificate validity is wall-clock time, which a monotonic clock cannot give: checks that need
//! it take a [`UnixTime`], also passed in by the caller.

use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A monotonic point in time, in microseconds since a caller-chosen origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    micros: u64,
}

impl Instant {
    /// The origin of the caller's clock.
    pub const ZERO: Instant = Instant { micros: 0 };

    /// An instant `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Self {
        Instant { micros }
    }

    /// An instant `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Instant {
            micros: millis.saturating_mul(1000),
        }
    }

    /// An instant `secs` seconds after the origin.
    pub const fn from_secs(secs: u64) -> Self {
        Instant {
            micros: secs.saturating_mul(1_000_000),
        }
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.micros
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.micros.saturating_sub(earlier.micros))
    }

    /// `self + d`, saturating at the far future instead of overflowing.
    pub fn saturating_add(self, d: Duration) -> Instant {
        let add = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Instant {
            micros: self.micros.saturating_add(add),
        }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = self.saturating_add(d);
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// A wall-clock time in whole seconds since 1970-01-01T00:00:00Z, for certificate validity. The
/// caller reads its clock and passes it in; nothing here reads one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime {
    secs: u64,
}

impl UnixTime {
    /// `secs` seconds after the Unix epoch.
    pub const fn from_secs(secs: u64) -> Self {
        UnixTime { secs }
    }

    /// Seconds since the Unix epoch.
    pub const fn as_secs(self) -> u64 {
        self.secs
    }
}

impl core::fmt::Display for UnixTime {
    /// RFC 3339 in UTC (`2026-01-31T12:00:00Z`), as certificate dates are logged.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match der::DateTime::from_unix_duration(Duration::from_secs(self.secs)) {
            Ok(d) => write!(f, "{d}"),
            Err(_) => write!(f, "{} s after 1970", self.secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_secs(2);
        assert_eq!(
            t + Duration::from_millis(500),
            Instant::from_micros(2_500_000)
        );
        assert_eq!(Instant::from_secs(1) - t, Duration::ZERO);
        assert_eq!(t - Instant::from_secs(1), Duration::from_secs(1));
        assert_eq!(
            Instant::from_micros(u64::MAX) + Duration::from_secs(1),
            Instant::from_micros(u64::MAX)
        );
    }

    #[test]
    fn unix_time_prints_as_rfc_3339() {
        assert_eq!(UnixTime::from_secs(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            UnixTime::from_secs(1_609_459_200).to_string(),
            "2021-01-01T00:00:00Z"
        );
        assert!(UnixTime::from_secs(u64::MAX)
            .to_string()
            .contains("after 1970"));
    }
}
