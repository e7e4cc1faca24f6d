//! IKE_SA_INIT (RFC 7296 section 1.2), both roles, with COOKIE (2.6), INVALID_KE_PAYLOAD (1.2),
//! NAT detection (2.23) and the fragmentation capability (RFC 7383 section 2.3).
//!
//! ```text
//! Initiator                                  Responder
//! HDR, SAi1, KEi, Ni, N(NAT_D)x2, [N(FRAG)] -->
//!                                      <--   HDR, N(COOKIE)               (cookie required)
//! HDR, N(COOKIE), SAi1, KEi, Ni, ...    -->
//!                                      <--   HDR, N(INVALID_KE_PAYLOAD)   (wrong group)
//! HDR, SAi1, KEi', Ni, ...              -->
//!                                      <--   HDR, SAr1, KEr, Nr, N(NAT_D)x2, [N(FRAG)]
//! ```
//!
//! The initiator's [`InitSent`] phase ends in [`AuthSent`] (keys derived, IKE_AUTH next); the
//! responder's answer creates a [`Handshake`] waiting for IKE_AUTH.

use super::keying::{our_proposals, prf, sa_keys};
use super::signature;
use crate::config::{EndpointConfig, GatewayConfig};
use crate::cookie::CookieSecret;
use crate::ctx::Ctx;
use crate::error::{LocalError, NegotiationError};
use crate::event::{Event, Reason, Role, SaName};
use crate::keys;
use crate::nat::{nat_hash, NatState, IKE_PORT};
use crate::proposal::{self, IkeProposal, IkeSuite};
use crate::sa::{AuthSent, ChildRequest, Handshake, InitSent, Link, SaKeys};
use crate::wire::{
    ExchangeType, Flags, Header, KeyExchange, Message, Nonce, Notify, NotifyType, Payload,
    Proposal, SecurityAssociation,
};
use ipsec_core::crypto::{CryptoError, CryptoProvider, DhGroup, SecretBytes};
use std::net::{IpAddr, SocketAddr};

/// COOKIE rounds we go along with before a COOKIE counts as a refusal.
pub(crate) const MAX_COOKIES: u8 = 3;

/// INVALID_KE_PAYLOAD restarts we make before one counts as a refusal.
pub(crate) const MAX_KE_RETRIES: u8 = 3;

