//! IPsec tunnel (`network/tunnel/ipsec`): binds a tunnel interface to an IKE gateway and an IPsec
//! crypto profile (auto key) or to static keys (manual key), with proxy IDs and tunnel monitor.

use super::algorithms::{AuthName, CipherName};
use super::error::{range, ConfigError, Problem, Seg, Site, Warning};
use super::ike_gateway::LocalAddress;
use crate::child_sa::Mode;
use crate::crypto::SecretBytes;
use crate::selector::IpPrefix;
use serde::{Deserialize, Deserializer};
use std::net::IpAddr;

pub(crate) fn de_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<IpPrefix, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// Ports of a TCP or UDP proxy ID; 0 means any port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProxyPorts {
    /// Port on our side (0 = any).
    #[serde(default)]
    pub local_port: u16,
    /// Port on the peer's side (0 = any).
    #[serde(default)]
    pub remote_port: u16,
}

/// The protocol of a proxy ID: `"any"`, `{ number = 1 }`, `{ tcp = { local-port, remote-port } }`
/// or `{ udp = ... }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyProtocol {
    /// Any protocol, any port.
    #[default]
    Any,
    /// One IP protocol number, 1-254.
    Number(u8),
    /// TCP with ports.
    Tcp(ProxyPorts),
    /// UDP with ports.
    Udp(ProxyPorts),
}

impl ProxyProtocol {
    /// The IP protocol number; 0 for any.
    pub fn ip_protocol(self) -> u8 {
        match self {
            ProxyProtocol::Any => 0,
            ProxyProtocol::Number(n) => n,
            ProxyProtocol::Tcp(_) => 6,
            ProxyProtocol::Udp(_) => 17,
        }
    }

    /// The ports, `None` when the protocol has none.
    pub fn ports(self) -> Option<ProxyPorts> {
        match self {
            ProxyProtocol::Tcp(p) | ProxyProtocol::Udp(p) => Some(p),
            _ => None,
        }
    }

    /// The same protocol seen from the peer (local and remote ports swapped).
    pub fn mirrored(self) -> Self {
        let swap = |p: ProxyPorts| ProxyPorts {
            local_port: p.remote_port,
            remote_port: p.local_port,
        };
        match self {
            ProxyProtocol::Tcp(p) => ProxyProtocol::Tcp(swap(p)),
            ProxyProtocol::Udp(p) => ProxyProtocol::Udp(swap(p)),
            other => other,
        }
    }
}

/// A proxy ID: the traffic one Child SA carries (converted into traffic selectors by
/// [`crate::selector`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProxyId {
    /// Unique name within the tunnel.
    pub name: String,
    /// Our side's prefix.
    #[serde(deserialize_with = "de_prefix")]
    pub local: IpPrefix,
    /// The peer's side's prefix.
    #[serde(deserialize_with = "de_prefix")]
    pub remote: IpPrefix,
    /// Protocol and ports (default any).
    #[serde(default)]
    pub protocol: ProxyProtocol,
}

impl ProxyId {
    /// A proxy ID for any protocol.
    pub fn new(name: impl Into<String>, local: IpPrefix, remote: IpPrefix) -> Self {
        ProxyId {
            name: name.into(),
            local,
            remote,
            protocol: ProxyProtocol::Any,
        }
    }

    /// True when `other` is this proxy ID as the peer must write it (local and remote swapped).
    pub fn mirrors(&self, other: &ProxyId) -> bool {
        self.local == other.remote
            && self.remote == other.local
            && self.protocol == other.protocol.mirrored()
    }
}

/// Tunnel monitor: pings through the tunnel to detect a dead path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TunnelMonitor {
    /// Whether monitoring is on (default on when the table is present).
    #[serde(default = "yes")]
    pub enable: bool,
    /// Address to ping.
    pub destination_ip: IpAddr,
    /// Seconds between pings, 2-100 (default 3).
    #[serde(default = "default_interval")]
    pub interval: u32,
    /// Lost pings before the tunnel is declared down, 2-10 (default 5).
    #[serde(default = "default_threshold")]
    pub threshold: u32,
    /// What to do when down (default `wait-recover`).
    #[serde(default)]
    pub action: MonitorAction,
}

impl TunnelMonitor {
    /// A monitor pinging `destination_ip` with PAN-OS's defaults.
    pub fn new(destination_ip: IpAddr) -> Self {
        TunnelMonitor {
            enable: true,
            destination_ip,
            interval: default_interval(),
            threshold: default_threshold(),
            action: MonitorAction::WaitRecover,
        }
    }
}

