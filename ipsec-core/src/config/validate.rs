//! Whole-configuration checks: each object on its own, unique names, references between objects.

use super::error::{ConfigError, ObjectKind, Problem, Seg, Site, Warning};
use super::Config;

pub(crate) fn validate(c: &Config) -> Vec<ConfigError> {
    let mut out = Vec::new();
    duplicates(c, &mut out);
    for (i, o) in c.certificates.iter().enumerate() {
        o.check(&Site::new(ObjectKind::Certificate, i, &o.name), &mut out);
    }
    for (i, o) in c.certificate_profiles.iter().enumerate() {
        o.check(
            c,
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
            gateway_certificates(c, auth, &site, &mut out);
        }
        if c.ike_crypto_profile(&o.ike_crypto_profile).is_none() {
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
        tunnel_interface_zone(c, o, &site, &mut out);
    }
    for (i, o) in c.ipsec_tunnels.iter().enumerate() {
        let site = Site::new(ObjectKind::IpsecTunnel, i, &o.name);
        o.check(&site, &mut out);
        ipsec_tunnel_refs(c, o, &site, &mut out);
    }
    for (i, o) in c.static_routes.iter().enumerate() {
        let site = Site::new(ObjectKind::StaticRoute, i, &o.name);
        o.check(&site, &mut out);
        if let Some(ifname) = &o.interface {
            if !interface_known(c, ifname) {
                out.push(site.at("interface", undefined_interface(ifname)));
            } else if let Some(t) = c.tunnel_interface(ifname) {
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
            if ifname.starts_with("tunnel.") && c.tunnel_interface(ifname).is_none() {
                out.push(site.err(
                    vec![Seg::Key("interfaces".into()), Seg::Index(j, None)],
                    undefined_interface(ifname),
                ));
            }
        }
    }
    for (i, r) in c.security_rules.iter().enumerate() {
        let site = Site::new(ObjectKind::SecurityRule, i, &r.name);
        zone_list(c, &site, "from", &r.from, &mut out);
        zone_list(c, &site, "to", &r.to, &mut out);
    }
    for (i, r) in c.nat_rules.iter().enumerate() {
        let site = Site::new(ObjectKind::NatRule, i, &r.name);
        zone_list(c, &site, "from", &r.from, &mut out);
        zone_list(c, &site, "to", &r.to, &mut out);
        if let Some(ifname) = &r.to_interface {
            if !interface_known(c, ifname) {
                out.push(site.at("to-interface", undefined_interface(ifname)));
            }
        }
    }
    out
}

/// A certificate-authenticated gateway names a certificate of ours (with its key) and a profile.
fn gateway_certificates(
    c: &Config,
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
        Some(name) => match c.certificate(name) {
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
        Some(name) if c.certificate_profile(name).is_none() => out.push(site.err(
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

/// A tunnel interface must be defined; another interface (`ethernet1/1`) is known when a zone
/// lists it or a gateway uses it.
fn interface_known(c: &Config, name: &str) -> bool {
    if name.starts_with("tunnel.") {
        return c.tunnel_interface(name).is_some();
    }
    c.zones
        .iter()
        .any(|z| z.interfaces.iter().any(|i| i == name))
        || c.ike_gateways
            .iter()
            .any(|g| g.local_address.interface == name)
}

fn zone_list(c: &Config, site: &Site, field: &str, zones: &[String], out: &mut Vec<ConfigError>) {
    if zones.is_empty() {
        out.push(site.at(field, Problem::InvalidValue("the list is empty".into())));
    }
    for (j, z) in zones.iter().enumerate() {
        if z != "any" && c.zone(z).is_none() {
            out.push(site.err(
                vec![Seg::Key(field.to_string()), Seg::Index(j, None)],
                undefined(ObjectKind::Zone, z),
            ));
        }
    }
}

fn tunnel_interface_zone(
    c: &Config,
    t: &super::TunnelInterface,
    site: &Site,
    out: &mut Vec<ConfigError>,
) {
    let listing: Vec<&str> = c
        .zones
        .iter()
        .filter(|z| z.interfaces.contains(&t.name))
        .map(|z| z.name.as_str())
        .collect();
    match &t.zone {
        Some(z) if c.zone(z).is_none() => {
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

fn ipsec_tunnel_refs(c: &Config, t: &super::IpsecTunnel, site: &Site, out: &mut Vec<ConfigError>) {
    if c.tunnel_interface(&t.tunnel_interface).is_none() {
        out.push(site.at(
            "tunnel-interface",
            undefined(ObjectKind::TunnelInterface, &t.tunnel_interface),
        ));
    }
    if let Some(g) = &t.ike_gateway {
        if c.ike_gateway(g).is_none() {
            out.push(site.at("ike-gateway", undefined(ObjectKind::IkeGateway, g)));
        }
    }
    if let Some(p) = &t.ipsec_crypto_profile {
        if c.ipsec_crypto_profile(p).is_none() {
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
        if let Some(ti) = c.tunnel_interface(&t.tunnel_interface) {
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
/// gateway the initiator is.
fn dynamic_peer_profiles(c: &Config, out: &mut Vec<ConfigError>) {
    use super::PeerAddress;
    for (i, g) in c.ike_gateways.iter().enumerate() {
        let shares = |h: &super::IkeGateway| {
            h.local_address == g.local_address
                && (h.peer_address == PeerAddress::Dynamic
                    || g.peer_address == PeerAddress::Dynamic)
        };
        let clash = c.ike_gateways[..i]
            .iter()
            .find(|h| shares(h) && h.ike_crypto_profile != g.ike_crypto_profile);
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
    }
}

fn duplicates(c: &Config, out: &mut Vec<ConfigError>) {
    for kind in ObjectKind::ALL {
        let names = c.names(kind);
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                out.push(Site::new(kind, i, n).at("name", Problem::Duplicate(n.to_string())));
            }
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
