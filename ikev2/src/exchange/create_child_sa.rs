//! CREATE_CHILD_SA for additional Child SAs and for answering Child SA rekeys (RFC 7296 sections
//! 1.3.1, 1.3.3, 2.17).
//!
//! ```text
//! Initiator                                        Responder
//! HDR, SK {SA, Ni, [KEi], TSi, TSr}          -->   (new Child SA, e.g. the second proxy ID)
//!                                            <--   HDR, SK {SA, Nr, [KEr], TSi, TSr}
//! HDR, SK {N(REKEY_SA), SA, Ni, [KEi], TSi, TSr} --> (peer rekeys; it deletes the old SA after)
//!                                            <--   HDR, SK {SA, Nr, [KEr], TSi, TSr}
//! ```
//!
//! KEYMAT is `prf+(SK_d, g^ir (new) | Ni | Nr)` with PFS, `prf+(SK_d, Ni | Nr)` without. Child SA
//! rekeys are started by [`Endpoint::rekey_child`](crate::Endpoint::rekey_child) and answered;
//! simultaneous rekeys of one Child SA are resolved by the lowest nonce (RFC 7296 section
//! 2.8.1), and a rekey of a Child SA being deleted is refused with TEMPORARY_FAILURE (section
//! 2.25.1). Two new Child SAs for one proxy ID, created by crossing requests, are settled the
//! same way. IKE SA rekeys are in [`super::ike_rekey`].

use super::ike_sa_init::NONCE_LEN;
use super::{offers_of, sa_payload, Ctx};
use crate::config::TunnelConfig;
use crate::error::Error;
use crate::event::{Event, Reason, Role};
use crate::proposal::{self, EspSuite};
use crate::sa::child::{self, ChildParams};
use crate::sa::{ChildRequest, IkeSa, Pending};
use crate::wire::{
    ExchangeType, KeyExchange, Message, Nonce, Notify, NotifyType, Payload, ProtocolId,
    TrafficSelectors,
};
use ipsec_core::child_sa::Mode;
use ipsec_core::crypto::{ActiveKeyExchange, CryptoError, DhGroup, SecretBytes};
use ipsec_core::selector::{check_narrowed, choose_policy, TrafficSelector};

/// The initiator's CREATE_CHILD_SA in progress.
pub(crate) struct ChildExchange {
    pub(crate) ni: Vec<u8>,
    pub(crate) ke: Option<Box<dyn ActiveKeyExchange>>,
}

/// Our ESP proposals for `t`, as the text of a [`Reason::NoProposalChosen`].
pub(super) fn esp_text(t: &TunnelConfig) -> String {
    t.esp_proposals
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Appends an initiator's Child SA offer for `t` with our inbound `spi`: N(USE_TRANSPORT_MODE)
/// when `t` wants transport mode, then the SA payload (with PFS groups when `with_dh`).
pub(super) fn push_esp_offers(
    payloads: &mut Vec<Payload>,
    t: &TunnelConfig,
    spi: u32,
    with_dh: bool,
) {
    if t.mode == Mode::Transport {
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::USE_TRANSPORT_MODE,
            &[],
        )));
    }
    let offers = proposal::number(
        t.esp_proposals
            .iter()
            .flat_map(|p| p.offers(spi, with_dh))
            .collect(),
    );
    payloads.push(Payload::Sa(sa_payload(&offers)));
}

/// Why the peer refused the Child SA of `req`, from the error notify of its answer.
pub(super) fn peer_refusal(n: NotifyType, tunnel: &TunnelConfig, req: &ChildRequest) -> Reason {
    match n {
        NotifyType::TS_UNACCEPTABLE => Reason::TsUnacceptable {
            local: req.tsi.clone(),
            remote: req.tsr.clone(),
            received_remote: Vec::new(),
            received_local: Vec::new(),
        },
        NotifyType::NO_PROPOSAL_CHOSEN => Reason::NoProposalChosen {
            ours: esp_text(tunnel),
            theirs: String::new(),
        },
        other => Reason::PeerNotify(other.0),
    }
}

