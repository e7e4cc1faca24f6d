//! A deterministic two-peer harness: two [`Endpoint`]s over a simulated network and clock.
//!
//! The network has a latency and, drawn from a seeded generator, loss, duplication and
//! reordering; a tamper hook may rewrite or drop any datagram, and an optional NAT in front of
//! the left peer rewrites its source address. Each endpoint gets its own seeded random source, so
//! every run of a test is identical. [`Pair::drive_until`] is bounded in simulated time and in
//! steps, so a livelock fails the test instead of hanging it.
//!
//! Each peer also has a datapath, a real [`esp::SaTable`] that follows its events as an
//! embedder would; [`Pair::start_probes`] sends ESP packets through it both ways at a steady
//! rate and [`Pair::probes`] counts what got through, so a test can show that a rekey loses no
//! packet.
//!
//! Used by the crate's integration tests, benchmarks and fuzzers; not meant for production.

mod datapath;
pub mod flood;

use datapath::Datapath;
pub use datapath::Probes;

use crate::config::RetransmitPolicy;
use crate::config::{
    Authentication, EndpointConfig, GatewayConfig, LivenessConfig, ProxyId, TunnelConfig,
};
use crate::identity::{IdPattern, Identity};
use crate::proposal::{EspProposal, IkeProposal};
use crate::{Endpoint, Event, Received};
use core::time::Duration;
use ipsec_core::child_sa::{ChildSa, Mode};
use ipsec_core::crypto::default::SeededRandom;
use ipsec_core::crypto::{
    default_provider, CryptoProvider, DhGroup, EncrId, Encryption, PrfId, SecretBytes,
};
use ipsec_core::selector::{IpPrefix, TrafficSelector};
use ipsec_core::time::{Instant, UnixTime};
use std::net::{IpAddr, SocketAddr};

/// The wall-clock time both endpoints of a [`Pair`] are given at its start
/// ([`Endpoint::set_wall_clock`]): 2030-01-01T00:00:00Z, inside the validity of the test PKI's
/// certificates (`testdata/pki`) but its expired one's. A test may give another.
pub const WALL_CLOCK: UnixTime = UnixTime::from_secs(1_893_456_000);

/// One of the two peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The left peer (usually the initiator).
    Left,
    /// The right peer.
    Right,
}

impl Side {
    /// The other peer.
    pub fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// What the tamper hook decides for a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it (possibly modified).
    Deliver,
    /// Drop it.
    Drop,
}

/// A datagram on the simulated wire.
#[derive(Clone, Debug)]
struct InFlight {
    at: Instant,
    seq: u64,
    to: Side,
    local: SocketAddr,
    remote: SocketAddr,
    bytes: Vec<u8>,
    /// An ESP probe of the harness's datapath, not a datagram for the endpoint.
    probe: bool,
}

/// The tamper hook: sees the sender, the destination address and the UDP payload.
pub type TamperFn = Box<dyn FnMut(Side, SocketAddr, &mut Vec<u8>) -> Verdict>;

/// Two endpoints, a network and a clock.
pub struct Pair {
    /// The left endpoint.
    pub left: Endpoint,
    /// The right endpoint.
    pub right: Endpoint,
    /// The simulated clock.
    pub now: Instant,
    /// One-way latency.
    pub latency: Duration,
    /// Per-mille probability that a datagram is lost.
    pub loss_permille: u32,
    /// Per-mille probability that a datagram is delivered twice.
    pub duplicate_permille: u32,
    /// Per-mille probability that a datagram is delayed by an extra latency (reordering).
    pub reorder_permille: u32,
    /// Rewrites or drops datagrams before the network sees them.
    pub tamper: Option<TamperFn>,
    /// A NAT in front of the left peer: its public address. Source ports are mapped to
    /// `port + 30000`.
    pub left_nat: Option<IpAddr>,
    /// Events of the left endpoint, in order.
    pub left_events: Vec<Event>,
    /// Events of the right endpoint, in order.
    pub right_events: Vec<Event>,
    /// Datagrams each side classified as ESP.
    pub esp_received: Vec<(Side, Vec<u8>)>,
    /// The Child SAs each side's datapath holds, from its events: installed on
    /// [`Event::ChildSaUp`], removed on [`Event::ChildSaDown`], in the order they came up.
    installed: [Vec<ChildSa>; 2],
    /// Datagrams sent (before loss), by sender.
    pub sent: Vec<(Side, SocketAddr, SocketAddr, Vec<u8>)>,
    left_ip: IpAddr,
    right_ip: IpAddr,
    net_rng: u64,
    seq: u64,
    wire: Vec<InFlight>,
    datapaths: [Datapath; 2],
    /// Probe interval and the next probe instant, while probes run.
    probing: Option<(Duration, Instant)>,
}

