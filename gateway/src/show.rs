//! What `show` commands print: the IKE and IPsec SAs, routes, rules with their hits, sessions,
//! tunnel monitors and counters, as plain data.
//!
//! Everything here derives `serde::Serialize` (a control socket can send it as JSON) and holds
//! no key material: SAs are described by SPIs, algorithms, selectors and counters. The text
//! forms (`Display`) follow PAN-OS's `show vpn ike-sa` and `show vpn ipsec-sa`; each row of the
//! IPsec SA table has ten whitespace-free columns before the proxy ID, so scripts can split it.

use crate::counters::Counters;
use crate::error::Warning;
use crate::monitor::MonitorInfo;
use crate::policy::RuleHits;
use crate::routing::Route;
use crate::session::SessionInfo;
use crate::Gateway;
use core::fmt;
use ikev2::Role;
use ipsec_core::selector::TrafficSelector;
use ipsec_core::time::Instant;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// A Child SA under its IKE SA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChildSaRef {
    /// `tunnel:proxy-id`.
    pub name: String,
    /// Our inbound SPI.
    pub spi_in: u32,
    /// The peer's SPI.
    pub spi_out: u32,
    /// ESP in UDP.
    pub udp_encapsulated: bool,
    /// Our selectors.
    pub local_ts: Vec<String>,
    /// The peer's selectors.
    pub remote_ts: Vec<String>,
}

/// One IKE SA (`show vpn ike-sa`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IkeSaInfo {
    /// The `ike-gateway`.
    pub gateway: String,
    /// `Init` or `Resp`.
    pub role: &'static str,
    /// The initiator's SPI.
    pub spi_i: u64,
    /// The responder's SPI.
    pub spi_r: u64,
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's.
    pub remote: SocketAddr,
    /// Authenticated and in use.
    pub established: bool,
    /// The negotiated algorithms.
    pub suite: Option<String>,
    /// NAT detected (or UDP encapsulation forced): IKE and ESP on port 4500.
    pub nat: bool,
    /// Seconds since it was established.
    pub age_secs: Option<u64>,
    /// The IKE lifetime in seconds.
    pub lifetime_secs: Option<u64>,
    /// Its Child SAs.
    pub children: Vec<ChildSaRef>,
}

/// One Child SA with its datapath counters (`show vpn ipsec-sa`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IpsecSaInfo {
    /// `tunnel:proxy-id`.
    pub name: String,
    /// The `ipsec-tunnel`.
    pub tunnel: String,
    /// The proxy ID.
    pub proxy_id: Option<String>,
    /// The `ike-gateway`.
    pub gateway: String,
    /// The peer's address and port (port 0 for raw ESP).
    pub peer: SocketAddr,
    /// `ESP` or `ESP-UDP`, then the suite (`ESP-UDP/aes128gcm16/ecp256`).
    pub algorithm: String,
    /// Our inbound SPI.
    pub spi_in: u32,
    /// The peer's SPI.
    pub spi_out: u32,
    /// Our role in the exchange that created it.
    pub initiator: bool,
    /// Lifetime in seconds.
    pub lifetime_secs: Option<u64>,
    /// Lifesize in kilobytes.
    pub lifesize_kb: Option<u64>,
    /// Seconds since it was installed.
    pub age_secs: u64,
    /// Seconds left of its lifetime.
    pub remain_secs: Option<u64>,
    /// Packets received.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Our selectors.
    pub local_ts: Vec<String>,
    /// The peer's.
    pub remote_ts: Vec<String>,
    /// A newer Child SA of its proxy ID is installed; this one is about to be deleted.
    pub replaced: bool,
}

/// The IPsec SA table as `show vpn ipsec-sa` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IpsecSaTable {
    /// The rows.
    pub sas: Vec<IpsecSaInfo>,
    /// The datapath's drop counters by name (`esp_drop_replay`, ...), non-zero ones only.
    pub esp_drops: BTreeMap<&'static str, u64>,
}

