//! The two firewalls and the in-memory network between them, with a simulated clock.
//!
//! Each firewall is a [`gateway::Gateway`] built from its configuration file; the network
//! carries what they send with a fixed one-way latency. Time only moves when nothing is left to
//! do now: to the next arrival, or to the next deadline a gateway asked for with
//! `poll_timeout`, so retransmissions, liveness checks and tunnel monitors run as they would on
//! a real network.

use core::time::Duration;
use gateway::{
    default_provider, Action, Config, Event, Gateway, Instant, InterfaceAddress, InterfaceId,
    Options, OuterProtocol, HEADROOM, TAILROOM,
};
use ikev2::config::Authentication;
use ikev2::wire::NotifyType;
use ikev2::Reason;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

/// One-way latency of the simulated link.
const LATENCY: Duration = Duration::from_millis(5);

/// An inner packet that came out of the tunnel at a firewall.
pub(crate) struct Received {
    /// The inbound SPI it arrived on.
    pub(crate) spi: Option<u32>,
    /// The inner IP packet.
    pub(crate) packet: Vec<u8>,
}

/// An ESP packet a firewall put on the wire.
pub(crate) struct EspOut {
    pub(crate) source: SocketAddr,
    pub(crate) destination: SocketAddr,
    pub(crate) spi: u32,
    pub(crate) len: usize,
}

/// A firewall of the demo: its gateway and what happened to it.
pub(crate) struct Firewall {
    /// Its short name (`hq`), for output.
    pub(crate) name: String,
    pub(crate) gateway: Gateway,
    /// Where the network delivers to it: the local address of its first IKE gateway.
    pub(crate) address: IpAddr,
    /// Its LAN port.
    lan: InterfaceId,
    /// Every event, with when it happened.
    pub(crate) log: Vec<(Instant, Event)>,
    /// Failed negotiations, as logged.
    pub(crate) failures: Vec<String>,
    /// Inner packets that came out of the tunnel, for its LAN hosts or its own stack.
    pub(crate) received: Vec<Received>,
    /// Outer packets it dropped, with the reason.
    pub(crate) dropped: Vec<String>,
}

impl Firewall {
    /// How this firewall's first IKE gateway authenticates, for the demo's opening lines:
    /// `a pre-shared key`, or its certificate and the CAs it trusts.
    pub(crate) fn authentication(&self) -> String {
        let Some(g) = self.gateway.endpoint().config().gateways.first() else {
            return "nothing (no IKE gateway)".to_owned();
        };
        match &g.auth {
            Authentication::PreSharedKey(_) => "a pre-shared key".to_owned(),
            Authentication::Certificate(c) => {
                let ours = c.credential.certificate();
                let key = ours
                    .key_type()
                    .map_or_else(|e| e.to_string(), |k| k.to_string());
                let cas: Vec<String> = c
                    .trust
                    .cas()
                    .iter()
                    .map(|ca| format!("\"{}\"", ca.subject()))
                    .collect();
                format!(
                    "certificate \"{}\" ({key}), trusting {}",
                    ours.subject(),
                    cas.join(", ")
                )
            }
        }
    }

