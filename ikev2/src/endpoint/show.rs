//! What the endpoint shows of itself: per-datagram verdicts, counters and IKE SA summaries.

use crate::event::Role;
use crate::identity::Identity;
use crate::proposal::{EspSuite, IkeSuite};
use ipsec_core::child_sa::{ChildSa, Lifetimes, Mode, UdpEncapsulation};
use ipsec_core::selector::TrafficSelector;
use ipsec_core::text::escape;
use std::net::SocketAddr;

/// What a datagram given to [`Endpoint::handle_datagram`](crate::Endpoint::handle_datagram) was.
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
    /// Requests and responses outside the message-ID window, and responses whose exchange type
    /// is not that of the request they would answer.
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
    /// IKE_SA_INIT requests dropped because the half-open limit, overall or for the source
    /// address, was reached ([`EndpointConfig::half_open_limit`],
    /// [`EndpointConfig::half_open_per_address`]).
    ///
    /// [`EndpointConfig::half_open_limit`]: crate::config::EndpointConfig::half_open_limit
    /// [`EndpointConfig::half_open_per_address`]: crate::config::EndpointConfig::half_open_per_address
    pub dropped_half_open_limit: u64,
    /// Answers not sent because they were larger than what arrived from an address that has not
    /// proved it receives there (no cookie returned, no authenticated message).
    pub dropped_amplification: u64,
    /// IKE SAs [`handle_timeout`](crate::Endpoint::handle_timeout) visited because one of their
    /// deadlines was due (each at most once per call): its work, which does not depend on the
    /// number of SAs held.
    pub timeout_visits: u64,
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
    /// The peer's authenticated identity, once established.
    pub peer_id: Option<Identity>,
    /// The installed Child SAs.
    pub children: Vec<ChildSaInfo>,
}

/// A summary of one Child SA, as `show vpn ipsec-sa` would print it: what it carries and how,
/// never its keys (those went to the datapath with [`Event::ChildSaUp`](crate::Event::ChildSaUp)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildSaInfo {
    /// The `ipsec-tunnel`.
    pub tunnel: String,
    /// The proxy ID it carries, `None` for a tunnel without proxy IDs.
    pub proxy_id: Option<String>,
    /// Our inbound SPI.
    pub inbound_spi: u32,
    /// The peer's inbound SPI, ours outbound.
    pub outbound_spi: u32,
    /// The negotiated algorithms.
    pub suite: EspSuite,
    /// Tunnel or transport mode.
    pub mode: Mode,
    /// Our side's traffic selectors.
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's side's traffic selectors.
    pub remote_ts: Vec<TrafficSelector>,
    /// ESP in UDP, when NAT traversal or forced encapsulation applies.
    pub encapsulation: Option<UdpEncapsulation>,
    /// Soft and hard lifetimes, as given to the datapath.
    pub lifetimes: Lifetimes,
}

impl ChildSaInfo {
    /// The summary of `sa`, negotiated with `suite`.
    pub(crate) fn of(sa: &ChildSa, suite: EspSuite) -> Self {
        ChildSaInfo {
            tunnel: sa.tunnel.clone(),
            proxy_id: sa.proxy_id.clone(),
            inbound_spi: sa.inbound.spi,
            outbound_spi: sa.outbound.spi,
            suite,
            mode: sa.mode,
            local_ts: sa.local_ts.clone(),
            remote_ts: sa.remote_ts.clone(),
            encapsulation: sa.encapsulation,
            lifetimes: sa.lifetimes,
        }
    }
}

impl core::fmt::Display for IkeSaInfo {
    /// A `show vpn ike-sa`-like block: the IKE SA line, the peer's identity once
    /// authenticated, then one line per Child SA, named `tunnel:proxy-id` (or `tunnel` for a
    /// tunnel without proxy IDs). Names and the identity are escaped
    /// ([`ipsec_core::text::Escaped`]).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        writeln!(
            f,
            "{:<16} {}[{}] -> {}[{}] {:016x}:{:016x} {} {} {} NAT {}",
            escape(&self.gateway),
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
        if let Some(id) = &self.peer_id {
            // Escaped by its Display.
            writeln!(f, "  peer {id}")?;
        }
        for c in &self.children {
            let ts =
                |v: &[TrafficSelector]| v.iter().map(|t| t.short()).collect::<Vec<_>>().join(",");
            // One Child SA per proxy ID, named `tunnel:proxy-id` as PAN-OS names them.
            let name = match &c.proxy_id {
                Some(p) => format!("{}:{}", c.tunnel, p),
                None => c.tunnel.clone(),
            };
            let name = escape(&name);
            writeln!(
                f,
                "  {:<14} SPI in {:08X} out {:08X} {} local {} remote {}",
                name,
                c.inbound_spi,
                c.outbound_spi,
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
