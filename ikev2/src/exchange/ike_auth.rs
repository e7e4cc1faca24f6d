//! IKE_AUTH with pre-shared keys (RFC 7296 sections 1.2, 2.15) and the first Child SA.
//!
//! ```text
//! Initiator                                   Responder
//! HDR, SK {IDi, AUTH, [N(INITIAL_CONTACT)],
//!          SAi2, TSi, TSr, [N(USE_TRANSPORT_MODE)]}  -->
//!                                   <--   HDR, SK {IDr, AUTH, SAr2, TSi, TSr, [N(USE_TRANSPORT_MODE)]}
//!                                   <--   HDR, SK {N(AUTHENTICATION_FAILED)}          (bad PSK/ID)
//!                                   <--   HDR, SK {IDr, AUTH, N(TS_UNACCEPTABLE)}     (IKE SA up,
//!                                   <--   HDR, SK {IDr, AUTH, N(NO_PROPOSAL_CHOSEN)}   no Child SA)
//! ```
//!
//! Failure handling follows RFC 7296 section 2.21: an authentication failure ends the IKE SA; a
//! Child SA failure leaves the IKE SA established.

use super::create_child_sa::{esp_text, peer_refusal, push_esp_offers};
use super::{offers_of, sa_payload, Ctx};
use crate::config::{any_selector, TunnelConfig};
use crate::error::Error;
use crate::event::{Event, Reason, Role};
use crate::identity::Identity;
use crate::keys;
use crate::proposal;
use crate::sa::child;
use crate::sa::{ChildRequest, IkeSa, State};
use crate::wire::{
    Auth, AuthMethod, ExchangeType, IdType, Identification, Message, Notify, NotifyType, Payload,
    TrafficSelectors,
};
use ipsec_core::child_sa::Mode;
use ipsec_core::crypto::{constant_time_eq, CryptoError, PrfAlgorithm};
use ipsec_core::selector::{check_narrowed, choose_policy, TrafficSelector};
use std::net::IpAddr;

/// The Child SAs an initiator proposes for `tunnel` as `(proxy ID, TSi, TSr)`: one per proxy ID,
/// in configuration order (PAN-OS negotiates every proxy ID as a Child SA of its own), or a
/// single 0.0.0.0/0 (::/0, by `peer`'s family) pair when the tunnel has none.
pub(crate) fn proposed_children(
    t: &TunnelConfig,
    peer: IpAddr,
) -> Vec<(Option<String>, TrafficSelector, TrafficSelector)> {
    if t.proxy_ids.is_empty() {
        let any = any_selector(peer);
        return vec![(None, any, any)];
    }
    t.proxy_ids
        .iter()
        .map(|p| (Some(p.name.clone()), p.local, p.remote))
        .collect()
}

/// The Child SA an initiator proposes for proxy ID number `index` of `tunnel` (see
/// [`proposed_children`]); index 0 goes into IKE_AUTH, the others into CREATE_CHILD_SA.
pub(crate) fn child_request(
    ctx: &Ctx<'_>,
    tunnel: &str,
    index: usize,
    spi: u32,
    peer: IpAddr,
) -> Result<ChildRequest, Error> {
    let t = IkeSa::tunnel_cfg(ctx, tunnel)?;
    let (proxy_id, local, remote) = proposed_children(t, peer)
        .into_iter()
        .nth(index)
        .ok_or_else(|| Error::UnknownName(format!("{tunnel}: proxy ID {index}")))?;
    Ok(ChildRequest {
        tunnel: t.name.clone(),
        proxy_id,
        spi,
        tsi: vec![local],
        tsr: vec![remote],
        rekey: None,
        group: None,
    })
}

fn wire_id(id: &Identity) -> Identification {
    Identification {
        id_type: IdType(id.id_type()),
        data: id.data(),
    }
}

/// `(local, remote, tunnel, proxy ID)` policies of every tunnel of a gateway.
pub(crate) type Policy<'c> = (
    Vec<TrafficSelector>,
    Vec<TrafficSelector>,
    &'c TunnelConfig,
    Option<String>,
);

pub(crate) fn policies<'c>(ctx: &Ctx<'c>, gateway: &str, family_of: IpAddr) -> Vec<Policy<'c>> {
    let mut out = Vec::new();
    for t in ctx.cfg.tunnels.iter().filter(|t| t.gateway == gateway) {
        if t.proxy_ids.is_empty() {
            let any = any_selector(family_of);
            out.push((vec![any], vec![any], t, None));
        }
        for p in &t.proxy_ids {
            out.push((vec![p.local], vec![p.remote], t, Some(p.name.clone())));
        }
    }
    out
}

