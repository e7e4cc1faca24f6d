//! Inbound SPIs come from the allocator the embedder lends ([`Endpoint::with_spis`]) in every
//! exchange and role, go back to it when they will never be installed, and per-Child-SA
//! commands act on the one SA they name.
//!
//! ```text
//! left 192.0.2.1 (ledger 0x1000_xxxx)  <-- IKE_AUTH, CREATE_CHILD_SA (new, rekey), IKE rekey -->
//!                                           right 192.0.2.2 (ledger 0x2000_xxxx)
//! tunnel "tun": proxy IDs "pid" (10.1/10.2) and "pid2" (10.11/10.12)
//! ```

use core::time::Duration;
use ikev2::config::{EndpointConfig, ProxyId};
use ikev2::testing::SiteSpec;
use ikev2::{CommandError, Endpoint, Event, REKEYED_LINGER};
use ipsec_core::crypto::default::SeededRandom;
use ipsec_core::crypto::default_provider;
use ipsec_core::selector::{IpPrefix, TrafficSelector};
use ipsec_core::spi::{SpiAllocator, SpiError};
use ipsec_core::time::Instant;
use std::collections::BTreeSet;
use std::net::SocketAddr;

/// An allocator that remembers everything: sequential SPIs from `base`, optionally a limited
/// number of them, stale SPIs handed back in a random order to mix things up.
struct Ledger {
    next: u32,
    /// Every SPI handed out, in order.
    handed_out: Vec<u32>,
    /// Handed out and neither released nor freed by the datapath.
    reserved: BTreeSet<u32>,
    /// How many more it may hand out (`None`: unlimited).
    left: Option<usize>,
    releases: usize,
}

impl Ledger {
    fn new(base: u32) -> Ledger {
        Ledger {
            next: base,
            handed_out: Vec::new(),
            reserved: BTreeSet::new(),
            left: None,
            releases: 0,
        }
    }

    /// The datapath removed the SA with inbound SPI `spi`.
    fn free(&mut self, spi: u32) {
        assert!(
            self.reserved.remove(&spi),
            "a Child SA went down with inbound SPI {spi:08x} that the allocator never gave"
        );
    }
}

impl SpiAllocator for Ledger {
    fn allocate_spi(&mut self) -> Result<u32, SpiError> {
        if let Some(n) = self.left.as_mut() {
            if *n == 0 {
                return Err(SpiError::Exhausted);
            }
            *n -= 1;
        }
        self.next += 1;
        self.handed_out.push(self.next);
        self.reserved.insert(self.next);
        Ok(self.next)
    }

    fn release_spi(&mut self, spi: u32) {
        assert!(
            self.reserved.remove(&spi),
            "released {spi:08x}, which is not reserved (double release or never allocated)"
        );
        self.releases += 1;
    }
}

fn sel(p: &str) -> TrafficSelector {
    let p: IpPrefix = p.parse().unwrap();
    TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: p.network(),
        end_addr: p.last(),
    }
}

fn config(site: SiteSpec, local: &str, remote: &str) -> EndpointConfig {
    let mut c = site.config();
    c.tunnels[0].proxy_ids.push(ProxyId {
        name: "pid2".into(),
        local: sel(local),
        remote: sel(remote),
    });
    c
}

/// What one side's datapath holds: Child SAs by inbound SPI, from the events.
#[derive(Default)]
struct Datapath {
    installed: Vec<(u32, Option<String>)>,
    events: Vec<Event>,
}

struct Side {
    ep: Endpoint,
    spis: Ledger,
    dp: Datapath,
    addr: SocketAddr,
}

/// Two endpoints with lent allocators, a lossless network with 10 ms latency, and a clock.
struct Net {
    sides: [Side; 2],
    now: Instant,
    wire: Vec<(Instant, usize, SocketAddr, SocketAddr, Vec<u8>)>,
}

const LEFT: usize = 0;
const RIGHT: usize = 1;

