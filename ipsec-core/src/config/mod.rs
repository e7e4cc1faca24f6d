//! The PAN-OS configuration model: one [`Config`] describes one firewall.
//!
//! Objects and fields carry PAN-OS's names, value sets, ranges and defaults
//! (`certificate`, `certificate-profile`, `ike-crypto-profile`, `ipsec-crypto-profile`,
//! `ike-gateway`, `tunnel-interface`,
//! `ipsec-tunnel` with `proxy-id` entries, `static-route`, `zone`, `security-rule`, `nat-rule`).
//! A configuration is loaded from TOML ([`Config::from_toml_str`], [`Config::load`]) or built in
//! code from the objects' constructors and then checked with [`Config::validate`]. Every mistake
//! becomes a [`ConfigError`] naming the object kind, the object's name, the field and, for text,
//! the line and column; validation reports all of them, not only the first. Object names use
//! PAN-OS's characters (letters, digits, spaces, `-`, `_`, `.`; no control characters anywhere),
//! and error text shows anything else escaped. Validation and [`check_pair`] take time linear in
//! the number of objects and proxy IDs. Weak algorithms that
//! PAN-OS accepts load, and [`Config::warnings`] lists them. [`check_pair`] checks two firewalls'
//! configurations against each other (proposals, keys, identities, mirrored proxy IDs).
//!
//! [`Config::load`] emits a debug-level `tracing` event with the file's object, warning or
//! error counts (never values: a configuration holds keys).
//!
//! Crypto profiles map to IANA transforms for the protocol cores:
//! [`IkeCryptoProfile::proposals`] and [`IpsecCryptoProfile::proposals`].
//!
//! ```
//! use ipsec_core::config::*;
//!
//! let text = r#"
//! [[ipsec-tunnel]]
//! name = "vpn-branch"
//! tunnel-interface = "tunnel.1"
//! ike-gateway = "gw-x"
//! ipsec-crypto-profile = "esp-gcm"
//! "#;
//! let errors = Config::from_toml_str(text).unwrap_err();
//! let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
//! assert!(shown.contains(
//!     &r#"line 5, column 1: ipsec-tunnel "vpn-branch": ike-gateway "gw-x" is not defined"#.to_string()
//! ));
//!
//! // The same kind of object, built in code.
//! let mut config = Config::new();
//! config.ipsec_crypto_profiles.push(IpsecCryptoProfile::esp(
//!     "esp-gcm",
//!     vec![CipherName::Aes256Gcm],
//!     vec![AuthName::None],
//! ));
//! config.ipsec_tunnels.push(IpsecTunnel::auto_key("vpn-branch", "tunnel.1", "gw-x", "esp-gcm"));
//! let errors = config.validate().unwrap_err();
//! assert!(errors.iter().any(|e| e.field.as_deref() == Some("ike-gateway")));
//! assert!(errors.iter().all(|e| e.location.is_none()));
//! ```

mod algorithms;
mod certificate;
mod error;
mod ike_crypto_profile;
mod ike_gateway;
mod index;
mod ipsec_crypto_profile;
mod ipsec_tunnel;
mod lifetime;
mod locate;
mod network;
mod pair;
mod policy;
mod tunnel_interface;
mod validate;

pub use algorithms::{AuthName, CipherName, DhGroupName, HashName, PfsGroup};
pub use certificate::{
    CertificateObject, CertificateProfile, SubjectAltField, SubjectField, UsernameField,
};
pub use error::{ConfigError, Location, ObjectKind, ObjectRef, Problem, Warning};
pub use ike_crypto_profile::{IkeCryptoProfile, IkeProposal};
pub(crate) use ike_gateway::wildcard_match;
pub use ike_gateway::{
    Authentication, CertificateAuth, IdMatching, IdType, IkeGateway, IkeVersion, LivenessCheck,
    LocalAddress, LocalId, NatTraversal, PeerAddress, PeerId, PreSharedKey,
};
pub use ipsec_crypto_profile::{IpsecCryptoProfile, IpsecProposal, ProtocolName};
pub use ipsec_tunnel::{
    HexKey, IpsecMode, IpsecTunnel, ManualAuth, ManualCipher, ManualEsp, ManualKey, ManualPeer,
    MonitorAction, ProxyId, ProxyPorts, ProxyProtocol, TunnelMonitor,
};
pub use lifetime::{Lifesize, Lifetime};
pub use network::{Nexthop, StaticRoute, Zone};
pub use pair::{check_pair, gateway_pairs, PairFinding, PairSide};
pub use policy::{
    AddressMatch, DestinationTranslation, DynamicIpAndPort, NatRule, RuleAction, SecurityRule,
    SourceTranslation, StaticIp,
};
pub use tunnel_interface::{InterfaceAddress, TunnelInterface};

