//! INFORMATIONAL (RFC 7296 sections 1.4, 2.4): deletes of Child and IKE SAs, liveness checks,
//! and INVALID_SPI reports.
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

use super::outcome::Effects;
use crate::ctx::Ctx;
use crate::event::Reason;
use crate::sa::{Established, Task};
use crate::wire::{Delete, Message, Notify, NotifyType, Payload, ProtocolId};

/// The request of an INFORMATIONAL task; `None` when there is nothing left to do (the Child SA
/// to delete is already gone).
pub(crate) fn request(sa: &Established, task: &Task) -> Option<Vec<Payload>> {
    Some(match task {
        Task::DeleteChild(spi) => {
            sa.child(*spi)?;
            vec![Payload::Delete(Delete::esp(&[*spi]))]
        }
        Task::DeleteIke => vec![Payload::Delete(Delete::ike())],
        Task::Liveness => Vec::new(),
        Task::InvalidSpi(spi) => {
            let mut n = Notify::new(NotifyType::INVALID_SPI, &spi.to_be_bytes());
            n.protocol = ProtocolId::ESP;
            vec![Payload::Notify(n)]
        }
        Task::CreateChild(_) | Task::RekeyIke(_) => return None,
    })
}

/// Processes the response to our INFORMATIONAL `task`.
pub(crate) fn on_response(ctx: &mut Ctx<'_>, sa: &mut Established, task: Task) -> Effects {
    match task {
        Task::DeleteChild(spi) => {
            sa.remove(ctx, spi, Reason::DeletedLocally);
            Effects::default()
        }
        Task::DeleteIke => Effects::end(Reason::DeletedLocally),
        _ => Effects::default(),
    }
}

/// Unknown SPIs remembered while a CREATE_CHILD_SA of ours is unanswered (its answer creates one
/// Child SA; a few more cover a confused peer without letting it grow state).
const MAX_UNBORN: usize = 4;

/// Answers the peer's INFORMATIONAL request: deletes, liveness checks, notifies. `creating`: a
/// CREATE_CHILD_SA of ours is unanswered.
pub(crate) fn respond(
    ctx: &mut Ctx<'_>,
    sa: &mut Established,
    msg: &Message,
    creating: bool,
) -> (Vec<Payload>, Effects) {
    if msg.notify(NotifyType::AUTHENTICATION_FAILED).is_some() {
        // The initiator rejected our AUTH (RFC 7296 section 2.21.2).
        let why = "peer rejected our AUTH payload or ID".into();
        return (Vec::new(), Effects::end(Reason::AuthenticationFailed(why)));
    }
    let deletes: Vec<&Delete> = msg.deletes().collect();
    if deletes.iter().any(|d| d.protocol == ProtocolId::IKE) {
        // RFC 7296 section 1.4.1: answer with an empty message, then the IKE SA and all its
        // Child SAs are gone.
        return (Vec::new(), Effects::end(Reason::DeletedByPeer));
    }
    let mut fx = Effects::default();
    let mut ours = Vec::new();
    for d in deletes.iter().filter(|d| d.protocol == ProtocolId::ESP) {
        for spi in &d.spis {
            let Ok(b) = <[u8; 4]>::try_from(spi.as_slice()) else {
                continue;
            };
            let outbound = u32::from_be_bytes(b);
            if let Some(inbound) = sa.child_by_outbound(outbound) {
                let inbound = inbound.sa.inbound.spi;
                ours.push(inbound);
                // A delete that crosses ours needs no second answer (RFC 7296 1.4.1).
                fx.cancel_deletes.push(inbound);
                sa.remove(ctx, inbound, Reason::DeletedByPeer);
            } else if creating && sa.deleted_unborn.len() < MAX_UNBORN {
                // The peer answered our CREATE_CHILD_SA and deleted the new Child SA before
                // the answer reached us (lost, or overtaken): the answer must not install what
                // the peer no longer has.
                sa.deleted_unborn.push(outbound);
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
        if let Some(c) = sa.child_by_outbound(outbound) {
            let inbound = c.sa.inbound.spi;
            sa.remove(ctx, inbound, Reason::PeerNotify(NotifyType::INVALID_SPI.0));
        }
    }
    let payloads = if ours.is_empty() {
        Vec::new()
    } else {
        vec![Payload::Delete(Delete::esp(&ours))]
    };
    (payloads, fx)
}