impl Net {
    fn new() -> Net {
        let side = |site: SiteSpec, local, remote, seed: u8, base| {
            let addr = SocketAddr::new(site.addr, 500);
            let cfg = config(site, local, remote);
            let rng = Box::new(SeededRandom::new([seed; 32]));
            Side {
                ep: Endpoint::with_rng(cfg, default_provider(), rng).unwrap(),
                spis: Ledger::new(base),
                dp: Datapath::default(),
                addr,
            }
        };
        Net {
            sides: [
                side(
                    SiteSpec::left(),
                    "10.11.0.0/24",
                    "10.12.0.0/24",
                    1,
                    0x1000_0000,
                ),
                side(
                    SiteSpec::right(),
                    "10.12.0.0/24",
                    "10.11.0.0/24",
                    2,
                    0x2000_0000,
                ),
            ],
            now: Instant::from_secs(1),
            wire: Vec::new(),
        }
    }

    /// Moves datagrams to the wire and applies events to each datapath.
    fn collect(&mut self) {
        let mut buf = vec![0u8; 65535];
        for i in [LEFT, RIGHT] {
            let s = &mut self.sides[i];
            while let Some(t) = s.ep.poll_transmit(&mut buf) {
                let at = self.now + Duration::from_millis(10);
                self.wire
                    .push((at, 1 - i, t.remote, t.local, buf[..t.len].to_vec()));
            }
            while let Some(e) = s.ep.poll_event() {
                match &e {
                    Event::ChildSaUp { child, .. } => {
                        let spi = child.inbound.spi;
                        assert!(
                            s.spis.reserved.contains(&spi),
                            "side {i}: Child SA up with inbound SPI {spi:08x} not reserved \
                             from the allocator"
                        );
                        assert!(
                            s.dp.installed.iter().all(|(x, _)| *x != spi),
                            "side {i}: inbound SPI {spi:08x} installed twice"
                        );
                        s.dp.installed.push((spi, child.proxy_id.clone()));
                    }
                    Event::ChildSaDown { inbound_spi, .. } => {
                        s.dp.installed.retain(|(x, _)| x != inbound_spi);
                        s.spis.free(*inbound_spi);
                    }
                    _ => {}
                }
                s.dp.events.push(e);
            }
        }
    }

    /// Runs until nothing is in flight, then `secs` of quiet (timers below that fire).
    fn settle(&mut self) {
        let end = self.now + Duration::from_secs(3);
        for _ in 0..100_000 {
            self.collect();
            let next_packet = self.wire.iter().map(|w| w.0).min();
            let next = match next_packet {
                Some(t) => t,
                None => {
                    let timer = self.sides.iter().filter_map(|s| s.ep.poll_timeout()).min();
                    match timer {
                        Some(t) if t <= end => t,
                        _ => return,
                    }
                }
            };
            self.now = self.now.max(next);
            if let Some(i) = self.wire.iter().position(|w| w.0 <= self.now) {
                let (_, to, local, remote, bytes) = self.wire.remove(i);
                let now = self.now;
                let s = &mut self.sides[to];
                assert_eq!(local.ip(), s.addr.ip());
                s.ep.with_spis(&mut s.spis)
                    .handle_datagram(now, local, remote, &bytes);
            } else {
                let now = self.now;
                for s in self.sides.iter_mut() {
                    s.ep.with_spis(&mut s.spis).handle_timeout(now);
                }
            }
        }
        panic!("no quiet after 100000 steps");
    }

    fn connect(&mut self) {
        let now = self.now;
        let s = &mut self.sides[LEFT];
        s.ep.with_spis(&mut s.spis).connect(now, "tun").unwrap();
        self.settle();
    }

    fn rekey(&mut self, side: usize, spi: u32) -> Result<(), CommandError> {
        let now = self.now;
        let s = &mut self.sides[side];
        s.ep.with_spis(&mut s.spis).rekey_child_sa(now, spi)
    }

    fn delete(&mut self, side: usize, spi: u32) -> Result<(), CommandError> {
        let now = self.now;
        let s = &mut self.sides[side];
        s.ep.with_spis(&mut s.spis).delete_child_sa(now, spi)
    }

    fn spi_of(&self, side: usize, proxy_id: &str) -> u32 {
        self.sides[side]
            .dp
            .installed
            .iter()
            .find(|(_, p)| p.as_deref() == Some(proxy_id))
            .map(|(s, _)| *s)
            .unwrap_or_else(|| panic!("side {side} has no Child SA for {proxy_id}"))
    }

    /// Nothing leaked: every SPI still reserved is installed, on both sides.
    fn check_balanced(&self) {
        for (i, s) in self.sides.iter().enumerate() {
            let installed: BTreeSet<u32> = s.dp.installed.iter().map(|(x, _)| *x).collect();
            assert_eq!(
                s.spis.reserved, installed,
                "side {i}: the reservations are exactly the installed SAs"
            );
        }
    }
}

