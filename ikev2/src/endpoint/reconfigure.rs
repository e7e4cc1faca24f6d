//! A new configuration for a running endpoint, applied the way a PAN-OS commit applies one:
//! what did not change keeps running untouched, what changed or went away is torn down, and
//! what is new is left for the embedder to bring up as at start.
//!
//! "Changed" compares the effective settings: an IKE gateway with everything that shapes its
//! IKE SA (addresses, identities, authentication and its key or certificates, the IKE crypto
//! profile, lifetime, NAT traversal, liveness, retransmission, passive mode); an IPsec tunnel
//! with its gateway, IPsec crypto profile, proxy IDs, lifetime, lifesize, mode and replay
//! window. A tunnel whose gateway changed counts as changed too: its Child SAs go with the IKE
//! SA.

use super::{ctx, Endpoint, WithSpis};
use crate::config::{Authentication, CertificateAuth, EndpointConfig, GatewayConfig, TunnelConfig};
use crate::ctx::Ctx;
use crate::error::ConfigError;
use crate::exchange::{child_request, proposed_children};
use crate::sa::Task;
use ipsec_core::spi::SpiAllocator;
use ipsec_core::time::Instant;

/// How one kind of object fared in a reconfiguration: names, in configuration order (the
/// removed ones in the old configuration's order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Present before and after with the same settings: their SAs run on untouched.
    pub kept: Vec<String>,
    /// Present before and after with different settings: their SAs were torn down.
    pub changed: Vec<String>,
    /// New.
    pub added: Vec<String>,
    /// Gone: their SAs were torn down.
    pub removed: Vec<String>,
}

impl Changes {
    /// Nothing was changed, added or removed.
    pub fn is_unchanged(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }
}

/// What [`Endpoint::reconfigure`] did.
///
/// "Changed" compares the effective settings: an IKE gateway with everything that shapes its
/// IKE SA (addresses, identities, authentication and its key or certificates, the IKE crypto
/// profile, lifetime, NAT traversal, liveness, retransmission, passive mode); an IPsec tunnel
/// with its gateway, IPsec crypto profile, proxy IDs, lifetime, lifesize, mode and replay
/// window. A tunnel whose gateway changed counts as changed too: its Child SAs go with the IKE
/// SA.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconfigured {
    /// The IKE gateways.
    pub gateways: Changes,
    /// The IPsec tunnels.
    pub tunnels: Changes,
}

impl Endpoint {
    /// Runs `config` from now on, keeping what did not change (see [`Reconfigured`] for what
    /// counts as a change):
    ///
    /// - the IKE SA of a gateway that changed or went away is deleted: one INFORMATIONAL
    ///   Delete goes to the peer and its Child SAs and itself are reported down at once
    ///   ([`Event::ChildSaDown`], [`Event::IkeSaDown`] with [`Reason::DeletedLocally`]); one still
    ///   in negotiation is abandoned;
    /// - an IKE SA of a gateway that stays, still in negotiation for a tunnel that changed or
    ///   went away, is abandoned too, and the endpoint starts again for the tunnels it was
    ///   negotiating that are still configured (as it restarts after a dead peer);
    /// - on an IKE SA that stays, the Child SAs of a tunnel that changed or went away are
    ///   deleted with INFORMATIONAL exchanges ([`Event::ChildSaDown`] when the peer answers),
    ///   and a changed tunnel that was up there is negotiated again with its new settings
    ///   (CREATE_CHILD_SA, after the deletes) when its gateway may initiate;
    /// - every other SA runs on untouched, with the new configuration's objects (its SPIs,
    ///   keys, lifetimes and message IDs stay as they are);
    /// - nothing new is initiated: call [`connect`](Self::connect) for the tunnels in
    ///   [`Reconfigured::tunnels`]' `added` and `changed` that this side initiates, as at
    ///   start (for a changed tunnel already being negotiated again it does nothing).
    ///
    /// A configuration that does not validate is refused with the error and changes
    /// nothing. Drain [`poll_transmit`](Self::poll_transmit) and
    /// [`poll_event`](Self::poll_event) after it, as after any command.
    ///
    /// [`Event::ChildSaDown`]: crate::Event::ChildSaDown
    /// [`Event::IkeSaDown`]: crate::Event::IkeSaDown
    /// [`Reason::DeletedLocally`]: crate::Reason::DeletedLocally
    pub fn reconfigure(
        &mut self,
        now: Instant,
        config: EndpointConfig,
    ) -> Result<Reconfigured, ConfigError> {
        self.own_spis(|ep, spis| ep.reconfigure_using(spis, now, config))
    }

