//! The control socket: one JSON request line in, one JSON response line out, per connection.
//!
//! The response carries both the table PAN-OS's CLI would print and the data behind it, so the
//! client prints either without a second round trip. The socket is the daemon's only
//! administrative entry point and is created mode 0600.

use super::{Daemon, Shared};
use crate::{Request, Response};
use gateway::counters::DropReason;
use gateway::routing::Route;
use serde::Serialize;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// A request longer than this is not one of ours.
const MAX_REQUEST: u64 = 64 * 1024;

/// Binds the control socket at `path`, replacing a stale one.
pub(crate) fn listen(path: &Path) -> Result<UnixListener, String> {
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(format!(
            "another daemon answers on {} (use --control for a second one)",
            path.display()
        ));
    }
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path)
        .map_err(|e| format!("cannot create the control socket {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("control socket {}: {e}", path.display()))?;
    Ok(l)
}

/// Accepts control connections until the daemon stops.
pub(crate) async fn serve(daemon: Shared, listener: UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::task::spawn_local(connection(daemon.clone(), stream));
            }
            Err(e) => tracing::warn!("control socket: {e}"),
        }
    }
}

async fn connection(daemon: Shared, stream: UnixStream) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST));
    if reader.read_line(&mut line).await.is_err() {
        return;
    }
    let response = match serde_json::from_str::<Request>(&line) {
        // It awaits netlink and the TUN devices, so it cannot run under the borrow.
        Ok(Request::Reload) => super::reload::reload(&daemon).await,
        Ok(r) => daemon.borrow_mut().execute(r),
        Err(e) => Response {
            error: Some(format!("not a request: {e}")),
            ..Response::default()
        },
    };
    let mut out = serde_json::to_string(&response).unwrap_or_default();
    out.push('\n');
    let _ = write.write_all(out.as_bytes()).await;
}

/// One IPsec tunnel in `show vpn flow`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Flow {
    id: usize,
    name: String,
    gateway: String,
    state: &'static str,
    local: Option<String>,
    peer: Option<String>,
    interface: String,
    device: Option<String>,
    child_sas: usize,
    packets_in: u64,
    packets_out: u64,
    bytes_in: u64,
    bytes_out: u64,
}

impl Daemon {
    /// Carries out an operational command.
    pub(crate) fn execute(&mut self, request: Request) -> Response {
        let now = self.now();
        let r = match request {
            Request::ShowIkeSa { gateway } => {
                let sas: Vec<_> = self
                    .gw
                    .show_ike_sa(now)
                    .into_iter()
                    .filter(|s| gateway.as_ref().is_none_or(|g| *g == s.gateway))
                    .collect();
                let mut text = String::new();
                for s in &sas {
                    let _ = write!(text, "{s}");
                }
                let _ = writeln!(text, "Show IKE SA: Total {} IKE SAs found.", sas.len());
                Ok((text, serde_json::to_value(&sas)))
            }
            Request::ShowIpsecSa { tunnel } => {
                let mut table = self.gw.show_ipsec_sa(now);
                table
                    .sas
                    .retain(|s| tunnel.as_ref().is_none_or(|t| *t == s.tunnel));
                Ok((table.to_string(), serde_json::to_value(&table)))
            }
            Request::ShowFlow => {
                let flows = self.flows();
                Ok((flow_table(&flows), serde_json::to_value(&flows)))
            }
            Request::ShowCounterGlobal => {
                let c = *self.gw.counters();
                let table = self.gw.show_ipsec_sa(now);
                let mut text = c.to_string();
                for (name, n) in &table.esp_drops {
                    let _ = writeln!(text, "{name:<32}{n:>12}  ESP datapath drop");
                }
                let drops: std::collections::BTreeMap<&str, u64> = DropReason::ALL
                    .iter()
                    .map(|r| (r.name(), c.dropped(*r)))
                    .collect();
                let data = serde_json::json!({
                    "counters": c,
                    "drops": drops,
                    "esp_drops": table.esp_drops,
                });
                Ok((text, Ok(data)))
            }
            Request::ShowRoutingRoute => {
                let routes = self.gw.show_routes();
                Ok((route_table(&routes), serde_json::to_value(&routes)))
            }
            Request::TestIkeSa { gateway } => self.test_ike(now, &gateway),
            Request::TestIpsecSa { tunnel } => self
                .gw
                .connect(now, &tunnel)
                .map(|()| {
                    (
                        format!("Initiate IPSec SA negotiation for tunnel {tunnel}.\n"),
                        Ok(serde_json::Value::Null),
                    )
                })
                .map_err(|e| e.to_string()),
            Request::ClearIkeSa { gateway } => self
                .gw
                .delete_ike(now, &gateway)
                .map(|()| {
                    (
                        format!("Delete IKE SA of gateway {gateway}.\n"),
                        Ok(serde_json::Value::Null),
                    )
                })
                .map_err(|e| e.to_string()),
            Request::Reload => Err("reload is not a synchronous command".to_owned()),
            Request::ClearIpsecSa { tunnel } => self
                .gw
                .delete_child(now, &tunnel)
                .map(|()| {
                    (
                        format!("Delete IPSec SAs of tunnel {tunnel}.\n"),
                        Ok(serde_json::Value::Null),
                    )
                })
                .map_err(|e| e.to_string()),
        };
        self.flush();
        match r {
            Ok((text, Ok(data))) => Response {
                text,
                data,
                ..Response::default()
            },
            Ok((_, Err(e))) => Response {
                error: Some(e.to_string()),
                ..Response::default()
            },
            Err(e) => Response {
                error: Some(e),
                ..Response::default()
            },
        }
    }

