//! Checks across two firewalls' configurations: what no single file can show.

use super::error::{ConfigError, ObjectKind, Problem, Seg, Site};
use super::ike_gateway::{Authentication, IdType, IkeGateway, IkeVersion, PeerAddress};
use super::index::{missing, Names};
use super::ipsec_tunnel::{IpsecTunnel, ProxyId};
use super::Config;
use crate::selector::IpPrefix;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

/// Which of the two configurations a pair finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PairSide {
    /// The first argument of [`check_pair`].
    First,
    /// The second argument.
    Second,
}

/// One reason two configurations will not build a working VPN together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairFinding {
    /// The configuration holding the object named in `error`.
    pub side: PairSide,
    /// The object, field and problem ([`Problem::PeerMismatch`]).
    pub error: ConfigError,
}

/// The gateways of `a` and `b` that point at each other, as `(a's gateway, b's gateway)` names:
/// each one's `peer-address` is the other's local address (a dynamic or FQDN peer, or a gateway
/// without a local IP, pairs with any).
pub fn gateway_pairs<'a, 'b>(a: &'a Config, b: &'b Config) -> Vec<(&'a str, &'b str)> {
    pairs(a, b)
        .into_iter()
        .map(|(ia, ib)| {
            (
                a.ike_gateways[ia].name.as_str(),
                b.ike_gateways[ib].name.as_str(),
            )
        })
        .collect()
}

/// The index pairs of the gateways that point at each other, in `a`'s then `b`'s order. A
/// gateway with a static peer address is only tried against the gateways with that local address
/// (and those without one), so the work follows the number of candidate pairs, not the product
/// of the gateway counts.
fn pairs(a: &Config, b: &Config) -> Vec<(usize, usize)> {
    let mut by_ip: HashMap<IpAddr, Vec<usize>> = HashMap::new();
    let mut no_ip = Vec::new();
    for (ib, gb) in b.ike_gateways.iter().enumerate() {
        match gb.local_address.ip {
            Some(ip) => by_ip.entry(ip).or_default().push(ib),
            None => no_ip.push(ib),
        }
    }
    let mut out = Vec::new();
    let mut candidates = Vec::new();
    for (ia, ga) in a.ike_gateways.iter().enumerate() {
        candidates.clear();
        match &ga.peer_address {
            PeerAddress::Ip(p) => {
                candidates.extend(by_ip.get(p).into_iter().flatten().copied());
                candidates.extend(no_ip.iter().copied());
                candidates.sort_unstable();
            }
            _ => candidates.extend(0..b.ike_gateways.len()),
        }
        for &ib in &candidates {
            let gb = &b.ike_gateways[ib];
            if points_at(&ga.peer_address, gb) && points_at(&gb.peer_address, ga) {
                out.push((ia, ib));
            }
        }
    }
    out
}

/// Checks two firewalls' configurations against each other.
///
/// Gateways are paired by [`gateway_pairs`]; gateways without a counterpart are ignored (they
/// may serve other peers), but no pair at all is a finding. For each pair it reports: IKE version
/// mismatch, pre-shared-key mismatch, `peer-id` not matching the other's `local-id`, no common
/// IKE proposal, nobody able to initiate (both passive, or passive facing a dynamic peer); and
/// for their tunnels: PFS mismatch, no common IPsec proposal, and proxy IDs without a mirror
/// image (a tunnel without proxy IDs proposes 0.0.0.0/0 both ways, as PAN-OS does).
///
/// The work is linear in the number of objects and proxy IDs (plus the gateway pairs found).
pub fn check_pair(a: &Config, b: &Config) -> Vec<PairFinding> {
    let mut out = Vec::new();
    let sides = (Side::new(a), Side::new(b));
    let found = pairs(a, b);
    for &(ia, ib) in &found {
        gateways(
            &sides,
            (ia, &a.ike_gateways[ia]),
            (ib, &b.ike_gateways[ib]),
            &mut out,
        );
    }
    if found.is_empty() {
        out.push(first(ConfigError::file(mismatch(
            "no ike-gateway of one configuration has the other's local address as its peer-address",
        ))));
    }
    out
}

