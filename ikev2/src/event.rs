//! What the endpoint tells its embedder: SAs coming up and going down, and why negotiations fail.
//!
//! `Display` renders each event the way PAN-OS writes its system log, so an admin recognises
//! them (`IKE phase-1 negotiation is failed as initiator, ...`). Text that may come from a peer
//! (identities, reasons) or from outside the validated configuration is escaped with
//! [`ipsec_core::text::Escaped`]: no control character, line break, ANSI escape or
//! bidirectional override reaches a log line.

use crate::error::{LocalError, Mismatch, NegotiationError};
use crate::proposal::{EspSuite, IkeSuite};
use crate::wire::NotifyType;
use core::fmt;
use core::time::Duration;
use ipsec_core::child_sa::ChildSa;
use ipsec_core::selector::TrafficSelector;
use ipsec_core::text::{Escaped, EscapingWriter};
use std::net::SocketAddr;

/// Which side of the IKE SA we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent IKE_SA_INIT.
    Initiator,
    /// We answered it.
    Responder,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Initiator => "initiator",
            Role::Responder => "responder",
        })
    }
}

/// The SPIs and addresses that name an IKE SA in log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SaName {
    /// The initiator's IKE SPI.
    pub spi_i: u64,
    /// The responder's IKE SPI (0 before the responder answered).
    pub spi_r: u64,
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
}

impl fmt::Display for SaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}]-{}[{}] cookie:{:016x}:{:016x}",
            self.local.ip(),
            self.local.port(),
            self.remote.ip(),
            self.remote.port(),
            self.spi_i,
            self.spi_r
        )
    }
}

/// Why a negotiation failed or an SA went down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// No common proposal: ours and the peer's, as text.
    NoProposalChosen {
        /// Our proposals.
        ours: String,
        /// The peer's proposals (empty when the peer rejected ours).
        theirs: String,
    },
    /// The peer's AUTH did not verify, or its ID is not the configured peer ID.
    AuthenticationFailed(String),
    /// The proxy IDs (traffic selectors) do not match.
    TsUnacceptable {
        /// Our local selectors.
        local: Vec<TrafficSelector>,
        /// Our remote selectors.
        remote: Vec<TrafficSelector>,
        /// The selectors received for the peer's side (TSi when we respond).
        received_remote: Vec<TrafficSelector>,
        /// The selectors received for our side.
        received_local: Vec<TrafficSelector>,
    },
    /// The peer answered with an error notify.
    PeerNotify(u16),
    /// Retransmissions ran out.
    Timeout,
    /// A liveness check went unanswered.
    DeadPeer,
    /// The peer deleted the SA.
    DeletedByPeer,
    /// We deleted it (command or lifetime).
    DeletedLocally,
    /// The IKE SA lifetime ran out.
    Expired,
    /// The peer's message was malformed.
    Malformed(String),
    /// The peer broke the protocol (answered with what we did not offer, for example).
    PeerMisbehaved(String),
    /// Something on our side failed (random source, crypto provider); not the peer's fault.
    Local(String),
    /// The parent IKE SA went away.
    IkeSaGone,
    /// The peer restarted: it authenticated a new IKE SA with the same identities and
    /// INITIAL_CONTACT (RFC 7296 section 2.4), so this older one is stale.
    PeerRestarted,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NoProposalChosen { ours, theirs } if theirs.is_empty() => write!(
                f,
                "received notify type NO_PROPOSAL_CHOSEN (my proposals: {})",
                Escaped(ours)
            ),
            Reason::NoProposalChosen { ours, theirs } => write!(
                f,
                "no suitable proposal found in peer's SA payload (peer: {}; mine: {})",
                Escaped(theirs),
                Escaped(ours)
            ),
            Reason::AuthenticationFailed(why) => {
                write!(f, "authentication failed: {}", Escaped(why))
            }
            Reason::TsUnacceptable { .. } => f.write_str("received notify type TS_UNACCEPTABLE"),
            Reason::PeerNotify(n) => write!(f, "received notify type {}", notify_name(*n)),
            Reason::Timeout => f.write_str("due to timeout"),
            Reason::DeadPeer => f.write_str("peer is dead (liveness check failed)"),
            Reason::DeletedByPeer => f.write_str("deleted by peer"),
            Reason::DeletedLocally => f.write_str("deleted locally"),
            Reason::Expired => f.write_str("lifetime expired"),
            Reason::Malformed(m) => write!(f, "malformed message: {}", Escaped(m)),
            Reason::PeerMisbehaved(m) => write!(f, "peer misbehaved: {}", Escaped(m)),
            Reason::Local(m) => write!(f, "local failure: {}", Escaped(m)),
            Reason::IkeSaGone => f.write_str("IKE SA deleted"),
            Reason::PeerRestarted => f.write_str(
                "peer restarted (INITIAL_CONTACT in a new IKE SA with the same identities)",
            ),
        }
    }
}