#[test]
fn every_exchange_and_role_draws_from_the_lent_allocator() {
    let mut net = Net::new();
    net.connect();
    for s in &net.sides {
        assert_eq!(
            s.dp.installed.len(),
            2,
            "both proxy IDs up: {:?}",
            s.dp.events
        );
    }
    net.check_balanced();

    // Initiator of a Child SA rekey, then responder of one, then both sides of an IKE rekey.
    let old = net.spi_of(LEFT, "pid");
    net.rekey(LEFT, old).unwrap();
    net.settle();
    let old_right = net.spi_of(RIGHT, "pid2");
    net.rekey(RIGHT, old_right).unwrap();
    net.settle();
    let now = net.now;
    let s = &mut net.sides[LEFT];
    s.ep.with_spis(&mut s.spis).rekey_ike(now, "gw").unwrap();
    net.settle();

    net.check_balanced();
    for (i, s) in net.sides.iter().enumerate() {
        assert_eq!(s.dp.installed.len(), 2, "side {i}: {:?}", s.dp.events);
        let ups =
            s.dp.events
                .iter()
                .filter(|e| matches!(e, Event::ChildSaUp { .. }))
                .count();
        // Two in IKE_AUTH/CREATE_CHILD_SA, two rekeys; the IKE rekey moves them unchanged.
        assert_eq!(ups, 4, "side {i}");
        assert!(s.spis.handed_out.len() >= 4);
    }
}

#[test]
fn a_rekey_names_the_sa_it_replaces_and_leaves_the_other_proxy_id_alone() {
    let mut net = Net::new();
    net.connect();
    let old = net.spi_of(LEFT, "pid");
    let other = net.spi_of(LEFT, "pid2");
    let old_out = net.spi_of(RIGHT, "pid");
    net.rekey(LEFT, old).unwrap();
    // Asking again while it is under way does nothing (the datapath may report a limit twice).
    net.rekey(LEFT, old).unwrap();
    net.settle();

    let new = net.spi_of(LEFT, "pid");
    assert_ne!(new, old);
    assert_eq!(net.spi_of(LEFT, "pid2"), other, "pid2 untouched");
    let ev = &net.sides[LEFT].dp.events;
    let up = ev
        .iter()
        .position(|e| {
            matches!(e, Event::ChildSaUp { child, replaces, .. }
            if child.inbound.spi == new && *replaces == Some(old))
        })
        .expect("the new SA names the old one");
    let down = ev
        .iter()
        .position(|e| {
            matches!(e, Event::ChildSaDown { inbound_spi, outbound_spi, proxy_id, linger, .. }
            if *inbound_spi == old && *outbound_spi == old_out
                && proxy_id.as_deref() == Some("pid") && *linger == REKEYED_LINGER)
        })
        .expect("the old SA goes down with its proxy ID, lingering inbound for its successor");
    assert!(up < down, "{ev:?}");
    let n_up = |e: &[Event]| {
        e.iter()
            .filter(|e| matches!(e, Event::ChildSaUp { .. }))
            .count()
    };
    assert_eq!(n_up(ev), 3, "one rekey for two calls: {ev:?}");
    assert!(ev[up]
        .to_string()
        .contains(&format!("rekey of SPI:{old:08X}")));
    // The responder's new SA names its own old SA.
    let old_r = old_out;
    let new_r = net.spi_of(RIGHT, "pid");
    assert!(net.sides[RIGHT].dp.events.iter().any(|e| matches!(e,
        Event::ChildSaUp { child, replaces, .. }
            if child.inbound.spi == new_r && *replaces == Some(old_r))));
    net.check_balanced();

    // The replaced SA is gone; rekeying it now is an error naming it.
    assert_eq!(net.rekey(LEFT, old), Err(CommandError::NoChildSa(old)));
}

