//! Whole-configuration checks: each object on its own, unique names, references between objects.

use super::error::{ConfigError, ObjectKind, Problem, Seg, Site, Warning};
use super::index::{repeats, Names};
use super::Config;

/// Every check, in time linear in the size of the configuration (name lookups go through
/// [`Names`]).
pub(crate) fn validate(c: &Config) -> Vec<ConfigError> {
    let mut out = Vec::new();
    let names = Names::new(c);
    object_names(c, &mut out);
    duplicates(c, &mut out);
    for (i, o) in c.certificates.iter().enumerate() {
        o.check(&Site::new(ObjectKind::Certificate, i, &o.name), &mut out);
    }
    for (i, o) in c.certificate_profiles.iter().enumerate() {
        o.check(
            &names,
            &Site::new(ObjectKind::CertificateProfile, i, &o.name),
            &mut out,
        );
    }
    for (i, o) in c.ike_crypto_profiles.iter().enumerate() {
        o.check(
            &Site::new(ObjectKind::IkeCryptoProfile, i, &o.name),
            &mut out,
        );
    }
    for (i, o) in c.ipsec_crypto_profiles.iter().enumerate() {
        o.check(
            &Site::new(ObjectKind::IpsecCryptoProfile, i, &o.name),
            &mut out,
        );
    }
    for (i, o) in c.ike_gateways.iter().enumerate() {
        let site = Site::new(ObjectKind::IkeGateway, i, &o.name);
        o.check(&site, &mut out);
        if let Some(auth) = o.certificate_auth() {
            gateway_certificates(&names, auth, &site, &mut out);
        }
        if names.ike_crypto_profile(&o.ike_crypto_profile).is_none() {
            out.push(site.at(
                "ike-crypto-profile",
                undefined(ObjectKind::IkeCryptoProfile, &o.ike_crypto_profile),
            ));
        }
    }
    dynamic_peer_profiles(c, &mut out);
    for (i, o) in c.tunnel_interfaces.iter().enumerate() {
        let site = Site::new(ObjectKind::TunnelInterface, i, &o.name);
        o.check(&site, &mut out);
        tunnel_interface_zone(&names, o, &site, &mut out);
    }
    for (i, o) in c.ipsec_tunnels.iter().enumerate() {
        let site = Site::new(ObjectKind::IpsecTunnel, i, &o.name);
        o.check(&site, &mut out);
        ipsec_tunnel_refs(&names, o, &site, &mut out);
    }
    for (i, o) in c.static_routes.iter().enumerate() {
        let site = Site::new(ObjectKind::StaticRoute, i, &o.name);
        o.check(&site, &mut out);
        if let Some(ifname) = &o.interface {
            if !names.interface_known(ifname) {
                out.push(site.at("interface", undefined_interface(ifname)));
            } else if let Some(t) = names.tunnel_interface(ifname) {
                if t.virtual_router != o.virtual_router {
                    out.push(site.at(
                        "virtual-router",
                        Problem::Conflict(format!(
                            "\"{}\" differs from {}'s virtual router \"{}\"",
                            o.virtual_router, t.name, t.virtual_router
                        )),
                    ));
                }
            }
        }
    }
    for (i, z) in c.zones.iter().enumerate() {
        let site = Site::new(ObjectKind::Zone, i, &z.name);
        for (j, ifname) in z.interfaces.iter().enumerate() {
            if ifname.starts_with("tunnel.") && names.tunnel_interface(ifname).is_none() {
                out.push(site.err(
                    vec![Seg::Key("interfaces".into()), Seg::Index(j, None)],
                    undefined_interface(ifname),
                ));
            }
        }
    }
    for (i, r) in c.security_rules.iter().enumerate() {
        let site = Site::new(ObjectKind::SecurityRule, i, &r.name);
        zone_list(&names, &site, "from", &r.from, &mut out);
        zone_list(&names, &site, "to", &r.to, &mut out);
    }
    for (i, r) in c.nat_rules.iter().enumerate() {
        let site = Site::new(ObjectKind::NatRule, i, &r.name);
        zone_list(&names, &site, "from", &r.from, &mut out);
        zone_list(&names, &site, "to", &r.to, &mut out);
        if let Some(ifname) = &r.to_interface {
            if !names.interface_known(ifname) {
                out.push(site.at("to-interface", undefined_interface(ifname)));
            }
        }
    }
    out
}

