//! CREATE_CHILD_SA for additional Child SAs and Child SA rekeys (RFC 7296 sections 1.3.1, 1.3.3,
//! 2.17).
//!
//! ```text
//! Initiator                                        Responder
//! HDR, SK {SA, Ni, [KEi], TSi, TSr}          -->   (new Child SA, e.g. the second proxy ID)
//!                                            <--   HDR, SK {SA, Nr, [KEr], TSi, TSr}
//! HDR, SK {N(REKEY_SA), SA, Ni, [KEi], TSi, TSr} --> (rekey; its initiator deletes the old SA)
//!                                            <--   HDR, SK {SA, Nr, [KEr], TSi, TSr}
//! ```
//!
//! KEYMAT is `prf+(SK_d, g^ir (new) | Ni | Nr)` with PFS, `prf+(SK_d, Ni | Nr)` without.
//! Simultaneous rekeys of one Child SA are resolved by the lowest nonce (RFC 7296 section
//! 2.8.1), and a rekey of a Child SA being deleted is refused with TEMPORARY_FAILURE (section
//! 2.25.1). Two new Child SAs for one proxy ID, created by crossing requests, are settled the
//! same way. IKE SA rekeys are in [`super::ike_rekey`].

use super::child::{
    esp_text, first_policy, make_child, peer_refusal, pfs_group, policies, push_esp_answer,
    push_esp_offers, retries_pfs,
};
use super::keying::prf;
use super::outcome::Effects;
use crate::ctx::Ctx;
use crate::error::{LocalError, NegotiationError};
use crate::event::{Event, Reason, Role};
use crate::proposal::{self, EspSuite};
use crate::sa::{
    Agreed, Child, ChildRequest, ChildTask, Established, KeyOffer, Keymat, Link, Task,
};
use crate::wire::{KeyExchange, Message, Nonce, Notify, NotifyType, Payload, ProtocolId};
use core::time::Duration;
use ipsec_core::crypto::{ActiveKeyExchange, CryptoError, DhGroup, SecretBytes};
use ipsec_core::selector::{check_narrowed, choose_policy, TrafficSelector};

/// A refused rekey is retried (after half the time left at most) while this much of the old
/// SA's lifetime is left; with less, a retry could not complete before the SA expires.
const MIN_RETRY_LEFT: Duration = Duration::from_millis(100);

/// The lengths a nonce may have (RFC 7296 section 2.10: 16 to 256 octets).
pub(crate) const NONCE_LEN: core::ops::RangeInclusive<usize> = 16..=256;

/// What a CREATE_CHILD_SA request asks for.
pub(crate) enum Asks {
    /// A new or rekeyed Child SA.
    ChildSa,
    /// A rekey of the IKE SA (its SA payload proposes protocol IKE).
    IkeSa,
    /// Neither: the SA or nonce payload is missing.
    Malformed,
}

/// Classifies a CREATE_CHILD_SA request.
pub(crate) fn asks(msg: &Message) -> Asks {
    match (msg.sa(), msg.nonce()) {
        (Some(sa), Some(_)) if sa.proposals.iter().any(|p| p.protocol == ProtocolId::IKE) => {
            Asks::IkeSa
        }
        (Some(_), Some(_)) => Asks::ChildSa,
        _ => Asks::Malformed,
    }
}

/// The single error notify `ty` that refuses a request.
pub(crate) fn refusal(ty: NotifyType, data: &[u8]) -> Vec<Payload> {
    vec![Payload::Notify(Notify::new(ty, data))]
}

