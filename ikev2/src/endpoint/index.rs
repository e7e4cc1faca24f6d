//! The endpoint's indexes over its IKE SAs, so that no input, command or timeout walks them all.
//!
//! Each IKE SA says what it is (its next deadline, its phase, its peer, its Child SAs); the
//! endpoint files it accordingly after every input or command that touched it
//! ([`Endpoint::refile`]), and only then. What it filed is kept beside the SA ([`Filed`]), so
//! refiling moves an SA from its old entries to its new ones in O(log n):
//!
//! - one deadline index for every timer of every SA: a set of (deadline, SA) pairs, whose first
//!   entry is [`poll_timeout`](Endpoint::poll_timeout) and whose due entries are what
//!   [`handle_timeout`](Endpoint::handle_timeout) visits;
//! - the half-open count, in total and per peer address, for the cookie threshold and the
//!   half-open limits;
//! - the usable and negotiating SAs of each gateway (commands, `connect`), the usable SAs by peer
//!   address (INVALID_SPI), the authenticated SAs by peer identity (INITIAL_CONTACT) and the
//!   carrier of each Child SA by inbound SPI;
//! - dead SAs leave every index and the table the moment they are refiled.

use super::{Endpoint, IkeSa};
use crate::event::Role;
use crate::identity::Identity;
use core::hash::{Hash, Hasher};
use ipsec_core::time::Instant;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};

/// Where an IKE SA stands for the gateway-wide lookups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// Established and not superseded: commands use it.
    Usable,
    /// Not yet authenticated: `connect` waits for it.
    Negotiating,
    /// Superseded (or about to be reaped).
    Other,
}

/// What an IKE SA is filed under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Filed {
    deadline: Option<Instant>,
    standing: Standing,
    /// A responder's half-open SA: the peer address it counts against.
    half_open: Option<IpAddr>,
    /// Usable: the peer's address.
    usable_at: Option<IpAddr>,
    /// Authenticated: a hash of the peer's identity.
    peer: Option<u64>,
    /// The inbound SPIs of its Child SAs.
    children: Vec<u32>,
    /// A half-open responder SA made by IKE_SA_INIT: the initiator's address and SPI it
    /// answered, under which a retransmission of that request finds it.
    pub(super) init: Option<(SocketAddr, u64)>,
    /// Its IKE_SA_INIT carried a valid cookie: the initiator receives at its address.
    pub(super) proven: bool,
}

impl Filed {
    fn of(sa: &IkeSa, was: Option<&Filed>) -> Self {
        let standing = if sa.is_usable() {
            Standing::Usable
        } else if sa.is_negotiating() {
            Standing::Negotiating
        } else {
            Standing::Other
        };
        Filed {
            deadline: sa.next_deadline(),
            standing,
            half_open: sa.is_half_open().then(|| sa.remote().ip()),
            usable_at: (standing == Standing::Usable).then(|| sa.remote().ip()),
            peer: sa.peer_id().map(identity_hash),
            children: sa.children().map(|c| c.inbound.spi).collect(),
            init: was.and_then(|w| w.init),
            proven: was.is_some_and(|w| w.proven),
        }
    }
}

/// A hash of a peer identity, to find the SAs with it (compared in full afterwards).
pub(super) fn identity_hash(id: &Identity) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// The usable and negotiating IKE SAs of one gateway.
#[derive(Debug, Default)]
struct GatewaySas {
    usable: BTreeSet<u64>,
    negotiating: BTreeSet<u64>,
}

/// The indexes, kept in step with the SAs by [`Endpoint::refile`].
#[derive(Debug, Default)]
pub(super) struct Index {
    /// What each SA is filed under.
    pub(super) filed: HashMap<u64, Filed>,
    /// Every SA's next deadline.
    deadlines: BTreeSet<(Instant, u64)>,
    /// Half-open responder SAs, in total and per peer address.
    pub(super) half_open: usize,
    half_open_by_addr: HashMap<IpAddr, u32>,
    by_gateway: HashMap<String, GatewaySas>,
    usable_by_addr: BTreeSet<(IpAddr, u64)>,
    by_peer: BTreeSet<(u64, u64)>,
    by_child: HashMap<u32, u64>,
}

