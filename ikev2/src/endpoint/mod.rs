//! The Sans-IO IKEv2 endpoint.

mod commands;
mod housekeeping;
mod ike_sa;
mod index;
mod show;
mod spis;

// A new configuration for the running SAs (`Endpoint::reconfigure`).
mod reconfigure;

pub use reconfigure::{Changes, Reconfigured};
pub use show::{ChildSaInfo, IkeSaInfo, Received, Stats};
pub use spis::WithSpis;

use crate::config::EndpointConfig;
use crate::cookie::CookieSecret;
use crate::ctx::{fresh_ike_spi, Ctx, Datagram};
use crate::error::{ConfigError, LocalError};
use crate::event::Event;
use crate::exchange::ike_sa_init::{self, find_gateway, InitOutcome};
use crate::wire::{ExchangeType, Message, NotifyType, Packet, Payload};
use core::time::Duration;
use ike_sa::IkeSa;
use index::Index;
use ipsec_core::crypto::{CryptoProvider, SecureRandom};
use ipsec_core::demux;
use ipsec_core::spi::SpiAllocator;
use ipsec_core::time::{Instant, UnixTime};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

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

/// The provider's random source behind the same handle as an owned one.
#[derive(Debug)]
struct ProviderRandom(&'static dyn SecureRandom);

impl SecureRandom for ProviderRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), ipsec_core::crypto::CryptoError> {
        self.0.fill(buf)
    }
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
/// - **commands**: [`connect`](Self::connect), [`rekey_child_sa`](Self::rekey_child_sa),
///   [`delete_child_sa`](Self::delete_child_sa), [`rekey_child`](Self::rekey_child) and
///   [`delete_child`](Self::delete_child) (every Child SA of a tunnel),
///   [`rekey_ike`](Self::rekey_ike), [`delete_ike`](Self::delete_ike),
///   [`liveness_check`](Self::liveness_check), [`invalid_spi`](Self::invalid_spi),
///   [`reconfigure`](Self::reconfigure) (a new configuration; what did not change runs on);
/// - **outputs**, to poll after every input or command, in this order until each returns `None`:
///   [`poll_transmit`](Self::poll_transmit) (send each datagram from `local` to `remote`),
///   [`poll_event`](Self::poll_event) (install or remove Child SAs, log), then
///   [`poll_timeout`](Self::poll_timeout) (the next deadline to wait for);
/// - **getters**: [`ike_sas`](Self::ike_sas), [`stats`](Self::stats), [`config`](Self::config).
///
/// Every call that can change state takes `now`; giving the same inputs at the same instants
/// with the same random source reproduces the same outputs.
///
/// # Wall-clock time
///
/// `now` is monotonic and says nothing about the date, which certificate validity needs. An
/// endpoint with certificate-authenticated gateways must be told the wall-clock time once with
/// [`set_wall_clock`](Self::set_wall_clock) (an instant and the UNIX time at that instant);
/// from then on it derives the date at every `now` from the monotonic time elapsed. Call it
/// again when the system clock is stepped (NTP, an admin). Until it is called, every peer
/// certificate is refused (AUTHENTICATION_FAILED, and a log line saying the time is unknown).
/// Pre-shared-key gateways never need it.
///
/// # Inbound SPIs
///
/// Every inbound SPI the endpoint offers a peer (IKE_AUTH, CREATE_CHILD_SA for new and rekeyed
/// Child SAs, in both roles) comes from an [`SpiAllocator`] and is unique among all its SAs.
/// An embedder whose datapath allocates SPIs (as `esp::SaTable` does, for its O(1) lookup)
/// lends it for every input and command through [`with_spis`](Self::with_spis):
/// `endpoint.with_spis(&mut table).handle_datagram(...)`. The endpoint then gives back what it
/// offered and never installed, and the datapath frees an SPI when it removes the SA. Without
/// it, the endpoint's own methods draw random SPIs it keeps unique itself. Use one or the other
/// for the whole life of the endpoint, never both.
///
/// # Under load and under attack
///
/// Each call costs the same whatever the number of IKE SAs held: every SA is filed by its next
/// deadline and by what lookups need after each input or command that touched it, so
/// `poll_timeout` reads one deadline and `handle_timeout` visits only the SAs that are due
/// ([`Stats::timeout_visits`]). Half-open IKE SAs (a responder's, waiting for IKE_AUTH) are
/// bounded: past [`EndpointConfig::cookie_threshold`] an initiator must return a cookie (RFC 7296
/// section 2.6), and past [`EndpointConfig::half_open_limit`] overall or
/// [`EndpointConfig::half_open_per_address`] for its address its IKE_SA_INIT is dropped. A
/// retransmitted request is answered again only when it is the same datagram, and an address
/// that has not proved it receives (no cookie returned, no authenticated message) never gets
/// more bytes than it sent: a larger IKE_SA_INIT answer becomes a COOKIE demand.
pub struct Endpoint {
    cfg: EndpointConfig,
    provider: CryptoProvider,
    rng: Arc<dyn SecureRandom>,
    /// The inbound SPIs the endpoint's own allocator handed out and that are not free again
    /// (calls made without [`Endpoint::with_spis`]).
    own_spis: HashSet<u32>,
    /// The keys of `sas`: a new IKE SPI avoids them while one SA is borrowed.
    ike_spis: HashSet<u64>,
    // Boxed: an IKE SA is large, and map nodes then hold only pointers.
    sas: BTreeMap<u64, Box<IkeSa>>,
    /// What each SA is filed under: deadlines, half-open counts, lookups.
    index: Index,
    /// Half-open responder SAs by the initiator's address and SPI, to answer a retransmitted
    /// IKE_SA_INIT.
    init_index: HashMap<(SocketAddr, u64), u64>,
    cookies: CookieSecret,
    out: VecDeque<Datagram>,
    events: VecDeque<Event>,
    /// Tunnels to bring up again, and when.
    restarts: Vec<(String, Instant)>,
    /// Per tunnel, the wait before the next restart attempt after one failed (doubling up to
    /// [`EndpointConfig::restart_retry_max`]); cleared when a restart establishes.
    restart_wait: HashMap<String, Duration>,
    /// The embedder's last wall-clock reading and the instant it was taken at.
    wall_clock: Option<(Instant, UnixTime)>,
    stats: Stats,
}

