//! The seam between IKE and ESP: Child SAs installed and removed as the endpoint reports them,
//! and the datapath's lifetime limits turned into rekeys.
//!
//! Install and remove: every `ChildSaUp` is installed in the SA table before the event reaches
//! the embedder, every `ChildSaDown` removed. A rekey installs the new Child SA while the old one
//! stays until IKE deletes it; outbound, the table sends on the newest sending SA of the proxy
//! ID. A Child SA we created by answering the peer's rekey sends only once the peer has it
//! (`ChildSaOutbound`, or its first packet: `esp::SaTable::install_inbound`). When
//! IKE deletes an SA that has a successor, only its outbound half goes at once: its inbound half
//! keeps receiving for the event's `linger` ([`ikev2::REKEYED_LINGER`]) what the peer sent
//! before it learned of the deletion (strongSwan's `delete_rekeyed_delay` does the same). That covers the packets in
//! flight of a rekey collision (RFC 7296 section 2.8.1), where the peer goes on sending on the
//! redundant SA until its own delete is answered: a rekey loses nothing.
//!
//! Lifetimes: the endpoint rekeys on time by itself. The datapath's byte, packet and
//! sequence-number limits are the gateway's to act on:
//!
//! - a soft limit of the outbound half asks for a rekey at once; a soft limit of the inbound half
//!   a moment later ([`INBOUND_GRACE`]), since the peer's outbound half crossed the same limit
//!   and the peer most likely rekeys first (one rekey, not a collision);
//! - a hard limit asks for a rekey at once if none is on its way: the SA refuses packets now;
//! - an SA whose successor is installed is left alone: IKE deletes it.
//!
//! Each rekey names its Child SA by inbound SPI ([`ikev2::Endpoint::rekey_child_sa`]), so the
//! other proxy IDs of the tunnel are left alone, and asking twice for an SA already being
//! rekeyed does nothing.
//!
//! SPIs: the table hands out every inbound SPI the endpoint offers
//! ([`ikev2::Endpoint::with_spis`]), so they are unique across all IKE SAs and encode their
//! table slot.

use crate::event::{without_keys, Event, LifetimeAction};
use crate::Gateway;
use core::time::Duration;
use esp::{ChildHandle, LimitKind, SaEvent, SpiAllocator, TableEvent, TunnelId};
use ikev2::proposal::EspSuite;
use ikev2::{Event as IkeEvent, Outbound, Role};
use ipsec_core::child_sa::ChildSa;
use ipsec_core::time::Instant;

/// Wait after an inbound soft limit before rekeying ourselves.
pub(crate) const INBOUND_GRACE: Duration = Duration::from_secs(2);
/// A requested rekey that produced no new Child SA after this long is asked again.
const REKEY_TIMEOUT: Duration = Duration::from_secs(30);
/// Wait before asking again when the endpoint refused (no IKE SA established).
const RETRY_WAIT: Duration = Duration::from_secs(1);

/// Where a Child SA stands with respect to a datapath-driven rekey.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rekey {
    Idle,
    /// A limit was reached; rekey from `due` on.
    Wanted {
        due: Instant,
    },
    /// The endpoint was asked at `at`.
    Requested {
        at: Instant,
    },
}

/// One installed Child SA, without its keys.
#[derive(Clone, Debug)]
pub(crate) struct Installed {
    pub(crate) child: ChildSa,
    pub(crate) suite: EspSuite,
    pub(crate) gateway: String,
    pub(crate) role: Role,
    pub(crate) at: Instant,
    pub(crate) handle: ChildHandle,
    pub(crate) tunnel: TunnelId,
    /// A newer Child SA of the same proxy ID is installed; IKE deletes this one.
    pub(crate) replaced: bool,
    pub(crate) rekey: Rekey,
    /// Deleted by IKE after a rekey: only its inbound half is left, until then.
    pub(crate) retired_until: Option<Instant>,
}

impl Installed {
    /// `tunnel:proxy-id`, as PAN-OS names a Child SA.
    pub(crate) fn name(&self) -> String {
        match &self.child.proxy_id {
            Some(p) => format!("{}:{p}", self.child.tunnel),
            None => self.child.tunnel.clone(),
        }
    }

    fn same_proxy_id(&self, other: &ChildSa) -> bool {
        self.retired_until.is_none()
            && self.child.tunnel == other.tunnel
            && self.child.proxy_id == other.proxy_id
    }