#[test]
fn delete_child_sa_deletes_only_the_sa_it_names() {
    let mut net = Net::new();
    net.connect();
    let gone = net.spi_of(RIGHT, "pid2");
    let kept = net.spi_of(RIGHT, "pid");
    net.delete(RIGHT, gone).unwrap();
    net.settle();
    for (i, s) in net.sides.iter().enumerate() {
        assert_eq!(s.dp.installed.len(), 1, "side {i}: {:?}", s.dp.installed);
        assert_eq!(s.dp.installed[0].1.as_deref(), Some("pid"));
    }
    assert_eq!(net.spi_of(RIGHT, "pid"), kept);
    assert!(net.sides[RIGHT].dp.events.iter().any(
        |e| matches!(e, Event::ChildSaDown { inbound_spi, linger, .. }
            if *inbound_spi == gone && linger.is_zero())
    ));
    assert_eq!(net.delete(RIGHT, gone), Err(CommandError::NoChildSa(gone)));
    assert_eq!(
        net.rekey(RIGHT, 0x1234),
        Err(CommandError::NoChildSa(0x1234))
    );
    net.check_balanced();
}

#[test]
fn a_child_sa_refused_for_want_of_spis_gives_its_spi_back() {
    let mut net = Net::new();
    // The responder's table has room for one Child SA: the second proxy ID is refused with
    // NO_ADDITIONAL_SAS, and the initiator releases the SPI it offered for it.
    net.sides[RIGHT].spis.left = Some(1);
    net.connect();
    for s in &net.sides {
        assert_eq!(s.dp.installed.len(), 1, "{:?}", s.dp.events);
    }
    assert!(net.sides[LEFT].spis.releases >= 1);
    assert!(net.sides[LEFT]
        .dp
        .events
        .iter()
        .any(|e| matches!(e, Event::Phase2Failed { .. })));
    net.check_balanced();

    // An initiator with no SPI left refuses the command and reserves nothing.
    let spi = net.spi_of(LEFT, "pid");
    net.sides[LEFT].spis.left = Some(0);
    assert!(matches!(net.rekey(LEFT, spi), Err(CommandError::Local(_))));
    net.settle();
    net.check_balanced();
    assert_eq!(net.spi_of(LEFT, "pid"), spi);
}

#[test]
fn random_churn_never_reuses_or_leaks_an_inbound_spi() {
    let mut net = Net::new();
    net.connect();
    // xorshift: a fixed, reproducible sequence of commands.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut roll = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for round in 0..150 {
        let side = roll(2) as usize;
        let installed: Vec<u32> = net.sides[side].dp.installed.iter().map(|c| c.0).collect();
        let pick = installed
            .get(roll(installed.len().max(1) as u64) as usize)
            .copied();
        let op = roll(10);
        match (op, pick) {
            (0..=5, Some(spi)) => net.rekey(side, spi).unwrap_or_else(|e| {
                panic!(
                    "round {round}: side {side} {e}: {:x?}\n{}",
                    net.sides[side].dp.installed,
                    net.sides[side]
                        .dp
                        .events
                        .iter()
                        .map(|e| format!("{e}\n"))
                        .collect::<String>()
                )
            }),
            (6, Some(spi)) => net.delete(side, spi).unwrap(),
            (7, _) => {
                let now = net.now;
                let s = &mut net.sides[side];
                s.ep.with_spis(&mut s.spis).rekey_ike(now, "gw").unwrap();
            }
            _ => {
                // Brings back what was deleted (the left side initiates).
                let now = net.now;
                let s = &mut net.sides[LEFT];
                s.ep.with_spis(&mut s.spis).connect(now, "tun").unwrap();
            }
        }
        // Sometimes a second Child SA rekey before the first command is answered: crossing
        // exchanges (RFC 7296 section 2.8.1). Not across an IKE rekey: the Child SA work in
        // flight when the peer rekeys the IKE SA is another matter (section 2.8.2).
        if roll(3) == 0 && op != 7 {
            if let Some(spi) = net.sides[1 - side].dp.installed.first().map(|c| c.0) {
                let _ = net.rekey(1 - side, spi);
            }
        }
        net.settle();
        net.check_balanced();
        for s in &net.sides {
            let mut spis: Vec<u32> = s.dp.installed.iter().map(|c| c.0).collect();
            let n = spis.len();
            spis.sort_unstable();
            spis.dedup();
            assert_eq!(spis.len(), n, "round {round}: duplicate inbound SPI");
            assert!(
                n <= 4,
                "round {round}: at most a pair per proxy ID: {spis:?}"
            );
        }
    }
    let total: usize = net.sides.iter().map(|s| s.spis.handed_out.len()).sum();
    assert!(total > 200, "the churn negotiated many Child SAs: {total}");
}
