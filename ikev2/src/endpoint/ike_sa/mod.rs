//! One IKE SA as the endpoint drives it: its link, its [`Phase`], the request queue that owns
//! its message IDs, retransmissions and queued [`Task`]s, and its timers.
//!
//! Datagrams and timers come in here and go to the exchange that handles them
//! ([`dispatch`](self) and [`work`](self)); the endpoint itself only asks the questions below.

mod dispatch;
mod retire;
mod work;

use crate::config::{GatewayConfig, RetransmitPolicy};
use crate::ctx::Ctx;
use crate::endpoint::{ChildSaInfo, IkeSaInfo, Stats};
use crate::error::LocalError;
use crate::event::Role;
use crate::exchange::ike_sa_init;
use crate::exchange::Successor;
use crate::identity::Identity;
use crate::queue::RequestQueue;
use crate::sa::{Cause, Child, ChildRequest, Handshake, Link, Phase, Task};
use crate::timer::{Timer, TimerTable};
#[cfg(feature = "testing")]
use crate::wire::{self, ExchangeType, PayloadType};
use crate::wire::{Packet, Reassembler};
use core::time::Duration;
use ipsec_core::child_sa::ChildSa;
use ipsec_core::crypto::DhGroup;
#[cfg(feature = "testing")]
use ipsec_core::crypto::SecureRandom;
use ipsec_core::time::Instant;
use std::net::{IpAddr, SocketAddr};

/// How long a responder keeps a half-open IKE SA waiting for IKE_AUTH, and a superseded one
/// waiting for the peer to delete it.
const HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an initiator's negotiation may take from the last (re)start of IKE_SA_INIT: the
/// full retransmission schedules of IKE_SA_INIT and of IKE_AUTH.
fn negotiation_time(policy: RetransmitPolicy) -> Duration {
    policy.give_up_after().saturating_mul(2)
}

/// The tunnels an IKE SA brings back after a restart, and whether it is such an attempt.
#[derive(Default)]
struct Restart {
    /// Started by the endpoint to bring `tunnels` back after an IKE SA died; if it fails before
    /// it is established, the endpoint tries again after a back-off.
    attempt: bool,
    /// The tunnels to bring up again when this SA dies (those it carried or was asked for).
    tunnels: Vec<String>,
}

/// One IKE SA.
pub(super) struct IkeSa {
    link: Link,
    phase: Phase,
    queue: RequestQueue<Task>,
    timers: TimerTable,
    /// Made when the first fragment arrives.
    reassembler: Option<Box<Reassembler>>,
    last_rx: Instant,
    /// Protected messages that failed their integrity check (dropped).
    dropped_bad_icv: u64,
    /// Authenticated requests whose payloads did not decode (answered with an error notify).
    malformed_answered: u64,
    restart: Restart,
    /// IKE SAs a rekey just made, for the endpoint to take over: the successor, and the
    /// redundant SA of crossing rekeys (RFC 7296 section 2.8.2) until it is deleted.
    born: Vec<IkeSa>,
    /// The SA the peer's rekey made while ours was in flight (RFC 7296 section 2.8.2).
    crossing: Option<Box<Successor>>,
    /// Work to start at an instant (retries after TEMPORARY_FAILURE).
    deferred: Vec<(Instant, Task)>,
    /// Our SPI of the SA that superseded this one: the Child SAs a late answer makes here
    /// belong there.
    successor: Option<u64>,
}

impl IkeSa {
    fn new(now: Instant, g: &GatewayConfig, link: Link, phase: Phase) -> Self {
        IkeSa {
            link,
            phase,
            queue: RequestQueue::new(g.retransmit),
            timers: TimerTable::default(),
            reassembler: None,
            last_rx: now,
            dropped_bad_icv: 0,
            malformed_answered: 0,
            restart: Restart::default(),
            born: Vec::new(),
            crossing: None,
            deferred: Vec::new(),
            successor: None,
        }
    }