/// Steps `drive_until` takes before declaring a livelock.
const MAX_STEPS: usize = 200_000;

impl Pair {
    /// Two endpoints with the default provider and seeded random sources (`seed` and `seed+1`),
    /// at the addresses of their first gateways.
    pub fn new(left: EndpointConfig, right: EndpointConfig, seed: u64) -> Pair {
        Self::with_provider(left, right, seed, default_provider())
    }

    /// As [`Pair::new`] with another provider.
    pub fn with_provider(
        left: EndpointConfig,
        right: EndpointConfig,
        seed: u64,
        provider: CryptoProvider,
    ) -> Pair {
        let rng = |s: u64| {
            let mut seed_bytes = [0u8; 32];
            seed_bytes[..8].copy_from_slice(&s.to_le_bytes());
            Box::new(SeededRandom::new(seed_bytes))
        };
        Self::from_endpoints(
            Endpoint::with_rng(left, provider, rng(seed)).expect("left config"),
            Endpoint::with_rng(right, provider, rng(seed.wrapping_add(1))).expect("right config"),
            seed,
        )
    }

    /// Two endpoints built by the caller, e.g. with [`Endpoint::with_rng`] and a scripted
    /// random source that fixes nonces and SPIs (to decide who wins a collision). Each sits at
    /// the address of its first gateway; `seed` drives the network's loss and reordering. Both
    /// are told the wall-clock time is [`WALL_CLOCK`] at the start.
    pub fn from_endpoints(mut left: Endpoint, mut right: Endpoint, seed: u64) -> Pair {
        let start = Instant::from_secs(1);
        left.set_wall_clock(start, WALL_CLOCK);
        right.set_wall_clock(start, WALL_CLOCK);
        let ip = |e: &Endpoint| {
            e.config()
                .gateways
                .first()
                .map(|g| g.local_addr)
                .unwrap_or(V4)
        };
        let (left_ip, right_ip) = (ip(&left), ip(&right));
        Pair {
            left,
            right,
            now: start,
            latency: Duration::from_millis(10),
            loss_permille: 0,
            duplicate_permille: 0,
            reorder_permille: 0,
            tamper: None,
            left_nat: None,
            left_events: Vec::new(),
            right_events: Vec::new(),
            esp_received: Vec::new(),
            installed: [Vec::new(), Vec::new()],
            sent: Vec::new(),
            left_ip,
            right_ip,
            net_rng: seed ^ 0x9e37_79b9_7f4a_7c15,
            seq: 0,
            wire: Vec::new(),
            datapaths: [
                Datapath::new(default_provider()),
                Datapath::new(default_provider()),
            ],
            probing: None,
        }
    }

    /// Starts sending an ESP probe from each side every `interval`, through the side's datapath
    /// (its newest sending SA), from the first Child SA's local network to its remote one. The
    /// network may lose or reorder probes ([`Probes::dropped_by_network`]) but never duplicates
    /// or tampers with them.
    pub fn start_probes(&mut self, interval: Duration) {
        self.probing = Some((interval, self.now));
    }

