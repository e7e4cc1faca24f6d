//! `reload`: the configuration file read again and committed to the running daemon, as PAN-OS
//! commits a candidate configuration.
//!
//! A file that does not load is refused with every error, and the daemon runs on with the old
//! configuration. Otherwise [`Gateway::reconfigure`](gateway::Gateway::reconfigure) applies it
//! (unchanged tunnels keep their SAs), then the host follows: the kernel routes of removed
//! and changed static routes go, the TUN devices of removed and changed tunnel interfaces are
//! deleted, those of added and changed ones created, and the new routes installed.

use super::{io, netlink, tun, Daemon, Shared};
use crate::Response;
use gateway::{Config, Reload};
use std::fmt::Write as _;

/// Reads the configuration file again and commits it.
pub(crate) async fn reload(daemon: &Shared) -> Response {
    let path = daemon.borrow().config_path.clone();
    let file = path.display().to_string();
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(errors) => {
            let errors: Vec<String> = errors.iter().map(|e| format!("{file}: {e}")).collect();
            return refused(&file, errors);
        }
    };
    let (report, old_tuns, nl) = {
        let mut d = daemon.borrow_mut();
        let now = d.now();
        let report = match d.gw.reconfigure(now, config) {
            Ok(r) => r,
            Err(e) => {
                drop(d);
                return refused(&file, vec![format!("{file}: {e}")]);
            }
        };
        for w in d.gw.warnings() {
            tracing::warn!("config: {w}");
        }
        let gone = |name: &str| {
            report.tunnel_interfaces.removed.iter().any(|n| n == name)
                || report.tunnel_interfaces.changed.iter().any(|n| n == name)
        };
        let names: Vec<String> = d.tuns.iter().map(|t| t.name.clone()).collect();
        let (old, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut d.tuns)
            .into_iter()
            .partition(|t| gone(&t.name));
        d.tuns = kept;
        d.renumber(&names);
        d.flush();
        (report, old, d.nl.clone())
    };
    // Routes first, then the devices they go through.
    let removed: Vec<_> = {
        let mut d = daemon.borrow_mut();
        let (gone, kept) = std::mem::take(&mut d.routes)
            .into_iter()
            .partition(|(name, _)| report.routes_removed.contains(name));
        d.routes = kept;
        gone
    };
    netlink::remove_routes(&nl, removed.iter().map(|(_, r)| r)).await;
    for t in old_tuns {
        tracing::info!("interface {} (TUN device {}) removed", t.name, t.ifname);
        tun::delete(t).await;
    }
    let mut problems: Vec<String> = {
        let d = daemon.borrow();
        d.sockets
            .unbound(d.gw.config())
            .into_iter()
            .map(|(g, ip)| {
                format!(
                    "ike-gateway {g}: local address {ip} has no socket (they are bound at start); \
                     restart the daemon to use it"
                )
            })
            .collect()
    };
    {
        let mut d = daemon.borrow_mut();
        let added: Vec<(usize, ipsec_core::config::TunnelInterface)> =
            d.gw.config()
                .tunnel_interfaces
                .iter()
                .enumerate()
                .filter(|(_, t)| {
                    report.tunnel_interfaces.added.contains(&t.name)
                        || report.tunnel_interfaces.changed.contains(&t.name)
                })
                .map(|(i, t)| (i, t.clone()))
                .collect();
        for (position, t) in added {
            match tun::create(&d.gw, position, &t) {
                Ok(Some(mut created)) => {
                    io::spawn_tun_reader(daemon, &mut created);
                    d.tuns.push(created);
                }
                Ok(None) => {}
                Err(e) => problems.push(e),
            }
        }
        let names: Vec<String> = d.tuns.iter().map(|t| t.name.clone()).collect();
        d.renumber(&names);
    }
    let wanted: Vec<_> = {
        let d = daemon.borrow();
        d.gw.config()
            .static_routes
            .iter()
            .filter(|r| report.routes_added.contains(&r.name))
            .cloned()
            .collect()
    };
    for r in &wanted {
        // The devices are not held across the await: a copy of what the route needs.
        let tuns = daemon.borrow().tun_indexes();
        match netlink::install_route(&nl, r, &tuns).await {
            Ok(Some(msg)) => daemon.borrow_mut().routes.push((r.name.clone(), msg)),
            Ok(None) => {}
            Err(e) => problems.push(e),
        }
    }
    let mut d = daemon.borrow_mut();
    d.flush();
    let text = commit_text(&file, &report, &problems);
    for line in text.lines() {
        if problems.is_empty() {
            tracing::info!("commit: {line}");
        } else {
            tracing::warn!("commit: {line}");
        }
    }
    Response {
        text,
        data: serde_json::json!({
            "file": file,
            "result": if problems.is_empty() { "ok" } else { "partial" },
            "changes": report,
            "problems": problems,
        }),
        error: None,
        errors: Vec::new(),
    }
}