/// The [`Ctx`] of an input, borrowing the endpoint's fields apart from its SA table, with the
/// SPI allocator `$spis` (a `&mut dyn SpiAllocator`).
macro_rules! ctx {
    ($self:ident, $now:expr, $spis:expr) => {
        Ctx {
            now: $now,
            wall_clock: Ctx::wall_clock_at($now, $self.wall_clock),
            cfg: &$self.cfg,
            provider: &$self.provider,
            rng: &*$self.rng,
            spis: &mut *$spis,
            ike_spis: &$self.ike_spis,
            out: &mut $self.out,
            events: &mut $self.events,
        }
    };
}
use ctx;

impl Endpoint {
    /// An endpoint for `config`, with the provider's algorithms and random source.
    pub fn new(config: EndpointConfig, provider: CryptoProvider) -> Result<Self, ConfigError> {
        Self::build(config, provider, Arc::new(ProviderRandom(provider.random)))
    }

    /// An endpoint whose randomness (SPIs, nonces, key exchanges, IVs) comes from `rng`, e.g. a
    /// seeded source for reproducible tests.
    pub fn with_rng(
        config: EndpointConfig,
        provider: CryptoProvider,
        rng: Box<dyn SecureRandom>,
    ) -> Result<Self, ConfigError> {
        Self::build(config, provider, Arc::from(rng))
    }