impl Index {
    /// The earliest deadline of any SA.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Takes the SAs due at `now` off the deadline index (they are filed again after they ran).
    pub(super) fn take_due(&mut self, now: Instant) -> Vec<u64> {
        let mut due = Vec::new();
        while let Some(&(t, key)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(f) = self.filed.get_mut(&key) {
                f.deadline = None;
            }
            due.push(key);
        }
        due
    }

    /// Half-open SAs from `addr`.
    pub(super) fn half_open_from(&self, addr: IpAddr) -> usize {
        self.half_open_by_addr.get(&addr).map_or(0, |n| *n as usize)
    }

    /// The first usable SA of `gateway`.
    pub(super) fn usable(&self, gateway: &str) -> Option<u64> {
        self.by_gateway.get(gateway)?.usable.first().copied()
    }

    /// The usable SAs of `gateway`.
    pub(super) fn usable_of(&self, gateway: &str) -> impl Iterator<Item = u64> + '_ {
        self.by_gateway
            .get(gateway)
            .into_iter()
            .flat_map(|g| g.usable.iter().copied())
    }

    /// The SAs of `gateway` in negotiation.
    pub(super) fn negotiating_of(&self, gateway: &str) -> impl Iterator<Item = u64> + '_ {
        self.by_gateway
            .get(gateway)
            .into_iter()
            .flat_map(|g| g.negotiating.iter().copied())
    }

    /// The first usable SA with the peer at `addr`.
    pub(super) fn usable_at(&self, addr: IpAddr) -> Option<u64> {
        self.usable_by_addr
            .range((addr, 0)..=(addr, u64::MAX))
            .next()
            .map(|(_, k)| *k)
    }

    /// The authenticated SAs whose peer identity hashes to `hash`.
    pub(super) fn with_peer(&self, hash: u64) -> Vec<u64> {
        self.by_peer
            .range((hash, 0)..=(hash, u64::MAX))
            .map(|(_, k)| *k)
            .collect()
    }

    /// The SA that carries the Child SA with inbound SPI `spi`.
    pub(super) fn carrier(&self, spi: u32) -> Option<u64> {
        self.by_child.get(&spi).copied()
    }

    /// Moves `key` of `gateway` from the entries of `old` to those of `new`.
    fn update(&mut self, key: u64, gateway: &str, old: Option<&Filed>, new: Option<&Filed>) {
        let deadline = |f: Option<&Filed>| f.and_then(|f| f.deadline);
        if deadline(old) != deadline(new) {
            if let Some(t) = deadline(old) {
                self.deadlines.remove(&(t, key));
            }
            if let Some(t) = deadline(new) {
                self.deadlines.insert((t, key));
            }
        }
        let half_open = |f: Option<&Filed>| f.and_then(|f| f.half_open);
        if half_open(old) != half_open(new) {
            if let Some(a) = half_open(old) {
                self.half_open -= 1;
                if let Some(n) = self.half_open_by_addr.get_mut(&a) {
                    *n -= 1;
                    if *n == 0 {
                        self.half_open_by_addr.remove(&a);
                    }
                }
            }
            if let Some(a) = half_open(new) {
                self.half_open += 1;
                *self.half_open_by_addr.entry(a).or_default() += 1;
            }
        }
        let standing = |f: Option<&Filed>| f.map_or(Standing::Other, |f| f.standing);
        if standing(old) != standing(new) {
            fn set(sas: &mut GatewaySas, s: Standing) -> Option<&mut BTreeSet<u64>> {
                match s {
                    Standing::Usable => Some(&mut sas.usable),
                    Standing::Negotiating => Some(&mut sas.negotiating),
                    Standing::Other => None,
                }
            }
            if let Some(g) = self.by_gateway.get_mut(gateway) {
                if let Some(s) = set(g, standing(old)) {
                    s.remove(&key);
                }
                if g.usable.is_empty() && g.negotiating.is_empty() {
                    self.by_gateway.remove(gateway);
                }
            }
            if standing(new) != Standing::Other {
                // The gateway's name is copied only for its first SA.
                let g = match self.by_gateway.get_mut(gateway) {
                    Some(g) => g,
                    None => self.by_gateway.entry(gateway.to_owned()).or_default(),
                };
                if let Some(s) = set(g, standing(new)) {
                    s.insert(key);
                }
            }
        }
        let usable_at = |f: Option<&Filed>| f.and_then(|f| f.usable_at);
        if usable_at(old) != usable_at(new) {
            if let Some(a) = usable_at(old) {
                self.usable_by_addr.remove(&(a, key));
            }
            if let Some(a) = usable_at(new) {
                self.usable_by_addr.insert((a, key));
            }
        }
        let peer = |f: Option<&Filed>| f.and_then(|f| f.peer);
        if peer(old) != peer(new) {
            if let Some(p) = peer(old) {
                self.by_peer.remove(&(p, key));
            }
            if let Some(p) = peer(new) {
                self.by_peer.insert((p, key));
            }
        }
        fn children(f: Option<&Filed>) -> &[u32] {
            f.map_or(&[], |f| &f.children)
        }
        if children(old) != children(new) {
            for spi in children(old) {
                if self.by_child.get(spi) == Some(&key) {
                    self.by_child.remove(spi);
                }
            }
            for spi in children(new) {
                self.by_child.insert(*spi, key);
            }
        }
    }
}