fn nat_notifies(
    ctx: &Ctx<'_>,
    g: &GatewayConfig,
    (spi_i, spi_r): (u64, u64),
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<Vec<Payload>, LocalError> {
    if !g.nat_traversal && !g.force_encapsulation {
        return Ok(Vec::new());
    }
    // A source hash that cannot match makes the peer believe we are behind a NAT, so both sides
    // encapsulate (what strongSwan's `encap = yes` does).
    let src = if g.force_encapsulation {
        ctx.random(20)?
    } else {
        nat_hash(spi_i, spi_r, local).to_vec()
    };
    Ok(vec![
        Payload::Notify(Notify::new(NotifyType::NAT_DETECTION_SOURCE_IP, &src)),
        Payload::Notify(Notify::new(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            &nat_hash(spi_i, spi_r, remote),
        )),
    ])
}

/// Evaluates the peer's NAT detection notifies of `msg` and, when the peer takes part, records
/// the result on `link` (UDP encapsulation when a NAT is seen or forced). Returns whether it
/// took part. A gateway with NAT traversal off ignores them (RFC 7296 section 2.23: NAT
/// detection is only acted on by peers that support it; a responder with NAT-T off that floated
/// alone would UDP-encapsulate ESP its peer sends unencapsulated).
fn detect_nat(g: &GatewayConfig, link: &mut Link, msg: &Message) -> bool {
    let sources: Vec<&[u8]> = msg
        .notifies()
        .filter(|n| n.notify_type == NotifyType::NAT_DETECTION_SOURCE_IP)
        .map(|n| n.data.as_slice())
        .collect();
    let dest = msg
        .notify(NotifyType::NAT_DETECTION_DESTINATION_IP)
        .map(|n| n.data.as_slice());
    // The hashes of the request carry SPIr = 0.
    let spi_r = match link.role {
        Role::Initiator => link.spi_r,
        Role::Responder => 0,
    };
    let nat = if g.nat_traversal || g.force_encapsulation {
        NatState::detect(link.spi_i, spi_r, &sources, dest, link.remote, link.local)
    } else {
        None
    };
    link.nat = nat.unwrap_or_default();
    link.encap = nat.is_some() && (link.nat.any() || g.force_encapsulation);
    link.fragmentation = g.fragmentation
        && msg
            .notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
            .is_some();
    nat.is_some()
}

/// Derives the keys of a new IKE SA: SKEYSEED from g^ir and the nonces, then the SK_* keys.
fn derive(
    ctx: &Ctx<'_>,
    link: &Link,
    suite: &IkeSuite,
    shared: &SecretBytes,
    (ni, nr): (&[u8], &[u8]),
) -> Result<SaKeys, LocalError> {
    let seed = keys::skeyseed(prf(ctx, suite)?, ni, nr, shared.expose());
    sa_keys(
        ctx,
        link.role,
        suite,
        seed.expose(),
        (ni, nr),
        (link.spi_i, link.spi_r),
    )
}

/// The group of our first KE payload: the first of our first proposal the provider runs.
pub(crate) fn first_group(g: &GatewayConfig, provider: &CryptoProvider) -> Option<DhGroup> {
    our_proposals(g, provider)
        .first()
        .and_then(|p| p.dh.first().copied())
}

/// The initiator's SA payload offers for a KE payload in group `dh` (moved to the front of each
/// proposal's groups), numbered as they go on the wire.
pub(crate) fn init_offers(ours: &[IkeProposal], dh: DhGroup) -> Vec<Proposal> {
    proposal::number(ours.iter().flat_map(|p| p.offers(dh)).collect())
}

/// The group an initiator restarts IKE_SA_INIT with after INVALID_KE_PAYLOAD asked for
/// `wanted` while it sent `current`: one it offered, and not the one it already used.
pub(crate) fn retry_group(
    wanted: Option<DhGroup>,
    current: DhGroup,
    ours: &[IkeProposal],
) -> Option<DhGroup> {
    wanted.filter(|w| *w != current && ours.iter().any(|p| p.dh.contains(w)))
}

/// Starts an IKE SA as initiator toward `peer`, `g`'s peer, with a key exchange in `group`,
/// proposing `first_child` in IKE_AUTH.
pub(crate) fn start(
    ctx: &Ctx<'_>,
    g: &GatewayConfig,
    (peer, group): (IpAddr, DhGroup),
    spi_i: u64,
    first_child: ChildRequest,
) -> Result<(Link, InitSent), LocalError> {
    let link = Link::new(
        &g.name,
        Role::Initiator,
        (spi_i, 0),
        SocketAddr::new(g.local_addr, IKE_PORT),
        SocketAddr::new(peer, IKE_PORT),
    );
    let init = InitSent {
        ni: ctx.nonce()?,
        ke: ctx.start_ke(group)?,
        cookie: None,
        cookies: 0,
        ke_retries: 0,
        request: Vec::new(),
        earlier: Vec::new(),
        refused: None,
        first_child: Some(first_child),
    };
    Ok((link, init))
}

/// Builds the IKE_SA_INIT request (again, after a cookie or INVALID_KE) and keeps it in `init`
/// as the signed octets of our AUTH.
pub(crate) fn request(
    ctx: &Ctx<'_>,
    link: &Link,
    init: &mut InitSent,
) -> Result<Vec<u8>, LocalError> {
    let g = link.gateway_cfg(ctx)?;
    let group = init.ke.group();
    let mut payloads = Vec::new();
    if let Some(c) = &init.cookie {
        payloads.push(Payload::Notify(Notify::new(NotifyType::COOKIE, c)));
    }
    let offers = init_offers(&our_proposals(g, ctx.provider), group);
    payloads.push(Payload::Sa(SecurityAssociation { proposals: offers }));
    payloads.push(Payload::Ke(KeyExchange {
        group,
        data: init.ke.public_value().to_vec(),
    }));
    payloads.push(Payload::Nonce(Nonce {
        data: init.ni.clone(),
    }));
    payloads.extend(nat_notifies(
        ctx,
        g,
        (link.spi_i, 0),
        link.local,
        link.remote,
    )?);
    if g.fragmentation {
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            &[],
        )));
    }
    payloads.extend(signature::init_payloads(ctx.provider, g, Role::Initiator));
    let msg = Message {
        header: Header::new(
            link.spi_i,
            0,
            ExchangeType::IKE_SA_INIT,
            Flags::new(true, false),
            0,
        ),
        payloads,
    };
    let bytes = msg.to_bytes().map_err(LocalError::Encode)?;
    init.request = bytes.clone();
    Ok(bytes)
}