/// One configuration with its name lookups and its tunnels grouped by gateway.
struct Side<'a> {
    config: &'a Config,
    names: Names<'a>,
    tunnels_of: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Side<'a> {
    fn new(config: &'a Config) -> Self {
        let mut tunnels_of: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, t) in config.ipsec_tunnels.iter().enumerate() {
            if let Some(g) = &t.ike_gateway {
                tunnels_of.entry(g.as_str()).or_default().push(i);
            }
        }
        Side {
            config,
            names: Names::new(config),
            tunnels_of,
        }
    }

    /// The tunnels of gateway `name`, with their indexes.
    fn tunnels(&self, name: &str) -> impl Iterator<Item = (usize, &'a IpsecTunnel)> + '_ {
        let all = &self.config.ipsec_tunnels;
        self.tunnels_of
            .get(name)
            .into_iter()
            .flatten()
            .map(move |&i| (i, &all[i]))
    }
}

fn mismatch(s: impl Into<String>) -> Problem {
    Problem::PeerMismatch(s.into())
}

fn first(error: ConfigError) -> PairFinding {
    PairFinding {
        side: PairSide::First,
        error,
    }
}

/// True when a gateway whose peer is `peer` can reach `other`'s local end.
fn points_at(peer: &PeerAddress, other: &IkeGateway) -> bool {
    match (peer, other.local_address.ip) {
        (PeerAddress::Ip(p), Some(l)) => *p == l,
        _ => true,
    }
}

/// The identity a gateway sends: its `local-id`, or its address.
fn sent_id(g: &IkeGateway) -> Option<(IdType, String)> {
    match &g.local_id {
        Some(id) => Some((id.id_type, id.id.clone())),
        None => g
            .local_address
            .ip
            .map(|ip| (IdType::Ipaddr, ip.to_string())),
    }
}

fn gateways(
    (a, b): &(Side<'_>, Side<'_>),
    (ia, ga): (usize, &IkeGateway),
    (ib, gb): (usize, &IkeGateway),
    out: &mut Vec<PairFinding>,
) {
    let sa = Site::new(ObjectKind::IkeGateway, ia, &ga.name);
    let sb = Site::new(ObjectKind::IkeGateway, ib, &gb.name);
    let other = |g: &IkeGateway| format!("the peer's ike-gateway \"{}\"", g.name);
    let v1 = |v: IkeVersion| v == IkeVersion::Ikev1;
    if v1(ga.version) != v1(gb.version)
        && ga.version != IkeVersion::Ikev2Preferred
        && gb.version != IkeVersion::Ikev2Preferred
    {
        out.push(first(sa.at(
            "version",
            mismatch(format!(
                "{} but {} uses {}",
                ga.version.as_str(),
                other(gb),
                gb.version.as_str()
            )),
        )));
    }
    if let (Authentication::PreSharedKey(ka), Authentication::PreSharedKey(kb)) =
        (&ga.authentication, &gb.authentication)
    {
        if ka != kb {
            out.push(first(sa.at2(
                "authentication",
                "pre-shared-key",
                mismatch(format!("differs from the key of {}", other(gb))),
            )));
        }
    }
    for (side, s, g, peer) in [
        (PairSide::First, &sa, ga, gb),
        (PairSide::Second, &sb, gb, ga),
    ] {
        if let (Some(want), Some((ty, id))) = (&g.peer_id, sent_id(peer)) {
            if !want.matches(ty, &id) {
                let e = s.at(
                    "peer-id",
                    mismatch(format!(
                        "expects {} \"{}\" but {} identifies as {} \"{}\"",
                        want.id_type.as_str(),
                        want.id,
                        other(peer),
                        ty.as_str(),
                        id
                    )),
                );
                out.push(PairFinding { side, error: e });
            }
        }
    }
    if let (Some(pa), Some(pb)) = (
        a.names.ike_crypto_profile(&ga.ike_crypto_profile),
        b.names.ike_crypto_profile(&gb.ike_crypto_profile),
    ) {
        let theirs = pb.proposals();
        if !pa.proposals().iter().any(|p| theirs.contains(p)) {
            out.push(first(sa.at(
                "ike-crypto-profile",
                mismatch(format!(
                    "no common IKE proposal between \"{}\" and {}'s \"{}\" (compare dh-group, hash, encryption)",
                    pa.name,
                    other(gb),
                    pb.name
                )),
            )));
        }
    }
    let can_initiate =
        |g: &IkeGateway| !g.passive_mode && g.peer_address != PeerAddress::Dynamic && !g.disabled;
    if !can_initiate(ga) && !can_initiate(gb) {
        out.push(first(sa.at(
            "passive-mode",
            mismatch(format!(
                "neither this gateway nor {} can initiate (passive mode or a dynamic peer on both ends)",
                other(gb)
            )),
        )));
    }
    for (ita, ta) in a.tunnels(&ga.name) {
        for (itb, tb) in b.tunnels(&gb.name) {
            tunnels(a, b, (ita, ta), (itb, tb), out);
        }
    }
}