    /// Loads `path` and builds the gateway with the default provider.
    ///
    /// The demo adds what a real firewall knows from its interfaces and the configuration
    /// leaves out: the LAN port (the first interface a zone names that is not a tunnel
    /// interface) gets the first address of each local proxy-ID network, so packets out of the
    /// tunnel have a connected route. UDP encapsulation is forced (there is no NAT on the
    /// in-memory network; without it ESP would travel as raw IP protocol 50).
    pub(crate) fn load(name: &str, path: &str) -> Result<Firewall, String> {
        let config = Config::load(path).map_err(|errs| {
            errs.iter()
                .map(|e| format!("{path}: {e}"))
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        let port = config
            .zones
            .iter()
            .flat_map(|z| z.interfaces.iter())
            .find(|i| config.tunnel_interface(i).is_none())
            .cloned()
            .ok_or_else(|| format!("{path}: no zone names a LAN interface"))?;
        let lans: Vec<InterfaceAddress> = config
            .ipsec_tunnels
            .iter()
            .filter(|t| !t.disabled)
            .flat_map(|t| t.proxy_ids.iter())
            .filter_map(|p| first_host(&p.local))
            .collect();
        let options = Options {
            force_udp_encapsulation: true,
            ..Options::default()
        };
        let mut gateway = Gateway::with_options(config, default_provider(), options)
            .map_err(|e| format!("{path}: {e}"))?;
        let address = gateway
            .endpoint()
            .config()
            .gateways
            .first()
            .map(|g| g.local_addr)
            .ok_or_else(|| format!("{path}: no IKEv2 gateway"))?;
        for a in lans {
            gateway
                .set_interface_address(&port, a)
                .map_err(|e| format!("{path}: {e}"))?;
        }
        let lan = gateway
            .interface(&port)
            .ok_or_else(|| format!("{path}: interface {port}"))?;
        Ok(Firewall {
            name: name.to_owned(),
            gateway,
            address,
            lan,
            log: Vec::new(),
            failures: Vec::new(),
            received: Vec::new(),
            dropped: Vec::new(),
        })
    }

    /// The `ipsec-tunnel`s over active gateways: what [`Firewall::initiate`] brings up.
    pub(crate) fn ike_tunnels(&self) -> Vec<String> {
        let cfg = self.gateway.endpoint().config();
        cfg.tunnels
            .iter()
            .filter(|t| cfg.gateway(&t.gateway).is_some_and(|g| !g.passive))
            .map(|t| t.name.clone())
            .collect()
    }

    /// How many Child SAs [`Firewall::initiate`] should end with: one per proxy ID of each
    /// tunnel (one for a tunnel without proxy IDs).
    pub(crate) fn expected_children(&self) -> usize {
        let cfg = self.gateway.endpoint().config();
        self.ike_tunnels()
            .iter()
            .filter_map(|t| cfg.tunnel(t))
            .map(|t| t.proxy_ids.len().max(1))
            .sum()
    }

    /// How many Child SAs are installed.
    pub(crate) fn children(&self, now: Instant) -> usize {
        self.gateway.show_ipsec_sa(now).sas.len()
    }

    /// Brings up every tunnel, each with all its proxy IDs.
    pub(crate) fn initiate(&mut self, now: Instant) -> Result<(), String> {
        for t in self.ike_tunnels() {
            self.gateway
                .connect(now, &t)
                .map_err(|e| format!("{}: connect {t}: {e}", self.name))?;
        }
        Ok(())
    }

    /// Drains the gateway's events into the log, noting failures.
    fn poll_events(&mut self, now: Instant) {
        while let Some(event) = self.gateway.poll_event() {
            let failure = match &event {
                Event::Ike(
                    ikev2::Event::Phase1Failed { reason, .. }
                    | ikev2::Event::Phase2Failed { reason, .. }
                    | ikev2::Event::IkeSaDown { reason, .. },
                ) => Some(match notify_of(reason) {
                    Some(n) => format!("{event} [notify {n}]"),
                    None => event.to_string(),
                }),
                Event::Ike(ikev2::Event::NoGateway { .. }) | Event::InstallFailed { .. } => {
                    Some(event.to_string())
                }
                _ => None,
            };
            self.failures.extend(failure);
            self.log.push((now, event));
        }
    }

    /// Takes a datagram the network delivers to `local` from `remote` (port 0: raw ESP).
    fn receive(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, bytes: &mut [u8]) {
        let action = if local.port() == 0 {
            self.gateway.handle_esp(now, remote.ip(), bytes)
        } else {
            self.gateway.handle_datagram(now, local, remote, bytes)
        };
        match action {
            Action::Deliver(d) => self.received.push(Received {
                spi: d.inbound_spi,
                packet: bytes.get(d.range).unwrap_or_default().to_vec(),
            }),
            Action::Drop(r) => self.dropped.push(format!("{r} ({})", r.description())),
            Action::Send(_) | Action::Consumed => {}
        }
    }
}

/// The first address of a local proxy-ID network, as its LAN port's address (`10.1.0.0/24` ->
/// `10.1.0.1/24`); `None` for host routes and IPv6.
fn first_host(p: &ipsec_core::selector::IpPrefix) -> Option<InterfaceAddress> {
    let IpAddr::V4(net) = p.network() else {
        return None;
    };
    if p.prefix_len() >= 31 {
        return None;
    }
    let addr = IpAddr::V4(u32::from(net).checked_add(1)?.into());
    Some(InterfaceAddress {
        addr,
        prefix_len: p.prefix_len(),
    })
}

/// The name of the notify (RFC 7296 section 3.10.1) a failure is signalled with on the wire.
fn notify_of(reason: &Reason) -> Option<String> {
    let n = match reason {
        Reason::AuthenticationFailed(_) => NotifyType::AUTHENTICATION_FAILED,
        Reason::NoProposalChosen { .. } => NotifyType::NO_PROPOSAL_CHOSEN,
        Reason::TsUnacceptable { .. } => NotifyType::TS_UNACCEPTABLE,
        Reason::Malformed(_) => NotifyType::INVALID_SYNTAX,
        Reason::PeerNotify(n) => NotifyType(*n),
        _ => return None,
    };
    Some(n.name().map_or_else(|| n.0.to_string(), str::to_owned))
}

/// A datagram on the wire.
struct InFlight {
    arrives: Instant,
    source: SocketAddr,
    destination: SocketAddr,
    bytes: Vec<u8>,
}

/// The wire and the clock.
pub(crate) struct Network {
    /// The simulated time.
    pub(crate) now: Instant,
    wire: VecDeque<InFlight>,
    /// Datagrams carried, and their bytes.
    pub(crate) datagrams: u64,
    pub(crate) bytes: u64,
    /// Datagrams to addresses no firewall has.
    pub(crate) undeliverable: u64,
}

/// Why driving stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The goal was reached.
    Done,
    /// A firewall reported a failure, and what was in flight was delivered.
    Failed,
    /// Simulated time ran past the limit with the goal not reached.
    TimedOut,
}

impl Network {
    /// An empty network at `now`.
    pub(crate) fn new(now: Instant) -> Network {
        Network {
            now,
            wire: VecDeque::new(),
            datagrams: 0,
            bytes: 0,
            undeliverable: 0,
        }
    }

