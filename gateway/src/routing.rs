//! The virtual routers: static routes and connected routes, looked up as PAN-OS does.
//!
//! A lookup takes the routes of the ingress interface's virtual router that cover the
//! destination and are not withdrawn, and picks the longest prefix; among equal prefixes the
//! lowest metric; among equal metrics the route configured first. Connected routes (the subnet
//! of an interface address) have metric 0. A route through a tunnel interface needs no next
//! hop: the interface is the path.
//!
//! The tunnel monitor's `fail-over` action withdraws every route through the tunnel interface,
//! so a backup route (another tunnel, a higher metric) carries the traffic, and restores them
//! when the monitor sees the destination again.

use crate::interfaces::{InterfaceId, Interfaces};
use crate::Warning;
use ipsec_core::config::{Config, InterfaceAddress, Nexthop};
use ipsec_core::selector::IpPrefix;
use serde::Serialize;
use std::net::IpAddr;

/// One route of a virtual router.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The static route's name, or `connected` for an interface's subnet.
    pub name: String,
    /// The virtual router holding it.
    pub virtual_router: String,
    /// The destination prefix.
    pub destination: String,
    /// The egress interface, by name (`None` for a discard route or a next hop to resolve).
    pub interface: Option<String>,
    /// The next hop, if any.
    pub next_hop: Option<IpAddr>,
    /// The metric (0 for connected routes).
    pub metric: u32,
    /// A connected route.
    pub connected: bool,
    /// A discard route: matching packets are dropped.
    pub discard: bool,
    /// Withdrawn by a tunnel monitor (`fail-over`): not used until restored.
    pub withdrawn: bool,
}

#[derive(Clone, Debug)]
struct Entry {
    prefix: IpPrefix,
    interface: Option<InterfaceId>,
    shown: Route,
}

/// Where a lookup sends a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NextHop {
    pub(crate) interface: InterfaceId,
    pub(crate) gateway: Option<IpAddr>,
}

/// The routes of every virtual router.
#[derive(Clone, Debug, Default)]
pub(crate) struct RoutingTable {
    entries: Vec<Entry>,
}

/// The connected subnet of an interface address (`169.254.100.1/30` -> `169.254.100.0/30`).
pub(crate) fn connected(a: &InterfaceAddress) -> Option<IpPrefix> {
    let len = a.prefix_len;
    let network = match a.addr {
        IpAddr::V4(v) => {
            let mask = u32::MAX
                .checked_shl(32u32.checked_sub(u32::from(len))?)
                .unwrap_or(0);
            IpAddr::V4((u32::from(v) & mask).into())
        }
        IpAddr::V6(v) => {
            let mask = u128::MAX
                .checked_shl(128u32.checked_sub(u32::from(len))?)
                .unwrap_or(0);
            IpAddr::V6((u128::from(v) & mask).into())
        }
    };
    IpPrefix::new(network, len).ok()
}

impl RoutingTable {
    /// The static routes of `config` and the connected routes of `interfaces`.
    pub(crate) fn build(
        config: &Config,
        interfaces: &Interfaces,
        warnings: &mut Vec<Warning>,
    ) -> RoutingTable {
        let mut t = RoutingTable::default();
        t.add_connected(interfaces);
        for r in &config.static_routes {
            let object = format!("static-route \"{}\"", r.name);
            let (next_hop, discard) = match &r.nexthop {
                None => (None, false),
                Some(Nexthop::IpAddress(ip)) => (Some(*ip), false),
                Some(Nexthop::Discard) => (None, true),
                Some(Nexthop::NextVr(vr)) => {
                    warnings.push(Warning::new(
                        object,
                        format!("next-vr \"{vr}\" is not supported; the route is not installed"),
                    ));
                    continue;
                }
            };
            let interface = r.interface.as_deref().and_then(|n| interfaces.by_name(n));
            t.entries.push(Entry {
                prefix: r.destination,
                interface,
                shown: Route {
                    name: r.name.clone(),
                    virtual_router: r.virtual_router.clone(),
                    destination: r.destination.to_string(),
                    interface: r.interface.clone(),
                    next_hop,
                    metric: r.metric,
                    connected: false,
                    discard,
                    withdrawn: false,
                },
            });
        }
        t
    }

