//! Static routes (`network/virtual-router/.../static-route`) and zones (`vsys/.../zone`).

use super::error::{range, ConfigError, Site};
use super::ipsec_tunnel::de_prefix;
use super::tunnel_interface::default_vr;
use crate::selector::IpPrefix;
use serde::Deserialize;
use std::net::IpAddr;

/// The next hop of a static route: `{ ip-address = "..." }`, `{ next-vr = "..." }` or
/// `"discard"`. A route through a tunnel interface needs none.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Nexthop {
    /// A gateway address.
    IpAddress(IpAddr),
    /// Another virtual router.
    NextVr(String),
    /// Drop the traffic.
    Discard,
}

/// A static route.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StaticRoute {
    /// Unique name.
    pub name: String,
    /// The virtual router holding the route (default `default`).
    #[serde(default = "default_vr")]
    pub virtual_router: String,
    /// The destination prefix.
    #[serde(deserialize_with = "de_prefix")]
    pub destination: IpPrefix,
    /// The egress interface (`tunnel.1` for a route into a VPN).
    #[serde(default)]
    pub interface: Option<String>,
    /// The next hop, if any.
    #[serde(default)]
    pub nexthop: Option<Nexthop>,
    /// Metric, 1-65535 (default 10).
    #[serde(default = "default_metric")]
    pub metric: u32,
    /// Administrative distance, 10-240 (default: the virtual router's).
    #[serde(default)]
    pub admin_dist: Option<u32>,
}

fn default_metric() -> u32 {
    10
}

impl StaticRoute {
    /// A route to `destination` out of `interface`, metric 10, virtual router `default`.
    pub fn new(
        name: impl Into<String>,
        destination: IpPrefix,
        interface: impl Into<String>,
    ) -> Self {
        StaticRoute {
            name: name.into(),
            virtual_router: default_vr(),
            destination,
            interface: Some(interface.into()),
            nexthop: None,
            metric: default_metric(),
            admin_dist: None,
        }
    }

    pub(crate) fn check(&self, site: &Site, out: &mut Vec<ConfigError>) {
        if !(1..=65535).contains(&self.metric) {
            out.push(site.at("metric", range(self.metric, "1-65535")));
        }
        if let Some(d) = self.admin_dist {
            if !(10..=240).contains(&d) {
                out.push(site.at("admin-dist", range(d, "10-240")));
            }
        }
        if self.interface.is_none() && self.nexthop.is_none() {
            out.push(site.at("interface", super::error::Problem::Missing));
        }
    }
}

/// A security zone (layer 3) and its member interfaces.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// Unique name.
    pub name: String,
    /// Member interfaces (`ethernet1/2`, `tunnel.1`).
    #[serde(default)]
    pub interfaces: Vec<String>,
}

impl Zone {
    /// A zone with the given interfaces.
    pub fn new(name: impl Into<String>, interfaces: Vec<String>) -> Self {
        Zone {
            name: name.into(),
            interfaces,
        }
    }
}