/// Tunnel monitor action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MonitorAction {
    /// Keep the tunnel and wait for it to recover.
    #[default]
    WaitRecover,
    /// Withdraw the tunnel's routes so traffic fails over.
    FailOver,
}

/// `ipsec-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpsecMode {
    /// Tunnel mode (default).
    #[default]
    Tunnel,
    /// Transport mode.
    Transport,
}

impl IpsecMode {
    /// As the Child SA description names it.
    pub fn mode(self) -> Mode {
        match self {
            IpsecMode::Tunnel => Mode::Tunnel,
            IpsecMode::Transport => Mode::Transport,
        }
    }
}

/// A hex-encoded static key (`"0x0123..."`, colons or dashes allowed between bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct HexKey(pub SecretBytes);

impl core::fmt::Debug for HexKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "HexKey({} bytes, redacted)", self.0.len())
    }
}

impl<'de> Deserialize<'de> for HexKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = zeroize::Zeroizing::new(String::deserialize(d)?);
        let t = s.strip_prefix("0x").unwrap_or(&s);
        let digits: zeroize::Zeroizing<Vec<u8>> =
            zeroize::Zeroizing::new(t.bytes().filter(|b| !matches!(b, b':' | b'-')).collect());
        if !digits.len().is_multiple_of(2) {
            return Err(serde::de::Error::custom(
                "hex key has an odd number of digits",
            ));
        }
        // Decoded straight into the zeroizing buffer, in constant time: the digits are a key.
        let mut out = SecretBytes::zeroed(digits.len() / 2);
        base16ct::mixed::decode(&*digits, out.expose_mut())
            .map_err(|_| serde::de::Error::custom("key is not hexadecimal"))?;
        Ok(HexKey(out))
    }
}

/// A manual-key cipher with its key.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualCipher {
    /// The cipher (`aes-128-cbc`, `null`...).
    pub algorithm: CipherName,
    /// The key (absent for `null`).
    #[serde(default)]
    pub key: Option<HexKey>,
}

/// A manual-key integrity algorithm with its key.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualAuth {
    /// The algorithm.
    pub algorithm: AuthName,
    /// The key (absent for `none`).
    #[serde(default)]
    pub key: Option<HexKey>,
}

/// Manual-key ESP.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualEsp {
    /// Cipher and key.
    pub encryption: ManualCipher,
    /// Integrity algorithm and key.
    pub authentication: ManualAuth,
}

/// The peer of a manual-key tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualPeer {
    /// The peer's address.
    pub ip: IpAddr,
}

/// A manual-key SA pair: SPIs, algorithms and keys set by hand (no IKE).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ManualKey {
    /// SPI of packets we receive (256 or more; RFC 4303 section 2.1 reserves 1-255).
    pub local_spi: u32,
    /// SPI of packets we send.
    pub remote_spi: u32,
    /// Our end.
    pub local_address: LocalAddress,
    /// The peer's end.
    pub peer_address: ManualPeer,
    /// ESP algorithms and keys (exactly one of `esp` and `ah`).
    #[serde(default)]
    pub esp: Option<ManualEsp>,
    /// AH algorithm and key.
    #[serde(default)]
    pub ah: Option<ManualAuth>,
}

/// An IPsec tunnel.
///
/// Auto key (the sample files' form) sets `ike-gateway` and `ipsec-crypto-profile` at the top
/// level of the tunnel; manual key sets `manual-key` instead. Exactly one of the two.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IpsecTunnel {
    /// Unique name.
    pub name: String,
    /// The `tunnel.N` interface whose traffic this tunnel carries.
    pub tunnel_interface: String,
    /// Auto key: the IKE gateway.
    #[serde(default)]
    pub ike_gateway: Option<String>,
    /// Auto key: the IPsec crypto profile.
    #[serde(default)]
    pub ipsec_crypto_profile: Option<String>,
    /// IPv4 proxy IDs; none means `0.0.0.0/0` both ways.
    #[serde(default, rename = "proxy-id")]
    pub proxy_ids: Vec<ProxyId>,
    /// IPv6 proxy IDs.
    #[serde(default, rename = "proxy-id-v6")]
    pub proxy_ids_v6: Vec<ProxyId>,
    /// Manual key instead of IKE.
    #[serde(default)]
    pub manual_key: Option<ManualKey>,
    /// Anti-replay protection (default on).
    #[serde(default = "yes")]
    pub anti_replay: bool,
    /// Anti-replay window, 64-4096, a power of two (default 1024).
    #[serde(default = "default_window")]
    pub anti_replay_window: u32,
    /// Tunnel or transport mode (default tunnel).
    #[serde(default)]
    pub ipsec_mode: IpsecMode,
    /// Copy the inner TOS/DSCP to the outer header.
    #[serde(default)]
    pub copy_tos: bool,
    /// Tunnel monitor.
    #[serde(default)]
    pub tunnel_monitor: Option<TunnelMonitor>,
    /// Administratively disabled.
    #[serde(default)]
    pub disabled: bool,
    /// Free text.
    #[serde(default)]
    pub comment: Option<String>,
}