    /// Puts a datagram on the wire.
    fn send(&mut self, source: SocketAddr, destination: SocketAddr, bytes: Vec<u8>) {
        self.datagrams += 1;
        self.bytes += bytes.len() as u64;
        self.wire.push_back(InFlight {
            arrives: self.now.saturating_add(LATENCY),
            source,
            destination,
            bytes,
        });
    }

    /// Routes the inner IP packet `inner` through firewall `fw`, as if it came from its LAN
    /// (`local == false`) or from its own IP stack, and puts the ESP packet on the wire.
    pub(crate) fn send_inner(
        &mut self,
        fw: &mut Firewall,
        inner: &[u8],
        local: bool,
    ) -> Result<EspOut, String> {
        let mut buf = vec![0u8; HEADROOM + inner.len() + TAILROOM];
        let range = HEADROOM..HEADROOM + inner.len();
        buf[range.clone()].copy_from_slice(inner);
        let action = if local {
            fw.gateway.handle_local(self.now, &mut buf, range)
        } else {
            fw.gateway.handle_inner(self.now, fw.lan, &mut buf, range)
        };
        let t = match action {
            Action::Send(t) => t,
            Action::Drop(r) => {
                return Err(format!("{}: dropped: {r} ({})", fw.name, r.description()))
            }
            other => return Err(format!("{}: not sent into a tunnel: {other:?}", fw.name)),
        };
        let bytes = buf.get(t.range).unwrap_or_default().to_vec();
        let out = EspOut {
            source: t.source,
            destination: t.destination,
            spi: esp::wire::peek_spi(&bytes).unwrap_or(0),
            len: bytes.len(),
        };
        self.send(t.source, t.destination, bytes);
        Ok(out)
    }