/// Initiator: the request for `req`, with our nonce and PFS key exchange kept in the task.
pub(crate) fn start(
    ctx: &Ctx<'_>,
    req: ChildRequest,
) -> Result<(ChildTask, Vec<Payload>), LocalError> {
    let t = ctx.tunnel(&req.tunnel)?;
    let group = req.group.or_else(|| pfs_group(t));
    let ke = match group {
        Some(g) => Some(
            ctx.provider
                .key_exchange(g)
                .ok_or(CryptoError::Unsupported("PFS group not in the provider"))?
                .start(ctx.rng)?,
        ),
        None => None,
    };
    let ni = ctx.nonce()?;
    let mut payloads = Vec::new();
    if let Some(old) = req.rekey {
        let mut n = Notify::new(NotifyType::REKEY_SA, &[]);
        n.protocol = ProtocolId::ESP;
        n.spi = old.to_be_bytes().to_vec();
        payloads.push(Payload::Notify(n));
    }
    push_esp_offers(&mut payloads, t, req.spi, true);
    payloads.push(Payload::Nonce(Nonce { data: ni.clone() }));
    if let (Some(ke), Some(g)) = (&ke, group) {
        payloads.push(Payload::Ke(KeyExchange {
            group: g,
            data: ke.public_value().to_vec(),
        }));
    }
    payloads.push(Payload::TsI(crate::wire::TrafficSelectors::from_selectors(
        &req.tsi,
    )));
    payloads.push(Payload::TsR(crate::wire::TrafficSelectors::from_selectors(
        &req.tsr,
    )));
    let task = ChildTask {
        request: req,
        offer: Some(KeyOffer { ni, ke }),
    };
    Ok((task, payloads))
}

/// Initiator: processes the response to `task`, installing the Child SA in `sa`.
pub(crate) fn on_response(
    ctx: &mut Ctx<'_>,
    link: &Link,
    sa: &mut Established,
    task: ChildTask,
    msg: &Message,
) -> Effects {
    let mut fx = Effects::default();
    let unborn = core::mem::take(&mut sa.deleted_unborn);
    let ChildTask {
        request: req,
        offer,
    } = task;
    let Some(offer) = offer else {
        ctx.release_spi(req.spi);
        return fx;
    };
    // RFC 7296 section 1.3: the responder wants another PFS group; retry once with it.
    if let Some(n) = msg.notify(NotifyType::INVALID_KE_PAYLOAD) {
        let wanted = n
            .data
            .get(..2)
            .map(|b| DhGroup(u16::from_be_bytes([b[0], b[1]])));
        let sent = offer.ke.as_ref().map(|k| k.group());
        let retry = ctx
            .tunnel(&req.tunnel)
            .is_ok_and(|t| retries_pfs(t, wanted, sent, req.group.is_some()));
        if retry {
            let mut retry = req;
            retry.group = wanted;
            fx.first.push(Task::create_child(retry));
            return fx;
        }
    }
    // RFC 7296 section 2.25: the peer is busy (rekeying the IKE SA, say); try again after a
    // short random delay, a rekey while the old SA is still there (before its hard lifetime).
    if msg.notify(NotifyType::TEMPORARY_FAILURE).is_some() {
        match req.rekey {
            Some(old) => {
                let found = sa.children.iter_mut().find(|c| c.sa.inbound.spi == old);
                let left = found
                    .as_ref()
                    .map(|c| c.expire_at.saturating_duration_since(ctx.now))
                    .unwrap_or_default();
                if let Some(c) = found.filter(|_| left >= MIN_RETRY_LEFT) {
                    // The retry is a new request with an SPI of its own.
                    ctx.release_spi(req.spi);
                    let at = ctx.now + ctx.retry_delay(left / 2);
                    tracing::debug!(
                        old = format_args!("{old:08x}"),
                        "rekey refused for now, retrying"
                    );
                    c.rekey_at = Some(at);
                    return fx;
                }
            }
            None => {
                let at = ctx.now + ctx.retry_delay(Duration::MAX);
                tracing::debug!(tunnel = %req.tunnel, "Child SA refused for now, retrying");
                fx.later.push((at, Task::create_child(req)));
                return fx;
            }
        }
    }
    match accept(ctx, link, sa, msg, &req, offer) {
        // The peer deleted it before this answer arrived (RFC 7296 section 2.25.1): neither
        // side has it, so it is not installed and nothing is reported.
        Ok(c) if unborn.contains(&c.sa.outbound.spi) => {
            tracing::debug!(
                spi = format_args!("{:08x}", c.sa.inbound.spi),
                "Child SA deleted by the peer before its answer arrived; not installed"
            );
        }
        Ok(mut c) => {
            c.replaces = req.rekey;
            sa.install(ctx, &link.gateway, Role::Initiator, c);
            if let Some(old) = req.rekey {
                match resolve_rekey_collision(sa, old) {
                    // We lost a rekey collision: our SA is redundant and goes; the winner's
                    // creator deletes the old SA once its own rekey completes, so neither side
                    // is ever left without an SA to send on (RFC 7296 section 2.8.1).
                    Some(redundant) => fx.then.push(redundant),
                    // A rekey is complete once the old Child SA is deleted (RFC 7296 1.3.3).
                    None if sa.child(old).is_some() => fx.then.push(Task::DeleteChild(old)),
                    None => {}
                }
            }
            fx.then
                .extend(resolve_duplicate(sa, &req.tunnel, req.proxy_id.as_deref()));
        }
        // The SA we meant to rekey is gone already (the peer rekeyed it too and deleted it, or
        // deleted it outright): the refusal is moot, nothing failed.
        Err(reason) if req.rekey.is_some_and(|old| sa.child(old).is_none()) => {
            ctx.release_spi(req.spi);
            tracing::debug!(%reason, "rekey of a Child SA that is gone meanwhile refused");
        }
        Err(reason) => {
            // The SPI we offered will never be installed.
            ctx.release_spi(req.spi);
            ctx.emit(Event::Phase2Failed {
                tunnel: req.tunnel.clone(),
                role: Role::Initiator,
                reason,
            })
        }
    }
    fx
}

