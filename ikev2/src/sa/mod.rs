//! The state of one IKE SA and its Child SAs.
//!
//! An [`IkeSa`] is created by the initiator's `connect` or by the responder on a valid
//! IKE_SA_INIT request, moves through [`State`], and is removed from the endpoint once it is
//! [`State::Dead`]. The exchanges themselves live in [`crate::exchange`].

pub(crate) mod child;
mod lifetime;

use crate::config::{GatewayConfig, TunnelConfig};
use crate::error::Error;
use crate::event::{Event, Reason, Role, SaName};
use crate::exchange::Ctx;
use crate::identity::Identity;
use crate::keys::IkeKeys;
use crate::nat::NatState;
use crate::proposal::IkeSuite;
use crate::queue::{RequestClass, RequestQueue, RetransmitAction};
use crate::timer::{Timer, TimerTable};
use crate::wire::{
    self, ExchangeType, Flags, Header, Message, Packet, Payload, Reassembler, SkKeys,
};
use core::time::Duration;
use ipsec_core::crypto::{ActiveKeyExchange, DhGroup, SecretBytes};
use ipsec_core::selector::TrafficSelector;
use ipsec_core::time::Instant;
use std::collections::VecDeque;
use std::net::SocketAddr;

pub(crate) use child::Child;

/// How long a responder keeps a half-open IKE SA waiting for IKE_AUTH.
pub(crate) const HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Where an IKE SA is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Initiator: IKE_SA_INIT request sent.
    InitSent,
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH.
    AwaitAuth,
    /// Initiator: IKE_AUTH request sent.
    AuthSent,
    /// Authenticated; INFORMATIONAL exchanges possible.
    Established,
    /// Gone: the endpoint removes it.
    Dead,
}

/// The initiator's IKE_SA_INIT in progress.
pub(crate) struct InitiatorInit {
    /// Our key exchange (private key zeroized on drop).
    pub(crate) ke: Box<dyn ActiveKeyExchange>,
    /// The COOKIE the responder asked us to return, if any.
    pub(crate) cookie: Option<Vec<u8>>,
    /// Restarts so far (cookie, INVALID_KE); bounded so a hostile responder cannot loop us.
    pub(crate) restarts: u8,
}

/// A Child SA we propose: the first in IKE_AUTH, later ones in CREATE_CHILD_SA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChildRequest {
    pub(crate) tunnel: String,
    pub(crate) proxy_id: Option<String>,
    pub(crate) spi: u32,
    pub(crate) tsi: Vec<TrafficSelector>,
    pub(crate) tsr: Vec<TrafficSelector>,
    /// For a rekey: the inbound SPI of the Child SA being replaced.
    pub(crate) rekey: Option<u32>,
    /// The PFS group the responder asked for with INVALID_KE_PAYLOAD (one retry).
    pub(crate) group: Option<DhGroup>,
}

/// A request of ours waiting for the queue or for its response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pending {
    /// Delete the Child SA with this inbound SPI.
    DeleteChild(u32),
    /// Delete the IKE SA.
    DeleteIke,
    /// An empty INFORMATIONAL (liveness check).
    Liveness,
    /// Tell the peer its ESP packets with this SPI hit no SA of ours (RFC 7296 2.21.4).
    InvalidSpi(u32),
    /// Create an additional Child SA.
    CreateChild(ChildRequest),
    /// Rekey the IKE SA.
    RekeyIke,
}

/// Keys of an IKE SA once IKE_SA_INIT is done.
pub(crate) struct SaKeys {
    pub(crate) ike: IkeKeys,
    /// Protects what we send.
    pub(crate) send: SkKeys,
    /// Checks what we receive.
    pub(crate) recv: SkKeys,
}

