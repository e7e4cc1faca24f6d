//! [`Gateway`]: the IKE endpoint, the ESP datapath, routes, policy and monitors of one firewall.

use crate::child_sa::ChildSas;
use crate::counters::{Counters, DropReason};
use crate::error::{Error, Warning};
use crate::event::Event;
use crate::interfaces::{InterfaceId, Interfaces};
use crate::invalid_spi::InvalidSpiLimiter;
use crate::monitor::Monitor;
use crate::policy::Policy;
use crate::routing::RoutingTable;
use crate::session::{SessionTimeouts, Sessions};
use core::ops::Range;
use core::time::Duration;
use esp::{SaTable, TunnelId};
use ikev2::config::EndpointConfig;
use ikev2::Endpoint;
use ipsec_core::config::{Config, InterfaceAddress};
use ipsec_core::crypto::CryptoProvider;
use ipsec_core::time::Instant;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

/// Bytes to leave free before an inner packet handed to [`Gateway::handle_inner`] or
/// [`Gateway::handle_local`], for the ESP header and IV (any suite fits in it).
pub const HEADROOM: usize = 64;
/// Bytes to leave free after an inner packet, for ESP padding, trailer and ICV.
pub const TAILROOM: usize = 64;

/// How a [`Gateway`] runs, beyond what the configuration says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// UDP-encapsulate ESP even without NAT (RFC 3948), as strongSwan's `encap = yes` does: for
    /// networks that pass UDP but not IP protocol 50.
    pub force_udp_encapsulation: bool,
    /// The most sessions at once; room for them is allocated when the gateway is built.
    pub session_limit: usize,
    /// Session idle timeouts.
    pub session_timeouts: SessionTimeouts,
    /// At most one INVALID_SPI notify per peer and SPI this often (RFC 7296 section 1.5).
    pub invalid_spi_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            force_udp_encapsulation: false,
            session_limit: 16_384,
            session_timeouts: SessionTimeouts::default(),
            invalid_spi_interval: Duration::from_secs(10),
        }
    }
}

/// The outer protocol of a [`Transmit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OuterProtocol {
    /// A UDP payload: IKE (port 500 or 4500), ESP in UDP, or a NAT keepalive.
    Udp,
    /// An ESP packet to send as IP protocol 50; the ports of the addresses are 0.
    Esp,
}

/// A packet for the network, in the caller's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Our address (and UDP port) to send from.
    pub source: SocketAddr,
    /// The peer's address (and UDP port).
    pub destination: SocketAddr,
    /// The bytes to send: the UDP payload, or the IP payload of protocol 50.
    pub range: Range<usize>,
    /// UDP or raw ESP.
    pub protocol: OuterProtocol,
}

impl Transmit {
    pub(crate) fn from_esp(t: esp::Transmit) -> Transmit {
        let protocol = if t.destination.port() == 0 {
            OuterProtocol::Esp
        } else {
            OuterProtocol::Udp
        };
        Transmit {
            source: t.source,
            destination: t.destination,
            range: t.range,
            protocol,
        }
    }
}

/// An inner packet to hand out of an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The egress interface (for a packet to the gateway itself, the interface owning the
    /// address).
    pub interface: InterfaceId,
    /// The packet, in the caller's buffer.
    pub range: Range<usize>,
    /// The next hop of the route, when it has one (deliver to it, not to the destination).
    pub next_hop: Option<std::net::IpAddr>,
    /// Addressed to one of the gateway's interface addresses: for the embedder's own IP stack.
    pub local: bool,
    /// The inbound SPI it arrived on, when it came out of a tunnel.
    pub inbound_spi: Option<u32>,
}

/// What became of a packet given to the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing left for the caller: an IKE message (its answers come from
    /// [`Gateway::poll_transmit`]), a NAT keepalive, a dummy ESP packet, or a tunnel monitor's
    /// answer.
    Consumed,
    /// Send these bytes to the network: an inner packet encapsulated into its tunnel.
    Send(Transmit),
    /// Hand this inner packet out of an interface: decapsulated from a tunnel, or routed
    /// between other interfaces.
    Deliver(Delivery),
    /// Dropped; counted under this reason in [`Gateway::counters`].
    Drop(DropReason),
}