fn accept(
    ctx: &Ctx<'_>,
    link: &Link,
    sa: &Established,
    msg: &Message,
    req: &ChildRequest,
    offer: KeyOffer,
) -> Result<Child, Reason> {
    let tunnel = ctx.tunnel(&req.tunnel).map_err(Reason::from)?;
    if let Some(n) = msg.notifies().find(|n| n.notify_type.is_error()) {
        return Err(peer_refusal(n.notify_type, tunnel, req));
    }
    let (Some(sa_payload), Some(nonce), Some(tsi), Some(tsr)) =
        (msg.sa(), msg.nonce(), msg.ts_i(), msg.ts_r())
    else {
        return Err(Reason::Malformed(
            "CREATE_CHILD_SA response without SA, Nr or TS".into(),
        ));
    };
    if !NONCE_LEN.contains(&nonce.data.len()) {
        return Err(Reason::Malformed(
            "CREATE_CHILD_SA response with a nonce of a bad length".into(),
        ));
    }
    let (tsi, tsr) = (tsi.ip_selectors(), tsr.ip_selectors());
    let (peer_spi, suite) =
        proposal::accept_esp_answer(&sa_payload.proposals, &tunnel.esp_proposals, true)
            .map_err(Reason::from)?;
    let shared = pfs_secret(msg, &suite, offer.ke.as_deref())?;
    if check_narrowed(&req.tsi, &req.tsr, &tsi, &tsr).is_err() {
        return Err(Reason::TsUnacceptable {
            local: req.tsi.clone(),
            remote: req.tsr.clone(),
            received_remote: tsr,
            received_local: tsi,
        });
    }
    let keymat = Keymat {
        prf: prf(ctx, &sa.suite).map_err(Reason::from)?,
        sk_d: sa.keys.ike.sk_d.expose(),
        ni: &offer.ni,
        nr: &nonce.data,
        shared: shared.as_ref(),
    };
    let agreed = Agreed {
        tunnel,
        proxy_id: req.proxy_id.clone(),
        role: Role::Initiator,
        suite,
        our_spi: req.spi,
        peer_spi,
        tsi,
        tsr,
    };
    make_child(link, keymat, agreed, msg).map_err(Reason::from)
}