    fn build(
        config: EndpointConfig,
        provider: CryptoProvider,
        rng: Arc<dyn SecureRandom>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        provider
            .consistency_check()
            .map_err(ConfigError::Provider)?;
        Ok(Endpoint {
            cfg: config,
            provider,
            rng,
            own_spis: HashSet::new(),
            ike_spis: HashSet::new(),
            sas: BTreeMap::new(),
            index: Index::default(),
            init_index: HashMap::new(),
            cookies: CookieSecret::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            restarts: Vec::new(),
            restart_wait: HashMap::new(),
            wall_clock: None,
            stats: Stats::default(),
        })
    }

    fn rng(&self) -> &dyn SecureRandom {
        &*self.rng
    }

    // ---- getters ----

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// The IKE SAs, established or in negotiation.
    pub fn ike_sas(&self) -> Vec<IkeSaInfo> {
        self.sas.values().map(|sa| sa.info()).collect()
    }

    /// The number of IKE SAs held, in any phase.
    pub fn ike_sa_count(&self) -> usize {
        self.sas.len()
    }

    /// The number of half-open IKE SAs: responders that answered IKE_SA_INIT and wait for
    /// IKE_AUTH (bounded by [`EndpointConfig::half_open_limit`]).
    pub fn half_open_count(&self) -> usize {
        self.index.half_open
    }