impl Reason {
    /// The notify this reason stands for on the wire, sent or received, if any.
    pub fn notify(&self) -> Option<NotifyType> {
        match self {
            Reason::NoProposalChosen { .. } => Some(NotifyType::NO_PROPOSAL_CHOSEN),
            Reason::AuthenticationFailed(_) => Some(NotifyType::AUTHENTICATION_FAILED),
            Reason::TsUnacceptable { .. } => Some(NotifyType::TS_UNACCEPTABLE),
            Reason::Malformed(_) => Some(NotifyType::INVALID_SYNTAX),
            Reason::PeerNotify(n) => Some(NotifyType(*n)),
            _ => None,
        }
    }
}

impl From<NegotiationError> for Reason {
    /// The failure event's reason for a negotiation error, keeping its blame.
    fn from(e: NegotiationError) -> Self {
        match e {
            NegotiationError::Malformed(m) => Reason::Malformed(m),
            NegotiationError::PeerMisbehaved(m) => Reason::PeerMisbehaved(m),
            NegotiationError::Incompatible(Mismatch::AuthenticationFailed(m)) => {
                Reason::AuthenticationFailed(m)
            }
            NegotiationError::Incompatible(Mismatch::NoProposalChosen) => {
                Reason::NoProposalChosen {
                    ours: String::new(),
                    theirs: String::new(),
                }
            }
            NegotiationError::Incompatible(Mismatch::TsUnacceptable) => Reason::TsUnacceptable {
                local: Vec::new(),
                remote: Vec::new(),
                received_remote: Vec::new(),
                received_local: Vec::new(),
            },
            NegotiationError::Incompatible(Mismatch::InvalidKePayload(_)) => {
                Reason::PeerNotify(NotifyType::INVALID_KE_PAYLOAD.0)
            }
            NegotiationError::Local(l) => Reason::Local(l.to_string()),
        }
    }
}

impl From<LocalError> for Reason {
    fn from(e: LocalError) -> Self {
        Reason::Local(e.to_string())
    }
}

fn notify_name(n: u16) -> String {
    NotifyType(n)
        .name()
        .map(str::to_owned)
        .unwrap_or_else(|| n.to_string())
}

/// `tunnel:proxy-id`, as PAN-OS names a Child SA in its logs.
fn sa_name(tunnel: &str, proxy_id: Option<&str>) -> String {
    match proxy_id {
        Some(p) => format!("{}:{}", Escaped(tunnel), Escaped(p)),
        None => Escaped(tunnel).to_string(),
    }
}

/// Renders a selector as PAN-OS does in proxy-ID log lines.
fn ts_text(ts: &[TrafficSelector]) -> String {
    ts.iter()
        .map(|t| {
            let kind = if t.start_addr.is_ipv4() {
                "IPv4"
            } else {
                "IPv6"
            };
            let port = if t.start_port == 0 && t.end_port == 65535 {
                0
            } else {
                t.start_port
            };
            format!(
                "{} type {kind}_subnet protocol {} port {port}",
                t.short(),
                t.protocol
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// When the datapath may send on a new Child SA (see [`Event`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outbound {
    /// Send on it at once: a new Child SA, or one we rekeyed (the peer installed it before it
    /// answered).
    Now,
    /// Not yet: we answered the peer's rekey and the peer may not have our answer. Receive on
    /// it, keep sending on the SA it replaces until [`Event::ChildSaOutbound`] for it, or until a
    /// packet arrives on it (`esp::SaTable::install_inbound` does both).
    Later,
}

impl fmt::Display for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outbound::Now => "now",
            Outbound::Later => "later",
        })
    }
}

/// How long the inbound half of a Child SA replaced by a rekey stays after its delete: packets
/// the peer sent on it just before it switched may still arrive (strongSwan's
/// `delete_rekeyed_delay` does the same).
pub const REKEYED_LINGER: Duration = Duration::from_secs(5);