impl Endpoint {
    /// Files the SA under `key` by what it is now, after an input or command touched it; a dead
    /// SA leaves the table (and its tunnels are scheduled to come back, as they should).
    pub(super) fn refile(&mut self, now: Instant, key: u64) {
        let Some(sa) = self.sas.get(&key) else {
            return;
        };
        if sa.cause().is_some() {
            if let Some(sa) = self.remove_sa(key) {
                self.bury(now, &sa);
            }
            return;
        }
        let old = self.index.filed.remove(&key);
        let mut new = Filed::of(sa, old.as_ref());
        if new.half_open.is_none() {
            // Past IKE_SA_INIT: its request is no longer answered again.
            if let Some(init) = new.init.take() {
                if self.init_index.get(&init) == Some(&key) {
                    self.init_index.remove(&init);
                }
            }
        }
        if old.as_ref() != Some(&new) {
            self.index
                .update(key, sa.gateway(), old.as_ref(), Some(&new));
        }
        self.index.filed.insert(key, new);
    }

    /// Removes the SA under `key` from every index.
    pub(super) fn unfile(&mut self, key: u64, sa: &IkeSa) {
        let Some(old) = self.index.filed.remove(&key) else {
            return;
        };
        if let Some(init) = old.init {
            if self.init_index.get(&init) == Some(&key) {
                self.init_index.remove(&init);
            }
        }
        self.index.update(key, sa.gateway(), Some(&old), None);
    }

    /// The responder SA under `key` was made by IKE_SA_INIT from `remote` with SPI `spi_i`;
    /// `proven` when that request carried a valid cookie.
    pub(super) fn file_init(&mut self, key: u64, (remote, spi_i): (SocketAddr, u64), proven: bool) {
        self.init_index.insert((remote, spi_i), key);
        if let Some(f) = self.index.filed.get_mut(&key) {
            f.init = Some((remote, spi_i));
            f.proven = proven;
        }
    }

    /// True when the SA under `key` is a responder's whose peer has not proved it receives at
    /// its address (no cookie, no authenticated message yet).
    pub(super) fn unproven(&self, key: u64) -> bool {
        let proven = self.index.filed.get(&key).is_some_and(|f| f.proven);
        let sa = self.sas.get(&key);
        !proven && sa.is_some_and(|s| s.role() == Role::Responder && s.is_half_open())
    }
}
