//! The session table: what makes the security policy stateful.
//!
//! The first packet of a flow is checked against the security rules; when a rule allows it, a
//! session is installed, and every later packet of the flow, in either direction, passes on the
//! session without another rule lookup. Return traffic therefore needs no rule of its own, as on
//! any firewall. A packet matches a session only along the zones it was created for: the
//! initiator's direction from its source zone to its destination zone, the reply the other way.
//!
//! A session is keyed by addresses, protocol and ports (for ICMP echo, the identifier), stored
//! once for both directions. It ages out after a per-protocol idle timeout (PAN-OS defaults:
//! TCP 3600 s, UDP 30 s, ICMP 6 s, others 30 s). The table holds at most a fixed number of
//! sessions, allocated up front so that installing one never allocates; when it is full, a
//! packet that would start a new session is dropped and counted, as a firewall does.

use crate::packet::{Flow, PROTO_ICMP, PROTO_ICMPV6};
use crate::policy::RuleRef;
use core::time::Duration;
use ipsec_core::time::Instant;
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;

/// Idle timeouts by protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimeouts {
    /// TCP (PAN-OS default 3600 s).
    pub tcp: Duration,
    /// UDP (default 30 s).
    pub udp: Duration,
    /// ICMP and ICMPv6 (default 6 s).
    pub icmp: Duration,
    /// Any other protocol (default 30 s).
    pub other: Duration,
}

impl Default for SessionTimeouts {
    fn default() -> Self {
        SessionTimeouts {
            tcp: Duration::from_secs(3600),
            udp: Duration::from_secs(30),
            icmp: Duration::from_secs(6),
            other: Duration::from_secs(30),
        }
    }
}

impl SessionTimeouts {
    fn of(&self, protocol: u8) -> Duration {
        match protocol {
            6 => self.tcp,
            17 => self.udp,
            PROTO_ICMP | PROTO_ICMPV6 => self.icmp,
            _ => self.other,
        }
    }
}

/// Both ends of a flow, the lower one first, so both directions find the same entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    lo: (IpAddr, u16),
    hi: (IpAddr, u16),
    protocol: u8,
}

impl Key {
    /// The key of `f`, and whether `f`'s source is the `lo` end.
    fn of(f: &Flow) -> (Key, bool) {
        let s = (f.src, f.src_port);
        let d = (f.dst, f.dst_port);
        let src_lo = s <= d;
        let (lo, hi) = if src_lo { (s, d) } else { (d, s) };
        (
            Key {
                lo,
                hi,
                protocol: f.protocol,
            },
            src_lo,
        )
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The initiator is the `lo` end.
    initiator_lo: bool,
    /// The initiator's zone; `None` for traffic the gateway's own stack originated.
    from: Option<usize>,
    to: usize,
    rule: Option<RuleRef>,
    created: Instant,
    last: Instant,
    packets: u64,
    bytes: u64,
}

/// One session, for `show session all`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// The initiator's address.
    pub source: IpAddr,
    /// The initiator's port (ICMP echo identifier).
    pub source_port: u16,
    /// The responder's address.
    pub destination: IpAddr,
    /// The responder's port.
    pub destination_port: u16,
    /// IP protocol.
    pub protocol: u8,
    /// Source zone (`local` for the gateway's own traffic).
    pub from_zone: String,
    /// Destination zone.
    pub to_zone: String,
    /// The rule that allowed it (`None` for the gateway's own traffic).
    pub rule: Option<String>,
    /// Packets in both directions.
    pub packets: u64,
    /// Bytes in both directions.
    pub bytes: u64,
    /// Seconds since its last packet.
    pub idle_secs: u64,
}

/// The sessions, bounded.
#[derive(Debug)]
pub(crate) struct Sessions {
    map: HashMap<Key, Entry>,
    limit: usize,
    timeouts: SessionTimeouts,
    next_sweep: Option<Instant>,
}