    /// Replaces the connected routes with those of the interfaces' current addresses.
    pub(crate) fn add_connected(&mut self, interfaces: &Interfaces) {
        let withdrawn: Vec<InterfaceId> = self
            .entries
            .iter()
            .filter(|e| e.shown.withdrawn)
            .filter_map(|e| e.interface)
            .collect();
        self.entries.retain(|e| !e.shown.connected);
        let mut conn = Vec::new();
        for (i, ifc) in interfaces.list.iter().enumerate() {
            let Ok(id) = u16::try_from(i).map(InterfaceId) else {
                continue;
            };
            for a in &ifc.addresses {
                let Some(prefix) = connected(a) else { continue };
                conn.push(Entry {
                    prefix,
                    interface: Some(id),
                    shown: Route {
                        name: "connected".into(),
                        virtual_router: ifc.virtual_router.clone(),
                        destination: prefix.to_string(),
                        interface: Some(ifc.name.clone()),
                        next_hop: None,
                        metric: 0,
                        connected: true,
                        discard: false,
                        withdrawn: withdrawn.contains(&id),
                    },
                });
            }
        }
        conn.append(&mut self.entries);
        self.entries = conn;
    }

    /// The best active route in `virtual_router` to `dst`.
    fn best(&self, virtual_router: &str, dst: IpAddr) -> Option<&Entry> {
        let mut best: Option<&Entry> = None;
        for e in &self.entries {
            if e.shown.withdrawn
                || e.shown.virtual_router != virtual_router
                || !e.prefix.contains(dst)
            {
                continue;
            }
            let better = match best {
                None => true,
                Some(b) => {
                    let (l, bl) = (e.prefix.prefix_len(), b.prefix.prefix_len());
                    l > bl || (l == bl && e.shown.metric < b.shown.metric)
                }
            };
            if better {
                best = Some(e);
            }
        }
        best
    }

    /// Where to send a packet for `dst` that arrived in `virtual_router`: `None` when no route
    /// covers it, or the route discards it. A static route with a next hop but no interface
    /// leaves by the interface whose connected route covers the next hop.
    pub(crate) fn lookup(&self, virtual_router: &str, dst: IpAddr) -> Option<NextHop> {
        let e = self.best(virtual_router, dst)?;
        if e.shown.discard {
            return None;
        }
        let interface = match (e.interface, e.shown.next_hop) {
            (Some(i), _) => i,
            (None, Some(gw)) => self
                .best(virtual_router, gw)
                .filter(|c| c.shown.connected)
                .and_then(|c| c.interface)?,
            (None, None) => return None,
        };
        Some(NextHop {
            interface,
            gateway: e.shown.next_hop,
        })
    }

    /// Withdraws (`active == false`) or restores every route through `interface`; the number of
    /// routes that changed.
    pub(crate) fn set_active(&mut self, interface: InterfaceId, active: bool) -> usize {
        let mut n = 0;
        for e in self
            .entries
            .iter_mut()
            .filter(|e| e.interface == Some(interface))
        {
            if e.shown.withdrawn == active {
                e.shown.withdrawn = !active;
                n += 1;
            }
        }
        n
    }

