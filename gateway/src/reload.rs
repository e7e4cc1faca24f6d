//! A new configuration for a running gateway, applied as a PAN-OS commit applies one.
//!
//! The IKE endpoint keeps the gateways and tunnels whose settings did not change, with their
//! SAs untouched, and tears down the others ([`ikev2::Endpoint::reconfigure`]); the Child SAs
//! leave the datapath as IKE reports them down. Everything else is rebuilt from the new
//! configuration at once: interfaces, the virtual routers' static and connected routes, zones,
//! security rules, no-NAT rules and tunnel monitors. What carries over: the addresses the
//! embedder gave the non-tunnel interfaces, the datapath tunnel of each tunnel interface that
//! stays bound to the same IPsec tunnel, the state of each tunnel monitor whose tunnel and settings
//! did not change (with the routes a `fail-over` withdrew), and the sessions, as long as
//! zones, security rules and NAT rules are the same (otherwise every flow is checked against
//! the new rules at its next packet, as PAN-OS re-matches sessions after a commit).

use crate::error::Error;
use crate::interfaces::Interfaces;
use crate::monitor::{self, Monitor, MonitorState};
use crate::policy::Policy;
use crate::routing::RoutingTable;
use crate::Gateway;
use ikev2::config::EndpointConfig;
use ikev2::Reconfigured;
use ipsec_core::config::{Config, MonitorAction, StaticRoute, TunnelInterface};
use ipsec_core::time::Instant;
use serde::Serialize;

/// What [`Gateway::reconfigure`] changed, for the embedder to act on (TUN devices, kernel
/// routes) and to log.
///
/// Besides the SAs of what did not change, a reconfiguration keeps: the addresses the embedder
/// gave the non-tunnel interfaces, the datapath tunnel of each tunnel interface that stays bound
/// to the same IPsec tunnel, the state of each tunnel monitor whose tunnel and settings did not
/// change (with the routes a `fail-over` withdrew), and the sessions, as long as zones, security
/// rules and NAT rules are the same (otherwise every flow is checked against the new rules at
/// its next packet, as PAN-OS re-matches sessions after a commit).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reload {
    /// IKE gateways kept, changed (IKE SA deleted), added and removed (IKE SA deleted).
    pub gateways: Names,
    /// IPsec tunnels kept, changed (Child SAs deleted, negotiated again), added and removed
    /// (Child SAs deleted).
    pub tunnels: Names,
    /// Tunnel interfaces kept, changed (address, MTU, zone or virtual router differ: an
    /// embedder with a device per interface creates it again), added and removed.
    pub tunnel_interfaces: Names,
    /// Static routes, by name, that are new, or differ, or go through a changed tunnel
    /// interface: to install (after creating the devices of added and changed tunnel
    /// interfaces), as the new configuration has them.
    pub routes_added: Vec<String>,
    /// Static routes, by name, that are gone, or differ, or go through a changed tunnel
    /// interface: to remove (before removing the devices of removed and changed tunnel
    /// interfaces), as the old configuration had them.
    pub routes_removed: Vec<String>,
    /// Zones, security rules and NAT rules changed: sessions were cleared.
    pub policy_changed: bool,
    /// Tunnels whose negotiation was started (added or changed, with a gateway that may
    /// initiate).
    pub initiated: Vec<String>,
}

/// Names of objects of one kind, sorted by what became of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Names {
    /// Same settings: left running.
    pub kept: Vec<String>,
    /// Different settings.
    pub changed: Vec<String>,
    /// New.
    pub added: Vec<String>,
    /// Gone.
    pub removed: Vec<String>,
}

impl From<ikev2::Changes> for Names {
    fn from(c: ikev2::Changes) -> Names {
        Names {
            kept: c.kept,
            changed: c.changed,
            added: c.added,
            removed: c.removed,
        }
    }
}

impl Names {
    /// Nothing changed, added or removed.
    pub fn is_unchanged(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }
}

impl Reload {
    /// Nothing at all changed.
    pub fn is_unchanged(&self) -> bool {
        self.gateways.is_unchanged()
            && self.tunnels.is_unchanged()
            && self.tunnel_interfaces.is_unchanged()
            && self.routes_added.is_empty()
            && self.routes_removed.is_empty()
            && !self.policy_changed
    }
}

