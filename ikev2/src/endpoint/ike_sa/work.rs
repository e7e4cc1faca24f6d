//! Sending, the queued work, timers and the ends of an IKE SA.

use super::{negotiation_time, IkeSa, HALF_OPEN_TIMEOUT};
use crate::ctx::{Ctx, Datagram};
use crate::error::LocalError;
use crate::event::{Event, Reason};
use crate::exchange::{create_child_sa, ike_rekey, ike_sa_init, informational, Effects, Successor};
use crate::nat::NATT_PORT;
use crate::queue::RetransmitAction;
use crate::sa::{Cause, Child, ChildRequest, Phase, Task};
use crate::timer::Timer;
use crate::wire::{ExchangeType, Payload, SkKeys};
use core::time::Duration;

impl IkeSa {
    /// Builds and sends (or re-sends, after a cookie or INVALID_KE) the IKE_SA_INIT request.
    pub(super) fn send_init(&mut self, ctx: &mut Ctx<'_>) -> Result<(), LocalError> {
        let Phase::InitSent(init) = &mut self.phase else {
            return Ok(());
        };
        let bytes = ike_sa_init::request(ctx, &self.link, init)?;
        // The new request reuses message ID 0 (RFC 7296 section 2.6).
        self.queue.restart_init();
        ctx.send(
            self.link.local,
            self.link.remote,
            std::slice::from_ref(&bytes),
        );
        self.queue
            .sent_request(ctx.now, (0, ExchangeType::IKE_SA_INIT), vec![bytes], None);
        self.arm_retransmit();
        // Each (re)start, and there are few, gives IKE_SA_INIT and IKE_AUTH their full
        // retransmission schedules; past that the negotiation is dead, whatever else happens.
        let policy = self.link.gateway_cfg(ctx)?.retransmit;
        self.timers
            .set(Timer::HalfOpen, ctx.now + negotiation_time(policy));
        Ok(())
    }

