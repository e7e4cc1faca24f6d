//! INFORMATIONAL (RFC 7296 sections 1.4, 2.4): deletes of Child and IKE SAs, and liveness checks.
//!
//! ```text
//! Sender                                   Peer
//! HDR, SK {D(ESP, our inbound SPIs)}  -->
//!                                     <--  HDR, SK {D(ESP, its inbound SPIs)}
//! HDR, SK {D(IKE)}                    -->
//!                                     <--  HDR, SK {}
//! HDR, SK {}            (liveness)    -->
//!                                     <--  HDR, SK {}
//! ```

use super::Ctx;
use crate::error::Error;
use crate::event::{Event, Reason};
use crate::sa::{IkeSa, Pending};
use crate::wire::{Delete, ExchangeType, Message, Notify, NotifyType, Payload, ProtocolId};

impl IkeSa {
    /// Sends the INFORMATIONAL request for a pending command.
    pub(crate) fn start_informational(
        &mut self,
        ctx: &mut Ctx<'_>,
        p: Pending,
    ) -> Result<(), Error> {
        if let Pending::CreateChild(req) = p {
            return self.start_create_child(ctx, req);
        }
        if p == Pending::RekeyIke {
            return self.start_ike_rekey(ctx);
        }
        let payloads = match &p {
            Pending::DeleteChild(spi) => {
                if !self.children.iter().any(|c| c.sa.inbound.spi == *spi) {
                    return self.kick(ctx);
                }
                vec![Payload::Delete(Delete::esp(&[*spi]))]
            }
            Pending::DeleteIke => vec![Payload::Delete(Delete::ike())],
            Pending::Liveness => Vec::new(),
            Pending::CreateChild(_) | Pending::RekeyIke => Vec::new(),
            Pending::InvalidSpi(spi) => {
                let mut n = Notify::new(NotifyType::INVALID_SPI, &spi.to_be_bytes());
                n.protocol = ProtocolId::ESP;
                vec![Payload::Notify(n)]
            }
        };
        self.in_flight = Some(p);
        self.send_request(ctx, ExchangeType::INFORMATIONAL, &payloads)
    }

    /// Processes the response to our INFORMATIONAL request.
    pub(crate) fn handle_informational_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        _msg: &Message,
    ) -> Result<(), Error> {
        match self.in_flight.take() {
            Some(Pending::DeleteChild(spi)) => self.remove_child(ctx, spi, Reason::DeletedLocally),
            Some(Pending::DeleteIke) => self.teardown(ctx, Reason::DeletedLocally),
            Some(Pending::Liveness)
            | Some(Pending::InvalidSpi(_))
            | Some(Pending::CreateChild(_))
            | Some(Pending::RekeyIke)
            | None => {}
        }
        Ok(())
    }

    fn remove_child(&mut self, ctx: &mut Ctx<'_>, inbound_spi: u32, reason: Reason) {
        if let Some(i) = self
            .children
            .iter()
            .position(|c| c.sa.inbound.spi == inbound_spi)
        {
            let c = self.children.remove(i);
            self.arm_child_lifetime();
            ctx.events.push_back(Event::ChildSaDown {
                tunnel: c.sa.tunnel,
                inbound_spi: c.sa.inbound.spi,
                outbound_spi: c.sa.outbound.spi,
                reason,
            });
        }
    }

    /// Answers the peer's INFORMATIONAL request: deletes, liveness checks, notifies.
    pub(crate) fn handle_informational_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: u32,
        msg: &Message,
    ) -> Result<(), Error> {
        let deletes: Vec<&Delete> = msg.deletes().collect();
        if msg.notify(NotifyType::AUTHENTICATION_FAILED).is_some() {
            // The initiator rejected our AUTH (RFC 7296 section 2.21.2).
            self.send_response(ctx, ExchangeType::INFORMATIONAL, id, &[])?;
            self.teardown(
                ctx,
                Reason::AuthenticationFailed("peer rejected our AUTH payload or ID".into()),
            );
            return Ok(());
        }
        if deletes.iter().any(|d| d.protocol == ProtocolId::IKE) {
            // RFC 7296 section 1.4.1: answer with an empty message, then the IKE SA and all its
            // Child SAs are gone.
            self.send_response(ctx, ExchangeType::INFORMATIONAL, id, &[])?;
            self.teardown(ctx, Reason::DeletedByPeer);
            return Ok(());
        }
        let mut ours = Vec::new();
        for d in deletes.iter().filter(|d| d.protocol == ProtocolId::ESP) {
            for spi in &d.spis {
                let Ok(b) = <[u8; 4]>::try_from(spi.as_slice()) else {
                    continue;
                };
                let outbound = u32::from_be_bytes(b);
                if let Some(c) = self.children.iter().find(|c| c.sa.outbound.spi == outbound) {
                    let inbound = c.sa.inbound.spi;
                    ours.push(inbound);
                    // A delete that crosses ours needs no second answer (RFC 7296 1.4.1).
                    self.pending.retain(|p| *p != Pending::DeleteChild(inbound));
                    self.remove_child(ctx, inbound, Reason::DeletedByPeer);
                }
            }
        }
        // RFC 7296 section 2.21.4: the peer received ESP for an SPI it does not know. The SPI is
        // our outbound one; that Child SA is useless, so it goes (the embedder may reconnect).
        let invalid: Vec<u32> = msg
            .notifies()
            .filter(|n| n.notify_type == NotifyType::INVALID_SPI)
            .filter_map(|n| <[u8; 4]>::try_from(n.data.as_slice()).ok())
            .map(u32::from_be_bytes)
            .collect();
        for outbound in invalid {
            if let Some(inbound) = self
                .children
                .iter()
                .find(|c| c.sa.outbound.spi == outbound)
                .map(|c| c.sa.inbound.spi)
            {
                self.remove_child(ctx, inbound, Reason::PeerNotify(NotifyType::INVALID_SPI.0));
            }
        }
        let payloads = if ours.is_empty() {
            Vec::new()
        } else {
            vec![Payload::Delete(Delete::esp(&ours))]
        };
        self.send_response(ctx, ExchangeType::INFORMATIONAL, id, &payloads)
    }
}
