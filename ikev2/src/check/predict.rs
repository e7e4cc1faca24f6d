//! The steps of each exchange, in the order the exchanges take them, each made by the protocol's
//! own decision function.

use super::{
    Cause, ChildPrediction, ChildSaPrediction, Direction, Failure, GatewayPrediction,
    IkeSaPrediction, Note, PairSide, Phase, Prediction, RekeyPrediction,
};
use crate::config::{EndpointConfig, GatewayConfig, TunnelConfig};
use crate::event::{Reason, Role};
use crate::exchange::child::{
    esp_offers, esp_text, peer_refusal, pfs_group, policies, proposed_children, retries_pfs,
};
use crate::exchange::ike_auth::check_peer_id;
use crate::exchange::ike_sa_init::{
    find_gateway, first_group, init_offers, retry_group, MAX_KE_RETRIES,
};
use crate::exchange::keying::our_proposals;
use crate::nat::IKE_PORT;
use crate::proposal::{self, EspSuite, IkeProposal};
use crate::sa::ChildRequest;
use crate::wire::{AuthMethod, ExchangeType, NotifyType};
use ipsec_core::child_sa::Mode;
use ipsec_core::config::{check_pair, gateway_pairs, Config};
use ipsec_core::crypto::{constant_time_eq, CryptoProvider, DhGroup};
use ipsec_core::selector::{check_narrowed, choose_policy, TrafficSelector};
use std::net::{IpAddr, SocketAddr};

/// A failure on its way up (boxed: it is large and the success path is common).
type Fail = Box<Failure>;

/// SPIs in the offers and answers the prediction builds; their values decide nothing.
const OUR_SPI: u32 = 0x0000_1000;
const PEER_SPI: u32 = 0x0000_2000;

/// What the initiator logs when the responder answers AUTHENTICATION_FAILED (the exchange's
/// wording, see `ike_auth`).
const REJECTED: &str = "peer rejected our AUTH payload";

pub(super) fn predict(first: &Config, second: &Config, provider: &CryptoProvider) -> Prediction {
    let findings = check_pair(first, second);
    let mut unusable = Vec::new();
    let mut resolve = |side, c: &Config| match EndpointConfig::from_config(c) {
        Ok(e) => Some(e),
        Err(e) => {
            unusable.push((side, e.to_string()));
            None
        }
    };
    let ea = resolve(PairSide::First, first);
    let eb = resolve(PairSide::Second, second);
    let mut gateways = Vec::new();
    if let (Some(ea), Some(eb)) = (&ea, &eb) {
        for (na, nb) in gateway_pairs(first, second) {
            let mut p = GatewayPrediction {
                first: na.to_owned(),
                second: nb.to_owned(),
                notes: Vec::new(),
                directions: Vec::new(),
            };
            match (ea.gateway(na), eb.gateway(nb)) {
                (Some(ga), Some(gb)) => gateway_pair(&mut p, (ea, ga), (eb, gb), provider),
                (ga, _) => {
                    let side = if ga.is_none() {
                        PairSide::First
                    } else {
                        PairSide::Second
                    };
                    p.notes.push(Note::NotRun {
                        side,
                        why: "disabled or IKEv1 only: this implementation speaks IKEv2".into(),
                    });
                }
            }
            gateways.push(p);
        }
    }
    Prediction {
        findings,
        unusable,
        gateways,
    }
}

fn other(side: PairSide) -> PairSide {
    match side {
        PairSide::First => PairSide::Second,
        PairSide::Second => PairSide::First,
    }
}

/// Why a gateway never starts an IKE SA, if it does not (the conditions of `Endpoint::connect`).
fn never_initiates(cfg: &EndpointConfig, g: &GatewayConfig) -> Option<&'static str> {
    if g.passive {
        Some("passive mode")
    } else if g.peer_addr.is_none() {
        Some("dynamic peer: no address to send to")
    } else if cfg.tunnels_of(&g.name).next().is_none() {
        Some("no ipsec-tunnel uses this gateway")
    } else {
        None
    }
}