impl Gateway {
    /// Runs `config` from now on, as a PAN-OS commit: the IKE gateways and IPsec tunnels whose
    /// settings did not change keep their SAs untouched (traffic through them goes on without
    /// a packet lost); those that changed or went away are torn down (Deletes sent, Child SAs
    /// removed from the datapath as IKE reports them down); routes, zones, security rules,
    /// no-NAT rules and tunnel monitors of the new configuration apply at once (see [`Reload`]
    /// for what carries over). Added and changed tunnels whose gateway may
    /// initiate are connected, as [`connect_all`](Self::connect_all) does at start.
    ///
    /// A configuration that cannot run is refused with the error, and the gateway goes on
    /// with the old one unchanged. The result tells what changed; the embedder creates and
    /// removes the devices of tunnel interfaces and the kernel routes it keeps for them
    /// accordingly. [`InterfaceId`](crate::InterfaceId)s are numbered afresh: look them up
    /// again by name. Drain [`poll_transmit`](Self::poll_transmit) and
    /// [`poll_event`](Self::poll_event) after it, as after any command.
    pub fn reconfigure(&mut self, now: Instant, config: Config) -> Result<Reload, Error> {
        // Everything is built before anything changes, so a refusal leaves the gateway as it
        // was.
        let mut resolved = EndpointConfig::from_config(&config)?;
        for g in &mut resolved.gateways {
            g.force_encapsulation |= self.options.force_udp_encapsulation;
        }
        resolved.validate()?;
        let runnable: Vec<String> = resolved.tunnels.iter().map(|t| t.name.clone()).collect();
        let mut warnings = crate::gateway::config_warnings(&config, &runnable);
        let mut interfaces =
            Interfaces::from_config(&config, |t| runnable.iter().any(|r| r == t), &mut warnings);
        for ifc in interfaces.list.iter_mut().filter(|i| !i.is_tunnel) {
            if let Some(old) = self
                .interfaces
                .list
                .iter()
                .find(|o| !o.is_tunnel && o.name == ifc.name)
            {
                ifc.addresses.clone_from(&old.addresses);
            }
        }
        let mut routes = RoutingTable::build(&config, &interfaces, &mut warnings);
        let policy = Policy::from_config(&config, &mut warnings);
        let mut monitors = monitor::from_config(&config, &interfaces, &mut warnings);

        let ike: Reconfigured = self
            .endpoint
            .with_spis(&mut self.table)
            .reconfigure(now, resolved)?;

        // From here on nothing fails.
        let kept_tunnel = |t: &str| ike.tunnels.kept.iter().any(|k| k == t);
        // The datapath's tunnel is the IPsec tunnel's, by name: a changed tunnel's old Child
        // SAs carry on through it until IKE has deleted them.
        let tunnel_ids = interfaces
            .list
            .iter()
            .map(|ifc| {
                let tunnel = ifc.tunnel.as_deref()?;
                let old = self
                    .interfaces
                    .list
                    .iter()
                    .position(|o| o.name == ifc.name && o.tunnel.as_deref() == Some(tunnel))?;
                self.tunnel_ids.get(old).copied().flatten()
            })
            .collect();
        carry_monitors(&self.monitors, &mut monitors, &kept_tunnel);
        for m in &monitors {
            if m.state == MonitorState::Down && m.action == MonitorAction::FailOver {
                routes.set_active(m.interface, false);
            }
        }
        let policy_changed = self.config.zones != config.zones
            || self.config.security_rules != config.security_rules
            || self.config.nat_rules != config.nat_rules;
        if policy_changed {
            self.sessions.clear();
        }
        let tunnel_interfaces =
            compare_interfaces(&self.config.tunnel_interfaces, &config.tunnel_interfaces);
        let (routes_added, routes_removed) = compare_routes(
            &self.config.static_routes,
            &config.static_routes,
            &tunnel_interfaces.changed,
        );
        let gone_gateway = |g: &String| !ike.gateways.kept.contains(g);
        self.reconnect.retain(|g| !gone_gateway(g));
        self.config = config;
        self.warnings = warnings;
        self.interfaces = interfaces;
        self.routes = routes;
        self.policy = policy;
        self.monitors = monitors;
        self.tunnel_ids = tunnel_ids;
        self.after(now);

        let cfg = self.endpoint.config();
        let initiating: Vec<String> = ike
            .tunnels
            .changed
            .iter()
            .chain(&ike.tunnels.added)
            .filter(|t| {
                cfg.tunnel(t)
                    .and_then(|t| cfg.gateway(&t.gateway))
                    .is_some_and(|g| !g.passive && g.peer_addr.is_some())
            })
            .cloned()
            .collect();
        let mut initiated = Vec::new();
        for t in initiating {
            // Only a provider without the gateway's IKE algorithms refuses it here.
            if self
                .endpoint
                .with_spis(&mut self.table)
                .connect(now, &t)
                .is_ok()
            {
                initiated.push(t);
            }
        }
        self.after(now);
        Ok(Reload {
            gateways: ike.gateways.into(),
            tunnels: ike.tunnels.into(),
            tunnel_interfaces,
            routes_added,
            routes_removed,
            policy_changed,
            initiated,
        })
    }
}

