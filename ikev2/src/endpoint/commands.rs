//! The endpoint's commands: bring tunnels up, rekey, delete, check liveness, report SPIs.

use super::{ctx, Endpoint, IkeSa, Rng};
use crate::ctx::Ctx;
use crate::error::CommandError;
use crate::exchange::ike_sa_init;
use crate::exchange::{child_request, proposed_children};
use crate::sa::{ChildRequest, Task};
use ipsec_core::child_sa::ChildSa;
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
        let existing = self
            .sas
            .iter()
            .find(|(_, s)| s.gateway() == g.name && (s.is_usable() || s.is_negotiating()))
            .map(|(k, _)| *k);
        let key = match existing {
            Some(key) => key,
            None => {
                let gname = g.name.clone();
                let spi_i = self.new_spi()?;
                let child_spi = self.new_child_spi()?;
                self.restarts.retain(|(t, _)| t != tunnel);
                let mut ctx = ctx!(self, now);
                let g = ctx.gateway(&gname)?;
                let first = child_request(&ctx, tunnel, 0, child_spi, peer)?;
                let sa = IkeSa::initiate(&mut ctx, g, (peer, group), spi_i, first)?;
                self.sas.insert(spi_i, Box::new(sa));
                spi_i
            }
        };
        // Every proxy ID not yet up or on its way gets a CREATE_CHILD_SA; the queue sends them
        // one after the other once the IKE SA is established.
        let Some(sa) = self.sas.get(&key) else {
            return Ok(());
        };
        let peer = sa.remote().ip();
        let missing: Vec<usize> = proposed_children(t, peer)
            .iter()
            .enumerate()
            .filter(|(_, (pid, _, _))| !sa.has_child_for(tunnel, pid.as_deref()))
            .map(|(i, _)| i)
            .collect();
        for index in missing {
            let spi = self.new_child_spi()?;
            let req = {
                let ctx = ctx!(self, now);
                child_request(&ctx, tunnel, index, spi, peer)?
            };
            if let Some(sa) = self.sas.get_mut(&key) {
                sa.push_task(Task::create_child(req));
            }
        }
        if let Some(sa) = self.sas.get_mut(&key) {
            let mut ctx = ctx!(self, now);
            sa.kick(&mut ctx)?;
        }
        self.after(now, key);
        Ok(())
    }

    /// The established IKE SA of `gateway`.
    fn established_for(&mut self, gateway: &str) -> Result<u64, CommandError> {
        if self.cfg.gateway(gateway).is_none() {
            return Err(CommandError::UnknownGateway(gateway.to_owned()));
        }
        self.sas
            .iter()
            .find(|(_, s)| s.gateway() == gateway && s.is_usable())
            .map(|(k, _)| *k)
            .ok_or_else(|| CommandError::NotEstablished(gateway.to_owned()))
    }

    fn queue_task(&mut self, now: Instant, spi: u64, task: Task) -> Result<(), CommandError> {
        if let Some(sa) = self.sas.get_mut(&spi) {
            let mut ctx = ctx!(self, now);
            sa.queue_task(&mut ctx, task)?;
        }
        self.after(now, spi);
        Ok(())
    }

    /// The Child SAs of `tunnel`, with the key of the IKE SA that carries each.
    fn children_of(&self, tunnel: &str) -> Vec<(u64, &ChildSa)> {
        self.sas
            .iter()
            .flat_map(|(k, s)| {
                s.children()
                    .filter(|c| c.tunnel == tunnel)
                    .map(move |c| (*k, c))
            })
            .collect()
    }

    /// Rekeys the Child SAs of `tunnel`, one per proxy ID (RFC 7296 section 1.3.3): a new
    /// Child SA with fresh nonces (and PFS when the IPsec crypto profile has a group) is created
    /// with CREATE_CHILD_SA and N(REKEY_SA); [`Event::ChildSaUp`] reports it, then the old one
    /// is deleted ([`Event::ChildSaDown`]). Call it when the datapath reports the soft lifetime.
    ///
    /// [`Event::ChildSaUp`]: crate::Event::ChildSaUp
    /// [`Event::ChildSaDown`]: crate::Event::ChildSaDown
    pub fn rekey_child(&mut self, now: Instant, tunnel: &str) -> Result<(), CommandError> {
        // The oldest Child SA of each proxy ID (a second one is a rekey's successor), unless
        // that proxy ID's rekey is already under way (the command repeated, or the lifetime
        // timer came first).
        let mut found: Vec<(u64, ChildSa)> = Vec::new();
        let children = self.children_of(tunnel);
        if children.is_empty() {
            return Err(CommandError::NotEstablished(tunnel.to_owned()));
        }
        for (k, c) in children {
            let under_way = self
                .sas
                .get(&k)
                .is_some_and(|s| s.rekey_under_way(tunnel, c.proxy_id.as_deref()));
            if !under_way
                && !found
                    .iter()
                    .any(|(fk, f)| *fk == k && f.proxy_id == c.proxy_id)
            {
                found.push((k, c.clone()));
            }
        }
        for (key, old) in found {
            let req = ChildRequest::rekey_of(&old, self.new_child_spi()?);
            self.queue_task(now, key, Task::create_child(req))?;
        }
        Ok(())
    }

    /// Deletes the Child SAs of `tunnel` with an INFORMATIONAL exchange; [`Event::ChildSaDown`]
    /// follows when the peer confirms.
    ///
    /// [`Event::ChildSaDown`]: crate::Event::ChildSaDown
    pub fn delete_child(&mut self, now: Instant, tunnel: &str) -> Result<(), CommandError> {
        let found: Vec<(u64, u32)> = self
            .children_of(tunnel)
            .into_iter()
            .map(|(k, c)| (k, c.inbound.spi))
            .collect();
        if found.is_empty() {
            return Err(CommandError::NotEstablished(tunnel.to_owned()));
        }
        for (key, child) in found {
            self.queue_task(now, key, Task::DeleteChild(child))?;
        }
        Ok(())
    }

    /// Deletes the IKE SA of `gateway` (and its Child SAs) with an INFORMATIONAL exchange.
    pub fn delete_ike(&mut self, now: Instant, gateway: &str) -> Result<(), CommandError> {
        let spi = self.established_for(gateway)?;
        self.queue_task(now, spi, Task::DeleteIke)?;
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
        let spi = self.established_for(gateway)?;
        self.queue_task(now, spi, Task::RekeyIke(None))
    }

    /// Sends an empty INFORMATIONAL request to `gateway` now; an unanswered check tears the SA
    /// down ([`Reason::DeadPeer`](crate::Reason::DeadPeer)).
    pub fn liveness_check(&mut self, now: Instant, gateway: &str) -> Result<(), CommandError> {
        let spi = self.established_for(gateway)?;
        self.queue_task(now, spi, Task::Liveness)
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
        let sa = self
            .sas
            .iter()
            .find(|(_, s)| s.remote().ip() == remote && s.is_usable())
            .map(|(k, _)| *k)
            .ok_or_else(|| CommandError::NotEstablished(remote.to_string()))?;
        self.queue_task(now, sa, Task::InvalidSpi(spi))
    }
}