/// Something the embedder should know about.
///
/// # Child SAs in the datapath
///
/// Three events drive the datapath, each one call of `esp::SaTable`:
///
/// | event | datapath | `esp::SaTable` |
/// | --- | --- | --- |
/// | [`Event::ChildSaUp`] with [`Outbound::Now`] | install both halves, send on it | `install` |
/// | [`Event::ChildSaUp`] with [`Outbound::Later`] | install both halves, receive on it, keep sending on the SA it replaces | `install_inbound` |
/// | [`Event::ChildSaOutbound`] | send on it from now on | `activate_outbound` |
/// | [`Event::ChildSaDown`] | stop sending on it now, remove its inbound half after `linger` | `retire` (`remove` when `linger` is zero) |
///
/// Why: when we answer the peer's rekey of a Child SA, the answer may be lost, and until its
/// retransmission gets through the peer has only the old SA. So the responder of a rekey keeps
/// sending on the old SA until the peer's Delete for it arrives ([`Event::ChildSaOutbound`] comes
/// right before that old SA's [`Event::ChildSaDown`]) or a packet arrives on the new SA
/// (`esp::SaTable` notices that itself). And an SA replaced by a rekey is kept inbound for a
/// moment after it is deleted, for the packets the peer sent on it just before it switched.
/// Events come in the order to apply them: applied in order, no packet is dropped for want of
/// an SA at either end.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// An IKE SA is established (IKE_AUTH completed).
    IkeSaUp {
        /// The `ike-gateway`.
        gateway: String,
        /// Our role.
        role: Role,
        /// SPIs and addresses.
        sa: SaName,
        /// The negotiated algorithms.
        suite: IkeSuite,
        /// True when NAT was detected (or encapsulation forced): IKE moved to port 4500.
        nat: bool,
    },
    /// An IKE SA is gone; its Child SAs went with it (each reported by [`Event::ChildSaDown`]).
    IkeSaDown {
        /// The `ike-gateway`.
        gateway: String,
        /// SPIs and addresses.
        sa: SaName,
        /// Why.
        reason: Reason,
    },
    /// A Child SA is negotiated: install it in the datapath, sending on it as `outbound` says.
    ChildSaUp {
        /// The `ike-gateway`.
        gateway: String,
        /// Our role in the exchange that created it.
        role: Role,
        /// Everything ESP needs.
        child: Box<ChildSa>,
        /// The negotiated algorithms.
        suite: EspSuite,
        /// When to send on it: [`Outbound::Later`] when we answered the peer's rekey.
        outbound: Outbound,
        /// For a rekey (RFC 7296 section 1.3.3): the inbound SPI of the Child SA this one
        /// replaces. The old SA stays installed until its [`Event::ChildSaDown`].
        replaces: Option<u32>,
    },
    /// Send on this Child SA from now on (it came up with [`Outbound::Later`] and the peer has
    /// it now). Harmless when the datapath already switched on inbound traffic.
    ChildSaOutbound {
        /// The `ipsec-tunnel`.
        tunnel: String,
        /// Our inbound SPI.
        inbound_spi: u32,
        /// The peer's (outbound) SPI.
        outbound_spi: u32,
    },
    /// A Child SA is gone: stop sending on it now and remove its inbound half after `linger`
    /// (at once when it is zero).
    ChildSaDown {
        /// The `ipsec-tunnel`.
        tunnel: String,
        /// The proxy ID (`None` for a tunnel without proxy IDs).
        proxy_id: Option<String>,
        /// Our inbound SPI.
        inbound_spi: u32,
        /// The peer's (outbound) SPI.
        outbound_spi: u32,
        /// Why.
        reason: Reason,
        /// How long its inbound half still accepts packets: [`REKEYED_LINGER`] when another
        /// Child SA of the same proxy ID replaced it, zero otherwise.
        linger: Duration,
    },
    /// IKE SA negotiation (IKE_SA_INIT or IKE_AUTH) failed. As initiator, a refusal in the
    /// IKE_SA_INIT response (NO_PROPOSAL_CHOSEN, a COOKIE or INVALID_KE_PAYLOAD past their
    /// rounds) is unauthenticated and could be forged: it is reported only when the request's
    /// retransmissions end without a usable answer (RFC 7296 section 2.21.1). A negotiation
    /// that does not complete within its deadline (both retransmission schedules; 30 s for a
    /// responder's half-open SA) is reported with [`Reason::Timeout`].
    Phase1Failed {
        /// The `ike-gateway` (empty when no gateway matched).
        gateway: String,
        /// Our role.
        role: Role,
        /// SPIs and addresses.
        sa: SaName,
        /// Why.
        reason: Reason,
    },
    /// Child SA negotiation failed; the IKE SA stays up (RFC 7296 section 2.21.3).
    Phase2Failed {
        /// The `ipsec-tunnel` (empty when none matched the peer's selectors).
        tunnel: String,
        /// Our role.
        role: Role,
        /// Why.
        reason: Reason,
    },
    /// An IKE_SA_INIT came from an address no gateway is configured for.
    NoGateway {
        /// The sender.
        remote: SocketAddr,
    },
}

