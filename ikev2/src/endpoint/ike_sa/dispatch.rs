//! Routing one datagram of an IKE SA: a response goes to the phase or task that waits for it,
//! a request to the exchange that answers it; message IDs, the response cache and protection
//! are checked first.

use super::IkeSa;
use crate::ctx::Ctx;
use crate::error::NegotiationError;
use crate::event::{Event, Reason};
use crate::exchange::create_child_sa::{self, refusal, Asks};
use crate::exchange::ike_auth::{self, AuthResult};
use crate::exchange::ike_sa_init::{self, InitStep};
use crate::exchange::{ike_rekey, informational};
use crate::nat::NATT_PORT;
use crate::queue::{request_digest, RequestClass};
use crate::sa::{Cause, Child, Established, Phase, Task};
use crate::timer::Timer;
use crate::wire::{self, ExchangeType, Message, Notify, NotifyType, Packet, Payload};
use std::net::SocketAddr;

impl IkeSa {
    /// Handles one datagram for this SA (non-ESP marker already removed).
    pub(in crate::endpoint) fn handle(
        &mut self,
        ctx: &mut Ctx<'_>,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), NegotiationError> {
        let packet =
            Packet::new_checked(bytes).map_err(|e| NegotiationError::Malformed(e.to_string()))?;
        let id = packet.message_id();
        let exchange = packet.exchange_type();
        let _span = self.span().entered();
        tracing::trace!(
            %exchange,
            message_id = id,
            response = packet.flags().is_response(),
            len = bytes.len(),
            "datagram"
        );
        if packet.flags().is_response() {
            // A response answers our outstanding request only with its message ID and exchange
            // type; anything else (an INFORMATIONAL "answering" IKE_AUTH, say) is dropped and
            // the request keeps being retransmitted.
            if !self.queue.expects_response(id, exchange) {
                self.queue.dropped_out_of_window += 1;
                return Ok(());
            }
            if matches!(self.phase, Phase::InitSent(_)) {
                return self.on_init_response(ctx, remote, bytes);
            }
            let Some(msg) = self.open(bytes)? else {
                return Ok(());
            };
            let Some(task) = self.queue.take_response(id) else {
                return Ok(());
            };
            self.arm_retransmit();
            self.last_rx = ctx.now;
            self.on_response(ctx, exchange, task, &msg)?;
            self.arm_liveness(ctx);
            return Ok(self.kick(ctx)?);
        }
        // A retransmission is the same datagram again (RFC 7296 section 2.1); a fragmented
        // request is answered once, on the fragment that completed it.
        let digest = request_digest(bytes);
        match self.queue.classify_request(id, &digest) {
            RequestClass::Retransmit(cached) => {
                let cached = cached.to_vec();
                ctx.send(self.link.local, self.link.remote, &cached);
                return Ok(());
            }
            RequestClass::Invalid => return Ok(()),
            RequestClass::New => {}
        }
        let msg = match self.open_checked(bytes) {
            Ok(Some(msg)) => msg,
            Ok(None) => return Ok(()),
            Err(e) => {
                self.queue.answering(digest);
                return self.answer_unparsable(ctx, id, exchange, &e);
            }
        };
        self.queue.answering(digest);
        self.last_rx = ctx.now;
        // Follow the peer behind a NAT to the address of its last authenticated message
        // (RFC 7296 section 2.23).
        if self.link.encap || local.port() == NATT_PORT {
            self.link.local = local;
            self.link.remote = remote;
        }
        self.on_request(ctx, id, exchange, &msg)?;
        self.arm_liveness(ctx);
        Ok(self.kick(ctx)?)
    }