fn any_proxy() -> Option<ProxyId> {
    let any = IpPrefix::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0).ok()?;
    Some(ProxyId::new("(default 0.0.0.0/0)", any, any))
}

/// The proxy IDs a tunnel proposes; PAN-OS uses 0.0.0.0/0 both ways when none is set.
fn proposed(t: &IpsecTunnel) -> Vec<(usize, ProxyId, &'static str)> {
    let mut v: Vec<(usize, ProxyId, &'static str)> = t
        .proxy_ids
        .iter()
        .enumerate()
        .map(|(i, p)| (i, p.clone(), "proxy-id"))
        .chain(
            t.proxy_ids_v6
                .iter()
                .enumerate()
                .map(|(i, p)| (i, p.clone(), "proxy-id-v6")),
        )
        .collect();
    if v.is_empty() {
        v.extend(any_proxy().map(|p| (0, p, "proxy-id")));
    }
    v
}

fn tunnels(
    a: &Side<'_>,
    b: &Side<'_>,
    (ita, ta): (usize, &IpsecTunnel),
    (itb, tb): (usize, &IpsecTunnel),
    out: &mut Vec<PairFinding>,
) {
    let sa = Site::new(ObjectKind::IpsecTunnel, ita, &ta.name);
    let sb = Site::new(ObjectKind::IpsecTunnel, itb, &tb.name);
    let pa = ta
        .ipsec_crypto_profile
        .as_deref()
        .and_then(|n| a.names.ipsec_crypto_profile(n));
    let pb = tb
        .ipsec_crypto_profile
        .as_deref()
        .and_then(|n| b.names.ipsec_crypto_profile(n));
    if let (Some(pa), Some(pb)) = (pa, pb) {
        if pa.dh_group != pb.dh_group {
            out.push(first(sa.at(
                "ipsec-crypto-profile",
                mismatch(format!(
                    "PFS group mismatch: \"{}\" uses {}, the peer's \"{}\" uses {}",
                    pa.name,
                    pa.dh_group.as_str(),
                    pb.name,
                    pb.dh_group.as_str()
                )),
            )));
        } else {
            let theirs = pb.proposals();
            if !pa.proposals().iter().any(|p| theirs.contains(p)) {
                out.push(first(sa.at(
                    "ipsec-crypto-profile",
                    mismatch(format!(
                        "no common IPsec proposal between \"{}\" and the peer's \"{}\" (compare protocol, encryption, authentication)",
                        pa.name, pb.name
                    )),
                )));
            }
        }
    }
    let ours = proposed(ta);
    let theirs = proposed(tb);
    for (side, site, mine, other, other_name) in [
        (PairSide::First, &sa, &ours, &theirs, &tb.name),
        (PairSide::Second, &sb, &theirs, &ours, &ta.name),
    ] {
        // A proxy ID is mirrored when the peer has one with local and remote (prefixes and
        // ports) swapped: look its mirror image up among the peer's, keyed by those fields.
        let wanted = mine
            .iter()
            .map(|(_, p, _)| (p.remote, p.local, p.protocol.mirrored()));
        let present = other
            .iter()
            .map(|(_, q, _)| (q.local, q.remote, q.protocol));
        for k in missing(wanted, present) {
            let (i, p, field) = &mine[k];
            let e = site.err(
                vec![Seg::Key((*field).to_string()), Seg::Index(*i, Some(p.name.clone()))],
                mismatch(format!(
                    "local {} remote {} has no mirror image (local {} remote {}) in the peer's ipsec-tunnel \"{}\"",
                    p.local, p.remote, p.remote, p.local, other_name
                )),
            );
            out.push(PairFinding { side, error: e });
        }
    }
}