    /// Every route, connected ones first, for `show routing route`.
    pub(crate) fn routes(&self) -> Vec<Route> {
        self.entries.iter().map(|e| e.shown.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipsec_core::config::StaticRoute;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn table(
        routes: &[(&str, &str, &str, u32)],
        addrs: &[(&str, &str)],
    ) -> (RoutingTable, Interfaces) {
        let mut cfg = Config::new();
        for (name, dst, ifc, metric) in routes {
            let mut r = StaticRoute::new(*name, dst.parse().unwrap(), *ifc);
            r.metric = *metric;
            cfg.static_routes.push(r);
        }
        let mut ifs = Interfaces::from_config(&cfg, |_| true, &mut Vec::new());
        for (ifc, a) in addrs {
            let id = ifs.by_name(ifc).unwrap();
            ifs.list[id.index()].addresses.push(a.parse().unwrap());
        }
        let mut t = RoutingTable::build(&cfg, &ifs, &mut Vec::new());
        t.add_connected(&ifs);
        (t, ifs)
    }

    #[test]
    fn longest_prefix_then_metric_then_first() {
        let (t, ifs) = table(
            &[
                ("wide", "10.0.0.0/8", "tunnel.1", 10),
                ("narrow", "10.2.0.0/24", "tunnel.2", 50),
                ("backup", "10.2.0.0/24", "tunnel.3", 20),
                ("same", "10.2.0.0/24", "tunnel.4", 20),
            ],
            &[],
        );
        let via = |d: &str| {
            t.lookup("default", ip(d))
                .map(|h| ifs.get(h.interface).unwrap().name.clone())
        };
        assert_eq!(via("10.9.9.9").as_deref(), Some("tunnel.1"));
        assert_eq!(
            via("10.2.0.7").as_deref(),
            Some("tunnel.3"),
            "metric 20 beats 50; first of two 20s"
        );
        assert_eq!(via("192.168.1.1"), None);
        assert_eq!(t.lookup("other-vr", ip("10.2.0.7")), None);
    }

    #[test]
    fn withdrawn_routes_fall_back_to_the_backup_and_come_back() {
        let (mut t, ifs) = table(
            &[
                ("primary", "10.2.0.0/24", "tunnel.1", 10),
                ("backup", "10.2.0.0/24", "tunnel.2", 100),
            ],
            &[("tunnel.1", "169.254.100.1/30")],
        );
        let t1 = ifs.by_name("tunnel.1").unwrap();
        let t2 = ifs.by_name("tunnel.2").unwrap();
        assert_eq!(t.lookup("default", ip("10.2.0.7")).unwrap().interface, t1);
        assert_eq!(t.set_active(t1, false), 2, "static and connected");
        assert_eq!(t.lookup("default", ip("10.2.0.7")).unwrap().interface, t2);
        assert_eq!(t.lookup("default", ip("169.254.100.2")), None);
        assert!(t
            .routes()
            .iter()
            .filter(|r| r.interface.as_deref() == Some("tunnel.1"))
            .all(|r| r.withdrawn));
        assert_eq!(t.set_active(t1, false), 0);
        assert_eq!(t.set_active(t1, true), 2);
        assert_eq!(t.lookup("default", ip("10.2.0.7")).unwrap().interface, t1);
    }

    #[test]
    fn connected_routes_and_next_hops() {
        let mut cfg = Config::new();
        let mut r = StaticRoute::new("default", "0.0.0.0/0".parse().unwrap(), "x");
        r.interface = None;
        r.nexthop = Some(Nexthop::IpAddress(ip("192.0.2.254")));
        cfg.static_routes.push(r);
        let mut d = StaticRoute::new("blackhole", "10.99.0.0/16".parse().unwrap(), "x");
        d.interface = None;
        d.nexthop = Some(Nexthop::Discard);
        cfg.static_routes.push(d);
        cfg.zones.push(ipsec_core::config::Zone::new(
            "untrust",
            vec!["ethernet1/1".into()],
        ));
        let mut ifs = Interfaces::from_config(&cfg, |_| true, &mut Vec::new());
        let e1 = ifs.by_name("ethernet1/1").unwrap();
        ifs.list[e1.index()]
            .addresses
            .push("192.0.2.1/24".parse().unwrap());
        let mut t = RoutingTable::build(&cfg, &ifs, &mut Vec::new());
        t.add_connected(&ifs);
        let h = t.lookup("default", ip("203.0.113.9")).unwrap();
        assert_eq!((h.interface, h.gateway), (e1, Some(ip("192.0.2.254"))));
        let h = t.lookup("default", ip("192.0.2.77")).unwrap();
        assert_eq!((h.interface, h.gateway), (e1, None), "connected");
        assert_eq!(t.lookup("default", ip("10.99.1.1")), None, "discard");
        assert_eq!(
            connected(&"2001:db8::1/64".parse().unwrap())
                .unwrap()
                .to_string(),
            "2001:db8::/64"
        );
        assert!(connected(&InterfaceAddress {
            addr: ip("10.0.0.1"),
            prefix_len: 33
        })
        .is_none());
    }
}
