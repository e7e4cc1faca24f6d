//! The gateway's side of its tunnel monitors ([`crate::monitor`]): starting them with their
//! tunnel, their clocks, their probes through the datapath, their replies, and what a monitor
//! going down or up does to routes and to the tunnel's IKE SA.

use crate::counters::DropReason;
use crate::event::Event;
use crate::gateway::{Transmit, HEADROOM};
use crate::monitor::Transition;
use crate::{packet, Gateway};
use ipsec_core::config::MonitorAction;
use ipsec_core::time::Instant;
use std::net::IpAddr;

impl Gateway {
    /// Starts the monitors of `tunnel` (once its first Child SA is installed).
    pub(crate) fn start_monitor(&mut self, now: Instant, tunnel: &str) {
        for m in self.monitors.iter_mut().filter(|m| m.tunnel == tunnel) {
            m.start(now);
        }
    }

    /// Runs every monitor's clock.
    pub(crate) fn monitors_timeout(&mut self, now: Instant) {
        for i in 0..self.monitors.len() {
            let t = match self.monitors.get_mut(i) {
                Some(m) => m.handle_timeout(now),
                None => continue,
            };
            self.monitor_transition(now, i, t);
        }
    }

    /// Takes an echo reply addressed to the gateway if it answers a monitor.
    pub(crate) fn monitor_reply(
        &mut self,
        now: Instant,
        src: IpAddr,
        ident: u16,
        seq: u16,
    ) -> bool {
        let Some(i) = self
            .monitors
            .iter()
            .position(|m| m.is_reply(src, ident, seq))
        else {
            return false;
        };
        let t = match self.monitors.get_mut(i) {
            Some(m) => m.answered(),
            None => return false,
        };
        self.monitor_transition(now, i, t);
        true
    }

    fn monitor_transition(&mut self, now: Instant, i: usize, t: Transition) {
        let Some(m) = self.monitors.get(i) else {
            return;
        };
        let (tunnel, interface, destination, action, lost) = (
            m.tunnel.clone(),
            m.interface,
            m.destination,
            m.action,
            m.lost,
        );
        let fail_over = action == MonitorAction::FailOver;
        match t {
            Transition::None => {}
            Transition::Down => {
                let routes_withdrawn = if fail_over {
                    self.routes.set_active(interface, false)
                } else {
                    0
                };
                self.events.push_back(Event::TunnelDown {
                    tunnel: tunnel.clone(),
                    destination,
                    lost,
                    action,
                    routes_withdrawn,
                });
                self.renegotiate(now, &tunnel);
            }
            Transition::StillDown => self.renegotiate(now, &tunnel),
            Transition::Up => {
                let routes_restored = if fail_over {
                    self.routes.set_active(interface, true)
                } else {
                    0
                };
                self.events.push_back(Event::TunnelUp {
                    tunnel,
                    destination,
                    routes_restored,
                });
            }
        }
    }

    /// Renegotiates `tunnel`: deletes its IKE SA (and brings the gateway's tunnels up again
    /// once it is gone), or starts one if there is none and this side may initiate.
    fn renegotiate(&mut self, now: Instant, tunnel: &str) {
        let cfg = self.endpoint.config();
        let Some(gw) = cfg.tunnel(tunnel).map(|t| t.gateway.clone()) else {
            return;
        };
        let initiates = cfg
            .gateway(&gw)
            .is_some_and(|g| !g.passive && g.peer_addr.is_some());
        let established = self
            .endpoint
            .ike_sas()
            .iter()
            .any(|s| s.gateway == gw && s.established);
        if established {
            if self
                .endpoint
                .with_spis(&mut self.table)
                .delete_ike(now, &gw)
                .is_ok()
                && initiates
                && !self.reconnect.contains(&gw)
            {
                self.reconnect.push(gw);
            }
        } else if initiates {
            let _ = self
                .endpoint
                .with_spis(&mut self.table)
                .connect(now, tunnel);
        }
    }

    /// Brings the tunnels of `gateway` up again if a renegotiation deleted its IKE SA.
    pub(crate) fn reconnect_after_down(&mut self, now: Instant, gateway: &str) {
        let Some(i) = self.reconnect.iter().position(|g| g == gateway) else {
            return;
        };
        self.reconnect.remove(i);
        let tunnels: Vec<String> = self
            .endpoint
            .config()
            .tunnels_of(gateway)
            .map(|t| t.name.clone())
            .collect();
        for t in tunnels {
            let _ = self.endpoint.with_spis(&mut self.table).connect(now, &t);
        }
    }

    /// Writes the next due monitor probe, encapsulated into its tunnel, into `buf`.
    pub(crate) fn poll_probe(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        let now = self.now;
        for m in self.monitors.iter_mut() {
            let Some((ident, seq)) = m.take_probe() else {
                continue;
            };
            // An unsent probe stays outstanding: it counts as lost.
            let Some(tunnel) = self.tunnel_ids.get(m.interface.index()).copied().flatten() else {
                self.counters.drop(DropReason::TunnelDown);
                continue;
            };
            let Some(n) = buf
                .get_mut(HEADROOM..)
                .and_then(|b| packet::echo_request(b, m.source, m.destination, ident, seq))
            else {
                self.counters.drop(DropReason::EncapFailed);
                continue;
            };
            match self
                .table
                .encapsulate(now, tunnel, buf, HEADROOM..HEADROOM + n)
            {
                Ok(t) => {
                    self.counters.encapsulated += 1;
                    return Some(Transmit::from_esp(t));
                }
                Err(esp::EspError::NoOutboundSa) if self.children.any_in(tunnel) => {
                    self.counters.drop(DropReason::NoProxyId)
                }
                Err(esp::EspError::NoOutboundSa) => self.counters.drop(DropReason::TunnelDown),
                Err(_) => self.counters.drop(DropReason::EncapFailed),
            }
        }
        None
    }
}
