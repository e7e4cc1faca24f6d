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

use super::{offers_of, sa_payload, Ctx};
use crate::config::GatewayConfig;
use crate::cookie::CookieSecret;
use crate::error::Error;
use crate::event::{Event, Reason, Role, SaName};
use crate::keys::{self, IkeKeyLengths};
use crate::nat::{nat_hash, NatState, IKE_PORT, NATT_PORT};
use crate::proposal::{self, IkeProposal, IkeSuite};
use crate::sa::{IkeSa, InitiatorInit, SaKeys, State, HALF_OPEN_TIMEOUT};
use crate::timer::Timer;
use crate::wire::{
    ExchangeType, Flags, Header, KeyExchange, Message, Nonce, Notify, NotifyType, Payload, SkKeys,
};
use ipsec_core::crypto::{CryptoError, CryptoProvider, DhGroup, IntegId};
use std::net::SocketAddr;

/// Length of our nonces: 32 bytes, at least half the key size of every PRF we support (RFC 7296
/// section 2.10).
pub(crate) const NONCE_LEN: usize = 32;

/// Restarts of IKE_SA_INIT we accept (cookie, INVALID_KE) before giving up.
const MAX_RESTARTS: u8 = 3;

/// The gateway's IKE proposals that the provider can run.
pub(crate) fn our_proposals(g: &GatewayConfig, provider: &CryptoProvider) -> Vec<IkeProposal> {
    g.ike_proposals
        .iter()
        .filter_map(|p| p.supported_by(provider))
        .collect()
}

