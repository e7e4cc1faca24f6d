//! The port part of a traffic selector, with the ANY and OPAQUE values of RFC 4301 section 4.4.1.
//!
//! On the wire (RFC 7296 section 3.13.1) a selector carries `start_port..=end_port`. Two encodings are
//! special: `0..=65535` is ANY, which per RFC 4301 also includes OPAQUE, and `65535, 0` (start above
//! end) is OPAQUE alone: traffic whose ports are not available, such as non-initial fragments or
//! protocols without ports. Everything is treated as a set over the 65,536 port values plus one
//! extra element, "ports unavailable", so intersection and subset follow from set algebra:
//! ANY = all values + unavailable, OPAQUE = {unavailable}, a range = those values only.

/// Interpreted port field of a traffic selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortSelector {
    /// Every port, and packets whose ports are unavailable (wire `0..=65535`).
    Any,
    /// Ports `start..=end`, a proper sub-range of `0..=65535`; never matches a packet whose ports are
    /// unavailable.
    Range(u16, u16),
    /// Only packets whose ports are unavailable (wire `start 65535, end 0`).
    Opaque,
}

impl PortSelector {
    /// Interprets the wire fields; `None` when `start > end` other than the OPAQUE encoding.
    pub fn from_fields(start: u16, end: u16) -> Option<Self> {
        match (start, end) {
            (0, u16::MAX) => Some(PortSelector::Any),
            (u16::MAX, 0) => Some(PortSelector::Opaque),
            (s, e) if s <= e => Some(PortSelector::Range(s, e)),
            _ => None,
        }
    }

    /// The wire fields `(start_port, end_port)`.
    pub fn to_fields(self) -> (u16, u16) {
        match self {
            PortSelector::Any => (0, u16::MAX),
            PortSelector::Range(s, e) => (s, e),
            PortSelector::Opaque => (u16::MAX, 0),
        }
    }

    /// True when a packet with this port (`None`: unavailable) is admitted.
    #[inline]
    pub fn matches(self, port: Option<u16>) -> bool {
        match (self, port) {
            (PortSelector::Any, _) => true,
            (PortSelector::Range(s, e), Some(p)) => s <= p && p <= e,
            (PortSelector::Range(..), None) => false,
            (PortSelector::Opaque, p) => p.is_none(),
        }
    }

    /// True when every packet admitted by `other` is admitted by `self`.
    pub fn contains(self, other: PortSelector) -> bool {
        match (self, other) {
            (PortSelector::Any, _) => true,
            (_, PortSelector::Any) => false,
            (PortSelector::Opaque, o) => o == PortSelector::Opaque,
            (PortSelector::Range(..), PortSelector::Opaque) => false,
            (PortSelector::Range(s, e), PortSelector::Range(os, oe)) => s <= os && oe <= e,
        }
    }

    /// The packets admitted by both, or `None` when there are none.
    pub fn intersect(self, other: PortSelector) -> Option<PortSelector> {
        match (self, other) {
            (PortSelector::Any, o) | (o, PortSelector::Any) => Some(o),
            (PortSelector::Opaque, PortSelector::Opaque) => Some(PortSelector::Opaque),
            (PortSelector::Opaque, PortSelector::Range(..))
            | (PortSelector::Range(..), PortSelector::Opaque) => None,
            (PortSelector::Range(s, e), PortSelector::Range(os, oe)) => {
                let (lo, hi) = (s.max(os), e.min(oe));
                // Two proper sub-ranges never intersect to the full range, so this stays a Range.
                (lo <= hi).then_some(PortSelector::Range(lo, hi))
            }
        }
    }

    /// How many values (counting "unavailable" as one) the selector admits; used to rank
    /// specificity.
    pub(crate) fn size(self) -> u32 {
        match self {
            PortSelector::Any => 65_537,
            PortSelector::Range(s, e) => (u32::from(e) + 1).saturating_sub(u32::from(s)),
            PortSelector::Opaque => 1,
        }
    }
}

impl core::fmt::Display for PortSelector {
    /// PAN-OS style: `0` for any port (as PAN-OS logs it), `80`, `1000-2000`, `opaque`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            PortSelector::Any => f.write_str("0"),
            PortSelector::Range(s, e) if s == e => write!(f, "{s}"),
            PortSelector::Range(s, e) => write!(f, "{s}-{e}"),
            PortSelector::Opaque => f.write_str("opaque"),
        }
    }
}
