//! The tunnel monitor of an `ipsec-tunnel`: an ICMP echo request from the tunnel interface's
//! address to `destination-ip`, through the tunnel, every `interval` seconds.
//!
//! A probe still unanswered when the next one is due is lost; after `threshold` losses in a row
//! the tunnel is down. Then the action applies: `wait-recover` keeps the tunnel's routes and
//! renegotiates the tunnel, `fail-over` also withdraws every route through the tunnel interface
//! so a backup route carries the traffic. Either way the monitor keeps probing and renegotiates
//! again after each further `threshold` losses; the first answer brings the tunnel back up (and
//! its routes, after a fail-over).
//!
//! The probes go straight into the tunnel, whatever the routing table says (a withdrawn route
//! must not stop the monitor from seeing the tunnel recover); their answers are taken by the
//! gateway and never delivered.
//!
//! This module is the state machine; the gateway sends the probes, routes and renegotiates.

use crate::interfaces::{InterfaceId, Interfaces};
use crate::Warning;
use core::time::Duration;
use ipsec_core::config::{Config, MonitorAction};
use ipsec_core::time::Instant;
use serde::Serialize;
use std::net::IpAddr;

/// Where a monitor stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MonitorState {
    /// No probe answered yet since the gateway started.
    Init,
    /// The last probe (or one of the last `threshold`) was answered.
    Up,
    /// `threshold` probes in a row were lost.
    Down,
}

/// What a monitor asks the gateway to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Nothing changed.
    None,
    /// The tunnel just went down: apply the action and renegotiate.
    Down,
    /// Still down after another `threshold` losses: renegotiate again.
    StillDown,
    /// The tunnel came back up after being down.
    Up,
}

/// One tunnel monitor.
#[derive(Clone, Debug)]
pub(crate) struct Monitor {
    pub(crate) tunnel: String,
    pub(crate) interface: InterfaceId,
    pub(crate) source: IpAddr,
    pub(crate) destination: IpAddr,
    pub(crate) interval: Duration,
    pub(crate) threshold: u32,
    pub(crate) action: MonitorAction,
    /// The ICMP echo identifier of this monitor's probes.
    pub(crate) ident: u16,
    pub(crate) state: MonitorState,
    seq: u16,
    outstanding: Option<u16>,
    /// Probes lost in a row.
    pub(crate) lost: u32,
    next_probe: Option<Instant>,
    /// A probe is due and waits for [`take_probe`](Self::take_probe).
    due: bool,
    pub(crate) sent: u64,
    pub(crate) answered: u64,
}

impl Monitor {
    pub(crate) fn new(
        tunnel: String,
        interface: InterfaceId,
        (source, destination): (IpAddr, IpAddr),
        interval: Duration,
        threshold: u32,
        action: MonitorAction,
        ident: u16,
    ) -> Monitor {
        Monitor {
            tunnel,
            interface,
            source,
            destination,
            interval,
            threshold: threshold.max(1),
            action,
            ident,
            state: MonitorState::Init,
            seq: 0,
            outstanding: None,
            lost: 0,
            next_probe: None,
            due: false,
            sent: 0,
            answered: 0,
        }
    }

    /// Starts probing: the first probe one interval after `now`, when the tunnel's other
    /// proxy IDs (a dedicated one for the monitor, often) had time to come up.
    pub(crate) fn start(&mut self, now: Instant) {
        if self.next_probe.is_none() {
            self.next_probe = Some(now + self.interval);
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.next_probe
    }

    /// True when a probe waits to be sent.
    #[cfg(test)]
    pub(crate) fn has_probe(&self) -> bool {
        self.due
    }

    /// Counts the loss of the outstanding probe (if any) when the next one is due at `now`,
    /// and makes that one due.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Transition {
        let Some(t) = self.next_probe.filter(|t| *t <= now) else {
            return Transition::None;
        };
        // Probes keep their spacing even when the timeout is handled late.
        let mut next = t + self.interval;
        if next <= now {
            next = now + self.interval;
        }
        self.next_probe = Some(next);
        self.due = true;
        if self.outstanding.take().is_none() {
            // Answered, or none sent yet.
            return Transition::None;
        }
        self.lost = self.lost.saturating_add(1);
        if !self.lost.is_multiple_of(self.threshold) {
            return Transition::None;
        }
        if self.state == MonitorState::Down {
            Transition::StillDown
        } else {
            self.state = MonitorState::Down;
            Transition::Down
        }
    }

