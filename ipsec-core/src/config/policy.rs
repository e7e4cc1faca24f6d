//! Security rules and NAT rules (`rulebase/security`, `rulebase/nat`).

use crate::selector::IpPrefix;
use core::fmt;
use serde::{Deserialize, Deserializer};
use std::net::IpAddr;

/// An address in a rule: `any` or a prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressMatch {
    /// Any address.
    Any,
    /// Addresses inside a prefix.
    Prefix(IpPrefix),
}

impl AddressMatch {
    /// True when `ip` matches.
    pub fn matches(&self, ip: IpAddr) -> bool {
        match self {
            AddressMatch::Any => true,
            AddressMatch::Prefix(p) => p.contains(ip),
        }
    }
}

impl fmt::Display for AddressMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressMatch::Any => f.write_str("any"),
            AddressMatch::Prefix(p) => write!(f, "{p}"),
        }
    }
}

impl<'de> Deserialize<'de> for AddressMatch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "any" {
            return Ok(AddressMatch::Any);
        }
        s.parse()
            .map(AddressMatch::Prefix)
            .map_err(serde::de::Error::custom)
    }
}

fn any_addr() -> Vec<AddressMatch> {
    vec![AddressMatch::Any]
}
fn any_str() -> Vec<String> {
    vec!["any".to_string()]
}

/// A security rule's action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleAction {
    /// Let the traffic through.
    #[default]
    Allow,
    /// Block it (application default behaviour).
    Deny,
    /// Drop silently.
    Drop,
    /// Drop and reset the client.
    ResetClient,
    /// Drop and reset the server.
    ResetServer,
    /// Drop and reset both.
    ResetBoth,
}

/// A security rule between zones.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SecurityRule {
    /// Unique name.
    pub name: String,
    /// Source zones (or `any`).
    pub from: Vec<String>,
    /// Destination zones (or `any`).
    pub to: Vec<String>,
    /// Source addresses (default any).
    #[serde(default = "any_addr")]
    pub source: Vec<AddressMatch>,
    /// Destination addresses (default any).
    #[serde(default = "any_addr")]
    pub destination: Vec<AddressMatch>,
    /// Applications (default any).
    #[serde(default = "any_str")]
    pub application: Vec<String>,
    /// Services (default any).
    #[serde(default = "any_str")]
    pub service: Vec<String>,
    /// What to do with matching traffic.
    pub action: RuleAction,
    /// Administratively disabled.
    #[serde(default)]
    pub disabled: bool,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

impl SecurityRule {
    /// A rule from zones to zones for any address, application and service.
    pub fn new(
        name: impl Into<String>,
        from: Vec<String>,
        to: Vec<String>,
        action: RuleAction,
    ) -> Self {
        SecurityRule {
            name: name.into(),
            from,
            to,
            source: any_addr(),
            destination: any_addr(),
            application: any_str(),
            service: any_str(),
            action,
            disabled: false,
            description: None,
        }
    }
}

/// Source translation of a NAT rule; `"none"` makes a no-NAT rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceTranslation {
    /// No translation.
    #[default]
    None,
    /// Hide behind an interface address (or a given address), with port translation.
    DynamicIpAndPort(DynamicIpAndPort),
    /// One-to-one translation.
    StaticIp(StaticIp),
}

/// `dynamic-ip-and-port` source translation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DynamicIpAndPort {
    /// Use this interface's address.
    #[serde(default)]
    pub interface: Option<String>,
    /// Or this address.
    #[serde(default)]
    pub translated_address: Option<IpAddr>,
}

/// `static-ip` source translation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StaticIp {
    /// The address to translate to.
    pub translated_address: IpAddr,
}

/// Destination translation of a NAT rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DestinationTranslation {
    /// The address to translate to.
    pub translated_address: IpAddr,
    /// The port to translate to, if any.
    #[serde(default)]
    pub translated_port: Option<u16>,
}

/// A NAT rule. With neither translation it is a no-NAT rule, placed above general NAT rules to
/// keep VPN traffic untranslated.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NatRule {
    /// Unique name.
    pub name: String,
    /// Source zones.
    pub from: Vec<String>,
    /// Destination zones.
    pub to: Vec<String>,
    /// The egress interface, if restricted.
    #[serde(default)]
    pub to_interface: Option<String>,
    /// Source addresses (default any).
    #[serde(default = "any_addr")]
    pub source: Vec<AddressMatch>,
    /// Destination addresses (default any).
    #[serde(default = "any_addr")]
    pub destination: Vec<AddressMatch>,
    /// Service (default any).
    #[serde(default = "default_service")]
    pub service: String,
    /// Source translation (default none).
    #[serde(default)]
    pub source_translation: SourceTranslation,
    /// Destination translation (default none).
    #[serde(default)]
    pub destination_translation: Option<DestinationTranslation>,
    /// Administratively disabled.
    #[serde(default)]
    pub disabled: bool,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

fn default_service() -> String {
    "any".to_string()
}

impl NatRule {
    /// A no-NAT rule from zones to zones.
    pub fn no_nat(name: impl Into<String>, from: Vec<String>, to: Vec<String>) -> Self {
        NatRule {
            name: name.into(),
            from,
            to,
            to_interface: None,
            source: any_addr(),
            destination: any_addr(),
            service: default_service(),
            source_translation: SourceTranslation::None,
            destination_translation: None,
            disabled: false,
            description: None,
        }
    }

    /// True when the rule translates nothing (a no-NAT rule).
    pub fn is_no_nat(&self) -> bool {
        self.source_translation == SourceTranslation::None && self.destination_translation.is_none()
    }
}