    /// Makes both datapaths ignore [`Outbound::Later`](crate::Outbound::Later) and
    /// [`Event::ChildSaDown`]'s `linger`: each sends on a new SA as soon as it is up and drops
    /// an old one as soon as it is down. What an embedder that only installs and removes SAs
    /// loses, for comparison.
    pub fn naive_datapaths(&mut self) {
        for d in &mut self.datapaths {
            d.naive = true;
        }
    }

    /// Stops the probes; those on the wire still arrive.
    pub fn stop_probes(&mut self) {
        self.probing = None;
    }

    /// What became of the probes `side` sent.
    pub fn probes(&self, side: Side) -> Probes {
        self.datapaths[side as usize].probes
    }

    /// Why `side`'s peer refused its probes, one line each (empty when none was refused).
    pub fn probe_rejections(&self, side: Side) -> &[String] {
        &self.datapaths[side as usize].rejections
    }

    /// Inbound SAs in `side`'s datapath, retired ones that still linger included.
    pub fn datapath_sas(&self, side: Side) -> usize {
        self.datapaths[side as usize].inbound_count()
    }

    /// Probes on the wire.
    pub fn probes_in_flight(&self) -> usize {
        self.wire.iter().filter(|p| p.probe).count()
    }

    fn send_probes(&mut self) {
        let now = self.now;
        for side in [Side::Left, Side::Right] {
            let Some(bytes) = self.datapaths[side as usize].send_probe(now) else {
                continue;
            };
            if self.roll(self.loss_permille) {
                self.datapaths[side as usize].probes.dropped_by_network += 1;
                continue;
            }
            let extra = if self.roll(self.reorder_permille) {
                self.latency * 2
            } else {
                Duration::ZERO
            };
            self.seq += 1;
            let any: SocketAddr = SocketAddr::new(V4, 0);
            self.wire.push(InFlight {
                at: now + self.latency + extra,
                seq: self.seq,
                to: side.other(),
                local: any,
                remote: any,
                bytes,
                probe: true,
            });
        }
    }

    fn deliver_probe(&mut self, p: InFlight) {
        let now = self.now;
        let r = self.datapaths[p.to as usize].receive_probe(now, &p.bytes);
        let sender = &mut self.datapaths[p.to.other() as usize];
        match r {
            Ok(()) => sender.probes.delivered += 1,
            Err(e) => {
                sender.probes.rejected += 1;
                if sender.rejections.len() < 20 {
                    sender.rejections.push(format!("at {:?}: {e}", now));
                }
            }
        }
    }

    /// The endpoint on `side`.
    pub fn endpoint(&mut self, side: Side) -> &mut Endpoint {
        match side {
            Side::Left => &mut self.left,
            Side::Right => &mut self.right,
        }
    }

    /// A request that `side`'s peer authenticates, whatever its payloads hold: `inner` (a
    /// payload chain starting with a payload of type `first`) sealed as request `message_id` of
    /// `exchange` with the keys of `side`'s established IKE SA for `gateway`. `None` without
    /// such an SA. Hand it to [`inject`](Self::inject).
    pub fn seal_request(
        &self,
        side: Side,
        gateway: &str,
        exchange: crate::wire::ExchangeType,
        message_id: u32,
        first: crate::wire::PayloadType,
        inner: &[u8],
    ) -> Option<Vec<u8>> {
        self.seal(side, gateway, (exchange, message_id, false), first, inner)
    }

    /// As [`seal_request`](Self::seal_request), a response: what `side`'s peer takes for an
    /// authenticated answer to its request `message_id`, whatever the exchange type.
    pub fn seal_response(
        &self,
        side: Side,
        gateway: &str,
        exchange: crate::wire::ExchangeType,
        message_id: u32,
        first: crate::wire::PayloadType,
        inner: &[u8],
    ) -> Option<Vec<u8>> {
        self.seal(side, gateway, (exchange, message_id, true), first, inner)
    }

    /// A message sealed by `side`'s IKE SA for `gateway` with the header `(exchange, message
    /// ID, response flag)`.
    fn seal(
        &self,
        side: Side,
        gateway: &str,
        header: (crate::wire::ExchangeType, u32, bool),
        first: crate::wire::PayloadType,
        inner: &[u8],
    ) -> Option<Vec<u8>> {
        self.side(side)
            .seal_request(gateway, header, first, inner)
            .map(|(_, _, b)| b)
    }