    /// Starts an IKE SA toward `g`'s peer at `peer` with our SPI `spi_i` and a key exchange in
    /// `group`, proposing `first_child` in IKE_AUTH, and sends IKE_SA_INIT.
    pub(super) fn initiate(
        ctx: &mut Ctx<'_>,
        g: &GatewayConfig,
        (peer, group): (IpAddr, DhGroup),
        spi_i: u64,
        first_child: ChildRequest,
    ) -> Result<Self, LocalError> {
        let (link, init) = ike_sa_init::start(ctx, g, (peer, group), spi_i, first_child)?;
        let mut sa = IkeSa::new(ctx.now, g, link, Phase::InitSent(init));
        sa.send_init(ctx)?;
        Ok(sa)
    }

    /// A responder's half-open SA after it sent `response` to IKE_SA_INIT.
    pub(super) fn answered(
        ctx: &Ctx<'_>,
        g: &GatewayConfig,
        link: Link,
        hs: Handshake,
        response: Vec<u8>,
    ) -> Self {
        let mut sa = IkeSa::new(ctx.now, g, link, Phase::HalfOpen(hs));
        // The response is kept once, in the handshake (it is signed in our AUTH); the cache
        // only consumes message ID 0.
        debug_assert!(matches!(&sa.phase, Phase::HalfOpen(hs) if hs.our_init == response));
        drop(response);
        sa.queue.sent_response(0, Vec::new());
        sa.timers.set(Timer::HalfOpen, ctx.now + HALF_OPEN_TIMEOUT);
        sa
    }

    /// The span its logs go in: gateway and SPIs.
    pub(super) fn span(&self) -> tracing::Span {
        tracing::debug_span!(
            "ike_sa",
            gateway = %self.link.gateway,
            spi_i = format_args!("{:016x}", self.link.spi_i),
            spi_r = format_args!("{:016x}", self.link.spi_r),
        )
    }

    // ---- questions ----

    /// The `ike-gateway`.
    pub(super) fn gateway(&self) -> &str {
        &self.link.gateway
    }

    /// Our role.
    pub(super) fn role(&self) -> Role {
        self.link.role
    }

    /// The SPI we chose, under which the endpoint files it.
    pub(super) fn our_spi(&self) -> u64 {
        self.link.our_spi()
    }

    /// Our address.
    pub(super) fn local(&self) -> SocketAddr {
        self.link.local
    }

    /// The peer's address.
    pub(super) fn remote(&self) -> SocketAddr {
        self.link.remote
    }

    /// Established and not superseded: commands may use it.
    pub(super) fn is_usable(&self) -> bool {
        matches!(self.phase, Phase::Established(_))
    }

    /// Not yet authenticated.
    pub(super) fn is_negotiating(&self) -> bool {
        self.phase.is_negotiating()
    }

    /// True when new work for its gateway may be queued on it at `now`: it is established, or
    /// still negotiating with its deadline ahead (and, ours, with its request on the wire).
    /// Never a negotiation that is stuck.
    pub(super) fn can_carry(&self, now: Instant) -> bool {
        self.is_usable()
            || (self.is_negotiating()
                && (self.link.role == Role::Responder || self.queue.busy())
                && self.timers.get(Timer::HalfOpen).is_some_and(|t| t > now))
    }

    /// A responder's SA waiting for IKE_AUTH (counted against the cookie threshold).
    pub(super) fn is_half_open(&self) -> bool {
        matches!(self.phase, Phase::HalfOpen(_))
    }

    /// Why it ended, once it is dead.
    pub(super) fn cause(&self) -> Option<Cause> {
        match self.phase {
            Phase::Dead(c) => Some(c),
            _ => None,
        }
    }

    /// True when `p`, routed here by our SPI, carries the peer's SPI too.
    pub(super) fn peer_spi_matches(&self, p: &Packet<&[u8]>) -> bool {
        match self.link.role {
            Role::Initiator => {
                matches!(self.phase, Phase::InitSent(_)) || p.responder_spi() == self.link.spi_r
            }
            Role::Responder => p.initiator_spi() == self.link.spi_i,
        }
    }

