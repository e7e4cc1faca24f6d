//! Checks across two firewalls' configurations: what no single file can show.

use super::error::{ConfigError, ObjectKind, Problem, Seg, Site};
use super::ike_gateway::{Authentication, IdType, IkeGateway, IkeVersion, PeerAddress};
use super::ipsec_tunnel::{IpsecTunnel, ProxyId};
use super::Config;
use crate::selector::IpPrefix;
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
    let mut out = Vec::new();
    for ga in &a.ike_gateways {
        for gb in &b.ike_gateways {
            if points_at(&ga.peer_address, gb) && points_at(&gb.peer_address, ga) {
                out.push((ga.name.as_str(), gb.name.as_str()));
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
pub fn check_pair(a: &Config, b: &Config) -> Vec<PairFinding> {
    let mut out = Vec::new();
    let mut any = false;
    for (ia, ga) in a.ike_gateways.iter().enumerate() {
        for (ib, gb) in b.ike_gateways.iter().enumerate() {
            if points_at(&ga.peer_address, gb) && points_at(&gb.peer_address, ga) {
                any = true;
                gateways(a, b, (ia, ga), (ib, gb), &mut out);
            }
        }
    }
    if !any {
        out.push(first(ConfigError::file(mismatch(
            "no ike-gateway of one configuration has the other's local address as its peer-address",
        ))));
    }
    out
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
    a: &Config,
    b: &Config,
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
        a.ike_crypto_profile(&ga.ike_crypto_profile),
        b.ike_crypto_profile(&gb.ike_crypto_profile),
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
    for (ita, ta) in a.ipsec_tunnels.iter().enumerate() {
        if ta.ike_gateway.as_deref() != Some(&ga.name) {
            continue;
        }
        for (itb, tb) in b.ipsec_tunnels.iter().enumerate() {
            if tb.ike_gateway.as_deref() == Some(&gb.name) {
                tunnels(a, b, (ita, ta), (itb, tb), out);
            }
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
    a: &Config,
    b: &Config,
    (ita, ta): (usize, &IpsecTunnel),
    (itb, tb): (usize, &IpsecTunnel),
    out: &mut Vec<PairFinding>,
) {
    let sa = Site::new(ObjectKind::IpsecTunnel, ita, &ta.name);
    let sb = Site::new(ObjectKind::IpsecTunnel, itb, &tb.name);
    let pa = ta
        .ipsec_crypto_profile
        .as_deref()
        .and_then(|n| a.ipsec_crypto_profile(n));
    let pb = tb
        .ipsec_crypto_profile
        .as_deref()
        .and_then(|n| b.ipsec_crypto_profile(n));
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
        for (i, p, field) in mine {
            if other.iter().any(|(_, q, _)| p.mirrors(q)) {
                continue;
            }
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
