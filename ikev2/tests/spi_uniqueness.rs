//! Inbound SPIs never collide, across every IKE SA of a gateway, under random churn: thousands
//! of Child SAs on one hub that lends its ESP table ([`esp::SaTable`], slot-encoded SPIs) to the
//! endpoint, with rekeys and deletes of single Child SAs from both ends, IKE SA rekeys from both
//! ends and tunnels brought back, crossing each other on the wire.
//!
//! ```text
//! site0 10.0.0.10 -\
//! site1 10.0.0.11 --- hub 192.0.2.2 (dynamic peer, *.branch.test, one esp::SaTable)
//! ...             -/  tunnel "tun": proxy IDs p0..pM, 10.2.x.0/24 <-> 10.1.x.0/24
//! ```

use core::time::Duration;
use esp::SaTable;
use ikev2::config::{EndpointConfig, ProxyId};
use ikev2::identity::{IdPattern, Identity};
use ikev2::testing::SiteSpec;
use ikev2::{Endpoint, Event, Outbound};
use ipsec_core::crypto::default::SeededRandom;
use ipsec_core::crypto::default_provider;
use ipsec_core::selector::{IpPrefix, TrafficSelector};
use ipsec_core::time::Instant;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

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

/// `n` proxy IDs: ours 10.<a>.x.0/24, the peer's 10.<b>.x.0/24.
fn proxy_ids(c: &mut EndpointConfig, n: usize, a: u8, b: u8) {
    c.tunnels[0].proxy_ids = (0..n)
        .map(|x| ProxyId {
            name: format!("p{x}"),
            local: sel(&format!("10.{a}.{x}.0/24")),
            remote: sel(&format!("10.{b}.{x}.0/24")),
        })
        .collect();
}

/// One endpoint with its datapath: the table it lends for inbound SPIs and installs into.
struct Node {
    ep: Endpoint,
    table: SaTable,
    addr: SocketAddr,
    /// Inbound SPIs installed (lingering ones included) and not yet removed from the table.
    live: BTreeSet<u32>,
    /// SPIs that went down with a linger, removed from `live` when the table lets them go.
    lingering: BTreeMap<u32, Instant>,
    ups: usize,
}

impl Node {
    fn new(cfg: EndpointConfig, seed: u8) -> Node {
        let addr = SocketAddr::new(cfg.gateways[0].local_addr, 500);
        let rng = Box::new(SeededRandom::new([seed; 32]));
        let mut provider = default_provider();
        provider.random = Box::leak(Box::new(SeededRandom::new([seed ^ 0x5a; 32])));
        Node {
            ep: Endpoint::with_rng(cfg, default_provider(), rng).unwrap(),
            table: SaTable::new(provider),
            addr,
            live: BTreeSet::new(),
            lingering: BTreeMap::new(),
            ups: 0,
        }
    }

    /// Follows one event as a datapath must, checking that a new SA's inbound SPI is unique
    /// among everything the table still holds.
    fn apply(&mut self, now: Instant, e: &Event, who: &str) {
        match e {
            Event::ChildSaUp {
                child, outbound, ..
            } => {
                let spi = child.inbound.spi;
                assert!(
                    self.live.insert(spi),
                    "{who}: inbound SPI {spi:08x} collides with a live SA"
                );
                let r = match outbound {
                    Outbound::Now => self.table.install(now, child),
                    Outbound::Later => self.table.install_inbound(now, child),
                };
                r.unwrap_or_else(|e| panic!("{who}: install {spi:08x}: {e}"));
                self.ups += 1;
            }
            Event::ChildSaOutbound { inbound_spi, .. } => {
                let h = self.table.child(*inbound_spi).expect("installed");
                self.table.activate_outbound(h);
            }
            Event::ChildSaDown {
                inbound_spi,
                linger,
                ..
            } => {
                let h = self
                    .table
                    .child(*inbound_spi)
                    .unwrap_or_else(|| panic!("{who}: {inbound_spi:08x} down, not installed"));
                self.table.retire_lingering(now, h, *linger);
                if linger.is_zero() {
                    self.live.remove(inbound_spi);
                } else {
                    self.lingering.insert(*inbound_spi, now + *linger);
                }
            }
            _ => {}
        }
    }

