//! The endpoint's commands: bring tunnels up, rekey, delete, check liveness, report SPIs.
//!
//! Each public command runs with the endpoint's own SPI allocator; the `*_using` forms take the
//! one lent through [`Endpoint::with_spis`].

use super::{ctx, Endpoint, IkeSa};
use crate::ctx::Ctx;
use crate::error::{CommandError, LocalError};
use crate::exchange::ike_sa_init;
use crate::exchange::{child_request, proposed_children};
use crate::sa::Task;
use ipsec_core::child_sa::ChildSa;
use ipsec_core::spi::SpiAllocator;
use ipsec_core::time::Instant;
use std::net::IpAddr;

impl Endpoint {
    /// Brings up `tunnel`: one Child SA per proxy ID (or one for 0.0.0.0/0 both ways when it has
    /// none), as PAN-OS does. Without an IKE SA toward the tunnel's gateway, starts one with the
    /// first proxy ID in IKE_AUTH; every other proxy ID follows with its own CREATE_CHILD_SA
    /// once the IKE SA is up, one exchange at a time. Proxy IDs whose Child SA exists or is
    /// being negotiated are left alone, so calling it again only retries those that failed or
    /// were deleted. A proxy ID the peer refuses ([`Event::Phase2Failed`]) does not keep the
    /// others from coming up; each [`Event::ChildSaUp`] names its proxy ID in
    /// [`ChildSa::proxy_id`].
    ///
    /// Fails for unknown tunnels ([`CommandError::UnknownTunnel`]), and for passive gateways,
    /// dynamic peers (no address to send to) and gateways without a usable IKE proposal
    /// ([`CommandError::CannotInitiate`]).
    ///
    /// [`Event::Phase2Failed`]: crate::Event::Phase2Failed
    /// [`Event::ChildSaUp`]: crate::Event::ChildSaUp
    pub fn connect(&mut self, now: Instant, tunnel: &str) -> Result<(), CommandError> {
        self.own_spis(|ep, spis| ep.connect_using(spis, now, tunnel))
    }

    pub(super) fn connect_using(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        tunnel: &str,
    ) -> Result<(), CommandError> {
        self.connect_key(spis, now, tunnel).map(|_| ())
    }

    /// [`connect`](Self::connect), returning the key of the IKE SA that brings the tunnel up.
    pub(super) fn connect_key(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        tunnel: &str,
    ) -> Result<u64, CommandError> {
        let t = self
            .cfg
            .tunnel(tunnel)
            .ok_or_else(|| CommandError::UnknownTunnel(tunnel.to_owned()))?;
        let g = self
            .cfg
            .gateway(&t.gateway)
            .ok_or_else(|| CommandError::UnknownGateway(t.gateway.clone()))?;
        let cannot = |why| CommandError::CannotInitiate(g.name.clone(), why);
        if g.passive {
            return Err(cannot("it is passive"));
        }
        let peer = g
            .peer_addr
            .ok_or_else(|| cannot("its peer is dynamic (no address to send to)"))?;
        let group = ike_sa_init::first_group(g, &self.provider)
            .ok_or_else(|| cannot("no IKE proposal the crypto provider runs"))?;
        let existing = self.index.usable(&g.name).or_else(|| {
            // A negotiation rides on only while it can still finish: a stuck one is left to
            // its deadline and a fresh IKE SA is started beside it.
            self.index
                .negotiating_of(&g.name)
                .find(|k| self.sas.get(k).is_some_and(|s| s.can_carry(now)))
        });
        let key = match existing {
            Some(key) => {
                if let Some(sa) = self.sas.get_mut(&key).filter(|s| s.is_half_open()) {
                    // The peer's IKE_SA_INIT arrived first (both sides starting at once): ride
                    // on it. Anyone who sends from the peer's address can make such an SA, so
                    // should it never be authenticated, the tunnel is tried again on its own.
                    sa.note_restart(tunnel.to_owned());
                }
                key
            }
            None => {
                let gname = g.name.clone();
                let spi_i = self.new_spi()?;
                self.restarts.retain(|(t, _)| t != tunnel);
                let mut ctx = ctx!(self, now, spis);
                let g = ctx.gateway(&gname)?;
                let mut first = child_request(&ctx, tunnel, 0, 0, peer)?;
                first.spi = ctx.allocate_spi().map_err(LocalError::from)?;
                let spi = first.spi;
                let sa = match IkeSa::initiate(&mut ctx, g, (peer, group), spi_i, first) {
                    Ok(sa) => sa,
                    Err(e) => {
                        ctx.release_spi(spi);
                        return Err(e.into());
                    }
                };
                self.insert_sa(spi_i, Box::new(sa));
                self.refile(now, spi_i);
                spi_i
            }
        };
        // Every proxy ID not yet up or on its way gets a CREATE_CHILD_SA; the queue sends them
        // one after the other once the IKE SA is established.
        let Some(sa) = self.sas.get(&key) else {
            return Ok(key);
        };
        let Some(t) = self.cfg.tunnel(tunnel) else {
            return Ok(key);
        };
        let peer = sa.remote().ip();
        let missing: Vec<usize> = proposed_children(t, peer)
            .iter()
            .enumerate()
            .filter(|(_, (pid, _, _))| !sa.has_child_for(tunnel, pid.as_deref()))
            .map(|(i, _)| i)
            .collect();
        for index in missing {
            let mut ctx = ctx!(self, now, spis);
            let mut req = child_request(&ctx, tunnel, index, 0, peer)?;
            req.spi = ctx.allocate_spi().map_err(LocalError::from)?;
            if let Some(sa) = self.sas.get_mut(&key) {
                sa.push_task(Task::create_child(req));
            }
        }
        if let Some(sa) = self.sas.get_mut(&key) {
            let mut ctx = ctx!(self, now, spis);
            sa.kick(&mut ctx)?;
        }
        self.after(spis, now, key);
        Ok(key)
    }

