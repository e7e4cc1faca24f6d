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
use esp::{EspError, TunnelId};
use ipsec_core::time::Instant;

/// What [`Gateway::prepare_inner`] and [`Gateway::prepare_local`] made of a packet.
#[derive(Debug)]
pub enum Forwarded {
    /// Forwarded, delivered or dropped as [`Gateway::handle_inner`] would have (never an
    /// [`Action::Send`] of the packet: that is [`Seal`](Self::Seal)).
    Done(Action),
    /// Into a tunnel: laid out as ESP in the buffer, to be sealed ([`esp::Sealing::seal`],
    /// on any thread, in the same buffer) and then sent as the [`Transmit`] says.
    Seal(Transmit, esp::Sealing),
}

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

    /// [`handle_inner`](Self::handle_inner) for an embedder that encrypts on other threads:
    /// the packet is forwarded as `handle_inner` would, but a packet into a tunnel is only laid
    /// out as ESP in `buf` and counted ([`Forwarded::Seal`]; its sequence number taken); the
    /// [`esp::Sealing`] encrypts it anywhere, and the [`Transmit`] says where it goes then.
    /// Packets of one SA should leave in the order they were prepared.
    pub fn prepare_inner(
        &mut self,
        now: Instant,
        ingress: InterfaceId,
        buf: &mut [u8],
        packet: Range<usize>,
    ) -> Forwarded {
        self.prepare(now, Ingress::Interface(ingress), buf, packet)
    }

    /// [`handle_local`](Self::handle_local) with the encryption deferred, as
    /// [`prepare_inner`](Self::prepare_inner).
    pub fn prepare_local(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        packet: Range<usize>,
    ) -> Forwarded {
        self.prepare(now, Ingress::Local, buf, packet)
    }

    /// The two above.
    fn prepare(
        &mut self,
        now: Instant,
        ingress: Ingress,
        buf: &mut [u8],
        packet: Range<usize>,
    ) -> Forwarded {
        let f = match self.route(now, ingress, buf, packet, None) {
            Ok((tunnel, packet)) => self.prepare_into(now, tunnel, buf, packet),
            Err(a) => Forwarded::Done(a),
        };
        self.after(now);
        f
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
        match self.route(now, ingress, buf, packet, inbound_spi) {
            Ok((tunnel, packet)) => match self.table.encapsulate(now, tunnel, buf, packet) {
                Ok(t) => {
                    self.counters.encapsulated += 1;
                    Action::Send(Transmit::from_esp(t))
                }
                Err(e) => self.not_encapsulated(tunnel, e),
            },
            Err(a) => a,
        }
    }

    /// [`forward`](Self::forward)'s last step with the encryption deferred.
    fn prepare_into(
        &mut self,
        now: Instant,
        tunnel: TunnelId,
        buf: &mut [u8],
        packet: Range<usize>,
    ) -> Forwarded {
        match self.table.prepare_encapsulate(now, tunnel, buf, packet) {
            Ok((t, sealing)) => {
                self.counters.encapsulated += 1;
                Forwarded::Seal(Transmit::from_esp(t), sealing)
            }
            Err(e) => Forwarded::Done(self.not_encapsulated(tunnel, e)),
        }
    }

    /// Counts a packet into `tunnel` that the datapath refused.
    fn not_encapsulated(&mut self, tunnel: TunnelId, e: EspError) -> Action {
        match e {
            EspError::NoOutboundSa if self.children.any_in(tunnel) => {
                self.drop(DropReason::NoProxyId)
            }
            EspError::NoOutboundSa => self.drop(DropReason::TunnelDown),
            _ => self.drop(DropReason::EncapFailed),
        }
    }

    /// Everything of forwarding but the encapsulation: `Ok` with the packet's tunnel and
    /// range when it goes into one, otherwise what became of it.
    fn route(
        &mut self,
        now: Instant,
        ingress: Ingress,
        buf: &mut [u8],
        packet: Range<usize>,
        inbound_spi: Option<u32>,
    ) -> Result<(TunnelId, Range<usize>), Action> {
        let Some(flow) = buf.get(packet.clone()).and_then(Flow::parse) else {
            return Err(self.drop(DropReason::Malformed));
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
                return Err(Action::Consumed);
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
                    None => return Err(self.drop(DropReason::NoRoute)),
                }
            }
        };
        let Some(to) = self.interfaces.get(egress).and_then(|i| i.zone) else {
            return Err(self.drop(DropReason::NoZone));
        };
        let from = match from_if {
            Some(i) => match self.interfaces.get(i).and_then(|i| i.zone) {
                Some(z) => Some(z),
                None => return Err(self.drop(DropReason::NoZone)),
            },
            None => None,
        };
        if let Err(reason) = self.admit(now, &flow, from, to, egress) {
            return Err(self.drop(reason));
        }
        let is_tunnel = self.interfaces.get(egress).is_some_and(|i| i.is_tunnel);
        if owner.is_some() || !is_tunnel {
            self.counters.delivered += 1;
            return Err(Action::Deliver(Delivery {
                interface: egress,
                range: packet,
                next_hop,
                local: owner.is_some(),
                inbound_spi,
            }));
        }
        match self.tunnel_ids.get(egress.index()).copied().flatten() {
            Some(tunnel) => Ok((tunnel, packet)),
            None => Err(self.drop(DropReason::TunnelDown)),
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