/// Everything `show` knows, in one value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Show {
    /// `show vpn ike-sa`.
    pub ike_sa: Vec<IkeSaInfo>,
    /// `show vpn ipsec-sa`.
    pub ipsec_sa: IpsecSaTable,
    /// `show routing route`.
    pub routes: Vec<Route>,
    /// `show running security-policy`, with hit counts.
    pub security_rules: Vec<RuleHits>,
    /// `show running nat-policy`, with hit counts.
    pub nat_rules: Vec<RuleHits>,
    /// `show session all`.
    pub sessions: Vec<SessionInfo>,
    /// Tunnel monitors.
    pub monitors: Vec<MonitorInfo>,
    /// `show counter global`.
    pub counters: Counters,
    /// What in the configuration runs differently from what it says.
    pub warnings: Vec<Warning>,
}

fn selectors(ts: &[TrafficSelector]) -> Vec<String> {
    ts.iter().map(TrafficSelector::short).collect()
}

impl Gateway {
    /// `show vpn ike-sa`: every IKE SA, established or negotiating.
    pub fn show_ike_sa(&self, now: Instant) -> Vec<IkeSaInfo> {
        let cfg = self.endpoint.config();
        self.endpoint
            .ike_sas()
            .into_iter()
            .map(|sa| IkeSaInfo {
                role: match sa.role {
                    Role::Initiator => "Init",
                    Role::Responder => "Resp",
                },
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
                local: sa.local,
                remote: sa.remote,
                established: sa.established,
                suite: sa.suite.map(|s| s.to_string()),
                nat: sa.nat,
                age_secs: self
                    .ike_up
                    .get(&(sa.gateway.clone(), sa.spi_i))
                    .map(|t| now.saturating_duration_since(*t).as_secs()),
                lifetime_secs: cfg.gateway(&sa.gateway).map(|g| g.ike_lifetime.as_secs()),
                children: sa
                    .children
                    .iter()
                    .map(|c| ChildSaRef {
                        name: match &c.proxy_id {
                            Some(p) => format!("{}:{p}", c.tunnel),
                            None => c.tunnel.clone(),
                        },
                        spi_in: c.inbound_spi,
                        spi_out: c.outbound_spi,
                        udp_encapsulated: c.encapsulation.is_some(),
                        local_ts: selectors(&c.local_ts),
                        remote_ts: selectors(&c.remote_ts),
                    })
                    .collect(),
                gateway: sa.gateway,
            })
            .collect()
    }

    /// `show vpn ipsec-sa`: every installed Child SA, oldest first, with its counters.
    pub fn show_ipsec_sa(&self, now: Instant) -> IpsecSaTable {
        let sas = self
            .children
            .iter()
            .filter(|c| c.live())
            .map(|c| {
                let ch = &c.child;
                let inbound = self
                    .table
                    .inbound_counters(ch.inbound.spi)
                    .unwrap_or_default();
                let outbound = self
                    .table
                    .outbound(c.handle)
                    .map(|o| *o.counters())
                    .unwrap_or_default();
                let age = now.saturating_duration_since(c.at);
                let life = ch.lifetimes.hard_time;
                let encap = if ch.encapsulation.is_some() {
                    "ESP-UDP"
                } else {
                    "ESP"
                };
                IpsecSaInfo {
                    name: c.name(),
                    tunnel: ch.tunnel.clone(),
                    proxy_id: ch.proxy_id.clone(),
                    gateway: c.gateway.clone(),
                    peer: ch.remote_addr,
                    algorithm: format!("{encap}/{}", c.suite),
                    spi_in: ch.inbound.spi,
                    spi_out: ch.outbound.spi,
                    initiator: c.role == Role::Initiator,
                    lifetime_secs: life.map(|l| l.as_secs()),
                    lifesize_kb: ch.lifetimes.hard_bytes.map(|b| b / 1024),
                    age_secs: age.as_secs(),
                    remain_secs: life.map(|l| l.saturating_sub(age).as_secs()),
                    packets_in: inbound.packets,
                    packets_out: outbound.packets,
                    bytes_in: inbound.bytes,
                    bytes_out: outbound.bytes,
                    local_ts: selectors(&ch.local_ts),
                    remote_ts: selectors(&ch.remote_ts),
                    replaced: c.replaced,
                }
            })
            .collect();
        let esp_drops = self
            .table
            .drop_counters()
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| (r.name(), n))
            .collect();
        IpsecSaTable { sas, esp_drops }
    }

    /// `show routing route`: every route, withdrawn ones marked.
    pub fn show_routes(&self) -> Vec<Route> {
        self.routes.routes()
    }

    /// The security rules with their hit counts, then `intrazone-default` and
    /// `interzone-default`.
    pub fn show_security_rules(&self) -> Vec<RuleHits> {
        self.policy.hits()
    }

    /// The NAT rules with their hit counts.
    pub fn show_nat_rules(&self) -> Vec<RuleHits> {
        self.policy.nat_hits()
    }

    /// `show session all`, oldest first.
    pub fn show_sessions(&self, now: Instant) -> Vec<SessionInfo> {
        let zones = &self.policy.zones;
        self.sessions.list(
            now,
            |z| zones.get(z).cloned().unwrap_or_default(),
            |r| self.policy.rule_name(r).to_owned(),
        )
    }

    /// The tunnel monitors.
    pub fn show_monitors(&self) -> Vec<MonitorInfo> {
        self.monitors.iter().map(MonitorInfo::from).collect()
    }

    /// Everything above, in one value.
    pub fn show(&self, now: Instant) -> Show {
        Show {
            ike_sa: self.show_ike_sa(now),
            ipsec_sa: self.show_ipsec_sa(now),
            routes: self.show_routes(),
            security_rules: self.show_security_rules(),
            nat_rules: self.show_nat_rules(),
            sessions: self.show_sessions(now),
            monitors: self.show_monitors(),
            counters: self.counters,
            warnings: self.warnings.clone(),
        }
    }
}