    /// The endpoint on `side`, shared.
    fn side(&self, side: Side) -> &Endpoint {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }

    /// Checks and decrypts a message sent to `side` with the keys of its IKE SA for `gateway`.
    pub fn open_message(
        &self,
        side: Side,
        gateway: &str,
        bytes: &[u8],
    ) -> Option<crate::wire::Message> {
        self.side(side).open_message(gateway, bytes)
    }

    /// Puts `bytes` on the wire from `from` to its peer, on the addresses of `from`'s IKE SA
    /// for `gateway` (no NAT, no loss); delivered after the latency. Returns whether such an
    /// SA exists.
    pub fn inject(&mut self, from: Side, gateway: &str, bytes: &[u8]) -> bool {
        let ep = match from {
            Side::Left => &self.left,
            Side::Right => &self.right,
        };
        let Some(sa) = ep.ike_sas().into_iter().find(|s| s.gateway == gateway) else {
            return false;
        };
        let mut data = Vec::with_capacity(bytes.len() + 4);
        if sa.local.port() == crate::nat::NATT_PORT {
            data.extend_from_slice(&crate::nat::NON_ESP_MARKER);
        }
        data.extend_from_slice(bytes);
        self.seq += 1;
        self.wire.push(InFlight {
            at: self.now + self.latency,
            seq: self.seq,
            to: from.other(),
            local: sa.remote,
            remote: sa.local,
            bytes: data,
            probe: false,
        });
        true
    }

    /// The Child SAs, keys included, that `side` installed in its datapath and has not removed
    /// yet, as an embedder following the events would hold them.
    pub fn installed(&self, side: Side) -> &[ChildSa] {
        &self.installed[side as usize]
    }

    /// The events of `side`.
    pub fn events(&self, side: Side) -> &[Event] {
        match side {
            Side::Left => &self.left_events,
            Side::Right => &self.right_events,
        }
    }