fn yes() -> bool {
    true
}
fn default_window() -> u32 {
    1024
}
fn default_interval() -> u32 {
    3
}
fn default_threshold() -> u32 {
    5
}

impl IpsecTunnel {
    /// An auto-key tunnel with PAN-OS's defaults and no proxy IDs.
    pub fn auto_key(
        name: impl Into<String>,
        tunnel_interface: impl Into<String>,
        ike_gateway: impl Into<String>,
        ipsec_crypto_profile: impl Into<String>,
    ) -> Self {
        IpsecTunnel {
            name: name.into(),
            tunnel_interface: tunnel_interface.into(),
            ike_gateway: Some(ike_gateway.into()),
            ipsec_crypto_profile: Some(ipsec_crypto_profile.into()),
            proxy_ids: Vec::new(),
            proxy_ids_v6: Vec::new(),
            manual_key: None,
            anti_replay: true,
            anti_replay_window: default_window(),
            ipsec_mode: IpsecMode::Tunnel,
            copy_tos: false,
            tunnel_monitor: None,
            disabled: false,
            comment: None,
        }
    }

    /// All proxy IDs, IPv4 then IPv6.
    pub fn all_proxy_ids(&self) -> impl Iterator<Item = &ProxyId> {
        self.proxy_ids.iter().chain(&self.proxy_ids_v6)
    }

    /// The replay window in packets for the Child SA; 0 when anti-replay is off.
    pub fn replay_window(&self) -> u32 {
        if self.anti_replay {
            self.anti_replay_window
        } else {
            0
        }
    }

    pub(crate) fn check(&self, site: &Site, out: &mut Vec<ConfigError>) {
        let w = self.anti_replay_window;
        if !(64..=4096).contains(&w) || !w.is_power_of_two() {
            out.push(site.at(
                "anti-replay-window",
                range(w, "64, 128, 256, 512, 1024, 2048 or 4096"),
            ));
        }
        if let Some(m) = &self.tunnel_monitor {
            if !(2..=100).contains(&m.interval) {
                out.push(site.at2("tunnel-monitor", "interval", range(m.interval, "2-100")));
            }
            if !(2..=10).contains(&m.threshold) {
                out.push(site.at2("tunnel-monitor", "threshold", range(m.threshold, "2-10")));
            }
        }
        match (&self.manual_key, &self.ike_gateway) {
            (Some(_), Some(_)) => out.push(site.at(
                "manual-key",
                Problem::Conflict(
                    "a tunnel uses either ike-gateway (auto key) or manual-key".into(),
                ),
            )),
            (None, None) => out.push(site.at("ike-gateway", Problem::Missing)),
            (None, Some(_)) => {
                if self.ipsec_crypto_profile.is_none() {
                    out.push(site.at("ipsec-crypto-profile", Problem::Missing));
                }
            }
            (Some(mk), None) => {
                for (field, present) in [
                    ("ipsec-crypto-profile", self.ipsec_crypto_profile.is_some()),
                    ("proxy-id", !self.proxy_ids.is_empty()),
                    ("proxy-id-v6", !self.proxy_ids_v6.is_empty()),
                ] {
                    if present {
                        out.push(site.at(
                            field,
                            Problem::Conflict(
                                "only auto-key tunnels (ike-gateway) take this".into(),
                            ),
                        ));
                    }
                }
                check_manual(mk, site, out);
            }
        }
        self.check_proxy_ids(site, out);
    }