/// The answer to a configuration that does not load: every error, and the old one runs on.
fn refused(file: &str, errors: Vec<String>) -> Response {
    for e in &errors {
        tracing::error!("commit: {e}");
    }
    tracing::error!(
        "commit: configuration {file} failed validation ({} errors); the running \
         configuration is unchanged",
        errors.len()
    );
    Response {
        text: String::new(),
        data: serde_json::json!({ "file": file, "result": "failed", "errors": errors }),
        error: Some(format!(
            "commit failed: {} errors; the running configuration is unchanged",
            errors.len()
        )),
        errors,
    }
}

/// What `reload` prints, and the daemon logs, line by line.
fn commit_text(file: &str, r: &Reload, problems: &[String]) -> String {
    let mut t = String::new();
    let kinds = [
        ("ike-gateway", &r.gateways),
        ("ipsec-tunnel", &r.tunnels),
        ("tunnel-interface", &r.tunnel_interfaces),
    ];
    if problems.is_empty() {
        let _ = writeln!(t, "Configuration {file} committed successfully.");
    } else {
        let _ = writeln!(
            t,
            "Configuration {file} committed with {} problems on this host:",
            problems.len()
        );
        for p in problems {
            let _ = writeln!(t, "  {p}");
        }
    }
    for (kind, n) in kinds {
        let _ = write!(
            t,
            "{kind}: {} unchanged, {} changed, {} added, {} removed",
            n.kept.len(),
            n.changed.len(),
            n.added.len(),
            n.removed.len()
        );
        let named: Vec<String> = [
            ("changed", &n.changed),
            ("added", &n.added),
            ("removed", &n.removed),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(what, v)| format!("{what} {}", v.join(" ")))
        .collect();
        if named.is_empty() {
            let _ = writeln!(t, ".");
        } else {
            let _ = writeln!(t, " ({}).", named.join("; "));
        }
    }
    let _ = writeln!(
        t,
        "static-route: {} installed, {} removed; zones, security and NAT rules {}.",
        r.routes_added.len(),
        r.routes_removed.len(),
        if r.policy_changed {
            "changed (sessions cleared)"
        } else {
            "unchanged"
        }
    );
    if !r.initiated.is_empty() {
        let _ = writeln!(t, "Initiating tunnels {}.", r.initiated.join(" "));
    }
    t
}

impl Daemon {
    /// Looks the gateway's interface ids up again after a reconfiguration, and moves the
    /// inbound SPI -> device map to the devices' new positions (`before` are the devices'
    /// names in their old order).
    fn renumber(&mut self, before: &[String]) {
        for t in &mut self.tuns {
            if let Some(id) = self.gw.interface(&t.name) {
                t.id = id;
            }
        }
        for l in &mut self.lans {
            if let Some(id) = self.gw.interface(&l.name) {
                l.id = id;
            }
        }
        let tuns = &self.tuns;
        self.spi_tun = std::mem::take(&mut self.spi_tun)
            .into_iter()
            .filter_map(|(spi, i)| {
                let name = before.get(i)?;
                let now = tuns.iter().position(|t| t.name == *name)?;
                Some((spi, now))
            })
            .collect();
        // Child SAs installed while their device did not exist yet.
        let now = self.now();
        let config = self.gw.config();
        for sa in self.gw.show_ipsec_sa(now).sas {
            let device = config
                .ipsec_tunnels
                .iter()
                .find(|t| t.name == sa.tunnel)
                .and_then(|t| tuns.iter().position(|d| d.name == t.tunnel_interface));
            if let Some(i) = device {
                self.spi_tun.entry(sa.spi_in).or_insert(i);
            }
        }
    }

    /// The devices' configured names, Linux names and indexes, for installing routes.
    fn tun_indexes(&self) -> Vec<netlink::Device> {
        self.tuns.iter().map(netlink::Device::of).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway::Names;

    #[test]
    fn the_commit_text_names_what_changed() {
        let r = Reload {
            gateways: Names {
                kept: vec!["gw-b".into()],
                ..Names::default()
            },
            tunnels: Names {
                kept: vec!["to-b".into()],
                added: vec!["to-b-2".into()],
                removed: vec!["old".into()],
                ..Names::default()
            },
            routes_added: vec!["to-b-lan2".into()],
            initiated: vec!["to-b-2".into()],
            ..Reload::default()
        };
        let t = commit_text("a.toml", &r, &[]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "Configuration a.toml committed successfully.");
        assert_eq!(
            lines[1],
            "ike-gateway: 1 unchanged, 0 changed, 0 added, 0 removed."
        );
        assert_eq!(
            lines[2],
            "ipsec-tunnel: 1 unchanged, 0 changed, 1 added, 1 removed (added to-b-2; removed old)."
        );
        assert_eq!(
            lines[4],
            "static-route: 1 installed, 0 removed; zones, security and NAT rules unchanged."
        );
        assert_eq!(lines[5], "Initiating tunnels to-b-2.");
        let t = commit_text("a.toml", &r, &["ike-gateway x: no socket".into()]);
        assert!(t.starts_with(
            "Configuration a.toml committed with 1 problems on this host:\n  ike-gateway x: no socket\n"
        ));
    }
}