fn nat_notifies(
    ctx: &Ctx<'_>,
    g: &GatewayConfig,
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<Vec<Payload>, Error> {
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

/// Evaluates the peer's NAT detection notifies of `msg`.
fn detect_nat(
    msg: &Message,
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
) -> Option<NatState> {
    let sources: Vec<&[u8]> = msg
        .notifies()
        .filter(|n| n.notify_type == NotifyType::NAT_DETECTION_SOURCE_IP)
        .map(|n| n.data.as_slice())
        .collect();
    let dest = msg
        .notify(NotifyType::NAT_DETECTION_DESTINATION_IP)
        .map(|n| n.data.as_slice());
    NatState::detect(spi_i, spi_r, &sources, dest, remote, local)
}

/// Starts an IKE SA as initiator toward `g`'s peer and sends the IKE_SA_INIT request.
pub(crate) fn start(
    ctx: &mut Ctx<'_>,
    g: &GatewayConfig,
    spi_i: u64,
    tunnel: &str,
    child_spi: u32,
) -> Result<IkeSa, Error> {
    let peer = g.peer_addr.ok_or_else(|| {
        Error::Config(format!(
            "ike-gateway \"{}\": dynamic peers cannot be initiated to",
            g.name
        ))
    })?;
    let proposals = our_proposals(g, ctx.provider);
    let group = proposals
        .first()
        .and_then(|p| p.dh.first().copied())
        .ok_or_else(|| {
            Error::Config(format!(
                "ike-gateway \"{}\": no usable IKE proposal",
                g.name
            ))
        })?;
    let local = SocketAddr::new(g.local_addr, IKE_PORT);
    let remote = SocketAddr::new(peer, IKE_PORT);
    let mut sa = IkeSa::new(
        ctx.now,
        g,
        Role::Initiator,
        spi_i,
        0,
        local,
        remote,
        State::InitSent,
    );
    sa.ni = ctx.random(NONCE_LEN)?;
    sa.init = Some(InitiatorInit {
        ke: start_ke(ctx, group)?,
        cookie: None,
        restarts: 0,
    });
    sa.dh = group;
    sa.child_request = Some(super::ike_auth::child_request(
        ctx, tunnel, 0, child_spi, peer,
    )?);
    sa.send_init_request(ctx)?;
    Ok(sa)
}

/// Starts our side of a key exchange in `group`.
pub(super) fn start_ke(
    ctx: &Ctx<'_>,
    group: DhGroup,
) -> Result<Box<dyn ipsec_core::crypto::ActiveKeyExchange>, Error> {
    let kx = ctx
        .provider
        .key_exchange(group)
        .ok_or(CryptoError::Unsupported("key exchange not in the provider"))?;
    Ok(kx.start(ctx.rng)?)
}

/// The key lengths of a negotiated IKE suite.
fn ike_key_lengths(provider: &CryptoProvider, s: &IkeSuite) -> Result<IkeKeyLengths, Error> {
    let prf = provider
        .prf(s.prf)
        .ok_or(CryptoError::Unsupported("PRF not in the provider"))?;
    let encr_key = if let Some(a) = provider.aead(s.encryption) {
        a.keymat_len()
    } else if let Some(c) = provider.cipher(s.encryption) {
        c.key_len()
    } else {
        return Err(CryptoError::Unsupported("IKE encryption not in the provider").into());
    };
    let integ_key = if s.integrity == IntegId::NONE {
        0
    } else {
        provider
            .integrity(s.integrity)
            .ok_or(CryptoError::Unsupported(
                "IKE integrity not in the provider",
            ))?
            .key_len()
    };
    Ok(IkeKeyLengths {
        prf_key: prf.output_len(),
        integ_key,
        encr_key,
    })
}

impl IkeSa {
    /// Builds and sends (or re-sends, after a cookie or INVALID_KE) the IKE_SA_INIT request.
    pub(crate) fn send_init_request(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Error> {
        let g = self.gateway_cfg(ctx)?;
        let init = self
            .init
            .as_ref()
            .ok_or(Error::KeyDerivation("no key exchange in progress"))?;
        let mut payloads = Vec::new();
        if let Some(c) = &init.cookie {
            payloads.push(Payload::Notify(Notify::new(NotifyType::COOKIE, c)));
        }
        let offers = proposal::number(
            our_proposals(g, ctx.provider)
                .iter()
                .flat_map(|p| p.offers(self.dh))
                .collect(),
        );
        payloads.push(Payload::Sa(sa_payload(&offers)));
        payloads.push(Payload::Ke(KeyExchange {
            group: self.dh,
            data: init.ke.public_value().to_vec(),
        }));
        payloads.push(Payload::Nonce(Nonce {
            data: self.ni.clone(),
        }));
        payloads.extend(nat_notifies(
            ctx,
            g,
            self.spi_i,
            0,
            self.local,
            self.remote,
        )?);
        if g.fragmentation {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                &[],
            )));
        }
        let msg = Message {
            header: Header::new(
                self.spi_i,
                0,
                ExchangeType::IKE_SA_INIT,
                Flags::new(true, false),
                0,
            ),
            payloads,
        };
        let bytes = msg
            .to_bytes()
            .map_err(|e| Error::Malformed(e.to_string()))?;
        self.our_init = bytes.clone();
        self.queue.restart_init();
        ctx.send(self.local, self.remote, std::slice::from_ref(&bytes));
        self.queue.sent_request(ctx.now, 0, vec![bytes]);
        self.arm_retransmit();
        Ok(())
    }

    /// Initiator: processes the IKE_SA_INIT response, then sends IKE_AUTH.
    pub(crate) fn handle_init_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        remote: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), Error> {
        // Unauthenticated: a malformed answer is dropped and we keep retransmitting.
        let Ok(msg) = Message::parse(bytes) else {
            return Ok(());
        };
        if remote != self.remote {
            return Ok(());
        }
        let g = self.gateway_cfg(ctx)?;
        let ours = our_proposals(g, ctx.provider);
        if let Some(n) = msg.notify(NotifyType::COOKIE) {
            let data = n.data.clone();
            let Some(init) = self.init.as_mut() else {
                return Ok(());
            };
            if init.restarts >= MAX_RESTARTS || data.is_empty() || data.len() > 64 {
                self.fail(ctx, Reason::PeerNotify(NotifyType::COOKIE.0));
                return Ok(());
            }
            init.restarts += 1;
            init.cookie = Some(data);
            return self.send_init_request(ctx);
        }
        if let Some(n) = msg.notify(NotifyType::INVALID_KE_PAYLOAD) {
            let wanted = n
                .data
                .get(..2)
                .map(|b| DhGroup(u16::from_be_bytes([b[0], b[1]])));
            let acceptable =
                wanted.filter(|w| *w != self.dh && ours.iter().any(|p| p.dh.contains(w)));
            let restarts = self
                .init
                .as_ref()
                .map(|i| i.restarts)
                .unwrap_or(MAX_RESTARTS);
            match acceptable {
                Some(w) if restarts < MAX_RESTARTS => {
                    let ke = start_ke(ctx, w)?;
                    if let Some(init) = self.init.as_mut() {
                        init.ke = ke;
                        init.restarts += 1;
                    }
                    self.dh = w;
                    return self.send_init_request(ctx);
                }
                _ => {
                    self.fail(ctx, Reason::PeerNotify(NotifyType::INVALID_KE_PAYLOAD.0));
                    return Ok(());
                }
            }
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
            self.fail(ctx, reason);
            return Ok(());
        }
        let spi_r = msg.header.responder_spi;
        let (Some(sa), Some(ke), Some(nonce)) = (msg.sa(), msg.ke(), msg.nonce()) else {
            return Ok(());
        };
        if spi_r == 0 || !(16..=256).contains(&nonce.data.len()) {
            return Ok(());
        }
        let suite = match proposal::accept_ike_answer(&offers_of(sa), &ours) {
            Ok(s) if s.dh == self.dh && ke.group == self.dh => s,
            _ => {
                self.fail(
                    ctx,
                    Reason::Malformed("responder chose a proposal we did not offer".into()),
                );
                return Ok(());
            }
        };
        let Some(init) = self.init.take() else {
            return Ok(());
        };
        let shared = match init.ke.complete(&ke.data) {
            Ok(s) => s,
            Err(e) => {
                self.fail(ctx, Reason::Malformed(e.to_string()));
                return Ok(());
            }
        };
        self.queue.take_response(0);
        self.timers.stop(Timer::Retransmit);
        self.spi_r = spi_r;
        self.nr = nonce.data.clone();
        self.peer_init = bytes.to_vec();
        self.suite = Some(suite);
        self.shared = Some(shared);
        self.derive_keys(ctx)?;
        let nat = detect_nat(&msg, self.spi_i, spi_r, self.local, self.remote);
        self.nat = nat.unwrap_or_default();
        self.encap = nat.is_some() && (self.nat.any() || g.force_encapsulation);
        if self.encap {
            self.local.set_port(NATT_PORT);
            if self.remote.port() == IKE_PORT {
                self.remote.set_port(NATT_PORT);
            }
        }
        self.fragmentation = g.fragmentation
            && msg
                .notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
                .is_some();
        self.send_auth_request(ctx)
    }

    /// Derives SKEYSEED and the SK_* keys from g^ir, the nonces and SPIs.
    pub(crate) fn derive_keys(&mut self, ctx: &Ctx<'_>) -> Result<(), Error> {
        self.suite.ok_or(Error::KeyDerivation("no suite"))?;
        let shared = self
            .shared
            .take()
            .ok_or(Error::KeyDerivation("no shared secret"))?;
        let prf = self.prf(ctx)?;
        let seed = keys::skeyseed(prf, &self.ni, &self.nr, shared.expose());
        self.install_keys(ctx, seed.expose())
    }

    /// Derives the SK_* keys from SKEYSEED, the nonces and SPIs, with this SA's suite.
    pub(crate) fn install_keys(&mut self, ctx: &Ctx<'_>, seed: &[u8]) -> Result<(), Error> {
        let suite = self.suite.ok_or(Error::KeyDerivation("no suite"))?;
        let prf = self.prf(ctx)?;
        let lens = ike_key_lengths(ctx.provider, &suite)?;
        let ike = keys::ike_keys(prf, seed, &self.ni, &self.nr, self.spi_i, self.spi_r, lens)?;
        let mk = |e: &[u8], a: &[u8]| {
            SkKeys::new(ctx.provider, suite.encryption, suite.integrity, e, a)
                .map_err(|e| Error::Malformed(e.to_string()))
        };
        let i = mk(ike.sk_ei.expose(), ike.sk_ai.expose())?;
        let r = mk(ike.sk_er.expose(), ike.sk_ar.expose())?;
        let (send, recv) = match self.role {
            Role::Initiator => (i, r),
            Role::Responder => (r, i),
        };
        self.keys = Some(SaKeys { ike, send, recv });
        Ok(())
    }
}

