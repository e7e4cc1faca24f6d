//! IKE gateway (`network/ike/gateway`): the peer, how both sides authenticate and identify, and
//! the IKE SA's behaviour (liveness, NAT traversal, passive mode).

use super::error::{range, ConfigError, Problem, Site, Warning};
use crate::crypto::{constant_time_eq, SecretBytes};
use core::fmt;
use serde::{Deserialize, Deserializer};
use std::net::IpAddr;

/// IKE version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IkeVersion {
    /// IKEv1 only (PAN-OS's default; this implementation speaks IKEv2 only).
    #[default]
    Ikev1,
    /// IKEv2 only.
    Ikev2,
    /// IKEv2, falling back to IKEv1.
    Ikev2Preferred,
}

impl IkeVersion {
    /// The PAN-OS spelling (`ikev2-preferred`).
    pub fn as_str(self) -> &'static str {
        match self {
            IkeVersion::Ikev1 => "ikev1",
            IkeVersion::Ikev2 => "ikev2",
            IkeVersion::Ikev2Preferred => "ikev2-preferred",
        }
    }
}

impl IdType {
    /// The PAN-OS spelling (`ufqdn`).
    pub fn as_str(self) -> &'static str {
        match self {
            IdType::Ipaddr => "ipaddr",
            IdType::Fqdn => "fqdn",
            IdType::Ufqdn => "ufqdn",
            IdType::Keyid => "keyid",
            IdType::Dn => "dn",
        }
    }
}

/// The local end: interface and, optionally, the address on it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LocalAddress {
    /// The egress interface (`ethernet1/1`).
    pub interface: String,
    /// The local address; the interface's address when absent.
    #[serde(default)]
    pub ip: Option<IpAddr>,
}

/// The peer's address: `{ ip = "..." }`, `{ fqdn = "..." }`, or `"dynamic"` (also written
/// `{ dynamic = {} }`, like PAN-OS's empty `<dynamic/>` element).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerAddress {
    /// A static address.
    Ip(IpAddr),
    /// A name resolved by the embedder.
    Fqdn(String),
    /// Unknown in advance: this side only responds.
    Dynamic,
}

/// A pre-shared key: zeroized on drop, redacted in `Debug`, compared in constant time.
#[derive(Clone)]
pub struct PreSharedKey(SecretBytes);

impl PreSharedKey {
    /// A key from its text.
    pub fn new(key: &str) -> Self {
        PreSharedKey(SecretBytes::from_slice(key.as_bytes()))
    }

    /// The key bytes. Keep the borrow short and never log it.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }
}

impl PartialEq for PreSharedKey {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.expose(), other.expose())
    }
}
impl Eq for PreSharedKey {}

impl fmt::Debug for PreSharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PreSharedKey(redacted)")
    }
}

impl<'de> Deserialize<'de> for PreSharedKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = zeroize::Zeroizing::new(String::deserialize(d)?);
        Ok(PreSharedKey::new(&s))
    }
}

/// Certificate authentication (RFC 7296 section 2.15 with RFC 7427 signatures):
/// `authentication = { certificate = { local-certificate = "hq", certificate-profile = "peers" } }`.
///
/// The peer's certificate must chain to a CA of the profile, and the identity it sends must be
/// in its certificate (the profile's `username-field` says where) unless
/// `allow-id-payload-mismatch` is set; the gateway's `peer-id` (with `matching`, PAN-OS's
/// "peer ID check") is compared with the identity it sends either way.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CertificateAuth {
    /// Our certificate object (which must have a private key).
    #[serde(default)]
    pub local_certificate: Option<String>,
    /// The certificate profile validating the peer.
    #[serde(default)]
    pub certificate_profile: Option<String>,
    /// PAN-OS's "permit peer identification and certificate payload identification mismatch":
    /// accept a peer whose ID payload is not in its certificate.
    #[serde(default)]
    pub allow_id_payload_mismatch: bool,
    /// Fail when revocation status cannot be checked. Revocation is not checked here, so `true`
    /// is refused rather than silently ignored.
    #[serde(default)]
    pub strict_validation_revocation: bool,
}