/// The PFS shared secret: the peer's KE must use the negotiated group.
fn pfs_secret(
    msg: &Message,
    suite: &EspSuite,
    ours: Option<&dyn ActiveKeyExchange>,
) -> Result<Option<SecretBytes>, Reason> {
    if suite.dh == DhGroup::NONE {
        return Ok(None);
    }
    let ke = msg
        .ke()
        .filter(|k| k.group == suite.dh)
        .ok_or_else(|| Reason::Malformed("PFS negotiated but no matching KE payload".into()))?;
    let ours = ours
        .filter(|k| k.group() == suite.dh)
        .ok_or_else(|| Reason::PeerMisbehaved("responder chose another PFS group".into()))?;
    ours.complete(&ke.data)
        .map(Some)
        .map_err(|e| Reason::from(NegotiationError::from(e)))
}

/// Responder: answers a request for a new or rekeyed Child SA of `sa`. `deleting(spi)` says
/// whether we are deleting the Child SA with inbound SPI `spi` ourselves.
pub(crate) fn respond(
    ctx: &mut Ctx<'_>,
    link: &Link,
    sa: &mut Established,
    msg: &Message,
    deleting: impl Fn(u32) -> bool,
) -> Result<(Vec<Payload>, Effects), LocalError> {
    let mut fx = Effects::default();
    let (Some(sa_payload), Some(nonce), Some(tsi), Some(tsr)) =
        (msg.sa(), msg.nonce(), msg.ts_i(), msg.ts_r())
    else {
        return Ok((refusal(NotifyType::INVALID_SYNTAX, &[]), fx));
    };
    if !NONCE_LEN.contains(&nonce.data.len()) {
        return Ok((refusal(NotifyType::INVALID_SYNTAX, &[]), fx));
    }
    let (tsi, tsr) = (tsi.ip_selectors(), tsr.ip_selectors());
    // A rekey names the SA by the SPI its sender receives on: our outbound SPI.
    let rekeyed = msg
        .notify(NotifyType::REKEY_SA)
        .and_then(|n| <[u8; 4]>::try_from(n.spi.as_slice()).ok())
        .map(u32::from_be_bytes);
    let old = match rekeyed {
        Some(spi) => match sa.child_by_outbound(spi) {
            // RFC 7296 section 2.25.1: we are deleting it; the rekey is moot.
            Some(c) if deleting(c.sa.inbound.spi) => {
                return Ok((refusal(NotifyType::TEMPORARY_FAILURE, &[]), fx));
            }
            Some(c) => Some(c.sa.clone()),
            None => {
                let mut n = Notify::new(NotifyType::CHILD_SA_NOT_FOUND, &[]);
                n.protocol = ProtocolId::ESP;
                n.spi = spi.to_be_bytes().to_vec();
                return Ok((vec![Payload::Notify(n)], fx));
            }
        },
        None => None,
    };
    // A bound on what an authenticated peer may make us keep (RFC 7296 section 1.3).
    let limit = ctx.cfg.child_sa_limit(&link.gateway);
    let replaced = |c: &Child| {
        sa.children
            .iter()
            .any(|s| s.replaces == Some(c.sa.inbound.spi))
    };
    let full = match old {
        None => sa.children.iter().filter(|c| !replaced(c)).count() >= limit,
        Some(_) => sa.children.len() >= limit.saturating_mul(2),
    };
    if full {
        tracing::debug!(limit, "Child SA refused: the IKE SA carries its maximum");
        return Ok((refusal(NotifyType::NO_ADDITIONAL_SAS, &[]), fx));
    }
    // Candidate policies: the rekeyed SA's tunnel, or every proxy ID of the gateway.
    let pols: Vec<_> = policies(ctx.cfg, &link.gateway, link.remote.ip())
        .into_iter()
        .filter(|(_, _, t, _)| old.as_ref().is_none_or(|o| o.tunnel == t.name))
        .collect();
    let refs: Vec<(&[TrafficSelector], &[TrafficSelector])> = pols
        .iter()
        .map(|(l, r, _, _)| (l.as_slice(), r.as_slice()))
        .collect();
    let Ok((idx, narrowed)) = choose_policy(&tsi, &tsr, &refs) else {
        let (local, remote, tunnel) = first_policy(&pols);
        ctx.emit(Event::Phase2Failed {
            tunnel,
            role: Role::Responder,
            reason: Reason::TsUnacceptable {
                local,
                remote,
                received_remote: tsi,
                received_local: tsr,
            },
        });
        return Ok((refusal(NotifyType::TS_UNACCEPTABLE, &[]), fx));
    };
    let Some((_, _, tunnel, proxy_id)) = pols.get(idx) else {
        return Ok((refusal(NotifyType::TS_UNACCEPTABLE, &[]), fx));
    };
    let (tunnel, proxy_id) = (*tunnel, proxy_id.clone());
    let offers = &sa_payload.proposals;
    let Ok((number, peer_spi, suite)) = proposal::select_esp(offers, &tunnel.esp_proposals, true)
    else {
        ctx.emit(Event::Phase2Failed {
            tunnel: tunnel.name.clone(),
            role: Role::Responder,
            reason: Reason::NoProposalChosen {
                ours: esp_text(tunnel),
                theirs: proposal::describe(offers),
            },
        });
        return Ok((refusal(NotifyType::NO_PROPOSAL_CHOSEN, &[]), fx));
    };
    let mut ke_out = None;
    let mut shared = None;
    if suite.dh != DhGroup::NONE {
        let Some(ke) = msg.ke().filter(|k| k.group == suite.dh) else {
            let data = suite.dh.0.to_be_bytes();
            return Ok((refusal(NotifyType::INVALID_KE_PAYLOAD, &data), fx));
        };
        let ours = ctx
            .provider
            .key_exchange(suite.dh)
            .ok_or(CryptoError::Unsupported("PFS group not in the provider"))?
            .start(ctx.rng)?;
        match ours.complete(&ke.data) {
            Ok(s) => shared = Some(s),
            Err(_) => return Ok((refusal(NotifyType::INVALID_SYNTAX, &[]), fx)),
        }
        ke_out = Some(KeyExchange {
            group: suite.dh,
            data: ours.public_value().to_vec(),
        });
    }
    let nr = ctx.nonce()?;
    let prf = prf(ctx, &sa.suite)?;
    let Ok(our_spi) = ctx.allocate_spi() else {
        // A full SA table (RFC 7296 section 1.3: no more Child SAs for now).
        return Ok((refusal(NotifyType::NO_ADDITIONAL_SAS, &[]), fx));
    };
    let keymat = Keymat {
        prf,
        sk_d: sa.keys.ike.sk_d.expose(),
        ni: &nonce.data,
        nr: &nr,
        shared: shared.as_ref(),
    };
    let agreed = Agreed {
        tunnel,
        proxy_id,
        role: Role::Responder,
        suite,
        our_spi,
        peer_spi,
        tsi: narrowed.tsi.clone(),
        tsr: narrowed.tsr.clone(),
    };
    let mut c = match make_child(link, keymat, agreed, msg) {
        Ok(c) => c,
        Err(e) => {
            ctx.release_spi(our_spi);
            return Err(e);
        }
    };
    let mut payloads = Vec::new();
    push_esp_answer(&mut payloads, &c, number, true);
    payloads.push(Payload::Nonce(Nonce { data: nr }));
    if let Some(k) = ke_out {
        payloads.push(Payload::Ke(k));
    }
    payloads.push(Payload::TsI(crate::wire::TrafficSelectors::from_selectors(
        &narrowed.tsi,
    )));
    payloads.push(Payload::TsR(crate::wire::TrafficSelectors::from_selectors(
        &narrowed.tsr,
    )));
    c.replaces = old.as_ref().map(|o| o.inbound.spi);
    if let Some(o) = &old {
        // The peer is replacing it: we need not rekey it ourselves.
        if let Some(oc) = sa
            .children
            .iter_mut()
            .find(|c| c.sa.inbound.spi == o.inbound.spi)
        {
            oc.rekey_at = None;
        }
    }
    let (tunnel, proxy_id) = (c.sa.tunnel.clone(), c.sa.proxy_id.clone());
    // An earlier rekey of the same SA that we answered and the peer never took up (no Delete of
    // the old SA, no traffic on the new one): the peer asks again because our answer was lost,
    // so that successor exists on our side only. It is no successor any more (the old SA's
    // removal must not make the datapath send on it) and goes, or it would outlive the old SA
    // as a second Child SA for the proxy ID, one the peer never installed.
    if let Some(o) = &old {
        for s in sa.children.iter_mut() {
            if s.replaces == Some(o.inbound.spi) && !s.ours && s.outbound_later {
                s.replaces = None;
                fx.then.push(Task::DeleteChild(s.sa.inbound.spi));
            }
        }
    }
    sa.install(ctx, &link.gateway, Role::Responder, c);
    if let Some(o) = old {
        fx.then.extend(resolve_rekey_collision(sa, o.inbound.spi));
    }
    fx.then
        .extend(resolve_duplicate(sa, &tunnel, proxy_id.as_deref()));
    Ok((payloads, fx))
}