/// One IKE SA.
pub(crate) struct IkeSa {
    pub(crate) gateway: String,
    pub(crate) role: Role,
    pub(crate) spi_i: u64,
    pub(crate) spi_r: u64,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) state: State,
    pub(crate) queue: RequestQueue,
    pub(crate) timers: TimerTable,
    pub(crate) ni: Vec<u8>,
    pub(crate) nr: Vec<u8>,
    pub(crate) suite: Option<IkeSuite>,
    pub(crate) keys: Option<SaKeys>,
    pub(crate) nat: NatState,
    /// UDP encapsulation in use (NAT detected or forced).
    pub(crate) encap: bool,
    /// The peer sent IKEV2_FRAGMENTATION_SUPPORTED and we offer it too.
    pub(crate) fragmentation: bool,
    pub(crate) children: Vec<Child>,
    pub(crate) pending: VecDeque<Pending>,
    /// What our outstanding request is, when it is not part of the handshake.
    pub(crate) in_flight: Option<Pending>,
    pub(crate) last_rx: Instant,
    pub(crate) init: Option<InitiatorInit>,
    /// Our IKE_SA_INIT message as sent (the signed octets of our AUTH).
    pub(crate) our_init: Vec<u8>,
    /// The peer's IKE_SA_INIT message as received.
    pub(crate) peer_init: Vec<u8>,
    pub(crate) child_request: Option<ChildRequest>,
    pub(crate) peer_id: Option<Identity>,
    pub(crate) reassembler: Reassembler,
    /// Protected messages that failed their integrity check (dropped).
    pub(crate) dropped_bad_icv: u64,
    /// Authenticated requests whose payloads did not decode (answered with an error notify).
    pub(crate) malformed_answered: u64,
    /// g^ir, kept only until the keys are derived.
    pub(crate) shared: Option<SecretBytes>,
    pub(crate) dh: DhGroup,
    /// Our IKE SA rekey in progress.
    pub(crate) ike_rekey: Option<crate::exchange::ike_rekey::IkeRekey>,
    /// A successor IKE SA took over; this one only waits to be deleted, silently.
    pub(crate) rekeyed: bool,
    /// Our CREATE_CHILD_SA in progress.
    pub(crate) child_exchange: Option<crate::exchange::create_child_sa::ChildExchange>,
    /// Initiator: send INITIAL_CONTACT. Responder: the peer sent it.
    pub(crate) initial_contact: bool,
    /// The lifetime ran out: the delete that follows should lead to a new SA.
    pub(crate) expiring: bool,
    /// The endpoint should start over once this SA is gone (dead peer, expiry).
    pub(crate) restart: bool,
    /// The tunnels whose Child SAs went down with the SA, to bring up again on a restart.
    pub(crate) restart_tunnels: Vec<String>,
    /// Started by the endpoint to bring `restart_tunnels` back after an IKE SA died; if it
    /// fails before it is established, the endpoint tries again after a back-off.
    pub(crate) restart_attempt: bool,
    /// Ended by a Phase 1 failure ([`Event::Phase1Failed`]).
    pub(crate) failed: bool,
}