impl CertificateAuth {
    /// Certificate authentication with `local_certificate` and `certificate_profile`.
    pub fn new(
        local_certificate: impl Into<String>,
        certificate_profile: impl Into<String>,
    ) -> Self {
        CertificateAuth {
            local_certificate: Some(local_certificate.into()),
            certificate_profile: Some(certificate_profile.into()),
            allow_id_payload_mismatch: false,
            strict_validation_revocation: false,
        }
    }
}

/// How the peers authenticate.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Authentication {
    /// A shared secret (RFC 7296 section 2.15).
    PreSharedKey(PreSharedKey),
    /// Certificates.
    Certificate(CertificateAuth),
}

/// The type of an IKE identity (RFC 7296 section 3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdType {
    /// An IP address (ID_IPV4_ADDR / ID_IPV6_ADDR).
    Ipaddr,
    /// A domain name (ID_FQDN).
    Fqdn,
    /// An e-mail-like `user@fqdn` (ID_RFC822_ADDR).
    Ufqdn,
    /// Opaque bytes (ID_KEY_ID).
    Keyid,
    /// An X.500 distinguished name (ID_DER_ASN1_DN).
    Dn,
}

/// How `peer-id` is compared with the identity the peer sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdMatching {
    /// Byte for byte.
    #[default]
    Exact,
    /// `*` matches any run of characters.
    Wildcard,
}

/// Our identity (`local-id = { type = "fqdn", id = "hq.example.net" }`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalId {
    /// The identity type.
    #[serde(rename = "type")]
    pub id_type: IdType,
    /// The identity, 1-1024 characters.
    pub id: String,
}

/// The identity we expect from the peer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerId {
    /// The identity type.
    #[serde(rename = "type")]
    pub id_type: IdType,
    /// The identity (a pattern with `matching = "wildcard"`), 1-1024 characters.
    pub id: String,
    /// `exact` (default) or `wildcard`.
    #[serde(default)]
    pub matching: IdMatching,
}

impl PeerId {
    /// True when the peer's identity `(id_type, id)` is the one expected.
    pub fn matches(&self, id_type: IdType, id: &str) -> bool {
        if id_type != self.id_type {
            return false;
        }
        match self.matching {
            IdMatching::Exact => self.id == id,
            IdMatching::Wildcard => wildcard_match(self.id.as_bytes(), id.as_bytes()),
        }
    }
}

/// `*` matches any run of bytes, iteratively (no recursion depth to exhaust).
pub(crate) fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|c| *c == b'*')
}

/// IKEv2 liveness check (dead peer detection by empty INFORMATIONAL requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LivenessCheck {
    /// Whether to probe (default on).
    #[serde(default = "yes")]
    pub enable: bool,
    /// Idle seconds before a probe, 2-100 (default 5).
    #[serde(default = "default_liveness")]
    pub interval: u32,
}

impl Default for LivenessCheck {
    fn default() -> Self {
        LivenessCheck {
            enable: true,
            interval: default_liveness(),
        }
    }
}

/// NAT traversal (RFC 3948 UDP encapsulation and keepalives).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NatTraversal {
    /// Whether NAT traversal is enabled (default off, as in PAN-OS).
    #[serde(default)]
    pub enable: bool,
    /// Seconds between NAT keepalives, 10-3600 (default 20).
    #[serde(default = "default_keepalive")]
    pub keep_alive_interval: u32,
    /// Whether to fill the UDP checksum of encapsulated packets.
    #[serde(default)]
    pub udp_checksum_enable: bool,
}