/// The route-based VPN of one firewall, Sans-IO: IKEv2 endpoint, ESP datapath, virtual
/// router, zones and security rules with sessions, tunnel monitors.
///
/// # Contract
///
/// The gateway performs no I/O and reads no clock; the caller owns the sockets (UDP 500 and
/// 4500, and raw IP protocol 50 if ESP may travel unencapsulated), the interfaces (a TUN device
/// per tunnel interface, or the router's own), a monotonic clock and the buffers. It calls:
///
/// - **inputs**, each returning an [`Action`] for the caller's buffer:
///   - [`handle_datagram`](Self::handle_datagram) for every UDP payload received on port 500 or
///     4500 (IKE, ESP in UDP and keepalives are told apart here, once);
///   - [`handle_esp`](Self::handle_esp) for every IP protocol 50 payload;
///   - [`handle_inner`](Self::handle_inner) for every inner IP packet that arrives on an
///     interface (a LAN port, or a TUN device) and may be routed into a tunnel;
///   - [`handle_local`](Self::handle_local) for packets the embedder's own IP stack sends (a
///     ping from a tunnel interface's address, a routing protocol);
///   - [`handle_timeout`](Self::handle_timeout) when the deadline from
///     [`poll_timeout`](Self::poll_timeout) has passed;
///   - for an embedder that encrypts and decrypts on other threads, in two halves around
///     the cipher: [`prepare_inner`](Self::prepare_inner) and
///     [`prepare_local`](Self::prepare_local) (an [`esp::Sealing`] to seal anywhere), and
///     [`prepare_esp`](Self::prepare_esp) with [`finish_esp`](Self::finish_esp) (an
///     [`esp::Opening`] to open anywhere, finished here);
/// - **commands**: [`connect`](Self::connect) (or [`connect_all`](Self::connect_all)) once at
///   start for the tunnels this side initiates; the others only when an admin asks
///   ([`rekey_child`](Self::rekey_child), [`rekey_child_sa`](Self::rekey_child_sa),
///   [`rekey_ike`](Self::rekey_ike), [`delete_child`](Self::delete_child),
///   [`delete_child_sa`](Self::delete_child_sa), [`delete_ike`](Self::delete_ike),
///   [`liveness_check`](Self::liveness_check), [`clear_sessions`](Self::clear_sessions));
///   [`set_interface_address`](Self::set_interface_address) for the addresses of the
///   non-tunnel interfaces; and [`reconfigure`](Self::reconfigure) for a new configuration
///   (a PAN-OS commit: what did not change keeps running);
/// - **outputs**, after every input or command, in this order: [`poll_transmit`](Self::poll_transmit)
///   until `None` (IKE messages, NAT keepalives, tunnel monitor probes), [`poll_event`](Self::poll_event)
///   until `None` (log them), then [`poll_timeout`](Self::poll_timeout) for the next deadline;
/// - **getters**: [`show`](Self::show) and its parts, [`counters`](Self::counters),
///   [`warnings`](Self::warnings), [`interface`](Self::interface).
///
/// What the caller must *not* do: install, remove or rekey Child SAs on its own. Child SAs
/// are installed in the datapath when IKE negotiates them and removed when IKE deletes them;
/// the datapath's byte and packet limits start rekeys and the endpoint rekeys on time, so the
/// caller never calls `rekey_child` because a lifetime ran out (a second rekey of the same
/// Child SA only makes the two peers collide). Nor answer unknown-SPI packets: the gateway
/// sends INVALID_SPI itself, rate-limited.
///
/// Buffers: inner packets need [`HEADROOM`] free bytes before them and [`TAILROOM`] after, as
/// encapsulation happens in place; outer datagrams are decapsulated in place and the inner
/// packet's range in the same buffer is returned. A buffer of 65,535 bytes always suffices for
/// `poll_transmit`. No input allocates on the packet path (sessions have their room reserved).
///
/// Every call that changes state takes `now`; the same inputs at the same instants with the
/// same random source give the same outputs.
pub struct Gateway {
    pub(crate) options: Options,
    pub(crate) config: Config,
    pub(crate) endpoint: Endpoint,
    pub(crate) table: SaTable,
    pub(crate) interfaces: Interfaces,
    pub(crate) routes: RoutingTable,
    pub(crate) policy: Policy,
    pub(crate) sessions: Sessions,
    pub(crate) children: ChildSas,
    pub(crate) monitors: Vec<Monitor>,
    pub(crate) counters: Counters,
    pub(crate) invalid_spi: InvalidSpiLimiter,
    pub(crate) events: VecDeque<Event>,
    pub(crate) warnings: Vec<Warning>,
    /// IKE gateways whose tunnels come back up once their IKE SA is gone (a tunnel monitor's
    /// renegotiation).
    pub(crate) reconnect: Vec<String>,
    /// Per interface, the SA-table tunnel of its `ipsec-tunnel`, once a Child SA was installed.
    pub(crate) tunnel_ids: Vec<Option<TunnelId>>,
    /// When each IKE SA came up, by (gateway, initiator SPI), for `show vpn ike-sa`.
    pub(crate) ike_up: HashMap<(String, u64), Instant>,
    /// The latest instant the caller gave; [`Gateway::poll_transmit`] encapsulates probes then.
    pub(crate) now: Instant,
}

