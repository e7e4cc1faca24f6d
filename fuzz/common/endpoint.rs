//! What the endpoint fuzz targets share: the configurations of the two peers, a decoder that
//! turns fuzzer bytes into datagrams and commands, and the checks made after every step.
//!
//! Input format: a sequence of steps, each introduced by one control byte.
//! - `0x00..=0x7f`: a datagram. Bit 6: it arrives on port 4500 (else 500); bit 5: it comes
//!   from an unknown address (else from the peer), one of eight, changing with each step;
//!   bits 0-4: time advances by that many 100 ms first. Then a big-endian 16-bit length and that many bytes (fewer at the end).
//! - `0x80..=0xff`: a command, `(byte & 0x7f) % 8`, with one argument byte: 0 connect a tunnel
//!   (argument % 2), 1 rekey its Child SAs, 2 delete them, 3 rekey the IKE SA, 4 delete it,
//!   5 liveness check, 6 advance the clock by the argument in seconds and handle timeouts,
//!   7 report an invalid SPI.
//!
//! Checked after every step: nothing panics; every datagram the endpoint sends is a keepalive
//! or parses as an IKE message, and with the no-security keys its SK payload opens and its
//! inner payloads parse; IKE SAs and Child SAs stay within a bound proportional to the steps
//! taken; half-open IKE SAs stay within the configured limits (small here, so that fuzzing
//! reaches them); `handle_timeout` visits no more SAs than are held; and the events tell a
//! consistent story ([`EventLog`]).

// Each target uses the parts it needs.
#![allow(dead_code)]

use super::no_security;
use core::time::Duration;
use ikev2::config::RetransmitPolicy;
use ikev2::config::{Authentication, EndpointConfig, GatewayConfig, ProxyId, TunnelConfig};
use ikev2::identity::Identity;
use ikev2::proposal::{EspProposal, IkeProposal};
use ikev2::wire::{unprotect, Message, Payload, Reassembler, SkKeys};
use ikev2::{Endpoint, Event};
use ipsec_core::child_sa::Mode;
use ipsec_core::crypto::default::SeededRandom;
use ipsec_core::crypto::{
    CryptoError, CryptoProvider, DhGroup, EncrId, Encryption, IntegId, PrfId, SecretBytes,
    SecureRandom,
};
use ipsec_core::selector::TrafficSelector;
use ipsec_core::time::Instant;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

/// The initiator's address.
pub const LEFT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
/// The responder's address.
pub const RIGHT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
/// A third party.
pub const STRANGER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

/// The third parties a responder hears from: [`STRANGER`] and seven more.
pub fn stranger_addr(i: usize) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7 + (i % 8) as u8))
}

/// The responder's half-open limits, small so that fuzzing reaches them.
pub const HALF_OPEN_LIMIT: usize = 6;
/// Half-open IKE SAs per address.
pub const HALF_OPEN_PER_ADDRESS: usize = 2;
/// The seed of the initiator's random source; the responder's is one more (as in
/// `ikev2::testing::Pair`, so that seeds recorded from a `Pair` replay exactly).
pub const SEED: u64 = 0x5eed;

/// The provider's own random source: the endpoints get seeded ones instead.
#[derive(Debug)]
struct Zeros;

impl SecureRandom for Zeros {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        buf.fill(0);
        Ok(())
    }
}

static ZEROS: Zeros = Zeros;

/// The no-security provider the endpoints run on.
pub fn provider() -> CryptoProvider {
    no_security::provider(&ZEROS)
}

/// The random source `ikev2::testing::Pair` gives the endpoint seeded with `seed`.
pub fn rng(seed: u64) -> Box<dyn SecureRandom> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    Box::new(SeededRandom::new(bytes))
}

fn selector(net: [u8; 3], bits: u8, protocol: u8) -> TrafficSelector {
    let start = u32::from_be_bytes([net[0], net[1], net[2], 0]);
    let size = 1u32 << (32 - u32::from(bits));
    TrafficSelector {
        protocol,
        start_port: 0,
        end_port: 65535,
        start_addr: IpAddr::V4(start.into()),
        end_addr: IpAddr::V4((start + (size - 1)).into()),
    }
}

