//! From the PAN-OS configuration model ([`ipsec_core::config::Config`]) to the resolved
//! [`EndpointConfig`]: profiles inlined by name, identities and proxy IDs converted.

use crate::config::{
    Authentication, CertificateAuth, EndpointConfig, GatewayConfig, LivenessConfig, ProxyId,
    RetransmitPolicy, TunnelConfig,
};
use crate::error::ConfigError;
use crate::identity::{IdPattern, Identity};
use crate::proposal::{EspProposal, IkeProposal};
use ipsec_core::config::ProtocolName;
use ipsec_core::config::{self as model, Config, IdMatching, IdType, IkeVersion, PeerAddress};
use ipsec_core::crypto::{builtin_providers, DhGroup, IntegId, SecretBytes};
use ipsec_core::pki::{DistinguishedName, LocalCredential};
use ipsec_core::selector::ProxyIdSpec;

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

fn identity(ty: IdType, id: &str, field: &str) -> Result<Identity, ConfigError> {
    Ok(match ty {
        IdType::Ipaddr => {
            Identity::Ip(id.parse().map_err(|_| {
                ConfigError::Invalid(format!("{field}: `{id}` is not an IP address"))
            })?)
        }
        IdType::Fqdn => Identity::Fqdn(id.to_owned()),
        IdType::Ufqdn => Identity::UserFqdn(id.to_owned()),
        IdType::Keyid => Identity::KeyId(id.as_bytes().to_vec()),
        // ID_DER_ASN1_DN carries the DER of the name (RFC 7296 section 3.5), not its text.
        IdType::Dn => Identity::Dn(distinguished_name(id, field)?.to_der()),
    })
}

fn distinguished_name(id: &str, field: &str) -> Result<DistinguishedName, ConfigError> {
    DistinguishedName::parse(id).map_err(|e| {
        ConfigError::Invalid(format!("{field}: `{id}` is not a distinguished name: {e}"))
    })
}

/// The certificate settings of a gateway: our certificate object's chain and key, the
/// profile's CAs and identity field. `obj` names the gateway for errors.
fn certificate_auth(
    cfg: &Config,
    c: &model::CertificateAuth,
    obj: &str,
) -> Result<CertificateAuth, ConfigError> {
    let at = |field: &str| format!("{obj}: authentication: certificate: {field}");
    let missing = |field: &str| ConfigError::Invalid(format!("{} is required", at(field)));
    let name = c
        .local_certificate
        .as_deref()
        .ok_or_else(|| missing("local-certificate"))?;
    let object = cfg.certificate(name).ok_or_else(|| {
        ConfigError::Invalid(format!(
            "{}: certificate \"{name}\" is not defined",
            at("local-certificate")
        ))
    })?;
    let key = object.private_key().cloned().ok_or_else(|| {
        ConfigError::Invalid(format!(
            "{}: certificate \"{name}\" has no private key",
            at("local-certificate")
        ))
    })?;
    // The key was checked against the certificate when the configuration was validated; a
    // provider compiled in (the mixed one when there are several, so any build of this crate
    // works, RustCrypto's or not) checks it again here, the endpoint's signs with it.
    let checker = builtin_providers().pop().map(|(_, p)| p).ok_or_else(|| {
        ConfigError::Unsupported(format!(
            "{}: no crypto provider compiled in to load the key",
            at("local-certificate")
        ))
    })?;
    let credential = LocalCredential::new(&checker, object.chain().to_vec(), key)
        .map_err(|e| ConfigError::Invalid(format!("{}: {e}", at("local-certificate"))))?;
    let profile_name = c
        .certificate_profile
        .as_deref()
        .ok_or_else(|| missing("certificate-profile"))?;
    let profile = cfg.certificate_profile(profile_name).ok_or_else(|| {
        ConfigError::Invalid(format!(
            "{}: certificate-profile \"{profile_name}\" is not defined",
            at("certificate-profile")
        ))
    })?;
    let mut auth = CertificateAuth::new(credential, profile.trust_store(cfg));
    auth.field = profile.field();
    auth.allow_id_mismatch = c.allow_id_payload_mismatch;
    Ok(auth)
}