    /// The IKE_SA_INIT request it answered, while half-open.
    pub(super) fn init_request(&self) -> Option<&[u8]> {
        match &self.phase {
            Phase::HalfOpen(hs) => Some(&hs.peer_init),
            _ => None,
        }
    }

    /// While half-open, takes `request` as the IKE_SA_INIT request it answered, the one the
    /// peer's AUTH payload covers (see `Endpoint::adopt_cookie_retry`).
    pub(super) fn set_init_request(&mut self, request: &[u8]) {
        if let Phase::HalfOpen(hs) = &mut self.phase {
            hs.peer_init = request.to_vec();
        }
    }

    /// Our IKE_SA_INIT response, while half-open, when `request` is the very request it
    /// answered (a retransmission, RFC 7296 section 2.1).
    pub(super) fn init_response_for(&self, request: &[u8]) -> Option<&[u8]> {
        match &self.phase {
            Phase::HalfOpen(hs) if hs.peer_init == request => Some(&hs.our_init),
            _ => None,
        }
    }

    /// The Child SAs it carries.
    pub(super) fn children(&self) -> impl Iterator<Item = &ChildSa> {
        self.phase
            .authenticated()
            .into_iter()
            .flat_map(|e| e.children.iter().map(|c| &c.sa))
    }

    /// Every Child SA it proposes: in IKE_AUTH, queued or in flight.
    fn requests(&self) -> impl Iterator<Item = &ChildRequest> {
        let first = match &self.phase {
            Phase::InitSent(i) => i.first_child.as_ref(),
            Phase::AuthSent(a) => a.first_child.as_ref(),
            _ => None,
        };
        first
            .into_iter()
            .chain(self.queue.tasks().filter_map(Task::child_request))
    }

    /// True when the Child SA of `tunnel`'s proxy ID `proxy_id` is installed, proposed in
    /// IKE_AUTH, queued or in flight (a rekey counts: the proxy ID is covered either way).
    pub(super) fn has_child_for(&self, tunnel: &str, proxy_id: Option<&str>) -> bool {
        self.children()
            .any(|c| c.tunnel == tunnel && c.proxy_id.as_deref() == proxy_id)
            || self.requests().any(|r| r.is_for(tunnel, proxy_id))
    }

    /// True when a rekey of `tunnel`'s proxy ID `proxy_id` is under way: queued, in flight, to be
    /// retried, or done with the old Child SA not yet deleted. Another rekey then would give the
    /// old SA a second successor and leave two Child SAs for the proxy ID.
    pub(super) fn rekey_under_way(&self, tunnel: &str, proxy_id: Option<&str>) -> bool {
        let requested = self
            .queue
            .tasks()
            .chain(self.deferred.iter().map(|(_, t)| t))
            .filter_map(Task::child_request)
            .any(|r| r.rekey.is_some() && r.is_for(tunnel, proxy_id));
        let replacing = self.phase.authenticated().is_some_and(|e| {
            e.children.iter().any(|c| {
                c.is_for(tunnel, proxy_id) && c.replaces.is_some_and(|old| e.child(old).is_some())
            })
        });
        requested || replacing
    }

    /// The peer's authenticated identity when it sent INITIAL_CONTACT in the IKE_AUTH that
    /// just established this SA (reported once): its other SAs with us are stale.
    pub(super) fn take_initial_contact(&mut self) -> Option<Identity> {
        let Phase::Established(e) = &mut self.phase else {
            return None;
        };
        if self.link.role != Role::Responder || !e.initial_contact {
            return None;
        }
        e.initial_contact = false;
        e.peer_id.clone()
    }

    /// The peer's authenticated identity, once authenticated.
    pub(super) fn peer_id(&self) -> Option<&Identity> {
        self.phase.authenticated().and_then(|e| e.peer_id.as_ref())
    }

    /// The Child SAs a late answer made on this superseded SA, with the successor they go to
    /// (once).
    pub(super) fn take_strays(&mut self) -> Option<(u64, Vec<Child>)> {
        let (Phase::Superseded(e), Some(to)) = (&mut self.phase, self.successor) else {
            return None;
        };
        if e.children.is_empty() {
            return None;
        }
        Some((to, core::mem::take(&mut e.children)))
    }