    fn check_proxy_ids(&self, site: &Site, out: &mut Vec<ConfigError>) {
        let lists = [
            ("proxy-id", &self.proxy_ids, true),
            ("proxy-id-v6", &self.proxy_ids_v6, false),
        ];
        // Names are unique across both lists (checked through a hash set: a hub can have very
        // many proxy IDs).
        let repeated: std::collections::HashSet<usize> =
            super::index::repeats(self.all_proxy_ids().map(|p| p.name.as_str()))
                .into_iter()
                .collect();
        let mut at_all = 0;
        for (field, list, v4) in lists {
            for (i, p) in list.iter().enumerate() {
                let at = |leaf: &str, problem| {
                    site.err(
                        vec![
                            Seg::Key(field.to_string()),
                            Seg::Index(i, Some(p.name.clone())),
                            Seg::Key(leaf.to_string()),
                        ],
                        problem,
                    )
                };
                if let Some(problem) = super::validate::name_problem(&p.name) {
                    out.push(at("name", problem));
                }
                if repeated.contains(&at_all) {
                    out.push(at("name", Problem::Duplicate(p.name.clone())));
                }
                at_all += 1;
                if p.local.is_ipv4() != p.remote.is_ipv4() {
                    out.push(at(
                        "remote",
                        Problem::Conflict(format!(
                            "local {} and remote {} are of different address families",
                            p.local, p.remote
                        )),
                    ));
                } else if p.local.is_ipv4() != v4 {
                    let want = if v4 { "proxy-id-v6" } else { "proxy-id" };
                    out.push(at(
                        "local",
                        Problem::Conflict(format!("{} belongs in {want}", p.local)),
                    ));
                }
                if let ProxyProtocol::Number(n) = p.protocol {
                    if !(1..=254).contains(&n) {
                        out.push(at("protocol", range(n, "1-254 (or \"any\")")));
                    }
                }
            }
        }
    }

    pub(crate) fn warnings(&self, site: &Site, out: &mut Vec<Warning>) {
        if self.manual_key.is_some() {
            out.push(site.warn(
                "manual-key",
                "manual keys never change and have no replay protection across restarts",
            ));
        }
        if !self.anti_replay {
            out.push(site.warn("anti-replay", "replay protection is off"));
        }
    }
}

fn check_manual(mk: &ManualKey, site: &Site, out: &mut Vec<ConfigError>) {
    let at = |leaf: &[&str], problem| {
        let mut path = vec![Seg::Key("manual-key".into())];
        path.extend(leaf.iter().map(|s| Seg::Key(s.to_string())));
        site.err(path, problem)
    };
    for (f, spi) in [("local-spi", mk.local_spi), ("remote-spi", mk.remote_spi)] {
        if spi < 256 {
            out.push(at(&[f], range(spi, "256-4294967295 (1-255 are reserved)")));
        }
    }
    let key_len = |k: &Option<HexKey>| k.as_ref().map_or(0, |k| k.0.len());
    match (&mk.esp, &mk.ah) {
        (Some(_), Some(_)) => out.push(at(
            &["ah"],
            Problem::Conflict("set exactly one of esp and ah".into()),
        )),
        (None, None) => out.push(at(&["esp"], Problem::Missing)),
        (Some(esp), None) => {
            let c = esp.encryption.algorithm;
            if c.is_aead() {
                out.push(at(
                    &["esp", "encryption", "algorithm"],
                    Problem::InvalidValue(format!("{c} is not available for manual keys")),
                ));
            } else if key_len(&esp.encryption.key) != c.key_len() {
                out.push(at(
                    &["esp", "encryption", "key"],
                    Problem::InvalidValue(format!(
                        "{c} needs a {}-byte key, got {}",
                        c.key_len(),
                        key_len(&esp.encryption.key)
                    )),
                ));
            }
            let a = esp.authentication.algorithm;
            if a == AuthName::None && !c.is_aead() {
                out.push(at(
                    &["esp", "authentication", "algorithm"],
                    Problem::Conflict(format!("{c} with authentication none is unprotected")),
                ));
            }
            if key_len(&esp.authentication.key) != a.key_len() {
                out.push(at(
                    &["esp", "authentication", "key"],
                    Problem::InvalidValue(format!(
                        "needs a {}-byte key, got {}",
                        a.key_len(),
                        key_len(&esp.authentication.key)
                    )),
                ));
            }
        }
        (None, Some(ah)) => {
            if ah.algorithm == AuthName::None {
                out.push(at(
                    &["ah", "algorithm"],
                    Problem::Conflict("AH needs an integrity algorithm".into()),
                ));
            } else if key_len(&ah.key) != ah.algorithm.key_len() {
                out.push(at(
                    &["ah", "key"],
                    Problem::InvalidValue(format!(
                        "needs a {}-byte key, got {}",
                        ah.algorithm.key_len(),
                        key_len(&ah.key)
                    )),
                ));
            }
        }
    }
}
