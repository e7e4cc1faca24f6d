//! The kernel's routing table and interface addresses, through rtnetlink.
//!
//! The static routes toward tunnel interfaces are installed with a routing protocol number of
//! their own ([`PROTOCOL`]): `ip route show proto 199` lists them, and a daemon starting after a
//! crash removes exactly those its predecessor left.

use super::tun::Tun;
use futures_util::TryStreamExt;
use gateway::Config;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::route::{RouteMessage, RouteProtocol};
use rtnetlink::{Handle, RouteMessageBuilder};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The routing protocol number of our routes (`/etc/iproute2/rt_protos` leaves it unassigned).
pub(crate) const PROTOCOL: u8 = 199;

/// A netlink connection.
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

/// Installs every static route whose interface is a tunnel interface, through its TUN device.
pub(crate) async fn install_routes(
    nl: &Netlink,
    config: &Config,
    tuns: &[Tun],
) -> Result<Vec<RouteMessage>, String> {
    let mut out = Vec::new();
    for r in &config.static_routes {
        let Some(tun) = r
            .interface
            .as_deref()
            .and_then(|i| tuns.iter().find(|t| t.name == i))
        else {
            continue;
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
        out.push(msg);
    }
    Ok(out)
}

/// Removes `routes`; a route already gone (its device deleted) is not an error.
pub(crate) async fn remove_routes(nl: &Netlink, routes: &[RouteMessage]) {
    for r in routes {
        if let Err(e) = nl.handle.route().del(r.clone()).execute().await {
            tracing::debug!("route removal: {e}");
        }
    }
}
