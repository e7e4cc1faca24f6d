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
//!   and the peer most likely rekeys first (one rekey, not a collision). Meanwhile the gateway
//!   watches the SA's traffic ([`GRACE_CHECK`]): should it reach the hard limit within a rekey
//!   exchange's time ([`REKEY_LEAD`]) at its rate since the soft limit, the gateway rekeys at
//!   once (a peer with a larger byte lifetime, or none, never rekeys first, and waiting would
//!   lose what arrives after the hard limit);
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
use esp::{ChildHandle, LimitKind, SaCounters, SaEvent, SpiAllocator, TableEvent, TunnelId};
use ikev2::proposal::EspSuite;
use ikev2::{Event as IkeEvent, Outbound, Role};
use ipsec_core::child_sa::ChildSa;
use ipsec_core::time::Instant;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;

/// Wait after an inbound soft limit before rekeying ourselves.
pub(crate) const INBOUND_GRACE: Duration = Duration::from_secs(2);
/// While an inbound soft limit waits, its SA's traffic is looked at this often.
const GRACE_CHECK: Duration = Duration::from_millis(50);
/// A rekey exchange's time, generously: an inbound SA whose hard limit is nearer than this at
/// its current rate is rekeyed without waiting for the peer.
const REKEY_LEAD: Duration = Duration::from_millis(500);
/// A requested rekey that produced no new Child SA after this long is asked again.
const REKEY_TIMEOUT: Duration = Duration::from_secs(30);
/// Wait before asking again when the endpoint refused (no IKE SA established).
const RETRY_WAIT: Duration = Duration::from_secs(1);

/// Where a Child SA stands with respect to a datapath-driven rekey.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rekey {
    Idle,
    /// The inbound half reached its soft limit of `kind` at `since`, with `count` bytes or
    /// packets on it: the peer most likely rekeys first. Wait for it until `until`, looking at
    /// `check` whether the traffic since would reach the hard limit first.
    Grace {
        kind: LimitKind,
        since: Instant,
        count: u64,
        check: Instant,
        until: Instant,
    },
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
    /// A newer Child SA of the same proxy ID with the same peer is installed; IKE deletes this
    /// one.
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

    /// Installed and not retired.
    pub(crate) fn live(&self) -> bool {
        self.retired_until.is_none()
    }
}

/// A group of Child SAs that replace one another: one tunnel's proxy ID with one peer. A
/// dynamic-peer gateway brings up the same proxy ID with many peers at once; each peer's Child
/// SAs replace only one another (a rekey stays on its IKE SA, and so with its peer's address).
type GroupKey = (String, Option<String>, SocketAddr);

/// The installed Child SAs, oldest first, with the indexes that spare every input a walk over
/// them: by inbound SPI, by tunnel and outbound SPI, by proxy ID (the newest of each is the
/// one not replaced) and by deadline (retired SAs' removal, rekeys due or overdue).
#[derive(Clone, Debug, Default)]
pub(crate) struct ChildSas {
    /// By install order. Boxed: a B-tree moves its values within a node on every insert and
    /// removal, and an installed Child SA is large.
    list: BTreeMap<u64, Box<Installed>>,
    next: u64,
    /// Inbound SPI -> entry, retired ones included (the table keeps their inbound halves, so
    /// the SPI is not reused while they are here).
    by_spi: HashMap<u32, u64>,
    /// Live entries by table tunnel and outbound SPI (the peer's SPIs are unique only per
    /// peer: several peers of one tunnel may have chosen the same), oldest first.
    by_out: HashMap<(TunnelId, u32), Vec<u64>>,
    /// Live entries by proxy ID and peer, oldest first.
    groups: HashMap<GroupKey, BTreeSet<u64>>,
    /// Live entries per table tunnel.
    live_in: HashMap<TunnelId, usize>,
    /// Every entry's next deadline.
    deadlines: BTreeSet<(Instant, u64)>,
}

impl Installed {
    fn group(&self) -> GroupKey {
        (
            self.child.tunnel.clone(),
            self.child.proxy_id.clone(),
            self.child.remote_addr,
        )
    }

    /// When the gateway must next look at it: its removal when retired, else its rekey.
    fn deadline(&self) -> Option<Instant> {
        match (self.retired_until, self.rekey) {
            (Some(t), _) => Some(t),
            (None, Rekey::Idle) => None,
            (None, Rekey::Grace { check, .. }) => Some(check),
            (None, Rekey::Wanted { due }) => Some(due),
            (None, Rekey::Requested { at }) => Some(at + REKEY_TIMEOUT),
        }
    }
}