impl EndpointConfig {
    /// Resolves a validated PAN-OS configuration: every enabled IKEv2 gateway (pre-shared key or
    /// certificates), and every enabled auto-key tunnel over one of them.
    ///
    /// A certificate-authenticated gateway without `local-id` identifies itself by its
    /// certificate's subject DN. The configuration's certificates must be loaded (as
    /// [`Config::load`] and [`Config::from_toml_str`] do).
    ///
    /// Fails (naming the object and field) for what this implementation cannot run: a peer given
    /// by FQDN (resolve it first and write its address), a gateway without a local IP, AH
    /// tunnels.
    pub fn from_config(cfg: &Config) -> Result<EndpointConfig, ConfigError> {
        cfg.validate().map_err(|errs| {
            ConfigError::Invalid(
                errs.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let mut out = EndpointConfig::new();
        for g in cfg.ike_gateways.iter().filter(|g| !g.disabled) {
            if g.version == IkeVersion::Ikev1 {
                continue;
            }
            let obj = format!("ike-gateway \"{}\"", g.name);
            let local_addr = g.local_address.ip.ok_or_else(|| {
                ConfigError::Invalid(format!("{obj}: local-address needs an ip for IKE"))
            })?;
            let peer_addr = match &g.peer_address {
                PeerAddress::Ip(ip) => Some(*ip),
                PeerAddress::Dynamic => None,
                PeerAddress::Fqdn(name) => {
                    return Err(ConfigError::Unsupported(format!(
                        "{obj}: peer-address fqdn `{name}` must be resolved to an ip first"
                    )))
                }
            };
            let auth = match &g.authentication {
                model::Authentication::PreSharedKey(k) => {
                    Authentication::PreSharedKey(SecretBytes::from_slice(k.expose()))
                }
                model::Authentication::Certificate(c) => {
                    Authentication::Certificate(Box::new(certificate_auth(cfg, c, &obj)?))
                }
            };
            let local_id = match (&g.local_id, &auth) {
                (Some(l), _) => identity(l.id_type, &l.id, &format!("{obj}: local-id"))?,
                (None, Authentication::Certificate(c)) => {
                    Identity::Dn(c.credential.certificate().subject_der().to_vec())
                }
                (None, Authentication::PreSharedKey(_)) => Identity::Ip(local_addr),
            };
            let peer_id = match &g.peer_id {
                None => None,
                Some(p) => Some(match (p.matching, p.id_type) {
                    (IdMatching::Wildcard, IdType::Fqdn) => IdPattern::FqdnGlob(p.id.clone()),
                    (IdMatching::Wildcard, IdType::Ufqdn) => IdPattern::UserFqdnGlob(p.id.clone()),
                    (IdMatching::Wildcard, IdType::Dn) => {
                        IdPattern::DnGlob(distinguished_name(&p.id, &format!("{obj}: peer-id"))?)
                    }
                    _ => IdPattern::Exact(identity(p.id_type, &p.id, &format!("{obj}: peer-id"))?),
                }),
            };
            let profile = cfg
                .ike_crypto_profile(&g.ike_crypto_profile)
                .ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "{obj}: ike-crypto-profile \"{}\" is not defined",
                        g.ike_crypto_profile
                    ))
                })?;
            let mut prop = IkeProposal::default();
            for p in profile.proposals() {
                push_unique(&mut prop.encryption, p.encryption);
                push_unique(&mut prop.prf, p.prf);
                if p.integrity != IntegId::NONE {
                    push_unique(&mut prop.integrity, p.integrity);
                }
                push_unique(&mut prop.dh, p.dh_group);
            }
            out.gateways.push(GatewayConfig {
                name: g.name.clone(),
                local_addr,
                peer_addr,
                local_id,
                peer_id,
                auth,
                ike_proposals: vec![prop],
                ike_lifetime: profile.lifetime(),
                nat_traversal: g.nat_traversal.enable,
                nat_keepalive: g.nat_keepalive_interval(),
                force_encapsulation: false,
                passive: g.passive_mode,
                require_cookie: g.require_cookie,
                fragmentation: g.fragmentation,
                liveness: g
                    .liveness_interval()
                    .map(|interval| LivenessConfig { interval }),
                retransmit: RetransmitPolicy::default(),
            });
        }
        for t in cfg.ipsec_tunnels.iter().filter(|t| !t.disabled) {
            let (Some(gw), Some(prof)) = (&t.ike_gateway, &t.ipsec_crypto_profile) else {
                continue;
            };
            if out.gateway(gw).is_none() {
                continue;
            }
            let obj = format!("ipsec-tunnel \"{}\"", t.name);
            let profile = cfg.ipsec_crypto_profile(prof).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "{obj}: ipsec-crypto-profile \"{prof}\" is not defined"
                ))
            })?;
            if profile.protocol != ProtocolName::Esp {
                return Err(ConfigError::Unsupported(format!(
                    "{obj}: ipsec-crypto-profile \"{prof}\": only ESP is supported"
                )));
            }
            let mut esp = EspProposal::default();
            for p in profile.proposals() {
                if let Some(e) = p.encryption {
                    push_unique(&mut esp.encryption, e);
                }
                if p.integrity != IntegId::NONE {
                    push_unique(&mut esp.integrity, p.integrity);
                }
                if p.dh_group != DhGroup::NONE {
                    push_unique(&mut esp.dh, p.dh_group);
                }
            }
            let mut proxy_ids = Vec::new();
            for p in t.proxy_ids.iter().chain(t.proxy_ids_v6.iter()) {
                let ports = |x: u16| if x == 0 { (0, 0) } else { (x, x) };
                let (lp, rp) = p
                    .protocol
                    .ports()
                    .map(|pp| (ports(pp.local_port), ports(pp.remote_port)))
                    .unwrap_or(((0, 0), (0, 0)));
                let spec = ProxyIdSpec {
                    local: p.local,
                    remote: p.remote,
                    protocol: p.protocol.ip_protocol(),
                    local_ports: lp,
                    remote_ports: rp,
                };
                let (local, remote) = spec.to_selectors().map_err(|e| {
                    ConfigError::Invalid(format!("{obj}: proxy-id \"{}\": {e}", p.name))
                })?;
                proxy_ids.push(ProxyId {
                    name: p.name.clone(),
                    local,
                    remote,
                });
            }
            out.tunnels.push(TunnelConfig {
                name: t.name.clone(),
                gateway: gw.clone(),
                esp_proposals: vec![esp],
                proxy_ids,
                lifetime: profile.lifetime(),
                lifesize: profile.lifesize_bytes(),
                mode: t.ipsec_mode.mode(),
                replay_window: if t.anti_replay {
                    t.anti_replay_window
                } else {
                    0
                },
            });
        }
        out.validate()?;
        Ok(out)
    }
}
