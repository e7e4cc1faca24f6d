//! What the endpoint does after an IKE SA processed an input: take over successors of rekeyed
//! SAs, act on INITIAL_CONTACT, remove dead SAs and bring their tunnels back.

use super::{ctx, Endpoint, IkeSa};
use crate::ctx::Ctx;
use crate::event::{Reason, Role};
use crate::sa::Cause;
use core::time::Duration;
use ipsec_core::spi::SpiAllocator;
use ipsec_core::time::Instant;

/// Wait before a non-passive gateway starts over after its IKE SA died.
const RESTART_DELAY: Duration = Duration::from_secs(2);

impl Endpoint {
    /// Housekeeping after the SA filed under `spi` processed input.
    pub(super) fn after(&mut self, spis: &mut dyn SpiAllocator, now: Instant, spi: u64) {
        // Successors of rekeyed IKE SAs join the table under our new SPI.
        let born: Vec<IkeSa> = self.sas.values_mut().flat_map(|s| s.take_born()).collect();
        for sa in born {
            let ours = sa.our_spi();
            if self.sas.contains_key(&ours) {
                // The rekey drew an SPI that another SA took meanwhile (a chance of 2^-64).
                tracing::warn!(
                    spi = format_args!("{ours:016x}"),
                    "IKE SPI taken; rekey lost"
                );
                continue;
            }
            self.insert_sa(ours, Box::new(sa));
            if let Some(sa) = self.sas.get_mut(&ours) {
                // It may have inherited queued Child SA work.
                let mut ctx = ctx!(self, now, spis);
                let _ = sa.kick(&mut ctx);
            }
        }
        // Child SAs a late answer made on a superseded SA join its successor.
        let strays: Vec<(u64, Vec<_>)> = self
            .sas
            .values_mut()
            .filter_map(|s| s.take_strays())
            .collect();
        for (to, children) in strays {
            let mut ctx = ctx!(self, now, spis);
            match self.sas.get_mut(&to) {
                Some(sa) => {
                    let _ = sa.adopt(&mut ctx, children);
                }
                None => IkeSa::drop_strays(&mut ctx, children),
            }
        }
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        if let Some(tunnels) = sa.restart_succeeded() {
            // The restart succeeded: the next failure starts the back-off from the beginning.
            for t in &tunnels {
                self.restart_wait.remove(t);
            }
        }
        if let Some(peer_id) = sa.take_initial_contact() {
            // RFC 7296 section 2.4: INITIAL_CONTACT says this is the only IKE SA between the
            // two authenticated identities, ours and the peer's; older ones between them are
            // stale (the peer restarted). Not the address: many peers may share one behind a
            // NAT, and a restarted peer may come back from another.
            let cfg = &self.cfg;
            let local_id = |s: &IkeSa| cfg.gateway(s.gateway()).map(|g| &g.local_id);
            let ours = local_id(sa);
            let stale: Vec<u64> = self
                .sas
                .iter()
                .filter(|(k, s)| **k != spi && s.peer_id() == Some(&peer_id) && local_id(s) == ours)
                .map(|(k, _)| *k)
                .collect();
            for k in stale {
                if let Some(old) = self.sas.get_mut(&k) {
                    let mut ctx = ctx!(self, now, spis);
                    old.teardown(&mut ctx, Reason::PeerRestarted);
                }
            }
        }
        let dead: Vec<u64> = self
            .sas
            .iter()
            .filter(|(_, s)| s.cause().is_some())
            .map(|(k, _)| *k)
            .collect();
        for k in dead {
            if let Some(sa) = self.remove_sa(k) {
                self.bury(now, k, &sa);
            }
        }
    }

    /// Removes what refers to the dead SA filed under `key`, and schedules its restart.
    fn bury(&mut self, now: Instant, key: u64, sa: &IkeSa) {
        sa.add_stats(&mut self.stats);
        if sa.role() == Role::Responder {
            self.init_index.remove(&(sa.remote(), sa.spi_i()));
            self.init_index.retain(|_, v| *v != key);
        }
        match sa.cause() {
            Some(Cause::Failed) if sa.is_restart() => self.retry_restart(now, sa),
            Some(Cause::Down { restart: true }) => {
                let Some(g) = self.cfg.gateway(sa.gateway()) else {
                    return;
                };
                if g.passive || g.peer_addr.is_none() {
                    return;
                }
                // The tunnels that were up come back, each with all its proxy IDs; with none
                // known, the gateway's first tunnel.
                let mut tunnels = sa.restart_tunnels().to_vec();
                if tunnels.is_empty() {
                    tunnels.extend(self.cfg.tunnels_of(&g.name).map(|t| t.name.clone()).take(1));
                }
                for t in tunnels {
                    if !self.restarts.iter().any(|(r, _)| *r == t) {
                        self.restarts.push((t, now + RESTART_DELAY));
                    }
                }
            }
            _ => {}
        }
    }

    /// Schedules the tunnels of a failed restart attempt again, after the tunnel's current
    /// back-off, and doubles the back-off up to the configured cap.
    fn retry_restart(&mut self, now: Instant, sa: &IkeSa) {
        let Some(g) = self.cfg.gateway(sa.gateway()) else {
            return;
        };
        if g.passive || g.peer_addr.is_none() {
            return;
        }
        let (first, cap) = (self.cfg.restart_retry, self.cfg.restart_retry_max);
        for t in sa.restart_tunnels() {
            if self.restarts.iter().any(|(r, _)| r == t) {
                continue;
            }
            let wait = self.restart_wait.get(t).copied().unwrap_or(first).min(cap);
            self.restarts.push((t.clone(), now + wait));
            self.restart_wait
                .insert(t.clone(), wait.saturating_mul(2).min(cap));
        }
    }

    /// Starts the restarts that are due; each new IKE SA remembers that it is one.
    pub(super) fn run_restarts(&mut self, spis: &mut dyn SpiAllocator, now: Instant) {
        let (due, later): (Vec<_>, Vec<_>) = self.restarts.drain(..).partition(|(_, t)| *t <= now);
        self.restarts = later;
        for (tunnel, _) in due {
            if self.connect_using(spis, now, &tunnel).is_err() {
                continue;
            }
            let Some(gw) = self.cfg.tunnel(&tunnel).map(|t| t.gateway.clone()) else {
                continue;
            };
            let attempt = self
                .sas
                .values_mut()
                .find(|s| s.gateway() == gw && s.is_negotiating());
            if let Some(sa) = attempt {
                sa.note_restart(tunnel);
            }
        }
    }
}