    fn roll(&mut self, permille: u32) -> bool {
        if permille == 0 {
            return false;
        }
        // xorshift64*: good enough for network decisions, and seeded.
        let mut x = self.net_rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.net_rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) % 1000 < u64::from(permille)
    }

    fn collect(&mut self) {
        let mut buf = vec![0u8; 65535];
        for side in [Side::Left, Side::Right] {
            while let Some(t) = self.endpoint(side).poll_transmit(&mut buf) {
                let mut bytes = buf[..t.len].to_vec();
                self.sent.push((side, t.local, t.remote, bytes.clone()));
                if let Some(h) = self.tamper.as_mut() {
                    if h(side, t.remote, &mut bytes) == Verdict::Drop {
                        continue;
                    }
                }
                // Routing, and the NAT in front of the left peer.
                let (to, local, remote) = match side {
                    Side::Left => {
                        let src = match self.left_nat {
                            Some(ip) => SocketAddr::new(ip, t.local.port().wrapping_add(30000)),
                            None => t.local,
                        };
                        (Side::Right, t.remote, src)
                    }
                    Side::Right => {
                        let dst = match self.left_nat {
                            Some(ip) if t.remote.ip() == ip => {
                                SocketAddr::new(self.left_ip, t.remote.port().saturating_sub(30000))
                            }
                            _ => t.remote,
                        };
                        if dst.ip() != self.left_ip {
                            continue;
                        }
                        (Side::Left, dst, t.local)
                    }
                };
                if to == Side::Right && local.ip() != self.right_ip {
                    continue;
                }
                if self.roll(self.loss_permille) {
                    continue;
                }
                let copies = if self.roll(self.duplicate_permille) {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let extra = if self.roll(self.reorder_permille) {
                        self.latency * 2
                    } else {
                        Duration::ZERO
                    };
                    self.seq += 1;
                    self.wire.push(InFlight {
                        at: self.now + self.latency + extra,
                        seq: self.seq,
                        to,
                        local,
                        remote,
                        bytes: bytes.clone(),
                        probe: false,
                    });
                }
            }
            while let Some(e) = self.endpoint(side).poll_event() {
                self.datapaths[side as usize].apply(self.now, &e);
                let installed = &mut self.installed[side as usize];
                match &e {
                    Event::ChildSaUp { child, .. } => installed.push((**child).clone()),
                    Event::ChildSaDown { inbound_spi, .. } => {
                        installed.retain(|c| c.inbound.spi != *inbound_spi)
                    }
                    _ => {}
                }
                match side {
                    Side::Left => self.left_events.push(e),
                    Side::Right => self.right_events.push(e),
                }
            }
        }
    }

    /// Runs the network and timers until `done` holds or `limit` of simulated time has passed.
    /// Returns whether `done` held. Panics after too many steps (a livelock).
    pub fn drive_until(&mut self, limit: Duration, mut done: impl FnMut(&Pair) -> bool) -> bool {
        let end = self.now + limit;
        for _ in 0..MAX_STEPS {
            self.collect();
            if done(self) {
                return true;
            }
            for d in &mut self.datapaths {
                d.tick(self.now);
            }
            let next_packet = self.wire.iter().map(|p| (p.at, p.seq)).min();
            let next_probe = self.probing.map(|(_, at)| at);
            let next_timer = [
                self.left.poll_timeout(),
                self.right.poll_timeout(),
                next_probe,
            ]
            .into_iter()
            .flatten()
            .min();
            let next = match (next_packet.map(|p| p.0), next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => return false,
            };
            if next > end {
                self.now = end;
                return false;
            }
            self.now = self.now.max(next);
            if let Some((at, seq)) = next_packet.filter(|p| p.0 <= self.now) {
                let i = self
                    .wire
                    .iter()
                    .position(|p| p.at == at && p.seq == seq)
                    .expect("packet present");
                let p = self.wire.remove(i);
                if p.probe {
                    self.deliver_probe(p);
                    continue;
                }
                let now = self.now;
                let r = self
                    .endpoint(p.to)
                    .handle_datagram(now, p.local, p.remote, &p.bytes);
                if r == Received::Esp {
                    self.esp_received.push((p.to, p.bytes));
                }
            } else if let Some((every, at)) = self.probing.filter(|(_, at)| *at <= self.now) {
                self.probing = Some((every, at + every));
                self.send_probes();
            } else {
                let now = self.now;
                self.left.handle_timeout(now);
                self.right.handle_timeout(now);
            }
        }
        panic!("drive_until: no progress after {MAX_STEPS} steps (livelock?)");
    }

    /// Runs for `d` of simulated time.
    pub fn drive_for(&mut self, d: Duration) {
        self.drive_until(d, |_| false);
    }

    /// Runs until neither side has anything in flight or due within a minute; bounded by ten
    /// minutes of simulated time. Returns whether that quiet point was reached (`false`: ten
    /// minutes passed with work still going on).
    pub fn drive(&mut self) -> bool {
        self.drive_until(Duration::from_secs(600), |p| {
            p.wire.is_empty()
                && [p.left.poll_timeout(), p.right.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .all(|t| t > p.now + Duration::from_secs(60))
        })
    }

    /// True when `side` has an established IKE SA with at least one Child SA.
    pub fn tunnel_up(&self, side: Side) -> bool {
        let ep = match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        };
        ep.ike_sas()
            .iter()
            .any(|s| s.established && !s.children.is_empty())
    }
}

const V4: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

/// The IKE proposal strongSwan's interop capture used: AES-256-GCM-16, PRF-HMAC-SHA2-256,
/// Curve25519.
pub fn ike_gcm_x25519() -> IkeProposal {
    IkeProposal {
        encryption: vec![Encryption {
            id: EncrId::ENCR_AES_GCM_16,
            key_bits: 256,
        }],
        prf: vec![PrfId::PRF_HMAC_SHA2_256],
        integrity: vec![],
        dh: vec![DhGroup::CURVE25519],
    }
}