impl ChildSas {
    /// The installed Child SAs, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Installed> {
        self.list.values().map(|c| &**c)
    }

    /// True when a rekey may be due at `now`.
    pub(crate) fn has_rekey_work(&self, now: Instant) -> bool {
        self.deadlines.first().is_some_and(|(t, _)| *t <= now)
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// True when some Child SA of table tunnel `t` is installed.
    pub(crate) fn any_in(&self, t: TunnelId) -> bool {
        self.live_in.get(&t).is_some_and(|n| *n > 0)
    }

    /// The live entry with inbound SPI `spi`.
    fn live_by_spi(&self, spi: u32) -> Option<u64> {
        let k = *self.by_spi.get(&spi)?;
        self.list.get(&k).filter(|c| c.live()).map(|_| k)
    }

    /// Adds a newly installed Child SA: the newest of its proxy ID with its peer, which replaces
    /// the one before it.
    fn push(&mut self, c: Installed) {
        let k = self.next;
        self.next += 1;
        self.by_spi.insert(c.child.inbound.spi, k);
        let group = c.group();
        self.list.insert(k, Box::new(c));
        self.join(k, group);
    }

    /// `k` becomes live in `group` as its newest member.
    fn join(&mut self, k: u64, group: GroupKey) {
        let Some(c) = self.list.get(&k) else { return };
        let (tunnel, out) = (c.tunnel, c.child.outbound.spi);
        self.by_out.entry((tunnel, out)).or_default().push(k);
        *self.live_in.entry(tunnel).or_default() += 1;
        let members = self.groups.entry(group).or_default();
        let before = members.last().copied();
        members.insert(k);
        if let Some(b) = before {
            self.set_replaced(b, true);
        }
        self.set_replaced(k, false);
    }

    /// `k` stops being live (retired or removed): the member before it in its group, if it was
    /// the newest, is the newest again.
    fn leave(&mut self, k: u64) {
        let Some(c) = self.list.get(&k) else { return };
        let (tunnel, out, group) = (c.tunnel, c.child.outbound.spi, c.group());
        if let Some(v) = self.by_out.get_mut(&(tunnel, out)) {
            v.retain(|x| *x != k);
            if v.is_empty() {
                self.by_out.remove(&(tunnel, out));
            }
        }
        if let Some(n) = self.live_in.get_mut(&tunnel) {
            *n -= 1;
            if *n == 0 {
                self.live_in.remove(&tunnel);
            }
        }
        let mut newest = None;
        if let Some(members) = self.groups.get_mut(&group) {
            let was_newest = members.last() == Some(&k);
            members.remove(&k);
            if was_newest {
                newest = members.last().copied();
            }
            if members.is_empty() {
                self.groups.remove(&group);
            }
        }
        if let Some(n) = newest {
            self.set_replaced(n, false);
        }
    }

    /// Marks `k` replaced by a newer Child SA of its group (IKE deletes it; no rekey for it any
    /// more), or not.
    fn set_replaced(&mut self, k: u64, replaced: bool) {
        let Some(c) = self.list.get_mut(&k) else {
            return;
        };
        let was = c.deadline();
        c.replaced = replaced;
        if replaced {
            c.rekey = Rekey::Idle;
        }
        self.refile(k, was);
    }

    /// Sets the rekey state of `k`.
    fn set_rekey(&mut self, k: u64, rekey: Rekey) {
        let Some(c) = self.list.get_mut(&k) else {
            return;
        };
        let was = c.deadline();
        c.rekey = rekey;
        self.refile(k, was);
    }

    /// Moves `k` from deadline `was` to its current one.
    fn refile(&mut self, k: u64, was: Option<Instant>) {
        let now = self.list.get(&k).and_then(|c| c.deadline());
        if now != was {
            if let Some(t) = was {
                self.deadlines.remove(&(t, k));
            }
            if let Some(t) = now {
                self.deadlines.insert((t, k));
            }
        }
    }

    /// Retires `k`, deleted by IKE after a rekey: only its inbound half is left, until `until`.
    fn retire(&mut self, k: u64, until: Instant) {
        if !self.list.get(&k).is_some_and(|c| c.live()) {
            return;
        }
        self.leave(k);
        let Some(c) = self.list.get_mut(&k) else {
            return;
        };
        let was = c.deadline();
        c.retired_until = Some(until);
        c.rekey = Rekey::Idle;
        self.refile(k, was);
    }

    /// Takes `k` out of every index and the list.
    fn take(&mut self, k: u64) -> Option<Box<Installed>> {
        let c = self.list.get(&k)?;
        if c.live() {
            self.leave(k);
        }
        let c = self.list.remove(&k)?;
        if let Some(t) = c.deadline() {
            self.deadlines.remove(&(t, k));
        }
        if self.by_spi.get(&c.child.inbound.spi) == Some(&k) {
            self.by_spi.remove(&c.child.inbound.spi);
        }
        Some(c)
    }

    /// The entries whose deadline is at or before `now`.
    fn due(&self, now: Instant) -> Vec<u64> {
        self.deadlines
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, k)| *k)
            .collect()
    }

    /// Removes the inbound halves whose delay ran out.
    pub(crate) fn expire(&mut self, now: Instant, table: &mut esp::SaTable) {
        for k in self.due(now) {
            let gone = self
                .list
                .get(&k)
                .is_some_and(|c| c.retired_until.is_some_and(|t| t <= now));
            if gone {
                if let Some(c) = self.take(k) {
                    table.remove(c.handle);
                }
            }
        }
    }
}

