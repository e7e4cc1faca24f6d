//! The negotiation checker: what two firewalls' configurations will negotiate, predicted without
//! running them.
//!
//! [`predict`] takes two PAN-OS configurations and, for every pair of IKE gateways that point at
//! each other and for each side that can initiate, says which IKE proposal will be chosen, and for
//! each proxy ID of the initiator's tunnels which Child SA (proposal, narrowed selectors, mode) comes
//! up, or the first failure: the phase, the exchange, the notify on the wire, and what each side
//! will log, in the words of [`Event`](crate::Event)'s `Display` (PAN-OS's system log). Lifetimes
//! are local in IKEv2; the prediction says who rekeys first and whether that rekey (the first
//! exchange that carries PFS) will succeed.
//!
//! The prediction is made by the protocol's own decision code, called in the order the exchanges
//! call it: the initiator's offers ([`IkeProposal::offers`](crate::proposal::IkeProposal::offers)),
//! the responder's choice ([`select_ike`](crate::proposal::select_ike),
//! [`select_esp`](crate::proposal::select_esp)), the initiator's acceptance of the answer, the
//! gateway lookup by address, the `peer-id` check, and traffic selector narrowing
//! ([`choose_policy`](ipsec_core::selector::choose_policy),
//! [`check_narrowed`](ipsec_core::selector::check_narrowed)). What it adds is only the order of
//! those steps, and property tests hold that order to two endpoints negotiating for real.
//! Findings that need no negotiation (IKE version, proxy IDs that are not mirror images) come
//! from [`check_pair`](ipsec_core::config::check_pair) and are kept in
//! [`Prediction::findings`].
//!
//! ```
//! use ikev2::check::predict;
//! use ipsec_core::config::Config;
//! use ipsec_core::crypto::default_provider;
//!
//! let hq = Config::from_toml_str(include_str!("../../../examples/configs/hq.toml")).unwrap();
//! let branch =
//!     Config::from_toml_str(include_str!("../../../examples/configs/branch.toml")).unwrap();
//! let p = predict(&hq, &branch, &default_provider());
//! assert!(p.all_up());
//! let d = &p.gateways[0].directions[0];
//! assert_eq!(d.ike.as_ref().unwrap().suite.to_string(), "aes-256-gcm/sha256/group19");
//! println!("{p}");
//! ```

mod predict;
mod text;

use crate::event::{Reason, Role};
use crate::proposal::{EspSuite, IkeSuite};
use crate::wire::{ExchangeType, NotifyType};
use core::time::Duration;
use ipsec_core::child_sa::Mode;
use ipsec_core::config::{Config, PairFinding};
use ipsec_core::crypto::{CryptoProvider, DhGroup};
use ipsec_core::selector::TrafficSelector;

pub use ipsec_core::config::PairSide;

/// Predicts what configurations `first` and `second` negotiate with each other, with the
/// algorithms of `provider`.
pub fn predict(first: &Config, second: &Config, provider: &CryptoProvider) -> Prediction {
    predict::predict(first, second, provider)
}

/// IKE phase 1 (IKE_SA_INIT and IKE_AUTH: the IKE SA) or phase 2 (a Child SA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The IKE SA.
    One,
    /// A Child SA.
    Two,
}

/// The prediction for a pair of configurations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prediction {
    /// What [`check_pair`](ipsec_core::config::check_pair) finds without negotiating: each
    /// names the object and field to change.
    pub findings: Vec<PairFinding>,
    /// Configurations this implementation cannot run as given, with why (certificate
    /// authentication, a peer given by FQDN, ...); their gateways are not predicted.
    pub unusable: Vec<(PairSide, String)>,
    /// One entry per pair of gateways that point at each other.
    pub gateways: Vec<GatewayPrediction>,
}

