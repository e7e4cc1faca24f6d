//! The Sans-IO IKEv2 endpoint.

use crate::config::EndpointConfig;
use crate::cookie::CookieSecret;
use crate::error::Error;
use crate::event::{Event, Reason, Role};
use crate::exchange::ike_auth::proposed_children;
use crate::exchange::ike_sa_init::{self, InitOutcome};
use crate::exchange::{Ctx, Datagram};
use crate::nat::NATT_PORT;
use crate::proposal::IkeSuite;
use crate::queue::RequestClass;
use crate::sa::{IkeSa, Pending, State};
use crate::wire::{ExchangeType, Packet};
use core::time::Duration;
use ipsec_core::child_sa::ChildSa;
use ipsec_core::crypto::{CryptoProvider, SecureRandom};
use ipsec_core::time::Instant;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

/// Wait before a non-passive gateway starts over after its IKE SA died.
const RESTART_DELAY: Duration = Duration::from_secs(2);

/// A datagram written by [`Endpoint::poll_transmit`] into the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The local address and port to send from (port 500, or 4500 after the NAT-T float).
    pub local: SocketAddr,
    /// The destination.
    pub remote: SocketAddr,
    /// Bytes written at the start of the buffer: the UDP payload (with the non-ESP marker when
    /// sent from port 4500).
    pub len: usize,
}

/// What a datagram given to [`Endpoint::handle_datagram`] was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// An IKE message, processed (or dropped and counted in [`Stats`]).
    Ike,
    /// An ESP packet in UDP (port 4500, no non-ESP marker): hand the same bytes to the ESP
    /// datapath.
    Esp,
    /// A NAT-keepalive (RFC 3948 section 2.3): nothing to do.
    Keepalive,
    /// Not an IKE message (too short, bad header); counted in [`Stats::dropped_malformed`].
    Dropped,
}

/// Counters of what the endpoint dropped or repeated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams that were not IKE messages or did not parse.
    pub dropped_malformed: u64,
    /// IKE messages for SPIs we do not know.
    pub dropped_unknown_spi: u64,
    /// Requests and responses outside the message-ID window.
    pub dropped_out_of_window: u64,
    /// Protected messages whose integrity check failed, or unprotected where protection is due.
    pub dropped_bad_icv: u64,
    /// Peer requests answered again from the response cache.
    pub retransmits_answered: u64,
    /// Our requests sent again.
    pub retransmits_sent: u64,
    /// Datagrams dropped because the caller's buffer was too small.
    pub dropped_buffer_too_small: u64,
    /// Authenticated requests whose payloads did not decode, answered with INVALID_SYNTAX or
    /// UNSUPPORTED_CRITICAL_PAYLOAD (RFC 7296 section 2.21.2).
    pub malformed_answered: u64,
}

/// A summary of one IKE SA, as `show vpn ike-sa` would print it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IkeSaInfo {
    /// The `ike-gateway`.
    pub gateway: String,
    /// Our role.
    pub role: Role,
    /// Initiator's SPI.
    pub spi_i: u64,
    /// Responder's SPI.
    pub spi_r: u64,
    /// Our address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// Authenticated and usable.
    pub established: bool,
    /// The negotiated algorithms, after IKE_SA_INIT.
    pub suite: Option<IkeSuite>,
    /// UDP encapsulation in use.
    pub nat: bool,
    /// The installed Child SAs.
    pub children: Vec<ChildSa>,
}

