//! The SA table's timers: one ordered set of (deadline, SA) pairs over every installed SA, so
//! that [`SaTable::poll_timeout`](crate::SaTable::poll_timeout) is its first entry and
//! [`SaTable::handle_timeout`](crate::SaTable::handle_timeout) visits only the SAs that are due.
//!
//! Each SA keeps beside it the deadline it is filed under; whoever changes what an SA's deadline
//! depends on (its lifetime, a retired SA's removal time) files it again, which moves it in
//! O(log n) and costs nothing when the deadline stayed the same. An SA's time limits move only
//! when one of them is raised, and raising a limit always leaves an event to poll, so the
//! datapath refiles an SA only after a packet that left it with an event.

use core::ops::{Deref, DerefMut};
use ipsec_core::time::Instant;
use std::collections::BTreeSet;

/// An SA of the table: an inbound slot or an outbound index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TimerKey {
    Inbound(u32),
    Outbound(u32),
}

/// Every SA's next deadline.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    set: BTreeSet<(Instant, TimerKey)>,
}

impl Deadlines {
    /// The earliest deadline.
    pub(crate) fn first(&self) -> Option<Instant> {
        self.set.first().map(|(t, _)| *t)
    }

    /// The SAs whose deadline is at or before `now`, earliest first, into `out`.
    pub(crate) fn due(&self, now: Instant, out: &mut Vec<TimerKey>) {
        out.extend(
            self.set
                .iter()
                .take_while(|(t, _)| *t <= now)
                .map(|(_, k)| *k),
        );
    }

    /// Moves `key` from the deadline it is filed under (`*filed`) to `next`.
    pub(crate) fn refile(
        &mut self,
        key: TimerKey,
        filed: &mut Option<Instant>,
        next: Option<Instant>,
    ) {
        if *filed == next {
            return;
        }
        if let Some(t) = *filed {
            self.set.remove(&(t, key));
        }
        if let Some(t) = next {
            self.set.insert((t, key));
        }
        *filed = next;
    }

    /// How many SAs have a deadline.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }
}

/// The earlier of two optional instants.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Mutable access to an installed SA ([`SaTable::inbound_mut`](crate::SaTable::inbound_mut),
/// [`SaTable::outbound_mut`](crate::SaTable::outbound_mut)). Whatever is done with the SA
/// through it, the table's timers follow when it is dropped.
pub struct SaMut<'a, S> {
    sa: &'a mut S,
    /// The SA's deadline: its own, and for a retired inbound SA its removal time.
    deadline: fn(&S) -> Option<Instant>,
    remove_at: Option<Instant>,
    key: TimerKey,
    filed: &'a mut Option<Instant>,
    deadlines: &'a mut Deadlines,
}

impl<'a, S> SaMut<'a, S> {
    pub(crate) fn new(
        sa: &'a mut S,
        deadline: fn(&S) -> Option<Instant>,
        remove_at: Option<Instant>,
        key: TimerKey,
        filed: &'a mut Option<Instant>,
        deadlines: &'a mut Deadlines,
    ) -> Self {
        SaMut {
            sa,
            deadline,
            remove_at,
            key,
            filed,
            deadlines,
        }
    }
}

impl<S> Deref for SaMut<'_, S> {
    type Target = S;

    fn deref(&self) -> &S {
        self.sa
    }
}

impl<S> DerefMut for SaMut<'_, S> {
    fn deref_mut(&mut self) -> &mut S {
        self.sa
    }
}

impl<S> Drop for SaMut<'_, S> {
    fn drop(&mut self) {
        let next = earliest((self.deadline)(self.sa), self.remove_at);
        self.deadlines.refile(self.key, self.filed, next);
    }
}

