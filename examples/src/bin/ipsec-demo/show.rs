//! What the PAN-OS CLI would print on each firewall: `show vpn ike-sa`, `show vpn ipsec-sa` and
//! the VPN system log, from the gateway's `show` data.
//!
//! `show vpn ipsec-sa` prints one row per Child SA whose first ten columns contain no spaces, so
//! scripts (and the demo's own test) can split them on whitespace.

use crate::network::Firewall;
use core::fmt::Write as _;
use core::time::Duration;
use gateway::Instant;

/// Seconds since the start of the simulation, with milliseconds.
pub(crate) fn clock(t: Instant, start: Instant) -> String {
    let d = t.saturating_duration_since(start);
    format!("{}.{:03}s", d.as_secs(), d.subsec_millis())
}

fn prompt(fw: &Firewall, command: &str) -> String {
    format!("admin@{}> {command}\n", fw.name)
}

/// `show vpn ike-sa`: each IKE SA with its Child SAs and its lifetime.
pub(crate) fn ike_sa(fw: &Firewall, now: Instant) -> String {
    let mut s = prompt(fw, "show vpn ike-sa");
    let sas = fw.gateway.show_ike_sa(now);
    for sa in &sas {
        s.push_str(&sa.to_string());
        if let (Some(age), Some(life)) = (sa.age_secs, sa.lifetime_secs) {
            let _ = writeln!(
                s,
                "  lifetime {life} s, established {age} s ago, expires in {} s",
                life.saturating_sub(age)
            );
        }
    }
    let _ = writeln!(s, "Show IKE SA: {} IKE SA found.", sas.len());
    s
}

/// `show vpn ipsec-sa`: one row per installed Child SA with the datapath's counters.
pub(crate) fn ipsec_sa(fw: &Firewall, now: Instant) -> String {
    let mut s = prompt(fw, "show vpn ipsec-sa");
    s.push_str(&fw.gateway.show_ipsec_sa(now).to_string());
    s
}

/// The VPN system log: every event of the gateway, as PAN-OS words it.
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
