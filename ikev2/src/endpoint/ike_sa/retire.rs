//! What a new configuration does to one IKE SA ([`Endpoint::reconfigure`]): the SA of a gateway
//! that changed or went away is retired at once, and an SA that stays gives up the Child SAs
//! of the tunnels that changed or went away, then negotiates the changed ones again.
//!
//! [`Endpoint::reconfigure`]: crate::Endpoint::reconfigure

use super::IkeSa;
use crate::ctx::Ctx;
use crate::event::Reason;
use crate::exchange::informational;
use crate::sa::{Cause, Phase, Task};
use crate::wire::ExchangeType;

impl IkeSa {
    /// Ends the SA now because its gateway's configuration changed or went away: an
    /// established SA tells the peer with one INFORMATIONAL Delete (sent once: nothing of
    /// the old configuration waits for the answer, which then meets an unknown SPI) and
    /// reports its Child SAs and itself down ([`Reason::DeletedLocally`]); one still in
    /// negotiation ends silently. Either way nothing restarts it: the new configuration
    /// decides what comes up.
    pub(in crate::endpoint) fn retire(&mut self, ctx: &mut Ctx<'_>) {
        let _span = self.span().entered();
        match &self.phase {
            Phase::Dead(_) => return,
            Phase::Established(_) | Phase::Superseded(_) => {
                self.send_delete_once(ctx);
                self.teardown(ctx, Reason::DeletedLocally);
            }
            _ => {
                tracing::debug!("IKE SA negotiation abandoned: the configuration changed");
                self.release_requests(ctx);
                self.timers.stop_all();
            }
        }
        for (_, t) in core::mem::take(&mut self.deferred) {
            if let Some(r) = t.child_request() {
                ctx.release_spi(r.spi);
            }
        }
        self.phase = Phase::Dead(Cause::Down { restart: false });
    }

    /// One INFORMATIONAL request deleting the IKE SA, outside the request queue.
    fn send_delete_once(&mut self, ctx: &mut Ctx<'_>) {
        let Some(sa) = self.phase.authenticated() else {
            return;
        };
        let Some(payloads) = informational::request(sa, &Task::DeleteIke) else {
            return;
        };
        let header = self
            .link
            .header(ExchangeType::INFORMATIONAL, false, self.queue.next_id());
        match self.link.protect(ctx, &sa.keys.send, &header, &payloads) {
            Ok(msgs) => ctx.send(self.link.local, self.link.remote, &msgs),
            Err(e) => tracing::debug!(error = %e, "IKE SA Delete not sent"),
        }
    }

    /// True when the SA is not yet established and proposes a Child SA of a tunnel for which
    /// `gone` is true (in IKE_AUTH or queued): its negotiation carries the old settings.
    pub(in crate::endpoint) fn negotiates_any(&self, gone: &dyn Fn(&str) -> bool) -> bool {
        self.phase.authenticated().is_none() && self.requests().any(|r| gone(&r.tunnel))
    }

    /// The tunnels whose Child SAs it proposes (in IKE_AUTH, queued or in flight).
    pub(in crate::endpoint) fn requested_tunnels(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in self.requests() {
            if !out.contains(&r.tunnel) {
                out.push(r.tunnel.clone());
            }
        }
        out
    }

    /// Gives up the Child SAs of the tunnels for which `gone` is true: each installed one is
    /// deleted with an INFORMATIONAL exchange (queued behind the work in flight), queued or
    /// deferred requests for them are dropped, and a Child SA a request in flight may still
    /// create is deleted once it exists. Returns the tunnels among them that had a Child SA
    /// here or were on their way, in the order first seen. Call [`kick`](Self::kick) after.
    pub(in crate::endpoint) fn drop_tunnels(
        &mut self,
        ctx: &mut Ctx<'_>,
        gone: &dyn Fn(&str) -> bool,
    ) -> Vec<String> {
        let Some(sa) = self.phase.authenticated() else {
            return Vec::new();
        };
        let mut seen: Vec<String> = Vec::new();
        let mut note = |t: &str| {
            if !seen.iter().any(|s| s == t) {
                seen.push(t.to_owned());
            }
        };
        let mut deletes: Vec<u32> = Vec::new();
        for c in sa.children.iter().filter(|c| gone(&c.sa.tunnel)) {
            note(&c.sa.tunnel);
            deletes.push(c.sa.inbound.spi);
        }
        if let Some(r) = self.queue.in_flight().and_then(Task::child_request) {
            if gone(&r.tunnel) {
                note(&r.tunnel);
                deletes.push(r.spi);
            }
        }
        let waiting = self
            .queue
            .tasks()
            .chain(self.deferred.iter().map(|(_, t)| t));
        for r in waiting.filter_map(Task::child_request) {
            if gone(&r.tunnel) {
                note(&r.tunnel);
            }
        }
        let mut released: Vec<u32> = Vec::new();
        let mut keep = |t: &Task| match t.child_request() {
            Some(r) if gone(&r.tunnel) => {
                released.push(r.spi);
                false
            }
            _ => true,
        };
        self.queue.retain(&mut keep);
        self.deferred.retain(|(_, t)| keep(t));
        for spi in released {
            ctx.release_spi(spi);
        }
        for spi in deletes {
            if !self
                .queue
                .is_queued(|t| matches!(t, Task::DeleteChild(s) if *s == spi))
            {
                self.queue.push(Task::DeleteChild(spi));
            }
        }
        self.arm_children();
        seen
    }
}
