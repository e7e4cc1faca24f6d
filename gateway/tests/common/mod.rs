//! A simulated network of gateways for the integration tests: a wire with latency, a clock
//! that jumps to the next arrival or deadline, links that can be cut, LAN hosts behind each
//! gateway and the gateways' own IP stacks answering pings to their interface addresses.

#![allow(dead_code, unreachable_pub)]

pub mod sites;

use core::time::Duration;
use gateway::{
    Action, Config, Event, Gateway, Instant, InterfaceAddress, Options, Transmit, HEADROOM,
    TAILROOM,
};
use ipsec_core::crypto::default::SeededRandom;
use ipsec_core::crypto::default_provider;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Builds the TOML of one firewall from its parts.
pub struct Site {
    pub me: &'static str,
    pub lan: &'static str,
    pub lan_port: &'static str,
    pub text: String,
}

impl Site {
    /// A firewall at `me` whose LAN port `ethernet1/2` has address `lan_port` (on `lan`).
    pub fn new(me: &'static str, lan: &'static str, lan_port: &'static str) -> Site {
        let text = r#"
[[ike-crypto-profile]]
name = "ike"
dh-group = ["group19"]
hash = ["sha256"]
encryption = ["aes-256-gcm"]

[[zone]]
name = "trust"
interfaces = ["ethernet1/2"]
"#
        .to_owned();
        Site {
            me,
            lan,
            lan_port,
            text,
        }
    }

    /// An IKE gateway to `peer`, an IPsec crypto profile of the same name with `lifesize`, a
    /// tunnel interface `ifc` with address `ifc_ip` in zone `vpn`, and an IPsec tunnel over
    /// them with `proxy_ids` (`(name, local, remote)`) and optional `monitor` (a TOML inline
    /// table).
    #[allow(clippy::too_many_arguments)]
    pub fn tunnel(
        mut self,
        name: &str,
        peer: &str,
        ifc: &str,
        ifc_ip: &str,
        lifesize: &str,
        proxy_ids: &[(&str, &str, &str)],
        monitor: Option<&str>,
    ) -> Site {
        let me = self.me;
        self.text.push_str(&format!(
            r#"
[[ipsec-crypto-profile]]
name = "esp-{name}"
encryption = ["aes-128-gcm"]
authentication = ["none"]
dh-group = "group19"
{lifesize}

[[ike-gateway]]
name = "gw-{name}"
version = "ikev2"
local-address = {{ interface = "ethernet1/1", ip = "{me}" }}
peer-address = {{ ip = "{peer}" }}
authentication = {{ pre-shared-key = "correct horse battery staple" }}
ike-crypto-profile = "ike"

[[tunnel-interface]]
name = "{ifc}"
ip = "{ifc_ip}"
zone = "vpn"

[[ipsec-tunnel]]
name = "{name}"
tunnel-interface = "{ifc}"
ike-gateway = "gw-{name}"
ipsec-crypto-profile = "esp-{name}"
"#
        ));
        if let Some(m) = monitor {
            self.text.push_str(&format!("tunnel-monitor = {m}\n"));
        }
        for (pid, local, remote) in proxy_ids {
            self.text.push_str(&format!(
                "\n[[ipsec-tunnel.proxy-id]]\nname = \"{pid}\"\nlocal = \"{local}\"\nremote = \"{remote}\"\n"
            ));
        }
        self
    }

    /// Appends raw TOML (routes, zones, rules).
    pub fn with(mut self, toml: &str) -> Site {
        self.text.push_str(toml);
        self
    }

    /// The configuration, with zone `vpn` holding `vpn_interfaces`.
    pub fn config(&self, vpn_interfaces: &[&str]) -> Config {
        let list: Vec<String> = vpn_interfaces.iter().map(|i| format!("\"{i}\"")).collect();
        let text = format!(
            "{}\n[[zone]]\nname = \"vpn\"\ninterfaces = [{}]\n",
            self.text,
            list.join(", ")
        );
        match Config::from_toml_str(&text) {
            Ok(c) => c,
            Err(e) => panic!("{e:?}\n{text}"),
        }
    }
}

/// Rules allowing everything between `trust` and `vpn`, both ways.
pub const ALLOW_BOTH_WAYS: &str = r#"
[[security-rule]]
name = "trust-to-vpn"
from = ["trust"]
to = ["vpn"]
action = "allow"

[[security-rule]]
name = "vpn-to-trust"
from = ["vpn"]
to = ["trust"]
action = "allow"
"#;

/// A packet a LAN host received.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub bytes: Vec<u8>,
    pub spi: Option<u32>,
}

/// One gateway on the network.
pub struct Node {
    pub name: &'static str,
    pub gw: Gateway,
    pub addr: IpAddr,
    /// What the hosts on its LAN received.
    pub lan: Vec<Received>,
    /// Its events, with when they happened.
    pub events: Vec<(Instant, Event)>,
    /// Pings its own stack answered.
    pub pings_answered: u64,
}