    /// Installed and not retired.
    pub(crate) fn live(&self) -> bool {
        self.retired_until.is_none()
    }
}

/// The installed Child SAs, oldest first.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChildSas {
    pub(crate) list: Vec<Installed>,
}

impl ChildSas {
    pub(crate) fn has_rekey_work(&self) -> bool {
        self.list.iter().any(|c| c.rekey != Rekey::Idle)
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.list
            .iter()
            .filter_map(|c| match (c.retired_until, c.rekey) {
                (Some(t), _) => Some(t),
                (None, Rekey::Idle) => None,
                (None, Rekey::Wanted { due }) => Some(due),
                (None, Rekey::Requested { at }) => Some(at + REKEY_TIMEOUT),
            })
            .min()
    }

    /// True when some Child SA of table tunnel `t` is installed.
    pub(crate) fn any_in(&self, t: TunnelId) -> bool {
        self.list.iter().any(|c| c.tunnel == t && c.live())
    }

    /// Removes the inbound halves whose delay ran out.
    pub(crate) fn expire(&mut self, now: Instant, table: &mut esp::SaTable) {
        self.list.retain(|c| match c.retired_until {
            Some(t) if t <= now => {
                table.remove(c.handle);
                false
            }
            _ => true,
        });
    }

    /// Marks every Child SA of `c`'s proxy ID but the newest as replaced.
    fn regroup(&mut self, c: &ChildSa) {
        let newest = self.list.iter().rposition(|i| i.same_proxy_id(c));
        for (n, i) in self.list.iter_mut().enumerate() {
            if i.same_proxy_id(c) {
                i.replaced = Some(n) != newest;
                if i.replaced {
                    i.rekey = Rekey::Idle;
                }
            }
        }
    }
}

impl Gateway {
    /// Acts on one event of the endpoint, then queues it for the embedder.
    pub(crate) fn on_ike_event(&mut self, now: Instant, e: IkeEvent) {
        let mut failed = None;
        match &e {
            IkeEvent::ChildSaUp {
                gateway,
                role,
                child,
                suite,
                outbound,
                ..
            } => failed = self.install(now, gateway, (*role, *outbound), child, *suite),
            IkeEvent::ChildSaOutbound { inbound_spi, .. } => {
                if let Some(c) = self
                    .children
                    .list
                    .iter()
                    .find(|c| c.live() && c.child.inbound.spi == *inbound_spi)
                {
                    self.table.activate_outbound(c.handle);
                }
            }
            IkeEvent::ChildSaDown {
                inbound_spi,
                linger,
                ..
            } => self.remove(now, *inbound_spi, *linger),
            IkeEvent::IkeSaUp { gateway, sa, .. } => {
                self.ike_up.push((gateway.clone(), sa.spi_i, now));
            }
            IkeEvent::IkeSaDown { gateway, sa, .. } => {
                self.ike_up
                    .retain(|(g, spi, _)| !(g == gateway && *spi == sa.spi_i));
                self.reconnect_after_down(now, gateway);
            }
            _ => {}
        }
        self.events.push_back(Event::Ike(without_keys(e)));
        self.events.extend(failed);
    }

    fn install(
        &mut self,
        now: Instant,
        gateway: &str,
        (role, outbound): (Role, Outbound),
        child: &ChildSa,
        suite: EspSuite,
    ) -> Option<Event> {
        // A Child SA that answers the peer's rekey receives at once and sends once the peer
        // has it (its first packet, or ChildSaOutbound): the old SA carries our traffic until
        // then, so a lost answer loses nothing.
        let installed = match outbound {
            Outbound::Now => self.table.install(now, child),
            Outbound::Later => self.table.install_inbound(now, child),
        };
        let handle = match installed {
            Ok(h) => h,
            Err(e) => {
                // The SA is useless to both sides: its SPI goes back to the table, and IKE
                // deletes it so the peer stops sending on it.
                self.table.release_spi(child.inbound.spi);
                let _ = self
                    .endpoint
                    .with_spis(&mut self.table)
                    .delete_child_sa(now, child.inbound.spi);
                return Some(Event::InstallFailed {
                    name: match &child.proxy_id {
                        Some(p) => format!("{}:{p}", child.tunnel),
                        None => child.tunnel.clone(),
                    },
                    inbound_spi: child.inbound.spi,
                    error: e.to_string(),
                });
            }
        };
        let tunnel = self.table.tunnel(&child.tunnel)?;
        if let Some(ifc) = self.interfaces.of_tunnel(&child.tunnel) {
            if let Some(slot) = self.tunnel_ids.get_mut(ifc.index()) {
                *slot = Some(tunnel);
            }
        }
        let mut kept = child.clone();
        for k in [&mut kept.inbound, &mut kept.outbound] {
            k.encryption_key = Default::default();
            k.integrity_key = Default::default();
        }
        self.children.list.push(Installed {
            child: kept,
            suite,
            gateway: gateway.to_owned(),
            role,
            at: now,
            handle,
            tunnel,
            replaced: false,
            rekey: Rekey::Idle,
            retired_until: None,
        });
        self.children.regroup(child);
        self.start_monitor(now, &child.tunnel);
        None
    }