/// Where the initiator's IKE_SA_INIT stands after a response.
// Returned once and moved on, never stored: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum InitStep {
    /// Send the request again (with the cookie, or in the group the responder wants).
    Resend(InitSent),
    /// Not an answer we can use: keep retransmitting. A refusal is kept in
    /// [`InitSent::refused`], reported if no usable answer comes before the retransmissions end.
    Ignored(InitSent),
    /// Our side failed.
    Failed(Reason),
    /// Keys derived: IKE_AUTH is next.
    Answered(AuthSent),
}

/// Initiator: processes the IKE_SA_INIT response from `remote`.
///
/// Nothing in it is authenticated, so nothing in it ends the attempt (RFC 7296 section
/// 2.21.1): anyone on the path can forge an error notify, a COOKIE or an INVALID_KE_PAYLOAD
/// faster than the responder answers. A COOKIE or an INVALID_KE_PAYLOAD naming a group we offer
/// restarts the exchange, a bounded number of times each; any other refusal (an error notify, a
/// proposal we did not offer, a bad key exchange) is noted and the request keeps being
/// retransmitted, so that the genuine answer, if it comes, still establishes the SA.
pub(crate) fn on_response(
    ctx: &Ctx<'_>,
    link: &mut Link,
    mut init: InitSent,
    remote: SocketAddr,
    bytes: &[u8],
) -> InitStep {
    // A malformed answer is dropped and we keep retransmitting.
    let Ok(msg) = Message::parse(bytes) else {
        return InitStep::Ignored(init);
    };
    if remote != link.remote {
        return InitStep::Ignored(init);
    }
    let g = match link.gateway_cfg(ctx) {
        Ok(g) => g,
        Err(e) => return InitStep::Failed(e.into()),
    };
    let ours = our_proposals(g, ctx.provider);
    let group = init.ke.group();
    let refused = |mut init: InitSent, reason: Reason| {
        tracing::debug!(%reason, "IKE_SA_INIT refused (unauthenticated); still waiting");
        init.refused.get_or_insert(reason);
        InitStep::Ignored(init)
    };
    if let Some(n) = msg.notify(NotifyType::COOKIE) {
        let reason = Reason::PeerNotify(NotifyType::COOKIE.0);
        if init.cookies >= MAX_COOKIES || n.data.is_empty() || n.data.len() > 64 {
            return refused(init, reason);
        }
        init.cookies += 1;
        init.cookie = Some(n.data.clone());
        return InitStep::Resend(init);
    }
    if let Some(n) = msg.notify(NotifyType::INVALID_KE_PAYLOAD) {
        let wanted = n
            .data
            .get(..2)
            .map(|b| DhGroup(u16::from_be_bytes([b[0], b[1]])));
        let reason = Reason::PeerNotify(NotifyType::INVALID_KE_PAYLOAD.0);
        let acceptable = retry_group(wanted, group, &ours)
            .filter(|w| !init.earlier.iter().any(|(ke, _)| ke.group() == *w));
        return match acceptable {
            Some(w) if init.ke_retries < MAX_KE_RETRIES => match ctx.start_ke(w) {
                Ok(ke) => {
                    let old = core::mem::replace(&mut init.ke, ke);
                    init.earlier.push((old, core::mem::take(&mut init.request)));
                    init.ke_retries += 1;
                    InitStep::Resend(init)
                }
                Err(e) => InitStep::Failed(e.into()),
            },
            _ => refused(init, reason),
        };
    }
    if let Some(n) = msg.notifies().find(|n| n.notify_type.is_error()) {
        let reason = if n.notify_type == NotifyType::NO_PROPOSAL_CHOSEN {
            Reason::NoProposalChosen {
                ours: ours
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(" | "),
                theirs: String::new(),
            }
        } else {
            Reason::PeerNotify(n.notify_type.0)
        };
        return refused(init, reason);
    }
    let spi_r = msg.header.responder_spi;
    let (Some(sa), Some(ke), Some(nonce)) = (msg.sa(), msg.ke(), msg.nonce()) else {
        return InitStep::Ignored(init);
    };
    if spi_r == 0 || !(16..=256).contains(&nonce.data.len()) {
        return InitStep::Ignored(init);
    }
    // The answer may be to an earlier request of ours, in another group, sent before an
    // INVALID_KE_PAYLOAD: its key exchange and its octets (which our AUTH signs) are the ones.
    let earlier = init.earlier.iter().position(|(k, _)| k.group() == ke.group);
    let answered = earlier.map_or(group, |_| ke.group);
    let suite = match proposal::accept_ike_answer(&sa.proposals, &ours) {
        Ok(s) if s.dh == answered && ke.group == answered => s,
        _ => {
            let why = "responder chose a proposal we did not offer";
            return refused(init, Reason::PeerMisbehaved(why.into()));
        }
    };
    let completed = match earlier.and_then(|i| init.earlier.get(i)) {
        Some((k, _)) => k.complete(&ke.data),
        None => init.ke.complete(&ke.data),
    };
    let shared = match completed {
        Ok(s) => s,
        Err(e) => return refused(init, NegotiationError::from(e).into()),
    };
    let request = match earlier {
        Some(i) => init.earlier.swap_remove(i).1,
        None => init.request,
    };
    link.spi_r = spi_r;
    let nr = nonce.data.clone();
    let keys = match derive(ctx, link, &suite, &shared, (&init.ni, &nr)) {
        Ok(k) => k,
        Err(e) => return InitStep::Failed(e.into()),
    };
    detect_nat(g, link, &msg);
    if link.encap {
        link.float();
    }
    InitStep::Answered(AuthSent {
        hs: Handshake {
            suite,
            keys,
            ni: init.ni,
            nr,
            our_init: request,
            peer_init: bytes.to_vec(),
            peer_hashes: signature::peer_hashes(g, &msg),
        },
        first_child: init.first_child,
    })
}