impl core::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gateway")
            .field("table", &self.table)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway for the firewall `config` describes, with the algorithms and random source of
    /// `provider`.
    ///
    /// Fails when the configuration does not validate or cannot run (the error names the object
    /// and field); what runs differently from what it says is in [`warnings`](Self::warnings).
    pub fn new(config: Config, provider: CryptoProvider) -> Result<Gateway, Error> {
        Self::with_options(config, provider, Options::default())
    }

    /// As [`new`](Self::new), with `options`.
    pub fn with_options(
        config: Config,
        provider: CryptoProvider,
        options: Options,
    ) -> Result<Gateway, Error> {
        let mut resolved = EndpointConfig::from_config(&config)?;
        for g in &mut resolved.gateways {
            g.force_encapsulation |= options.force_udp_encapsulation;
        }
        let runnable: Vec<String> = resolved.tunnels.iter().map(|t| t.name.clone()).collect();
        let endpoint = Endpoint::new(resolved, provider)?;
        let mut warnings = config_warnings(&config, &runnable);
        let interfaces =
            Interfaces::from_config(&config, |t| runnable.iter().any(|r| r == t), &mut warnings);
        let routes = RoutingTable::build(&config, &interfaces, &mut warnings);
        let policy = Policy::from_config(&config, &mut warnings);
        let monitors = crate::monitor::from_config(&config, &interfaces, &mut warnings);
        Ok(Gateway {
            tunnel_ids: vec![None; interfaces.list.len()],
            options,
            config,
            endpoint,
            table: SaTable::new(provider),
            interfaces,
            routes,
            policy,
            sessions: Sessions::new(options.session_limit, options.session_timeouts),
            children: ChildSas::default(),
            monitors,
            counters: Counters::default(),
            invalid_spi: InvalidSpiLimiter::new(options.invalid_spi_interval),
            events: VecDeque::new(),
            warnings,
            reconnect: Vec::new(),
            ike_up: HashMap::new(),
            now: Instant::ZERO,
        })
    }

    // ---- getters ----

    /// The configuration the gateway runs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The IKE endpoint, read-only (its configuration and statistics).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// What in the configuration runs differently from what it says (NAT rules that translate,
    /// rules that need App-ID, weak algorithms, ...). Empty for a configuration that runs as
    /// written.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The global counters, drops by reason included.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The interface named `name` (`tunnel.1`, `ethernet1/2`): the id [`handle_inner`] takes
    /// and [`Delivery`] names. Known are the tunnel interfaces and every interface a zone or a
    /// static route names.
    ///
    /// [`handle_inner`]: Self::handle_inner
    pub fn interface(&self, name: &str) -> Option<InterfaceId> {
        self.interfaces.by_name(name)
    }

    /// The interface whose [`InterfaceId::get`] is `index`, if there is one.
    pub fn interface_at(&self, index: u16) -> Option<InterfaceId> {
        let id = InterfaceId(index);
        self.interfaces.get(id).map(|_| id)
    }

    /// The name of interface `id`.
    pub fn interface_name(&self, id: InterfaceId) -> Option<&str> {
        self.interfaces.get(id).map(|i| i.name.as_str())
    }

    // ---- commands ----

    /// Gives the non-tunnel interface `name` (a zone member such as `ethernet1/2`) an
    /// address: its subnet becomes a connected route, and packets to the address are for the
    /// gateway itself. This is how packets coming out of a tunnel find their way to the LAN.
    pub fn set_interface_address(
        &mut self,
        name: &str,
        address: InterfaceAddress,
    ) -> Result<(), Error> {
        let id = self
            .interfaces
            .by_name(name)
            .ok_or_else(|| Error::UnknownInterface(name.to_owned()))?;
        let ifc = &mut self.interfaces.list[id.index()];
        if ifc.is_tunnel {
            return Err(Error::Interface(
                name.to_owned(),
                "a tunnel interface takes its address from the configuration",
            ));
        }
        if !ifc.addresses.contains(&address) {
            ifc.addresses.push(address);
        }
        self.routes.add_connected(&self.interfaces);
        Ok(())
    }

    /// Brings up `tunnel` (an `ipsec-tunnel`): one Child SA per proxy ID, starting IKE with its
    /// gateway if needed. Call it once at start for each tunnel this side initiates; the
    /// gateway keeps the tunnel up from then on (rekeys, restarts after a dead peer, the
    /// tunnel monitor's renegotiation). Calling it again retries the proxy IDs that failed.
    pub fn connect(&mut self, now: Instant, tunnel: &str) -> Result<(), Error> {
        let r = self
            .endpoint
            .with_spis(&mut self.table)
            .connect(now, tunnel);
        self.after(now);
        Ok(r?)
    }

    /// [`connect`](Self::connect)s every tunnel whose IKE gateway may initiate (not passive,
    /// not a dynamic peer); returns how many.
    pub fn connect_all(&mut self, now: Instant) -> Result<usize, Error> {
        let cfg = self.endpoint.config();
        let tunnels: Vec<String> = cfg
            .tunnels
            .iter()
            .filter(|t| {
                cfg.gateway(&t.gateway)
                    .is_some_and(|g| !g.passive && g.peer_addr.is_some())
            })
            .map(|t| t.name.clone())
            .collect();
        for t in &tunnels {
            self.connect(now, t)?;
        }
        Ok(tunnels.len())
    }

    /// Rekeys the Child SAs of `tunnel` now (`test vpn ipsec-sa` style). Not for lifetimes:
    /// the gateway rekeys on the datapath's byte and packet limits and the endpoint on time.
    pub fn rekey_child(&mut self, now: Instant, tunnel: &str) -> Result<(), Error> {
        let r = self
            .endpoint
            .with_spis(&mut self.table)
            .rekey_child(now, tunnel);
        self.after(now);
        Ok(r?)
    }

    /// Rekeys the one Child SA whose inbound SPI is `inbound_spi` (as [`show`](Self::show)
    /// lists it), leaving the tunnel's other proxy IDs alone. For an admin, like
    /// [`rekey_child`](Self::rekey_child); see [`ikev2::Endpoint::rekey_child_sa`].
    pub fn rekey_child_sa(&mut self, now: Instant, inbound_spi: u32) -> Result<(), Error> {
        let r = self
            .endpoint
            .with_spis(&mut self.table)
            .rekey_child_sa(now, inbound_spi);
        self.after(now);
        Ok(r?)
    }

    /// Deletes the one Child SA whose inbound SPI is `inbound_spi`: it stops carrying traffic
    /// at once, and is removed from the datapath when the peer confirms.
    pub fn delete_child_sa(&mut self, now: Instant, inbound_spi: u32) -> Result<(), Error> {
        let r = self
            .endpoint
            .with_spis(&mut self.table)
            .delete_child_sa(now, inbound_spi);
        self.after(now);
        Ok(r?)
    }

    /// Deletes the Child SAs of `tunnel` (`clear vpn ipsec-sa tunnel`); they are removed from
    /// the datapath when the peer confirms. They stay down until [`connect`](Self::connect).
    pub fn delete_child(&mut self, now: Instant, tunnel: &str) -> Result<(), Error> {
        let r = self
            .endpoint
            .with_spis(&mut self.table)
            .delete_child(now, tunnel);
        self.after(now);
        Ok(r?)
    }

    /// Rekeys the IKE SA of `gateway` now; it also happens by itself before the IKE lifetime
    /// ends.
    pub fn rekey_ike(&mut self, now: Instant, gateway: &str) -> Result<(), Error> {
        let r = self
            .endpoint
            .with_spis(&mut self.table)
            .rekey_ike(now, gateway);
        self.after(now);
        Ok(r?)
    }

    /// Deletes the IKE SA of `gateway` and its Child SAs (`clear vpn ike-sa gateway`).
    pub fn delete_ike(&mut self, now: Instant, gateway: &str) -> Result<(), Error> {
        let r = self
            .endpoint
            .with_spis(&mut self.table)
            .delete_ike(now, gateway);
        self.after(now);
        Ok(r?)
    }

    /// Sends a liveness check to `gateway`'s peer now.
    pub fn liveness_check(&mut self, now: Instant, gateway: &str) -> Result<(), Error> {
        let r = self
            .endpoint
            .with_spis(&mut self.table)
            .liveness_check(now, gateway);
        self.after(now);
        Ok(r?)
    }

    /// Forgets every session (`clear session all`): the next packet of each flow is checked
    /// against the security rules again.
    pub fn clear_sessions(&mut self) {
        self.sessions.clear();
    }

    // ---- inputs ----

    /// Tells the gateway that the wall-clock time at instant `now` is `unix`, for the validity
    /// dates of certificates (see [`Endpoint::set_wall_clock`]). Needed once, and again when
    /// the system clock is stepped, by a gateway that authenticates with certificates.
    pub fn set_wall_clock(&mut self, now: Instant, unix: ipsec_core::time::UnixTime) {
        self.endpoint.set_wall_clock(now, unix);
    }

    /// Processes expired deadlines: IKE retransmissions, liveness and rekeys, datapath time
    /// limits, session ageing, tunnel monitor probes. Calling it early or twice is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.with_spis(&mut self.table).handle_timeout(now);
        }
        if self.table.poll_timeout().is_some_and(|t| t <= now) {
            self.table.handle_timeout(now);
        }
        self.children.expire(now, &mut self.table);
        let aged = self.sessions.sweep(now);
        self.counters.sessions_aged += aged;
        self.monitors_timeout(now);
        self.after(now);
    }

    // ---- outputs ----

    /// Writes the next packet to send into `buf`: IKE messages and NAT keepalives first, then
    /// tunnel monitor probes (encapsulated into their tunnel). `None` when there is nothing.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(t) = self.endpoint.poll_transmit(buf) {
            return Some(Transmit {
                source: t.local,
                destination: t.remote,
                range: 0..t.len,
                protocol: OuterProtocol::Udp,
            });
        }
        self.poll_probe(buf)
    }

    /// The next event, after the gateway acted on it.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.endpoint.poll_timeout(),
            self.table.poll_timeout(),
            self.sessions.poll_timeout(),
            self.children.poll_timeout(),
        ]
        .into_iter()
        .chain(self.monitors.iter().map(Monitor::poll_timeout))
        .flatten()
        .min()
    }

    // ---- internals ----

    /// Acts on what the last input produced: IKE events (install and remove Child SAs,
    /// reconnects), datapath lifetime events (rekeys), pending rekeys.
    pub(crate) fn after(&mut self, now: Instant) {
        self.now = self.now.max(now);
        loop {
            if let Some(e) = self.endpoint.poll_event() {
                self.on_ike_event(now, e);
            } else if let Some(e) = self.table.poll_event() {
                self.on_table_event(now, e);
            } else {
                break;
            }
        }
        if self.children.has_rekey_work(now) {
            self.service_rekeys(now);
        }
    }

    /// The interface a table tunnel belongs to.
    pub(crate) fn interface_of_tunnel(&self, tunnel: TunnelId) -> Option<InterfaceId> {
        self.tunnel_ids
            .iter()
            .position(|t| *t == Some(tunnel))
            .and_then(|i| u16::try_from(i).ok())
            .map(InterfaceId)
    }
}

/// The configuration's warnings, and those about tunnels the gateway does not run as
/// configured; `runnable` are the tunnels the IKE endpoint negotiates.
pub(crate) fn config_warnings(config: &Config, runnable: &[String]) -> Vec<Warning> {
    let mut warnings: Vec<Warning> = config
        .warnings()
        .iter()
        .map(|w| Warning::new(w.object.to_string(), format!("{}: {}", w.field, w.why)))
        .collect();
    for t in config.ipsec_tunnels.iter().filter(|t| !t.disabled) {
        let object = format!("ipsec-tunnel \"{}\"", t.name);
        if !runnable.contains(&t.name) {
            warnings.push(Warning::new(
                object,
                "not negotiated here (manual key, or an IKE gateway that is not IKEv2 with a \
                 pre-shared key or certificates): routes through its tunnel interface drop their packets"
                    .into(),
            ));
        } else if t.ipsec_mode == ipsec_core::config::IpsecMode::Transport {
            warnings.push(Warning::new(
                object,
                "ipsec-mode transport: the gateway forwards tunnel-mode traffic only; what \
                 arrives on it is dropped as malformed"
                    .into(),
            ));
        }
    }
    warnings
}