    /// `test vpn ike-sa gateway NAME`: every tunnel of the gateway, which brings up its IKE SA.
    #[allow(clippy::type_complexity)]
    fn test_ike(
        &mut self,
        now: gateway::Instant,
        gateway: &str,
    ) -> Result<(String, serde_json::Result<serde_json::Value>), String> {
        let cfg = self.gw.config();
        if !cfg.ike_gateways.iter().any(|g| g.name == gateway) {
            return Err(format!("no ike-gateway {gateway:?}"));
        }
        let tunnels: Vec<String> = cfg
            .ipsec_tunnels
            .iter()
            .filter(|t| t.ike_gateway.as_deref() == Some(gateway))
            .map(|t| t.name.clone())
            .collect();
        for t in &tunnels {
            self.gw.connect(now, t).map_err(|e| e.to_string())?;
        }
        Ok((
            format!(
                "Initiate IKE SA negotiation for gateway {gateway} ({} tunnels).\n",
                tunnels.len()
            ),
            Ok(serde_json::Value::Null),
        ))
    }

    /// `show vpn flow`: each IPsec tunnel, its state and counters.
    fn flows(&self) -> Vec<Flow> {
        let now = self.now();
        let ike = self.gw.show_ike_sa(now);
        let sas = self.gw.show_ipsec_sa(now).sas;
        self.gw
            .config()
            .ipsec_tunnels
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let gateway = t.ike_gateway.clone().unwrap_or_default();
                let mine: Vec<_> = sas.iter().filter(|s| s.tunnel == t.name).collect();
                let ike_sa = ike.iter().find(|s| s.gateway == gateway && s.established);
                Flow {
                    id: i + 1,
                    name: t.name.clone(),
                    state: if mine.iter().any(|s| !s.replaced) {
                        "active"
                    } else {
                        "init"
                    },
                    local: ike_sa.map(|s| s.local.to_string()),
                    peer: ike_sa.map(|s| s.remote.to_string()),
                    interface: t.tunnel_interface.clone(),
                    device: self
                        .tuns
                        .iter()
                        .find(|d| d.name == t.tunnel_interface)
                        .map(|d| d.ifname.clone()),
                    child_sas: mine.len(),
                    packets_in: mine.iter().map(|s| s.packets_in).sum(),
                    packets_out: mine.iter().map(|s| s.packets_out).sum(),
                    bytes_in: mine.iter().map(|s| s.bytes_in).sum(),
                    bytes_out: mine.iter().map(|s| s.bytes_out).sum(),
                    gateway,
                }
            })
            .collect()
    }
}

fn flow_table(flows: &[Flow]) -> String {
    let mut t = format!(
        "{:<5} {:<24} {:<8} {:<24} {:<24} {:<12} {:>4} {:>12} {:>12}\n",
        "id", "name", "state", "local-ip", "peer-ip", "interface", "SAs", "pkts-in", "pkts-out"
    );
    for f in flows {
        let _ = writeln!(
            t,
            "{:<5} {:<24} {:<8} {:<24} {:<24} {:<12} {:>4} {:>12} {:>12}",
            f.id,
            f.name,
            f.state,
            f.local.as_deref().unwrap_or("-"),
            f.peer.as_deref().unwrap_or("-"),
            f.interface,
            f.child_sas,
            f.packets_in,
            f.packets_out
        );
    }
    let _ = writeln!(t, "Total {} tunnels.", flows.len());
    t
}

fn route_table(routes: &[Route]) -> String {
    let mut t = String::from("flags: A:active, C:connect, S:static, W:withdrawn, D:discard\n\n");
    let _ = writeln!(
        t,
        "{:<16} {:<43} {:<24} {:>6} {:<5} {:<16} name",
        "VIRTUAL-ROUTER", "destination", "nexthop", "metric", "flags", "interface"
    );
    for r in routes {
        let mut flags = String::new();
        if !r.withdrawn && !r.discard {
            flags.push('A');
        }
        flags.push(if r.connected { 'C' } else { 'S' });
        if r.withdrawn {
            flags.push('W');
        }
        if r.discard {
            flags.push('D');
        }
        let _ = writeln!(
            t,
            "{:<16} {:<43} {:<24} {:>6} {:<5} {:<16} {}",
            r.virtual_router,
            r.destination,
            r.next_hop.map_or_else(|| "-".to_owned(), |h| h.to_string()),
            r.metric,
            flags,
            r.interface.as_deref().unwrap_or("-"),
            r.name
        );
    }
    let _ = writeln!(t, "total routes shown: {}", routes.len());
    t
}