/// A certificate-authenticated gateway names a certificate of ours (with its key) and a profile.
fn gateway_certificates(
    names: &Names<'_>,
    auth: &super::CertificateAuth,
    site: &Site,
    out: &mut Vec<ConfigError>,
) {
    let at = |field: &str| {
        vec![
            Seg::Key("authentication".into()),
            Seg::Key("certificate".into()),
            Seg::Key(field.into()),
        ]
    };
    match &auth.local_certificate {
        None => out.push(site.err(at("local-certificate"), Problem::Missing)),
        Some(name) => match names.certificate(name) {
            None => out.push(site.err(
                at("local-certificate"),
                undefined(ObjectKind::Certificate, name),
            )),
            Some(cert) if cert.private_key_file.is_none() && cert.private_key().is_none() => out
                .push(site.err(
                    at("local-certificate"),
                    Problem::Conflict(format!(
                        "certificate \"{name}\" has no private-key-file; our own certificate \
                         needs its key to sign"
                    )),
                )),
            Some(_) => {}
        },
    }
    match &auth.certificate_profile {
        None => out.push(site.err(at("certificate-profile"), Problem::Missing)),
        Some(name) if !names.has_certificate_profile(name) => out.push(site.err(
            at("certificate-profile"),
            undefined(ObjectKind::CertificateProfile, name),
        )),
        Some(_) => {}
    }
    if auth.strict_validation_revocation {
        out.push(site.err(
            at("strict-validation-revocation"),
            Problem::Unsupported(
                "revocation (CRL, OCSP) is not checked by this implementation".into(),
            ),
        ));
    }
}

fn undefined(kind: ObjectKind, name: &str) -> Problem {
    Problem::Undefined {
        kind,
        name: name.to_string(),
    }
}

fn undefined_interface(name: &str) -> Problem {
    if name.starts_with("tunnel.") {
        undefined(ObjectKind::TunnelInterface, name)
    } else {
        Problem::InvalidValue(format!(
            "interface \"{name}\" is not a tunnel-interface and is in no zone"
        ))
    }
}

fn zone_list(
    names: &Names<'_>,
    site: &Site,
    field: &str,
    zones: &[String],
    out: &mut Vec<ConfigError>,
) {
    if zones.is_empty() {
        out.push(site.at(field, Problem::InvalidValue("the list is empty".into())));
    }
    for (j, z) in zones.iter().enumerate() {
        if z != "any" && !names.has_zone(z) {
            out.push(site.err(
                vec![Seg::Key(field.to_string()), Seg::Index(j, None)],
                undefined(ObjectKind::Zone, z),
            ));
        }
    }
}

fn tunnel_interface_zone(
    names: &Names<'_>,
    t: &super::TunnelInterface,
    site: &Site,
    out: &mut Vec<ConfigError>,
) {
    let listing = names.zones_listing(&t.name);
    match &t.zone {
        Some(z) if !names.has_zone(z) => {
            out.push(site.at("zone", undefined(ObjectKind::Zone, z)));
        }
        Some(z) => {
            if let Some(other) = listing.iter().find(|l| **l != z.as_str()) {
                out.push(site.at(
                    "zone",
                    Problem::Conflict(format!("\"{z}\" but zone \"{other}\" lists {}", t.name)),
                ));
            }
        }
        None => match listing.len() {
            0 => out.push(site.at(
                "zone",
                Problem::Conflict(format!(
                    "{} is in no zone, so no security rule can match its traffic",
                    t.name
                )),
            )),
            1 => {}
            _ => out.push(site.at(
                "zone",
                Problem::Conflict(format!("zones {} all list {}", listing.join(", "), t.name)),
            )),
        },
    }
}