/// One side's configuration: gateway `gw` toward the other side, tunnels `t0` (two proxy IDs)
/// and `t1` (one, ICMP only), AES-GCM "no-security" proposals with PFS on Curve25519 (the zero
/// key exchange), NAT-T and fragmentation on, no liveness checks, a short Child SA lifetime so
/// that rekeys and expiry happen within a fuzz run. The responder accepts any peer address
/// (a dynamic peer) and any ID.
pub fn config(initiator: bool) -> EndpointConfig {
    let gcm = Encryption {
        id: EncrId::ENCR_AES_GCM_16,
        key_bits: 128,
    };
    let (local, peer, mine, theirs) = if initiator {
        (LEFT, Some(RIGHT), [10, 1, 0], [10, 2, 0])
    } else {
        (RIGHT, None, [10, 2, 0], [10, 1, 0])
    };
    let mut c = EndpointConfig::new();
    c.half_open_limit = HALF_OPEN_LIMIT;
    c.half_open_per_address = HALF_OPEN_PER_ADDRESS;
    c.gateways.push(GatewayConfig {
        name: "gw".into(),
        local_addr: local,
        peer_addr: peer,
        local_id: Identity::Fqdn(if initiator { "left.fuzz" } else { "right.fuzz" }.into()),
        peer_id: None,
        auth: Authentication::PreSharedKey(SecretBytes::from_slice(b"fuzz")),
        ike_proposals: vec![IkeProposal {
            encryption: vec![gcm],
            prf: vec![PrfId::PRF_HMAC_SHA2_256],
            integrity: vec![],
            dh: vec![DhGroup::CURVE25519],
        }],
        ike_lifetime: Duration::from_secs(3 * 3600),
        nat_traversal: true,
        nat_keepalive: Some(Duration::from_secs(20)),
        force_encapsulation: false,
        passive: false,
        require_cookie: false,
        fragmentation: true,
        liveness: None,
        retransmit: RetransmitPolicy::default(),
    });
    let esp = EspProposal {
        encryption: vec![gcm],
        integrity: vec![],
        dh: vec![DhGroup::CURVE25519],
        esn: vec![true, false],
    };
    let pid = |name: &str, bits: u8, protocol: u8| ProxyId {
        name: name.into(),
        local: selector(mine, bits, protocol),
        remote: selector(theirs, bits, protocol),
    };
    for (name, proxies) in [
        ("t0", vec![pid("lan", 24, 0), pid("wide", 16, 0)]),
        ("t1", vec![pid("icmp", 24, 1)]),
    ] {
        c.tunnels.push(TunnelConfig {
            name: name.into(),
            gateway: "gw".into(),
            esp_proposals: vec![esp.clone()],
            proxy_ids: proxies,
            lifetime: Duration::from_secs(600),
            lifesize: None,
            mode: Mode::Tunnel,
            replay_window: 64,
        });
    }
    c
}

/// One decoded step of a fuzz input.
#[derive(Debug)]
pub enum Step<'a> {
    /// A datagram to hand to the endpoint.
    Datagram {
        /// Arrives on port 4500.
        natt: bool,
        /// From an address that is not the peer's.
        stranger: bool,
        /// Clock advance before it, in units of 100 ms.
        advance: u8,
        /// The UDP payload.
        bytes: &'a [u8],
    },
    /// A command and its argument.
    Command(u8, u8),
}

/// Decodes fuzzer bytes into steps (see the module doc).
pub fn steps(mut input: &[u8]) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    while let Some((&t, rest)) = input.split_first() {
        if t & 0x80 != 0 {
            let arg = rest.first().copied().unwrap_or(0);
            out.push(Step::Command((t & 0x7f) % 8, arg));
            input = rest.get(1..).unwrap_or(&[]);
            continue;
        }
        let len = match rest {
            [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => rest.len(),
        };
        let body = rest.get(2..).unwrap_or(&[]);
        let len = len.min(body.len());
        out.push(Step::Datagram {
            natt: t & 0x40 != 0,
            stranger: t & 0x20 != 0,
            advance: t & 0x1f,
            bytes: &body[..len],
        });
        input = &body[len..];
    }
    out
}

/// Encodes a datagram step (the seed generator writes these).
pub fn encode_datagram(out: &mut Vec<u8>, natt: bool, advance: u8, bytes: &[u8]) {
    out.push(if natt { 0x40 } else { 0 } | (advance & 0x1f));
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&bytes[..usize::from(len)]);
}