    /// Runs both firewalls until `goal` holds, a failure was reported (then until the wire is
    /// empty, so the peer hears about it too), or `limit` of simulated time has passed.
    pub(crate) fn drive(
        &mut self,
        fws: &mut [Firewall; 2],
        limit: Duration,
        goal: impl Fn(&[Firewall; 2], Instant) -> bool,
    ) -> Stop {
        let end = self.now.saturating_add(limit);
        let mut buf = vec![0u8; 65_535];
        loop {
            self.flush(fws, &mut buf);
            let failed = fws.iter().any(|f| !f.failures.is_empty());
            if !failed && goal(fws, self.now) {
                return Stop::Done;
            }
            let arrival = self.wire.front().map(|d| d.arrives);
            if failed && arrival.is_none() {
                return Stop::Failed;
            }
            let timers = fws.iter().filter_map(|f| f.gateway.poll_timeout());
            let next = match (arrival, failed) {
                // After a failure only the wire is drained; no new exchanges are started.
                (a, true) => a,
                (a, false) => a.into_iter().chain(timers).min(),
            };
            let Some(next) = next else {
                return Stop::TimedOut;
            };
            if next > end {
                self.now = end;
                return Stop::TimedOut;
            }
            self.now = self.now.max(next);
            self.deliver_due(fws);
            if !failed {
                for fw in fws.iter_mut() {
                    if fw.gateway.poll_timeout().is_some_and(|t| t <= self.now) {
                        fw.gateway.handle_timeout(self.now);
                    }
                }
            }
        }
    }

    /// Delivers what is in flight, and what that causes, without letting timers run.
    pub(crate) fn drain(&mut self, fws: &mut [Firewall; 2]) {
        let mut buf = vec![0u8; 65_535];
        // Bounded: what arrives can only cause a few exchanges.
        for _ in 0..10_000 {
            self.flush(fws, &mut buf);
            let Some(next) = self.wire.front().map(|d| d.arrives) else {
                return;
            };
            self.now = self.now.max(next);
            self.deliver_due(fws);
        }
    }

    /// Puts what the firewalls have to send on the wire and logs their events.
    fn flush(&mut self, fws: &mut [Firewall; 2], buf: &mut [u8]) {
        for fw in fws.iter_mut() {
            while let Some(t) = fw.gateway.poll_transmit(buf) {
                let bytes = buf.get(t.range.clone()).unwrap_or_default().to_vec();
                let (src, dst) = match t.protocol {
                    OuterProtocol::Udp => (t.source, t.destination),
                    OuterProtocol::Esp => (
                        SocketAddr::new(t.source.ip(), 0),
                        SocketAddr::new(t.destination.ip(), 0),
                    ),
                };
                self.send(src, dst, bytes);
            }
            fw.poll_events(self.now);
        }
    }

    /// Hands every datagram due by now to the firewall that owns its destination address.
    fn deliver_due(&mut self, fws: &mut [Firewall; 2]) {
        while self.wire.front().is_some_and(|d| d.arrives <= self.now) {
            let Some(mut d) = self.wire.pop_front() else {
                break;
            };
            match fws.iter_mut().find(|f| f.address == d.destination.ip()) {
                Some(fw) => fw.receive(self.now, d.destination, d.source, &mut d.bytes),
                None => self.undeliverable += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lan_ports_take_the_first_host_of_each_local_network() {
        let a = first_host(&"10.1.0.0/24".parse().unwrap()).unwrap();
        assert_eq!(a.to_string(), "10.1.0.1/24");
        assert_eq!(first_host(&"169.254.100.1/32".parse().unwrap()), None);
        assert_eq!(first_host(&"2001:db8::/64".parse().unwrap()), None);
    }
}