fn ipsec_tunnel_refs(
    names: &Names<'_>,
    t: &super::IpsecTunnel,
    site: &Site,
    out: &mut Vec<ConfigError>,
) {
    if names.tunnel_interface(&t.tunnel_interface).is_none() {
        out.push(site.at(
            "tunnel-interface",
            undefined(ObjectKind::TunnelInterface, &t.tunnel_interface),
        ));
    }
    if let Some(g) = &t.ike_gateway {
        if !names.has_ike_gateway(g) {
            out.push(site.at("ike-gateway", undefined(ObjectKind::IkeGateway, g)));
        }
    }
    if let Some(p) = &t.ipsec_crypto_profile {
        if names.ipsec_crypto_profile(p).is_none() {
            out.push(site.at(
                "ipsec-crypto-profile",
                undefined(ObjectKind::IpsecCryptoProfile, p),
            ));
        }
    }
    if let Some(m) = t.tunnel_monitor.filter(|m| m.enable) {
        let mut ids = t.all_proxy_ids().peekable();
        let covered = ids.peek().is_none() || ids.any(|p| p.remote.contains(m.destination_ip));
        if !covered {
            out.push(site.at2(
                "tunnel-monitor",
                "destination-ip",
                Problem::Conflict(format!(
                    "{} is in no proxy-id's remote prefix, so the monitor's pings cannot enter \
                     the tunnel; add a proxy-id for it",
                    m.destination_ip
                )),
            ));
        }
        if let Some(ti) = names.tunnel_interface(&t.tunnel_interface) {
            let v4 = m.destination_ip.is_ipv4();
            let has_family = if v4 {
                ti.ip.is_some()
            } else {
                ti.ipv6.is_some()
            };
            if !has_family {
                out.push(site.at2(
                    "tunnel-monitor",
                    "destination-ip",
                    Problem::Conflict(format!(
                        "{} has no {} address to ping from",
                        ti.name,
                        if v4 { "IPv4" } else { "IPv6" }
                    )),
                ));
            }
        }
    }
}

/// PAN-OS: all gateways on the same local address must use the same IKE crypto profile when one
/// of them has a dynamic peer, since the responder must pick a profile before it knows which
/// gateway the initiator is. Each gateway is reported against the first earlier gateway it
/// clashes with.
fn dynamic_peer_profiles(c: &Config, out: &mut Vec<ConfigError>) {
    use super::PeerAddress;
    use std::collections::HashMap;

    /// Of a sequence of gateways, the first one and the first whose profile differs from the
    /// first's: between them they answer "the first one whose profile differs from P" for any P.
    #[derive(Default)]
    struct Firsts<'a> {
        first: Option<&'a super::IkeGateway>,
        other: Option<&'a super::IkeGateway>,
    }
    impl<'a> Firsts<'a> {
        fn add(&mut self, g: &'a super::IkeGateway) {
            match self.first {
                None => self.first = Some(g),
                Some(f) if self.other.is_none() && f.ike_crypto_profile != g.ike_crypto_profile => {
                    self.other = Some(g);
                }
                Some(_) => {}
            }
        }
        fn differing(&self, profile: &str) -> Option<&'a super::IkeGateway> {
            match self.first {
                Some(f) if f.ike_crypto_profile != profile => Some(f),
                _ => self.other,
            }
        }
    }

    // Per local address: the earlier gateways, and the earlier gateways with a dynamic peer.
    let mut seen: HashMap<(&str, Option<std::net::IpAddr>), (Firsts<'_>, Firsts<'_>)> =
        HashMap::new();
    for (i, g) in c.ike_gateways.iter().enumerate() {
        let dynamic = g.peer_address == PeerAddress::Dynamic;
        let key = (g.local_address.interface.as_str(), g.local_address.ip);
        let (all, dynamics) = seen.entry(key).or_default();
        // A dynamic gateway clashes with any earlier one; another only with a dynamic one.
        let clash = if dynamic { &*all } else { &*dynamics }.differing(&g.ike_crypto_profile);
        if let Some(h) = clash {
            out.push(Site::new(ObjectKind::IkeGateway, i, &g.name).at(
                "ike-crypto-profile",
                Problem::Conflict(format!(
                    "\"{}\" differs from \"{}\" of ike-gateway \"{}\" on the same local address; \
                     with a dynamic peer all gateways there must share one profile",
                    g.ike_crypto_profile, h.ike_crypto_profile, h.name
                )),
            ));
        }
        all.add(g);
        if dynamic {
            dynamics.add(g);
        }
    }
}

