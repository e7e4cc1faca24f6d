//! Rekeying the IKE SA with CREATE_CHILD_SA (RFC 7296 sections 1.3.2, 2.18).
//!
//! ```text
//! Initiator                                    Responder
//! HDR(old SPIs), SK {SA(new SPIi), Ni, KEi} -->
//!                                         <--  HDR(old SPIs), SK {SA(new SPIr), Nr, KEr}
//! (both: new IKE SA with the new SPIs, message IDs from 0, the Child SAs move over)
//! HDR(old SPIs), SK {D(IKE)}                -->
//!                                         <--  HDR(old SPIs), SK {}
//! ```
//!
//! `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)` with the old SA's PRF, then the SK_* keys
//! with the new suite's prf+ (RFC 7296 section 2.18). The rekey's initiator is the original
//! initiator of the new SA.
//!
//! When both peers rekey at once (RFC 7296 section 2.8.2), each answers the other's request
//! normally and both exchanges complete: of the two new SAs, the one whose exchange had the
//! lowest of the four nonces is redundant and deleted by its creator; the other inherits the
//! Child SAs, and its creator deletes the old SA. A peer that already finished its own rekey
//! answers a late one with TEMPORARY_FAILURE (the old SA is being closed), and a peer that
//! answers ours that way gets its own SA adopted; a refused rekey without a crossing one is
//! retried after a random pause.

use super::create_child_sa::{refusal, NONCE_LEN};
use super::keying::{our_proposals, prf, sa_keys};
use super::outcome::{Effects, Successor};
use crate::ctx::Ctx;
use crate::error::{LocalError, NegotiationError};
use crate::event::{Reason, Role};
use crate::keys;
use crate::proposal::{self, IkeSuite};
use crate::sa::{Established, IkeRekeyOffer, Link, Task};
use crate::wire::{KeyExchange, Message, Nonce, NotifyType, Payload, SecurityAssociation};
use core::time::Duration;
use ipsec_core::crypto::{CryptoError, SecretBytes};

/// Initiator: the rekey request, offering our proposals with a new SPI.
pub(crate) fn start(
    ctx: &Ctx<'_>,
    link: &Link,
    sa: &Established,
) -> Result<(IkeRekeyOffer, Vec<Payload>), LocalError> {
    let g = link.gateway_cfg(ctx)?;
    let ours = our_proposals(g, ctx.provider);
    let current = sa.suite.dh;
    let group = if ours.iter().any(|p| p.dh.contains(&current)) {
        current
    } else {
        ours.first()
            .and_then(|p| p.dh.first().copied())
            .ok_or(CryptoError::Unsupported(
                "no IKE proposal the provider runs",
            ))?
    };
    let spi = ctx.fresh_ike_spi()?;
    let mut offers = proposal::number(ours.iter().flat_map(|p| p.offers(group)).collect());
    for o in offers.iter_mut() {
        o.spi = spi.to_be_bytes().to_vec();
    }
    let ke = ctx.start_ke(group)?;
    let ni = ctx.nonce()?;
    let payloads = vec![
        Payload::Sa(SecurityAssociation { proposals: offers }),
        Payload::Nonce(Nonce { data: ni.clone() }),
        Payload::Ke(KeyExchange {
            group,
            data: ke.public_value().to_vec(),
        }),
    ];
    Ok((IkeRekeyOffer { spi, ni, ke }, payloads))
}

/// Initiator: processes the rekey response; on success the effects carry the new IKE SA.
pub(crate) fn on_response(
    ctx: &Ctx<'_>,
    link: &Link,
    sa: &mut Established,
    offer: IkeRekeyOffer,
    msg: &Message,
) -> Effects {
    let mut fx = Effects::default();
    if let Some(n) = msg.notifies().find(|n| n.notify_type.is_error()) {
        if n.notify_type == NotifyType::TEMPORARY_FAILURE {
            // A crossing rekey (or a busy peer): try again shortly.
            let pause = Duration::from_millis(
                2000 + u64::from(ctx.random(1).map(|b| b[0]).unwrap_or(0)) * 32,
            );
            fx.retry_rekey = Some(ctx.now + pause);
        } else {
            // The peer cannot rekey: replace the IKE SA instead.
            sa.replace = true;
            fx.then.push(Task::DeleteIke);
        }
        return fx;
    }
    let malformed = |why: &str| Effects::end(Reason::Malformed(why.into()));
    let misbehaved = |why: &str| Effects::end(Reason::PeerMisbehaved(why.into()));
    let g = match link.gateway_cfg(ctx) {
        Ok(g) => g,
        Err(e) => return Effects::end(e.into()),
    };
    let ours = our_proposals(g, ctx.provider);
    let (Some(sa_payload), Some(nonce), Some(ke)) = (msg.sa(), msg.nonce(), msg.ke()) else {
        return malformed("IKE rekey response incomplete");
    };
    if !NONCE_LEN.contains(&nonce.data.len()) {
        return malformed("IKE rekey response with a nonce of a bad length");
    }
    let answer = &sa_payload.proposals;
    let spi_r = answer
        .first()
        .and_then(|o| <[u8; 8]>::try_from(o.spi.as_slice()).ok())
        .map(u64::from_be_bytes);
    let suite = proposal::accept_ike_answer(answer, &ours);
    let (Some(spi_r), Ok(suite)) = (spi_r, suite) else {
        return misbehaved("bad SA in the IKE rekey response");
    };
    if suite.dh != offer.ke.group() || ke.group != suite.dh || spi_r == 0 {
        return misbehaved("IKE rekey: wrong key exchange");
    }
    let shared = match offer.ke.complete(&ke.data) {
        Ok(s) => s,
        Err(e) => return Effects::end(NegotiationError::from(e).into()),
    };
    match successor(
        ctx,
        link,
        sa,
        Role::Initiator,
        (offer.spi, spi_r),
        suite,
        (&offer.ni, &nonce.data),
        &shared,
    ) {
        Ok(new) => fx.successor = Some(new),
        Err(e) => return Effects::end(e.into()),
    }
    fx
}