impl IkeSa {
    /// The negotiated IKE SA's PRF, from the provider.
    pub(super) fn prf(&self, ctx: &Ctx<'_>) -> Result<&'static dyn PrfAlgorithm, Error> {
        let s = self.suite.ok_or(Error::KeyDerivation("no suite"))?;
        Ok(ctx
            .provider
            .prf(s.prf)
            .ok_or(CryptoError::Unsupported("PRF not in the provider"))?)
    }

    /// Our AUTH payload data (RFC 7296 section 2.15).
    fn our_auth(&self, ctx: &Ctx<'_>, id: &Identification) -> Result<Vec<u8>, Error> {
        let prf = self.prf(ctx)?;
        let g = self.gateway_cfg(ctx)?;
        let k = &self
            .keys
            .as_ref()
            .ok_or(Error::KeyDerivation("no keys"))?
            .ike;
        let (sk_p, peer_nonce) = match self.role {
            Role::Initiator => (&k.sk_pi, &self.nr),
            Role::Responder => (&k.sk_pr, &self.ni),
        };
        let maced = keys::maced_id(prf, sk_p.expose(), &id.to_bytes());
        Ok(keys::psk_auth(
            prf,
            g.psk.expose(),
            &self.our_init,
            peer_nonce,
            &maced,
        ))
    }

    /// Checks the peer's ID against `peer-id` and its AUTH against the PSK.
    fn verify_peer(
        &mut self,
        ctx: &Ctx<'_>,
        id: &Identification,
        auth: &Auth,
    ) -> Result<(), String> {
        let g = self.gateway_cfg(ctx).map_err(|e| e.to_string())?;
        let peer = Identity::from_wire(id.id_type.0, &id.data);
        if let Some(p) = &g.peer_id {
            if !p.matches(&peer) {
                return Err(format!("peer ID {peer} does not match the configured {p}"));
            }
        }
        if auth.method != AuthMethod::SHARED_KEY_MIC {
            return Err(format!("peer uses auth method {}, we use PSK", auth.method));
        }
        let prf = self.prf(ctx).map_err(|e| e.to_string())?;
        let k = &self.keys.as_ref().ok_or_else(|| "no keys".to_string())?.ike;
        let (sk_p, our_nonce) = match self.role {
            Role::Initiator => (&k.sk_pr, &self.ni),
            Role::Responder => (&k.sk_pi, &self.nr),
        };
        let maced = keys::maced_id(prf, sk_p.expose(), &id.to_bytes());
        let expected = keys::psk_auth(prf, g.psk.expose(), &self.peer_init, our_nonce, &maced);
        if !constant_time_eq(&expected, &auth.data) {
            return Err(format!(
                "AUTH payload of {peer} does not verify (pre-shared key mismatch?)"
            ));
        }
        self.peer_id = Some(peer);
        Ok(())
    }

    /// Initiator: sends IKE_AUTH with the first Child SA.
    pub(crate) fn send_auth_request(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Error> {
        let g = self.gateway_cfg(ctx)?;
        let id = wire_id(&g.local_id);
        let auth = self.our_auth(ctx, &id)?;
        let mut payloads = vec![
            Payload::IdI(id),
            Payload::Auth(Auth {
                method: AuthMethod::SHARED_KEY_MIC,
                data: auth,
            }),
        ];
        if self.initial_contact {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::INITIAL_CONTACT,
                &[],
            )));
        }
        if let Some(req) = self.child_request.clone() {
            let t = IkeSa::tunnel_cfg(ctx, &req.tunnel)?;
            push_esp_offers(&mut payloads, t, req.spi, false);
            payloads.push(Payload::TsI(TrafficSelectors::from_selectors(&req.tsi)));
            payloads.push(Payload::TsR(TrafficSelectors::from_selectors(&req.tsr)));
        }
        self.state = State::AuthSent;
        self.send_request(ctx, ExchangeType::IKE_AUTH, &payloads)
    }

    /// Responder: authenticates the initiator, answers, and sets up the first Child SA.
    pub(crate) fn handle_auth_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: u32,
        msg: &Message,
    ) -> Result<(), Error> {
        let idi = msg.id_i();
        let auth = msg.auth();
        let (Some(idi), Some(auth)) = (idi, auth) else {
            let n = Notify::new(NotifyType::INVALID_SYNTAX, &[]);
            self.send_response(ctx, ExchangeType::IKE_AUTH, id, &[Payload::Notify(n)])?;
            self.fail(
                ctx,
                Reason::Malformed("IKE_AUTH without IDi or AUTH".into()),
            );
            return Ok(());
        };
        if let Err(why) = self.verify_peer(ctx, idi, auth) {
            let n = Notify::new(NotifyType::AUTHENTICATION_FAILED, &[]);
            self.send_response(ctx, ExchangeType::IKE_AUTH, id, &[Payload::Notify(n)])?;
            self.fail(ctx, Reason::AuthenticationFailed(why));
            return Ok(());
        }
        self.initial_contact = msg.notify(NotifyType::INITIAL_CONTACT).is_some();
        let g = self.gateway_cfg(ctx)?;
        let our_id = wire_id(&g.local_id);
        let our_auth = self.our_auth(ctx, &our_id)?;
        let mut payloads = vec![
            Payload::IdR(our_id),
            Payload::Auth(Auth {
                method: AuthMethod::SHARED_KEY_MIC,
                data: our_auth,
            }),
        ];
        let child = self.respond_child(ctx, msg, &mut payloads);
        self.forget_handshake();
        self.send_response(ctx, ExchangeType::IKE_AUTH, id, &payloads)?;
        self.established(ctx)?;
        match child {
            Ok(Some(c)) => {
                let role = self.role;
                self.install_child(ctx, role, c);
            }
            Ok(None) => {}
            Err((tunnel, reason)) => ctx.events.push_back(Event::Phase2Failed {
                tunnel,
                role: Role::Responder,
                reason,
            }),
        }
        Ok(())
    }

    /// Responder: negotiates the Child SA of an IKE_AUTH request, adding its payloads (or the
    /// error notify) to `out`.
    fn respond_child(
        &self,
        ctx: &Ctx<'_>,
        msg: &Message,
        out: &mut Vec<Payload>,
    ) -> Result<Option<child::Child>, (String, Reason)> {
        let sa = msg.sa();
        let tsi = msg.ts_i();
        let tsr = msg.ts_r();
        let (Some(sa), Some(tsi), Some(tsr)) = (sa, tsi, tsr) else {
            // Childless IKE SA (RFC 6023).
            return Ok(None);
        };
        let (tsi, tsr) = (tsi.ip_selectors(), tsr.ip_selectors());
        let pols = policies(ctx, &self.gateway, self.remote.ip());
        let refs: Vec<(&[TrafficSelector], &[TrafficSelector])> = pols
            .iter()
            .map(|(l, r, _, _)| (l.as_slice(), r.as_slice()))
            .collect();
        let (idx, narrowed) = match choose_policy(&tsi, &tsr, &refs) {
            Ok(x) => x,
            Err(_) => {
                out.push(Payload::Notify(Notify::new(
                    NotifyType::TS_UNACCEPTABLE,
                    &[],
                )));
                let (local, remote, tunnel) = pols
                    .first()
                    .map(|(l, r, t, _)| (l.clone(), r.clone(), t.name.clone()))
                    .unwrap_or_default();
                return Err((
                    tunnel,
                    Reason::TsUnacceptable {
                        local,
                        remote,
                        received_remote: tsi,
                        received_local: tsr,
                    },
                ));
            }
        };
        let Some((_, _, tunnel, proxy_id)) = pols.get(idx) else {
            return Ok(None);
        };
        let offers = offers_of(sa);
        let (number, peer_spi, suite) =
            match proposal::select_esp(&offers, &tunnel.esp_proposals, false) {
                Ok(x) => x,
                Err(_) => {
                    out.push(Payload::Notify(Notify::new(
                        NotifyType::NO_PROPOSAL_CHOSEN,
                        &[],
                    )));
                    return Err((
                        tunnel.name.clone(),
                        Reason::NoProposalChosen {
                            ours: esp_text(tunnel),
                            theirs: proposal::describe(&offers),
                        },
                    ));
                }
            };
        let fail = |e: Error| (tunnel.name.clone(), Reason::Malformed(e.to_string()));
        let our_spi = self.new_child_spi(ctx).map_err(fail)?;
        let c = self
            .make_child(
                ctx,
                tunnel,
                proxy_id.clone(),
                Role::Responder,
                suite,
                our_spi,
                peer_spi,
                (narrowed.tsi.clone(), narrowed.tsr.clone()),
                (&self.ni, &self.nr),
                None,
                msg,
            )
            .map_err(fail)?;
        if c.sa.mode == Mode::Transport {
            out.push(Payload::Notify(Notify::new(
                NotifyType::USE_TRANSPORT_MODE,
                &[],
            )));
        }
        out.push(Payload::Sa(sa_payload(&[proposal::esp_answer(
            number, our_spi, &suite, false,
        )])));
        out.push(Payload::TsI(TrafficSelectors::from_selectors(
            &narrowed.tsi,
        )));
        out.push(Payload::TsR(TrafficSelectors::from_selectors(
            &narrowed.tsr,
        )));
        Ok(Some(c))
    }

    /// A fresh inbound SPI (never 0-255, reserved by RFC 4303 section 2.1).
    pub(crate) fn new_child_spi(&self, ctx: &Ctx<'_>) -> Result<u32, Error> {
        super::fresh_child_spi(ctx.rng, |s| {
            self.children.iter().any(|c| c.sa.inbound.spi == s)
        })
    }

    /// Initiator: checks the responder's IKE_AUTH answer and installs the first Child SA.
    pub(crate) fn handle_auth_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        msg: &Message,
    ) -> Result<(), Error> {
        let idr = msg.id_r();
        let auth = msg.auth();
        let (Some(idr), Some(auth)) = (idr, auth) else {
            let reason = match msg.notifies().find(|n| n.notify_type.is_error()) {
                Some(n) if n.notify_type == NotifyType::AUTHENTICATION_FAILED => {
                    Reason::AuthenticationFailed("peer rejected our AUTH payload".into())
                }
                Some(n) => Reason::PeerNotify(n.notify_type.0),
                None => Reason::Malformed("IKE_AUTH response without IDr or AUTH".into()),
            };
            self.fail(ctx, reason);
            return Ok(());
        };
        if let Err(why) = self.verify_peer(ctx, idr, auth) {
            // RFC 7296 section 2.21.2: the initiator reports the failure in a separate
            // INFORMATIONAL exchange, so the responder does not keep a useless IKE SA. It is sent
            // once, without retransmission: the SA is gone either way.
            let id = self.queue.next_id();
            let header = self.header(ExchangeType::INFORMATIONAL, false, id);
            let n = Notify::new(NotifyType::AUTHENTICATION_FAILED, &[]);
            if let Ok(msgs) = self.protect(ctx, &header, &[Payload::Notify(n)]) {
                ctx.send(self.local, self.remote, &msgs);
            }
            self.fail(ctx, Reason::AuthenticationFailed(why));
            return Ok(());
        }
        self.established(ctx)?;
        let Some(req) = self.child_request.take() else {
            return Ok(());
        };
        let child = self.accept_child(ctx, msg, &req);
        self.forget_handshake();
        match child {
            Ok(c) => {
                let role = self.role;
                self.install_child(ctx, role, c);
            }
            Err(reason) => ctx.events.push_back(Event::Phase2Failed {
                tunnel: req.tunnel.clone(),
                role: Role::Initiator,
                reason,
            }),
        }
        Ok(())
    }

    fn accept_child(
        &self,
        ctx: &Ctx<'_>,
        msg: &Message,
        req: &ChildRequest,
    ) -> Result<child::Child, Reason> {
        let tunnel =
            IkeSa::tunnel_cfg(ctx, &req.tunnel).map_err(|e| Reason::Malformed(e.to_string()))?;
        if let Some(n) = msg.notifies().find(|n| n.notify_type.is_error()) {
            return Err(peer_refusal(n.notify_type, tunnel, req));
        }
        let sa = msg.sa();
        let tsi = msg.ts_i();
        let tsr = msg.ts_r();
        let (Some(sa), Some(tsi), Some(tsr)) = (sa, tsi, tsr) else {
            return Err(Reason::Malformed(
                "IKE_AUTH response without a Child SA".into(),
            ));
        };
        let (tsi, tsr) = (tsi.ip_selectors(), tsr.ip_selectors());
        let (peer_spi, suite) =
            proposal::accept_esp_answer(&offers_of(sa), &tunnel.esp_proposals, false)
                .map_err(|e| Reason::Malformed(e.to_string()))?;
        if check_narrowed(&req.tsi, &req.tsr, &tsi, &tsr).is_err() {
            return Err(Reason::TsUnacceptable {
                local: req.tsi.clone(),
                remote: req.tsr.clone(),
                received_remote: tsr,
                received_local: tsi,
            });
        }
        self.make_child(
            ctx,
            tunnel,
            req.proxy_id.clone(),
            Role::Initiator,
            suite,
            req.spi,
            peer_spi,
            (tsi, tsr),
            (&self.ni, &self.nr),
            None,
            msg,
        )
        .map_err(|e| Reason::Malformed(e.to_string()))
    }
}