impl Prediction {
    /// True when some gateway pair is predicted and every predicted IKE SA, Child SA and rekey
    /// succeeds (in every direction that can initiate), and someone can initiate.
    pub fn all_up(&self) -> bool {
        self.unusable.is_empty()
            && !self.gateways.is_empty()
            && self.gateways.iter().all(|g| {
                !g.directions.is_empty()
                    && g.directions.iter().all(|d| {
                        d.ike.is_ok()
                            && d.children.iter().all(|c| {
                                c.outcome
                                    .as_ref()
                                    .is_ok_and(|sa| sa.rekeys.iter().all(|r| r.outcome.is_ok()))
                            })
                    })
            })
    }
}

/// The prediction for one pair of gateways.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayPrediction {
    /// The `ike-gateway` of the first configuration.
    pub first: String,
    /// The `ike-gateway` of the second configuration.
    pub second: String,
    /// Things to know that are not failures: who never initiates, NAT-T, lifetimes.
    pub notes: Vec<Note>,
    /// One entry per side that can initiate (none: nothing ever comes up).
    pub directions: Vec<Direction>,
}

/// A remark about a gateway pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// This side never initiates: passive mode, a dynamic peer, or no tunnel over the gateway.
    NeverInitiates {
        /// The side.
        side: PairSide,
        /// Why.
        why: String,
    },
    /// Neither side initiates: no tunnel will ever come up.
    NobodyInitiates,
    /// This side's gateway is not run by this implementation (disabled, or IKEv1 only).
    NotRun {
        /// The side.
        side: PairSide,
        /// Why.
        why: String,
    },
    /// One side has NAT traversal off: harmless without a NAT between the peers; behind a NAT,
    /// IKE stays on port 500 and ESP is not UDP-encapsulated, which the NAT usually breaks.
    NatTraversalOff {
        /// The side with NAT-T off.
        side: PairSide,
    },
    /// The IKE SA lifetimes differ. IKEv2 does not negotiate lifetimes: each side rekeys at
    /// 85-90 % of its own, so the side with the shorter one rekeys.
    IkeLifetimes {
        /// The first configuration's lifetime.
        first: Duration,
        /// The second configuration's lifetime.
        second: Duration,
    },
}

/// What happens when one side initiates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Direction {
    /// The initiating side.
    pub initiator: PairSide,
    /// The initiator's `ike-gateway`.
    pub initiator_gateway: String,
    /// The responder's `ike-gateway` chosen for the initiator's address (empty when none).
    pub responder_gateway: String,
    /// Phase 1: the IKE SA, or the first failure.
    pub ike: Result<IkeSaPrediction, Failure>,
    /// Phase 2: one entry per proxy ID of the initiator's tunnels over this gateway, in the order
    /// they are negotiated (the first in IKE_AUTH, the rest with CREATE_CHILD_SA). Empty when
    /// phase 1 fails.
    pub children: Vec<ChildPrediction>,
}

/// A predicted IKE SA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IkeSaPrediction {
    /// The suite both sides will use.
    pub suite: IkeSuite,
    /// Groups the responder asked for with INVALID_KE_PAYLOAD before accepting, in order
    /// (each costs a round trip).
    pub invalid_ke: Vec<DhGroup>,
    /// The initiator's IKE proposals.
    pub initiator_proposals: String,
    /// The responder's IKE proposals.
    pub responder_proposals: String,
}

/// The prediction for one proxy ID of the initiator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildPrediction {
    /// The initiator's `ipsec-tunnel`.
    pub tunnel: String,
    /// The initiator's proxy ID (`None` for a tunnel without proxy IDs: 0.0.0.0/0 both ways).
    pub proxy_id: Option<String>,
    /// IKE_AUTH for the first Child SA, CREATE_CHILD_SA for the others.
    pub exchange: ExchangeType,
    /// TSi as proposed (the initiator's side).
    pub tsi: Vec<TrafficSelector>,
    /// TSr as proposed.
    pub tsr: Vec<TrafficSelector>,
    /// The Child SA, or the failure.
    pub outcome: Result<ChildSaPrediction, Failure>,
}