    /// The identifier and sequence number of the due probe, marking it sent.
    pub(crate) fn take_probe(&mut self) -> Option<(u16, u16)> {
        if !self.due {
            return None;
        }
        self.due = false;
        self.seq = self.seq.wrapping_add(1);
        self.outstanding = Some(self.seq);
        self.sent += 1;
        Some((self.ident, self.seq))
    }

    /// True when an echo reply from `src` with `ident`/`seq` answers this monitor. A reply to
    /// an older probe is late but still proof of life.
    pub(crate) fn is_reply(&self, src: IpAddr, ident: u16, seq: u16) -> bool {
        src == self.destination
            && ident == self.ident
            && self.seq.wrapping_sub(seq)
                < u16::try_from(self.threshold)
                    .unwrap_or(u16::MAX)
                    .saturating_add(1)
    }

    /// Takes an answer.
    pub(crate) fn answered(&mut self) -> Transition {
        self.answered += 1;
        self.outstanding = None;
        self.lost = 0;
        let was = self.state;
        self.state = MonitorState::Up;
        if was == MonitorState::Down {
            Transition::Up
        } else {
            Transition::None
        }
    }
}

/// A tunnel monitor, for `show vpn tunnel`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MonitorInfo {
    /// The `ipsec-tunnel`.
    pub tunnel: String,
    /// The probes' source (the tunnel interface's address).
    pub source: IpAddr,
    /// The monitored address.
    pub destination: IpAddr,
    /// `wait-recover` or `fail-over`.
    pub action: &'static str,
    /// Where it stands.
    pub state: MonitorState,
    /// Probes lost in a row.
    pub lost: u32,
    /// Probes sent.
    pub sent: u64,
    /// Probes answered.
    pub answered: u64,
}

impl From<&Monitor> for MonitorInfo {
    fn from(m: &Monitor) -> Self {
        MonitorInfo {
            tunnel: m.tunnel.clone(),
            source: m.source,
            destination: m.destination,
            action: match m.action {
                MonitorAction::WaitRecover => "wait-recover",
                MonitorAction::FailOver => "fail-over",
            },
            state: m.state,
            lost: m.lost,
            sent: m.sent,
            answered: m.answered,
        }
    }
}

/// The monitors of the enabled tunnels of `config` that IKE negotiates; a monitor without a
/// source address (the tunnel interface has none of the destination's family) is a warning.
pub(crate) fn from_config(
    config: &Config,
    interfaces: &Interfaces,
    warnings: &mut Vec<Warning>,
) -> Vec<Monitor> {
    let mut out = Vec::new();
    for t in config.ipsec_tunnels.iter().filter(|t| !t.disabled) {
        let Some(m) = t.tunnel_monitor.as_ref().filter(|m| m.enable) else {
            continue;
        };
        let object = format!("ipsec-tunnel \"{}\"", t.name);
        let Some(ifc) = interfaces.of_tunnel(&t.name) else {
            warnings.push(Warning::new(
                object,
                "tunnel-monitor: the tunnel is not negotiated by IKE here; not monitored".into(),
            ));
            continue;
        };
        let source = interfaces.get(ifc).and_then(|i| {
            i.addresses
                .iter()
                .find(|a| a.addr.is_ipv4() == m.destination_ip.is_ipv4())
                .map(|a| a.addr)
        });
        let Some(source) = source else {
            warnings.push(Warning::new(
                object,
                format!(
                    "tunnel-monitor: {} has no address of {}'s family to send probes from; \
                     not monitored",
                    t.tunnel_interface, m.destination_ip
                ),
            ));
            continue;
        };
        let ident = MONITOR_IDENT.wrapping_add(u16::try_from(out.len()).unwrap_or(0));
        out.push(Monitor::new(
            t.name.clone(),
            ifc,
            (source, m.destination_ip),
            Duration::from_secs(u64::from(m.interval.max(1))),
            m.threshold,
            m.action,
            ident,
        ));
    }
    out
}