impl fmt::Display for Event {
    /// The PAN-OS-like log line, every character of it escaped as [`Escaped`] does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_line(&mut EscapingWriter(f))
    }
}

impl Event {
    fn write_line(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            Event::IkeSaUp {
                gateway,
                role,
                sa,
                suite,
                nat,
            } => write!(
                f,
                "IKE phase-1 negotiation is succeeded as {role}, non-rekey. Established SA: {sa}. \
                 Gateway {gateway}, proposal {suite}, NAT {}.",
                if *nat { "detected" } else { "not detected" }
            ),
            Event::IkeSaDown {
                gateway,
                sa,
                reason,
            } => write!(f, "IKE SA {sa} of gateway {gateway} deleted: {reason}."),
            Event::ChildSaUp {
                gateway,
                role,
                child,
                suite,
                replaces,
                ..
            } => write!(
                f,
                "IKE phase-2 negotiation is succeeded as {}, {}. Established SA: {}-{} \
                 SPI:{:08X}/{:08X} tunnel {} gateway {gateway}, proposal {suite}{}.",
                role,
                match replaces {
                    Some(old) => format!("rekey of SPI:{old:08X}"),
                    None => "non-rekey".to_owned(),
                },
                child.local_addr.ip(),
                child.remote_addr.ip(),
                child.inbound.spi,
                child.outbound.spi,
                sa_name(&child.tunnel, child.proxy_id.as_deref()),
                if child.encapsulation.is_some() {
                    ", UDP-encapsulated"
                } else {
                    ""
                }
            ),
            Event::ChildSaOutbound {
                tunnel,
                inbound_spi,
                outbound_spi,
            } => write!(
                f,
                "IPSec SA SPI:{inbound_spi:08X}/{outbound_spi:08X} of tunnel {tunnel} now used outbound."
            ),
            Event::ChildSaDown {
                tunnel,
                proxy_id,
                inbound_spi,
                outbound_spi,
                reason,
                ..
            } => write!(
                f,
                "IPSec SA SPI:{inbound_spi:08X}/{outbound_spi:08X} of tunnel {} deleted: {reason}.",
                sa_name(tunnel, proxy_id.as_deref())
            ),
            Event::Phase1Failed {
                gateway,
                role,
                sa,
                reason,
            } => write!(
                f,
                "IKE phase-1 negotiation is failed as {role}, non-rekey. Failed SA: {sa} \
                 gateway {gateway} {reason}."
            ),
            Event::Phase2Failed {
                tunnel,
                role,
                reason:
                    Reason::TsUnacceptable {
                        received_local,
                        received_remote,
                        local,
                        remote,
                    },
            } if received_local.is_empty() && received_remote.is_empty() => write!(
                f,
                "IKE phase-2 negotiation failed when processing Proxy ID. Peer rejected local id \
                 {}, remote id {} with notify type TS_UNACCEPTABLE (tunnel {tunnel} as {role}).",
                ts_text(local),
                ts_text(remote)
            ),
            Event::Phase2Failed {
                tunnel,
                role,
                reason:
                    Reason::TsUnacceptable {
                        received_local,
                        received_remote,
                        local,
                        remote,
                    },
            } => write!(
                f,
                "IKE phase-2 negotiation failed when processing Proxy ID. Received local id {}, \
                 received remote id {} (tunnel {tunnel} as {role}: local {}, remote {}).",
                ts_text(received_local),
                ts_text(received_remote),
                ts_text(local),
                ts_text(remote)
            ),
            Event::Phase2Failed {
                tunnel,
                role,
                reason: reason @ Reason::NoProposalChosen { .. },
            } => write!(
                f,
                "IKE phase-2 negotiation failed when processing SA payload. Tunnel {tunnel} as \
                 {role}: {reason}."
            ),
            Event::Phase2Failed {
                tunnel,
                role,
                reason,
            } => write!(
                f,
                "IKE phase-2 negotiation is failed as {role}. Tunnel {tunnel}: {reason}."
            ),
            Event::NoGateway { remote } => write!(
                f,
                "IKE phase 1 negotiation is failed. Couldn't find configuration for IKE phase-1 \
                 request for peer IP {}[{}].",
                remote.ip(),
                remote.port()
            ),
        }
    }
}
