//! IKE_AUTH (RFC 7296 sections 1.2, 2.15) and the first Child SA, with pre-shared keys or
//! certificates (the signatures and certificate checks are in [`super::signature`]).
//!
//! ```text
//! Initiator                                   Responder
//! HDR, SK {IDi, [CERT+, CERTREQ,] AUTH, [N(INITIAL_CONTACT)],
//!          SAi2, TSi, TSr, [N(USE_TRANSPORT_MODE)]}  -->
//!                            <--   HDR, SK {IDr, [CERT+,] AUTH, SAr2, TSi, TSr, [N(USE_TRANSPORT_MODE)]}
//!                            <--   HDR, SK {N(AUTHENTICATION_FAILED)}          (bad AUTH/ID/certificate)
//!                            <--   HDR, SK {IDr, [CERT+,] AUTH, N(TS_UNACCEPTABLE)}     (IKE SA up,
//!                            <--   HDR, SK {IDr, [CERT+,] AUTH, N(NO_PROPOSAL_CHOSEN)}   no Child SA)
//! ```
//!
//! Failure handling follows RFC 7296 section 2.21: an authentication failure ends the IKE SA; a
//! Child SA failure leaves the IKE SA established. Both roles end in
//! [`Established`](crate::sa::Established).

use super::child::{
    esp_text, first_policy, make_child, peer_refusal, policies, push_esp_answer, push_esp_offers,
};
use super::keying::prf;
use super::signature::{self, SignError};
use crate::config::Authentication;
use crate::config::GatewayConfig;
use crate::ctx::Ctx;
use crate::error::LocalError;
use crate::event::{Reason, Role};
use crate::identity::Identity;
use crate::keys;
use crate::proposal;
use crate::sa::{Agreed, AuthSent, Child, ChildRequest, Handshake, Keymat, Link};
use crate::wire::{
    Auth, AuthMethod, IdType, Identification, Message, Notify, NotifyType, Payload,
    TrafficSelectors,
};
use ipsec_core::crypto::constant_time_eq;
use ipsec_core::selector::{check_narrowed, choose_policy, TrafficSelector};

/// How IKE_AUTH ended. The caller turns the [`Handshake`] into an established SA
/// ([`Established::from_handshake`](crate::sa::Established::from_handshake)) when it is up,
/// after protecting the response with its keys.
// Returned once and moved on, never stored: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum AuthResult {
    /// Authenticated as `peer`. `child` is the first Child SA, or the tunnel and reason it
    /// failed for; `None` for a childless IKE SA (RFC 6023). `initial_contact`: the initiator
    /// sent INITIAL_CONTACT.
    Up {
        peer: Identity,
        initial_contact: bool,
        child: Option<Result<Child, (String, Reason)>>,
    },
    /// The IKE SA fails. `tell_peer`: the initiator reports an AUTH it rejects in a separate
    /// INFORMATIONAL (RFC 7296 section 2.21.2).
    Failed { reason: Reason, tell_peer: bool },
}

fn wire_id(id: &Identity) -> Identification {
    Identification {
        id_type: IdType(id.id_type()),
        data: id.data(),
    }
}

/// What an AUTH payload covers (RFC 7296 section 2.15): the sender's IKE_SA_INIT message, the
/// receiver's nonce and `prf(SK_p, ID)` of the sender's ID payload.
struct SignedOctets<'h> {
    message: &'h [u8],
    nonce: &'h [u8],
    maced_id: Vec<u8>,
}

impl SignedOctets<'_> {
    /// The octets a signature covers, in one piece.
    fn concat(&self) -> Vec<u8> {
        [self.message, self.nonce, &self.maced_id].concat()
    }
}

/// The octets of our AUTH (`ours`) or the peer's, for the ID payload `id`.
fn signed_octets<'h>(
    ctx: &Ctx<'_>,
    link: &Link,
    hs: &'h Handshake,
    id: &Identification,
    ours: bool,
) -> Result<SignedOctets<'h>, LocalError> {
    let prf = prf(ctx, &hs.suite)?;
    let k = &hs.keys.ike;
    let initiator_sends = (link.role == Role::Initiator) == ours;
    let (sk_p, message, nonce) = match (initiator_sends, ours) {
        (true, true) => (&k.sk_pi, &hs.our_init, &hs.nr),
        (true, false) => (&k.sk_pi, &hs.peer_init, &hs.nr),
        (false, true) => (&k.sk_pr, &hs.our_init, &hs.ni),
        (false, false) => (&k.sk_pr, &hs.peer_init, &hs.ni),
    };
    Ok(SignedOctets {
        message,
        nonce,
        maced_id: keys::maced_id(prf, sk_p.expose(), &id.to_bytes()),
    })
}