/// ESP AES-128-GCM-16 without PFS.
pub fn esp_gcm128() -> EspProposal {
    EspProposal {
        encryption: vec![Encryption {
            id: EncrId::ENCR_AES_GCM_16,
            key_bits: 128,
        }],
        integrity: vec![],
        dh: vec![],
        esn: vec![],
    }
}

fn prefix(s: &str) -> IpPrefix {
    s.parse().expect("prefix")
}

fn selector(p: &str) -> TrafficSelector {
    let p = prefix(p);
    TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: p.network(),
        end_addr: p.last(),
    }
}

/// One side of a site-to-site pair: gateway `gw` and tunnel `tun` with one proxy ID.
#[derive(Clone, Debug)]
pub struct SiteSpec {
    /// Our address.
    pub addr: IpAddr,
    /// The peer's address (`None` for a dynamic peer).
    pub peer: Option<IpAddr>,
    /// Our ID.
    pub id: Identity,
    /// The ID we require of the peer.
    pub peer_id: Option<IdPattern>,
    /// The PSK.
    pub psk: &'static str,
    /// Our local network.
    pub local_net: &'static str,
    /// The peer's network.
    pub remote_net: &'static str,
}

impl SiteSpec {
    /// The left site of the usual test pair: 192.0.2.1, `left.ike.test`, 10.1.0.0/24.
    pub fn left() -> SiteSpec {
        SiteSpec {
            addr: "192.0.2.1".parse().expect("ip"),
            peer: Some("192.0.2.2".parse().expect("ip")),
            id: Identity::Fqdn("left.ike.test".into()),
            peer_id: Some(IdPattern::Exact(Identity::Fqdn("right.ike.test".into()))),
            psk: "interop-test-psk-0123456789",
            local_net: "10.1.0.0/24",
            remote_net: "10.2.0.0/24",
        }
    }

    /// The right site: 192.0.2.2, `right.ike.test`, 10.2.0.0/24.
    pub fn right() -> SiteSpec {
        SiteSpec {
            addr: "192.0.2.2".parse().expect("ip"),
            peer: Some("192.0.2.1".parse().expect("ip")),
            id: Identity::Fqdn("right.ike.test".into()),
            peer_id: Some(IdPattern::Exact(Identity::Fqdn("left.ike.test".into()))),
            psk: "interop-test-psk-0123456789",
            local_net: "10.2.0.0/24",
            remote_net: "10.1.0.0/24",
        }
    }

    /// The endpoint configuration: gateway `gw`, tunnel `tun`, proxy ID `pid`.
    pub fn config(&self) -> EndpointConfig {
        let mut c = EndpointConfig::new();
        c.gateways.push(GatewayConfig {
            name: "gw".into(),
            local_addr: self.addr,
            peer_addr: self.peer,
            local_id: self.id.clone(),
            peer_id: self.peer_id.clone(),
            auth: Authentication::PreSharedKey(SecretBytes::from_slice(self.psk.as_bytes())),
            ike_proposals: vec![ike_gcm_x25519()],
            ike_lifetime: Duration::from_secs(8 * 3600),
            nat_traversal: true,
            nat_keepalive: Some(Duration::from_secs(20)),
            force_encapsulation: false,
            passive: false,
            require_cookie: false,
            fragmentation: true,
            liveness: Some(LivenessConfig {
                interval: Duration::from_secs(5),
            }),
            retransmit: RetransmitPolicy::default(),
        });
        c.tunnels.push(TunnelConfig {
            name: "tun".into(),
            gateway: "gw".into(),
            esp_proposals: vec![esp_gcm128()],
            proxy_ids: vec![ProxyId {
                name: "pid".into(),
                local: selector(self.local_net),
                remote: selector(self.remote_net),
            }],
            lifetime: Duration::from_secs(3600),
            lifesize: None,
            mode: Mode::Tunnel,
            replay_window: 1024,
        });
        c
    }
}