    fn tick(&mut self, now: Instant) {
        self.table.handle_timeout(now);
        while self.table.poll_event().is_some() {}
        let gone: Vec<u32> = self
            .lingering
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(s, _)| *s)
            .collect();
        for s in gone {
            self.lingering.remove(&s);
            self.live.remove(&s);
            assert!(self.table.child(s).is_none(), "{s:08x} outlived its linger");
        }
    }

    /// Inbound SPIs the endpoint's established IKE SAs carry.
    fn child_spis(&self) -> Vec<u32> {
        self.ep
            .ike_sas()
            .iter()
            .flat_map(|s| s.children.iter().map(|c| c.inbound_spi))
            .collect()
    }
}

/// The hub (node 0) and its sites, each site on its own address (no NAT), 5 ms apart.
struct Net {
    nodes: Vec<Node>,
    now: Instant,
    wire: Vec<(Instant, usize, SocketAddr, SocketAddr, Vec<u8>)>,
    buf: Vec<u8>,
}

impl Net {
    fn new(sites: usize, pids: usize) -> Net {
        let mut hub = SiteSpec::right();
        hub.peer = None;
        hub.peer_id = Some(IdPattern::FqdnGlob("*.branch.test".into()));
        let mut c = hub.config();
        proxy_ids(&mut c, pids, 2, 1);
        let mut nodes = vec![Node::new(c, 1)];
        for i in 0..sites {
            let mut s = SiteSpec::left();
            s.addr = format!("10.0.{}.{}", i / 200, 10 + i % 200)
                .parse()
                .unwrap();
            s.id = Identity::Fqdn(format!("site{i}.branch.test"));
            let mut c = s.config();
            proxy_ids(&mut c, pids, 1, 2);
            nodes.push(Node::new(c, 10 + i as u8));
        }
        Net {
            nodes,
            now: Instant::from_secs(1),
            wire: Vec::new(),
            buf: vec![0; 65_535],
        }
    }

    fn collect(&mut self) {
        for i in 0..self.nodes.len() {
            while let Some(t) = self.nodes[i].ep.poll_transmit(&mut self.buf) {
                let to = if i == 0 {
                    self.nodes.iter().position(|n| n.addr.ip() == t.remote.ip())
                } else {
                    Some(0)
                };
                let to = to.expect("a known address");
                let at = self.now + Duration::from_millis(5);
                let bytes = self.buf[..t.len].to_vec();
                self.wire.push((at, to, t.local, t.remote, bytes));
            }
            let now = self.now;
            let who = format!("node {i}");
            let n = &mut self.nodes[i];
            while let Some(e) = n.ep.poll_event() {
                n.apply(now, &e, &who);
            }
        }
    }

    /// Runs until nothing is on the wire and no timer is due within `quiet`.
    fn settle(&mut self, quiet: Duration) {
        let end = self.now + quiet;
        for _ in 0..2_000_000 {
            self.collect();
            let next = match self.wire.iter().map(|w| w.0).min() {
                Some(t) => t,
                None => {
                    let timer = self
                        .nodes
                        .iter()
                        .filter_map(|n| n.ep.poll_timeout())
                        .chain(
                            self.nodes
                                .iter()
                                .flat_map(|n| n.lingering.values().copied()),
                        )
                        .min();
                    match timer {
                        Some(t) if t <= end => t,
                        _ => return,
                    }
                }
            };
            self.now = self.now.max(next);
            if let Some(i) = self.wire.iter().position(|w| w.0 <= self.now) {
                let (_, to, from, local, bytes) = self.wire.swap_remove(i);
                let now = self.now;
                let n = &mut self.nodes[to];
                n.ep.with_spis(&mut n.table)
                    .handle_datagram(now, local, from, &bytes);
            } else {
                let now = self.now;
                for n in self.nodes.iter_mut() {
                    n.ep.with_spis(&mut n.table).handle_timeout(now);
                    n.tick(now);
                }
            }
        }
        panic!("no quiet");
    }