/// Our ID payload and what follows it up to AUTH (RFC 7296 section 2.15): the PSK MIC, or our
/// certificates and signature. `our_id` wraps the ID for the initiator (IDi) or the responder
/// (IDr).
fn authenticate(
    ctx: &Ctx<'_>,
    link: &Link,
    hs: &Handshake,
    our_id: fn(Identification) -> Payload,
) -> Result<Vec<Payload>, SignError> {
    let g = link.gateway_cfg(ctx)?;
    let id = wire_id(&g.local_id);
    let octets = signed_octets(ctx, link, hs, &id, true)?;
    let mut out = vec![our_id(id)];
    match &g.auth {
        Authentication::PreSharedKey(psk) => {
            let prf = prf(ctx, &hs.suite)?;
            out.push(Payload::Auth(Auth {
                method: AuthMethod::SHARED_KEY_MIC,
                data: keys::psk_auth(
                    prf,
                    psk.expose(),
                    octets.message,
                    octets.nonce,
                    &octets.maced_id,
                ),
            }));
        }
        Authentication::Certificate(c) => {
            out.extend(signature::our_payloads(
                ctx.provider,
                ctx.rng,
                c,
                link.role,
                hs.peer_hashes.as_deref(),
                &octets.concat(),
            )?);
        }
    }
    Ok(out)
}

/// Checks the identity a peer presents against the gateway's `peer-id` (any, without one).
pub(crate) fn check_peer_id(g: &GatewayConfig, peer: &Identity) -> Result<(), String> {
    match &g.peer_id {
        Some(p) if !p.matches(peer) => {
            Err(format!("peer ID {peer} does not match the configured {p}"))
        }
        _ => Ok(()),
    }
}

/// Checks the peer's ID against `peer-id` and its AUTH (the PSK MIC, or its certificate and
/// signature); returns the peer's identity. The error says which check failed.
fn verify_peer(
    ctx: &Ctx<'_>,
    link: &Link,
    hs: &Handshake,
    (msg, id, auth): (&Message, &Identification, &Auth),
) -> Result<Identity, String> {
    let g = link.gateway_cfg(ctx).map_err(|e| e.to_string())?;
    let peer = Identity::from_wire(id.id_type.0, &id.data);
    check_peer_id(g, &peer)?;
    let octets = signed_octets(ctx, link, hs, id, false).map_err(|e| e.to_string())?;
    match &g.auth {
        Authentication::PreSharedKey(psk) => {
            if auth.method != AuthMethod::SHARED_KEY_MIC {
                return Err(format!("peer uses auth method {}, we use PSK", auth.method));
            }
            let prf = prf(ctx, &hs.suite).map_err(|e| e.to_string())?;
            let expected = keys::psk_auth(
                prf,
                psk.expose(),
                octets.message,
                octets.nonce,
                &octets.maced_id,
            );
            if !constant_time_eq(&expected, &auth.data) {
                return Err(format!(
                    "AUTH payload of {peer} does not verify (pre-shared key mismatch?)"
                ));
            }
        }
        Authentication::Certificate(c) => {
            let octets = octets.concat();
            signature::verify(ctx.provider, c, ctx.wall_clock, (&peer, msg, auth), &octets)?;
        }
    }
    Ok(peer)
}

/// Initiator: the IKE_AUTH request, with INITIAL_CONTACT (we hold no other IKE SA with the
/// peer when we initiate) and the first Child SA. A failure to authenticate ourselves (no
/// signature scheme the peer accepts, our random source) is the reason the SA fails.
pub(crate) fn request(ctx: &Ctx<'_>, link: &Link, a: &AuthSent) -> Result<Vec<Payload>, Reason> {
    let mut payloads = authenticate(ctx, link, &a.hs, Payload::IdI).map_err(|e| match e {
        SignError::Local(e) => Reason::from(e),
        SignError::NoScheme(why) => Reason::AuthenticationFailed(why),
    })?;
    payloads.push(Payload::Notify(Notify::new(
        NotifyType::INITIAL_CONTACT,
        &[],
    )));
    if let Some(req) = &a.first_child {
        let t = ctx.tunnel(&req.tunnel).map_err(Reason::from)?;
        push_esp_offers(&mut payloads, t, req.spi, false);
        payloads.push(Payload::TsI(TrafficSelectors::from_selectors(&req.tsi)));
        payloads.push(Payload::TsR(TrafficSelectors::from_selectors(&req.tsr)));
    }
    Ok(payloads)
}