/// The lower-nonce one of two twins is redundant; its creator deletes it.
fn redundant<'a>(twins: &[&'a Child]) -> Option<&'a Child> {
    let [a, b] = twins else {
        return None;
    };
    let loser = if a.min_nonce < b.min_nonce { a } else { b };
    loser.ours.then_some(*loser)
}

/// Both peers creating the Child SA of the same proxy ID at once (e.g. both restarting
/// after a dead peer, or both connecting) leave two Child SAs for it, with the same
/// selectors. As for rekey collisions, the one created by the exchange with the lowest nonce
/// is redundant and its creator deletes it. An SA being replaced by a rekey does not count,
/// its successor does: one side may have rekeyed its twin before the other's request
/// arrived, and the two then still carry the same traffic.
fn resolve_duplicate(sa: &Established, tunnel: &str, proxy_id: Option<&str>) -> Vec<Task> {
    let replaced = |c: &Child| {
        sa.children
            .iter()
            .any(|s| s.replaces == Some(c.sa.inbound.spi))
    };
    let live: Vec<&Child> = sa
        .children
        .iter()
        .filter(|c| c.is_for(tunnel, proxy_id) && !replaced(c))
        .collect();
    let Some(keep) = live.iter().max_by(|a, b| a.min_nonce.cmp(&b.min_nonce)) else {
        return Vec::new();
    };
    let same_traffic =
        |c: &Child| (&c.sa.local_ts, &c.sa.remote_ts) == (&keep.sa.local_ts, &keep.sa.remote_ts);
    live.iter()
        .filter(|c| c.ours && c.sa.inbound.spi != keep.sa.inbound.spi && same_traffic(c))
        .map(|c| Task::DeleteChild(c.sa.inbound.spi))
        .collect()
}

/// Simultaneous rekeys of one Child SA (RFC 7296 section 2.8.1) leave two new SAs for the
/// same old one. The one created by the exchange with the lowest nonce is redundant and is
/// deleted by its creator; both peers see the same four nonces, so they agree without
/// talking.
fn resolve_rekey_collision(sa: &Established, old: u32) -> Option<Task> {
    let twins: Vec<&Child> = sa
        .children
        .iter()
        .filter(|c| c.replaces == Some(old))
        .collect();
    redundant(&twins).map(|c| Task::DeleteChild(c.sa.inbound.spi))
}
