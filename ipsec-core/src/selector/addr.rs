//! Address arithmetic shared by the selector code: both families are handled as `u128` integers
//! (an IPv4 address is the low 32 bits), so ranges and prefixes use one code path.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Address family of a selector or packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Family {
    V4,
    V6,
}

impl Family {
    /// Address width in bits.
    pub(crate) fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// The highest address of the family as an integer.
    pub(crate) fn max(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }
}

/// The family and integer value of an address.
#[inline]
pub(crate) fn to_u128(ip: IpAddr) -> (Family, u128) {
    match ip {
        IpAddr::V4(a) => (Family::V4, u128::from(u32::from(a))),
        IpAddr::V6(a) => (Family::V6, u128::from(a)),
    }
}

/// The address of `value` in `family`; IPv4 values above `u32::MAX` saturate (never produced by
/// this module, whose IPv4 values all come from real addresses).
pub(crate) fn from_u128(family: Family, value: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(u32::try_from(value).unwrap_or(u32::MAX))),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(value)),
    }
}

/// The prefix length when `lo..=hi` is exactly one CIDR block, else `None`.
pub(crate) fn exact_prefix_len(family: Family, lo: u128, hi: u128) -> Option<u8> {
    let host = hi.checked_sub(lo)?;
    // A block spans 2^k addresses (host mask of k one-bits) and starts on a multiple of 2^k.
    let is_mask = host & host.wrapping_add(1) == 0;
    if !is_mask || lo & host != 0 || hi > family.max() {
        return None;
    }
    let host_bits = u8::try_from(host.count_ones()).ok()?;
    family.bits().checked_sub(host_bits)
}

/// The minimal list of CIDR blocks `(first address, prefix length)` covering `lo..=hi` exactly,
/// in ascending order. Empty when `lo > hi`.
///
/// Greedy: from the lowest uncovered address take the largest block that starts there and does not
/// pass `hi`. Each block is maximal, so no two neighbours could merge and the list is minimal; at
/// most `2 * bits` blocks are produced.
pub(crate) fn range_to_blocks(family: Family, lo: u128, hi: u128) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    if lo > hi || hi > family.max() {
        return out;
    }
    let bits = u32::from(family.bits());
    let mut cur = lo;
    loop {
        // Largest alignment of `cur` (a zero address is aligned to the whole space).
        let mut k = if cur == 0 {
            bits
        } else {
            cur.trailing_zeros().min(bits)
        };
        // Shrink until the block ends at or before `hi`.
        let last = loop {
            let host = if k >= 128 {
                u128::MAX
            } else {
                (1u128 << k) - 1
            };
            match cur.checked_add(host) {
                Some(last) if last <= hi => break last,
                _ => k -= 1,
            }
        };
        let len = u8::try_from(bits - k).unwrap_or(0);
        out.push((cur, len));
        if last >= hi {
            return out;
        }
        cur = last + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_awkward_ranges() {
        // 10.0.0.1 - 10.0.0.6 = .1/32 .2/31 .4/31 .6/32
        let base = 0x0a00_0000u128;
        let b = range_to_blocks(Family::V4, base + 1, base + 6);
        assert_eq!(
            b,
            vec![
                (base + 1, 32),
                (base + 2, 31),
                (base + 4, 31),
                (base + 6, 32)
            ]
        );
        assert_eq!(range_to_blocks(Family::V6, 0, u128::MAX), vec![(0, 0)]);
        assert_eq!(
            range_to_blocks(Family::V4, 0, u128::from(u32::MAX)),
            vec![(0, 0)]
        );
        assert_eq!(range_to_blocks(Family::V6, 1, u128::MAX).len(), 128);
        assert!(range_to_blocks(Family::V4, 5, 4).is_empty());
        assert_eq!(exact_prefix_len(Family::V4, base, base + 255), Some(24));
        assert_eq!(exact_prefix_len(Family::V4, base + 1, base + 2), None);
        assert_eq!(exact_prefix_len(Family::V6, 0, u128::MAX), Some(0));
        assert_eq!(exact_prefix_len(Family::V6, 7, 7), Some(128));
    }
}