impl IkeSa {
    /// A fresh SA.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        now: Instant,
        gateway: &GatewayConfig,
        role: Role,
        spi_i: u64,
        spi_r: u64,
        local: SocketAddr,
        remote: SocketAddr,
        state: State,
    ) -> Self {
        IkeSa {
            gateway: gateway.name.clone(),
            role,
            spi_i,
            spi_r,
            local,
            remote,
            state,
            queue: RequestQueue::new(gateway.retransmit),
            timers: TimerTable::default(),
            ni: Vec::new(),
            nr: Vec::new(),
            suite: None,
            keys: None,
            nat: NatState::default(),
            encap: false,
            fragmentation: false,
            children: Vec::new(),
            pending: VecDeque::new(),
            in_flight: None,
            last_rx: now,
            init: None,
            our_init: Vec::new(),
            peer_init: Vec::new(),
            child_request: None,
            peer_id: None,
            reassembler: Reassembler::default(),
            dropped_bad_icv: 0,
            malformed_answered: 0,
            shared: None,
            dh: DhGroup::NONE,
            child_exchange: None,
            ike_rekey: None,
            rekeyed: false,
            initial_contact: false,
            expiring: false,
            restart: false,
            restart_tunnels: Vec::new(),
            restart_attempt: false,
            failed: false,
        }
    }

    /// True when the Child SA of `tunnel`'s proxy ID `proxy_id` is installed, proposed in
    /// IKE_AUTH, queued or in flight (a rekey counts: the proxy ID is covered either way).
    pub(crate) fn has_child_for(&self, tunnel: &str, proxy_id: Option<&str>) -> bool {
        let wanted = |r: &ChildRequest| r.tunnel == tunnel && r.proxy_id.as_deref() == proxy_id;
        let wanted_pending = |p: &Pending| matches!(p, Pending::CreateChild(r) if wanted(r));
        self.children
            .iter()
            .any(|c| c.sa.tunnel == tunnel && c.sa.proxy_id.as_deref() == proxy_id)
            || self.child_request.as_ref().is_some_and(wanted)
            || self.pending.iter().any(wanted_pending)
            || self.in_flight.as_ref().is_some_and(wanted_pending)
    }

    /// True when `spi` is the inbound SPI of a Child SA of ours, installed or requested.
    pub(crate) fn uses_child_spi(&self, spi: u32) -> bool {
        let requested = |p: &Pending| matches!(p, Pending::CreateChild(r) if r.spi == spi);
        self.children.iter().any(|c| c.sa.inbound.spi == spi)
            || self.child_request.as_ref().is_some_and(|r| r.spi == spi)
            || self.pending.iter().any(requested)
            || self.in_flight.as_ref().is_some_and(requested)
    }

    /// SPIs and addresses for events.
    pub(crate) fn name(&self) -> SaName {
        SaName {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            local: self.local,
            remote: self.remote,
        }
    }

    /// A header for a message of ours.
    pub(crate) fn header(&self, exchange: ExchangeType, response: bool, id: u32) -> Header {
        Header::new(
            self.spi_i,
            self.spi_r,
            exchange,
            Flags::new(self.role == Role::Initiator, response),
            id,
        )
    }

    /// The gateway's configuration (it exists: the config is validated and never changes).
    pub(crate) fn gateway_cfg<'c>(&self, ctx: &Ctx<'c>) -> Result<&'c GatewayConfig, Error> {
        ctx.cfg
            .gateway(&self.gateway)
            .ok_or_else(|| Error::UnknownName(self.gateway.clone()))
    }

    /// The tunnel's configuration.
    pub(crate) fn tunnel_cfg<'c>(ctx: &Ctx<'c>, name: &str) -> Result<&'c TunnelConfig, Error> {
        ctx.cfg
            .tunnel(name)
            .ok_or_else(|| Error::UnknownName(name.to_owned()))
    }

    /// Encrypts `payloads` into one message, or into fragments when it is too large and the
    /// peer supports fragmentation (RFC 7383).
    pub(crate) fn protect(
        &self,
        ctx: &Ctx<'_>,
        header: &Header,
        payloads: &[Payload],
    ) -> Result<Vec<Vec<u8>>, Error> {
        let keys = self
            .keys
            .as_ref()
            .ok_or(Error::KeyDerivation("no keys yet"))?;
        let whole = wire::protect(header, payloads, &keys.send, ctx.rng)
            .map_err(|e| Error::Malformed(e.to_string()))?;
        let limit = ctx.cfg.fragment_size;
        if self.fragmentation && whole.len() > limit {
            let marker = if self.local.port() == crate::nat::NATT_PORT {
                4
            } else {
                0
            };
            return wire::protect_fragments(
                header,
                payloads,
                &keys.send,
                ctx.rng,
                limit.saturating_sub(marker),
                &wire::Limits::default(),
            )
            .map_err(|e| Error::Malformed(e.to_string()));
        }
        Ok(vec![whole])
    }

    /// Sends a new request of ours and arms its retransmission.
    pub(crate) fn send_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        payloads: &[Payload],
    ) -> Result<(), Error> {
        let id = self.queue.next_id();
        let header = self.header(exchange, false, id);
        let msgs = self.protect(ctx, &header, payloads)?;
        ctx.send(self.local, self.remote, &msgs);
        self.queue.sent_request(ctx.now, id, msgs);
        self.arm_retransmit();
        Ok(())
    }

    /// Sends our response to the peer's request `id` and caches it.
    pub(crate) fn send_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        id: u32,
        payloads: &[Payload],
    ) -> Result<(), Error> {
        let header = self.header(exchange, true, id);
        let msgs = self.protect(ctx, &header, payloads)?;
        ctx.send(self.local, self.remote, &msgs);
        self.queue.sent_response(id, msgs);
        Ok(())
    }

    pub(crate) fn arm_retransmit(&mut self) {
        match self.queue.deadline() {
            Some(t) => self.timers.set(Timer::Retransmit, t),
            None => self.timers.stop(Timer::Retransmit),
        }
    }

    /// Arms the liveness check for the idle interval after the last message from the peer.
    pub(crate) fn arm_liveness(&mut self, ctx: &Ctx<'_>) {
        if self.state != State::Established {
            return;
        }
        if let Ok(Some(l)) = self.gateway_cfg(ctx).map(|g| g.liveness) {
            self.timers.set(Timer::Liveness, self.last_rx + l.interval);
        }
    }

    /// Handles one datagram for this SA (non-ESP marker already removed).
    pub(crate) fn handle(
        &mut self,
        ctx: &mut Ctx<'_>,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), Error> {
        let packet = Packet::new_checked(bytes).map_err(|e| Error::Malformed(e.to_string()))?;
        let id = packet.message_id();
        let exchange = packet.exchange_type();
        if packet.flags().is_response() {
            if !self.queue.expects_response(id) {
                self.queue.dropped_out_of_window += 1;
                return Ok(());
            }
            if self.state == State::InitSent {
                return self.handle_init_response(ctx, remote, bytes);
            }
            let Some(msg) = self.open(bytes)? else {
                return Ok(());
            };
            self.queue.take_response(id);
            self.arm_retransmit();
            self.last_rx = ctx.now;
            match exchange {
                ExchangeType::IKE_AUTH if self.state == State::AuthSent => {
                    self.handle_auth_response(ctx, &msg)?
                }
                ExchangeType::INFORMATIONAL => self.handle_informational_response(ctx, &msg)?,
                ExchangeType::CREATE_CHILD_SA if self.in_flight == Some(Pending::RekeyIke) => {
                    self.in_flight = None;
                    self.handle_ike_rekey_response(ctx, &msg)?
                }
                ExchangeType::CREATE_CHILD_SA => self.handle_create_child_response(ctx, &msg)?,
                _ => {}
            }
            self.arm_liveness(ctx);
            self.kick(ctx)?;
            return Ok(());
        }
        match self.queue.classify_request(id) {
            RequestClass::Retransmit(cached) => {
                let cached = cached.to_vec();
                // A fragmented request is answered once, on its first fragment.
                if !is_later_fragment(bytes) {
                    ctx.send(self.local, self.remote, &cached);
                }
                return Ok(());
            }
            RequestClass::Invalid => return Ok(()),
            RequestClass::New => {}
        }
        let msg = match self.open_checked(bytes) {
            Ok(Some(msg)) => msg,
            Ok(None) => return Ok(()),
            Err(e) => return self.answer_unparsable(ctx, id, exchange, &e),
        };
        self.last_rx = ctx.now;
        // Follow the peer behind a NAT to the address of its last authenticated message
        // (RFC 7296 section 2.23).
        if self.encap || local.port() == crate::nat::NATT_PORT {
            self.local = local;
            self.remote = remote;
        }
        match exchange {
            ExchangeType::IKE_AUTH if self.state == State::AwaitAuth => {
                self.handle_auth_request(ctx, id, &msg)?
            }
            ExchangeType::INFORMATIONAL if self.state == State::Established => {
                self.handle_informational_request(ctx, id, &msg)?
            }
            ExchangeType::CREATE_CHILD_SA if self.state == State::Established => {
                self.handle_create_child_request(ctx, id, &msg)?
            }
            _ => {
                self.queue.dropped_out_of_window += 1;
            }
        }
        self.arm_liveness(ctx);
        self.kick(ctx)
    }

    /// Answers an authenticated request whose payloads do not decode with the notify its error
    /// names (INVALID_SYNTAX, or UNSUPPORTED_CRITICAL_PAYLOAD with the payload type), consuming
    /// its message ID so that a retransmission gets the cached answer (RFC 7296 sections 2.21.2
    /// and 3.10.1). INVALID_SYNTAX in IKE_AUTH also ends the half-open IKE SA (section 2.21.2).
    fn answer_unparsable(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: u32,
        exchange: ExchangeType,
        e: &wire::Error,
    ) -> Result<(), Error> {
        let expected = match exchange {
            ExchangeType::IKE_AUTH => self.state == State::AwaitAuth,
            ExchangeType::INFORMATIONAL | ExchangeType::CREATE_CHILD_SA => {
                self.state == State::Established
            }
            _ => false,
        };
        let Some(notify) = e.notify_payload().filter(|_| expected) else {
            self.dropped_bad_icv += 1;
            return Err(Error::Malformed(e.to_string()));
        };
        self.malformed_answered += 1;
        self.last_rx = ctx.now;
        let invalid_syntax = notify.notify_type == wire::NotifyType::INVALID_SYNTAX;
        self.send_response(ctx, exchange, id, &[Payload::Notify(notify)])?;
        if exchange == ExchangeType::IKE_AUTH && invalid_syntax {
            self.fail(ctx, Reason::Malformed(e.to_string()));
            return Ok(());
        }
        self.arm_liveness(ctx);
        self.kick(ctx)
    }

    /// Checks and decrypts a protected message (reassembling fragments). `Ok(None)` when it must
    /// be dropped silently (bad ICV, missing fragments).
    fn open(&mut self, bytes: &[u8]) -> Result<Option<Message>, Error> {
        self.open_checked(bytes).map_err(|e| {
            self.dropped_bad_icv += 1;
            Error::Malformed(e.to_string())
        })
    }

    /// [`open`](Self::open), keeping apart a message that passed its integrity check but whose
    /// payloads do not decode: `Err` carries the wire error, which names the notify an
    /// authenticated request is answered with (RFC 7296 section 2.21.2). Failures before or at
    /// the integrity check, and within fragment reassembly, are not answered.
    fn open_checked(&mut self, bytes: &[u8]) -> Result<Option<Message>, wire::Error> {
        let Some(keys) = self.keys.as_ref() else {
            return Ok(None);
        };
        let is_fragment = Packet::new_checked(bytes)
            .map(|p| p.next_payload() == wire::PayloadType::SKF)
            .unwrap_or(false);
        let res = if is_fragment {
            self.reassembler
                .handle(bytes, &keys.recv)
                .map_err(wire::Rejected::from)
        } else {
            wire::unprotect_checked(bytes, &keys.recv, &wire::Limits::default()).map(Some)
        };
        match res {
            Ok(m) => Ok(m),
            Err(r) if r.authenticated => Err(r.error),
            Err(r) => match r.error {
                wire::Error::IntegrityCheckFailed | wire::Error::NotProtected => {
                    self.dropped_bad_icv += 1;
                    Ok(None)
                }
                e => Err(e),
            },
        }
    }

    /// Starts the next pending request when the queue is free.
    pub(crate) fn kick(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Error> {
        if self.state != State::Established || self.queue.busy() {
            return Ok(());
        }
        while let Some(p) = self.pending.pop_front() {
            // A new Child SA for a proxy ID that came up meanwhile (the peer created it, e.g.
            // both sides restarted at once) is not needed twice.
            if let Pending::CreateChild(r) = &p {
                let exists = self
                    .children
                    .iter()
                    .any(|c| c.sa.tunnel == r.tunnel && c.sa.proxy_id == r.proxy_id);
                if r.rekey.is_none() && exists {
                    continue;
                }
            }
            return self.start_informational(ctx, p);
        }
        Ok(())
    }

    /// Handles an expired timer.
    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) -> Result<(), Error> {
        match timer {
            Timer::Retransmit => match self.queue.on_timeout(ctx.now) {
                Some(RetransmitAction::Resend(msgs)) => {
                    ctx.send(self.local, self.remote, &msgs);
                    self.arm_retransmit();
                }
                Some(RetransmitAction::GiveUp) => {
                    let reason = if self.in_flight == Some(Pending::Liveness) {
                        Reason::DeadPeer
                    } else {
                        Reason::Timeout
                    };
                    self.fail(ctx, reason);
                }
                None => self.arm_retransmit(),
            },
            Timer::Liveness => {
                let interval = self
                    .gateway_cfg(ctx)?
                    .liveness
                    .map(|l| l.interval)
                    .unwrap_or(Duration::MAX);
                if ctx.now.saturating_duration_since(self.last_rx) >= interval
                    && !self.pending.contains(&Pending::Liveness)
                    && self.in_flight != Some(Pending::Liveness)
                {
                    self.pending.push_back(Pending::Liveness);
                    self.kick(ctx)?;
                }
                self.timers.set(Timer::Liveness, ctx.now + interval);
            }
            Timer::HalfOpen => {
                if self.state != State::Established || self.rekeyed {
                    self.fail(ctx, Reason::Timeout);
                }
            }
            Timer::ChildLifetime => self.child_lifetimes(ctx)?,
            Timer::Keepalive => self.keepalive(ctx),
            Timer::Lifetime => {
                // The soft lifetime: rekey (if the peer refuses, the SA is replaced instead).
                if !self.rekeyed && !self.pending.contains(&Pending::RekeyIke) {
                    self.pending.push_back(Pending::RekeyIke);
                    self.kick(ctx)?;
                }
            }
        }
        Ok(())
    }

    /// Ends the SA because of `reason`, reporting what went down.
    pub(crate) fn fail(&mut self, ctx: &mut Ctx<'_>, reason: Reason) {
        if self.state == State::Established {
            self.teardown(ctx, reason);
        } else if self.state != State::Dead {
            ctx.events.push_back(Event::Phase1Failed {
                gateway: self.gateway.clone(),
                role: self.role,
                sa: self.name(),
                reason,
            });
            self.state = State::Dead;
            self.failed = true;
            self.timers.stop_all();
        }
    }

    /// Deletes the Child SAs and the IKE SA, with events.
    pub(crate) fn teardown(&mut self, ctx: &mut Ctx<'_>, reason: Reason) {
        if self.rekeyed {
            // Its successor carries on; nothing went down.
            self.state = State::Dead;
            self.timers.stop_all();
            return;
        }
        self.restart = self.expiring || matches!(reason, Reason::DeadPeer | Reason::Timeout);
        let requested = self.pending.iter().chain(self.in_flight.as_ref());
        for p in requested {
            if let Pending::CreateChild(r) = p {
                if !self.restart_tunnels.contains(&r.tunnel) {
                    self.restart_tunnels.push(r.tunnel.clone());
                }
            }
        }
        for c in self.children.drain(..) {
            if !self.restart_tunnels.contains(&c.sa.tunnel) {
                self.restart_tunnels.push(c.sa.tunnel.clone());
            }
            ctx.events.push_back(Event::ChildSaDown {
                tunnel: c.sa.tunnel.clone(),
                inbound_spi: c.sa.inbound.spi,
                outbound_spi: c.sa.outbound.spi,
                reason: Reason::IkeSaGone,
            });
        }
        ctx.events.push_back(Event::IkeSaDown {
            gateway: self.gateway.clone(),
            sa: self.name(),
            reason,
        });
        self.state = State::Dead;
        self.timers.stop_all();
    }

    /// The IKE SA was authenticated: report it and arm its timers.
    pub(crate) fn established(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Error> {
        self.state = State::Established;
        // The IKE_SA_INIT messages were needed only for the AUTH payloads.
        self.our_init = Vec::new();
        self.peer_init = Vec::new();
        self.timers.stop(Timer::HalfOpen);
        let g = self.gateway_cfg(ctx)?;
        let soft = crate::exchange::ike_rekey::soft_lifetime(ctx, g.ike_lifetime);
        self.timers.set(Timer::Lifetime, ctx.now + soft);
        if let (Some(every), true) = (g.nat_keepalive, self.nat.local_behind_nat) {
            self.timers.set(Timer::Keepalive, ctx.now + every);
        }
        if let Some(suite) = self.suite {
            ctx.events.push_back(Event::IkeSaUp {
                gateway: self.gateway.clone(),
                role: self.role,
                sa: self.name(),
                suite,
                nat: self.encap,
            });
        }
        self.arm_liveness(ctx);
        Ok(())
    }
}

/// True for an SKF payload whose fragment number is not 1.
fn is_later_fragment(bytes: &[u8]) -> bool {
    let Ok(p) = Packet::new_checked(bytes) else {
        return false;
    };
    if p.next_payload() != wire::PayloadType::SKF {
        return false;
    }
    // The SKF payload starts right after the header: generic header (4), Fragment Number (2).
    bytes
        .get(wire::HEADER_LEN + 4..wire::HEADER_LEN + 6)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) != 1)
        .unwrap_or(false)
}