    /// Initiator: the IKE_SA_INIT response.
    fn on_init_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        remote: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), NegotiationError> {
        let Phase::InitSent(init) = core::mem::replace(&mut self.phase, Phase::Dead(Cause::Failed))
        else {
            return Ok(());
        };
        let first_spi = init.first_child.as_ref().map(|r| r.spi);
        match ike_sa_init::on_response(ctx, &mut self.link, init, remote, bytes) {
            InitStep::Resend(init) => {
                self.phase = Phase::InitSent(init);
                Ok(self.send_init(ctx)?)
            }
            InitStep::Ignored(init) => {
                self.phase = Phase::InitSent(init);
                Ok(())
            }
            InitStep::Failed(reason) => {
                if let Some(spi) = first_spi {
                    ctx.release_spi(spi);
                }
                self.fail_negotiation(ctx, reason);
                Ok(())
            }
            InitStep::Answered(auth) => {
                self.queue.take_response(0);
                self.timers.stop(Timer::Retransmit);
                let payloads = match ike_auth::request(ctx, &self.link, &auth) {
                    Ok(p) => p,
                    Err(reason) => {
                        self.fail_negotiation(ctx, reason);
                        return Ok(());
                    }
                };
                self.phase = Phase::AuthSent(auth);
                Ok(self.send_request(ctx, ExchangeType::IKE_AUTH, &payloads, None)?)
            }
        }
    }

    /// The response to a request of ours, with the task that sent it (none for IKE_AUTH).
    fn on_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        task: Option<Task>,
        msg: &Message,
    ) -> Result<(), NegotiationError> {
        if exchange == ExchangeType::IKE_AUTH && matches!(self.phase, Phase::AuthSent(_)) {
            return self.on_auth_response(ctx, msg);
        }
        let (Some(task), Phase::Established(sa) | Phase::Superseded(sa)) = (task, &mut self.phase)
        else {
            return Ok(());
        };
        let superseded = self.successor.is_some();
        let fx = match (exchange, task) {
            (ExchangeType::CREATE_CHILD_SA, Task::CreateChild(t)) if superseded => {
                // A late answer to a request that was also sent again on the successor: a
                // Child SA it made goes there (`Endpoint::after`); anything else is the
                // successor's business.
                create_child_sa::on_response(ctx, &self.link, sa, t, msg).discard(ctx)
            }
            (ExchangeType::CREATE_CHILD_SA, Task::CreateChild(t)) => {
                create_child_sa::on_response(ctx, &self.link, sa, t, msg)
            }
            (ExchangeType::CREATE_CHILD_SA, Task::RekeyIke(Some(offer))) => {
                let fx = ike_rekey::on_response(ctx, &self.link, sa, offer, msg);
                self.settle_crossing(ctx, fx)
            }
            (ExchangeType::INFORMATIONAL, task) => informational::on_response(ctx, sa, task),
            _ => return Ok(()),
        };
        Ok(self.apply(ctx, fx)?)
    }

    /// Initiator: the IKE_AUTH response.
    fn on_auth_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        msg: &Message,
    ) -> Result<(), NegotiationError> {
        let Phase::AuthSent(auth) = core::mem::replace(&mut self.phase, Phase::Dead(Cause::Failed))
        else {
            return Ok(());
        };
        let result = ike_auth::on_response(ctx, &self.link, &auth, msg);
        let refused = matches!(
            result,
            AuthResult::Failed { .. }
                | AuthResult::Up {
                    child: Some(Err(_)),
                    ..
                }
        );
        if let (true, Some(r)) = (refused, &auth.first_child) {
            // Our first Child SA will never be installed.
            ctx.release_spi(r.spi);
        }
        match result {
            AuthResult::Up { peer, child, .. } => {
                let sa = Established::from_handshake(auth.hs, Some(peer));
                self.up(ctx, sa, child)
            }
            AuthResult::Failed { reason, tell_peer } => {
                if tell_peer {
                    // RFC 7296 section 2.21.2: the initiator reports the failure in a separate
                    // INFORMATIONAL exchange, so the responder does not keep a useless IKE SA.
                    // It is sent once, without retransmission: the SA is gone either way.
                    let id = self.queue.next_id();
                    let header = self.link.header(ExchangeType::INFORMATIONAL, false, id);
                    let n = Notify::new(NotifyType::AUTHENTICATION_FAILED, &[]);
                    let keys = &auth.hs.keys.send;
                    if let Ok(msgs) = self.link.protect(ctx, keys, &header, &[Payload::Notify(n)]) {
                        ctx.send(self.link.local, self.link.remote, &msgs);
                    }
                }
                self.fail_negotiation(ctx, reason);
                Ok(())
            }
        }
    }

    /// Moves to [`Phase::Established`] with `sa` and installs (or reports the failure of) the
    /// first Child SA.
    fn up(
        &mut self,
        ctx: &mut Ctx<'_>,
        sa: Established,
        child: Option<Result<Child, (String, Reason)>>,
    ) -> Result<(), NegotiationError> {
        self.phase = Phase::Established(sa);
        tracing::debug!(suite = ?self.phase.suite(), nat = self.link.encap, "IKE SA established");
        self.established(ctx)?;
        match child {
            Some(Ok(c)) => {
                if let Phase::Established(sa) = &mut self.phase {
                    sa.install(ctx, &self.link.gateway, self.link.role, c);
                }
                self.arm_children();
            }
            Some(Err((tunnel, reason))) => ctx.emit(Event::Phase2Failed {
                tunnel,
                role: self.link.role,
                reason,
            }),
            None => {}
        }
        Ok(())
    }

    /// Negotiation failed: report it ([`Event::Phase1Failed`]) and end.
    pub(super) fn fail_negotiation(&mut self, ctx: &mut Ctx<'_>, reason: Reason) {
        // Any phase before authentication reports the same way. The reason may carry the
        // peer's text (its ID): its Display escapes it.
        tracing::debug!(%reason, "IKE SA negotiation failed");
        self.release_requests(ctx);
        self.phase = Phase::Dead(Cause::Failed);
        ctx.emit(Event::Phase1Failed {
            gateway: self.link.gateway.clone(),
            role: self.link.role,
            sa: self.link.name(),
            reason,
        });
        self.timers.stop_all();
    }

    /// A request of the peer.
    fn on_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: u32,
        exchange: ExchangeType,
        msg: &Message,
    ) -> Result<(), NegotiationError> {
        match (exchange, &self.phase) {
            (ExchangeType::IKE_AUTH, Phase::HalfOpen(_)) => self.on_auth_request(ctx, id, msg),
            (ExchangeType::INFORMATIONAL, Phase::Established(_) | Phase::Superseded(_)) => {
                let (Phase::Established(sa) | Phase::Superseded(sa)) = &mut self.phase else {
                    return Ok(());
                };
                let creating = matches!(self.queue.in_flight(), Some(Task::CreateChild(_)));
                let (payloads, fx) = informational::respond(ctx, sa, msg, creating);
                self.send_response(ctx, exchange, id, &payloads)?;
                Ok(self.apply(ctx, fx)?)
            }
            (ExchangeType::CREATE_CHILD_SA, Phase::Established(_) | Phase::Superseded(_)) => {
                self.on_create_child_request(ctx, id, msg)
            }
            _ => {
                self.queue.dropped_out_of_window += 1;
                Ok(())
            }
        }
    }

    /// Responder: IKE_AUTH.
    fn on_auth_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: u32,
        msg: &Message,
    ) -> Result<(), NegotiationError> {
        let Phase::HalfOpen(hs) = core::mem::replace(&mut self.phase, Phase::Dead(Cause::Failed))
        else {
            return Ok(());
        };
        let (payloads, result) = match ike_auth::respond(ctx, &self.link, &hs, msg) {
            Ok(x) => x,
            Err(e) => {
                self.phase = Phase::HalfOpen(hs);
                return Err(e.into());
            }
        };
        if let Err(e) =
            self.send_response_with(ctx, &hs.keys.send, ExchangeType::IKE_AUTH, id, &payloads)
        {
            if let AuthResult::Up {
                child: Some(Ok(c)), ..
            } = &result
            {
                ctx.release_spi(c.sa.inbound.spi);
            }
            self.phase = Phase::HalfOpen(hs);
            return Err(e.into());
        }
        match result {
            AuthResult::Up {
                peer,
                initial_contact,
                child,
            } => {
                let mut sa = Established::from_handshake(hs, Some(peer));
                sa.initial_contact = initial_contact;
                self.up(ctx, sa, child)
            }
            AuthResult::Failed { reason, .. } => {
                self.fail_negotiation(ctx, reason);
                Ok(())
            }
        }
    }

    /// Responder: CREATE_CHILD_SA, for a Child SA or the IKE SA.
    fn on_create_child_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: u32,
        msg: &Message,
    ) -> Result<(), NegotiationError> {
        let exchange = ExchangeType::CREATE_CHILD_SA;
        let superseded = matches!(self.phase, Phase::Superseded(_));
        let rekeying = matches!(self.queue.in_flight(), Some(Task::RekeyIke(_)));
        let (payloads, fx) = match create_child_sa::asks(msg) {
            Asks::Malformed => (refusal(NotifyType::INVALID_SYNTAX, &[]), Default::default()),
            Asks::IkeSa => {
                let Some(sa) = self.phase.authenticated() else {
                    return Ok(());
                };
                // A second crossing rekey while one waits is refused like a late one, and so is
                // a rekey of an SA we are deleting: the peer treats our delete as the end of
                // its rekey (RFC 7296 section 2.25.2), and a successor made here would outlive
                // it on our side only.
                let closing = superseded
                    || self.crossing.is_some()
                    || self.queue.tasks().any(|t| matches!(t, Task::DeleteIke));
                ike_rekey::respond(ctx, &self.link, sa, msg, (closing, rekeying))?
            }
            // New Child SAs belong on the successor IKE SA; while we rekey the IKE SA we cannot
            // tell which SA that will be (RFC 7296 section 2.25: TEMPORARY_FAILURE, the peer
            // retries).
            Asks::ChildSa if superseded || rekeying => (
                refusal(NotifyType::TEMPORARY_FAILURE, &[]),
                Default::default(),
            ),
            Asks::ChildSa => {
                let Phase::Established(sa) = &mut self.phase else {
                    return Ok(());
                };
                let queue = &self.queue;
                let deleting = |spi: u32| {
                    queue
                        .tasks()
                        .any(|t| matches!(t, Task::DeleteChild(s) if *s == spi))
                };
                create_child_sa::respond(ctx, &self.link, sa, msg, deleting)?
            }
        };
        self.send_response(ctx, exchange, id, &payloads)?;
        Ok(self.apply(ctx, fx)?)
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
    ) -> Result<(), NegotiationError> {
        let expected = match exchange {
            ExchangeType::IKE_AUTH => matches!(self.phase, Phase::HalfOpen(_)),
            ExchangeType::INFORMATIONAL | ExchangeType::CREATE_CHILD_SA => {
                self.phase.authenticated().is_some()
            }
            _ => false,
        };
        let Some(notify) = e.notify_payload().filter(|_| expected) else {
            self.dropped_bad_icv += 1;
            return Err(NegotiationError::Malformed(e.to_string()));
        };
        self.malformed_answered += 1;
        self.last_rx = ctx.now;
        let invalid_syntax = notify.notify_type == NotifyType::INVALID_SYNTAX;
        self.send_response(ctx, exchange, id, &[Payload::Notify(notify)])?;
        if exchange == ExchangeType::IKE_AUTH && invalid_syntax {
            self.fail(ctx, Reason::Malformed(e.to_string()));
            return Ok(());
        }
        self.arm_liveness(ctx);
        Ok(self.kick(ctx)?)
    }

    /// Checks and decrypts a protected message (reassembling fragments). `Ok(None)` when it must
    /// be dropped silently (bad ICV, missing fragments).
    fn open(&mut self, bytes: &[u8]) -> Result<Option<Message>, NegotiationError> {
        self.open_checked(bytes).map_err(|e| {
            self.dropped_bad_icv += 1;
            NegotiationError::Malformed(e.to_string())
        })
    }

    /// [`open`](Self::open), keeping apart a message that passed its integrity check but whose
    /// payloads do not decode: `Err` carries the wire error, which names the notify an
    /// authenticated request is answered with (RFC 7296 section 2.21.2). Failures before or at
    /// the integrity check, and within fragment reassembly, are not answered.
    fn open_checked(&mut self, bytes: &[u8]) -> Result<Option<Message>, wire::Error> {
        let Some(keys) = self.phase.keys() else {
            return Ok(None);
        };
        let is_fragment = Packet::new_checked(bytes)
            .map(|p| p.next_payload() == wire::PayloadType::SKF)
            .unwrap_or(false);
        let res = if is_fragment {
            self.reassembler
                .get_or_insert_with(Default::default)
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
}