impl Default for NatTraversal {
    fn default() -> Self {
        NatTraversal {
            enable: false,
            keep_alive_interval: default_keepalive(),
            udp_checksum_enable: false,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_liveness() -> u32 {
    5
}
fn default_keepalive() -> u32 {
    20
}

/// An IKE peer.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IkeGateway {
    /// Unique name.
    pub name: String,
    /// IKE version; PAN-OS's default is `ikev1`.
    #[serde(default)]
    pub version: IkeVersion,
    /// Our end.
    pub local_address: LocalAddress,
    /// The peer's end.
    pub peer_address: PeerAddress,
    /// How both sides authenticate.
    pub authentication: Authentication,
    /// Our identity; the local address when absent.
    #[serde(default)]
    pub local_id: Option<LocalId>,
    /// The identity expected from the peer; any when absent.
    #[serde(default)]
    pub peer_id: Option<PeerId>,
    /// Name of the IKE crypto profile (PAN-OS default `default`).
    #[serde(default = "default_profile")]
    pub ike_crypto_profile: String,
    /// Answer IKE_SA_INIT with a cookie always (RFC 7296 section 2.6).
    #[serde(default)]
    pub require_cookie: bool,
    /// Only respond, never initiate.
    #[serde(default)]
    pub passive_mode: bool,
    /// Liveness check.
    #[serde(default)]
    pub liveness_check: LivenessCheck,
    /// NAT traversal.
    #[serde(default)]
    pub nat_traversal: NatTraversal,
    /// IKE fragmentation (RFC 7383).
    #[serde(default)]
    pub fragmentation: bool,
    /// Administratively disabled.
    #[serde(default)]
    pub disabled: bool,
    /// Free text.
    #[serde(default)]
    pub comment: Option<String>,
}

fn default_profile() -> String {
    "default".to_string()
}

impl IkeGateway {
    /// An IKEv2 gateway with PAN-OS's defaults for everything not given.
    pub fn new(
        name: impl Into<String>,
        local_address: LocalAddress,
        peer_address: PeerAddress,
        authentication: Authentication,
        ike_crypto_profile: impl Into<String>,
    ) -> Self {
        IkeGateway {
            name: name.into(),
            version: IkeVersion::Ikev2,
            local_address,
            peer_address,
            authentication,
            local_id: None,
            peer_id: None,
            ike_crypto_profile: ike_crypto_profile.into(),
            require_cookie: false,
            passive_mode: false,
            liveness_check: LivenessCheck::default(),
            nat_traversal: NatTraversal::default(),
            fragmentation: false,
            disabled: false,
            comment: None,
        }
    }

    /// The certificate settings, when that is the authentication method.
    pub fn certificate_auth(&self) -> Option<&CertificateAuth> {
        match &self.authentication {
            Authentication::Certificate(c) => Some(c),
            Authentication::PreSharedKey(_) => None,
        }
    }

    /// The pre-shared key, when that is the authentication method.
    pub fn pre_shared_key(&self) -> Option<&PreSharedKey> {
        match &self.authentication {
            Authentication::PreSharedKey(k) => Some(k),
            Authentication::Certificate(_) => None,
        }
    }

    /// Liveness probe interval, `None` when disabled.
    pub fn liveness_interval(&self) -> Option<core::time::Duration> {
        self.liveness_check
            .enable
            .then(|| core::time::Duration::from_secs(u64::from(self.liveness_check.interval)))
    }

    /// NAT keepalive interval, `None` when NAT traversal is off.
    pub fn nat_keepalive_interval(&self) -> Option<core::time::Duration> {
        self.nat_traversal.enable.then(|| {
            core::time::Duration::from_secs(u64::from(self.nat_traversal.keep_alive_interval))
        })
    }

    pub(crate) fn check(&self, site: &Site, out: &mut Vec<ConfigError>) {
        match &self.authentication {
            Authentication::PreSharedKey(k) if k.expose().is_empty() => out.push(site.at2(
                "authentication",
                "pre-shared-key",
                Problem::InvalidValue("the key is empty".into()),
            )),
            // References to certificate objects and profiles are checked with the whole
            // configuration (validate.rs).
            Authentication::PreSharedKey(_) | Authentication::Certificate(_) => {}
        }
        if let Some(id) = &self.local_id {
            check_id(site, "local-id", id.id_type, &id.id, IdMatching::Exact, out);
        }
        if let Some(id) = &self.peer_id {
            check_id(site, "peer-id", id.id_type, &id.id, id.matching, out);
        }
        if let PeerAddress::Fqdn(f) = &self.peer_address {
            if f.is_empty() || f.len() > 255 {
                out.push(site.at2(
                    "peer-address",
                    "fqdn",
                    Problem::InvalidValue("must be 1-255 characters".into()),
                ));
            }
        }
        if let (Some(l), PeerAddress::Ip(p)) = (self.local_address.ip, &self.peer_address) {
            if l.is_ipv4() != p.is_ipv4() {
                out.push(site.at2(
                    "peer-address",
                    "ip",
                    Problem::Conflict(format!(
                        "{p} and local address {l} are of different families"
                    )),
                ));
            }
        }
        let li = self.liveness_check.interval;
        if !(2..=100).contains(&li) {
            out.push(site.at2("liveness-check", "interval", range(li, "2-100")));
        }
        let ka = self.nat_traversal.keep_alive_interval;
        if !(10..=3600).contains(&ka) {
            out.push(site.at2("nat-traversal", "keep-alive-interval", range(ka, "10-3600")));
        }
        // Passive mode with a dynamic peer is fine on its own; only the pair check can see
        // whether the other end is passive too, in which case nobody initiates.
    }

    pub(crate) fn warnings(&self, site: &Site, out: &mut Vec<Warning>) {
        match self.version {
            IkeVersion::Ikev1 => out.push(site.warn(
                "version",
                "ikev1 (PAN-OS's default) is not implemented here; this gateway will not come up. \
                 Use ikev2",
            )),
            IkeVersion::Ikev2Preferred => out.push(site.warn(
                "version",
                "ikev2-preferred: only IKEv2 is implemented, there is no IKEv1 fallback",
            )),
            IkeVersion::Ikev2 => {}
        }
    }
}

fn check_id(
    site: &Site,
    field: &str,
    ty: IdType,
    id: &str,
    matching: IdMatching,
    out: &mut Vec<ConfigError>,
) {
    if id.is_empty() || id.len() > 1024 {
        out.push(site.at2(
            field,
            "id",
            Problem::InvalidValue("must be 1-1024 characters".into()),
        ));
        return;
    }
    let bad = match ty {
        IdType::Ipaddr if matching == IdMatching::Exact => id
            .parse::<IpAddr>()
            .is_err()
            .then_some("type ipaddr needs an IPv4 or IPv6 address"),
        IdType::Ipaddr => Some("wildcard matching does not apply to type ipaddr"),
        IdType::Ufqdn if !id.contains('@') => Some("type ufqdn needs user@domain"),
        IdType::Dn => crate::pki::DistinguishedName::parse(id)
            .is_err()
            .then_some("type dn needs a distinguished name such as \"C=CH, O=Example, CN=hq\""),
        _ => None,
    };
    if let Some(why) = bad {
        out.push(site.at2(field, "id", Problem::InvalidValue(why.into())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matching() {
        assert!(wildcard_match(b"*.example.net", b"hq.example.net"));
        assert!(wildcard_match(b"*", b""));
        assert!(wildcard_match(b"a*b*c", b"axxbyyc"));
        assert!(!wildcard_match(b"a*b*c", b"axxbyy"));
        assert!(!wildcard_match(b"*.example.net", b"example.org"));
        assert!(wildcard_match(b"exact", b"exact"));
        assert!(!wildcard_match(b"exact", b"exactly"));
    }

    #[test]
    fn psk_debug_is_redacted() {
        let k = PreSharedKey::new("secret");
        assert_eq!(format!("{k:?}"), "PreSharedKey(redacted)");
        assert_eq!(k, PreSharedKey::new("secret"));
        assert_ne!(k, PreSharedKey::new("secreT"));
    }
}