type Side<'a> = (&'a EndpointConfig, &'a GatewayConfig);

fn gateway_pair(p: &mut GatewayPrediction, a: Side<'_>, b: Side<'_>, provider: &CryptoProvider) {
    let sides = [(PairSide::First, a, b), (PairSide::Second, b, a)];
    for (side, (cfg, g), _) in sides {
        if let Some(why) = never_initiates(cfg, g) {
            p.notes.push(Note::NeverInitiates {
                side,
                why: why.into(),
            });
        }
    }
    if never_initiates(a.0, a.1).is_some() && never_initiates(b.0, b.1).is_some() {
        p.notes.push(Note::NobodyInitiates);
    }
    for (side, (_, g), _) in sides {
        if !g.nat_traversal {
            p.notes.push(Note::NatTraversalOff { side });
        }
    }
    if a.1.ike_lifetime != b.1.ike_lifetime {
        p.notes.push(Note::IkeLifetimes {
            first: a.1.ike_lifetime,
            second: b.1.ike_lifetime,
        });
    }
    for (side, init, resp) in sides {
        if never_initiates(init.0, init.1).is_none() {
            p.directions.push(direction(side, init, resp.0, provider));
        }
    }
}

fn proposals_text(ps: &[IkeProposal]) -> String {
    ps.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn direction(
    side: PairSide,
    (ic, gi): Side<'_>,
    rc: &EndpointConfig,
    provider: &CryptoProvider,
) -> Direction {
    // `never_initiates` excluded dynamic peers.
    let peer = gi.peer_addr.unwrap_or(gi.local_addr);
    // The responder sees the request arrive on the address it was sent to, from ours.
    let gr = find_gateway(
        rc,
        SocketAddr::new(peer, IKE_PORT),
        SocketAddr::new(gi.local_addr, IKE_PORT),
    );
    let ike = phase1(gi, gr, provider).map_err(|f| *f);
    let children = match (&ike, gr) {
        (Ok(_), Some(gr)) => phase2(side, (ic, gi), (rc, gr)),
        _ => Vec::new(),
    };
    Direction {
        initiator: side,
        initiator_gateway: gi.name.clone(),
        responder_gateway: gr.map(|g| g.name.clone()).unwrap_or_default(),
        ike,
        children,
    }
}

fn phase1_failure(exchange: ExchangeType, notify: Option<NotifyType>, cause: Cause) -> Fail {
    Box::new(Failure {
        phase: Phase::One,
        exchange,
        notify,
        initiator_tunnel: String::new(),
        responder_tunnel: String::new(),
        cause,
        initiator_list: String::new(),
        responder_list: String::new(),
        initiator: Reason::Timeout,
        responder: None,
    })
}

/// IKE_SA_INIT (offers, selection, INVALID_KE_PAYLOAD retries, the initiator's acceptance),
/// then IKE_AUTH's identity and key checks: the responder's first, then the initiator's.
fn phase1(
    gi: &GatewayConfig,
    gr: Option<&GatewayConfig>,
    provider: &CryptoProvider,
) -> Result<IkeSaPrediction, Fail> {
    let init = ExchangeType::IKE_SA_INIT;
    let ours_i = our_proposals(gi, provider);
    let i_text = proposals_text(&ours_i);
    let Some(mut dh) = first_group(gi, provider) else {
        let why = format!("ike-gateway \"{}\": no usable IKE proposal", gi.name);
        return Err(phase1_failure(init, None, Cause::Unusable(why)));
    };
    let Some(gr) = gr else {
        let mut f = phase1_failure(init, None, Cause::NoGateway);
        f.initiator_list = gi.local_addr.to_string();
        return Err(f);
    };
    let ours_r = our_proposals(gr, provider);
    let r_text = proposals_text(&ours_r);
    let lists = |mut f: Fail| {
        f.initiator_list = i_text.clone();
        f.responder_list = r_text.clone();
        f
    };
    let mut invalid_ke = Vec::new();
    // A COOKIE round trip has a limit of its own; INVALID_KE_PAYLOAD restarts are bounded.
    let mut restarts = 0;
    let (number, suite) = loop {
        let offers = init_offers(&ours_i, dh);
        let Ok((n, s)) = proposal::select_ike(&offers, &ours_r, Some(dh)) else {
            let mut f = phase1_failure(
                init,
                Some(NotifyType::NO_PROPOSAL_CHOSEN),
                Cause::NoIkeProposal,
            );
            f.initiator = Reason::NoProposalChosen {
                ours: i_text.clone(),
                theirs: String::new(),
            };
            f.responder = Some(Reason::NoProposalChosen {
                ours: r_text.clone(),
                theirs: proposal::describe(&offers),
            });
            return Err(lists(f));
        };
        if s.dh == dh {
            break (n, s);
        }
        invalid_ke.push(s.dh);
        match retry_group(Some(s.dh), dh, &ours_i) {
            Some(w) if restarts < MAX_KE_RETRIES => {
                restarts += 1;
                dh = w;
            }
            _ => {
                let n = NotifyType::INVALID_KE_PAYLOAD;
                let mut f = phase1_failure(init, Some(n), Cause::KeyExchangeGroup);
                f.initiator = Reason::PeerNotify(n.0);
                return Err(lists(f));
            }
        }
    };
    match proposal::accept_ike_answer(&[proposal::ike_answer(number, &suite)], &ours_i) {
        Ok(s) if s.dh == dh => {}
        _ => {
            let why = "responder chose a proposal we did not offer".to_string();
            let mut f = phase1_failure(init, None, Cause::BadAnswer(why.clone()));
            f.initiator = Reason::PeerMisbehaved(why);
            return Err(lists(f));
        }
    }
    authenticate(gi, gr)?;
    Ok(IkeSaPrediction {
        suite,
        invalid_ke,
        initiator_proposals: i_text,
        responder_proposals: r_text,
    })
}

/// IKE_AUTH: the responder checks the initiator's ID and AUTH (the PSK), then the initiator
/// checks the responder's ID (the PSK is the same one by then).
fn authenticate(gi: &GatewayConfig, gr: &GatewayConfig) -> Result<(), Fail> {
    let auth = ExchangeType::IKE_AUTH;
    let failed = Some(NotifyType::AUTHENTICATION_FAILED);
    let pattern = |g: &GatewayConfig| g.peer_id.as_ref().map(|p| p.to_string());
    if let Err(why) = check_peer_id(gr, &gi.local_id) {
        let mut f = phase1_failure(
            auth,
            failed,
            Cause::PeerId {
                checked_by: Role::Responder,
            },
        );
        f.initiator_list = gi.local_id.to_string();
        f.responder_list = pattern(gr).unwrap_or_default();
        f.initiator = Reason::AuthenticationFailed(REJECTED.into());
        f.responder = Some(Reason::AuthenticationFailed(why));
        return Err(f);
    }
    // Certificates on both sides are validated at run time (trust anchors, validity at the
    // wall-clock time), which a configuration alone cannot predict: they count as agreeing.
    let refused = match (gi.auth.pre_shared_key(), gr.auth.pre_shared_key()) {
        (Some(a), Some(b)) if !constant_time_eq(a.expose(), b.expose()) => Some((
            Cause::PreSharedKey,
            format!(
                "AUTH payload of {} does not verify (pre-shared key mismatch?)",
                gi.local_id
            ),
        )),
        (Some(_), None) => Some((
            Cause::AuthMethods,
            format!(
                "peer uses auth method {}, we use certificates",
                AuthMethod::SHARED_KEY_MIC
            ),
        )),
        (None, Some(_)) => Some((
            Cause::AuthMethods,
            "peer uses a signature auth method, we use PSK".into(),
        )),
        _ => None,
    };
    if let Some((cause, why)) = refused {
        let mut f = phase1_failure(auth, failed, cause);
        f.initiator = Reason::AuthenticationFailed(REJECTED.into());
        f.responder = Some(Reason::AuthenticationFailed(why));
        return Err(f);
    }
    if let Err(why) = check_peer_id(gi, &gr.local_id) {
        // The responder has established by now; the initiator's INFORMATIONAL tears it down.
        let mut f = phase1_failure(
            auth,
            failed,
            Cause::PeerId {
                checked_by: Role::Initiator,
            },
        );
        f.initiator_list = pattern(gi).unwrap_or_default();
        f.responder_list = gr.local_id.to_string();
        f.initiator = Reason::AuthenticationFailed(why);
        f.responder = Some(Reason::AuthenticationFailed(
            "peer rejected our AUTH payload or ID".into(),
        ));
        return Err(f);
    }
    Ok(())
}

/// Every proxy ID of the initiator's tunnels over `gi`, in the order `Endpoint::connect` sends
/// them when each tunnel is connected in configuration order.
fn phase2(side: PairSide, (ic, gi): Side<'_>, (rc, gr): Side<'_>) -> Vec<ChildPrediction> {
    let peer = gi.peer_addr.unwrap_or(gi.local_addr);
    let mut out = Vec::new();
    for t in ic.tunnels_of(&gi.name) {
        for (proxy_id, local, remote) in proposed_children(t, peer) {
            let exchange = if out.is_empty() {
                ExchangeType::IKE_AUTH
            } else {
                ExchangeType::CREATE_CHILD_SA
            };
            let req = ChildRequest {
                tunnel: t.name.clone(),
                proxy_id: proxy_id.clone(),
                spi: OUR_SPI,
                tsi: vec![local],
                tsr: vec![remote],
                rekey: None,
                group: None,
            };
            let neg = ChildNegotiation {
                exchange,
                initiator: t,
                req: &req,
                responder: rc,
                responder_gateway: &gr.name,
                from: gi.local_addr,
                only_tunnel: None,
            };
            let outcome = neg.run().map_err(|f| *f).map(|n| {
                let lifetimes = (t.lifetime, n.tunnel.lifetime);
                let mut rekeys = Vec::new();
                if lifetimes.0 <= lifetimes.1 {
                    rekeys.push(rekey(side, t, &n, (rc, gr), gi, false));
                }
                if lifetimes.1 <= lifetimes.0 {
                    rekeys.push(rekey(other(side), n.tunnel, &n, (ic, gi), gr, true));
                }
                ChildSaPrediction {
                    responder_tunnel: n.tunnel.name.clone(),
                    responder_proxy_id: n.proxy_id.clone(),
                    suite: n.suite,
                    tsi: n.tsi.clone(),
                    tsr: n.tsr.clone(),
                    mode: if t.mode == Mode::Transport && n.tunnel.mode == Mode::Transport {
                        Mode::Transport
                    } else {
                        Mode::Tunnel
                    },
                    invalid_ke: n.invalid_ke,
                    lifetimes,
                    rekeys,
                }
            });
            out.push(ChildPrediction {
                tunnel: t.name.clone(),
                proxy_id,
                exchange,
                tsi: req.tsi,
                tsr: req.tsr,
                outcome,
            });
        }
    }
    out
}

/// The rekey of a negotiated Child SA by `by`, whose tunnel is `t` and whose own gateway is
/// `own`; its peer (`peer`) looks for policies in the tunnel that holds the SA on its side.
/// `reversed` when `by` was the responder of the exchange that created it.
fn rekey(
    by: PairSide,
    t: &TunnelConfig,
    n: &Negotiated<'_>,
    (pc, pg): Side<'_>,
    own: &GatewayConfig,
    reversed: bool,
) -> RekeyPrediction {
    // A rekey proposes the SA's own selectors, as that side installed them.
    let (local, remote) = if reversed {
        (n.tsr.clone(), n.tsi.clone())
    } else {
        (n.tsi.clone(), n.tsr.clone())
    };
    let peer_tunnel = pc
        .tunnels_of(&pg.name)
        .find(|pt| {
            if reversed {
                // The peer (the original initiator) holds it in the tunnel it proposed from.
                n.initiator_tunnel == pt.name
            } else {
                n.tunnel.name == pt.name
            }
        })
        .map(|pt| pt.name.as_str());
    let req = ChildRequest {
        tunnel: t.name.clone(),
        proxy_id: None,
        spi: OUR_SPI,
        tsi: local,
        tsr: remote,
        rekey: Some(OUR_SPI),
        group: None,
    };
    let neg = ChildNegotiation {
        exchange: ExchangeType::CREATE_CHILD_SA,
        initiator: t,
        req: &req,
        responder: pc,
        responder_gateway: &pg.name,
        from: own.local_addr,
        only_tunnel: peer_tunnel,
    };
    RekeyPrediction {
        by,
        outcome: neg.run().map(|n| n.suite).map_err(|f| *f),
    }
}

/// One Child SA negotiation: IKE_AUTH's or CREATE_CHILD_SA's (new or rekey).
struct ChildNegotiation<'a> {
    exchange: ExchangeType,
    initiator: &'a TunnelConfig,
    req: &'a ChildRequest,
    responder: &'a EndpointConfig,
    responder_gateway: &'a str,
    /// The initiator's address (the responder picks the family of "any" selectors by it).
    from: IpAddr,
    /// For a rekey: the responder's tunnel holding the SA.
    only_tunnel: Option<&'a str>,
}

