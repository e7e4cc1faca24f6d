//! Traffic selector narrowing for CREATE_CHILD_SA and IKE_AUTH (RFC 7296 section 2.9).
//!
//! The initiator proposes TSi (its side) and TSr (the responder's side); each list is a union. The
//! responder answers with subsets of them that its policy allows, or with TS_UNACCEPTABLE when
//! nothing is left. The initiator may put the selectors of the packet that triggered the request
//! first in each list; the responder then prefers a policy that covers that packet, so the SA
//! carries it.
//!
//! As responder, TSi is matched against our *remote* selectors and TSr against our *local* ones.

use super::TrafficSelector;

/// Which list of a CREATE_CHILD_SA or IKE_AUTH exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TsList {
    /// TSi, the initiator's side.
    Initiator,
    /// TSr, the responder's side.
    Responder,
}

impl core::fmt::Display for TsList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            TsList::Initiator => "TSi",
            TsList::Responder => "TSr",
        })
    }
}

/// Why narrowing failed. Every variant means the Child SA cannot be created; a responder answers
/// TS_UNACCEPTABLE (RFC 7296 section 3.10.1), an initiator deletes the Child SA it just got.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NarrowingError {
    /// A list is empty (the peer sent an empty TS payload or our policy has no selectors).
    #[error("{0} is empty")]
    EmptyList(TsList),
    /// Nothing in this list of the proposal is allowed by our policy: the proxy IDs do not
    /// overlap. Compare both sides' proxy IDs (they must be mirror images).
    #[error("no selector in {0} intersects our policy")]
    NoIntersection(TsList),
    /// The intersections exist but no TSi and TSr entries share a protocol, so no packet could use
    /// the SA.
    #[error("TSi and TSr have no protocol in common")]
    ProtocolMismatch,
    /// The responder answered a selector that is not inside what we proposed (it widened instead
    /// of narrowing): a peer bug or misconfiguration.
    #[error("the responder's {list} selector {selector} is not inside what was proposed")]
    NotNarrowed {
        /// The list holding the offending selector.
        list: TsList,
        /// The offending selector.
        selector: TrafficSelector,
    },
}

/// The narrowed lists the responder puts in its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Narrowed {
    /// Narrowed TSi (the initiator's side).
    pub tsi: Vec<TrafficSelector>,
    /// Narrowed TSr (the responder's side).
    pub tsr: Vec<TrafficSelector>,
}

fn protocols_compatible(a: &TrafficSelector, b: &TrafficSelector) -> bool {
    a.protocol == 0 || b.protocol == 0 || a.protocol == b.protocol
}

/// Every non-empty intersection of an `offered` selector with one of `ours`, in the order of
/// `offered`, with duplicates and selectors contained in another result removed (the list is a
/// union, so they add nothing). Its union is exactly the intersection of the two unions.
pub fn narrow_list(offered: &[TrafficSelector], ours: &[TrafficSelector]) -> Vec<TrafficSelector> {
    let all: Vec<TrafficSelector> = offered
        .iter()
        .flat_map(|o| ours.iter().filter_map(move |c| o.intersect(c)))
        .collect();
    let mut out: Vec<TrafficSelector> = Vec::with_capacity(all.len());
    for (i, ts) in all.iter().enumerate() {
        // Drop `ts` when another entry covers it; among equal entries keep the first.
        let covered = all
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && other.contains(ts) && (other != ts || j < i));
        if !covered {
            out.push(*ts);
        }
    }
    out
}