use serde::Deserialize;
use std::path::Path;

/// The configuration of one firewall: lists of objects of each kind, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Certificates: ours (with a private key) and trusted CAs.
    #[serde(default, rename = "certificate")]
    pub certificates: Vec<CertificateObject>,
    /// Certificate profiles.
    #[serde(default, rename = "certificate-profile")]
    pub certificate_profiles: Vec<CertificateProfile>,
    /// IKE crypto profiles.
    #[serde(default, rename = "ike-crypto-profile")]
    pub ike_crypto_profiles: Vec<IkeCryptoProfile>,
    /// IPsec crypto profiles.
    #[serde(default, rename = "ipsec-crypto-profile")]
    pub ipsec_crypto_profiles: Vec<IpsecCryptoProfile>,
    /// IKE gateways.
    #[serde(default, rename = "ike-gateway")]
    pub ike_gateways: Vec<IkeGateway>,
    /// Tunnel interfaces.
    #[serde(default, rename = "tunnel-interface")]
    pub tunnel_interfaces: Vec<TunnelInterface>,
    /// IPsec tunnels.
    #[serde(default, rename = "ipsec-tunnel")]
    pub ipsec_tunnels: Vec<IpsecTunnel>,
    /// Static routes.
    #[serde(default, rename = "static-route")]
    pub static_routes: Vec<StaticRoute>,
    /// Zones.
    #[serde(default, rename = "zone")]
    pub zones: Vec<Zone>,
    /// Security rules, in evaluation order.
    #[serde(default, rename = "security-rule")]
    pub security_rules: Vec<SecurityRule>,
    /// NAT rules, in evaluation order.
    #[serde(default, rename = "nat-rule")]
    pub nat_rules: Vec<NatRule>,
}

impl Config {
    /// An empty configuration, to fill in code.
    pub fn new() -> Self {
        Config::default()
    }

    /// Parses and validates a TOML configuration. On failure returns every error found, each
    /// with its line and column. Syntax and type errors stop parsing at the first one; semantic
    /// errors are all reported. Certificate and key files named with relative paths are read
    /// from the working directory.
    pub fn from_toml_str(text: &str) -> Result<Config, Vec<ConfigError>> {
        Config::from_toml_str_in(text, Path::new("."))
    }

