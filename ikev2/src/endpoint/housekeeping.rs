//! What the endpoint does after an IKE SA processed an input: take over successors of rekeyed
//! SAs, act on INITIAL_CONTACT, remove dead SAs and bring their tunnels back.

use super::index::identity_hash;
use super::{ctx, Endpoint, IkeSa};
use crate::ctx::Ctx;
use crate::event::Reason;
use crate::sa::Cause;
use core::time::Duration;
use ipsec_core::spi::SpiAllocator;
use ipsec_core::time::Instant;

/// Wait before a non-passive gateway starts over after its IKE SA died.
const RESTART_DELAY: Duration = Duration::from_secs(2);

impl Endpoint {
    /// Housekeeping after the SA filed under `spi` processed input: only that SA and the SAs
    /// its input concerns (its successors, the SA its strays join, the stale SAs of
    /// INITIAL_CONTACT) are looked at, and each is filed again ([`Endpoint::refile`]).
    pub(super) fn after(&mut self, spis: &mut dyn SpiAllocator, now: Instant, spi: u64) {
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        let born = sa.take_born();
        let strays = sa.take_strays();
        // Successors of rekeyed IKE SAs join the table under our new SPI.
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
            self.refile(now, ours);
        }
        // Child SAs a late answer made on a superseded SA join its successor.
        if let Some((to, children)) = strays {
            let mut ctx = ctx!(self, now, spis);
            match self.sas.get_mut(&to) {
                Some(sa) => {
                    let _ = sa.adopt(&mut ctx, children);
                }
                None => IkeSa::drop_strays(&mut ctx, children),
            }
            self.refile(now, to);
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
                .index
                .with_peer(identity_hash(&peer_id))
                .into_iter()
                .filter(|k| *k != spi)
                .filter(|k| {
                    self.sas
                        .get(k)
                        .is_some_and(|s| s.peer_id() == Some(&peer_id) && local_id(s) == ours)
                })
                .collect();
            for k in stale {
                if let Some(old) = self.sas.get_mut(&k) {
                    let mut ctx = ctx!(self, now, spis);
                    old.teardown(&mut ctx, Reason::PeerRestarted);
                }
                self.refile(now, k);
            }
        }
        self.refile(now, spi);
    }

    /// Keeps the counters of the dead SA `sa` (out of the table already), and schedules its
    /// restart.
    pub(super) fn bury(&mut self, now: Instant, sa: &IkeSa) {
        sa.add_stats(&mut self.stats);
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
            let Ok(key) = self.connect_key(spis, now, &tunnel) else {
                continue;
            };
            if let Some(sa) = self.sas.get_mut(&key).filter(|s| s.is_negotiating()) {
                sa.note_restart(tunnel);
            }
        }
    }
}