/// The ICMP echo identifier of the first monitor; the others follow.
const MONITOR_IDENT: u16 = 0x7400;

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor() -> Monitor {
        Monitor::new(
            "vpn".into(),
            InterfaceId(0),
            (
                "169.254.100.1".parse().unwrap(),
                "169.254.100.2".parse().unwrap(),
            ),
            Duration::from_secs(3),
            3,
            MonitorAction::FailOver,
            0x4d00,
        )
    }

    fn tick(m: &mut Monitor, secs: u64) -> Transition {
        let t = m.handle_timeout(Instant::from_secs(secs));
        m.take_probe();
        t
    }

    #[test]
    fn down_after_threshold_losses_then_up_on_an_answer() {
        let mut m = monitor();
        m.start(Instant::from_secs(7));
        assert_eq!(m.poll_timeout(), Some(Instant::from_secs(10)));
        assert_eq!(tick(&mut m, 10), Transition::None, "first probe");
        assert!(m.is_reply("169.254.100.2".parse().unwrap(), 0x4d00, 1));
        assert!(!m.is_reply("169.254.100.9".parse().unwrap(), 0x4d00, 1));
        assert!(!m.is_reply("169.254.100.2".parse().unwrap(), 0x4d01, 1));
        assert_eq!(m.answered(), Transition::None);
        assert_eq!(m.state, MonitorState::Up);
        assert_eq!(tick(&mut m, 13), Transition::None);
        assert_eq!(tick(&mut m, 16), Transition::None, "one lost");
        assert_eq!(tick(&mut m, 19), Transition::None, "two lost");
        assert_eq!(tick(&mut m, 22), Transition::Down, "three lost");
        assert_eq!(m.state, MonitorState::Down);
        assert_eq!(tick(&mut m, 25), Transition::None);
        assert_eq!(tick(&mut m, 28), Transition::None);
        assert_eq!(tick(&mut m, 31), Transition::StillDown, "renegotiate again");
        assert_eq!(m.answered(), Transition::Up);
        assert_eq!((m.lost, m.sent), (0, 8));
    }

    #[test]
    fn probes_keep_their_spacing_and_late_answers_count() {
        let mut m = monitor();
        m.start(Instant::ZERO);
        assert_eq!(m.handle_timeout(Instant::from_secs(2)), Transition::None);
        assert!(!m.has_probe(), "not before one interval");
        assert_eq!(m.handle_timeout(Instant::from_secs(3)), Transition::None);
        assert!(m.has_probe());
        assert_eq!(m.take_probe(), Some((0x4d00, 1)));
        assert_eq!(m.take_probe(), None);
        assert_eq!(
            m.handle_timeout(Instant::from_millis(5_999)),
            Transition::None
        );
        assert!(!m.has_probe());
        // Handled late: the next one is still one interval after this one.
        m.handle_timeout(Instant::from_millis(6_500));
        assert_eq!(m.poll_timeout(), Some(Instant::from_secs(9)));
        assert_eq!(m.take_probe(), Some((0x4d00, 2)));
        assert!(
            m.is_reply("169.254.100.2".parse().unwrap(), 0x4d00, 1),
            "late"
        );
        assert!(
            !m.is_reply("169.254.100.2".parse().unwrap(), 0x4d00, 9),
            "from the future"
        );
    }
}