    fn from_toml_str_in(text: &str, base: &Path) -> Result<Config, Vec<ConfigError>> {
        let doc = locate::Document::parse(text)?;
        let mut config = match Config::deserialize(doc.deserializer()) {
            Ok(c) => c,
            Err(e) => return Err(vec![doc.error_of(&e)]),
        };
        let loaded = config.load_certificates(base);
        let result = match (loaded, config.validate()) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Ok(())) => Err(a),
            (Ok(()), Err(b)) => Err(b),
            (Err(mut a), Err(b)) => {
                a.extend(b);
                Err(a)
            }
        };
        match result {
            Ok(()) => Ok(config),
            Err(mut errors) => {
                for e in &mut errors {
                    doc.place(e);
                }
                // In file order, so they read top to bottom.
                errors.sort_by_key(|e| e.location.map_or((usize::MAX, 0), |l| (l.line, l.column)));
                Err(errors)
            }
        }
    }

    /// Reads, parses and validates a TOML file. Certificate and key files named with relative
    /// paths are read from the file's directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, Vec<ConfigError>> {
        let path = path.as_ref();
        let base = path.parent().unwrap_or(Path::new("."));
        let loaded = std::fs::read_to_string(path)
            .map_err(|e| vec![ConfigError::file(Problem::Io(e.to_string()))])
            .and_then(|text| Config::from_toml_str_in(&text, base));
        // Counts only: the errors go to the caller, and a configuration holds keys.
        match &loaded {
            Ok(c) => tracing::debug!(
                path = %path.display(),
                objects = ObjectKind::ALL.iter().map(|k| c.count(*k)).sum::<usize>(),
                warnings = c.warnings().len(),
                "configuration loaded"
            ),
            Err(e) => tracing::debug!(
                path = %path.display(),
                errors = e.len(),
                "configuration rejected"
            ),
        }
        loaded
    }

    /// Reads the certificate and key files of every `certificate` object (relative paths from
    /// `base`) and parses them. [`Config::from_toml_str`] and [`Config::load`] do this; call it
    /// after adding deserialized certificate objects by hand.
    pub fn load_certificates(&mut self, base: &Path) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        for (i, c) in self.certificates.iter_mut().enumerate() {
            let site = error::Site::new(ObjectKind::Certificate, i, &c.name.clone());
            c.load(base, &site, &mut errors);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Checks every object and every reference between objects; returns all errors found.
    pub fn validate(&self) -> Result<(), Vec<ConfigError>> {
        let errors = validate::validate(self);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Things that work but deserve attention: weak algorithms (des, 3des, md5, sha1, group1,
    /// group2, group5), IKEv1, manual keys, anti-replay off.
    pub fn warnings(&self) -> Vec<Warning> {
        validate::warnings(self)
    }

    /// The number of objects of `kind`.
    pub fn count(&self, kind: ObjectKind) -> usize {
        self.names(kind).len()
    }

    /// The names of the objects of `kind`, in order.
    pub fn names(&self, kind: ObjectKind) -> Vec<&str> {
        fn n<T>(v: &[T], f: impl Fn(&T) -> &str) -> Vec<&str> {
            v.iter().map(f).collect()
        }
        match kind {
            ObjectKind::Certificate => n(&self.certificates, |o| &o.name),
            ObjectKind::CertificateProfile => n(&self.certificate_profiles, |o| &o.name),
            ObjectKind::IkeCryptoProfile => n(&self.ike_crypto_profiles, |o| &o.name),
            ObjectKind::IpsecCryptoProfile => n(&self.ipsec_crypto_profiles, |o| &o.name),
            ObjectKind::IkeGateway => n(&self.ike_gateways, |o| &o.name),
            ObjectKind::TunnelInterface => n(&self.tunnel_interfaces, |o| &o.name),
            ObjectKind::IpsecTunnel => n(&self.ipsec_tunnels, |o| &o.name),
            ObjectKind::StaticRoute => n(&self.static_routes, |o| &o.name),
            ObjectKind::Zone => n(&self.zones, |o| &o.name),
            ObjectKind::SecurityRule => n(&self.security_rules, |o| &o.name),
            ObjectKind::NatRule => n(&self.nat_rules, |o| &o.name),
        }
    }

    /// The certificate object named `name`.
    pub fn certificate(&self, name: &str) -> Option<&CertificateObject> {
        self.certificates.iter().find(|o| o.name == name)
    }

    /// The certificate profile named `name`.
    pub fn certificate_profile(&self, name: &str) -> Option<&CertificateProfile> {
        self.certificate_profiles.iter().find(|o| o.name == name)
    }

    /// The IKE crypto profile named `name`.
    pub fn ike_crypto_profile(&self, name: &str) -> Option<&IkeCryptoProfile> {
        self.ike_crypto_profiles.iter().find(|o| o.name == name)
    }

    /// The IPsec crypto profile named `name`.
    pub fn ipsec_crypto_profile(&self, name: &str) -> Option<&IpsecCryptoProfile> {
        self.ipsec_crypto_profiles.iter().find(|o| o.name == name)
    }

    /// The IKE gateway named `name`.
    pub fn ike_gateway(&self, name: &str) -> Option<&IkeGateway> {
        self.ike_gateways.iter().find(|o| o.name == name)
    }

    /// The tunnel interface named `name`.
    pub fn tunnel_interface(&self, name: &str) -> Option<&TunnelInterface> {
        self.tunnel_interfaces.iter().find(|o| o.name == name)
    }

    /// The IPsec tunnel named `name`.
    pub fn ipsec_tunnel(&self, name: &str) -> Option<&IpsecTunnel> {
        self.ipsec_tunnels.iter().find(|o| o.name == name)
    }

    /// The zone named `name`.
    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|o| o.name == name)
    }

    /// The zone a tunnel interface belongs to: its own `zone` field, or the zone listing it.
    pub fn zone_of(&self, interface: &str) -> Option<&Zone> {
        let own = self
            .tunnel_interface(interface)
            .and_then(|t| t.zone.as_deref())
            .and_then(|z| self.zone(z));
        own.or_else(|| {
            self.zones
                .iter()
                .find(|z| z.interfaces.iter().any(|i| i == interface))
        })
    }
}