/// A negotiated Child SA, from the responder's side.
struct Negotiated<'a> {
    initiator_tunnel: String,
    tunnel: &'a TunnelConfig,
    proxy_id: Option<String>,
    suite: EspSuite,
    tsi: Vec<TrafficSelector>,
    tsr: Vec<TrafficSelector>,
    invalid_ke: Option<DhGroup>,
}

fn ts_text(ts: &[TrafficSelector]) -> String {
    ts.iter().map(|t| t.short()).collect::<Vec<_>>().join(",")
}

impl<'a> ChildNegotiation<'a> {
    fn failure(&self, notify: NotifyType, cause: Cause) -> Fail {
        Box::new(Failure {
            phase: Phase::Two,
            exchange: self.exchange,
            notify: Some(notify),
            initiator_tunnel: self.initiator.name.clone(),
            responder_tunnel: String::new(),
            cause,
            initiator_list: String::new(),
            responder_list: String::new(),
            initiator: peer_refusal(notify, self.initiator, self.req),
            responder: None,
        })
    }

    fn run(&self) -> Result<Negotiated<'a>, Fail> {
        let (tsi, tsr) = (&self.req.tsi, &self.req.tsr);
        let pols: Vec<_> = policies(self.responder, self.responder_gateway, self.from)
            .into_iter()
            .filter(|(_, _, t, _)| self.only_tunnel.is_none_or(|o| o == t.name))
            .collect();
        let refs: Vec<(&[TrafficSelector], &[TrafficSelector])> = pols
            .iter()
            .map(|(l, r, _, _)| (l.as_slice(), r.as_slice()))
            .collect();
        let Ok((idx, narrowed)) = choose_policy(tsi, tsr, &refs) else {
            let mut f = self.failure(NotifyType::TS_UNACCEPTABLE, Cause::TrafficSelectors);
            f.initiator_list = format!("local {} remote {}", ts_text(tsi), ts_text(tsr));
            f.responder_list = pols
                .iter()
                .map(|(l, r, _, _)| format!("local {} remote {}", ts_text(l), ts_text(r)))
                .collect::<Vec<_>>()
                .join("; ");
            let (local, remote, tunnel) = pols
                .first()
                .map(|(l, r, t, _)| (l.clone(), r.clone(), t.name.clone()))
                .unwrap_or_default();
            f.responder_tunnel = tunnel;
            f.responder = Some(Reason::TsUnacceptable {
                local,
                remote,
                received_remote: tsi.clone(),
                received_local: tsr.clone(),
            });
            return Err(f);
        };
        let Some((_, _, tunnel, proxy_id)) = pols.get(idx) else {
            return Err(self.failure(NotifyType::TS_UNACCEPTABLE, Cause::TrafficSelectors));
        };
        let with_dh = self.exchange == ExchangeType::CREATE_CHILD_SA;
        let offers = esp_offers(self.initiator, OUR_SPI, with_dh);
        let Ok((number, _, suite)) = proposal::select_esp(&offers, &tunnel.esp_proposals, with_dh)
        else {
            // Would the proposals match without their PFS groups?
            let without_pfs = esp_offers(self.initiator, OUR_SPI, false);
            let cause = if with_dh
                && proposal::select_esp(&without_pfs, &tunnel.esp_proposals, false).is_ok()
            {
                Cause::PfsGroup
            } else {
                Cause::NoEspProposal
            };
            let mut f = self.failure(NotifyType::NO_PROPOSAL_CHOSEN, cause);
            f.responder_tunnel = tunnel.name.clone();
            f.initiator_list = esp_text(self.initiator);
            f.responder_list = esp_text(tunnel);
            f.responder = Some(Reason::NoProposalChosen {
                ours: esp_text(tunnel),
                theirs: proposal::describe(&offers),
            });
            return Err(f);
        };
        let mut invalid_ke = None;
        if with_dh && suite.dh != DhGroup::NONE {
            let sent = self.req.group.or_else(|| pfs_group(self.initiator));
            if sent != Some(suite.dh) {
                // INVALID_KE_PAYLOAD; the retry offers the same proposals with the wanted group.
                if !retries_pfs(self.initiator, Some(suite.dh), sent, false) {
                    let n = NotifyType::INVALID_KE_PAYLOAD;
                    let mut f = self.failure(n, Cause::KeyExchangeGroup);
                    f.initiator_list = esp_text(self.initiator);
                    f.responder_list = esp_text(tunnel);
                    return Err(f);
                }
                invalid_ke = Some(suite.dh);
            }
        }
        let answer = [proposal::esp_answer(number, PEER_SPI, &suite, with_dh)];
        let accepted = proposal::accept_esp_answer(&answer, &self.initiator.esp_proposals, with_dh);
        if !matches!(accepted, Ok((_, s)) if s == suite) {
            let why = "the responder's ESP answer is not one of our offers".to_string();
            let mut f = self.failure(
                NotifyType::NO_PROPOSAL_CHOSEN,
                Cause::BadAnswer(why.clone()),
            );
            f.notify = None;
            f.initiator = Reason::PeerMisbehaved(why);
            return Err(f);
        }
        if check_narrowed(tsi, tsr, &narrowed.tsi, &narrowed.tsr).is_err() {
            let why = "the responder widened the traffic selectors".to_string();
            let mut f = self.failure(NotifyType::TS_UNACCEPTABLE, Cause::BadAnswer(why));
            f.notify = None;
            f.initiator = Reason::TsUnacceptable {
                local: tsi.clone(),
                remote: tsr.clone(),
                received_remote: narrowed.tsr.clone(),
                received_local: narrowed.tsi.clone(),
            };
            return Err(f);
        }
        Ok(Negotiated {
            initiator_tunnel: self.initiator.name.clone(),
            tunnel,
            proxy_id: proxy_id.clone(),
            suite,
            tsi: narrowed.tsi,
            tsr: narrowed.tsr,
            invalid_ke,
        })
    }
}
