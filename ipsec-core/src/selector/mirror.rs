//! Mirror-image check between two peers' proxy IDs.
//!
//! Two peers' proxy IDs must be mirror images: one side's local is the other's remote and the
//! other way round, protocol and ports included. PAN-OS (and IKEv1 peers generally) accept only an
//! exact mirror; IKEv2 narrowing (RFC 7296 section 2.9) can still succeed when the two overlap, but
//! the SA then covers only the overlap, which is the classic "some subnets do not pass" problem.

use super::TrafficSelector;

/// One end of a proxy ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyIdEnd {
    /// The `local` field.
    Local,
    /// The `remote` field.
    Remote,
}

impl core::fmt::Display for ProxyIdEnd {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ProxyIdEnd::Local => "local",
            ProxyIdEnd::Remote => "remote",
        })
    }
}

/// How the second selector of a compared pair relates to the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Relation {
    /// The second is a strict subset of the first.
    Narrower,
    /// The second is a strict superset of the first.
    Wider,
    /// They share some traffic; neither contains the other.
    Overlapping,
    /// They share no traffic: no Child SA can be negotiated for this pair.
    Disjoint,
}

impl Relation {
    /// The relation of `b` to `a`; `None` when they are equal.
    pub fn between(a: &TrafficSelector, b: &TrafficSelector) -> Option<Relation> {
        match (a.contains(b), b.contains(a)) {
            (true, true) => None,
            (true, false) => Some(Relation::Narrower),
            (false, true) => Some(Relation::Wider),
            (false, false) if a.intersect(b).is_some() => Some(Relation::Overlapping),
            (false, false) => Some(Relation::Disjoint),
        }
    }
}

/// One difference between two peers' proxy IDs: `a_end` of peer `a_name` should equal the
/// opposite end of peer `b_name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorMismatch {
    /// Name of the first peer (firewall or tunnel).
    pub a_name: String,
    /// Which end of the first peer's proxy ID.
    pub a_end: ProxyIdEnd,
    /// That selector.
    pub a: TrafficSelector,
    /// Name of the second peer.
    pub b_name: String,
    /// The opposite end of the second peer's proxy ID.
    pub b_end: ProxyIdEnd,
    /// That selector.
    pub b: TrafficSelector,
    /// How `b` relates to `a`.
    pub relation: Relation,
}

impl core::fmt::Display for MirrorMismatch {
    /// `local 10.1.0.0/24 on hq vs remote 10.1.0.0/25 on branch (branch's is narrower)`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} {} on {} vs {} {} on {} ",
            self.a_end,
            self.a.short(),
            self.a_name,
            self.b_end,
            self.b.short(),
            self.b_name
        )?;
        match self.relation {
            Relation::Narrower => write!(f, "({}'s is narrower)", self.b_name),
            Relation::Wider => write!(f, "({}'s is wider)", self.b_name),
            Relation::Overlapping => f.write_str("(they only overlap)"),
            Relation::Disjoint => f.write_str("(no overlap)"),
        }
    }
}

/// True when peer b's proxy ID is the exact mirror of peer a's: `a_local == b_remote` and
/// `a_remote == b_local` (addresses, protocol and ports).
pub fn is_mirror(
    a_local: &TrafficSelector,
    a_remote: &TrafficSelector,
    b_local: &TrafficSelector,
    b_remote: &TrafficSelector,
) -> bool {
    mirror_differences("a", a_local, a_remote, "b", b_local, b_remote).is_empty()
}

/// The differences that keep b's proxy ID from mirroring a's, at most two (one per end); empty
/// when they mirror. Equality is judged as sets, so `0.0.0.0/0` with ports `0..=65535` equals
/// itself however it was built.
pub fn mirror_differences(
    a_name: &str,
    a_local: &TrafficSelector,
    a_remote: &TrafficSelector,
    b_name: &str,
    b_local: &TrafficSelector,
    b_remote: &TrafficSelector,
) -> Vec<MirrorMismatch> {
    [
        (ProxyIdEnd::Local, a_local, ProxyIdEnd::Remote, b_remote),
        (ProxyIdEnd::Remote, a_remote, ProxyIdEnd::Local, b_local),
    ]
    .into_iter()
    .filter_map(|(a_end, a, b_end, b)| {
        let relation = if a.validate().is_err() || b.validate().is_err() {
            // Invalid selectors contain nothing; report them as not matching at all.
            Some(Relation::Disjoint)
        } else {
            Relation::between(a, b)
        }?;
        Some(MirrorMismatch {
            a_name: a_name.to_string(),
            a_end,
            a: *a,
            b_name: b_name.to_string(),
            b_end,
            b: *b,
            relation,
        })
    })
    .collect()
}
