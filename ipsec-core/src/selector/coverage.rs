//! Whether one selector is covered by the union of several: the exact form of "the responder only
//! narrowed" when its answer merges or spans several proposed selectors.
//!
//! Every boundary of the listed selectors cuts the candidate into cells in each dimension
//! (address, protocol, port); inside a cell every listed selector either admits all points or none.
//! So the candidate is covered exactly when one representative point per cell is admitted by some
//! listed selector. With `k` listed selectors there are O(k) cells per dimension, hence O(k^3)
//! representatives, each tested against `k` selectors: O(k^4) for one candidate, which is small for
//! the handful of selectors a proposal carries.

use super::traffic_selector::Parts;
use super::{PortSelector, TrafficSelector};

/// Sorted, deduplicated starts of the cells of `lo..=hi` cut by the given ranges.
fn cell_starts(lo: u128, hi: u128, ranges: impl Iterator<Item = (u128, u128)>) -> Vec<u128> {
    let mut starts = vec![lo];
    for (rlo, rhi) in ranges {
        if rlo > lo && rlo <= hi {
            starts.push(rlo);
        }
        if let Some(next) = rhi.checked_add(1) {
            if next > lo && next <= hi {
                starts.push(next);
            }
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// Representative protocols: the candidate's own when specific; otherwise each specific protocol
/// named by the list plus one named by none (standing for all the others).
fn protocol_points(candidate: u8, list: &[Parts]) -> Vec<u8> {
    if candidate != 0 {
        return vec![candidate];
    }
    let mut named: Vec<u8> = list
        .iter()
        .map(|p| p.protocol)
        .filter(|&p| p != 0)
        .collect();
    named.sort_unstable();
    named.dedup();
    if let Some(other) = (0..=u8::MAX).find(|p| named.binary_search(p).is_err()) {
        named.push(other);
    }
    named
}

/// Representative ports (`None` = unavailable) of the candidate's port set.
fn port_points(candidate: PortSelector, list: &[Parts]) -> Vec<Option<u16>> {
    let (lo, hi, opaque) = match candidate {
        PortSelector::Any => (0u16, u16::MAX, true),
        PortSelector::Range(s, e) => (s, e, false),
        PortSelector::Opaque => return vec![None],
    };
    let ranges = list.iter().filter_map(|p| match p.ports {
        PortSelector::Range(s, e) => Some((u128::from(s), u128::from(e))),
        PortSelector::Any | PortSelector::Opaque => None,
    });
    let mut points: Vec<Option<u16>> = cell_starts(u128::from(lo), u128::from(hi), ranges)
        .into_iter()
        .filter_map(|v| u16::try_from(v).ok().map(Some))
        .collect();
    if opaque {
        points.push(None);
    }
    points
}

impl TrafficSelector {
    /// True when every packet end admitted by `self` is admitted by at least one of `list`
    /// (subset of the union). False when `self` or every listed selector is invalid; invalid
    /// listed selectors are ignored.
    pub fn is_covered_by(&self, list: &[TrafficSelector]) -> bool {
        let Some(a) = self.parts() else {
            return false;
        };
        let list: Vec<Parts> = list
            .iter()
            .filter_map(TrafficSelector::parts)
            .filter(|p| p.family == a.family)
            .collect();
        if list.is_empty() {
            return false;
        }
        let addrs = cell_starts(a.lo, a.hi, list.iter().map(|p| (p.lo, p.hi)));
        let protocols = protocol_points(a.protocol, &list);
        let ports = port_points(a.ports, &list);
        addrs.iter().all(|&addr| {
            protocols.iter().all(|&proto| {
                ports.iter().all(|&port| {
                    list.iter().any(|p| {
                        p.lo <= addr
                            && addr <= p.hi
                            && (p.protocol == 0 || p.protocol == proto)
                            && p.ports.matches(port)
                    })
                })
            })
        })
    }
}