/// What the responder did with an IKE_SA_INIT request.
pub(crate) enum InitOutcome {
    /// A new half-open IKE SA, response sent.
    Created(Box<IkeSa>),
    /// A stateless answer (COOKIE, INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN) was sent.
    Answered,
    /// Dropped (malformed or no gateway).
    Dropped,
}

/// The gateway an IKE_SA_INIT from `remote` to `local` belongs to: a static peer with that address
/// first, else a dynamic peer of the same address family.
pub(crate) fn find_gateway<'c>(
    ctx: &Ctx<'c>,
    local: SocketAddr,
    remote: SocketAddr,
) -> Option<&'c GatewayConfig> {
    let local_ok = |g: &GatewayConfig| g.local_addr == local.ip() || g.local_addr.is_unspecified();
    ctx.cfg
        .gateways
        .iter()
        .find(|g| g.peer_addr == Some(remote.ip()) && local_ok(g))
        .or_else(|| {
            ctx.cfg.gateways.iter().find(|g| {
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
) {
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
}

/// Responder: answers an IKE_SA_INIT request. `spi_r` is the SPI to use if an SA is created;
/// `half_open` the number of half-open SAs (for the cookie threshold).
pub(crate) fn respond(
    ctx: &mut Ctx<'_>,
    cookies: &CookieSecret,
    half_open: usize,
    local: SocketAddr,
    remote: SocketAddr,
    bytes: &[u8],
    spi_r: u64,
) -> Result<InitOutcome, Error> {
    let Ok(msg) = Message::parse(bytes) else {
        return Ok(InitOutcome::Dropped);
    };
    let spi_i = msg.header.initiator_spi;
    if spi_i == 0 || msg.header.message_id != 0 {
        return Ok(InitOutcome::Dropped);
    }
    let Some(g) = find_gateway(ctx, local, remote) else {
        ctx.events.push_back(Event::NoGateway { remote });
        return Ok(InitOutcome::Dropped);
    };
    let (Some(sa), Some(ke), Some(nonce)) = (msg.sa(), msg.ke(), msg.nonce()) else {
        stateless_answer(
            ctx,
            local,
            remote,
            spi_i,
            Notify::new(NotifyType::INVALID_SYNTAX, &[]),
        );
        return Ok(InitOutcome::Answered);
    };
    if !(16..=256).contains(&nonce.data.len()) {
        stateless_answer(
            ctx,
            local,
            remote,
            spi_i,
            Notify::new(NotifyType::INVALID_SYNTAX, &[]),
        );
        return Ok(InitOutcome::Answered);
    }
    // RFC 7296 section 2.6: under load or by policy, require the initiator to prove it can
    // receive at its address before we keep any state.
    if g.require_cookie || half_open >= ctx.cfg.cookie_threshold {
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
            let c = cookies.make(prf, &nonce.data, remote.ip(), spi_i);
            stateless_answer(
                ctx,
                local,
                remote,
                spi_i,
                Notify::new(NotifyType::COOKIE, &c),
            );
            return Ok(InitOutcome::Answered);
        }
    }
    let ours = our_proposals(g, ctx.provider);
    let offers = offers_of(sa);
    let (number, suite) = match proposal::select_ike(&offers, &ours, Some(ke.group)) {
        Ok(x) => x,
        Err(_) => {
            stateless_answer(
                ctx,
                local,
                remote,
                spi_i,
                Notify::new(NotifyType::NO_PROPOSAL_CHOSEN, &[]),
            );
            ctx.events.push_back(Event::Phase1Failed {
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
                    theirs: proposal::describe(&offers),
                },
            });
            return Ok(InitOutcome::Answered);
        }
    };
    if suite.dh != ke.group {
        stateless_answer(
            ctx,
            local,
            remote,
            spi_i,
            Notify::new(NotifyType::INVALID_KE_PAYLOAD, &suite.dh.0.to_be_bytes()),
        );
        return Ok(InitOutcome::Answered);
    }
    let our_ke = start_ke(ctx, suite.dh)?;
    let shared = match our_ke.complete(&ke.data) {
        Ok(s) => s,
        Err(_) => {
            stateless_answer(
                ctx,
                local,
                remote,
                spi_i,
                Notify::new(NotifyType::INVALID_SYNTAX, &[]),
            );
            return Ok(InitOutcome::Answered);
        }
    };
    let mut ike = IkeSa::new(
        ctx.now,
        g,
        Role::Responder,
        spi_i,
        spi_r,
        local,
        remote,
        State::AwaitAuth,
    );
    ike.ni = nonce.data.clone();
    ike.nr = ctx.random(NONCE_LEN)?;
    ike.suite = Some(suite);
    ike.dh = suite.dh;
    ike.shared = Some(shared);
    ike.peer_init = bytes.to_vec();
    let nat = detect_nat(&msg, spi_i, 0, local, remote);
    ike.nat = nat.unwrap_or_default();
    ike.encap = nat.is_some() && (ike.nat.any() || g.force_encapsulation);
    ike.fragmentation = g.fragmentation
        && msg
            .notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
            .is_some();
    let mut payloads = vec![
        Payload::Sa(sa_payload(&[proposal::ike_answer(number, &suite)])),
        Payload::Ke(KeyExchange {
            group: suite.dh,
            data: our_ke.public_value().to_vec(),
        }),
        Payload::Nonce(Nonce {
            data: ike.nr.clone(),
        }),
    ];
    if nat.is_some() {
        payloads.extend(nat_notifies(ctx, g, spi_i, spi_r, local, remote)?);
    }
    if ike.fragmentation {
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            &[],
        )));
    }
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
    let out = response
        .to_bytes()
        .map_err(|e| Error::Malformed(e.to_string()))?;
    ike.derive_keys(ctx)?;
    ike.our_init = out.clone();
    ctx.send(local, remote, std::slice::from_ref(&out));
    ike.queue.sent_response(0, vec![out]);
    ike.timers.set(Timer::HalfOpen, ctx.now + HALF_OPEN_TIMEOUT);
    Ok(InitOutcome::Created(Box::new(ike)))
}