impl core::fmt::Display for IkeSaInfo {
    /// A `show vpn ike-sa`-like block: the IKE SA line, then one line per Child SA, named
    /// `tunnel:proxy-id` (or `tunnel` for a tunnel without proxy IDs).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        writeln!(
            f,
            "{:<16} {}[{}] -> {}[{}] {:016x}:{:016x} {} {} {} NAT {}",
            self.gateway,
            self.local.ip(),
            self.local.port(),
            self.remote.ip(),
            self.remote.port(),
            self.spi_i,
            self.spi_r,
            match self.role {
                Role::Initiator => "Init",
                Role::Responder => "Resp",
            },
            if self.established {
                "Established"
            } else {
                "Negotiating"
            },
            self.suite
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            if self.nat { "detected" } else { "not detected" },
        )?;
        for c in &self.children {
            let ts = |v: &[ipsec_core::selector::TrafficSelector]| {
                v.iter().map(|t| t.short()).collect::<Vec<_>>().join(",")
            };
            // One Child SA per proxy ID, named `tunnel:proxy-id` as PAN-OS names them.
            let name = match &c.proxy_id {
                Some(p) => format!("{}:{p}", c.tunnel),
                None => c.tunnel.clone(),
            };
            writeln!(
                f,
                "  {:<14} SPI in {:08X} out {:08X} {} local {} remote {}",
                name,
                c.inbound.spi,
                c.outbound.spi,
                if c.encapsulation.is_some() {
                    "ESP-in-UDP"
                } else {
                    "ESP"
                },
                ts(&c.local_ts),
                ts(&c.remote_ts)
            )?;
        }
        Ok(())
    }
}

enum Rng {
    Provider,
    Owned(Box<dyn SecureRandom>),
}

/// An IKEv2 endpoint: the IKE SAs of one configuration, driven by datagrams and time.
///
/// # Contract
///
/// The endpoint performs no I/O and reads no clock. The caller owns the sockets (UDP 500 and
/// 4500) and a monotonic clock, and drives the endpoint with four kinds of calls:
///
/// - **inputs**: [`handle_datagram`](Self::handle_datagram) for every datagram received on port
///   500 or 4500 (on 4500, the UDP payload as received: the endpoint strips the non-ESP marker and
///   answers [`Received::Esp`] for ESP packets, which the caller hands to its ESP datapath);
///   [`handle_timeout`](Self::handle_timeout) when the deadline from `poll_timeout` passes;
/// - **commands**: [`connect`](Self::connect), [`delete_child`](Self::delete_child),
///   [`rekey_child`](Self::rekey_child), [`rekey_ike`](Self::rekey_ike),
///   [`delete_ike`](Self::delete_ike),
///   [`liveness_check`](Self::liveness_check),
///   [`invalid_spi`](Self::invalid_spi);
/// - **outputs**, to poll after every input or command, in this order until each returns `None`:
///   [`poll_transmit`](Self::poll_transmit) (send each datagram from `local` to `remote`),
///   [`poll_event`](Self::poll_event) (install or remove Child SAs, log), then
///   [`poll_timeout`](Self::poll_timeout) (the next deadline to wait for);
/// - **getters**: [`ike_sas`](Self::ike_sas), [`stats`](Self::stats), [`config`](Self::config).
///
/// Every call that can change state takes `now`; giving the same inputs at the same instants
/// with the same random source reproduces the same outputs.
pub struct Endpoint {
    cfg: EndpointConfig,
    provider: CryptoProvider,
    rng: Rng,
    // Boxed: an IKE SA is large, and map nodes then hold only pointers.
    sas: BTreeMap<u64, Box<IkeSa>>,
    init_index: HashMap<(SocketAddr, u64), u64>,
    cookies: CookieSecret,
    out: VecDeque<Datagram>,
    events: VecDeque<Event>,
    restarts: Vec<(String, Instant)>,
    /// Per tunnel, the wait before the next restart attempt after one failed (doubling up to
    /// [`EndpointConfig::restart_retry_max`]); cleared when a restart establishes.
    restart_wait: HashMap<String, Duration>,
    stats: Stats,
    new_sas: Vec<IkeSa>,
}