    /// Drop and retransmission counters, over the life of the endpoint.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        for sa in self.sas.values() {
            sa.add_stats(&mut s);
        }
        s
    }

    // ---- inputs ----

    /// Tells the endpoint that the wall-clock time at instant `now` is `unix` (seconds since
    /// 1970-01-01T00:00:00Z, as `SystemTime::now()` gives it). Certificates are checked
    /// against the time this implies: `unix` plus the monotonic time elapsed since `now`. See
    /// [Wall-clock time](Self#wall-clock-time).
    pub fn set_wall_clock(&mut self, now: Instant, unix: UnixTime) {
        self.wall_clock = Some((now, unix));
    }

    /// Processes one received datagram. `local` is the address it arrived on (port 500 or
    /// 4500), `remote` its source, `data` the UDP payload.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) -> Received {
        self.own_spis(|ep, spis| ep.handle_datagram_using(spis, now, local, remote, data))
    }

    /// [`handle_datagram`](Self::handle_datagram) with the SPI allocator `spis`.
    fn handle_datagram_using(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) -> Received {
        let data = match demux::classify(local.port(), data) {
            Ok(demux::Datagram::Ike(message)) => message,
            Ok(demux::Datagram::Esp(_)) => return Received::Esp,
            Ok(demux::Datagram::Keepalive) => return Received::Keepalive,
            Err(e) => {
                tracing::trace!(%remote, error = %e, "dropped on port 4500");
                self.stats.dropped_malformed += 1;
                return Received::Dropped;
            }
        };
        let Ok(p) = Packet::new_checked(data) else {
            tracing::trace!(%remote, len = data.len(), "not an IKE message");
            self.stats.dropped_malformed += 1;
            return Received::Dropped;
        };
        if p.exchange_type() == ExchangeType::IKE_SA_INIT
            && !p.flags().is_response()
            && p.responder_spi() == 0
        {
            self.handle_init_request(spis, now, (local, remote), data, p.initiator_spi());
            return Received::Ike;
        }
        // The original initiator sets the I flag; if the peer set it, we are the responder.
        let our_spi = if p.flags().is_initiator() {
            p.responder_spi()
        } else {
            p.initiator_spi()
        };
        let Some(sa) = self.sas.get_mut(&our_spi) else {
            tracing::trace!(%remote, spi = format_args!("{our_spi:016x}"), "unknown IKE SPI");
            self.stats.dropped_unknown_spi += 1;
            return Received::Ike;
        };
        if !sa.peer_spi_matches(&p) {
            self.stats.dropped_unknown_spi += 1;
            return Received::Ike;
        }
        let mut ctx = ctx!(self, now, spis);
        if let Err(e) = sa.handle(&mut ctx, local, remote, data) {
            tracing::debug!(%remote, error = %e, "IKE message dropped");
            self.stats.dropped_malformed += 1;
        }
        self.after(spis, now, our_spi);
        Received::Ike
    }

    fn handle_init_request(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        (local, remote): (SocketAddr, SocketAddr),
        data: &[u8],
        spi_i: u64,
    ) {
        if let Some(key) = self.init_index.get(&(remote, spi_i)).copied() {
            self.answer_init_again(spis, now, key, data);
            return;
        }
        // Half-open limits, overall and per address (strongSwan's `init_limit_half_open` and
        // `block_threshold`): beyond them even a request with a valid cookie is dropped.
        if self.index.half_open >= self.cfg.half_open_limit
            || self.index.half_open_from(remote.ip()) >= self.cfg.half_open_per_address
        {
            tracing::trace!(%remote, "IKE_SA_INIT dropped: half-open limit");
            self.stats.dropped_half_open_limit += 1;
            return;
        }
        let Ok(spi_r) = self.new_spi() else {
            return;
        };
        if self.cookies.refresh(now, &*self.rng).is_err() {
            return;
        }
        // RFC 7296 section 2.6: under load, require a cookie before keeping any state. A
        // request that carries one has its cookie checked whatever the load: a valid one
        // proves the initiator receives at its address.
        let loaded = self.index.half_open >= self.cfg.cookie_threshold;
        let required = find_gateway(&self.cfg, local, remote).is_some_and(|g| g.require_cookie);
        let mut checked = loaded || required || carries_cookie(data);
        let Some(mut outcome) = self.respond_init(spis, now, (local, remote), data, spi_r, checked)
        else {
            return;
        };
        if checked && !loaded && !required && !matches!(outcome.0, InitOutcome::Created(..)) {
            // A cookie we do not accept, when none is needed: the request is processed as if
            // it carried none (RFC 7296 section 2.6), so that a cookie an attacker made the
            // initiator send does not keep it out.
            self.out.truncate(outcome.2);
            checked = false;
            let Some(o) = self.respond_init(spis, now, (local, remote), data, spi_r, false) else {
                return;
            };
            outcome = o;
        }
        if !checked && outcome.1 > data.len() {
            // Never send more to an unproven address than it sent us: ask for a cookie
            // instead (a few dozen bytes), which the initiator returns from its real address.
            self.out.truncate(outcome.2);
            let Some(o) = self.respond_init(spis, now, (local, remote), data, spi_r, true) else {
                return;
            };
            outcome = o;
        }
        let proven = checked && matches!(outcome.0, InitOutcome::Created(..));
        if !proven && outcome.1 > data.len() {
            self.out.truncate(outcome.2);
            self.stats.dropped_amplification += 1;
            return;
        }
        match outcome.0 {
            InitOutcome::Created(link, hs, response) => {
                let Ok(g) = self.cfg.gateway(&link.gateway).ok_or(()) else {
                    return;
                };
                let ctx = ctx!(self, now, spis);
                let sa = IkeSa::answered(&ctx, g, link, hs, response);
                self.insert_sa(spi_r, Box::new(sa));
                self.refile(now, spi_r);
                self.file_init(spi_r, (remote, spi_i), proven);
            }
            InitOutcome::Answered => {}
            InitOutcome::Dropped => self.stats.dropped_malformed += 1,
        }
    }

    /// Runs the responder's IKE_SA_INIT; the outcome, the bytes it queued for sending and
    /// where in the output queue they start.
    fn respond_init(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        (local, remote): (SocketAddr, SocketAddr),
        data: &[u8],
        spi_r: u64,
        demand_cookie: bool,
    ) -> Option<(InitOutcome, usize, usize)> {
        let start = self.out.len();
        let mut ctx = ctx!(self, now, spis);
        let outcome = ike_sa_init::respond(
            &mut ctx,
            &self.cookies,
            demand_cookie,
            (local, remote),
            data,
            spi_r,
        );
        let sent = self.out.iter().skip(start).map(|d| d.bytes.len()).sum();
        match outcome {
            Ok(o) => Some((o, sent, start)),
            Err(_) => {
                self.stats.dropped_malformed += 1;
                None
            }
        }
    }

    /// Answers IKE_SA_INIT again from the half-open SA under `key` when `data` is the request
    /// it answered, and no more bytes than arrived while its peer has not proved its address.
    fn answer_init_again(
        &mut self,
        spis: &mut dyn SpiAllocator,
        now: Instant,
        key: u64,
        data: &[u8],
    ) {
        self.adopt_cookie_retry(key, data);
        let unproven = self.unproven(key);
        let Some(sa) = self.sas.get(&key) else {
            return;
        };
        let Some(response) = sa.init_response_for(data) else {
            self.stats.dropped_out_of_window += 1;
            return;
        };
        if unproven && response.len() > data.len() {
            self.stats.dropped_amplification += 1;
            return;
        }
        self.stats.retransmits_answered += 1;
        let (local, remote, response) = (sa.local(), sa.remote(), response.to_vec());
        let mut ctx = ctx!(self, now, spis);
        ctx.send(local, remote, &[response]);
    }

    /// Processes expired deadlines. Call when the instant from [`poll_timeout`](Self::poll_timeout)
    /// has passed; calling it early or twice is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.own_spis(|ep, spis| ep.handle_timeout_using(spis, now));
    }

    /// [`handle_timeout`](Self::handle_timeout) with the SPI allocator `spis`. Visits only the
    /// SAs with a deadline due, each once.
    fn handle_timeout_using(&mut self, spis: &mut dyn SpiAllocator, now: Instant) {
        self.cookies.expire(now);
        for key in self.index.take_due(now) {
            self.stats.timeout_visits += 1;
            while let Some(sa) = self.sas.get_mut(&key) {
                let Some(t) = sa.expire_one(now) else {
                    break;
                };
                let mut ctx = ctx!(self, now, spis);
                let _ = sa.on_timer(&mut ctx, t);
            }
            self.after(spis, now, key);
        }
        self.run_restarts(spis, now);
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
        self.index
            .next_deadline()
            .into_iter()
            .chain(self.restarts.iter().map(|(_, t)| *t))
            .chain(self.cookies.next_deadline())
            .min()
    }

    // ---- internals ----

    /// Seals `inner` (a payload chain whose first payload is `first`) as a request (or, with
    /// `response`, a response) of `exchange` with message ID `id` under the keys of this
    /// endpoint's IKE SA for `gateway`, whatever those bytes hold: a response on the SA that
    /// answered request `id` last, else an established SA if there is one, else one with keys
    /// (e.g. waiting for IKE_AUTH). Returns the SA's local and remote addresses and the message.
    /// For [`Pair::seal_request`](crate::testing::Pair::seal_request).
    #[cfg(feature = "testing")]
    pub(crate) fn seal_request(
        &self,
        gateway: &str,
        (exchange, id, response): (ExchangeType, u32, bool),
        first: crate::wire::PayloadType,
        inner: &[u8],
    ) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        let sa = self
            .sas
            .values()
            .filter(|sa| sa.gateway() == gateway && sa.has_keys())
            .max_by_key(|sa| (response && sa.last_answered_is(id), sa.is_usable()))?;
        sa.seal((exchange, id, response), first, inner, self.rng())
    }

    /// Checks and decrypts `bytes` with the receiving keys of this endpoint's IKE SA for
    /// `gateway`. For [`Pair::open_message`](crate::testing::Pair::open_message).
    #[cfg(feature = "testing")]
    pub(crate) fn open_message(&self, gateway: &str, bytes: &[u8]) -> Option<crate::wire::Message> {
        let sa = self.sas.values().find(|sa| sa.gateway() == gateway)?;
        sa.unseal(bytes)
    }

    fn new_spi(&self) -> Result<u64, LocalError> {
        fresh_ike_spi(self.rng(), |s| self.ike_spis.contains(&s))
    }

    /// A half-open SA answered a request without a cookie (a retransmission that arrived after
    /// we had asked for one), and the initiator, who got our COOKIE meanwhile, sends the same
    /// request again with it: the request it sends IKE_AUTH after, whichever answer it gets,
    /// is the one with the cookie, and its AUTH payload covers that one (RFC 7296 section
    /// 2.15). The SA takes it as the request it answered, once the cookie checks out; the
    /// peer has proved it receives at its address.
    fn adopt_cookie_retry(&mut self, key: u64, data: &[u8]) {
        let Some(sa) = self.sas.get(&key) else {
            return;
        };
        if !sa
            .init_request()
            .is_some_and(|old| is_cookie_retry(old, data))
        {
            return;
        }
        let Ok(msg) = Message::parse(data) else {
            return;
        };
        let cookie = msg.payloads.first().and_then(|p| match p {
            Payload::Notify(n) if n.notify_type == NotifyType::COOKIE => Some(&n.data),
            _ => None,
        });
        let (Some(cookie), Some(nonce), Some(prf)) =
            (cookie, msg.nonce(), self.provider.prfs.first().copied())
        else {
            return;
        };
        let (remote, spi_i) = (sa.remote(), msg.header.initiator_spi);
        if !self
            .cookies
            .verify(prf, cookie, &nonce.data, remote.ip(), spi_i)
        {
            return;
        }
        if let Some(sa) = self.sas.get_mut(&key) {
            sa.set_init_request(data);
            tracing::debug!(%remote, "IKE_SA_INIT retried with our cookie: answered as the same request");
        }
        self.file_init(key, (remote, spi_i), true);
    }

    /// Files `sa` under our SPI `key`.
    fn insert_sa(&mut self, key: u64, sa: Box<IkeSa>) {
        self.ike_spis.insert(key);
        self.sas.insert(key, sa);
    }

    /// Takes the SA filed under `key` out of the table and its indexes.
    fn remove_sa(&mut self, key: u64) -> Option<Box<IkeSa>> {
        self.ike_spis.remove(&key);
        let sa = self.sas.remove(&key)?;
        self.unfile(key, &sa);
        Some(sa)
    }
}

