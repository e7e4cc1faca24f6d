//! What the PAN-OS CLI would print on each firewall: `show vpn ike-sa`, `show vpn ipsec-sa` and
//! the VPN system log.
//!
//! `show vpn ipsec-sa` prints one row per Child SA whose first ten columns contain no spaces, so
//! scripts (and the demo's own test) can split them on whitespace.

use crate::firewall::Firewall;
use core::fmt::Write as _;
use core::time::Duration;
use ikev2::Event;
use ipsec_core::selector::TrafficSelector;
use ipsec_core::time::Instant;

/// Seconds since the start of the simulation, with milliseconds.
pub(crate) fn clock(t: Instant, start: Instant) -> String {
    let d = t.saturating_duration_since(start);
    format!("{}.{:03}s", d.as_secs(), d.subsec_millis())
}

fn prompt(fw: &Firewall, command: &str) -> String {
    format!("admin@{}> {command}\n", fw.name)
}

/// `show vpn ike-sa`: each IKE SA as the endpoint summarises it, with its lifetime.
pub(crate) fn ike_sa(fw: &Firewall, now: Instant) -> String {
    let mut s = prompt(fw, "show vpn ike-sa");
    let sas = fw.endpoint.ike_sas();
    for sa in &sas {
        s.push_str(&sa.to_string());
        let up = fw.log.iter().rev().find_map(|(t, e)| match e {
            Event::IkeSaUp { gateway, .. } if *gateway == sa.gateway => Some(*t),
            _ => None,
        });
        let lifetime = fw
            .endpoint
            .config()
            .gateway(&sa.gateway)
            .map(|g| g.ike_lifetime);
        if let (Some(up), Some(life)) = (up, lifetime) {
            let age = now.saturating_duration_since(up);
            let _ = writeln!(
                s,
                "  lifetime {} s, established {} ms ago, expires in {} s",
                life.as_secs(),
                age.as_millis(),
                life.saturating_sub(age).as_secs()
            );
        }
    }
    let _ = writeln!(s, "Show IKE SA: {} IKE SA found.", sas.len());
    s
}

fn selectors(ts: &[TrafficSelector]) -> String {
    ts.iter()
        .map(TrafficSelector::short)
        .collect::<Vec<_>>()
        .join(",")
}

fn or_dash(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

/// `show vpn ipsec-sa`: one row per installed Child SA with the SA table's counters.
pub(crate) fn ipsec_sa(fw: &Firewall, now: Instant) -> String {
    let mut s = prompt(fw, "show vpn ipsec-sa");
    let _ = writeln!(
        s,
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
    );
    for c in &fw.children {
        let ch = &c.child;
        let inbound = fw
            .table
            .inbound_counters(ch.inbound.spi)
            .unwrap_or_default();
        let outbound = fw
            .table
            .outbound(c.handle)
            .map(|o| *o.counters())
            .unwrap_or_default();
        let life = ch.lifetimes.hard_time;
        let remain = life.map(|l| {
            l.saturating_sub(now.saturating_duration_since(c.at))
                .as_secs()
        });
        let _ = writeln!(
            s,
            "{:<32} {:<16} {:<28} {:08X} {:08X} {:<14} {:<7} {:<11} {:<13} {}: {} -> {}",
            format!("{}({})", crate::firewall::sa_name(ch), c.gateway),
            format!("{}[{}]", ch.remote_addr.ip(), ch.remote_addr.port()),
            format!(
                "{}/{}",
                if ch.encapsulation.is_some() {
                    "ESP-UDP"
                } else {
                    "ESP"
                },
                c.suite
            ),
            ch.inbound.spi,
            ch.outbound.spi,
            format!(
                "{}/{}",
                or_dash(life.map(|l| l.as_secs())),
                or_dash(ch.lifetimes.hard_bytes.map(|b| b / 1024))
            ),
            or_dash(remain),
            format!("{}/{}", inbound.packets, outbound.packets),
            format!("{}/{}", inbound.bytes, outbound.bytes),
            ch.proxy_id.as_deref().unwrap_or("-"),
            selectors(&ch.local_ts),
            selectors(&ch.remote_ts),
        );
    }
    let mut tunnels: Vec<&str> = fw
        .children
        .iter()
        .map(|c| c.child.tunnel.as_str())
        .collect();
    tunnels.sort_unstable();
    tunnels.dedup();
    let _ = writeln!(
        s,
        "Show IPSec SA: Total {} tunnels found. {} ipsec sa found.",
        tunnels.len(),
        fw.children.len()
    );
    let drops = fw.table.drop_counters();
    if drops.total() > 0 {
        for (reason, n) in drops.iter().filter(|(_, n)| *n > 0) {
            let _ = writeln!(s, "  dropped: {reason} {n}");
        }
    }
    s
}

/// The VPN system log: every event of the endpoint, as PAN-OS words it.
pub(crate) fn system_log(fw: &Firewall, start: Instant) -> String {
    let mut s = prompt(fw, "show log system subtype equal vpn");
    for (t, e) in &fw.log {
        let _ = writeln!(s, "  +{:<9} {e}", clock(*t, start));
    }
    s
}

/// A duration in milliseconds with one decimal.
pub(crate) fn millis(d: Duration) -> String {
    format!("{}.{} ms", d.as_millis(), d.subsec_micros() % 1000 / 100)
}