/// Responder: answers an IKE SA rekey request. `closing`: this SA was rekeyed already and is
/// being closed (refused with TEMPORARY_FAILURE, RFC 7296 section 2.8.2). `crossing`: our own
/// rekey is in flight, so the SA this answer makes waits for it ([`Effects::crossing`]).
pub(crate) fn respond(
    ctx: &Ctx<'_>,
    link: &Link,
    sa: &Established,
    msg: &Message,
    (closing, crossing): (bool, bool),
) -> Result<(Vec<Payload>, Effects), LocalError> {
    let fx = Effects::default();
    if closing {
        return Ok((refusal(NotifyType::TEMPORARY_FAILURE, &[]), fx));
    }
    let (Some(offered), Some(nonce), Some(ke)) = (msg.sa(), msg.nonce(), msg.ke()) else {
        return Ok((refusal(NotifyType::INVALID_SYNTAX, &[]), fx));
    };
    if !NONCE_LEN.contains(&nonce.data.len()) {
        return Ok((refusal(NotifyType::INVALID_SYNTAX, &[]), fx));
    }
    let g = link.gateway_cfg(ctx)?;
    let ours = our_proposals(g, ctx.provider);
    let offers = &offered.proposals;
    let Ok((number, suite)) = proposal::select_ike(offers, &ours, Some(ke.group)) else {
        return Ok((refusal(NotifyType::NO_PROPOSAL_CHOSEN, &[]), fx));
    };
    let spi_i = offers
        .iter()
        .find(|o| o.number == number)
        .and_then(|o| <[u8; 8]>::try_from(o.spi.as_slice()).ok())
        .map(u64::from_be_bytes)
        .filter(|s| *s != 0);
    let Some(spi_i) = spi_i else {
        return Ok((refusal(NotifyType::INVALID_SYNTAX, &[]), fx));
    };
    if suite.dh != ke.group {
        let data = suite.dh.0.to_be_bytes();
        return Ok((refusal(NotifyType::INVALID_KE_PAYLOAD, &data), fx));
    }
    let ours_ke = ctx.start_ke(suite.dh)?;
    let Ok(shared) = ours_ke.complete(&ke.data) else {
        return Ok((refusal(NotifyType::INVALID_SYNTAX, &[]), fx));
    };
    let spi_r = ctx.fresh_ike_spi()?;
    let nr = ctx.nonce()?;
    let mut answer = proposal::ike_answer(number, &suite);
    answer.spi = spi_r.to_be_bytes().to_vec();
    let payloads = vec![
        Payload::Sa(SecurityAssociation {
            proposals: vec![answer],
        }),
        Payload::Nonce(Nonce { data: nr.clone() }),
        Payload::Ke(KeyExchange {
            group: suite.dh,
            data: ours_ke.public_value().to_vec(),
        }),
    ];
    let new = successor(
        ctx,
        link,
        sa,
        Role::Responder,
        (spi_i, spi_r),
        suite,
        (&nonce.data, &nr),
        &shared,
    )?;
    let fx = if crossing {
        Effects {
            crossing: Some(new),
            ..fx
        }
    } else {
        Effects {
            successor: Some(new),
            ..fx
        }
    };
    Ok((payloads, fx))
}

/// The new IKE SA of a rekey, keyed from the old one's SK_d (RFC 7296 section 2.18); it gets
/// the Child SAs when the endpoint adopts it.
#[allow(clippy::too_many_arguments)]
fn successor(
    ctx: &Ctx<'_>,
    link: &Link,
    old: &Established,
    role: Role,
    (spi_i, spi_r): (u64, u64),
    suite: IkeSuite,
    (ni, nr): (&[u8], &[u8]),
    shared: &SecretBytes,
) -> Result<Successor, LocalError> {
    let old_prf = prf(ctx, &old.suite)?;
    let seed = keys::rekey_skeyseed(old_prf, old.keys.ike.sk_d.expose(), shared.expose(), ni, nr);
    let keys = sa_keys(ctx, role, &suite, seed.expose(), (ni, nr), (spi_i, spi_r))?;
    let new_link = Link {
        role,
        spi_i,
        spi_r,
        ..link.clone()
    };
    let sa = Established {
        suite,
        keys,
        children: Vec::new(),
        peer_id: old.peer_id.clone(),
        initial_contact: false,
        replace: false,
        deleted_unborn: Vec::new(),
    };
    Ok(Successor {
        link: new_link,
        sa,
        ours: role == Role::Initiator,
        min_nonce: ni.min(nr).to_vec(),
    })
}