/// Responder: authenticates the initiator and sets up the first Child SA. Returns the response
/// payloads and the outcome.
pub(crate) fn respond(
    ctx: &mut Ctx<'_>,
    link: &Link,
    hs: &Handshake,
    msg: &Message,
) -> Result<(Vec<Payload>, AuthResult), LocalError> {
    let refuse = |n: NotifyType, reason: Reason| {
        let payloads = vec![Payload::Notify(Notify::new(n, &[]))];
        let failed = AuthResult::Failed {
            reason,
            tell_peer: false,
        };
        Ok((payloads, failed))
    };
    let (Some(idi), Some(auth)) = (msg.id_i(), msg.auth()) else {
        let why = Reason::Malformed("IKE_AUTH without IDi or AUTH".into());
        return refuse(NotifyType::INVALID_SYNTAX, why);
    };
    let peer = match verify_peer(ctx, link, hs, (msg, idi, auth)) {
        Ok(p) => p,
        Err(why) => {
            return refuse(
                NotifyType::AUTHENTICATION_FAILED,
                Reason::AuthenticationFailed(why),
            )
        }
    };
    let mut payloads = match authenticate(ctx, link, hs, Payload::IdR) {
        Ok(p) => p,
        Err(SignError::Local(e)) => return Err(e),
        // We cannot prove who we are in a way the initiator accepts: it would refuse our AUTH.
        Err(SignError::NoScheme(why)) => {
            return refuse(
                NotifyType::AUTHENTICATION_FAILED,
                Reason::AuthenticationFailed(why),
            )
        }
    };
    let child = respond_child(ctx, link, hs, msg, &mut payloads);
    Ok((
        payloads,
        AuthResult::Up {
            peer,
            initial_contact: msg.notify(NotifyType::INITIAL_CONTACT).is_some(),
            child: child.transpose(),
        },
    ))
}

/// Responder: negotiates the Child SA of an IKE_AUTH request, adding its payloads (or the
/// error notify) to `out`.
fn respond_child(
    ctx: &mut Ctx<'_>,
    link: &Link,
    hs: &Handshake,
    msg: &Message,
    out: &mut Vec<Payload>,
) -> Result<Option<Child>, (String, Reason)> {
    let (Some(sa), Some(tsi), Some(tsr)) = (msg.sa(), msg.ts_i(), msg.ts_r()) else {
        // Childless IKE SA (RFC 6023).
        return Ok(None);
    };
    let (tsi, tsr) = (tsi.ip_selectors(), tsr.ip_selectors());
    let pols = policies(ctx.cfg, &link.gateway, link.remote.ip());
    let refs: Vec<(&[TrafficSelector], &[TrafficSelector])> = pols
        .iter()
        .map(|(l, r, _, _)| (l.as_slice(), r.as_slice()))
        .collect();
    let Ok((idx, narrowed)) = choose_policy(&tsi, &tsr, &refs) else {
        out.push(Payload::Notify(Notify::new(
            NotifyType::TS_UNACCEPTABLE,
            &[],
        )));
        let (local, remote, tunnel) = first_policy(&pols);
        return Err((
            tunnel,
            Reason::TsUnacceptable {
                local,
                remote,
                received_remote: tsi,
                received_local: tsr,
            },
        ));
    };
    let Some((_, _, tunnel, proxy_id)) = pols.get(idx) else {
        return Ok(None);
    };
    let offers = &sa.proposals;
    let Ok((number, peer_spi, suite)) = proposal::select_esp(offers, &tunnel.esp_proposals, false)
    else {
        out.push(Payload::Notify(Notify::new(
            NotifyType::NO_PROPOSAL_CHOSEN,
            &[],
        )));
        return Err((
            tunnel.name.clone(),
            Reason::NoProposalChosen {
                ours: esp_text(tunnel),
                theirs: proposal::describe(offers),
            },
        ));
    };
    let fail = |e: LocalError| (tunnel.name.clone(), Reason::from(e));
    let prf = prf(ctx, &hs.suite).map_err(fail)?;
    let our_spi = match ctx.allocate_spi() {
        Ok(spi) => spi,
        Err(e) => {
            // A full SA table: the IKE SA comes up without this Child SA.
            out.push(Payload::Notify(Notify::new(
                NotifyType::NO_ADDITIONAL_SAS,
                &[],
            )));
            return Err(fail(e.into()));
        }
    };
    let keymat = Keymat {
        prf,
        sk_d: hs.keys.ike.sk_d.expose(),
        ni: &hs.ni,
        nr: &hs.nr,
        shared: None,
    };
    let agreed = Agreed {
        tunnel,
        proxy_id: proxy_id.clone(),
        role: Role::Responder,
        suite,
        our_spi,
        peer_spi,
        tsi: narrowed.tsi.clone(),
        tsr: narrowed.tsr.clone(),
    };
    let c = match make_child(link, keymat, agreed, msg) {
        Ok(c) => c,
        Err(e) => {
            ctx.release_spi(our_spi);
            return Err(fail(e));
        }
    };
    push_esp_answer(out, &c, number, false);
    out.push(Payload::TsI(TrafficSelectors::from_selectors(
        &narrowed.tsi,
    )));
    out.push(Payload::TsR(TrafficSelectors::from_selectors(
        &narrowed.tsr,
    )));
    Ok(Some(c))
}