macro_rules! ctx {
    ($self:ident, $now:expr) => {
        Ctx {
            now: $now,
            cfg: &$self.cfg,
            provider: &$self.provider,
            rng: match &$self.rng {
                Rng::Provider => $self.provider.random,
                Rng::Owned(r) => r.as_ref(),
            },
            out: &mut $self.out,
            events: &mut $self.events,
            new_sas: &mut $self.new_sas,
        }
    };
}

impl Endpoint {
    /// An endpoint for `config`, with the provider's algorithms and random source.
    pub fn new(config: EndpointConfig, provider: CryptoProvider) -> Result<Self, Error> {
        Self::build(config, provider, Rng::Provider)
    }

    /// An endpoint whose randomness (SPIs, nonces, key exchanges, IVs) comes from `rng`, e.g. a
    /// seeded source for reproducible tests.
    pub fn with_rng(
        config: EndpointConfig,
        provider: CryptoProvider,
        rng: Box<dyn SecureRandom>,
    ) -> Result<Self, Error> {
        Self::build(config, provider, Rng::Owned(rng))
    }

    fn build(config: EndpointConfig, provider: CryptoProvider, rng: Rng) -> Result<Self, Error> {
        config.validate()?;
        provider
            .consistency_check()
            .map_err(|e| Error::Config(format!("crypto provider: {e}")))?;
        Ok(Endpoint {
            cfg: config,
            provider,
            rng,
            sas: BTreeMap::new(),
            init_index: HashMap::new(),
            cookies: CookieSecret::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            restarts: Vec::new(),
            restart_wait: HashMap::new(),
            stats: Stats::default(),
            new_sas: Vec::new(),
        })
    }

    fn rng(&self) -> &dyn SecureRandom {
        match &self.rng {
            Rng::Provider => self.provider.random,
            Rng::Owned(r) => r.as_ref(),
        }
    }

    // ---- getters ----

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// The IKE SAs, established or in negotiation.
    pub fn ike_sas(&self) -> Vec<IkeSaInfo> {
        self.sas
            .values()
            .map(|sa| IkeSaInfo {
                gateway: sa.gateway.clone(),
                role: sa.role,
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
                local: sa.local,
                remote: sa.remote,
                established: sa.state == State::Established && !sa.rekeyed,
                suite: sa.suite,
                nat: sa.encap,
                children: sa.children.iter().map(|c| c.sa.clone()).collect(),
            })
            .collect()
    }