/// A predicted Child SA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildSaPrediction {
    /// The responder's `ipsec-tunnel`.
    pub responder_tunnel: String,
    /// The responder's proxy ID the request was narrowed to.
    pub responder_proxy_id: Option<String>,
    /// The suite both sides will use.
    pub suite: EspSuite,
    /// Narrowed TSi (the initiator's side), as both sides will install it.
    pub tsi: Vec<TrafficSelector>,
    /// Narrowed TSr.
    pub tsr: Vec<TrafficSelector>,
    /// Tunnel, or transport when both tunnels ask for it.
    pub mode: Mode,
    /// The PFS group the responder asked for with INVALID_KE_PAYLOAD before accepting.
    pub invalid_ke: Option<DhGroup>,
    /// The Child SA lifetimes: the initiator's and the responder's.
    pub lifetimes: (Duration, Duration),
    /// The rekey by the side that rekeys first (both sides when the lifetimes are equal).
    pub rekeys: Vec<RekeyPrediction>,
}

/// A predicted Child SA rekey (CREATE_CHILD_SA with N(REKEY_SA), PFS when configured).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RekeyPrediction {
    /// The side that starts it.
    pub by: PairSide,
    /// The new Child SA's suite, or the failure (the old SA then runs out).
    pub outcome: Result<EspSuite, Failure>,
}

/// A predicted negotiation failure: where it happens, what goes on the wire, what each side logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Phase 1 or phase 2.
    pub phase: Phase,
    /// The exchange that fails.
    pub exchange: ExchangeType,
    /// The error notify sent (`None` when the request is dropped unanswered).
    pub notify: Option<NotifyType>,
    /// The initiator's `ipsec-tunnel` in phase 2 (empty in phase 1).
    pub initiator_tunnel: String,
    /// The `ipsec-tunnel` the responder names in its phase-2 log line (empty in phase 1, or
    /// when it has none).
    pub responder_tunnel: String,
    /// What the mismatch is.
    pub cause: Cause,
    /// The initiator's list (proposals, proxy ID or identity), for comparison.
    pub initiator_list: String,
    /// The responder's list.
    pub responder_list: String,
    /// What the initiator reports ([`Event::Phase1Failed`](crate::Event::Phase1Failed),
    /// [`Event::Phase2Failed`](crate::Event::Phase2Failed)).
    pub initiator: Reason,
    /// What the responder reports, if anything: as a failure event, or, when the initiator
    /// rejects the responder's identity after the responder established, as the reason of its
    /// [`Event::IkeSaDown`](crate::Event::IkeSaDown).
    pub responder: Option<Reason>,
}

/// The kind of mismatch behind a [`Failure`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The responder has no `ike-gateway` for the initiator's address: it drops the request
    /// and the initiator times out.
    NoGateway,
    /// No IKE proposal of the initiator is acceptable to the responder.
    NoIkeProposal,
    /// The responder keeps asking for another key exchange group.
    KeyExchangeGroup,
    /// The identity one side presents does not match the other's `peer-id`.
    PeerId {
        /// The side whose `peer-id` rejects it: the responder checks first.
        checked_by: Role,
    },
    /// The pre-shared keys differ.
    PreSharedKey,
    /// One side authenticates with a pre-shared key, the other with certificates.
    AuthMethods,
    /// The proxy IDs do not overlap.
    TrafficSelectors,
    /// No ESP proposal in common (encryption, integrity, ESN, or in CREATE_CHILD_SA the PFS
    /// group).
    NoEspProposal,
    /// The responder wants a PFS group the initiator will not use.
    PfsGroup,
    /// The initiator cannot start (no usable proposal with this provider, ...).
    Unusable(String),
    /// The initiator rejects the responder's answer (a protocol inconsistency).
    BadAnswer(String),
}