    /// The IKE SAs a rekey just made, once.
    pub(super) fn take_born(&mut self) -> Vec<IkeSa> {
        core::mem::take(&mut self.born)
    }

    /// Marks it as the endpoint's attempt to bring `tunnel` back.
    pub(super) fn note_restart(&mut self, tunnel: String) {
        self.restart.attempt = true;
        if !self.restart.tunnels.contains(&tunnel) {
            self.restart.tunnels.push(tunnel);
        }
    }

    /// True for a restart attempt.
    pub(super) fn is_restart(&self) -> bool {
        self.restart.attempt
    }

    /// The tunnels of a restart attempt that just succeeded (reported once).
    pub(super) fn restart_succeeded(&mut self) -> Option<Vec<String>> {
        if !self.restart.attempt || !self.is_usable() {
            return None;
        }
        self.restart.attempt = false;
        Some(self.restart.tunnels.clone())
    }

    /// The tunnels to bring back once it is dead.
    pub(super) fn restart_tunnels(&self) -> &[String] {
        &self.restart.tunnels
    }

    /// Its next deadline: the earliest of its timers. The endpoint files it under this after
    /// every input or command that touched it.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// Disarms and returns a timer due at `now`, earliest first.
    pub(super) fn expire_one(&mut self, now: Instant) -> Option<Timer> {
        self.timers.expire_one(now)
    }

    /// A summary, as `show vpn ike-sa` prints it.
    pub(super) fn info(&self) -> IkeSaInfo {
        IkeSaInfo {
            gateway: self.link.gateway.clone(),
            role: self.link.role,
            spi_i: self.link.spi_i,
            spi_r: self.link.spi_r,
            local: self.link.local,
            remote: self.link.remote,
            established: self.is_usable(),
            suite: self.phase.suite(),
            nat: self.link.encap,
            peer_id: self.peer_id().cloned(),
            children: self
                .phase
                .authenticated()
                .into_iter()
                .flat_map(|e| e.children.iter())
                .map(|c| ChildSaInfo::of(&c.sa, c.suite))
                .collect(),
        }
    }

    /// Adds its counters to `s`.
    pub(super) fn add_stats(&self, s: &mut Stats) {
        s.dropped_out_of_window += self.queue.dropped_out_of_window;
        s.retransmits_answered += self.queue.retransmits_answered;
        s.retransmits_sent += self.queue.retransmits_sent;
        s.dropped_bad_icv += self.dropped_bad_icv;
        s.malformed_answered += self.malformed_answered;
    }

    // ---- test hooks (the `testing` feature) ----

    #[cfg(feature = "testing")]
    /// Seals `inner` as request (or response) `id` of `exchange` with its sending keys (see
    /// [`Pair::seal_request`](crate::testing::Pair::seal_request)).
    pub(super) fn seal(
        &self,
        (exchange, id, response): (ExchangeType, u32, bool),
        first: PayloadType,
        inner: &[u8],
        rng: &dyn SecureRandom,
    ) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        let keys = self.phase.keys()?;
        let header = self.link.header(exchange, response, id);
        let bytes =
            wire::seal(&header, PayloadType::SK, first, &[], inner, &keys.send, rng).ok()?;
        Some((self.link.local, self.link.remote, bytes))
    }

    #[cfg(feature = "testing")]
    /// True when its last answer to the peer was to request `id`.
    pub(super) fn last_answered_is(&self, id: u32) -> bool {
        self.queue.last_answered() == Some(id)
    }

    #[cfg(feature = "testing")]
    /// True when it has keys.
    pub(super) fn has_keys(&self) -> bool {
        self.phase.keys().is_some()
    }

    #[cfg(feature = "testing")]
    /// Checks and decrypts `bytes` with its receiving keys.
    pub(super) fn unseal(&self, bytes: &[u8]) -> Option<wire::Message> {
        wire::unprotect(bytes, &self.phase.keys()?.recv).ok()
    }
}