    fn reconfigure_using(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        config: EndpointConfig,
    ) -> Result<Reconfigured, ConfigError> {
        config.validate()?;
        let report = compare(&self.cfg, &config);
        let gw_gone = |g: &str| {
            report
                .gateways
                .changed
                .iter()
                .chain(&report.gateways.removed)
                .any(|n| n == g)
        };
        let tun_gone = |t: &str| {
            report
                .tunnels
                .changed
                .iter()
                .chain(&report.tunnels.removed)
                .any(|n| n == t)
        };
        let keys: Vec<u64> = self.sas.keys().copied().collect();
        // Tunnels that were up on an IKE SA that stays, by the SA's key, to negotiate again.
        let mut again: Vec<(u64, Vec<String>)> = Vec::new();
        // Tunnels of kept gateways whose IKE SA was abandoned in negotiation.
        let mut restart: Vec<String> = Vec::new();
        for key in &keys {
            let Some(sa) = self.sas.get_mut(key) else {
                continue;
            };
            let mut ctx = ctx!(self, now, spis);
            if gw_gone(sa.gateway()) {
                sa.retire(&mut ctx);
            } else if sa.negotiates_any(&tun_gone) {
                restart.extend(sa.requested_tunnels());
                sa.retire(&mut ctx);
            } else {
                let dropped = sa.drop_tunnels(&mut ctx, &tun_gone);
                let changed: Vec<String> = dropped
                    .into_iter()
                    .filter(|t| report.tunnels.changed.contains(t))
                    .collect();
                if !changed.is_empty() {
                    again.push((*key, changed));
                }
            }
        }
        tracing::info!(
            gateways_changed = report.gateways.changed.len(),
            gateways_removed = report.gateways.removed.len(),
            tunnels_changed = report.tunnels.changed.len(),
            tunnels_removed = report.tunnels.removed.len(),
            "configuration replaced"
        );
        self.cfg = config;
        // Restarts (after a dead peer, or of a negotiation abandoned above) go on for the
        // tunnels that are still configured, with their new settings; a changed one's back-off
        // starts afresh.
        let cfg = &self.cfg;
        let exists = |t: &str| cfg.tunnel(t).is_some();
        self.restarts.retain(|(t, _)| exists(t));
        self.restart_wait.retain(|t, _| exists(t) && !tun_gone(t));
        for t in restart {
            if exists(&t) && !self.restarts.iter().any(|(r, _)| *r == t) {
                self.restarts.push((t, now));
            }
        }
        for (key, tunnels) in again {
            self.negotiate_again(spis, now, key, &tunnels);
        }
        for key in keys {
            if let Some(sa) = self.sas.get_mut(&key) {
                let mut ctx = ctx!(self, now, spis);
                let _ = sa.kick(&mut ctx);
            }
            self.after(spis, now, key);
        }
        Ok(report)
    }

    /// Queues a new Child SA for every proxy ID of `tunnels` on the IKE SA filed under `key`,
    /// behind the deletes of their old ones, when the tunnel's gateway may initiate.
    fn negotiate_again(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        key: u64,
        tunnels: &[String],
    ) {
        let Some(peer) = self.sas.get(&key).map(|s| s.remote().ip()) else {
            return;
        };
        for tunnel in tunnels {
            let Some(t) = self.cfg.tunnel(tunnel) else {
                continue;
            };
            let initiates = self
                .cfg
                .gateway(&t.gateway)
                .is_some_and(|g| !g.passive && g.peer_addr.is_some());
            if !initiates {
                continue;
            }
            for index in 0..proposed_children(t, peer).len() {
                let ctx = ctx!(self, now, spis);
                let Ok(mut req) = child_request(&ctx, tunnel, index, 0, peer) else {
                    continue;
                };
                let mut ctx = ctx;
                match ctx.allocate_spi() {
                    Ok(spi) => req.spi = spi,
                    Err(e) => {
                        tracing::warn!(tunnel = %tunnel, error = %e, "no inbound SPI");
                        continue;
                    }
                }
                if let Some(sa) = self.sas.get_mut(&key) {
                    sa.push_task(Task::create_child(req));
                }
            }
        }
    }
}

