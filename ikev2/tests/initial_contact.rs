//! INITIAL_CONTACT (RFC 7296 section 2.4) ends only the IKE SAs between the same two
//! authenticated identities: many peers behind one NAT address coexist, and a peer that
//! restarts still clears its own stale SA.
//!
//! ```text
//! site0 10.0.0.10 -\                           gateway "gw": dynamic peer,
//! site1 10.0.0.11 --- NAT 198.51.100.7:ports -- peer-id *.branch.test, 192.0.2.2
//! site2 10.0.0.12 -/
//! each: IKE_SA_INIT, IKE_AUTH {IDi siteN.branch.test, N(INITIAL_CONTACT)} -->
//! ```

use core::time::Duration;
use ikev2::identity::{IdPattern, Identity};
use ikev2::testing::SiteSpec;
use ikev2::{Endpoint, Event, Reason};
use ipsec_core::crypto::default::SeededRandom;
use ipsec_core::crypto::default_provider;
use ipsec_core::time::Instant;
use std::net::{IpAddr, SocketAddr};

const NAT_ADDR: &str = "198.51.100.7";

/// One site behind the NAT: its endpoint and the public ports the NAT gave it.
struct Site {
    ep: Endpoint,
    /// Private address and port -> public port, per private port (500 and 4500).
    mapping: Vec<(SocketAddr, u16)>,
}

/// The responder, the sites behind one NAT, and a clock.
struct Net {
    gw: Endpoint,
    sites: Vec<Site>,
    now: Instant,
    next_port: u16,
    buf: Vec<u8>,
}

fn seeded(n: u8) -> Box<SeededRandom> {
    Box::new(SeededRandom::new([n; 32]))
}

fn site(i: usize, seed: u8) -> Endpoint {
    let mut s = SiteSpec::left();
    s.addr = format!("10.0.0.{}", 10 + i).parse().unwrap();
    s.id = Identity::Fqdn(format!("site{i}.branch.test"));
    s.peer_id = None;
    Endpoint::with_rng(s.config(), default_provider(), seeded(seed)).unwrap()
}

impl Net {
    fn new(sites: usize) -> Net {
        let mut r = SiteSpec::right();
        r.peer = None;
        r.peer_id = Some(IdPattern::FqdnGlob("*.branch.test".into()));
        let gw = Endpoint::with_rng(r.config(), default_provider(), seeded(1)).unwrap();
        let mut net = Net {
            gw,
            sites: Vec::new(),
            now: Instant::from_secs(1),
            next_port: 40_000,
            buf: vec![0; 65_535],
        };
        for i in 0..sites {
            let ep = site(i, 10 + i as u8);
            net.sites.push(Site {
                ep,
                mapping: Vec::new(),
            });
        }
        net
    }

    /// The public address the NAT gives `private` of site `i` (a new port per new mapping).
    fn outside(&mut self, i: usize, private: SocketAddr) -> SocketAddr {
        let ip: IpAddr = NAT_ADDR.parse().unwrap();
        let site = &mut self.sites[i];
        if let Some((_, port)) = site.mapping.iter().find(|(p, _)| *p == private) {
            return SocketAddr::new(ip, *port);
        }
        self.next_port += 1;
        site.mapping.push((private, self.next_port));
        SocketAddr::new(ip, self.next_port)
    }

    /// Moves datagrams until nobody has anything to send, then lets 10 ms pass.
    fn run(&mut self) {
        for _ in 0..50 {
            let mut moved = false;
            for i in 0..self.sites.len() {
                while let Some(t) = self.sites[i].ep.poll_transmit(&mut self.buf) {
                    let from = self.outside(i, t.local);
                    let data = self.buf[..t.len].to_vec();
                    self.gw.handle_datagram(self.now, t.remote, from, &data);
                    moved = true;
                }
            }
            while let Some(t) = self.gw.poll_transmit(&mut self.buf) {
                let port = t.remote.port();
                let to = self.sites.iter().position(|s| {
                    s.mapping.iter().any(|(_, p)| *p == port)
                        && t.remote.ip().to_string() == NAT_ADDR
                });
                if let Some(i) = to {
                    let (private, _) = *self.sites[i]
                        .mapping
                        .iter()
                        .find(|(_, p)| *p == port)
                        .unwrap();
                    let data = self.buf[..t.len].to_vec();
                    self.sites[i]
                        .ep
                        .handle_datagram(self.now, private, t.local, &data);
                    moved = true;
                }
            }
            self.now += Duration::from_millis(10);
            if !moved {
                return;
            }
        }
        panic!("the network never went quiet");
    }

    fn gw_events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.gw.poll_event()).collect()
    }

    fn established(&self) -> Vec<Identity> {
        self.gw
            .ike_sas()
            .into_iter()
            .filter(|s| s.established)
            .filter_map(|s| s.peer_id)
            .collect()
    }
}

/// Five sites behind one NAT address, each with its own ID and INITIAL_CONTACT: all five IKE
/// SAs stay up on the gateway, none is torn down.
#[test]
fn peers_behind_one_nat_address_coexist() {
    let mut net = Net::new(5);
    for i in 0..5 {
        net.sites[i].ep.connect(net.now, "tun").unwrap();
        net.run();
    }
    let events = net.gw_events();
    let downs: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::IkeSaDown { .. } | Event::ChildSaDown { .. }))
        .collect();
    assert!(downs.is_empty(), "SAs torn down: {downs:?}");
    let ups = events
        .iter()
        .filter(|e| matches!(e, Event::IkeSaUp { .. }))
        .count();
    assert_eq!(ups, 5);
    let mut ids = net.established();
    ids.sort_by_key(|i| i.to_string());
    let want: Vec<Identity> = (0..5)
        .map(|i| Identity::Fqdn(format!("site{i}.branch.test")))
        .collect();
    assert_eq!(ids, want);
    for s in &net.sites {
        assert!(s.ep.ike_sas().iter().all(|sa| sa.established));
    }
}

/// Site 1 restarts (new state, new NAT mapping, same ID): its new IKE SA with INITIAL_CONTACT
/// ends its own stale SA on the gateway, and only that one.
#[test]
fn a_restarted_peer_still_clears_its_stale_sa() {
    let mut net = Net::new(3);
    for i in 0..3 {
        net.sites[i].ep.connect(net.now, "tun").unwrap();
        net.run();
    }
    net.gw_events();
    let stale_spi = net
        .gw
        .ike_sas()
        .into_iter()
        .find(|s| s.peer_id == Some(Identity::Fqdn("site1.branch.test".into())))
        .map(|s| s.spi_i)
        .unwrap();

    net.sites[1] = Site {
        ep: site(1, 99),
        mapping: Vec::new(),
    };
    net.sites[1].ep.connect(net.now, "tun").unwrap();
    net.run();

    let events = net.gw_events();
    let downs: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::IkeSaDown { .. }))
        .collect();
    assert_eq!(downs.len(), 1, "{downs:?}");
    let Event::IkeSaDown { sa, reason, .. } = downs[0] else {
        unreachable!()
    };
    assert_eq!((sa.spi_i, reason), (stale_spi, &Reason::PeerRestarted));
    assert_eq!(net.established().len(), 3);
    assert!(!net.gw.ike_sas().iter().any(|s| s.spi_i == stale_spi));
}