/// The bytes or packets of `counters` that limit `kind` counts.
fn count_of(kind: LimitKind, counters: &SaCounters) -> u64 {
    match kind {
        LimitKind::Packets => counters.packets,
        _ => counters.bytes,
    }
}

/// Where the inbound soft limit of `c` stands at its check at `now`, given the inbound half's
/// `counters`: the grace is over, or the traffic since the soft limit would reach the hard
/// limit within [`REKEY_LEAD`] at its rate (rekey now), or the gateway looks again later.
fn after_grace_check(c: &Installed, counters: Option<&SaCounters>, now: Instant) -> Rekey {
    let Rekey::Grace {
        kind,
        since,
        count,
        until,
        ..
    } = c.rekey
    else {
        return c.rekey;
    };
    if now >= until {
        return Rekey::Wanted { due: now };
    }
    let l = &c.child.lifetimes;
    let hard = match kind {
        LimitKind::Bytes => l.hard_bytes,
        LimitKind::Packets => l.hard_packets,
        LimitKind::Time | LimitKind::SequenceNumber => None,
    };
    if let (Some(hard), Some(counters)) = (hard, counters) {
        let used = count_of(kind, counters);
        let moved = used.saturating_sub(count);
        if moved > 0 {
            // At the rate since the soft limit, the hard limit is this far off.
            let elapsed = now.saturating_duration_since(since);
            let ratio = hard.saturating_sub(used) as f64 / moved as f64;
            // Far beyond any `Duration` (a limit near 2^64): far off.
            let left =
                Duration::try_from_secs_f64(elapsed.as_secs_f64() * ratio).unwrap_or(Duration::MAX);
            if left <= REKEY_LEAD {
                return Rekey::Wanted { due: now };
            }
        }
    }
    Rekey::Grace {
        kind,
        since,
        count,
        check: (now + GRACE_CHECK).min(until),
        until,
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
                let live = self.children.live_by_spi(*inbound_spi);
                if let Some(c) = live.and_then(|k| self.children.list.get(&k)) {
                    self.table.activate_outbound(c.handle);
                }
            }
            IkeEvent::ChildSaDown {
                inbound_spi,
                linger,
                ..
            } => self.remove(now, *inbound_spi, *linger),
            IkeEvent::IkeSaUp { gateway, sa, .. } => {
                self.ike_up.insert((gateway.clone(), sa.spi_i), now);
            }
            IkeEvent::IkeSaDown { gateway, sa, .. } => {
                self.ike_up.remove(&(gateway.clone(), sa.spi_i));
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
        self.children.push(Installed {
            child: child.without_keys(),
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
        self.start_monitor(now, &child.tunnel);
        None
    }

    /// IKE removed the SA: its outbound half goes now, its inbound half after `linger` (the
    /// endpoint's figure for an SA with a successor, for the packets still on their way).
    fn remove(&mut self, now: Instant, inbound_spi: u32, linger: Duration) {
        let Some(k) = self.children.live_by_spi(inbound_spi) else {
            return;
        };
        if linger > Duration::ZERO {
            if let Some(c) = self.children.list.get(&k) {
                self.table.retire(c.handle);
            }
            self.children.retire(k, now + linger);
        } else if let Some(gone) = self.children.take(k) {
            self.table.remove(gone.handle);
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
        // Only live SAs: a retired one has only its inbound half left, and IKE has deleted it.
        let found = if te.outbound {
            let oldest = self.children.by_out.get(&(te.tunnel, te.spi));
            oldest.and_then(|v| v.first()).copied()
        } else {
            self.children.live_by_spi(te.spi)
        };
        let Some((k, c)) = found.and_then(|k| Some((k, self.children.list.get(&k)?))) else {
            return;
        };
        let (action, rekey) = if c.replaced {
            (LifetimeAction::Replaced, None)
        } else {
            match (c.rekey, hard, te.outbound) {
                (Rekey::Requested { .. }, _, _) => (LifetimeAction::Rekey, None),
                (_, true, _) | (_, false, true) => {
                    (LifetimeAction::Rekey, Some(Rekey::Wanted { due: now }))
                }
                (Rekey::Wanted { .. } | Rekey::Grace { .. }, false, false) => {
                    (LifetimeAction::RekeyPending, None)
                }
                (Rekey::Idle, false, false) => {
                    let counters = self.table.inbound_counters(te.spi);
                    (
                        LifetimeAction::RekeyPending,
                        Some(Rekey::Grace {
                            kind,
                            since: now,
                            count: counters.map_or(0, |x| count_of(kind, &x)),
                            check: now + GRACE_CHECK,
                            until: now + INBOUND_GRACE,
                        }),
                    )
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
        if let Some(r) = rekey {
            self.children.set_rekey(k, r);
        }
        self.events.push_back(event);
    }

    /// Asks the endpoint for the rekeys that are due, each for its own Child SA.
    pub(crate) fn service_rekeys(&mut self, now: Instant) {
        let mut ask = Vec::new();
        for k in self.children.due(now) {
            let Some(c) = self.children.list.get(&k) else {
                continue;
            };
            if !c.live() {
                // Its removal is due: `expire`'s business.
                continue;
            }
            match c.rekey {
                Rekey::Requested { at } if now >= at + REKEY_TIMEOUT => {
                    self.children.set_rekey(k, Rekey::Wanted { due: now });
                }
                Rekey::Grace { .. } => {
                    let counters = self.table.inbound_counters(c.child.inbound.spi);
                    let next = after_grace_check(c, counters.as_ref(), now);
                    self.children.set_rekey(k, next);
                }
                _ => {}
            }
            if let Some(c) = self.children.list.get(&k) {
                if !c.replaced && matches!(c.rekey, Rekey::Wanted { due } if due <= now) {
                    ask.push((k, c.child.inbound.spi));
                }
            }
        }
        for (k, spi) in ask {
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
            if self.children.list.get(&k).is_some_and(|c| c.live()) {
                self.children.set_rekey(k, next);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ikev2::proposal::EspSuite;
    use ipsec_core::child_sa::{DirectionKeys, IpsecProtocol, Lifetimes, Mode};
    use ipsec_core::crypto::{default_provider, DhGroup, EncrId, Encryption, IntegId, SecretBytes};
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        /// Install in tunnel `t%2`, proxy ID `p%3`, with peer `r%2`, with this outbound SPI.
        Install(u8, u8, u8, u8),
        Retire(usize, u8),
        Take(usize),
        Rekey(usize, u8, u8),
        /// Time passes (seconds) and the removals due are carried out.
        Expire(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u8>(), any::<u8>(), any::<u8>(), 0u8..4)
                .prop_map(|(t, p, r, o)| Op::Install(t, p, r, o)),
            1 => (any::<usize>(), 1u8..20).prop_map(|(i, s)| Op::Retire(i, s)),
            1 => any::<usize>().prop_map(Op::Take),
            2 => (any::<usize>(), 0u8..4, 0u8..60).prop_map(|(i, k, s)| Op::Rekey(i, k, s)),
            1 => (0u8..20).prop_map(Op::Expire),
        ]
    }

    fn child(tunnel: u8, proxy: u8, peer: u8, spi_in: u32, spi_out: u32) -> ChildSa {
        let keys = |spi| DirectionKeys {
            spi,
            encryption_key: SecretBytes::from_slice(&[7; 20]),
            integrity_key: SecretBytes::default(),
        };
        ChildSa {
            tunnel: format!("t{}", tunnel % 2),
            proxy_id: Some(format!("p{}", proxy % 3)),
            protocol: IpsecProtocol::Esp,
            mode: Mode::Tunnel,
            encryption: Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
            integrity: IntegId::NONE,
            esn: false,
            inbound: keys(spi_in),
            outbound: keys(spi_out),
            local_ts: vec![],
            remote_ts: vec![],
            local_addr: "192.0.2.1:4500".parse().unwrap(),
            remote_addr: SocketAddr::new([192, 0, 2, 2 + peer % 2].into(), 4500),
            encapsulation: None,
            lifetimes: Lifetimes::default(),
            replay_window: 64,
            tfc_padding: false,
        }
    }

    /// Every index of `c` against a walk over its entries.
    fn check(c: &ChildSas, now: Instant) -> Result<(), TestCaseError> {
        let all: Vec<(u64, &Installed)> = c.list.iter().map(|(k, i)| (*k, &**i)).collect();
        let scan = all.iter().filter_map(|(_, i)| i.deadline()).min();
        prop_assert_eq!(c.poll_timeout(), scan);
        let mut due: Vec<(Instant, u64)> = all
            .iter()
            .filter_map(|(k, i)| i.deadline().filter(|t| *t <= now).map(|t| (t, *k)))
            .collect();
        due.sort();
        prop_assert_eq!(c.due(now), due.iter().map(|(_, k)| *k).collect::<Vec<_>>());
        for (k, i) in &all {
            let spi = i.child.inbound.spi;
            prop_assert_eq!(c.live_by_spi(spi), i.live().then_some(*k));
            prop_assert!(c.any_in(i.tunnel) || !i.live());
            if i.live() {
                let same = |j: &Installed| {
                    j.live()
                        && j.child.tunnel == i.child.tunnel
                        && j.child.proxy_id == i.child.proxy_id
                        && j.child.remote_addr == i.child.remote_addr
                };
                let newest = all.iter().rev().find(|(_, j)| same(j)).map(|(k, _)| *k);
                prop_assert_eq!(i.replaced, newest != Some(*k), "entry {}", k);
                if i.replaced {
                    prop_assert_eq!(i.rekey, Rekey::Idle);
                }
                let oldest = all
                    .iter()
                    .find(|(_, j)| {
                        j.live()
                            && j.tunnel == i.tunnel
                            && j.child.outbound.spi == i.child.outbound.spi
                    })
                    .map(|(k, _)| *k);
                let indexed = c.by_out.get(&(i.tunnel, i.child.outbound.spi));
                prop_assert_eq!(indexed.and_then(|v| v.first()).copied(), oldest);
            }
        }
        let live = all.iter().filter(|(_, i)| i.live()).count();
        prop_assert_eq!(c.live_in.values().sum::<usize>(), live);
        Ok(())
    }

    #[test]
    fn an_inbound_soft_limit_waits_for_the_peer_only_while_the_hard_limit_is_far() {
        let mut table = esp::SaTable::new(default_provider());
        let spi = table.allocate_spi().unwrap();
        let mut ch = child(0, 0, 0, spi, 0x100);
        // Soft at 90 KB, hard at 100 KB.
        ch.lifetimes.soft_bytes = Some(90_000);
        ch.lifetimes.hard_bytes = Some(100_000);
        let handle = table.install(Instant::ZERO, &ch).unwrap();
        let t0 = Instant::from_secs(10);
        let mut c = Installed {
            child: ch,
            suite: EspSuite {
                encryption: Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
                integrity: IntegId::NONE,
                dh: DhGroup::NONE,
                esn: false,
            },
            gateway: "gw".into(),
            role: Role::Responder,
            at: Instant::ZERO,
            handle,
            tunnel: table.tunnel("t0").unwrap(),
            replaced: false,
            rekey: Rekey::Grace {
                kind: LimitKind::Bytes,
                since: t0,
                count: 90_000,
                check: t0 + GRACE_CHECK,
                until: t0 + INBOUND_GRACE,
            },
            retired_until: None,
        };
        let seen = |bytes| SaCounters {
            bytes,
            ..SaCounters::default()
        };
        let at = t0 + GRACE_CHECK;
        // 1 KB in 50 ms: the 9 KB left last 450 ms, within a rekey's time: rekey now.
        assert_eq!(
            after_grace_check(&c, Some(&seen(91_000)), at),
            Rekey::Wanted { due: at }
        );
        // 100 bytes in 50 ms: 4.95 s left, wait on and look again.
        let next = after_grace_check(&c, Some(&seen(90_100)), at);
        assert!(matches!(next, Rekey::Grace { check, .. } if check == at + GRACE_CHECK));
        // Nothing since the soft limit: wait on.
        assert!(matches!(
            after_grace_check(&c, Some(&seen(90_000)), at),
            Rekey::Grace { .. }
        ));
        // The grace is over: rekey, however slow the traffic.
        let end = t0 + INBOUND_GRACE;
        assert_eq!(
            after_grace_check(&c, Some(&seen(90_000)), end),
            Rekey::Wanted { due: end }
        );
        // A hard limit too far off for a `Duration` at this rate (one byte in 1.5 s): wait on.
        c.child.lifetimes.hard_bytes = Some(u64::MAX);
        assert!(matches!(
            after_grace_check(&c, Some(&seen(90_001)), t0 + Duration::from_millis(1500)),
            Rekey::Grace { .. }
        ));
        // Without a hard byte limit only the grace's end rekeys.
        c.child.lifetimes.hard_bytes = None;
        assert!(matches!(
            after_grace_check(&c, Some(&seen(99_999)), at),
            Rekey::Grace { .. }
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Under random installs, retirements, removals, rekey states and time, the indexes say
        /// what a walk over every Child SA would: the next deadline, what is due, the live SA
        /// of an inbound SPI, the oldest of a tunnel's outbound SPI, which SAs are replaced.
        #[test]
        fn the_indexes_agree_with_a_walk(ops in proptest::collection::vec(op(), 1..200)) {
            let mut table = esp::SaTable::new(default_provider());
            let mut c = ChildSas::default();
            let mut now = Instant::from_secs(1);
            let suite = EspSuite {
                encryption: Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
                integrity: IntegId::NONE,
                dh: DhGroup::NONE,
                esn: false,
            };
            for op in ops {
                let keys: Vec<u64> = c.list.keys().copied().collect();
                let pick = |i: usize| (!keys.is_empty()).then(|| keys[i % keys.len()]);
                match op {
                    Op::Install(t, p, r, o) => {
                        let spi = table.allocate_spi().unwrap();
                        let ch = child(t, p, r, spi, 0x100 + u32::from(o));
                        let handle = table.install(now, &ch).unwrap();
                        let tunnel = table.tunnel(&ch.tunnel).unwrap();
                        c.push(Installed {
                            child: ch,
                            suite,
                            gateway: "gw".into(),
                            role: Role::Responder,
                            at: now,
                            handle,
                            tunnel,
                            replaced: false,
                            rekey: Rekey::Idle,
                            retired_until: None,
                        });
                    }
                    Op::Retire(i, s) => {
                        if let Some(k) = pick(i) {
                            c.retire(k, now + Duration::from_secs(s.into()));
                        }
                    }
                    Op::Take(i) => {
                        if let Some(k) = pick(i) {
                            let gone = c.take(k).unwrap();
                            table.remove(gone.handle);
                        }
                    }
                    Op::Rekey(i, kind, s) => {
                        if let Some(k) = pick(i) {
                            let at = now + Duration::from_secs(s.into());
                            let r = match kind {
                                0 => Rekey::Idle,
                                1 => Rekey::Wanted { due: at },
                                2 => Rekey::Grace {
                                    kind: LimitKind::Bytes,
                                    since: now,
                                    count: 0,
                                    check: at,
                                    until: at + INBOUND_GRACE,
                                },
                                _ => Rekey::Requested { at },
                            };
                            // As the gateway does: never for a replaced or retired SA.
                            if c.list.get(&k).is_some_and(|x| x.live() && !x.replaced) {
                                c.set_rekey(k, r);
                            }
                        }
                    }
                    Op::Expire(s) => {
                        now += Duration::from_secs(s.into());
                        c.expire(now, &mut table);
                        prop_assert!(c.list.values().all(|i| i.retired_until.is_none_or(|t| t > now)));
                    }
                }
                check(&c, now)?;
            }
        }
    }
}