/// The IKE_SA_INIT request `data` without a leading COOKIE notify: the header's fields that do
/// not depend on it, the type of the first other payload, and the payloads from there on.
fn without_cookie(data: &[u8]) -> Option<(&[u8], u8, &[u8])> {
    use crate::wire::{HEADER_LEN, PAYLOAD_HEADER_LEN};
    // The header's next payload is byte 16 and its length bytes 24-27.
    let fixed = data.get(..24)?;
    if !carries_cookie(data) {
        return Some((fixed, *data.get(16)?, data.get(HEADER_LEN..)?));
    }
    let n = data.get(HEADER_LEN..HEADER_LEN + PAYLOAD_HEADER_LEN)?;
    let len = usize::from(u16::from_be_bytes([n[2], n[3]]));
    Some((fixed, n[0], data.get(HEADER_LEN + len..)?))
}

/// True when the IKE_SA_INIT request `new` is `old` sent again with a (different) COOKIE notify
/// in front, as an initiator does when a responder asks for a cookie (RFC 7296 section 2.6).
fn is_cookie_retry(old: &[u8], new: &[u8]) -> bool {
    match (without_cookie(old), without_cookie(new)) {
        (Some((oh, ot, op)), Some((nh, nt, np))) => {
            old != new
                && carries_cookie(new)
                && oh[..16] == nh[..16]
                && oh[17..] == nh[17..]
                && ot == nt
                && op == np
        }
        _ => false,
    }
}

/// True when the IKE_SA_INIT request `data` starts with a COOKIE notify (RFC 7296 section 2.6:
/// it must come first).
fn carries_cookie(data: &[u8]) -> bool {
    let Ok(p) = Packet::new_checked(data) else {
        return false;
    };
    // Notify body: protocol ID (1), SPI size (1), notify type (2).
    let at = crate::wire::HEADER_LEN + crate::wire::PAYLOAD_HEADER_LEN + 2;
    p.next_payload() == crate::wire::PayloadType::NOTIFY
        && data.get(at..at + 2) == Some(&crate::wire::NotifyType::COOKIE.0.to_be_bytes()[..])
}