/// Narrows a proposal (`tsi`, `tsr` as received) to one policy of ours (`local`, `remote`), as a
/// responder: TSi against `remote`, TSr against `local`.
///
/// Entries of one list that share no protocol with any entry of the other are dropped, since no
/// packet could use them.
pub fn narrow_as_responder(
    tsi: &[TrafficSelector],
    tsr: &[TrafficSelector],
    local: &[TrafficSelector],
    remote: &[TrafficSelector],
) -> Result<Narrowed, NarrowingError> {
    if tsi.is_empty() {
        return Err(NarrowingError::EmptyList(TsList::Initiator));
    }
    if tsr.is_empty() {
        return Err(NarrowingError::EmptyList(TsList::Responder));
    }
    let ni = narrow_list(tsi, remote);
    if ni.is_empty() {
        return Err(NarrowingError::NoIntersection(TsList::Initiator));
    }
    let nr = narrow_list(tsr, local);
    if nr.is_empty() {
        return Err(NarrowingError::NoIntersection(TsList::Responder));
    }
    let keep_i: Vec<TrafficSelector> = ni
        .iter()
        .filter(|a| nr.iter().any(|b| protocols_compatible(a, b)))
        .copied()
        .collect();
    let keep_r: Vec<TrafficSelector> = nr
        .iter()
        .filter(|b| ni.iter().any(|a| protocols_compatible(a, b)))
        .copied()
        .collect();
    if keep_i.is_empty() || keep_r.is_empty() {
        return Err(NarrowingError::ProtocolMismatch);
    }
    Ok(Narrowed {
        tsi: keep_i,
        tsr: keep_r,
    })
}

/// Chooses among several policies `(local, remote)` (for PAN-OS: the proxy IDs of a tunnel) and
/// narrows to it, returning the policy's index.
///
/// Preference, per RFC 7296 section 2.9: a policy that admits the initiator's first TSi and
/// first TSr in full (normally the triggering packet's selectors, or the proxy ID the peer
/// configured) and narrows; among several, the most specific one, that no other such policy
/// lies inside (so that a peer's proxy ID lands on its mirror image, not on a wider proxy ID
/// listed before it), the first of those in order. Otherwise the first policy whose narrowing
/// succeeds. When none succeeds, the error of the first policy is returned.
pub fn choose_policy(
    tsi: &[TrafficSelector],
    tsr: &[TrafficSelector],
    policies: &[(&[TrafficSelector], &[TrafficSelector])],
) -> Result<(usize, Narrowed), NarrowingError> {
    if let (Some(first_i), Some(first_r)) = (tsi.first(), tsr.first()) {
        let mut covering: Vec<(usize, Narrowed)> = Vec::new();
        for (idx, (local, remote)) in policies.iter().enumerate() {
            let covers = remote.iter().any(|r| r.contains(first_i))
                && local.iter().any(|l| l.contains(first_r));
            if covers {
                if let Ok(n) = narrow_as_responder(tsi, tsr, local, remote) {
                    covering.push((idx, n));
                }
            }
        }
        // Policy `a` admits nothing `b` does not (an invalid selector admits nothing).
        let inside = |a: usize, b: usize| {
            let ((la, ra), (lb, rb)) = (policies[a], policies[b]);
            let within = |x: &[TrafficSelector], y: &[TrafficSelector]| {
                x.iter()
                    .all(|t| t.validate().is_err() || t.is_covered_by(y))
            };
            within(la, lb) && within(ra, rb)
        };
        let most_specific = covering.iter().position(|(c, _)| {
            !covering
                .iter()
                .any(|(d, _)| d != c && inside(*d, *c) && !inside(*c, *d))
        });
        if let Some(i) = most_specific {
            return Ok(covering.swap_remove(i));
        }
    }
    let mut first_err = None;
    for (idx, (local, remote)) in policies.iter().enumerate() {
        match narrow_as_responder(tsi, tsr, local, remote) {
            Ok(n) => return Ok((idx, n)),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or(NarrowingError::EmptyList(TsList::Responder)))
}

/// The initiator's check of a responder's answer: both lists non-empty and every answered
/// selector inside the union of the selectors we proposed in the same list (RFC 7296 section 2.9:
/// the responder may only narrow). An answer spanning two adjacent proposed selectors is
/// accepted; see [`TrafficSelector::is_covered_by`].
pub fn check_narrowed(
    proposed_tsi: &[TrafficSelector],
    proposed_tsr: &[TrafficSelector],
    answer_tsi: &[TrafficSelector],
    answer_tsr: &[TrafficSelector],
) -> Result<(), NarrowingError> {
    for (list, proposed, answer) in [
        (TsList::Initiator, proposed_tsi, answer_tsi),
        (TsList::Responder, proposed_tsr, answer_tsr),
    ] {
        if answer.is_empty() {
            return Err(NarrowingError::EmptyList(list));
        }
        if let Some(bad) = answer.iter().find(|a| !a.is_covered_by(proposed)) {
            return Err(NarrowingError::NotNarrowed {
                list,
                selector: *bad,
            });
        }
    }
    Ok(())
}