    /// Drop and retransmission counters, over the life of the endpoint.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        for sa in self.sas.values() {
            add_sa_stats(&mut s, sa);
        }
        s
    }

    // ---- inputs ----

    /// Processes one received datagram. `local` is the address it arrived on (port 500 or
    /// 4500), `remote` its source, `data` the UDP payload.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) -> Received {
        let mut data = data;
        if local.port() == NATT_PORT {
            if data == [0xff] {
                return Received::Keepalive;
            }
            match data.get(..4) {
                Some([0, 0, 0, 0]) => data = &data[4..],
                _ => return Received::Esp,
            }
        }
        let Ok(p) = Packet::new_checked(data) else {
            self.stats.dropped_malformed += 1;
            return Received::Dropped;
        };
        if p.exchange_type() == ExchangeType::IKE_SA_INIT
            && !p.flags().is_response()
            && p.responder_spi() == 0
        {
            self.handle_init_request(now, local, remote, data, p.initiator_spi());
            return Received::Ike;
        }
        // The original initiator sets the I flag; if the peer set it, we are the responder.
        let our_spi = if p.flags().is_initiator() {
            p.responder_spi()
        } else {
            p.initiator_spi()
        };
        let Some(sa) = self.sas.get_mut(&our_spi) else {
            self.stats.dropped_unknown_spi += 1;
            return Received::Ike;
        };
        let peer_spi_ok = match sa.role {
            Role::Initiator => sa.state == State::InitSent || p.responder_spi() == sa.spi_r,
            Role::Responder => p.initiator_spi() == sa.spi_i,
        };
        if !peer_spi_ok {
            self.stats.dropped_unknown_spi += 1;
            return Received::Ike;
        }
        let mut ctx = ctx!(self, now);
        if sa.handle(&mut ctx, local, remote, data).is_err() {
            self.stats.dropped_malformed += 1;
        }
        self.after(now, our_spi);
        Received::Ike
    }

    fn handle_init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
        spi_i: u64,
    ) {
        if let Some(spi) = self.init_index.get(&(remote, spi_i)).copied() {
            if let Some(sa) = self.sas.get_mut(&spi) {
                if let RequestClass::Retransmit(d) = sa.queue.classify_request(0) {
                    let d = d.to_vec();
                    let mut ctx = ctx!(self, now);
                    ctx.send(local, remote, &d);
                }
            }
            return;
        }
        let half_open = self
            .sas
            .values()
            .filter(|s| s.state == State::AwaitAuth)
            .count();
        let Ok(spi_r) = self.new_spi() else {
            return;
        };
        let rng: &dyn SecureRandom = match &self.rng {
            Rng::Provider => self.provider.random,
            Rng::Owned(r) => r.as_ref(),
        };
        if self.cookies.refresh(now, rng).is_err() {
            return;
        }
        let mut ctx = ctx!(self, now);
        match ike_sa_init::respond(
            &mut ctx,
            &self.cookies,
            half_open,
            local,
            remote,
            data,
            spi_r,
        ) {
            Ok(InitOutcome::Created(sa)) => {
                self.init_index.insert((remote, spi_i), spi_r);
                self.sas.insert(spi_r, sa);
            }
            Ok(InitOutcome::Answered) => {}
            Ok(InitOutcome::Dropped) | Err(_) => self.stats.dropped_malformed += 1,
        }
    }

    /// Processes expired deadlines. Call when the instant from [`poll_timeout`](Self::poll_timeout)
    /// has passed; calling it early or twice is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let spis: Vec<u64> = self.sas.keys().copied().collect();
        for spi in spis {
            while let Some(sa) = self.sas.get_mut(&spi) {
                let Some(t) = sa.timers.expire_one(now) else {
                    break;
                };
                let mut ctx = ctx!(self, now);
                let _ = sa.on_timer(&mut ctx, t);
            }
            self.after(now, spi);
        }
        let (due, later): (Vec<_>, Vec<_>) = self.restarts.drain(..).partition(|(_, t)| *t <= now);
        self.restarts = later;
        for (tunnel, _) in due {
            if self.connect(now, &tunnel).is_err() {
                continue;
            }
            let Some(gw) = self.cfg.tunnel(&tunnel).map(|t| t.gateway.clone()) else {
                continue;
            };
            let attempt = self.sas.values_mut().find(|s| {
                s.gateway == gw && s.state != State::Dead && s.state != State::Established
            });
            if let Some(sa) = attempt {
                sa.restart_attempt = true;
                if !sa.restart_tunnels.contains(&tunnel) {
                    sa.restart_tunnels.push(tunnel);
                }
            }
        }
    }

    // ---- commands ----

    /// Brings up `tunnel`: one Child SA per proxy ID (or one for 0.0.0.0/0 both ways when it has
    /// none), as PAN-OS does. Without an IKE SA toward the tunnel's gateway, starts one with the
    /// first proxy ID in IKE_AUTH; every other proxy ID follows with its own CREATE_CHILD_SA
    /// once the IKE SA is up, one exchange at a time. Proxy IDs whose Child SA exists or is
    /// being negotiated are left alone, so calling it again only retries those that failed or
    /// were deleted. A proxy ID the peer refuses ([`Event::Phase2Failed`]) does not keep the
    /// others from coming up; each [`Event::ChildSaUp`] names its proxy ID in
    /// [`ChildSa::proxy_id`].
    ///
    /// Fails for unknown tunnels, passive gateways and dynamic peers (no address to send to).
    pub fn connect(&mut self, now: Instant, tunnel: &str) -> Result<(), Error> {
        let t = self
            .cfg
            .tunnel(tunnel)
            .ok_or_else(|| Error::UnknownName(tunnel.to_owned()))?;
        let g = self
            .cfg
            .gateway(&t.gateway)
            .ok_or_else(|| Error::UnknownName(t.gateway.clone()))?;
        if g.passive {
            return Err(Error::Config(format!(
                "ike-gateway \"{}\" is passive: it never initiates",
                g.name
            )));
        }
        let existing = self
            .sas
            .iter()
            .find(|(_, s)| s.gateway == g.name && s.state != State::Dead && !s.rekeyed)
            .map(|(k, _)| *k);
        let key = match existing {
            Some(key) => key,
            None => {
                let gname = g.name.clone();
                let spi_i = self.new_spi()?;
                let child_spi = self.new_child_spi()?;
                self.restarts.retain(|(t, _)| t != tunnel);
                let mut ctx = ctx!(self, now);
                let g = ctx
                    .cfg
                    .gateway(&gname)
                    .ok_or_else(|| Error::UnknownName(gname.clone()))?;
                let mut sa = ike_sa_init::start(&mut ctx, g, spi_i, tunnel, child_spi)?;
                sa.initial_contact = true;
                self.sas.insert(spi_i, Box::new(sa));
                spi_i
            }
        };
        // Every proxy ID not yet up or on its way gets a CREATE_CHILD_SA; the queue sends them
        // one after the other once the IKE SA is established.
        let Some(sa) = self.sas.get(&key) else {
            return Ok(());
        };
        let peer = sa.remote.ip();
        let missing: Vec<usize> = proposed_children(t, peer)
            .iter()
            .enumerate()
            .filter(|(_, (pid, _, _))| !sa.has_child_for(tunnel, pid.as_deref()))
            .map(|(i, _)| i)
            .collect();
        for index in missing {
            let spi = self.new_child_spi()?;
            let req = {
                let ctx = ctx!(self, now);
                crate::exchange::ike_auth::child_request(&ctx, tunnel, index, spi, peer)?
            };
            if let Some(sa) = self.sas.get_mut(&key) {
                sa.pending.push_back(Pending::CreateChild(req));
            }
        }
        if let Some(sa) = self.sas.get_mut(&key) {
            let mut ctx = ctx!(self, now);
            sa.kick(&mut ctx)?;
        }
        self.after(now, key);
        Ok(())
    }

    fn established_for(&mut self, gateway: &str) -> Result<u64, Error> {
        if self.cfg.gateway(gateway).is_none() {
            return Err(Error::UnknownName(gateway.to_owned()));
        }
        self.sas
            .iter()
            .find(|(_, s)| s.gateway == gateway && s.state == State::Established && !s.rekeyed)
            .map(|(k, _)| *k)
            .ok_or_else(|| Error::NotEstablished(gateway.to_owned()))
    }

    fn queue_pending(&mut self, now: Instant, spi: u64, p: Pending) -> Result<(), Error> {
        if let Some(sa) = self.sas.get_mut(&spi) {
            if !sa.pending.contains(&p) {
                sa.pending.push_back(p);
            }
            let mut ctx = ctx!(self, now);
            sa.kick(&mut ctx)?;
        }
        self.after(now, spi);
        Ok(())
    }

    /// Rekeys the Child SAs of `tunnel`, one per proxy ID (RFC 7296 section 1.3.3): a new
    /// Child SA with fresh nonces (and PFS when the IPsec crypto profile has a group) is created
    /// with CREATE_CHILD_SA and N(REKEY_SA); [`Event::ChildSaUp`] reports it, then the old one
    /// is deleted ([`Event::ChildSaDown`]). Call it when the datapath reports the soft lifetime.
    pub fn rekey_child(&mut self, now: Instant, tunnel: &str) -> Result<(), Error> {
        // The oldest Child SA of each proxy ID (a second one is a rekey's successor).
        let mut found: Vec<(u64, crate::sa::ChildRequest)> = Vec::new();
        for (k, s) in &self.sas {
            for c in s.children.iter().filter(|c| c.sa.tunnel == tunnel) {
                if found
                    .iter()
                    .any(|(fk, r)| fk == k && r.proxy_id == c.sa.proxy_id)
                {
                    continue;
                }
                found.push((
                    *k,
                    crate::sa::ChildRequest {
                        tunnel: tunnel.to_owned(),
                        proxy_id: c.sa.proxy_id.clone(),
                        spi: 0,
                        tsi: c.sa.local_ts.clone(),
                        tsr: c.sa.remote_ts.clone(),
                        rekey: Some(c.sa.inbound.spi),
                        group: None,
                    },
                ));
            }
        }
        if found.is_empty() {
            return Err(Error::NotEstablished(tunnel.to_owned()));
        }
        for (key, mut req) in found {
            req.spi = self.new_child_spi()?;
            self.queue_pending(now, key, Pending::CreateChild(req))?;
        }
        Ok(())
    }

    /// Deletes the Child SAs of `tunnel` with an INFORMATIONAL exchange; [`Event::ChildSaDown`]
    /// follows when the peer confirms.
    pub fn delete_child(&mut self, now: Instant, tunnel: &str) -> Result<(), Error> {
        let found: Vec<(u64, u32)> = self
            .sas
            .iter()
            .flat_map(|(k, s)| {
                s.children
                    .iter()
                    .filter(|c| c.sa.tunnel == tunnel)
                    .map(|c| (*k, c.sa.inbound.spi))
                    .collect::<Vec<_>>()
            })
            .collect();
        if found.is_empty() {
            return Err(Error::NotEstablished(tunnel.to_owned()));
        }
        for (spi, child) in found {
            self.queue_pending(now, spi, Pending::DeleteChild(child))?;
        }
        Ok(())
    }

    /// Deletes the IKE SA of `gateway` (and its Child SAs) with an INFORMATIONAL exchange.
    pub fn delete_ike(&mut self, now: Instant, gateway: &str) -> Result<(), Error> {
        let spi = self.established_for(gateway)?;
        self.queue_pending(now, spi, Pending::DeleteIke)?;
        // Deleted by command: no restart is pending for its tunnels.
        let cfg = &self.cfg;
        let of_gateway = |t: &str| cfg.tunnel(t).is_some_and(|t| t.gateway == gateway);
        self.restarts.retain(|(t, _)| !of_gateway(t));
        self.restart_wait.retain(|t, _| !of_gateway(t));
        Ok(())
    }

    /// Rekeys the IKE SA of `gateway` now (it also happens by itself at 85-90 % of the IKE
    /// lifetime): a successor IKE SA with new SPIs and keys takes over the Child SAs
    /// ([`Event::IkeSaUp`]), and the old one is deleted without further events.
    pub fn rekey_ike(&mut self, now: Instant, gateway: &str) -> Result<(), Error> {
        let spi = self.established_for(gateway)?;
        self.queue_pending(now, spi, Pending::RekeyIke)
    }

    /// Sends an empty INFORMATIONAL request to `gateway` now; an unanswered check tears the SA
    /// down ([`Reason::DeadPeer`]).
    pub fn liveness_check(&mut self, now: Instant, gateway: &str) -> Result<(), Error> {
        let spi = self.established_for(gateway)?;
        self.queue_pending(now, spi, Pending::Liveness)
    }

    /// Tells the peer at `remote` that ESP packets with `spi` match no SA here (RFC 7296 section
    /// 2.21.4), inside the established IKE SA with it. Call it when the ESP datapath drops a
    /// packet for an unknown SPI (rate-limit it: one per SPI is plenty). Fails when no IKE SA
    /// with that peer is established.
    pub fn invalid_spi(&mut self, now: Instant, remote: IpAddr, spi: u32) -> Result<(), Error> {
        let sa = self
            .sas
            .iter()
            .find(|(_, s)| s.remote.ip() == remote && s.state == State::Established && !s.rekeyed)
            .map(|(k, _)| *k)
            .ok_or_else(|| Error::NotEstablished(remote.to_string()))?;
        self.queue_pending(now, sa, Pending::InvalidSpi(spi))
    }

    // ---- outputs ----

    /// Writes the next datagram to send into `buf`. A datagram larger than `buf` is dropped and
    /// counted ([`Stats::dropped_buffer_too_small`]); 65,535 bytes always suffice.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(d) = self.out.pop_front() {
            let Some(dst) = buf.get_mut(..d.bytes.len()) else {
                self.stats.dropped_buffer_too_small += 1;
                continue;
            };
            dst.copy_from_slice(&d.bytes);
            return Some(Transmit {
                local: d.local,
                remote: d.remote,
                len: d.bytes.len(),
            });
        }
        None
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sas
            .values()
            .filter_map(|s| s.timers.next_timeout())
            .chain(self.restarts.iter().map(|(_, t)| *t))
            .min()
    }

    // ---- internals ----

    /// Seals `inner` (a payload chain whose first payload is `first`) as a request of
    /// `exchange` with message ID `id` under the keys of this endpoint's IKE SA for `gateway`,
    /// whatever those bytes hold (an established SA if there is one, else one with keys, e.g.
    /// waiting for IKE_AUTH). Returns the SA's local and remote addresses and the message.
    /// For [`Pair::seal_request`](crate::testing::Pair::seal_request).
    pub(crate) fn seal_request(
        &self,
        gateway: &str,
        exchange: ExchangeType,
        id: u32,
        first: crate::wire::PayloadType,
        inner: &[u8],
    ) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        let sa = self
            .sas
            .values()
            .filter(|sa| sa.gateway == gateway && sa.keys.is_some())
            .max_by_key(|sa| sa.state == State::Established)?;
        let keys = sa.keys.as_ref()?;
        let header = sa.header(exchange, false, id);
        let bytes = crate::wire::seal(
            &header,
            crate::wire::PayloadType::SK,
            first,
            &[],
            inner,
            &keys.send,
            self.rng(),
        )
        .ok()?;
        Some((sa.local, sa.remote, bytes))
    }

    /// Checks and decrypts `bytes` with the receiving keys of this endpoint's IKE SA for
    /// `gateway`. For [`Pair::open_message`](crate::testing::Pair::open_message).
    pub(crate) fn open_message(&self, gateway: &str, bytes: &[u8]) -> Option<crate::wire::Message> {
        let sa = self.sas.values().find(|sa| sa.gateway == gateway)?;
        crate::wire::unprotect(bytes, &sa.keys.as_ref()?.recv).ok()
    }

    fn new_spi(&self) -> Result<u64, Error> {
        crate::exchange::fresh_ike_spi(self.rng(), |s| self.sas.contains_key(&s))
    }

    /// An inbound ESP SPI unused by any Child SA of this endpoint.
    fn new_child_spi(&self) -> Result<u32, Error> {
        crate::exchange::fresh_child_spi(self.rng(), |s| {
            self.sas.values().any(|sa| sa.uses_child_spi(s))
        })
    }

    /// Housekeeping after an SA processed input: INITIAL_CONTACT, removal of dead SAs, restarts.
    fn after(&mut self, now: Instant, spi: u64) {
        // Successors of rekeyed IKE SAs join the table under our new SPI.
        for sa in core::mem::take(&mut self.new_sas) {
            let ours = match sa.role {
                Role::Initiator => sa.spi_i,
                Role::Responder => sa.spi_r,
            };
            if let std::collections::btree_map::Entry::Vacant(e) = self.sas.entry(ours) {
                let sa = e.insert(Box::new(sa));
                // It may have inherited queued Child SA work.
                let mut ctx = ctx!(self, now);
                let _ = sa.kick(&mut ctx);
            }
        }
        let Some(sa) = self.sas.get_mut(&spi) else {
            return;
        };
        if sa.restart_attempt && sa.state == State::Established {
            // The restart succeeded: the next failure starts the back-off from the beginning.
            sa.restart_attempt = false;
            for t in &sa.restart_tunnels {
                self.restart_wait.remove(t);
            }
        }
        if sa.role == Role::Responder && sa.initial_contact && sa.state == State::Established {
            // RFC 7296 section 2.4: the peer has no other IKE SA with us; older ones are stale.
            sa.initial_contact = false;
            let (gw, peer_ip, peer_id) = (sa.gateway.clone(), sa.remote.ip(), sa.peer_id.clone());
            let stale: Vec<u64> = self
                .sas
                .iter()
                .filter(|(k, s)| {
                    **k != spi
                        && s.gateway == gw
                        && s.state == State::Established
                        && (s.remote.ip() == peer_ip || (peer_id.is_some() && s.peer_id == peer_id))
                })
                .map(|(k, _)| *k)
                .collect();
            for k in stale {
                if let Some(old) = self.sas.get_mut(&k) {
                    let mut ctx = ctx!(self, now);
                    old.teardown(&mut ctx, Reason::DeletedByPeer);
                }
            }
        }
        let dead: Vec<u64> = self
            .sas
            .iter()
            .filter(|(_, s)| s.state == State::Dead)
            .map(|(k, _)| *k)
            .collect();
        for k in dead {
            if let Some(sa) = self.sas.remove(&k) {
                add_sa_stats(&mut self.stats, &sa);
                if sa.role == Role::Responder {
                    self.init_index.remove(&(sa.remote, sa.spi_i));
                    self.init_index.retain(|_, v| *v != k);
                }
                if sa.restart_attempt && sa.failed {
                    self.retry_restart(now, &sa);
                } else if sa.restart {
                    if let Some(g) = self.cfg.gateway(&sa.gateway) {
                        if !g.passive && g.peer_addr.is_some() {
                            // The tunnels that were up come back, each with all its proxy
                            // IDs; with none known, the gateway's first tunnel.
                            let mut tunnels = sa.restart_tunnels.clone();
                            if tunnels.is_empty() {
                                tunnels.extend(
                                    self.cfg.tunnels_of(&g.name).map(|t| t.name.clone()).take(1),
                                );
                            }
                            for t in tunnels {
                                if !self.restarts.iter().any(|(r, _)| *r == t) {
                                    self.restarts.push((t, now + RESTART_DELAY));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Endpoint {
    /// Schedules the tunnels of a failed restart attempt again, after the tunnel's current
    /// back-off, and doubles the back-off up to the configured cap.
    fn retry_restart(&mut self, now: Instant, sa: &IkeSa) {
        let Some(g) = self.cfg.gateway(&sa.gateway) else {
            return;
        };
        if g.passive || g.peer_addr.is_none() {
            return;
        }
        let (first, cap) = (self.cfg.restart_retry, self.cfg.restart_retry_max);
        for t in &sa.restart_tunnels {
            if self.restarts.iter().any(|(r, _)| r == t) {
                continue;
            }
            let wait = self.restart_wait.get(t).copied().unwrap_or(first).min(cap);
            self.restarts.push((t.clone(), now + wait));
            self.restart_wait
                .insert(t.clone(), wait.saturating_mul(2).min(cap));
        }
    }
}

fn add_sa_stats(s: &mut Stats, sa: &IkeSa) {
    s.dropped_out_of_window += sa.queue.dropped_out_of_window;
    s.retransmits_answered += sa.queue.retransmits_answered;
    s.retransmits_sent += sa.queue.retransmits_sent;
    s.dropped_bad_icv += sa.dropped_bad_icv;
    s.malformed_answered += sa.malformed_answered;
}