/// How often the table is swept for idle sessions while it holds any.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl Sessions {
    /// An empty table for at most `limit` sessions, with room for them allocated now.
    pub(crate) fn new(limit: usize, timeouts: SessionTimeouts) -> Sessions {
        Sessions {
            map: HashMap::with_capacity(limit),
            limit,
            timeouts,
            next_sweep: None,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The session `f` belongs to, arriving from zone `from` (`None`: our own stack) toward
    /// zone `to`; counts the packet. A session that idled out, or that was made for other
    /// zones, does not match.
    pub(crate) fn lookup(
        &mut self,
        now: Instant,
        f: &Flow,
        from: Option<usize>,
        to: usize,
    ) -> Option<Option<RuleRef>> {
        let (key, src_lo) = Key::of(f);
        let timeout = self.timeouts.of(f.protocol);
        let e = self.map.get_mut(&key)?;
        if now.saturating_duration_since(e.last) > timeout {
            return None;
        }
        let forward = src_lo == e.initiator_lo;
        let zones_fit = if forward {
            from == e.from && to == e.to
        } else {
            from == Some(e.to) && e.from.is_none_or(|z| z == to)
        };
        if !zones_fit {
            return None;
        }
        e.last = now;
        e.packets = e.packets.saturating_add(1);
        e.bytes = e.bytes.saturating_add(f.len as u64);
        Some(e.rule)
    }

    /// Installs the session `f` starts (replacing a stale one of the same flow); false when the
    /// table is full.
    pub(crate) fn insert(
        &mut self,
        now: Instant,
        f: &Flow,
        from: Option<usize>,
        to: usize,
        rule: Option<RuleRef>,
    ) -> bool {
        let (key, src_lo) = Key::of(f);
        if self.map.len() >= self.limit && !self.map.contains_key(&key) {
            return false;
        }
        self.map.insert(
            key,
            Entry {
                initiator_lo: src_lo,
                from,
                to,
                rule,
                created: now,
                last: now,
                packets: 1,
                bytes: f.len as u64,
            },
        );
        if self.next_sweep.is_none() {
            self.next_sweep = Some(now + SWEEP_EVERY);
        }
        true
    }

    /// When [`sweep`](Self::sweep) is next due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.next_sweep
    }

    /// Removes the sessions idle for longer than their timeout; how many.
    pub(crate) fn sweep(&mut self, now: Instant) -> u64 {
        if self.next_sweep.is_none_or(|t| t > now) {
            return 0;
        }
        let before = self.map.len();
        let timeouts = self.timeouts;
        self.map
            .retain(|k, e| now.saturating_duration_since(e.last) <= timeouts.of(k.protocol));
        self.next_sweep = (!self.map.is_empty()).then(|| now + SWEEP_EVERY);
        (before - self.map.len()) as u64
    }

    /// Forgets every session (`clear session all`).
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.next_sweep = None;
    }

    /// Every session, with zone and rule names from `zone` and `rule`.
    pub(crate) fn list(
        &self,
        now: Instant,
        zone: impl Fn(usize) -> String,
        rule: impl Fn(RuleRef) -> String,
    ) -> Vec<SessionInfo> {
        let mut v: Vec<(Instant, SessionInfo)> = self
            .map
            .iter()
            .map(|(k, e)| {
                let (i, r) = if e.initiator_lo {
                    (k.lo, k.hi)
                } else {
                    (k.hi, k.lo)
                };
                let info = SessionInfo {
                    source: i.0,
                    source_port: i.1,
                    destination: r.0,
                    destination_port: r.1,
                    protocol: k.protocol,
                    from_zone: e.from.map_or_else(|| "local".to_owned(), &zone),
                    to_zone: zone(e.to),
                    rule: e.rule.map(&rule),
                    packets: e.packets,
                    bytes: e.bytes,
                    idle_secs: now.saturating_duration_since(e.last).as_secs(),
                };
                (e.created, info)
            })
            .collect();
        v.sort_by_key(|(t, s)| (*t, s.source, s.source_port));
        v.into_iter().map(|(_, s)| s).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> Flow {
        Flow {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            protocol: 17,
            src_port: sport,
            dst_port: dport,
            echo: None,
            len: 100,
        }
    }

    #[test]
    fn return_traffic_matches_along_the_reverse_zones_only() {
        let mut s = Sessions::new(4, SessionTimeouts::default());
        let t = Instant::from_secs(10);
        let out = udp("10.1.0.5", 40000, "10.2.0.7", 53);
        let back = udp("10.2.0.7", 53, "10.1.0.5", 40000);
        let rule = Some(RuleRef::Rule(0));
        assert_eq!(s.lookup(t, &out, Some(0), 1), None);
        assert!(s.insert(t, &out, Some(0), 1, rule));
        assert_eq!(s.lookup(t, &out, Some(0), 1), Some(rule));
        assert_eq!(s.lookup(t, &back, Some(1), 0), Some(rule), "reply");
        assert_eq!(
            s.lookup(t, &back, Some(2), 0),
            None,
            "reply from another zone"
        );
        assert_eq!(
            s.lookup(t, &out, Some(1), 0),
            None,
            "initiator's direction, wrong zones"
        );
        assert_eq!(
            s.lookup(t, &udp("10.2.0.7", 53, "10.1.0.5", 40001), Some(1), 0),
            None
        );
        let list = s.list(t, |z| format!("z{z}"), |_| "r".into());
        assert_eq!(list.len(), 1);
        assert_eq!(
            (
                list[0].source_port,
                list[0].packets,
                list[0].from_zone.as_str()
            ),
            (40000, 3, "z0")
        );
    }

    #[test]
    fn sessions_age_out_and_the_table_is_bounded() {
        let mut s = Sessions::new(2, SessionTimeouts::default());
        let t = Instant::from_secs(10);
        assert!(s.insert(t, &udp("10.1.0.5", 1, "10.2.0.7", 53), Some(0), 1, None));
        assert!(s.insert(t, &udp("10.1.0.5", 2, "10.2.0.7", 53), Some(0), 1, None));
        assert!(
            !s.insert(t, &udp("10.1.0.5", 3, "10.2.0.7", 53), Some(0), 1, None),
            "full"
        );
        assert_eq!(s.poll_timeout(), Some(Instant::from_secs(11)));
        // Idle past the UDP timeout: no longer matches, and the sweep removes it.
        let later = Instant::from_secs(41);
        assert!(s
            .lookup(
                Instant::from_secs(39),
                &udp("10.1.0.5", 2, "10.2.0.7", 53),
                Some(0),
                1
            )
            .is_some());
        assert_eq!(
            s.lookup(later, &udp("10.1.0.5", 1, "10.2.0.7", 53), Some(0), 1),
            None
        );
        assert_eq!(s.sweep(later), 1);
        assert_eq!(s.len(), 1);
        assert!(s.insert(later, &udp("10.1.0.5", 3, "10.2.0.7", 53), Some(0), 1, None));
        assert_eq!(s.sweep(Instant::from_secs(100)), 2);
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn own_traffic_replies_come_back_from_the_egress_zone() {
        let mut s = Sessions::new(2, SessionTimeouts::default());
        let t = Instant::from_secs(1);
        let ping = udp("169.254.100.1", 7, "169.254.100.2", 7);
        assert!(s.insert(t, &ping, None, 1, None));
        let reply = udp("169.254.100.2", 7, "169.254.100.1", 7);
        assert_eq!(s.lookup(t, &reply, Some(1), 1), Some(None));
        assert_eq!(s.lookup(t, &reply, Some(0), 1), None);
    }
}
