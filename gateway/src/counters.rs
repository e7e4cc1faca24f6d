//! Why packets were dropped, and how many went where: the gateway's `show counter global`.
//!
//! Every packet the gateway refuses is counted under exactly one [`DropReason`], whose name
//! follows PAN-OS's global counters (`flow_fwd_l3_noroute`, `flow_policy_deny`, ...). The ESP
//! datapath's own drops (replay, ICV, unknown SPI, ...) keep their `esp_drop_*` names and are
//! listed beside them.

use core::fmt;
use serde::Serialize;

/// Why the gateway dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropReason {
    /// The inner packet is not a well-formed IPv4 or IPv6 packet.
    Malformed,
    /// No route in the virtual router covers the destination (or the route discards it).
    NoRoute,
    /// The ingress or egress interface is in no zone: a firewall forwards nothing there.
    NoZone,
    /// The route names a tunnel interface whose IPsec tunnel has no Child SA.
    TunnelDown,
    /// The tunnel has Child SAs, but none whose proxy ID covers the packet.
    NoProxyId,
    /// A security rule (or the interzone default) denied the session.
    PolicyDeny,
    /// The session table is full: the packet would start a new session.
    SessionLimit,
    /// ESP encapsulation failed: the SA reached a hard limit or its sequence numbers ran out
    /// (a rekey is on its way), or the caller's buffer lacks headroom or tailroom.
    EncapFailed,
    /// A received ESP packet was refused by the datapath (see the `esp_drop_*` counters).
    Esp,
    /// A datagram on port 4500 that is neither IKE, ESP nor a keepalive.
    BadUdpEncap,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 10] = [
        DropReason::Malformed,
        DropReason::NoRoute,
        DropReason::NoZone,
        DropReason::TunnelDown,
        DropReason::NoProxyId,
        DropReason::PolicyDeny,
        DropReason::SessionLimit,
        DropReason::EncapFailed,
        DropReason::Esp,
        DropReason::BadUdpEncap,
    ];

    /// The counter's name, in PAN-OS's style.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "flow_parse_l3_err",
            DropReason::NoRoute => "flow_fwd_l3_noroute",
            DropReason::NoZone => "flow_fwd_notopology",
            DropReason::TunnelDown => "flow_tunnel_down",
            DropReason::NoProxyId => "flow_tunnel_no_proxyid",
            DropReason::PolicyDeny => "flow_policy_deny",
            DropReason::SessionLimit => "flow_session_alloc_fail",
            DropReason::EncapFailed => "flow_tunnel_encap_err",
            DropReason::Esp => "flow_tunnel_decap_err",
            DropReason::BadUdpEncap => "flow_udp_encap_malformed",
        }
    }

    /// What the counter means, as `show counter global` describes it.
    pub const fn description(self) -> &'static str {
        match self {
            DropReason::Malformed => "Packets dropped: not a valid IP packet",
            DropReason::NoRoute => "Packets dropped: no route",
            DropReason::NoZone => "Packets dropped: interface in no zone",
            DropReason::TunnelDown => "Packets dropped: tunnel has no IPsec SA",
            DropReason::NoProxyId => "Packets dropped: no proxy ID matches",
            DropReason::PolicyDeny => "Session setup: denied by policy",
            DropReason::SessionLimit => "Session setup: session table full",
            DropReason::EncapFailed => "Packets dropped: ESP encapsulation failed",
            DropReason::Esp => "Packets dropped: ESP decapsulation failed",
            DropReason::BadUdpEncap => "Packets dropped: malformed UDP 4500 payload",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The gateway's global counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Inner packets encapsulated into a tunnel.
    pub encapsulated: u64,
    /// ESP packets decapsulated.
    pub decapsulated: u64,
    /// Inner packets handed to a non-tunnel interface or to the local stack.
    pub delivered: u64,
    /// Sessions created (security rule or local traffic).
    pub sessions_created: u64,
    /// Sessions that aged out.
    pub sessions_aged: u64,
    /// INVALID_SPI notifications sent to peers (RFC 7296 section 1.5).
    pub invalid_spi_sent: u64,
    /// ESP packets for unknown SPIs that got no INVALID_SPI because of the rate limit.
    pub invalid_spi_suppressed: u64,
    /// Sessions that matched a NAT rule that translates: the gateway does not translate, so
    /// their packets left untranslated (see the configuration warnings).
    pub nat_untranslated: u64,
    /// Drops by reason, in [`DropReason::ALL`] order.
    #[serde(serialize_with = "drops_by_name")]
    pub drops: [u64; DropReason::ALL.len()],
}

fn drops_by_name<S: serde::Serializer>(
    drops: &[u64; DropReason::ALL.len()],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(drops.len()))?;
    for r in DropReason::ALL {
        m.serialize_entry(r.name(), &drops[r.index()])?;
    }
    m.end()
}

impl Counters {
    /// Counts one drop.
    pub(crate) fn drop(&mut self, reason: DropReason) {
        if let Some(c) = self.drops.get_mut(reason.index()) {
            *c = c.saturating_add(1);
        }
    }

    /// The drop counter of `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops.get(reason.index()).copied().unwrap_or(0)
    }

    /// Every drop, whatever the reason.
    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().fold(0, |a, b| a.saturating_add(*b))
    }
}

/// `name value description` for every non-zero counter, as `show counter global` lists them.
impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named = [
            (
                "flow_ipsec_encap",
                self.encapsulated,
                "Packets encapsulated",
            ),
            (
                "flow_ipsec_decap",
                self.decapsulated,
                "Packets decapsulated",
            ),
            ("flow_fwd_delivered", self.delivered, "Packets delivered"),
            (
                "session_installed",
                self.sessions_created,
                "Sessions installed",
            ),
            ("session_aged", self.sessions_aged, "Sessions aged out"),
            (
                "ike_invalid_spi_sent",
                self.invalid_spi_sent,
                "INVALID_SPI notifications sent",
            ),
            (
                "ike_invalid_spi_ratelimit",
                self.invalid_spi_suppressed,
                "INVALID_SPI notifications rate-limited",
            ),
            (
                "nat_rule_untranslated",
                self.nat_untranslated,
                "Sessions left untranslated by a NAT rule",
            ),
        ];
        for (name, n, what) in named.into_iter().filter(|(_, n, _)| *n != 0) {
            writeln!(f, "{name:<32}{n:>12}  {what}")?;
        }
        for r in DropReason::ALL {
            let n = self.dropped(r);
            if n != 0 {
                writeln!(f, "{:<32}{n:>12}  {}", r.name(), r.description())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason_and_prints_only_what_moved() {
        let mut c = Counters::default();
        c.drop(DropReason::NoRoute);
        c.drop(DropReason::NoRoute);
        c.drop(DropReason::PolicyDeny);
        c.encapsulated = 3;
        assert_eq!(c.dropped(DropReason::NoRoute), 2);
        assert_eq!(c.dropped_total(), 3);
        let text = c.to_string();
        assert!(text.contains("flow_fwd_l3_noroute"), "{text}");
        assert!(text.contains("Session setup: denied by policy"), "{text}");
        assert!(!text.contains("flow_tunnel_down"), "{text}");
        assert_eq!(text.lines().count(), 3, "{text}");
        let names: std::collections::BTreeSet<&str> =
            DropReason::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), DropReason::ALL.len(), "names are unique");
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