impl IkeSa {
    /// Initiator: sends CREATE_CHILD_SA for a new Child SA.
    pub(crate) fn start_create_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        req: ChildRequest,
    ) -> Result<(), Error> {
        let t = IkeSa::tunnel_cfg(ctx, &req.tunnel)?;
        let group = req.group.or_else(|| {
            t.esp_proposals
                .iter()
                .flat_map(|p| p.dh.iter().copied())
                .find(|g| *g != DhGroup::NONE)
        });
        let ke = match group {
            Some(g) => Some(
                ctx.provider
                    .key_exchange(g)
                    .ok_or(CryptoError::Unsupported("PFS group not in the provider"))?
                    .start(ctx.rng)?,
            ),
            None => None,
        };
        let ni = ctx.random(NONCE_LEN)?;
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
        payloads.push(Payload::TsI(TrafficSelectors::from_selectors(&req.tsi)));
        payloads.push(Payload::TsR(TrafficSelectors::from_selectors(&req.tsr)));
        self.child_exchange = Some(ChildExchange { ni, ke });
        self.in_flight = Some(Pending::CreateChild(req));
        self.send_request(ctx, ExchangeType::CREATE_CHILD_SA, &payloads)
    }

    /// Initiator: processes the CREATE_CHILD_SA response.
    pub(crate) fn handle_create_child_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        msg: &Message,
    ) -> Result<(), Error> {
        let Some(Pending::CreateChild(req)) = self.in_flight.take() else {
            return Ok(());
        };
        let Some(ex) = self.child_exchange.take() else {
            return Ok(());
        };
        // RFC 7296 section 1.3: the responder wants another PFS group; retry once with it.
        if let Some(n) = msg.notify(NotifyType::INVALID_KE_PAYLOAD) {
            let wanted = n
                .data
                .get(..2)
                .map(|b| DhGroup(u16::from_be_bytes([b[0], b[1]])));
            let ours = IkeSa::tunnel_cfg(ctx, &req.tunnel)
                .map(|t| {
                    t.esp_proposals
                        .iter()
                        .any(|p| wanted.is_some_and(|w| p.dh.contains(&w)))
                })
                .unwrap_or(false);
            if ours && req.group.is_none() && wanted != ex.ke.as_ref().map(|k| k.group()) {
                let mut retry = req;
                retry.group = wanted;
                self.pending.push_front(Pending::CreateChild(retry));
                return Ok(());
            }
        }
        match self.accept_created_child(ctx, msg, &req, ex) {
            Ok(mut c) => {
                c.replaces = req.rekey;
                self.install_child(ctx, Role::Initiator, c);
                if req.rekey.is_none() {
                    self.resolve_duplicate(&req.tunnel, req.proxy_id.as_deref());
                }
                // A rekey is complete once the old Child SA is deleted (RFC 7296 1.3.3).
                if let Some(old) = req.rekey {
                    if self.children.iter().any(|c| c.sa.inbound.spi == old) {
                        self.pending.push_back(Pending::DeleteChild(old));
                    }
                    self.resolve_rekey_collision(old);
                }
            }
            Err(reason) => ctx.events.push_back(Event::Phase2Failed {
                tunnel: req.tunnel.clone(),
                role: Role::Initiator,
                reason,
            }),
        }
        Ok(())
    }

    fn accept_created_child(
        &self,
        ctx: &Ctx<'_>,
        msg: &Message,
        req: &ChildRequest,
        ex: ChildExchange,
    ) -> Result<child::Child, Reason> {
        let m = |e: Error| Reason::Malformed(e.to_string());
        let tunnel = IkeSa::tunnel_cfg(ctx, &req.tunnel).map_err(m)?;
        if let Some(n) = msg.notifies().find(|n| n.notify_type.is_error()) {
            return Err(peer_refusal(n.notify_type, tunnel, req));
        }
        let sa = msg.sa();
        let nonce = msg.nonce();
        let tsi = msg.ts_i();
        let tsr = msg.ts_r();
        let (Some(sa), Some(nonce), Some(tsi), Some(tsr)) = (sa, nonce, tsi, tsr) else {
            return Err(Reason::Malformed(
                "CREATE_CHILD_SA response without SA, Nr or TS".into(),
            ));
        };
        let (tsi, tsr) = (tsi.ip_selectors(), tsr.ip_selectors());
        let (peer_spi, suite) =
            proposal::accept_esp_answer(&offers_of(sa), &tunnel.esp_proposals, true).map_err(m)?;
        let shared = self.pfs_secret(msg, &suite, ex.ke.as_deref())?;
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
            (&ex.ni, &nonce.data),
            shared.as_ref(),
            msg,
        )
        .map_err(m)
    }

    /// The PFS shared secret: the peer's KE must use the negotiated group.
    fn pfs_secret(
        &self,
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
            .ok_or_else(|| Reason::Malformed("responder chose another PFS group".into()))?;
        ours.complete(&ke.data)
            .map(Some)
            .map_err(|e| Reason::Malformed(e.to_string()))
    }

    /// Builds a negotiated Child SA: KEYMAT from SK_d, the optional PFS secret and the nonces.
    /// `(tsi, tsr)` are as on the wire. The mode is transport when `tunnel` asks for it and so
    /// does the peer's `msg` (USE_TRANSPORT_MODE, RFC 7296 section 1.3.1).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn make_child(
        &self,
        ctx: &Ctx<'_>,
        tunnel: &TunnelConfig,
        proxy_id: Option<String>,
        role: Role,
        suite: EspSuite,
        our_spi: u32,
        peer_spi: u32,
        (tsi, tsr): (Vec<TrafficSelector>, Vec<TrafficSelector>),
        (ni, nr): (&[u8], &[u8]),
        shared: Option<&SecretBytes>,
        msg: &Message,
    ) -> Result<child::Child, Error> {
        let prf = self.prf(ctx)?;
        let k = self.keys.as_ref().ok_or(Error::KeyDerivation("no keys"))?;
        let (local_ts, remote_ts) = match role {
            Role::Initiator => (tsi, tsr),
            Role::Responder => (tsr, tsi),
        };
        child::build(
            ctx.provider,
            prf,
            k.ike.sk_d.expose(),
            shared.map(|s| s.expose()),
            ni,
            nr,
            ChildParams {
                tunnel,
                proxy_id,
                role,
                suite,
                our_spi,
                peer_spi,
                local_ts,
                remote_ts,
                local: self.local,
                remote: self.remote,
                encap: self.encap,
                mode: if tunnel.mode == Mode::Transport
                    && msg.notify(NotifyType::USE_TRANSPORT_MODE).is_some()
                {
                    Mode::Transport
                } else {
                    Mode::Tunnel
                },
                tfc_padding: msg
                    .notify(NotifyType::ESP_TFC_PADDING_NOT_SUPPORTED)
                    .is_none(),
            },
        )
    }

    /// Responder: answers CREATE_CHILD_SA request `id` with the single error notify `ty`.
    pub(super) fn refuse(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: u32,
        ty: NotifyType,
        data: &[u8],
    ) -> Result<(), Error> {
        let n = Notify::new(ty, data);
        self.send_response(
            ctx,
            ExchangeType::CREATE_CHILD_SA,
            id,
            &[Payload::Notify(n)],
        )
    }

    /// Responder: answers CREATE_CHILD_SA (a new Child SA, or a rekey of one).
    pub(crate) fn handle_create_child_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: u32,
        msg: &Message,
    ) -> Result<(), Error> {
        let sa = msg.sa();
        let nonce = msg.nonce();
        let (Some(sa), Some(nonce)) = (sa, nonce) else {
            return self.refuse(ctx, id, NotifyType::INVALID_SYNTAX, &[]);
        };
        if sa.proposals.iter().any(|p| p.protocol == ProtocolId::IKE) {
            return self.handle_ike_rekey_request(ctx, id, msg);
        }
        if self.rekeyed {
            // New Child SAs belong on the successor IKE SA.
            return self.refuse(ctx, id, NotifyType::TEMPORARY_FAILURE, &[]);
        }
        let tsi = msg.ts_i();
        let tsr = msg.ts_r();
        let (Some(tsi), Some(tsr)) = (tsi, tsr) else {
            return self.refuse(ctx, id, NotifyType::INVALID_SYNTAX, &[]);
        };
        let (tsi, tsr) = (tsi.ip_selectors(), tsr.ip_selectors());
        // A rekey names the SA by the SPI its sender receives on: our outbound SPI.
        let rekeyed = msg
            .notify(NotifyType::REKEY_SA)
            .and_then(|n| <[u8; 4]>::try_from(n.spi.as_slice()).ok())
            .map(u32::from_be_bytes);
        let old = match rekeyed {
            Some(spi) => match self.children.iter().find(|c| c.sa.outbound.spi == spi) {
                Some(c) => {
                    // RFC 7296 section 2.25.1: we are deleting it; the rekey is moot.
                    let deleting = Pending::DeleteChild(c.sa.inbound.spi);
                    if self.in_flight.as_ref() == Some(&deleting)
                        || self.pending.contains(&deleting)
                    {
                        return self.refuse(ctx, id, NotifyType::TEMPORARY_FAILURE, &[]);
                    }
                    Some(c.sa.clone())
                }
                None => {
                    let mut n = Notify::new(NotifyType::CHILD_SA_NOT_FOUND, &[]);
                    n.protocol = ProtocolId::ESP;
                    n.spi = spi.to_be_bytes().to_vec();
                    return self.send_response(
                        ctx,
                        ExchangeType::CREATE_CHILD_SA,
                        id,
                        &[Payload::Notify(n)],
                    );
                }
            },
            None => None,
        };
        // Candidate policies: the rekeyed SA's tunnel, or every proxy ID of the gateway.
        let pols: Vec<_> = super::ike_auth::policies(ctx, &self.gateway, self.remote.ip())
            .into_iter()
            .filter(|(_, _, t, _)| old.as_ref().is_none_or(|o| o.tunnel == t.name))
            .collect();
        let refs: Vec<(&[TrafficSelector], &[TrafficSelector])> = pols
            .iter()
            .map(|(l, r, _, _)| (l.as_slice(), r.as_slice()))
            .collect();
        let Ok((idx, narrowed)) = choose_policy(&tsi, &tsr, &refs) else {
            let (local, remote, tunnel) = pols
                .first()
                .map(|(l, r, t, _)| (l.clone(), r.clone(), t.name.clone()))
                .unwrap_or_default();
            ctx.events.push_back(Event::Phase2Failed {
                tunnel,
                role: Role::Responder,
                reason: Reason::TsUnacceptable {
                    local,
                    remote,
                    received_remote: tsi,
                    received_local: tsr,
                },
            });
            return self.refuse(ctx, id, NotifyType::TS_UNACCEPTABLE, &[]);
        };
        let Some((_, _, tunnel, proxy_id)) = pols.get(idx) else {
            return self.refuse(ctx, id, NotifyType::TS_UNACCEPTABLE, &[]);
        };
        let (tunnel, proxy_id) = (*tunnel, proxy_id.clone());
        let offers = offers_of(sa);
        let Ok((number, peer_spi, suite)) =
            proposal::select_esp(&offers, &tunnel.esp_proposals, true)
        else {
            ctx.events.push_back(Event::Phase2Failed {
                tunnel: tunnel.name.clone(),
                role: Role::Responder,
                reason: Reason::NoProposalChosen {
                    ours: esp_text(tunnel),
                    theirs: proposal::describe(&offers),
                },
            });
            return self.refuse(ctx, id, NotifyType::NO_PROPOSAL_CHOSEN, &[]);
        };
        let mut ke_out = None;
        let mut shared = None;
        if suite.dh != DhGroup::NONE {
            let ke = msg.ke();
            let Some(ke) = ke.filter(|k| k.group == suite.dh) else {
                return self.refuse(
                    ctx,
                    id,
                    NotifyType::INVALID_KE_PAYLOAD,
                    &suite.dh.0.to_be_bytes(),
                );
            };
            let ours = ctx
                .provider
                .key_exchange(suite.dh)
                .ok_or(CryptoError::Unsupported("PFS group not in the provider"))?
                .start(ctx.rng)?;
            match ours.complete(&ke.data) {
                Ok(s) => shared = Some(s),
                Err(_) => return self.refuse(ctx, id, NotifyType::INVALID_SYNTAX, &[]),
            }
            ke_out = Some(KeyExchange {
                group: suite.dh,
                data: ours.public_value().to_vec(),
            });
        }
        let nr = ctx.random(NONCE_LEN)?;
        let our_spi = self.new_child_spi(ctx)?;
        let mut c = self.make_child(
            ctx,
            tunnel,
            proxy_id,
            Role::Responder,
            suite,
            our_spi,
            peer_spi,
            (narrowed.tsi.clone(), narrowed.tsr.clone()),
            (&nonce.data, &nr),
            shared.as_ref(),
            msg,
        )?;
        let mut payloads = Vec::new();
        if c.sa.mode == Mode::Transport {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::USE_TRANSPORT_MODE,
                &[],
            )));
        }
        payloads.push(Payload::Sa(sa_payload(&[proposal::esp_answer(
            number, our_spi, &suite, true,
        )])));
        payloads.push(Payload::Nonce(Nonce { data: nr }));
        if let Some(k) = ke_out {
            payloads.push(Payload::Ke(k));
        }
        payloads.push(Payload::TsI(TrafficSelectors::from_selectors(
            &narrowed.tsi,
        )));
        payloads.push(Payload::TsR(TrafficSelectors::from_selectors(
            &narrowed.tsr,
        )));
        self.send_response(ctx, ExchangeType::CREATE_CHILD_SA, id, &payloads)?;
        c.replaces = old.as_ref().map(|o| o.inbound.spi);
        if let Some(o) = &old {
            // The peer is replacing it: we need not rekey it ourselves.
            if let Some(oc) = self
                .children
                .iter_mut()
                .find(|c| c.sa.inbound.spi == o.inbound.spi)
            {
                oc.rekey_at = None;
            }
        }
        let (tunnel, proxy_id) = (c.sa.tunnel.clone(), c.sa.proxy_id.clone());
        self.install_child(ctx, Role::Responder, c);
        match old {
            Some(o) => self.resolve_rekey_collision(o.inbound.spi),
            None => self.resolve_duplicate(&tunnel, proxy_id.as_deref()),
        }
        Ok(())
    }

    /// Both peers creating the Child SA of the same proxy ID at once (e.g. both restarting
    /// after a dead peer) leave two new Child SAs for it. As for rekey collisions, the one
    /// created by the exchange with the lowest nonce is redundant and its creator deletes it.
    fn resolve_duplicate(&mut self, tunnel: &str, proxy_id: Option<&str>) {
        let twins: Vec<&child::Child> = self
            .children
            .iter()
            .filter(|c| {
                c.replaces.is_none()
                    && c.sa.tunnel == tunnel
                    && c.sa.proxy_id.as_deref() == proxy_id
            })
            .collect();
        let [a, b] = twins.as_slice() else {
            return;
        };
        let loser = if a.min_nonce < b.min_nonce { a } else { b };
        if loser.ours {
            let p = Pending::DeleteChild(loser.sa.inbound.spi);
            if !self.pending.contains(&p) {
                self.pending.push_back(p);
            }
        }
    }

    /// Simultaneous rekeys of one Child SA (RFC 7296 section 2.8.1) leave two new SAs for the
    /// same old one. The one created by the exchange with the lowest nonce is redundant and is
    /// deleted by its creator; both peers see the same four nonces, so they agree without
    /// talking.
    fn resolve_rekey_collision(&mut self, old: u32) {
        let twins: Vec<&child::Child> = self
            .children
            .iter()
            .filter(|c| c.replaces == Some(old))
            .collect();
        let [a, b] = twins.as_slice() else {
            return;
        };
        let loser = if a.min_nonce < b.min_nonce { a } else { b };
        if loser.ours {
            let spi = loser.sa.inbound.spi;
            self.pending.push_back(Pending::DeleteChild(spi));
        }
    }
}