/// Initiator: checks the responder's IKE_AUTH answer and builds the first Child SA.
pub(crate) fn on_response(ctx: &Ctx<'_>, link: &Link, a: &AuthSent, msg: &Message) -> AuthResult {
    let (Some(idr), Some(auth)) = (msg.id_r(), msg.auth()) else {
        let reason = match msg.notifies().find(|n| n.notify_type.is_error()) {
            Some(n) if n.notify_type == NotifyType::AUTHENTICATION_FAILED => {
                Reason::AuthenticationFailed("peer rejected our AUTH payload".into())
            }
            Some(n) => Reason::PeerNotify(n.notify_type.0),
            None => Reason::Malformed("IKE_AUTH response without IDr or AUTH".into()),
        };
        return AuthResult::Failed {
            reason,
            tell_peer: false,
        };
    };
    let peer = match verify_peer(ctx, link, &a.hs, (msg, idr, auth)) {
        Ok(p) => p,
        Err(why) => {
            return AuthResult::Failed {
                reason: Reason::AuthenticationFailed(why),
                tell_peer: true,
            }
        }
    };
    let child = a
        .first_child
        .as_ref()
        .map(|req| accept_child(ctx, link, &a.hs, msg, req).map_err(|r| (req.tunnel.clone(), r)));
    AuthResult::Up {
        peer,
        initial_contact: false,
        child,
    }
}

fn accept_child(
    ctx: &Ctx<'_>,
    link: &Link,
    hs: &Handshake,
    msg: &Message,
    req: &ChildRequest,
) -> Result<Child, Reason> {
    let tunnel = ctx.tunnel(&req.tunnel).map_err(Reason::from)?;
    if let Some(n) = msg.notifies().find(|n| n.notify_type.is_error()) {
        return Err(peer_refusal(n.notify_type, tunnel, req));
    }
    let (Some(sa), Some(tsi), Some(tsr)) = (msg.sa(), msg.ts_i(), msg.ts_r()) else {
        return Err(Reason::Malformed(
            "IKE_AUTH response without a Child SA".into(),
        ));
    };
    let (tsi, tsr) = (tsi.ip_selectors(), tsr.ip_selectors());
    let (peer_spi, suite) =
        proposal::accept_esp_answer(&sa.proposals, &tunnel.esp_proposals, false)
            .map_err(Reason::from)?;
    if check_narrowed(&req.tsi, &req.tsr, &tsi, &tsr).is_err() {
        return Err(Reason::TsUnacceptable {
            local: req.tsi.clone(),
            remote: req.tsr.clone(),
            received_remote: tsr,
            received_local: tsi,
        });
    }
    let keymat = Keymat {
        prf: prf(ctx, &hs.suite).map_err(Reason::from)?,
        sk_d: hs.keys.ike.sk_d.expose(),
        ni: &hs.ni,
        nr: &hs.nr,
        shared: None,
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