/// Encodes a command step.
pub fn encode_command(out: &mut Vec<u8>, command: u8, arg: u8) {
    out.push(0x80 | command);
    out.push(arg);
}

/// What the events of one endpoint have said so far, to check each new one against.
#[derive(Default)]
pub struct EventLog {
    /// Inbound SPIs of the Child SAs reported up and not yet down.
    pub children_up: HashSet<u32>,
    /// Every inbound SPI ever reported.
    pub spis_seen: HashSet<u32>,
    /// IKE SAs (SPIi, SPIr) reported up and not yet down.
    pub ike_up: HashSet<(u64, u64)>,
}

impl EventLog {
    /// Checks `e` against what came before and records it; panics (a fuzzer finding) when it
    /// contradicts the earlier events.
    pub fn observe(&mut self, who: &str, e: &Event) {
        match e {
            Event::ChildSaUp { child, .. } => {
                let spi = child.inbound.spi;
                assert!(spi > 255, "{who}: reserved inbound SPI {spi:#x}: {e}");
                assert!(
                    self.spis_seen.insert(spi),
                    "{who}: inbound SPI {spi:08x} used a second time: {e}"
                );
                self.children_up.insert(spi);
                assert!(
                    !self.ike_up.is_empty(),
                    "{who}: a Child SA came up without an IKE SA: {e}"
                );
            }
            Event::ChildSaDown { inbound_spi, .. } => {
                assert!(
                    self.children_up.remove(inbound_spi),
                    "{who}: a Child SA that is not up went down: {e}"
                );
            }
            Event::IkeSaUp { sa, .. } => {
                assert!(
                    self.ike_up.insert((sa.spi_i, sa.spi_r)),
                    "{who}: IKE SA up twice: {e}"
                );
            }
            Event::IkeSaDown { sa, .. } => {
                assert!(
                    self.ike_up.remove(&(sa.spi_i, sa.spi_r)),
                    "{who}: an IKE SA that is not up went down: {e}"
                );
            }
            _ => {}
        }
        // Every event renders (peer data in it is escaped, never a panic).
        let _ = e.to_string();
    }

    /// The endpoint's installed Child SAs are exactly those the events reported up.
    pub fn matches(&self, who: &str, ep: &Endpoint) {
        let installed: HashSet<u32> = ep
            .ike_sas()
            .iter()
            .flat_map(|s| s.children.iter().map(|c| c.inbound_spi))
            .collect();
        assert_eq!(
            installed, self.children_up,
            "{who}: installed Child SAs differ from the events"
        );
    }
}

/// The no-security SK keys: any key opens what the endpoints seal.
pub fn sk_keys() -> SkKeys {
    let gcm = Encryption {
        id: EncrId::ENCR_AES_GCM_16,
        key_bits: 128,
    };
    SkKeys::new(&provider(), gcm, IntegId::NONE, &[0; 20], &[]).expect("no-security keys")
}

/// Checks one datagram the endpoint sent from `local`.
pub fn check_sent(local: SocketAddr, bytes: &[u8], keys: &SkKeys) {
    let ike = if local.port() == 4500 {
        if bytes == [0xff] {
            return;
        }
        assert_eq!(
            bytes.get(..4),
            Some(&[0u8; 4][..]),
            "sent on 4500 without the non-ESP marker: {bytes:02x?}"
        );
        &bytes[4..]
    } else {
        bytes
    };
    let m = Message::parse(ike).unwrap_or_else(|e| {
        panic!("the endpoint sent a message that does not parse ({e}): {ike:02x?}")
    });
    for p in &m.payloads {
        match p {
            Payload::Sk(_) => {
                unprotect(ike, keys).unwrap_or_else(|e| {
                    panic!("the endpoint sent an SK payload that does not open ({e}): {ike:02x?}")
                });
            }
            Payload::Skf(_) => {
                Reassembler::default()
                    .handle(ike, keys)
                    .unwrap_or_else(|e| {
                        panic!("the endpoint sent a fragment that does not open ({e}): {ike:02x?}")
                    });
            }
            _ => {}
        }
    }
}

/// One endpoint under fuzzing, with its clock and what it said.
pub struct Driven {
    pub ep: Endpoint,
    pub now: Instant,
    pub log: EventLog,
    /// The events so far, when [`keep`](Self::keep) is set (the seed generator checks them).
    pub kept: Vec<Event>,
    /// Whether to keep the events.
    pub keep: bool,
    keys: SkKeys,
    peer: IpAddr,
    steps: usize,
    buf: Vec<u8>,
}