impl fmt::Display for IkeSaInfo {
    /// The IKE SA line, then one line per Child SA.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<16} {}[{}] -> {}[{}] {:016x}:{:016x} {} {} {} NAT {}",
            self.gateway,
            self.local.ip(),
            self.local.port(),
            self.remote.ip(),
            self.remote.port(),
            self.spi_i,
            self.spi_r,
            self.role,
            if self.established {
                "Established"
            } else {
                "Negotiating"
            },
            self.suite.as_deref().unwrap_or("-"),
            if self.nat { "detected" } else { "not detected" },
        )?;
        for c in &self.children {
            writeln!(
                f,
                "  {:<14} SPI in {:08X} out {:08X} {} local {} remote {}",
                c.name,
                c.spi_in,
                c.spi_out,
                if c.udp_encapsulated {
                    "ESP-in-UDP"
                } else {
                    "ESP"
                },
                c.local_ts.join(","),
                c.remote_ts.join(",")
            )?;
        }
        Ok(())
    }
}

fn or_dash(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

impl fmt::Display for IpsecSaTable {
    /// A header, one row per Child SA, the totals and the datapath's drops.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<32} {:<16} {:<28} {:<8} {:<8} {:<14} {:<7} {:<11} {:<13} proxy-id",
            "Tunnel(Gateway)",
            "Peer-Address",
            "Algorithm",
            "SPI(in)",
            "SPI(out)",
            "life(Sec/KB)",
            "remain",
            "pkts(in/out)",
            "bytes(in/out)"
        )?;
        for s in &self.sas {
            writeln!(
                f,
                "{:<32} {:<16} {:<28} {:08X} {:08X} {:<14} {:<7} {:<11} {:<13} {}: {} -> {}",
                format!("{}({})", s.name, s.gateway),
                format!("{}[{}]", s.peer.ip(), s.peer.port()),
                s.algorithm,
                s.spi_in,
                s.spi_out,
                format!("{}/{}", or_dash(s.lifetime_secs), or_dash(s.lifesize_kb)),
                or_dash(s.remain_secs),
                format!("{}/{}", s.packets_in, s.packets_out),
                format!("{}/{}", s.bytes_in, s.bytes_out),
                s.proxy_id.as_deref().unwrap_or("-"),
                s.local_ts.join(","),
                s.remote_ts.join(","),
            )?;
        }
        let mut tunnels: Vec<&str> = self.sas.iter().map(|s| s.tunnel.as_str()).collect();
        tunnels.sort_unstable();
        tunnels.dedup();
        writeln!(
            f,
            "Show IPSec SA: Total {} tunnels found. {} ipsec sa found.",
            tunnels.len(),
            self.sas.len()
        )?;
        for (name, n) in &self.esp_drops {
            writeln!(f, "  dropped: {name} {n}")?;
        }
        Ok(())
    }
}
