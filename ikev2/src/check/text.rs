//! The prediction as text: one block per gateway pair, one line per outcome, the failures in the
//! words each side will log.

use super::{
    Cause, ChildPrediction, Direction, Failure, GatewayPrediction, Note, PairSide, Phase,
    Prediction,
};
use crate::event::{Event, Role};
use core::fmt::{self, Write};
use core::time::Duration;
use ipsec_core::child_sa::Mode;
use ipsec_core::selector::TrafficSelector;

/// How the two configurations are called in the text (file names in the CLI).
struct Labels<'a> {
    first: &'a str,
    second: &'a str,
}

impl Labels<'_> {
    fn of(&self, side: PairSide) -> &str {
        match side {
            PairSide::First => self.first,
            PairSide::Second => self.second,
        }
    }
}

impl Prediction {
    /// The prediction as text, calling the configurations `first` and `second` (file names, or
    /// firewall names).
    pub fn render(&self, first: &str, second: &str) -> String {
        let l = Labels { first, second };
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write(&mut out, &l);
        out
    }

    fn write(&self, out: &mut String, l: &Labels<'_>) -> fmt::Result {
        for f in &self.findings {
            writeln!(out, "finding: {}: {}", l.of(f.side), f.error)?;
        }
        for (side, why) in &self.unusable {
            writeln!(out, "cannot run {}: {why}", l.of(*side))?;
        }
        if self.gateways.is_empty() && self.unusable.is_empty() {
            writeln!(out, "no ike-gateway pair: nothing will be negotiated")?;
        }
        for g in &self.gateways {
            gateway(out, g, l)?;
        }
        Ok(())
    }
}

impl fmt::Display for Prediction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render("first", "second"))
    }
}

fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s.is_multiple_of(3600) => format!("{} h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{} min", s / 60),
        _ => format!("{s} s"),
    }
}

fn gateway(out: &mut String, g: &GatewayPrediction, l: &Labels<'_>) -> fmt::Result {
    writeln!(
        out,
        "ike-gateway {} ({}) <-> ike-gateway {} ({})",
        g.first, l.first, g.second, l.second
    )?;
    for n in &g.notes {
        writeln!(out, "  note: {}", n.describe(l.first, l.second))?;
    }
    for d in &g.directions {
        direction(out, d, l)?;
    }
    Ok(())
}

fn direction(out: &mut String, d: &Direction, l: &Labels<'_>) -> fmt::Result {
    let (li, lr) = (l.of(d.initiator), l.of(other(d.initiator)));
    writeln!(out, "  {li} initiates:")?;
    match &d.ike {
        Ok(ike) => {
            write!(out, "    phase 1: IKE SA up, proposal {}", ike.suite)?;
            for g in &ike.invalid_ke {
                write!(out, " (after INVALID_KE_PAYLOAD asking for group{})", g.0)?;
            }
            writeln!(out)?;
            writeln!(out, "      {li} offers: {}", ike.initiator_proposals)?;
            writeln!(out, "      {lr} accepts: {}", ike.responder_proposals)?;
        }
        Err(f) => failure(out, f, "phase 1", d.initiator, l, "    ")?,
    }
    for c in &d.children {
        child(out, c, d, l)?;
    }
    Ok(())
}

fn ts(v: &[TrafficSelector]) -> String {
    v.iter().map(|t| t.short()).collect::<Vec<_>>().join(",")
}

fn child(out: &mut String, c: &ChildPrediction, d: &Direction, l: &Labels<'_>) -> fmt::Result {
    let name = match &c.proxy_id {
        Some(p) => format!("{}:{p}", c.tunnel),
        None => c.tunnel.clone(),
    };
    match &c.outcome {
        Ok(sa) => {
            let theirs = match &sa.responder_proxy_id {
                Some(p) => format!("{}:{p}", sa.responder_tunnel),
                None => sa.responder_tunnel.clone(),
            };
            write!(
                out,
                "    phase 2 {name} ({}): Child SA up with {theirs}, proposal {}, {} mode, \
                 local {} remote {}",
                c.exchange,
                sa.suite,
                if sa.mode == Mode::Transport {
                    "transport"
                } else {
                    "tunnel"
                },
                ts(&sa.tsi),
                ts(&sa.tsr),
            )?;
            if (sa.tsi.as_slice(), sa.tsr.as_slice()) != (c.tsi.as_slice(), c.tsr.as_slice()) {
                write!(
                    out,
                    " (narrowed from local {} remote {})",
                    ts(&c.tsi),
                    ts(&c.tsr)
                )?;
            }
            if let Some(g) = sa.invalid_ke {
                write!(out, " (after INVALID_KE_PAYLOAD asking for group{})", g.0)?;
            }
            writeln!(out)?;
            let same = sa.rekeys.len() == 2 && sa.rekeys[0].outcome == sa.rekeys[1].outcome;
            for r in sa.rekeys.iter().take(if same { 1 } else { 2 }) {
                let by = if same { "either side" } else { l.of(r.by) };
                let (mine, theirs) = if r.by == d.initiator {
                    sa.lifetimes
                } else {
                    (sa.lifetimes.1, sa.lifetimes.0)
                };
                let when = if mine == theirs {
                    format!("lifetime {} on both", duration(mine))
                } else {
                    format!("lifetime {} vs {}", duration(mine), duration(theirs))
                };
                match &r.outcome {
                    Ok(s) => writeln!(out, "      rekey by {by} ({when}): proposal {s}")?,
                    Err(f) => {
                        let head = format!("rekey by {by} ({when})");
                        failure(out, f, &head, r.by, l, "      ")?;
                        writeln!(out, "        (the Child SA then expires)")?;
                    }
                }
            }
        }
        Err(f) => failure(out, f, &format!("phase 2 {name}"), d.initiator, l, "    ")?,
    }
    Ok(())
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::NoGateway => f.write_str(
                "the responder has no ike-gateway for the initiator's address: the request is \
                 dropped and the initiator times out",
            ),
            Cause::NoIkeProposal => {
                f.write_str("no common IKE proposal (compare dh-group, hash, encryption)")
            }
            Cause::KeyExchangeGroup => {
                f.write_str("the responder keeps asking for another key exchange group")
            }
            Cause::PeerId { .. } => {
                f.write_str("the peer-id does not match the identity the peer sends")
            }
            Cause::PreSharedKey => f.write_str("the pre-shared keys differ"),
            Cause::AuthMethods => {
                f.write_str("one side uses a pre-shared key, the other certificates")
            }
            Cause::TrafficSelectors => {
                f.write_str("the proxy IDs do not overlap (they must be mirror images)")
            }
            Cause::NoEspProposal => {
                f.write_str("no common IPsec proposal (compare encryption, authentication)")
            }
            Cause::PfsGroup => f.write_str(
                "PFS mismatch: the ipsec-crypto-profiles' dh-group differ (IKE_AUTH carries no \
                 PFS, so only CREATE_CHILD_SA fails)",
            ),
            Cause::Unusable(why) => f.write_str(why),
            Cause::BadAnswer(why) => write!(f, "the initiator rejects the answer: {why}"),
        }
    }
}