/// Keeps the state of every monitor whose tunnel is kept and whose settings are the same;
/// the others start afresh, with probe identifiers none of the kept ones uses.
fn carry_monitors(old: &[Monitor], new: &mut [Monitor], kept_tunnel: &dyn Fn(&str) -> bool) {
    let mut carried = vec![false; new.len()];
    for (i, m) in new.iter_mut().enumerate() {
        let same = old.iter().find(|o| {
            kept_tunnel(&o.tunnel)
                && o.tunnel == m.tunnel
                && o.source == m.source
                && o.destination == m.destination
                && o.interval == m.interval
                && o.threshold == m.threshold
                && o.action == m.action
        });
        if let Some(o) = same {
            let interface = m.interface;
            *m = o.clone();
            m.interface = interface;
            carried[i] = true;
        }
    }
    let mut used: Vec<u16> = new
        .iter()
        .zip(&carried)
        .filter(|(_, c)| **c)
        .map(|(m, _)| m.ident)
        .collect();
    for (m, _) in new.iter_mut().zip(&carried).filter(|(_, c)| !**c) {
        while used.contains(&m.ident) {
            m.ident = m.ident.wrapping_add(1);
        }
        used.push(m.ident);
    }
}

/// Sorts tunnel interfaces by what became of them; the comment alone does not change one.
fn compare_interfaces(old: &[TunnelInterface], new: &[TunnelInterface]) -> Names {
    let same = |a: &TunnelInterface, b: &TunnelInterface| {
        a.ip == b.ip
            && a.ipv6 == b.ipv6
            && a.mtu == b.mtu
            && a.zone == b.zone
            && a.virtual_router == b.virtual_router
    };
    let mut out = Names::default();
    for t in new {
        match old.iter().find(|o| o.name == t.name) {
            None => out.added.push(t.name.clone()),
            Some(o) if same(o, t) => out.kept.push(t.name.clone()),
            Some(_) => out.changed.push(t.name.clone()),
        }
    }
    out.removed = old
        .iter()
        .filter(|o| !new.iter().any(|t| t.name == o.name))
        .map(|o| o.name.clone())
        .collect();
    out
}

/// The static routes to install and to remove: new or gone ones, those that differ, and those
/// through a tunnel interface in `recreated`.
fn compare_routes(
    old: &[StaticRoute],
    new: &[StaticRoute],
    recreated: &[String],
) -> (Vec<String>, Vec<String>) {
    let through_recreated = |r: &StaticRoute| {
        r.interface
            .as_ref()
            .is_some_and(|i| recreated.iter().any(|c| c == i))
    };
    let added = new
        .iter()
        .filter(|r| !old.contains(r) || through_recreated(r))
        .map(|r| r.name.clone())
        .collect();
    let removed = old
        .iter()
        .filter(|r| !new.contains(r) || through_recreated(r))
        .map(|r| r.name.clone())
        .collect();
    (added, removed)
}