    /// The established IKE SA of `gateway`.
    fn established_for(&mut self, gateway: &str) -> Result<u64, CommandError> {
        if self.cfg.gateway(gateway).is_none() {
            return Err(CommandError::UnknownGateway(gateway.to_owned()));
        }
        self.index
            .usable(gateway)
            .ok_or_else(|| CommandError::NotEstablished(gateway.to_owned()))
    }

    fn queue_task(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        key: u64,
        task: Task,
    ) -> Result<(), CommandError> {
        if let Some(sa) = self.sas.get_mut(&key) {
            let mut ctx = ctx!(self, now, spis);
            sa.queue_task(&mut ctx, task)?;
        }
        self.after(spis, now, key);
        Ok(())
    }

    /// The established IKE SA that carries the Child SA with inbound SPI `spi`.
    fn carrier_of(&self, spi: u32) -> Result<u64, CommandError> {
        self.index
            .carrier(spi)
            .filter(|k| {
                self.sas
                    .get(k)
                    .is_some_and(|s| s.is_usable() && s.children().any(|c| c.inbound.spi == spi))
            })
            .ok_or(CommandError::NoChildSa(spi))
    }

    /// The Child SAs of `tunnel`, with the key of the IKE SA that carries each.
    fn children_of(&self, tunnel: &str) -> Result<Vec<(u64, &ChildSa)>, CommandError> {
        let Some(t) = self.cfg.tunnel(tunnel) else {
            return Err(CommandError::UnknownTunnel(tunnel.to_owned()));
        };
        // A tunnel's Child SAs ride on the IKE SAs of its gateway.
        let found: Vec<(u64, &ChildSa)> = self
            .index
            .usable_of(&t.gateway)
            .filter_map(|k| self.sas.get_key_value(&k))
            .flat_map(|(k, s)| {
                s.children()
                    .filter(|c| c.tunnel == tunnel)
                    .map(move |c| (*k, c))
            })
            .collect();
        if found.is_empty() {
            return Err(CommandError::NotEstablished(tunnel.to_owned()));
        }
        Ok(found)
    }