impl Node {
    /// The gateway at `site.me`, with a seeded random source.
    pub fn new(name: &'static str, site: &Site, vpn: &[&str], seed: u8) -> Node {
        let mut provider = default_provider();
        provider.random = Box::leak(Box::new(SeededRandom::new([seed; 32])));
        let options = Options {
            force_udp_encapsulation: true,
            ..Options::default()
        };
        let mut gw = Gateway::with_options(site.config(vpn), provider, options).expect("gateway");
        let port: InterfaceAddress = site.lan_port.parse().expect("address");
        gw.set_interface_address("ethernet1/2", port)
            .expect("LAN port");
        Node {
            name,
            gw,
            addr: site.me.parse().expect("address"),
            lan: Vec::new(),
            events: Vec::new(),
            pings_answered: 0,
        }
    }

    /// The events' text, in order.
    pub fn log(&self) -> Vec<String> {
        self.events.iter().map(|(_, e)| e.to_string()).collect()
    }

    /// The inbound SPIs of the Child SAs installed at `now`, sorted.
    pub fn spis_in(&self, now: Instant) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .gw
            .show_ipsec_sa(now)
            .sas
            .iter()
            .map(|s| s.spi_in)
            .collect();
        v.sort_unstable();
        v
    }

    /// How many Child SAs came up.
    pub fn child_sas_up(&self) -> usize {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Ike(ikev2::Event::ChildSaUp { .. })))
            .count()
    }
}

struct InFlight {
    arrives: Instant,
    source: SocketAddr,
    destination: SocketAddr,
    bytes: Vec<u8>,
}

/// The wire and the clock.
pub struct Net {
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub latency: Duration,
    /// Pairs of addresses whose link is down: datagrams between them are lost.
    pub cut: Vec<(IpAddr, IpAddr)>,
    wire: VecDeque<InFlight>,
    /// Datagrams to addresses no node has.
    pub undeliverable: u64,
    /// A NAPT in front of some nodes: `(inside address, public address)`; each inside
    /// address and port gets a public port of its own, as a home router's masquerading does.
    pub nat: Vec<(IpAddr, IpAddr)>,
    /// The NAT's bindings: inside address and port, public address and port.
    bindings: Vec<(SocketAddr, SocketAddr)>,
}

impl Net {
    pub fn new(nodes: Vec<Node>) -> Net {
        Net {
            now: Instant::from_secs(1),
            nodes,
            latency: Duration::from_millis(10),
            cut: Vec::new(),
            wire: VecDeque::new(),
            undeliverable: 0,
            nat: Vec::new(),
            bindings: Vec::new(),
        }
    }

    pub fn node(&mut self, name: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .expect("node")
    }

    fn index(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .expect("node")
    }

    /// Puts the bytes of a transmit on the wire.
    pub fn send(&mut self, t: &Transmit, buf: &[u8]) {
        let (s, d) = (t.source.ip(), t.destination.ip());
        if self
            .cut
            .iter()
            .any(|(a, b)| (*a, *b) == (s, d) || (*b, *a) == (s, d))
        {
            return;
        }
        let mut source = t.source;
        if let Some((_, public)) = self.nat.iter().find(|(inside, _)| *inside == s) {
            source = match self.bindings.iter().find(|(i, _)| *i == t.source) {
                Some((_, p)) => *p,
                None => {
                    let p = SocketAddr::new(*public, 30_000 + self.bindings.len() as u16);
                    self.bindings.push((t.source, p));
                    p
                }
            };
        }
        self.wire.push_back(InFlight {
            arrives: self.now.saturating_add(self.latency),
            source,
            destination: t.destination,
            bytes: buf[t.range.clone()].to_vec(),
        });
    }

    /// Sends `packet` from a host on `from`'s LAN: what the gateway did with it.
    pub fn send_from_lan(&mut self, from: &str, packet: &[u8]) -> Action {
        let i = self.index(from);
        let now = self.now;
        let mut buf = vec![0u8; HEADROOM + packet.len() + TAILROOM];
        let inner = HEADROOM..HEADROOM + packet.len();
        buf[inner.clone()].copy_from_slice(packet);
        let gw = &mut self.nodes[i].gw;
        let lan = gw.interface("ethernet1/2").expect("LAN port");
        let a = gw.handle_inner(now, lan, &mut buf, inner);
        if let Action::Send(t) = &a {
            self.send(t, &buf);
        }
        a
    }

    /// Moves everything due by now: transmits, events, deliveries.
    fn flush(&mut self) {
        let mut buf = vec![0u8; 65_535];
        for i in 0..self.nodes.len() {
            while let Some(t) = self.nodes[i].gw.poll_transmit(&mut buf) {
                self.send(&t, &buf);
            }
            while let Some(e) = self.nodes[i].gw.poll_event() {
                self.nodes[i].events.push((self.now, e));
            }
        }
    }

