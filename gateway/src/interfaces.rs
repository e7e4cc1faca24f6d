//! The gateway's interfaces: every `tunnel.N` of the configuration, and every other interface a
//! zone or a static route names (`ethernet1/2`), with its zone, virtual router and addresses.
//!
//! Tunnel interfaces take their addresses from the configuration; the addresses of the other
//! layer-3 interfaces are the embedder's (the configuration names them only as zone members),
//! given with [`Gateway::set_interface_address`](crate::Gateway::set_interface_address). An
//! interface's addresses make its connected route, and packets addressed to them are for the
//! gateway itself.

use ipsec_core::config::{Config, InterfaceAddress};
use serde::Serialize;
use std::net::IpAddr;

/// An interface known to the gateway, from [`Gateway::interface`](crate::Gateway::interface).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct InterfaceId(pub(crate) u16);

impl InterfaceId {
    pub(crate) fn index(self) -> usize {
        usize::from(self.0)
    }

    /// The id as a number, for embedders that keep it outside Rust (the C ABI); turn it back
    /// with [`Gateway::interface_at`](crate::Gateway::interface_at).
    pub const fn get(self) -> u16 {
        self.0
    }
}

/// One interface.
#[derive(Clone, Debug)]
pub(crate) struct Interface {
    pub(crate) name: String,
    /// Index into the configuration's zones.
    pub(crate) zone: Option<usize>,
    pub(crate) virtual_router: String,
    pub(crate) addresses: Vec<InterfaceAddress>,
    /// For a tunnel interface, the `ipsec-tunnel` bound to it (`None` when none is enabled).
    pub(crate) tunnel: Option<String>,
    pub(crate) is_tunnel: bool,
}

/// All interfaces, indexed by [`InterfaceId`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Interfaces {
    pub(crate) list: Vec<Interface>,
}

impl Interfaces {
    /// The interfaces `config` names. `runnable(tunnel)` says whether an `ipsec-tunnel` is
    /// negotiated by the IKE endpoint (an enabled auto-key IKEv2 tunnel).
    pub(crate) fn from_config(
        config: &Config,
        runnable: impl Fn(&str) -> bool,
        warnings: &mut Vec<crate::Warning>,
    ) -> Interfaces {
        let zone_index = |name: &str| {
            config
                .zone_of(name)
                .and_then(|z| config.zones.iter().position(|o| o.name == z.name))
        };
        let mut out = Interfaces::default();
        for t in &config.tunnel_interfaces {
            let bound: Vec<&str> = config
                .ipsec_tunnels
                .iter()
                .filter(|i| i.tunnel_interface == t.name && !i.disabled && runnable(&i.name))
                .map(|i| i.name.as_str())
                .collect();
            if bound.len() > 1 {
                warnings.push(crate::Warning::new(
                    format!("tunnel-interface \"{}\"", t.name),
                    format!(
                        "ipsec-tunnels {} are bound to it; routed packets go to \"{}\"",
                        bound.join(", "),
                        bound[0]
                    ),
                ));
            }
            out.list.push(Interface {
                name: t.name.clone(),
                zone: zone_index(&t.name),
                virtual_router: t.virtual_router.clone(),
                addresses: t.ip.into_iter().chain(t.ipv6).collect(),
                tunnel: bound.first().map(|s| (*s).to_owned()),
                is_tunnel: true,
            });
        }
        let named = config.zones.iter().flat_map(|z| z.interfaces.iter()).chain(
            config
                .static_routes
                .iter()
                .filter_map(|r| r.interface.as_ref()),
        );
        for name in named {
            if out.by_name(name).is_none() {
                out.list.push(Interface {
                    name: name.clone(),
                    zone: zone_index(name),
                    virtual_router: "default".into(),
                    addresses: Vec::new(),
                    tunnel: None,
                    is_tunnel: false,
                });
            }
        }
        out
    }

    /// The interface named `name`.
    pub(crate) fn by_name(&self, name: &str) -> Option<InterfaceId> {
        self.list
            .iter()
            .position(|i| i.name == name)
            .and_then(|i| u16::try_from(i).ok())
            .map(InterfaceId)
    }

    pub(crate) fn get(&self, id: InterfaceId) -> Option<&Interface> {
        self.list.get(id.index())
    }

    /// The interface that owns address `ip`: packets to it are for the gateway itself.
    pub(crate) fn owner_of(&self, ip: IpAddr) -> Option<InterfaceId> {
        self.list
            .iter()
            .position(|i| i.addresses.iter().any(|a| a.addr == ip))
            .and_then(|i| u16::try_from(i).ok())
            .map(InterfaceId)
    }

    /// The tunnel interface `tunnel` is bound to.
    pub(crate) fn of_tunnel(&self, tunnel: &str) -> Option<InterfaceId> {
        self.list
            .iter()
            .position(|i| i.tunnel.as_deref() == Some(tunnel))
            .and_then(|i| u16::try_from(i).ok())
            .map(InterfaceId)
    }
}
