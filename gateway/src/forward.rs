//! Forwarding an inner packet, as PAN-OS does in a route-based VPN:
//!
//! ```text
//! parse -> for the gateway itself? -> route lookup (virtual router of the ingress interface)
//!       -> zones (ingress interface, egress interface)
//!       -> session, or security rules (first match) and a new session
//!       -> egress is a tunnel interface: its IPsec tunnel, the Child SA whose proxy ID covers
//!          the packet, ESP in place                                          => Action::Send
//!       -> otherwise: out of the egress interface (to the next hop)          => Action::Deliver
//! ```
//!
//! Every refusal is counted under its [`DropReason`]. Packets addressed to one of the gateway's
//! interface addresses are for its own stack and are delivered with `local` set, after the
//! security policy (the zone of the interface owning the address is the destination zone);
//! answers to the gateway's tunnel monitors are taken here. Packets from the gateway's own stack
//! ([`Gateway::handle_local`]) skip the security rules, as a firewall's own traffic does, but
//! start a session so that their answers come back.

use crate::counters::DropReason;
use crate::gateway::{Action, Delivery, Transmit};
use crate::interfaces::InterfaceId;
use crate::packet::Flow;
use crate::Gateway;
use core::ops::Range;
use esp::EspError;
use ipsec_core::time::Instant;

/// Where an inner packet came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ingress {
    /// An interface (a LAN port, or a tunnel it was decapsulated from).
    Interface(InterfaceId),
    /// The gateway's own IP stack.
    Local,
}

impl Gateway {
    /// Forwards the inner IP packet at `buf[packet]` that arrived on interface `ingress`: into
    /// its tunnel ([`Action::Send`], encapsulated in place, so `buf` needs
    /// [`HEADROOM`](crate::HEADROOM) bytes before the packet and [`TAILROOM`](crate::TAILROOM)
    /// after it), out of another interface ([`Action::Deliver`]), or dropped and counted
    /// ([`Action::Drop`]: no route, tunnel down, no proxy ID for it, denied by policy, ...).
    pub fn handle_inner(
        &mut self,
        now: Instant,
        ingress: InterfaceId,
        buf: &mut [u8],
        packet: Range<usize>,
    ) -> Action {
        let a = self.forward(now, Ingress::Interface(ingress), buf, packet, None);
        self.after(now);
        a
    }

    /// Forwards a packet the embedder's own IP stack sends (from a tunnel interface's address,
    /// say: a ping, a routing protocol over the tunnel). It is routed like any other but not
    /// checked against the security rules; its answers come back through the session it starts.
    pub fn handle_local(&mut self, now: Instant, buf: &mut [u8], packet: Range<usize>) -> Action {
        let a = self.forward(now, Ingress::Local, buf, packet, None);
        self.after(now);
        a
    }

    fn drop(&mut self, reason: DropReason) -> Action {
        self.counters.drop(reason);
        Action::Drop(reason)
    }

    /// The forwarding path of every inner packet; `inbound_spi` names the SA it was
    /// decapsulated from.
    pub(crate) fn forward(
        &mut self,
        now: Instant,
        ingress: Ingress,
        buf: &mut [u8],
        packet: Range<usize>,
        inbound_spi: Option<u32>,
    ) -> Action {
        let Some(flow) = buf.get(packet.clone()).and_then(Flow::parse) else {
            return self.drop(DropReason::Malformed);
        };
        let packet = packet.start..packet.start + flow.len;
        let from_if = match ingress {
            Ingress::Interface(i) => Some(i),
            Ingress::Local => None,
        };
        // For the gateway itself?
        let owner = from_if.and_then(|_| self.interfaces.owner_of(flow.dst));
        if let (Some(_), Some((false, ident, seq))) = (owner, flow.echo) {
            if self.monitor_reply(now, flow.src, ident, seq) {
                return Action::Consumed;
            }
        }
        let (egress, next_hop) = match owner {
            Some(o) => (o, None),
            None => {
                // The virtual router of the ingress interface; for the gateway's own traffic,
                // that of the interface owning the source address.
                let vr_of = from_if.or_else(|| self.interfaces.owner_of(flow.src));
                let vr = vr_of
                    .and_then(|i| self.interfaces.get(i))
                    .map_or("default", |i| i.virtual_router.as_str());
                match self.routes.lookup(vr, flow.dst) {
                    Some(h) => (h.interface, h.gateway),
                    None => return self.drop(DropReason::NoRoute),
                }
            }
        };
        let Some(to) = self.interfaces.get(egress).and_then(|i| i.zone) else {
            return self.drop(DropReason::NoZone);
        };
        let from = match from_if {
            Some(i) => match self.interfaces.get(i).and_then(|i| i.zone) {
                Some(z) => Some(z),
                None => return self.drop(DropReason::NoZone),
            },
            None => None,
        };
        if let Err(reason) = self.admit(now, &flow, from, to, egress) {
            return self.drop(reason);
        }
        let is_tunnel = self.interfaces.get(egress).is_some_and(|i| i.is_tunnel);
        if owner.is_some() || !is_tunnel {
            self.counters.delivered += 1;
            return Action::Deliver(Delivery {
                interface: egress,
                range: packet,
                next_hop,
                local: owner.is_some(),
                inbound_spi,
            });
        }
        let Some(tunnel) = self.tunnel_ids.get(egress.index()).copied().flatten() else {
            return self.drop(DropReason::TunnelDown);
        };
        match self.table.encapsulate(now, tunnel, buf, packet) {
            Ok(t) => {
                self.counters.encapsulated += 1;
                Action::Send(Transmit::from_esp(t))
            }
            Err(EspError::NoOutboundSa) if self.children.any_in(tunnel) => {
                self.drop(DropReason::NoProxyId)
            }
            Err(EspError::NoOutboundSa) => self.drop(DropReason::TunnelDown),
            Err(_) => self.drop(DropReason::EncapFailed),
        }
    }

    /// The security policy of a packet from zone `from` (`None`: the gateway's own stack) to
    /// zone `to`: its session, or a new one if the rules allow it.
    fn admit(
        &mut self,
        now: Instant,
        flow: &Flow,
        from: Option<usize>,
        to: usize,
        egress: InterfaceId,
    ) -> Result<(), DropReason> {
        if self.sessions.lookup(now, flow, from, to).is_some() {
            return Ok(());
        }
        let rule = match from {
            Some(z) => {
                let v = self.policy.evaluate(z, to, flow);
                if !v.allow {
                    return Err(DropReason::PolicyDeny);
                }
                let egress_name = self.interfaces.get(egress).map_or("", |i| i.name.as_str());
                if self.policy.nat(z, to, egress_name, flow) == Some(true) {
                    self.counters.nat_untranslated += 1;
                }
                Some(v.rule)
            }
            None => None,
        };
        if !self.sessions.insert(now, flow, from, to, rule) {
            return Err(DropReason::SessionLimit);
        }
        self.counters.sessions_created += 1;
        Ok(())
    }
}
