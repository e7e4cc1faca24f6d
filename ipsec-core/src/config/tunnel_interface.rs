//! Tunnel interface (`network/interface/tunnel/units`, `tunnel.N`): the route-based VPN's
//! logical interface.

use super::error::{range, ConfigError, Problem, Site};
use core::fmt;
use core::str::FromStr;
use serde::{Deserialize, Deserializer};
use std::net::IpAddr;

/// An interface address with its prefix length, host bits allowed (`169.254.100.1/30`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InterfaceAddress {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length of the connected network.
    pub prefix_len: u8,
}

impl FromStr for InterfaceAddress {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv4 or IPv6 address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = if l.is_empty() {
            max
        } else {
            match l.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("bad prefix length `{l}` (0-{max})")),
            }
        };
        Ok(InterfaceAddress { addr, prefix_len })
    }
}

impl fmt::Display for InterfaceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl<'de> Deserialize<'de> for InterfaceAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A `tunnel.N` interface.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TunnelInterface {
    /// `tunnel.N`, N in 1-9999.
    pub name: String,
    /// IPv4 address; only needed for tunnel monitoring or dynamic routing.
    #[serde(default)]
    pub ip: Option<InterfaceAddress>,
    /// IPv6 address.
    #[serde(default)]
    pub ipv6: Option<InterfaceAddress>,
    /// MTU, 576-9216 (default 1500).
    #[serde(default = "default_mtu")]
    pub mtu: u32,
    /// The security zone; may instead be given by the zone's `interfaces` list.
    #[serde(default)]
    pub zone: Option<String>,
    /// The virtual router (default `default`).
    #[serde(default = "default_vr")]
    pub virtual_router: String,
    /// Free text.
    #[serde(default)]
    pub comment: Option<String>,
}

fn default_mtu() -> u32 {
    1500
}
pub(crate) fn default_vr() -> String {
    "default".to_string()
}

impl TunnelInterface {
    /// `tunnel.N` with no address, MTU 1500, virtual router `default`, no zone.
    pub fn new(name: impl Into<String>) -> Self {
        TunnelInterface {
            name: name.into(),
            ip: None,
            ipv6: None,
            mtu: default_mtu(),
            zone: None,
            virtual_router: default_vr(),
            comment: None,
        }
    }

    /// The unit number N of `tunnel.N`, when the name is well formed.
    pub fn unit(&self) -> Option<u16> {
        let n = self.name.strip_prefix("tunnel.")?;
        if n.starts_with('0') || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n.parse().ok().filter(|u| (1..=9999).contains(u))
    }

    pub(crate) fn check(&self, site: &Site, out: &mut Vec<ConfigError>) {
        if self.unit().is_none() {
            out.push(site.at(
                "name",
                Problem::InvalidValue(format!(
                    "\"{}\" is not tunnel.N with N in 1-9999",
                    self.name
                )),
            ));
        }
        if !(576..=9216).contains(&self.mtu) {
            out.push(site.at("mtu", range(self.mtu, "576-9216")));
        }
        if let Some(a) = self.ip {
            if !a.addr.is_ipv4() {
                out.push(site.at(
                    "ip",
                    Problem::InvalidValue(format!("{a} is not IPv4; use ipv6")),
                ));
            }
        }
        if let Some(a) = self.ipv6 {
            if a.addr.is_ipv4() {
                out.push(site.at(
                    "ipv6",
                    Problem::InvalidValue(format!("{a} is not IPv6; use ip")),
                ));
            }
        }
    }
}