    /// Rekeys the Child SA whose inbound SPI is `inbound_spi` (RFC 7296 section 1.3.3): a new
    /// Child SA with fresh nonces (and PFS when the IPsec crypto profile has a group) is created
    /// with CREATE_CHILD_SA and N(REKEY_SA); [`Event::ChildSaUp`] reports it, naming the SA it
    /// replaces, then the old one is deleted ([`Event::ChildSaDown`]).
    ///
    /// When to call it: when the datapath reports that the SA reached its *byte* or *packet*
    /// soft limit, or that its sequence number is about to run out, and for an admin's
    /// `test vpn ipsec-sa`. Not for the time lifetime: the endpoint rekeys every Child SA at
    /// 85-90 % of its lifetime by itself, and a second rekey of the same SA only makes the two
    /// peers collide. Calling it for an SA that is already being rekeyed, already replaced, or
    /// being deleted does nothing and succeeds, so a datapath may report a limit more than
    /// once. Fails with [`CommandError::NoChildSa`] when no established IKE SA carries it.
    ///
    /// [`Event::ChildSaUp`]: crate::Event::ChildSaUp
    /// [`Event::ChildSaDown`]: crate::Event::ChildSaDown
    pub fn rekey_child_sa(&mut self, now: Instant, inbound_spi: u32) -> Result<(), CommandError> {
        self.own_spis(|ep, spis| ep.rekey_child_sa_using(spis, now, inbound_spi))
    }

    pub(super) fn rekey_child_sa_using(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        inbound_spi: u32,
    ) -> Result<(), CommandError> {
        let key = self.carrier_of(inbound_spi)?;
        if let Some(sa) = self.sas.get_mut(&key) {
            let mut ctx = ctx!(self, now, spis);
            sa.rekey_child(&mut ctx, inbound_spi)?;
        }
        self.after(spis, now, key);
        Ok(())
    }

    /// Deletes the Child SA whose inbound SPI is `inbound_spi` with an INFORMATIONAL exchange
    /// (`clear vpn ipsec-sa`); [`Event::ChildSaDown`] follows. For an SA the datapath cannot
    /// use (it failed to install it, or it reached a hard limit with no rekey possible). The
    /// proxy ID stays down until [`connect`](Self::connect) or the peer brings it back. Fails
    /// with [`CommandError::NoChildSa`] when no established IKE SA carries it.
    ///
    /// [`Event::ChildSaDown`]: crate::Event::ChildSaDown
    pub fn delete_child_sa(&mut self, now: Instant, inbound_spi: u32) -> Result<(), CommandError> {
        self.own_spis(|ep, spis| ep.delete_child_sa_using(spis, now, inbound_spi))
    }

    pub(super) fn delete_child_sa_using(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        inbound_spi: u32,
    ) -> Result<(), CommandError> {
        let key = self.carrier_of(inbound_spi)?;
        self.queue_task(spis, now, key, Task::DeleteChild(inbound_spi))
    }

    /// Rekeys every Child SA of `tunnel`, one per proxy ID, as [`rekey_child_sa`] does for
    /// one: `test vpn ipsec-sa tunnel`. For an admin only; see [`rekey_child_sa`] for what
    /// not to call it for.
    ///
    /// [`rekey_child_sa`]: Self::rekey_child_sa
    pub fn rekey_child(&mut self, now: Instant, tunnel: &str) -> Result<(), CommandError> {
        self.own_spis(|ep, spis| ep.rekey_child_using(spis, now, tunnel))
    }

    pub(super) fn rekey_child_using(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        tunnel: &str,
    ) -> Result<(), CommandError> {
        let found: Vec<u32> = self
            .children_of(tunnel)?
            .into_iter()
            .map(|(_, c)| c.inbound.spi)
            .collect();
        // The SA of a proxy ID that is already replaced is skipped: its successor is the one
        // that carries the proxy ID.
        for spi in found {
            self.rekey_child_sa_using(spis, now, spi)?;
        }
        Ok(())
    }

    /// Deletes every Child SA of `tunnel` with an INFORMATIONAL exchange (`clear vpn ipsec-sa
    /// tunnel`); [`Event::ChildSaDown`] follows for each.
    ///
    /// [`Event::ChildSaDown`]: crate::Event::ChildSaDown
    pub fn delete_child(&mut self, now: Instant, tunnel: &str) -> Result<(), CommandError> {
        self.own_spis(|ep, spis| ep.delete_child_using(spis, now, tunnel))
    }

    pub(super) fn delete_child_using(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        tunnel: &str,
    ) -> Result<(), CommandError> {
        let found: Vec<(u64, u32)> = self
            .children_of(tunnel)?
            .into_iter()
            .map(|(k, c)| (k, c.inbound.spi))
            .collect();
        for (key, child) in found {
            self.queue_task(spis, now, key, Task::DeleteChild(child))?;
        }
        Ok(())
    }