impl WithSpis<'_> {
    /// [`Endpoint::reconfigure`].
    pub fn reconfigure(
        &mut self,
        now: Instant,
        config: EndpointConfig,
    ) -> Result<Reconfigured, ConfigError> {
        self.endpoint.reconfigure_using(self.spis, now, config)
    }
}

/// Sorts the gateways and tunnels of `old` and `new` into kept, changed, added and removed.
pub(crate) fn compare(old: &EndpointConfig, new: &EndpointConfig) -> Reconfigured {
    let mut gateways = Changes::default();
    for g in &new.gateways {
        match old.gateway(&g.name) {
            None => gateways.added.push(g.name.clone()),
            Some(o) if same_gateway(o, g) => gateways.kept.push(g.name.clone()),
            Some(_) => gateways.changed.push(g.name.clone()),
        }
    }
    gateways.removed = old
        .gateways
        .iter()
        .filter(|g| new.gateway(&g.name).is_none())
        .map(|g| g.name.clone())
        .collect();
    let mut tunnels = Changes::default();
    for t in &new.tunnels {
        match old.tunnel(&t.name) {
            None => tunnels.added.push(t.name.clone()),
            Some(o) if same_tunnel(o, t) && gateways.kept.contains(&t.gateway) => {
                tunnels.kept.push(t.name.clone());
            }
            Some(_) => tunnels.changed.push(t.name.clone()),
        }
    }
    tunnels.removed = old
        .tunnels
        .iter()
        .filter(|t| new.tunnel(&t.name).is_none())
        .map(|t| t.name.clone())
        .collect();
    Reconfigured { gateways, tunnels }
}

/// The same IKE gateway settings (the pre-shared key compared in constant time). Every field
/// is named, so that a new one cannot be forgotten here.
fn same_gateway(a: &GatewayConfig, b: &GatewayConfig) -> bool {
    let GatewayConfig {
        name,
        local_addr,
        peer_addr,
        local_id,
        peer_id,
        auth,
        ike_proposals,
        ike_lifetime,
        nat_traversal,
        nat_keepalive,
        force_encapsulation,
        passive,
        require_cookie,
        fragmentation,
        liveness,
        retransmit,
    } = a;
    same_auth(auth, &b.auth)
        && *name == b.name
        && *local_addr == b.local_addr
        && *peer_addr == b.peer_addr
        && *local_id == b.local_id
        && *peer_id == b.peer_id
        && *ike_proposals == b.ike_proposals
        && *ike_lifetime == b.ike_lifetime
        && *nat_traversal == b.nat_traversal
        && *nat_keepalive == b.nat_keepalive
        && *force_encapsulation == b.force_encapsulation
        && *passive == b.passive
        && *require_cookie == b.require_cookie
        && *fragmentation == b.fragmentation
        && *liveness == b.liveness
        && *retransmit == b.retransmit
}

/// The same authentication: the same key, or the same credential, trusted CAs and checks.
fn same_auth(a: &Authentication, b: &Authentication) -> bool {
    match (a, b) {
        (Authentication::PreSharedKey(x), Authentication::PreSharedKey(y)) => x == y,
        (Authentication::Certificate(x), Authentication::Certificate(y)) => {
            let cas = |c: &CertificateAuth| -> Vec<Vec<u8>> {
                c.trust.cas().iter().map(|ca| ca.der().to_vec()).collect()
            };
            let CertificateAuth {
                credential,
                trust: _,
                field,
                allow_id_mismatch,
                rfc7427,
                signature_schemes,
            } = &**x;
            *credential == y.credential
                && cas(x) == cas(y)
                && *field == y.field
                && *allow_id_mismatch == y.allow_id_mismatch
                && *rfc7427 == y.rfc7427
                && *signature_schemes == y.signature_schemes
        }
        _ => false,
    }
}

/// The same IPsec tunnel settings, every field named.
fn same_tunnel(a: &TunnelConfig, b: &TunnelConfig) -> bool {
    let TunnelConfig {
        name,
        gateway,
        esp_proposals,
        proxy_ids,
        lifetime,
        lifesize,
        mode,
        replay_window,
    } = a;
    *name == b.name
        && *gateway == b.gateway
        && *esp_proposals == b.esp_proposals
        && *proxy_ids == b.proxy_ids
        && *lifetime == b.lifetime
        && *lifesize == b.lifesize
        && *mode == b.mode
        && *replay_window == b.replay_window
}