impl<S: core::fmt::Debug> core::fmt::Debug for SaMut<'_, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.sa.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refiling_moves_an_entry_and_keeps_the_first() {
        let mut d = Deadlines::default();
        let (mut a, mut b) = (None, None);
        d.refile(TimerKey::Inbound(1), &mut a, Some(Instant::from_secs(5)));
        d.refile(TimerKey::Outbound(1), &mut b, Some(Instant::from_secs(3)));
        assert_eq!(d.first(), Some(Instant::from_secs(3)));
        d.refile(TimerKey::Outbound(1), &mut b, Some(Instant::from_secs(9)));
        assert_eq!(d.first(), Some(Instant::from_secs(5)));
        assert_eq!(d.len(), 2);
        let mut due = Vec::new();
        d.due(Instant::from_secs(9), &mut due);
        assert_eq!(due, [TimerKey::Inbound(1), TimerKey::Outbound(1)]);
        d.refile(TimerKey::Inbound(1), &mut a, None);
        d.refile(TimerKey::Outbound(1), &mut b, None);
        assert_eq!((d.first(), d.len(), a, b), (None, 0, None, None));
        assert_eq!(earliest(None, Some(Instant::ZERO)), Some(Instant::ZERO));
    }

    use crate::SaTable;
    use core::time::Duration;
    use ipsec_core::child_sa::{ChildSa, DirectionKeys, IpsecProtocol, Lifetimes, Mode};
    use ipsec_core::crypto::{default_provider, EncrId, Encryption, IntegId, SecretBytes};
    use ipsec_core::spi::SpiAllocator;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        /// Install with these soft and hard time limits (seconds) and a soft packet limit.
        Install(Option<u8>, Option<u8>, Option<u8>),
        /// A packet out on the SA at this index (modulo), and back in on its inbound half.
        Packet(usize, bool),
        Retire(usize, u16),
        Remove(usize),
        /// Time passes (milliseconds), and `handle_timeout` runs or not.
        Advance(u32, bool),
        /// Through `outbound_mut` / `inbound_mut`: the SA checks its time limits itself.
        Mutate(usize, bool),
        PollEvents,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            20 => (
                proptest::option::of(1u8..30),
                proptest::option::of(1u8..60),
                proptest::option::of(1u8..4)
            )
                .prop_map(|(s, h, p)| Op::Install(s, h, p)),
            15 => (any::<usize>(), any::<bool>()).prop_map(|(i, b)| Op::Packet(i, b)),
            6 => (any::<usize>(), 0u16..5000).prop_map(|(i, l)| Op::Retire(i, l)),
            6 => any::<usize>().prop_map(Op::Remove),
            20 => (0u32..8000, any::<bool>()).prop_map(|(ms, h)| Op::Advance(ms, h)),
            5 => (any::<usize>(), any::<bool>()).prop_map(|(i, o)| Op::Mutate(i, o)),
            8 => Just(Op::PollEvents),
        ]
    }

    /// A Child SA of its own tunnel that sends to itself (one SPI both ways).
    fn child(n: usize, spi: u32, limits: Lifetimes) -> ChildSa {
        let keys = DirectionKeys {
            spi,
            encryption_key: SecretBytes::from_slice(&[0x11; 20]),
            integrity_key: SecretBytes::default(),
        };
        ChildSa {
            tunnel: format!("t{n}"),
            proxy_id: None,
            protocol: IpsecProtocol::Esp,
            mode: Mode::Tunnel,
            encryption: Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
            integrity: IntegId::NONE,
            esn: false,
            inbound: keys.clone(),
            outbound: keys,
            local_ts: vec![],
            remote_ts: vec![],
            local_addr: "192.0.2.1:4500".parse().unwrap(),
            remote_addr: "192.0.2.2:4500".parse().unwrap(),
            encapsulation: None,
            lifetimes: limits,
            replay_window: 1024,
            tfc_padding: false,
        }
    }

    fn pick<T>(v: &[T], i: usize) -> Option<&T> {
        (!v.is_empty()).then(|| &v[i % v.len()])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever happens to the SAs (installs, packets that cross their limits, retirements
        /// and removals, time passing with and without `handle_timeout`, changes through the
        /// `_mut` guards), the deadline index names the same next deadline as a walk over every
        /// SA, and every event raised comes out of `poll_event`.
        #[test]
        fn the_index_agrees_with_a_scan(ops in proptest::collection::vec(op(), 1..300)) {
            let mut t = SaTable::new(default_provider());
            let mut now = Instant::from_secs(1);
            // (tunnel number, handle) of the SAs installed and not removed.
            let mut sas: Vec<(usize, crate::ChildHandle)> = Vec::new();
            let mut n = 0;
            for op in ops {
                match op {
                    Op::Install(soft, hard, packets) => {
                        let limits = Lifetimes {
                            soft_time: soft.map(|s| Duration::from_secs(s.into())),
                            hard_time: hard.map(|s| Duration::from_secs(s.into())),
                            soft_packets: packets.map(u64::from),
                            ..Lifetimes::default()
                        };
                        let spi = t.allocate_spi().unwrap();
                        let h = t.install(now, &child(n, spi, limits)).unwrap();
                        sas.push((n, h));
                        n += 1;
                    }
                    Op::Packet(i, back) => {
                        if let Some(&(k, _)) = pick(&sas, i) {
                            let mut buf = [0u8; 64 + 20 + 64];
                            buf[64] = 0x45;
                            buf[67] = 20;
                            let tunnel = t.tunnel(&format!("t{k}")).unwrap();
                            // Refused once retired or past a hard limit: fine.
                            if let Ok(tx) = t.encapsulate(now, tunnel, &mut buf, 64..84) {
                                if back {
                                    let _ = t.decapsulate(now, &mut buf[tx.range]);
                                }
                            }
                        }
                    }
                    Op::Retire(i, linger) => {
                        if let Some(&(_, h)) = pick(&sas, i) {
                            t.retire_lingering(now, h, Duration::from_millis(linger.into()));
                            if linger == 0 {
                                sas.retain(|(_, x)| *x != h);
                            }
                        }
                    }
                    Op::Remove(i) => {
                        if let Some(&(_, h)) = pick(&sas, i) {
                            t.remove(h);
                            sas.retain(|(_, x)| *x != h);
                        }
                    }
                    Op::Advance(ms, handle) => {
                        now += Duration::from_millis(ms.into());
                        if handle {
                            t.handle_timeout(now);
                        }
                    }
                    Op::Mutate(i, out) => {
                        if let Some(&(_, h)) = pick(&sas, i) {
                            if out {
                                if let Some(mut sa) = t.outbound_mut(h) {
                                    sa.handle_timeout(now);
                                }
                            } else if let Some(mut sa) = t.inbound_mut(h.inbound_spi) {
                                sa.handle_timeout(now);
                            }
                        }
                    }
                    Op::PollEvents => {
                        while t.poll_event().is_some() {}
                        for (_, h) in &sas {
                            prop_assert!(!t.outbound(*h).is_some_and(|s| s.has_event()));
                            prop_assert!(!t.inbound(h.inbound_spi).is_some_and(|s| s.has_event()));
                        }
                    }
                }
                // Retired SAs that `handle_timeout` removed.
                sas.retain(|(_, h)| t.inbound(h.inbound_spi).is_some());
                prop_assert_eq!(t.poll_timeout(), t.poll_timeout_by_scan());
                prop_assert_eq!(t.inbound_count(), sas.len());
            }
        }
    }
}