/// What is wrong with `name` as a PAN-OS object name, if anything. PAN-OS names use letters,
/// digits, spaces, hyphens, underscores and periods; anything else (a control character above all,
/// which would forge log lines or rewrite a terminal when the name is printed) is refused.
pub(crate) fn name_problem(name: &str) -> Option<Problem> {
    const RULE: &str = "names use letters, digits, spaces, '-', '_' and '.'";
    if name.is_empty() {
        return Some(Problem::InvalidValue("the name is empty".into()));
    }
    let bad = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.')))?;
    let what = if crate::text::needs_escape(bad) {
        "a control character".to_string()
    } else {
        format!("'{bad}'")
    };
    Some(Problem::InvalidValue(format!(
        "\"{}\" contains {what}; {RULE}",
        crate::text::Escaped(name)
    )))
}

/// What is wrong with `name` as a reference to an interface (`ethernet1/1`, `tunnel.1`): only
/// control characters are refused here, the reference checks do the rest.
pub(crate) fn interface_problem(name: &str) -> Option<Problem> {
    name.contains(crate::text::needs_escape).then(|| {
        Problem::InvalidValue(format!(
            "\"{}\" contains a control character",
            crate::text::Escaped(name)
        ))
    })
}

/// Every object's name, and every interface named in a zone, route, gateway or NAT rule.
/// (Tunnel interfaces are checked against the stricter `tunnel.N` form by their own check.)
fn object_names(c: &Config, out: &mut Vec<ConfigError>) {
    for kind in ObjectKind::ALL {
        if kind == ObjectKind::TunnelInterface {
            continue;
        }
        for (i, n) in c.names(kind).into_iter().enumerate() {
            if let Some(p) = name_problem(n) {
                out.push(Site::new(kind, i, n).at("name", p));
            }
        }
    }
    for (i, z) in c.zones.iter().enumerate() {
        for (j, ifname) in z.interfaces.iter().enumerate() {
            if let Some(p) = interface_problem(ifname) {
                out.push(
                    Site::new(ObjectKind::Zone, i, &z.name)
                        .err(vec![Seg::Key("interfaces".into()), Seg::Index(j, None)], p),
                );
            }
        }
    }
    for (i, g) in c.ike_gateways.iter().enumerate() {
        if let Some(p) = interface_problem(&g.local_address.interface) {
            let site = Site::new(ObjectKind::IkeGateway, i, &g.name);
            out.push(site.at2("local-address", "interface", p));
        }
    }
    for (i, r) in c.static_routes.iter().enumerate() {
        if let Some(p) = r.interface.as_deref().and_then(interface_problem) {
            out.push(Site::new(ObjectKind::StaticRoute, i, &r.name).at("interface", p));
        }
    }
    for (i, r) in c.nat_rules.iter().enumerate() {
        if let Some(p) = r.to_interface.as_deref().and_then(interface_problem) {
            out.push(Site::new(ObjectKind::NatRule, i, &r.name).at("to-interface", p));
        }
    }
}

fn duplicates(c: &Config, out: &mut Vec<ConfigError>) {
    for kind in ObjectKind::ALL {
        let names = c.names(kind);
        for i in repeats(names.iter().copied()) {
            let n = names[i];
            out.push(Site::new(kind, i, n).at("name", Problem::Duplicate(n.to_string())));
        }
    }
}

pub(crate) fn warnings(c: &Config) -> Vec<Warning> {
    let mut out = Vec::new();
    for (i, o) in c.ike_crypto_profiles.iter().enumerate() {
        o.warnings(
            &Site::new(ObjectKind::IkeCryptoProfile, i, &o.name),
            &mut out,
        );
    }
    for (i, o) in c.ipsec_crypto_profiles.iter().enumerate() {
        o.warnings(
            &Site::new(ObjectKind::IpsecCryptoProfile, i, &o.name),
            &mut out,
        );
    }
    for (i, o) in c.ike_gateways.iter().enumerate() {
        o.warnings(&Site::new(ObjectKind::IkeGateway, i, &o.name), &mut out);
    }
    for (i, o) in c.ipsec_tunnels.iter().enumerate() {
        o.warnings(&Site::new(ObjectKind::IpsecTunnel, i, &o.name), &mut out);
    }
    out
}
