//! SA lifetimes (`lifetime = { hours = 8 }`) and lifesizes (`lifesize = { mb = 512 }`).

use super::error::{range, Problem};
use core::time::Duration;
use serde::Deserialize;

/// A lifetime as PAN-OS writes it: exactly one unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lifetime {
    /// Seconds, 180-65535.
    Seconds(u32),
    /// Minutes, 3-65535.
    Minutes(u32),
    /// Hours, 1-65535.
    Hours(u32),
    /// Days, 1-365.
    Days(u32),
}

impl Lifetime {
    /// The lifetime as a duration.
    pub fn duration(self) -> Duration {
        let secs = match self {
            Lifetime::Seconds(n) => u64::from(n),
            Lifetime::Minutes(n) => u64::from(n) * 60,
            Lifetime::Hours(n) => u64::from(n) * 3600,
            Lifetime::Days(n) => u64::from(n) * 86_400,
        };
        Duration::from_secs(secs)
    }

    /// Checks the PAN-OS range of the unit used.
    pub(crate) fn check(self) -> Result<(), Problem> {
        let (n, lo, hi, text) = match self {
            Lifetime::Seconds(n) => (n, 180, 65535, "seconds 180-65535"),
            Lifetime::Minutes(n) => (n, 3, 65535, "minutes 3-65535"),
            Lifetime::Hours(n) => (n, 1, 65535, "hours 1-65535"),
            Lifetime::Days(n) => (n, 1, 365, "days 1-365"),
        };
        if (lo..=hi).contains(&n) {
            Ok(())
        } else {
            Err(range(n, text))
        }
    }

    /// The TOML key of the unit (`hours`).
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Lifetime::Seconds(_) => "seconds",
            Lifetime::Minutes(_) => "minutes",
            Lifetime::Hours(_) => "hours",
            Lifetime::Days(_) => "days",
        }
    }
}

/// A lifesize (volume limit) as PAN-OS writes it: exactly one unit, 1-65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lifesize {
    /// Kilobytes (1024 bytes).
    Kb(u32),
    /// Megabytes.
    Mb(u32),
    /// Gigabytes.
    Gb(u32),
    /// Terabytes.
    Tb(u32),
}

impl Lifesize {
    /// The limit in bytes.
    pub fn bytes(self) -> u64 {
        let (n, shift) = match self {
            Lifesize::Kb(n) => (n, 10),
            Lifesize::Mb(n) => (n, 20),
            Lifesize::Gb(n) => (n, 30),
            Lifesize::Tb(n) => (n, 40),
        };
        // n <= u32::MAX and shift <= 40: fits in u64.
        u64::from(n) << shift
    }

    pub(crate) fn check(self) -> Result<(), Problem> {
        let n = match self {
            Lifesize::Kb(n) | Lifesize::Mb(n) | Lifesize::Gb(n) | Lifesize::Tb(n) => n,
        };
        if (1..=65535).contains(&n) {
            Ok(())
        } else {
            Err(range(n, "1-65535"))
        }
    }

    pub(crate) fn unit(self) -> &'static str {
        match self {
            Lifesize::Kb(_) => "kb",
            Lifesize::Mb(_) => "mb",
            Lifesize::Gb(_) => "gb",
            Lifesize::Tb(_) => "tb",
        }
    }
}
