//! The kernel's routing table and interface addresses, through rtnetlink.
//!
//! The static routes toward tunnel interfaces are installed with a routing protocol number of
//! their own ([`PROTOCOL`]): `ip route show proto 199` lists them, and a daemon starting after a
//! crash removes exactly those its predecessor left.

use super::tun::Tun;
use futures_util::TryStreamExt;
use gateway::Config;
use ipsec_core::config::StaticRoute;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::route::{RouteMessage, RouteProtocol};
use rtnetlink::{Handle, RouteMessageBuilder};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The routing protocol number of our routes (`/etc/iproute2/rt_protos` leaves it unassigned).
pub(crate) const PROTOCOL: u8 = 199;

/// A netlink connection.
#[derive(Clone)]
pub(crate) struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens the connection; its I/O runs as a task of the current runtime.
    pub(crate) fn connect() -> Result<Netlink, String> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| format!("cannot open netlink: {e}"))?;
        tokio::task::spawn_local(conn);
        Ok(Netlink { handle })
    }

    /// The addresses of the Linux device `dev`, with their prefix lengths.
    pub(crate) async fn addresses(&self, dev: &str) -> Result<Vec<(IpAddr, u8)>, String> {
        let link = self
            .handle
            .link()
            .get()
            .match_name(dev.to_owned())
            .execute()
            .try_next()
            .await
            .map_err(|e| format!("no interface {dev} on this host ({e})"))?
            .ok_or_else(|| format!("no interface {dev} on this host"))?;
        let mut out = Vec::new();
        let mut addrs = self
            .handle
            .address()
            .get()
            .set_link_index_filter(link.header.index)
            .execute();
        while let Some(a) = addrs
            .try_next()
            .await
            .map_err(|e| format!("addresses of {dev}: {e}"))?
        {
            let local = a.attributes.iter().find_map(|x| match x {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let addr = local.or_else(|| {
                a.attributes.iter().find_map(|x| match x {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            });
            if let Some(ip) = addr {
                out.push((ip, a.header.prefix_len));
            }
        }
        Ok(out)
    }

    /// Removes every route of ours from the kernel; returns how many.
    pub(crate) async fn flush_routes(&self) -> Result<usize, String> {
        let mut ours = Vec::new();
        for filter in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let mut routes = self.handle.route().get(filter).execute();
            while let Some(r) = routes
                .try_next()
                .await
                .map_err(|e| format!("cannot read the routing table: {e}"))?
            {
                if r.header.protocol == RouteProtocol::Other(PROTOCOL) {
                    ours.push(r);
                }
            }
        }
        let n = ours.len();
        remove_routes(self, &ours).await;
        Ok(n)
    }
}

/// What a route needs of a TUN device.
#[derive(Clone, Debug)]
pub(crate) struct Device {
    /// The configured name (`tunnel.1`).
    pub(crate) name: String,
    /// The Linux name.
    pub(crate) ifname: String,
    /// The Linux interface index.
    pub(crate) index: u32,
}

impl Device {
    pub(crate) fn of(t: &Tun) -> Device {
        Device {
            name: t.name.clone(),
            ifname: t.ifname.clone(),
            index: t.index,
        }
    }
}

/// Installs every static route whose interface is a tunnel interface, through its TUN device;
/// returns them by static-route name.
pub(crate) async fn install_routes(
    nl: &Netlink,
    config: &Config,
    tuns: &[Tun],
) -> Result<Vec<(String, RouteMessage)>, String> {
    let devices: Vec<Device> = tuns.iter().map(Device::of).collect();
    let mut out = Vec::new();
    for r in &config.static_routes {
        if let Some(msg) = install_route(nl, r, &devices).await? {
            out.push((r.name.clone(), msg));
        }
    }
    Ok(out)
}

/// Installs static route `r` when its interface is a tunnel interface, through its TUN
/// device; `None` for a route through another interface.
pub(crate) async fn install_route(
    nl: &Netlink,
    r: &StaticRoute,
    tuns: &[Device],
) -> Result<Option<RouteMessage>, String> {
    let Some(tun) = r
        .interface
        .as_deref()
        .and_then(|i| tuns.iter().find(|t| t.name == i))
    else {
        return Ok(None);
    };
    let prefix = r.destination;
    let msg = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(prefix.network(), prefix.prefix_len())
        .map_err(|e| format!("static-route {}: {e}", r.name))?
        .output_interface(tun.index)
        .protocol(RouteProtocol::Other(PROTOCOL))
        .priority(r.metric)
        .build();
    nl.handle
        .route()
        .add(msg.clone())
        .replace()
        .execute()
        .await
        .map_err(|e| {
            format!(
                "static-route {}: cannot install {}/{} via {}: {e}",
                r.name,
                prefix.network(),
                prefix.prefix_len(),
                tun.ifname
            )
        })?;
    tracing::info!(
        "route {}/{} via {} installed (static-route {}, metric {})",
        prefix.network(),
        prefix.prefix_len(),
        tun.ifname,
        r.name,
        r.metric
    );
    Ok(Some(msg))
}

/// Removes `routes`; a route already gone (its device deleted) is not an error.
pub(crate) async fn remove_routes<'a>(
    nl: &Netlink,
    routes: impl IntoIterator<Item = &'a RouteMessage>,
) {
    for r in routes {
        if let Err(e) = nl.handle.route().del(r.clone()).execute().await {
            tracing::debug!("route removal: {e}");
        }
    }
}