/// What the responder did with an IKE_SA_INIT request.
// Returned once and moved on, never stored: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum InitOutcome {
    /// A new half-open IKE SA: its link, its handshake state and the response sent.
    Created(Link, Handshake, Vec<u8>),
    /// A stateless answer (COOKIE, INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN) was sent.
    Answered,
    /// Dropped (malformed or no gateway).
    Dropped,
}

/// The gateway an IKE_SA_INIT from `remote` to `local` belongs to: a static peer with that address
/// first, else a dynamic peer of the same address family.
pub(crate) fn find_gateway(
    cfg: &EndpointConfig,
    local: SocketAddr,
    remote: SocketAddr,
) -> Option<&GatewayConfig> {
    let local_ok = |g: &GatewayConfig| g.local_addr == local.ip() || g.local_addr.is_unspecified();
    cfg.gateways
        .iter()
        .find(|g| g.peer_addr == Some(remote.ip()) && local_ok(g))
        .or_else(|| {
            cfg.gateways.iter().find(|g| {
                g.peer_addr.is_none() && local_ok(g) && g.local_addr.is_ipv4() == remote.is_ipv4()
            })
        })
}

fn stateless_answer(
    ctx: &mut Ctx<'_>,
    local: SocketAddr,
    remote: SocketAddr,
    spi_i: u64,
    n: Notify,
) -> InitOutcome {
    let msg = Message {
        header: Header::new(
            spi_i,
            0,
            ExchangeType::IKE_SA_INIT,
            Flags::new(false, true),
            0,
        ),
        payloads: vec![Payload::Notify(n)],
    };
    if let Ok(b) = msg.to_bytes() {
        ctx.send(local, remote, &[b]);
    }
    InitOutcome::Answered
}