impl Driven {
    /// The initiator (`initiator`) or the responder of [`config`], seeded as in a `Pair`.
    pub fn new(initiator: bool) -> Driven {
        let (cfg, seed, peer) = if initiator {
            (config(true), SEED, RIGHT)
        } else {
            (config(false), SEED + 1, LEFT)
        };
        let ep = Endpoint::with_rng(cfg, provider(), rng(seed)).expect("fuzz config");
        Driven {
            ep,
            now: Instant::from_secs(1),
            log: EventLog::default(),
            kept: Vec::new(),
            keep: false,
            keys: sk_keys(),
            peer,
            steps: 0,
            buf: vec![0; 65535],
        }
    }

    /// Runs one step, then drains and checks the endpoint's output.
    pub fn step(&mut self, s: &Step<'_>) {
        self.steps += 1;
        match *s {
            Step::Datagram {
                natt,
                stranger,
                advance,
                bytes,
            } => {
                self.now += Duration::from_millis(100) * u32::from(advance);
                self.ep.handle_timeout(self.now);
                let port = if natt { 4500 } else { 500 };
                let me = self.ep.config().gateways[0].local_addr;
                let from = if stranger {
                    stranger_addr(self.steps)
                } else {
                    self.peer
                };
                self.ep.handle_datagram(
                    self.now,
                    SocketAddr::new(me, port),
                    SocketAddr::new(from, port),
                    bytes,
                );
            }
            Step::Command(c, arg) => {
                let tunnel = if arg % 2 == 0 { "t0" } else { "t1" };
                let now = self.now;
                // Commands may be refused (nothing to rekey, not established): that is fine.
                let _ = match c {
                    0 => self.ep.connect(now, tunnel),
                    1 => self.ep.rekey_child(now, tunnel),
                    2 => self.ep.delete_child(now, tunnel),
                    3 => self.ep.rekey_ike(now, "gw"),
                    4 => self.ep.delete_ike(now, "gw"),
                    5 => self.ep.liveness_check(now, "gw"),
                    6 => {
                        self.now += Duration::from_secs(u64::from(arg));
                        let (held, before) = (self.ep.ike_sa_count(), self.visits());
                        self.ep.handle_timeout(self.now);
                        assert!(
                            self.visits() - before <= held as u64,
                            "handle_timeout visited {} SAs with {held} held",
                            self.visits() - before
                        );
                        Ok(())
                    }
                    _ => self.ep.invalid_spi(now, self.peer, 0x100 + u32::from(arg)),
                };
            }
        }
        self.drain();
    }

    /// The SAs `handle_timeout` visited so far.
    fn visits(&self) -> u64 {
        self.ep.stats().timeout_visits
    }

    /// Checks and discards every datagram and event; checks the bounds.
    pub fn drain(&mut self) {
        while let Some(t) = self.ep.poll_transmit(&mut self.buf) {
            check_sent(t.local, &self.buf[..t.len], &self.keys);
        }
        while let Some(e) = self.ep.poll_event() {
            self.log.observe("endpoint", &e);
            if self.keep {
                self.kept.push(e);
            }
        }
        self.log.matches("endpoint", &self.ep);
        let sas = self.ep.ike_sas();
        // Each step creates at most one IKE SA (a new one, or a rekey's successor) and a
        // handful of Child SAs; anything more is state an attacker can grow without bound.
        assert!(
            sas.len() <= self.steps + 1,
            "{} IKE SAs after {} steps",
            sas.len(),
            self.steps
        );
        assert_eq!(sas.len(), self.ep.ike_sa_count());
        let half_open = self.ep.half_open_count();
        assert!(
            half_open <= HALF_OPEN_LIMIT,
            "{half_open} half-open IKE SAs, over the limit"
        );
        assert!(
            half_open <= sas.iter().filter(|s| !s.established).count(),
            "half-open count {half_open} disagrees with the SAs"
        );
        let children: usize = sas.iter().map(|s| s.children.len()).sum();
        assert!(
            children <= 4 * (self.steps + 1),
            "{children} Child SAs after {} steps",
            self.steps
        );
    }
}