impl Failure {
    /// The line the initiator will log, as [`Event`]'s `Display` writes it.
    pub fn initiator_log(&self) -> String {
        self.log(Role::Initiator, &self.initiator_tunnel, &self.initiator)
    }

    /// The line the responder will log, if it logs one.
    pub fn responder_log(&self) -> Option<String> {
        let r = self.responder.as_ref()?;
        Some(self.log(Role::Responder, &self.responder_tunnel, r))
    }

    fn log(&self, role: Role, tunnel: &str, reason: &crate::event::Reason) -> String {
        match self.phase {
            Phase::Two => Event::Phase2Failed {
                tunnel: tunnel.to_owned(),
                role,
                reason: reason.clone(),
            }
            .to_string(),
            Phase::One => {
                format!("IKE phase-1 negotiation is failed as {role}, non-rekey: {reason}.")
            }
        }
    }

    /// What the lists in [`initiator_list`](Self::initiator_list) and
    /// [`responder_list`](Self::responder_list) are, as verbs for each side (`offers`,
    /// `accepts`); `None` when the failure has no lists.
    pub fn list_verbs(&self) -> Option<(&'static str, &'static str)> {
        Some(match self.cause {
            Cause::NoIkeProposal
            | Cause::KeyExchangeGroup
            | Cause::NoEspProposal
            | Cause::PfsGroup => ("offers", "accepts"),
            Cause::TrafficSelectors => ("proposes", "has proxy IDs"),
            Cause::PeerId {
                checked_by: Role::Responder,
            } => ("sends", "expects"),
            Cause::PeerId {
                checked_by: Role::Initiator,
            } => ("expects", "sends"),
            _ => return None,
        })
    }
}

impl Note {
    /// The note as a sentence, calling the configurations `first` and `second`.
    pub fn describe(&self, first: &str, second: &str) -> String {
        let l = Labels { first, second };
        match self {
            Note::NeverInitiates { side, why } => {
                format!("{} never initiates: {why}", l.of(*side))
            }
            Note::NobodyInitiates => {
                "neither side initiates: no tunnel will come up (phase 1 never starts)".into()
            }
            Note::NotRun { side, why } => format!("{} not predicted: {why}", l.of(*side)),
            Note::NatTraversalOff { side } => format!(
                "NAT traversal is off on {}: fine without a NAT between the peers; behind a NAT \
                 IKE stays on port 500 and ESP is not UDP-encapsulated",
                l.of(*side)
            ),
            Note::IkeLifetimes { first, second } => format!(
                "IKE SA lifetimes differ ({} on {}, {} on {}): not negotiated in IKEv2, the \
                 shorter one rekeys first",
                duration(*first),
                l.first,
                duration(*second),
                l.second
            ),
        }
    }
}

fn other(side: PairSide) -> PairSide {
    match side {
        PairSide::First => PairSide::Second,
        PairSide::Second => PairSide::First,
    }
}

/// A failure's lines: what fails and why, both sides' lists, then what each side logs.
/// `by` is the side that sent the failing request.
fn failure(
    out: &mut String,
    f: &Failure,
    head: &str,
    by: PairSide,
    l: &Labels<'_>,
    indent: &str,
) -> fmt::Result {
    let (li, lr) = (l.of(by), l.of(other(by)));
    let notify = f
        .notify
        .map(|n| format!(" with {n}"))
        .unwrap_or_else(|| ", unanswered".into());
    writeln!(
        out,
        "{indent}{head} fails in {}{notify}: {}",
        f.exchange, f.cause
    )?;
    if let Some((i, r)) = f.list_verbs() {
        writeln!(out, "{indent}  {li} {i}: {}", f.initiator_list)?;
        writeln!(out, "{indent}  {lr} {r}: {}", f.responder_list)?;
    }
    writeln!(out, "{indent}  {li} logs: {}", f.initiator_log())?;
    if let Some(line) = f.responder_log() {
        writeln!(out, "{indent}  {lr} logs: {line}")?;
    }
    Ok(())
}