    fn deliver_due(&mut self) {
        while self.wire.front().is_some_and(|d| d.arrives <= self.now) {
            let Some(mut d) = self.wire.pop_front() else {
                break;
            };
            if let Some((inside, _)) = self.bindings.iter().find(|(_, p)| *p == d.destination) {
                d.destination = *inside;
            }
            let Some(i) = self.nodes.iter().position(|n| n.addr == d.destination.ip()) else {
                self.undeliverable += 1;
                continue;
            };
            let now = self.now;
            let node = &mut self.nodes[i];
            let a = if d.destination.port() == 0 {
                node.gw.handle_esp(now, d.source.ip(), &mut d.bytes)
            } else {
                node.gw
                    .handle_datagram(now, d.destination, d.source, &mut d.bytes)
            };
            match a {
                Action::Deliver(del) if del.local => {
                    let packet = d.bytes[del.range].to_vec();
                    if let Some(reply) = echo_reply(&packet) {
                        node.pings_answered += 1;
                        let mut buf = vec![0u8; HEADROOM + reply.len() + TAILROOM];
                        let inner = HEADROOM..HEADROOM + reply.len();
                        buf[inner.clone()].copy_from_slice(&reply);
                        if let Action::Send(t) = node.gw.handle_local(now, &mut buf, inner) {
                            self.send(&t, &buf);
                        }
                    }
                }
                Action::Deliver(del) => node.lan.push(Received {
                    at: now,
                    bytes: d.bytes[del.range].to_vec(),
                    spi: del.inbound_spi,
                }),
                Action::Send(t) => {
                    let b = d.bytes.clone();
                    self.send(&t, &b);
                }
                Action::Consumed | Action::Drop(_) => {}
            }
        }
    }

    /// Runs until `goal` holds or `limit` of simulated time passed; true when the goal was met.
    pub fn run_until(&mut self, limit: Duration, mut goal: impl FnMut(&Net) -> bool) -> bool {
        let end = self.now.saturating_add(limit);
        for _ in 0..2_000_000 {
            self.flush();
            if goal(self) {
                return true;
            }
            let arrival = self.wire.front().map(|d| d.arrives);
            let timers = self.nodes.iter().filter_map(|n| n.gw.poll_timeout());
            let Some(next) = arrival.into_iter().chain(timers).min() else {
                return false;
            };
            if next > end {
                self.now = end;
                return goal(self);
            }
            self.now = self.now.max(next);
            self.deliver_due();
            let now = self.now;
            for n in &mut self.nodes {
                if n.gw.poll_timeout().is_some_and(|t| t <= now) {
                    n.gw.handle_timeout(now);
                }
            }
        }
        panic!("livelock: the network never went quiet");
    }

    /// Runs for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    /// Delivers what is in flight without starting anything new that is not caused by it.
    pub fn settle(&mut self) {
        self.run_until(self.latency * 10, |n| n.wire.is_empty());
    }
}

/// An IPv4 UDP datagram (checksum 0) with `data`.
pub fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let total = 28 + data.len();
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    let c = esp::ip::checksum(&[&p]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(data);
    p
}

/// An IPv4 ICMP echo request.
pub fn ping(src: [u8; 4], dst: [u8; 4], ident: u16, seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&ident.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"abcdefgh");
    let c = esp::ip::checksum(&[&icmp]);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut p = udp(src, dst, 0, 0, &[]);
    p.truncate(20);
    p[9] = 1;
    let total = (20 + icmp.len()) as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[10..12].copy_from_slice(&[0, 0]);
    let c = esp::ip::checksum(&[&p]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&icmp);
    p
}

/// The echo reply a host sends to an IPv4 echo request; `None` for anything else.
pub fn echo_reply(p: &[u8]) -> Option<Vec<u8>> {
    if p.len() < 28 || p[0] != 0x45 || p[9] != 1 || p[20] != 8 {
        return None;
    }
    let mut r = p.to_vec();
    r[12..16].copy_from_slice(&p[16..20]);
    r[16..20].copy_from_slice(&p[12..16]);
    r[10..12].copy_from_slice(&[0, 0]);
    let c = esp::ip::checksum(&[&r[..20]]);
    r[10..12].copy_from_slice(&c.to_be_bytes());
    r[20] = 0;
    r[22..24].copy_from_slice(&[0, 0]);
    let c = esp::ip::checksum(&[&r[20..]]);
    r[22..24].copy_from_slice(&c.to_be_bytes());
    Some(r)
}

/// The IPv4 destination of a packet.
pub fn dst_of(p: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(p[16], p[17], p[18], p[19])
}