    /// Sends a new request of ours, for `task`, and arms its retransmission.
    pub(super) fn send_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        payloads: &[Payload],
        task: Option<Task>,
    ) -> Result<(), LocalError> {
        let keys = self
            .phase
            .keys()
            .ok_or(LocalError::KeyDerivation("no keys yet"))?;
        let id = self.queue.next_id();
        let header = self.link.header(exchange, false, id);
        let msgs = self.link.protect(ctx, &keys.send, &header, payloads)?;
        ctx.send(self.link.local, self.link.remote, &msgs);
        self.queue.sent_request(ctx.now, (id, exchange), msgs, task);
        self.arm_retransmit();
        Ok(())
    }

    /// Sends our response to the peer's request `id`, protected with `keys`, and caches it.
    pub(super) fn send_response_with(
        &mut self,
        ctx: &mut Ctx<'_>,
        keys: &SkKeys,
        exchange: ExchangeType,
        id: u32,
        payloads: &[Payload],
    ) -> Result<(), LocalError> {
        let header = self.link.header(exchange, true, id);
        let msgs = self.link.protect(ctx, keys, &header, payloads)?;
        ctx.send(self.link.local, self.link.remote, &msgs);
        self.queue.sent_response(id, msgs);
        Ok(())
    }

    /// Sends our response to the peer's request `id` and caches it.
    pub(super) fn send_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        id: u32,
        payloads: &[Payload],
    ) -> Result<(), LocalError> {
        let keys = self
            .phase
            .keys()
            .ok_or(LocalError::KeyDerivation("no keys yet"))?;
        let header = self.link.header(exchange, true, id);
        let msgs = self.link.protect(ctx, &keys.send, &header, payloads)?;
        ctx.send(self.link.local, self.link.remote, &msgs);
        self.queue.sent_response(id, msgs);
        Ok(())
    }

    pub(super) fn arm_retransmit(&mut self) {
        match self.queue.deadline() {
            Some(t) => self.timers.set(Timer::Retransmit, t),
            None => self.timers.stop(Timer::Retransmit),
        }
    }

    /// Arms the liveness check for the idle interval after the last message from the peer.
    pub(super) fn arm_liveness(&mut self, ctx: &Ctx<'_>) {
        if self.phase.authenticated().is_none() {
            return;
        }
        if let Ok(Some(l)) = self.link.gateway_cfg(ctx).map(|g| g.liveness) {
            self.timers.set(Timer::Liveness, self.last_rx + l.interval);
        }
    }

    /// Arms [`Timer::ChildLifetime`] for the earliest Child SA rekey or expiry.
    pub(super) fn arm_children(&mut self) {
        let children = self
            .phase
            .authenticated()
            .and_then(|e| e.next_child_deadline());
        let deferred = self.deferred.iter().map(|(t, _)| *t).min();
        match children.into_iter().chain(deferred).min() {
            Some(t) => self.timers.set(Timer::ChildLifetime, t),
            None => self.timers.stop(Timer::ChildLifetime),
        }
    }

    /// Queues `task` behind the others, to start once the SA is established and the window is
    /// free.
    pub(in crate::endpoint) fn push_task(&mut self, task: Task) {
        self.queue.push(task);
    }

    /// Queues `task` unless the same work is queued already, and starts it when the window is
    /// free.
    pub(in crate::endpoint) fn queue_task(
        &mut self,
        ctx: &mut Ctx<'_>,
        task: Task,
    ) -> Result<(), LocalError> {
        if self.queue.is_queued(|t| t.same_as(&task)) {
            drop_task(ctx, task);
        } else {
            self.queue.push(task);
        }
        self.kick(ctx)
    }

    /// Queues the rekey of the Child SA with inbound SPI `spi` and starts it when the window
    /// is free; nothing when it is already replaced, being rekeyed or being deleted (one rekey
    /// per SA: a second would only collide with the first).
    pub(in crate::endpoint) fn rekey_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        spi: u32,
    ) -> Result<(), LocalError> {
        let Phase::Established(sa) = &mut self.phase else {
            return Ok(());
        };
        let replaced = sa.children.iter().any(|c| c.replaces == Some(spi));
        let waiting = self.deferred.iter().map(|(_, t)| t);
        let busy = self.queue.tasks().chain(waiting).any(|t| match t {
            Task::CreateChild(c) => c.request.rekey == Some(spi),
            Task::DeleteChild(s) => *s == spi,
            _ => false,
        });
        let Some(child) = sa.children.iter_mut().find(|c| c.sa.inbound.spi == spi) else {
            return Ok(());
        };
        if replaced || busy {
            return Ok(());
        }
        // Rekeyed now: its soft lifetime need not start another.
        child.rekey_at = None;
        let old = child.sa.clone();
        let new_spi = ctx.allocate_spi()?;
        self.queue
            .push(Task::create_child(ChildRequest::rekey_of(&old, new_spi)));
        self.arm_children();
        self.kick(ctx)
    }

    /// Takes over `strays`, Child SAs a late answer made on the IKE SA this one superseded
    /// (their events are out already). The copy of their request sent again here is dropped
    /// when it is still queued (a copy in flight is settled as a duplicate when it completes),
    /// and a rekey is completed by deleting the SA it replaces (RFC 7296 section 1.3.3).
    pub(in crate::endpoint) fn adopt(
        &mut self,
        ctx: &mut Ctx<'_>,
        strays: Vec<Child>,
    ) -> Result<(), LocalError> {
        let Phase::Established(sa) = &mut self.phase else {
            Self::drop_strays(ctx, strays);
            return Ok(());
        };
        for c in strays {
            let (tunnel, proxy_id, replaces) =
                (c.sa.tunnel.clone(), c.sa.proxy_id.clone(), c.replaces);
            let mut dropped = Vec::new();
            self.queue.retain(|t| match t.child_request() {
                Some(r) if r.rekey == replaces && r.is_for(&tunnel, proxy_id.as_deref()) => {
                    dropped.push(r.spi);
                    false
                }
                _ => true,
            });
            for spi in dropped {
                ctx.release_spi(spi);
            }
            if let Some(old) = replaces.filter(|o| sa.child(*o).is_some()) {
                self.queue.push(Task::DeleteChild(old));
            }
            sa.children.push(c);
        }
        self.arm_children();
        self.kick(ctx)
    }

    /// Reports `strays` gone: no successor is left to take them.
    pub(in crate::endpoint) fn drop_strays(ctx: &mut Ctx<'_>, strays: Vec<Child>) {
        for c in strays {
            ctx.emit(Event::ChildSaDown {
                tunnel: c.sa.tunnel,
                proxy_id: c.sa.proxy_id,
                inbound_spi: c.sa.inbound.spi,
                outbound_spi: c.sa.outbound.spi,
                reason: Reason::IkeSaGone,
                linger: Duration::ZERO,
            });
        }
    }

    /// Gives back the inbound SPIs of every Child SA it still proposes (in IKE_AUTH, queued or
    /// in flight): they will never be installed.
    pub(in crate::endpoint) fn release_requests(&self, ctx: &mut Ctx<'_>) {
        let spis: Vec<u32> = self.requests().map(|r| r.spi).collect();
        for spi in spis {
            ctx.release_spi(spi);
        }
    }

    /// Starts the next queued task when the window is free.
    pub(in crate::endpoint) fn kick(&mut self, ctx: &mut Ctx<'_>) -> Result<(), LocalError> {
        if self.phase.authenticated().is_none() || self.queue.busy() {
            return Ok(());
        }
        while let Some(task) = self.queue.next_task() {
            if let Some(r) = task.child_request() {
                // A new Child SA for a proxy ID that came up meanwhile (the peer created it,
                // e.g. both sides restarted at once) is not needed twice.
                let exists = self
                    .children()
                    .any(|c| c.tunnel == r.tunnel && c.proxy_id == r.proxy_id);
                if r.rekey.is_none() && exists {
                    drop_task(ctx, task);
                    continue;
                }
            }
            return self.start(ctx, task);
        }
        Ok(())
    }

    /// Sends the request of `task`.
    fn start(&mut self, ctx: &mut Ctx<'_>, task: Task) -> Result<(), LocalError> {
        tracing::debug!(
            task = task.name(),
            message_id = self.queue.next_id(),
            "request"
        );
        let Some(sa) = self.phase.authenticated() else {
            return Ok(());
        };
        match task {
            Task::CreateChild(t) => {
                let (t, payloads) = create_child_sa::start(ctx, t.request)?;
                let task = Some(Task::CreateChild(t));
                self.send_request(ctx, ExchangeType::CREATE_CHILD_SA, &payloads, task)
            }
            Task::RekeyIke(_) => {
                let (offer, payloads) = ike_rekey::start(ctx, &self.link, sa)?;
                let task = Some(Task::RekeyIke(Some(offer)));
                self.send_request(ctx, ExchangeType::CREATE_CHILD_SA, &payloads, task)
            }
            task => match informational::request(sa, &task) {
                Some(payloads) => {
                    self.send_request(ctx, ExchangeType::INFORMATIONAL, &payloads, Some(task))
                }
                None => self.kick(ctx),
            },
        }
    }

    /// Carries out what an exchange asked for.
    pub(super) fn apply(&mut self, ctx: &mut Ctx<'_>, fx: Effects) -> Result<(), LocalError> {
        for spi in fx.cancel_deletes {
            self.queue
                .retain(|t| !matches!(t, Task::DeleteChild(s) if *s == spi));
        }
        for t in fx.first.into_iter().rev() {
            self.queue.push_front(t);
        }
        for t in fx.then {
            // Queued or in flight: a delete already out is not sent a second time.
            if self.queue.tasks().any(|q| q.same_as(&t)) {
                drop_task(ctx, t);
            } else {
                self.queue.push(t);
            }
        }
        if let Some(at) = fx.retry_rekey {
            self.timers.set(Timer::Lifetime, at);
        }
        self.deferred.extend(fx.later);
        if let Some(c) = fx.crossing {
            self.crossing = Some(Box::new(c));
        }
        let mut successor = fx.successor;
        if fx.end.is_some() && successor.is_none() && matches!(self.phase, Phase::Established(_)) {
            // The peer deletes the old SA while our rekey crossed its own: it did not notice the
            // collision and kept its SA, so we take it too (RFC 7296 section 2.8.2).
            successor = self.crossing.take().map(|c| *c);
        }
        if let Some(s) = successor {
            self.hand_over(ctx, s)?;
        }
        if let Some(reason) = fx.end {
            self.teardown(ctx, reason);
        }
        self.arm_children();
        Ok(())
    }

    /// Our IKE SA rekey got its answer, `fx`, while the peer's crossing rekey made another SA
    /// (RFC 7296 section 2.8.2). Both done: the SA whose exchange had the lowest of the four
    /// nonces is redundant and its creator deletes it; the other takes over. Ours refused or
    /// failed: the peer's takes over.
    pub(super) fn settle_crossing(&mut self, ctx: &mut Ctx<'_>, mut fx: Effects) -> Effects {
        let Some(theirs) = self.crossing.take().map(|c| *c) else {
            return fx;
        };
        let (keep, lose) = match fx.successor.take() {
            Some(ours) if ours.min_nonce < theirs.min_nonce => (theirs, Some(ours)),
            Some(ours) => (ours, Some(theirs)),
            None => {
                if let Phase::Established(sa) = &mut self.phase {
                    sa.replace = false;
                }
                fx.retry_rekey = None;
                fx.then.retain(|t| !matches!(t, Task::DeleteIke));
                (theirs, None)
            }
        };
        tracing::debug!(ours = keep.ours, "crossing IKE SA rekeys settled");
        if let Some(lose) = lose {
            match self.redundant(ctx, lose) {
                Ok(sa) => self.born.push(sa),
                Err(e) => tracing::debug!(error = %e, "redundant IKE SA dropped"),
            }
        }
        fx.successor = Some(keep);
        fx
    }

    /// The redundant SA of crossing rekeys: it carries nothing and says nothing; its creator
    /// deletes it at once, the other side waits for that delete (or the half-open timeout).
    fn redundant(&self, ctx: &mut Ctx<'_>, s: Successor) -> Result<IkeSa, LocalError> {
        let g = self.link.gateway_cfg(ctx)?;
        let Successor { link, sa, ours, .. } = s;
        let mut sa = IkeSa::new(ctx.now, g, link, Phase::Superseded(sa));
        if ours {
            sa.queue.push(Task::DeleteIke);
        } else {
            sa.timers.set(Timer::HalfOpen, ctx.now + HALF_OPEN_TIMEOUT);
        }
        Ok(sa)
    }

    /// A rekey made `s`: it takes the Child SAs and their queued work, and this SA is
    /// superseded. When we sent the rekey we delete this SA first thing; otherwise the peer
    /// does, or it goes after the half-open timeout.
    fn hand_over(&mut self, ctx: &mut Ctx<'_>, s: Successor) -> Result<(), LocalError> {
        let g = self.link.gateway_cfg(ctx)?;
        let Phase::Established(mut old) =
            core::mem::replace(&mut self.phase, Phase::Dead(Cause::Replaced))
        else {
            return Ok(());
        };
        let Successor {
            link, mut sa, ours, ..
        } = s;
        sa.children = core::mem::take(&mut old.children);
        let suite = sa.suite;
        let mut new = IkeSa::new(ctx.now, g, link, Phase::Established(sa));
        // Child SA work moves along with the Child SAs: queued (further proxy IDs, rekeys,
        // deletes), waiting for a retry, and in flight: the peer rekeyed the IKE SA under our
        // request, which it may refuse or never answer on the old SA, so it starts over on the
        // new one. A Child SA request stays in flight here too, since the peer may have
        // answered it before its rekey: a Child SA that answer makes joins the new IKE SA
        // (`Endpoint::after`), and the copy sent again there, with an SPI of its own, is
        // dropped or settled as a duplicate. What concerns the old IKE SA itself stays, but not
        // a rekey of it: it is rekeyed.
        match self.queue.in_flight() {
            Some(Task::CreateChild(t)) => {
                let mut again = t.request.clone();
                again.spi = ctx.allocate_spi()?;
                new.queue.push(Task::create_child(again));
            }
            _ => {
                if let Some(t) = self.queue.take_in_flight(Task::is_child_work) {
                    new.queue.push(t.restarted());
                }
            }
        }
        self.successor = Some(new.our_spi());
        for t in self.queue.take_queued() {
            if t.is_child_work() {
                new.queue.push(t);
            } else if !ours && !matches!(t, Task::RekeyIke(_)) {
                self.queue.push(t);
            }
        }
        let (moved, kept): (Vec<_>, Vec<_>) = core::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|(_, t)| t.is_child_work());
        new.deferred = moved;
        self.deferred = kept;
        new.arm_children();
        let soft = ctx.soft_lifetime(g.ike_lifetime);
        new.timers.set(Timer::Lifetime, ctx.now + soft);
        new.arm_liveness(ctx);
        if let (Some(every), true) = (g.nat_keepalive, new.link.nat.local_behind_nat) {
            new.timers.set(Timer::Keepalive, ctx.now + every);
        }
        ctx.emit(Event::IkeSaUp {
            gateway: new.link.gateway.clone(),
            role: new.link.role,
            sa: new.link.name(),
            suite,
            nat: new.link.encap,
        });
        tracing::debug!(
            successor_spi_i = format_args!("{:016x}", new.link.spi_i),
            ours,
            "IKE SA rekeyed"
        );
        self.phase = Phase::Superseded(old);
        if ours {
            // The old SA has done its job; delete it before anything else.
            self.queue.push_front(Task::DeleteIke);
        } else {
            self.timers.stop_all();
            self.timers
                .set(Timer::HalfOpen, ctx.now + HALF_OPEN_TIMEOUT);
        }
        self.born.push(new);
        Ok(())
    }

    /// Why the negotiation ends when time runs out: the refusal an unauthenticated
    /// IKE_SA_INIT response gave meanwhile, if any (RFC 7296 section 2.21.1), else a timeout.
    fn gave_up(&mut self) -> Reason {
        match &mut self.phase {
            Phase::InitSent(i) => i.refused.take().unwrap_or(Reason::Timeout),
            _ => Reason::Timeout,
        }
    }

    /// Handles an expired timer.
    pub(in crate::endpoint) fn on_timer(
        &mut self,
        ctx: &mut Ctx<'_>,
        timer: Timer,
    ) -> Result<(), LocalError> {
        let _span = self.span().entered();
        tracing::trace!(?timer, "timer");
        match timer {
            Timer::Retransmit => match self.queue.on_timeout(ctx.now) {
                Some(RetransmitAction::Resend(msgs)) => {
                    ctx.send(self.link.local, self.link.remote, &msgs);
                    self.arm_retransmit();
                }
                Some(RetransmitAction::GiveUp(task)) => {
                    let reason = if matches!(task, Some(Task::Liveness)) {
                        Reason::DeadPeer
                    } else {
                        self.gave_up()
                    };
                    if let Some(t) = task {
                        drop_task(ctx, t);
                    }
                    self.fail(ctx, reason);
                }
                None => self.arm_retransmit(),
            },
            Timer::Liveness => {
                let interval = self
                    .link
                    .gateway_cfg(ctx)?
                    .liveness
                    .map(|l| l.interval)
                    .unwrap_or(Duration::MAX);
                let checking = self.queue.tasks().any(|t| matches!(t, Task::Liveness));
                if ctx.now.saturating_duration_since(self.last_rx) >= interval && !checking {
                    self.queue.push(Task::Liveness);
                    self.kick(ctx)?;
                }
                self.timers.set(Timer::Liveness, ctx.now + interval);
            }
            Timer::HalfOpen => {
                if !self.is_usable() {
                    tracing::debug!("negotiation deadline passed");
                    let reason = self.gave_up();
                    self.fail(ctx, reason);
                }
            }
            Timer::ChildLifetime => self.child_lifetimes(ctx)?,
            Timer::Keepalive => self.keepalive(ctx),
            Timer::Lifetime => {
                // The soft lifetime: rekey (if the peer refuses, the SA is replaced instead).
                let queued = self.queue.is_queued(|t| matches!(t, Task::RekeyIke(_)));
                if self.is_usable() && !queued {
                    self.queue.push(Task::RekeyIke(None));
                    self.kick(ctx)?;
                }
            }
        }
        Ok(())
    }

    /// Sends a NAT-keepalive (RFC 3948 section 2.3: one 0xFF byte, no non-ESP marker) while we
    /// are behind a NAT, and arms the next one. Keepalives hold the port-4500 mapping open for
    /// ESP in UDP; while the SA still runs on port 500 (a peer that has not moved) none is sent,
    /// since on port 500 the byte would reach the peer as a malformed IKE message.
    fn keepalive(&mut self, ctx: &mut Ctx<'_>) {
        let Ok(Some(every)) = self.link.gateway_cfg(ctx).map(|g| g.nat_keepalive) else {
            return;
        };
        if !self.is_usable() || !self.link.nat.local_behind_nat {
            return;
        }
        if self.link.local.port() == NATT_PORT {
            ctx.out.push_back(Datagram {
                local: self.link.local,
                remote: self.link.remote,
                bytes: vec![0xff],
            });
        }
        self.timers.set(Timer::Keepalive, ctx.now + every);
    }

    /// Queues the rekeys and deletes of Child SAs whose lifetime is up.
    fn child_lifetimes(&mut self, ctx: &mut Ctx<'_>) -> Result<(), LocalError> {
        let Phase::Established(sa) = &mut self.phase else {
            return Ok(());
        };
        let (deletes, rekeys) = sa.due(ctx.now);
        for spi in deletes {
            if !self
                .queue
                .is_queued(|t| matches!(t, Task::DeleteChild(s) if *s == spi))
            {
                self.queue.push(Task::DeleteChild(spi));
            }
        }
        for old in rekeys {
            // A rekey started by command meanwhile counts.
            if self.rekey_under_way(&old.tunnel, old.proxy_id.as_deref()) {
                continue;
            }
            let spi = ctx.allocate_spi()?;
            self.queue
                .push(Task::create_child(ChildRequest::rekey_of(&old, spi)));
        }
        let (due, later): (Vec<_>, Vec<_>) = core::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|(t, _)| *t <= ctx.now);
        self.deferred = later;
        for (_, t) in due {
            if !self.queue.is_queued(|q| q.same_as(&t)) {
                self.queue.push(t);
            }
        }
        self.arm_children();
        self.kick(ctx)
    }

    /// The IKE SA was authenticated: report it and arm its timers.
    pub(super) fn established(&mut self, ctx: &mut Ctx<'_>) -> Result<(), LocalError> {
        self.timers.stop(Timer::HalfOpen);
        let g = self.link.gateway_cfg(ctx)?;
        let soft = ctx.soft_lifetime(g.ike_lifetime);
        self.timers.set(Timer::Lifetime, ctx.now + soft);
        if let (Some(every), true) = (g.nat_keepalive, self.link.nat.local_behind_nat) {
            self.timers.set(Timer::Keepalive, ctx.now + every);
        }
        if let Some(suite) = self.phase.suite() {
            ctx.emit(Event::IkeSaUp {
                gateway: self.link.gateway.clone(),
                role: self.link.role,
                sa: self.link.name(),
                suite,
                nat: self.link.encap,
            });
        }
        self.arm_liveness(ctx);
        Ok(())
    }

    /// Drops a negotiation by command ([`Reason::DeletedLocally`]): there is no authenticated
    /// peer to tell, and the responder's half of it times out.
    pub(in crate::endpoint) fn abandon(&mut self, ctx: &mut Ctx<'_>) {
        if self.is_negotiating() {
            let _span = self.span().entered();
            self.fail_negotiation(ctx, Reason::DeletedLocally);
        }
    }

    /// Ends the SA because of `reason`, reporting what went down.
    pub(in crate::endpoint) fn fail(&mut self, ctx: &mut Ctx<'_>, reason: Reason) {
        match self.phase {
            Phase::Established(_) | Phase::Superseded(_) => self.teardown(ctx, reason),
            Phase::Dead(_) => {}
            _ => self.fail_negotiation(ctx, reason),
        }
    }

    /// Deletes the Child SAs and the IKE SA, with events; a superseded SA goes silently.
    pub(in crate::endpoint) fn teardown(&mut self, ctx: &mut Ctx<'_>, reason: Reason) {
        if matches!(self.phase, Phase::Established(_) | Phase::Superseded(_)) {
            // Its queue dies with it.
            self.release_requests(ctx);
        }
        let phase = core::mem::replace(&mut self.phase, Phase::Dead(Cause::Replaced));
        self.timers.stop_all();
        let Phase::Established(mut sa) = phase else {
            if !matches!(phase, Phase::Superseded(_)) {
                // Nothing was up; put it back and report the failure as such.
                self.phase = phase;
                self.fail(ctx, reason);
            }
            return;
        };
        let restart = sa.replace || matches!(reason, Reason::DeadPeer | Reason::Timeout);
        let requested: Vec<String> = self
            .queue
            .tasks()
            .filter_map(Task::child_request)
            .map(|r| r.tunnel.clone())
            .collect();
        let carried: Vec<String> = sa
            .drop_children(ctx)
            .into_iter()
            .map(|c| c.tunnel)
            .collect();
        for t in requested.into_iter().chain(carried) {
            if !self.restart.tunnels.contains(&t) {
                self.restart.tunnels.push(t);
            }
        }
        tracing::debug!(%reason, restart, "IKE SA down");
        ctx.emit(Event::IkeSaDown {
            gateway: self.link.gateway.clone(),
            sa: self.link.name(),
            reason,
        });
        self.phase = Phase::Dead(Cause::Down { restart });
    }
}

/// Drops `task` unsent, giving back the inbound SPI it proposed.
fn drop_task(ctx: &mut Ctx<'_>, task: Task) {
    if let Some(r) = task.child_request() {
        ctx.release_spi(r.spi);
    }
}