    /// Every node's datapath holds exactly the SAs its endpoint reports, each SPI once.
    fn check(&self) {
        for (i, n) in self.nodes.iter().enumerate() {
            let mut spis = n.child_spis();
            let count = spis.len();
            spis.sort_unstable();
            spis.dedup();
            assert_eq!(
                spis.len(),
                count,
                "node {i}: two Child SAs share an inbound SPI"
            );
            let active: BTreeSet<u32> = n
                .live
                .difference(&n.lingering.keys().copied().collect())
                .copied()
                .collect();
            assert_eq!(
                spis.into_iter().collect::<BTreeSet<u32>>(),
                active,
                "node {i}: the datapath holds what the endpoint reports"
            );
            assert_eq!(n.table.inbound_count(), n.live.len(), "node {i}");
        }
    }
}

/// One step of churn: who acts and what it does.
#[derive(Clone, Debug)]
enum Op {
    /// Node `.0` rekeys its `.1`-th Child SA (modulo how many it has).
    RekeyChild(usize, usize),
    /// Node `.0` deletes its `.1`-th Child SA.
    DeleteChild(usize, usize),
    /// Node `.0` rekeys an IKE SA.
    RekeyIke(usize),
    /// Site `.0` brings its tunnel back (every proxy ID missing).
    Connect(usize),
}

fn op(nodes: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..nodes, any::<usize>()).prop_map(|(n, k)| Op::RekeyChild(n, k)),
        2 => (0..nodes, any::<usize>()).prop_map(|(n, k)| Op::DeleteChild(n, k)),
        1 => (0..nodes).prop_map(Op::RekeyIke),
        2 => (1..nodes).prop_map(Op::Connect),
    ]
}

impl Net {
    fn act(&mut self, op: &Op) {
        let now = self.now;
        match *op {
            Op::RekeyChild(n, k) | Op::DeleteChild(n, k) => {
                let spis = self.nodes[n].child_spis();
                let Some(&spi) = spis.get(k % spis.len().max(1)) else {
                    return;
                };
                let node = &mut self.nodes[n];
                let mut ep = node.ep.with_spis(&mut node.table);
                // An SA being rekeyed or deleted already: the command does nothing.
                let r = match op {
                    Op::RekeyChild(..) => ep.rekey_child_sa(now, spi),
                    _ => ep.delete_child_sa(now, spi),
                };
                r.unwrap();
            }
            Op::RekeyIke(n) => {
                // The hub rekeys one of its IKE SAs, a site its only one.
                let node = &mut self.nodes[n];
                let _ = node.ep.with_spis(&mut node.table).rekey_ike(now, "gw");
            }
            Op::Connect(n) => {
                let node = &mut self.nodes[n];
                node.ep
                    .with_spis(&mut node.table)
                    .connect(now, "tun")
                    .unwrap();
            }
        }
    }
}

const SITES: usize = 24;
const PIDS: usize = 90;

proptest! {
    #![proptest_config(ProptestConfig { cases: 3, max_shrink_iters: 0, ..ProptestConfig::default() })]

    /// 24 sites with 90 proxy IDs each: 2,160 Child SAs on the hub, then rounds of random
    /// commands that cross on the wire (a round's commands go out together before anything
    /// is delivered), each round settled and checked.
    #[test]
    fn inbound_spis_never_collide_under_churn(
        rounds in prop::collection::vec(prop::collection::vec(op(SITES + 1), 1..30), 40)
    ) {
        let mut net = Net::new(SITES, PIDS);
        for i in 1..=SITES {
            let now = net.now;
            let n = &mut net.nodes[i];
            n.ep.with_spis(&mut n.table).connect(now, "tun").unwrap();
        }
        net.settle(Duration::from_secs(1));
        net.check();
        prop_assert_eq!(net.nodes[0].live.len(), SITES * PIDS);
        for round in rounds {
            for op in &round {
                net.act(op);
            }
            net.settle(Duration::from_secs(6));
            net.check();
        }
        // The churn made hundreds of new Child SAs on the hub.
        prop_assert!(net.nodes[0].ups >= SITES * PIDS + 200, "{}", net.nodes[0].ups);
    }
}