    /// IKE removed the SA: its outbound half goes now, its inbound half after `linger` (the
    /// endpoint's figure for an SA with a successor, for the packets still on their way).
    fn remove(&mut self, now: Instant, inbound_spi: u32, linger: Duration) {
        let list = &mut self.children.list;
        let Some(i) = list
            .iter()
            .position(|c| c.live() && c.child.inbound.spi == inbound_spi)
        else {
            return;
        };
        if linger > Duration::ZERO {
            let c = &mut list[i];
            self.table.retire(c.handle);
            c.retired_until = Some(now + linger);
            c.rekey = Rekey::Idle;
            let child = c.child.clone();
            self.children.regroup(&child);
        } else {
            let gone = list.remove(i);
            self.table.remove(gone.handle);
            self.children.regroup(&gone.child);
        }
    }

    /// Acts on a lifetime event of the datapath.
    pub(crate) fn on_table_event(&mut self, now: Instant, te: TableEvent) {
        let (hard, kind) = match te.event {
            SaEvent::SoftExpired(k) => (false, k),
            SaEvent::HardExpired(k) => (true, k),
        };
        if kind == LimitKind::Time {
            // The endpoint rekeys and deletes on time by itself.
            return;
        }
        let found = self.children.list.iter_mut().find(|c| {
            if !c.live() {
                // Only its inbound half is left, and IKE has deleted it.
                false
            } else if te.outbound {
                c.tunnel == te.tunnel && c.child.outbound.spi == te.spi
            } else {
                c.child.inbound.spi == te.spi
            }
        });
        let Some(c) = found else { return };
        let action = if c.replaced {
            LifetimeAction::Replaced
        } else {
            match (c.rekey, hard, te.outbound) {
                (Rekey::Requested { .. }, _, _) => LifetimeAction::Rekey,
                (_, true, _) | (_, false, true) => {
                    c.rekey = Rekey::Wanted { due: now };
                    LifetimeAction::Rekey
                }
                (Rekey::Wanted { due }, false, false) => {
                    c.rekey = Rekey::Wanted { due };
                    LifetimeAction::RekeyPending
                }
                (Rekey::Idle, false, false) => {
                    c.rekey = Rekey::Wanted {
                        due: now + INBOUND_GRACE,
                    };
                    LifetimeAction::RekeyPending
                }
            }
        };
        let event = Event::Lifetime {
            name: c.name(),
            inbound_spi: c.child.inbound.spi,
            outbound_spi: c.child.outbound.spi,
            outbound: te.outbound,
            event: te.event,
            action,
        };
        self.events.push_back(event);
    }

    /// Asks the endpoint for the rekeys that are due, each for its own Child SA.
    pub(crate) fn service_rekeys(&mut self, now: Instant) {
        for c in self.children.list.iter_mut() {
            if let Rekey::Requested { at } = c.rekey {
                if now >= at + REKEY_TIMEOUT {
                    c.rekey = Rekey::Wanted { due: now };
                }
            }
        }
        let due: Vec<u32> = self
            .children
            .list
            .iter()
            .filter(|c| c.live() && !c.replaced)
            .filter(|c| matches!(c.rekey, Rekey::Wanted { due } if due <= now))
            .map(|c| c.child.inbound.spi)
            .collect();
        for spi in due {
            let next = match self
                .endpoint
                .with_spis(&mut self.table)
                .rekey_child_sa(now, spi)
            {
                Ok(()) => Rekey::Requested { at: now },
                Err(_) => Rekey::Wanted {
                    due: now + RETRY_WAIT,
                },
            };
            if let Some(c) = self
                .children
                .list
                .iter_mut()
                .find(|c| c.live() && c.child.inbound.spi == spi)
            {
                c.rekey = next;
            }
        }
    }
}