/// Responder: answers an IKE_SA_INIT request. `spi_r` is the SPI to use if an SA is created;
/// `demand_cookie` when the endpoint wants a cookie first (under load, or when an answer would
/// be larger than the request from an address that has not proved it receives).
pub(crate) fn respond(
    ctx: &mut Ctx<'_>,
    cookies: &CookieSecret,
    demand_cookie: bool,
    (local, remote): (SocketAddr, SocketAddr),
    bytes: &[u8],
    spi_r: u64,
) -> Result<InitOutcome, LocalError> {
    let Ok(msg) = Message::parse(bytes) else {
        return Ok(InitOutcome::Dropped);
    };
    let spi_i = msg.header.initiator_spi;
    if spi_i == 0 || msg.header.message_id != 0 {
        return Ok(InitOutcome::Dropped);
    }
    let Some(g) = find_gateway(ctx.cfg, local, remote) else {
        ctx.emit(Event::NoGateway { remote });
        return Ok(InitOutcome::Dropped);
    };
    let syntax = || Notify::new(NotifyType::INVALID_SYNTAX, &[]);
    let (Some(sa), Some(ke), Some(nonce)) = (msg.sa(), msg.ke(), msg.nonce()) else {
        return Ok(stateless_answer(ctx, local, remote, spi_i, syntax()));
    };
    if !(16..=256).contains(&nonce.data.len()) {
        return Ok(stateless_answer(ctx, local, remote, spi_i, syntax()));
    }
    // RFC 7296 section 2.6: under load or by policy, require the initiator to prove it can
    // receive at its address before we keep any state.
    if g.require_cookie || demand_cookie {
        let prf = ctx
            .provider
            .prfs
            .first()
            .copied()
            .ok_or(CryptoError::Unsupported("no PRF for cookies"))?;
        let valid = msg
            .payloads
            .first()
            .and_then(|p| match p {
                Payload::Notify(n) if n.notify_type == NotifyType::COOKIE => Some(n),
                _ => None,
            })
            .is_some_and(|n| cookies.verify(prf, &n.data, &nonce.data, remote.ip(), spi_i));
        if !valid {
            let Some(c) = cookies.make(prf, &nonce.data, remote.ip(), spi_i) else {
                return Ok(InitOutcome::Dropped);
            };
            let n = Notify::new(NotifyType::COOKIE, &c);
            return Ok(stateless_answer(ctx, local, remote, spi_i, n));
        }
    }
    let ours = our_proposals(g, ctx.provider);
    let offers = &sa.proposals;
    let Ok((number, suite)) = proposal::select_ike(offers, &ours, Some(ke.group)) else {
        ctx.emit(Event::Phase1Failed {
            gateway: g.name.clone(),
            role: Role::Responder,
            sa: SaName {
                spi_i,
                spi_r: 0,
                local,
                remote,
            },
            reason: Reason::NoProposalChosen {
                ours: ours
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(" | "),
                theirs: proposal::describe(offers),
            },
        });
        let n = Notify::new(NotifyType::NO_PROPOSAL_CHOSEN, &[]);
        return Ok(stateless_answer(ctx, local, remote, spi_i, n));
    };
    if suite.dh != ke.group {
        let n = Notify::new(NotifyType::INVALID_KE_PAYLOAD, &suite.dh.0.to_be_bytes());
        return Ok(stateless_answer(ctx, local, remote, spi_i, n));
    }
    let our_ke = ctx.start_ke(suite.dh)?;
    let Ok(shared) = our_ke.complete(&ke.data) else {
        return Ok(stateless_answer(ctx, local, remote, spi_i, syntax()));
    };
    let mut link = Link::new(&g.name, Role::Responder, (spi_i, spi_r), local, remote);
    let ni = nonce.data.clone();
    let nr = ctx.nonce()?;
    let nat = detect_nat(g, &mut link, &msg);
    let mut payloads = vec![
        Payload::Sa(SecurityAssociation {
            proposals: vec![proposal::ike_answer(number, &suite)],
        }),
        Payload::Ke(KeyExchange {
            group: suite.dh,
            data: our_ke.public_value().to_vec(),
        }),
        Payload::Nonce(Nonce { data: nr.clone() }),
    ];
    if nat {
        payloads.extend(nat_notifies(ctx, g, (spi_i, spi_r), local, remote)?);
    }
    if link.fragmentation {
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            &[],
        )));
    }
    payloads.extend(signature::init_payloads(ctx.provider, g, Role::Responder));
    let response = Message {
        header: Header::new(
            spi_i,
            spi_r,
            ExchangeType::IKE_SA_INIT,
            Flags::new(false, true),
            0,
        ),
        payloads,
    };
    let out = response.to_bytes().map_err(LocalError::Encode)?;
    let keys = derive(ctx, &link, &suite, &shared, (&ni, &nr))?;
    ctx.send(local, remote, std::slice::from_ref(&out));
    let hs = Handshake {
        suite,
        keys,
        ni,
        nr,
        our_init: out.clone(),
        peer_init: bytes.to_vec(),
        peer_hashes: signature::peer_hashes(g, &msg),
    };
    Ok(InitOutcome::Created(link, hs, out))
}