    /// Deletes the IKE SA of `gateway` (and its Child SAs) with an INFORMATIONAL exchange. An
    /// IKE SA of the gateway still negotiating (either role) is dropped at once, reported by
    /// [`Event::Phase1Failed`] with [`Reason::DeletedLocally`]. Fails with
    /// [`CommandError::NotEstablished`] when the gateway has no IKE SA at all.
    ///
    /// [`Event::Phase1Failed`]: crate::Event::Phase1Failed
    /// [`Reason::DeletedLocally`]: crate::Reason::DeletedLocally
    pub fn delete_ike(&mut self, now: Instant, gateway: &str) -> Result<(), CommandError> {
        self.own_spis(|ep, spis| ep.delete_ike_using(spis, now, gateway))
    }

    pub(super) fn delete_ike_using(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        gateway: &str,
    ) -> Result<(), CommandError> {
        let established = self.established_for(gateway);
        let negotiating: Vec<u64> = self.index.negotiating_of(gateway).collect();
        if negotiating.is_empty() {
            established.clone()?;
        }
        for key in negotiating {
            if let Some(sa) = self.sas.get_mut(&key) {
                let mut ctx = ctx!(self, now, spis);
                sa.abandon(&mut ctx);
            }
            self.after(spis, now, key);
        }
        if let Ok(spi) = established {
            self.queue_task(spis, now, spi, Task::DeleteIke)?;
        }
        // Deleted by command: no restart is pending for its tunnels.
        let cfg = &self.cfg;
        let of_gateway = |t: &str| cfg.tunnel(t).is_some_and(|t| t.gateway == gateway);
        self.restarts.retain(|(t, _)| !of_gateway(t));
        self.restart_wait.retain(|t, _| !of_gateway(t));
        Ok(())
    }

    /// Rekeys the IKE SA of `gateway` now (it also happens by itself at 85-90 % of the IKE
    /// lifetime): a successor IKE SA with new SPIs and keys takes over the Child SAs
    /// ([`Event::IkeSaUp`]), and the old one is deleted without further events.
    ///
    /// [`Event::IkeSaUp`]: crate::Event::IkeSaUp
    pub fn rekey_ike(&mut self, now: Instant, gateway: &str) -> Result<(), CommandError> {
        self.own_spis(|ep, spis| ep.rekey_ike_using(spis, now, gateway))
    }

    pub(super) fn rekey_ike_using(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        gateway: &str,
    ) -> Result<(), CommandError> {
        let spi = self.established_for(gateway)?;
        self.queue_task(spis, now, spi, Task::RekeyIke(None))
    }

    /// Sends an empty INFORMATIONAL request to `gateway` now; an unanswered check tears the SA
    /// down ([`Reason::DeadPeer`](crate::Reason::DeadPeer)).
    pub fn liveness_check(&mut self, now: Instant, gateway: &str) -> Result<(), CommandError> {
        self.own_spis(|ep, spis| ep.liveness_check_using(spis, now, gateway))
    }

    pub(super) fn liveness_check_using(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        gateway: &str,
    ) -> Result<(), CommandError> {
        let spi = self.established_for(gateway)?;
        self.queue_task(spis, now, spi, Task::Liveness)
    }

    /// Tells the peer at `remote` that ESP packets with `spi` match no SA here (RFC 7296 section
    /// 2.21.4), inside the established IKE SA with it. Call it when the ESP datapath drops a
    /// packet for an unknown SPI (rate-limit it: one per SPI is plenty). Fails when no IKE SA
    /// with that peer is established.
    pub fn invalid_spi(
        &mut self,
        now: Instant,
        remote: IpAddr,
        spi: u32,
    ) -> Result<(), CommandError> {
        self.own_spis(|ep, spis| ep.invalid_spi_using(spis, now, remote, spi))
    }

    pub(super) fn invalid_spi_using(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        remote: IpAddr,
        spi: u32,
    ) -> Result<(), CommandError> {
        let sa = self
            .index
            .usable_at(remote)
            .ok_or_else(|| CommandError::NotEstablished(remote.to_string()))?;
        self.queue_task(spis, now, sa, Task::InvalidSpi(spi))
    }
}
