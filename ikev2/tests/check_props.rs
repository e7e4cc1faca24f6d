//! The negotiation checker held to the protocol: random pairs of configurations (profiles, PFS,
//! identities, keys, passive mode, NAT-T, tunnel or transport mode, overlapping and mismatched
//! proxy IDs, who initiates) are predicted with `ikev2::check::predict` and then negotiated by
//! two endpoints in the [`Pair`] harness. Both peers must end in the same state, and that state
//! must be the prediction: the same IKE suite, the same Child SAs (suite, narrowed selectors,
//! mode, tunnel and proxy ID on each side), or the same failure with the same notify and the
//! same log reason on each side; then each predicted rekey is run and checked the same way.
//!
//! `CHECK_CASES` sets the number of cases (default 2000); a failure shrinks to a minimal pair and
//! prints both configurations as TOML.

mod check_support;

use check_support::{pair, PairSpec, Who};
use core::time::Duration;
use ikev2::check::{predict, ChildPrediction, Direction, Failure, PairSide, Prediction};
use ikev2::config::EndpointConfig;
use ikev2::testing::{Pair, Side};
use ikev2::{Event, Reason};
use ipsec_core::child_sa::ChildSa;
use ipsec_core::config::Config;
use ipsec_core::crypto::default_provider;
use ipsec_core::selector::TrafficSelector;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

fn cases() -> u32 {
    std::env::var("CHECK_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn load(text: &str) -> Config {
    Config::from_toml_str(text).unwrap_or_else(|e| panic!("generated config fails: {e:?}\n{text}"))
}

/// The harness side of a prediction side: the first configuration is the left peer.
fn harness(side: PairSide) -> Side {
    match side {
        PairSide::First => Side::Left,
        PairSide::Second => Side::Right,
    }
}

/// What ended a negotiation on one side: a phase-1 failure, or the IKE SA going down.
fn phase1_reasons(events: &[Event]) -> Vec<&Reason> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Phase1Failed { reason, .. } | Event::IkeSaDown { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

/// A Child SA outcome on one side, in event order.
#[derive(Debug)]
enum ChildEvent<'a> {
    Up(&'a ChildSa, ikev2::proposal::EspSuite),
    Failed(&'a str, &'a Reason),
}

fn child_events(events: &[Event]) -> Vec<ChildEvent<'_>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaUp { child, suite, .. } => Some(ChildEvent::Up(child, *suite)),
            Event::Phase2Failed { tunnel, reason, .. } => Some(ChildEvent::Failed(tunnel, reason)),
            _ => None,
        })
        .collect()
}

/// AUTH failure texts name what went wrong in words the checker need not copy; both sides
/// agreeing that authentication failed is what matters.
fn same_reason(predicted: &Reason, got: &Reason) -> bool {
    match (predicted, got) {
        (Reason::AuthenticationFailed(_), Reason::AuthenticationFailed(_)) => true,
        _ => predicted == got,
    }
}

fn check_failure_events(
    f: &Failure,
    init: &[ChildEvent<'_>],
    resp: &[ChildEvent<'_>],
) -> Result<(), TestCaseError> {
    match init {
        [ChildEvent::Failed(t, r)] => {
            prop_assert_eq!(*t, f.initiator_tunnel.as_str());
            prop_assert!(
                same_reason(&f.initiator, r),
                "initiator: {r:?}\npredicted {f:?}"
            );
        }
        other => prop_assert!(false, "initiator: {other:?}\npredicted {f:?}"),
    }
    match (&f.responder, resp) {
        (None, []) => {}
        (Some(pr), [ChildEvent::Failed(t, r)]) => {
            prop_assert_eq!(*t, f.responder_tunnel.as_str());
            prop_assert!(same_reason(pr, r), "responder: {r:?}\npredicted {f:?}");
        }
        (_, other) => prop_assert!(false, "responder: {other:?}\npredicted {f:?}"),
    }
    Ok(())
}

/// One proxy ID's Child SA on both sides against its prediction.
fn check_child(
    c: &ChildPrediction,
    init: &[ChildEvent<'_>],
    resp: &[ChildEvent<'_>],
) -> Result<(), TestCaseError> {
    match &c.outcome {
        Ok(sa) => {
            let (ChildEvent::Up(i, isuite), ChildEvent::Up(r, rsuite)) = (&init[0], &resp[0])
            else {
                return Err(TestCaseError::fail(format!(
                    "predicted {sa:?}\ninitiator {init:?}\nresponder {resp:?}"
                )));
            };
            prop_assert_eq!((&i.tunnel, &i.proxy_id), (&c.tunnel, &c.proxy_id));
            prop_assert_eq!(
                (&r.tunnel, &r.proxy_id),
                (&sa.responder_tunnel, &sa.responder_proxy_id)
            );
            prop_assert_eq!(*isuite, sa.suite);
            prop_assert_eq!(*rsuite, sa.suite);
            prop_assert_eq!((&i.local_ts, &i.remote_ts), (&sa.tsi, &sa.tsr));
            prop_assert_eq!((&r.local_ts, &r.remote_ts), (&sa.tsr, &sa.tsi));
            prop_assert_eq!((i.mode, r.mode), (sa.mode, sa.mode));
            prop_assert_eq!(i.inbound.spi, r.outbound.spi);
            prop_assert_eq!(i.outbound.spi, r.inbound.spi);
            // Never wider than proposed, nor than the responder's proxy ID.
            prop_assert!(ipsec_core::selector::check_narrowed(
                &c.tsi,
                &c.tsr,
                &i.local_ts,
                &i.remote_ts
            )
            .is_ok());
        }
        Err(f) => check_failure_events(f, init, resp)?,
    }
    Ok(())
}

fn check_direction(p: &Pair, d: &Direction) -> Result<(), TestCaseError> {
    let (is, rs) = (harness(d.initiator), harness(d.initiator).other());
    let (ie, re) = (p.events(is), p.events(rs));
    match &d.ike {
        Ok(ike) => {
            prop_assert!(phase1_reasons(ie).is_empty(), "{ie:?}");
            prop_assert!(phase1_reasons(re).is_empty(), "{re:?}");
            for side in [is, rs] {
                let sas = endpoint(p, side).ike_sas();
                prop_assert_eq!(sas.len(), 1);
                prop_assert!(sas[0].established);
                prop_assert_eq!(sas[0].suite, Some(ike.suite));
            }
        }
        Err(f) => {
            let got = phase1_reasons(ie);
            prop_assert!(
                got.len() == 1 && same_reason(&f.initiator, got[0]),
                "initiator {got:?}\npredicted {f:?}"
            );
            let got = phase1_reasons(re);
            match &f.responder {
                // Once per request it refused: an initiator keeps retransmitting IKE_SA_INIT
                // after an (unauthenticated) refusal, in case it was forged (RFC 7296 2.21.1).
                Some(r) => prop_assert!(
                    !got.is_empty() && got.iter().all(|g| same_reason(r, g)),
                    "responder {got:?}\npredicted {f:?}"
                ),
                None => prop_assert!(got.is_empty(), "responder {got:?}"),
            }
            for side in [is, rs] {
                prop_assert!(endpoint(p, side).ike_sas().is_empty());
            }
            return Ok(());
        }
    }
    let (init, resp) = (child_events(ie), child_events(re));
    let mut responder_at = 0;
    prop_assert_eq!(init.len(), d.children.len(), "{:?}", init);
    for (n, c) in d.children.iter().enumerate() {
        // The responder logs nothing for a refusal some failures cause (INVALID_KE).
        let answered = match &c.outcome {
            Ok(_) => 1,
            Err(f) => usize::from(f.responder.is_some()),
        };
        let r = resp
            .get(responder_at..responder_at + answered)
            .unwrap_or(&[]);
        responder_at += answered;
        check_child(c, &init[n..=n], r)?;
    }
    prop_assert_eq!(responder_at, resp.len(), "{:?}", resp);
    // Both peers hold the same Child SAs.
    let mine = &endpoint(p, is).ike_sas()[0].children;
    let theirs = &endpoint(p, rs).ike_sas()[0].children;
    prop_assert_eq!(mine.len(), theirs.len());
    for c in mine {
        prop_assert!(theirs
            .iter()
            .any(|t| t.inbound_spi == c.outbound_spi && t.outbound_spi == c.inbound_spi));
    }
    Ok(())
}

fn endpoint(p: &Pair, side: Side) -> &ikev2::Endpoint {
    match side {
        Side::Left => &p.left,
        Side::Right => &p.right,
    }
}

/// Each predicted rekey, by the side that starts it: every Child SA of each of its tunnels is
/// rekeyed at once; each predicted success replaces an SA with one of the predicted suite, each
/// predicted failure logs the predicted reasons on both sides and leaves the old SA in place.
fn check_rekeys(p: &mut Pair, d: &Direction) -> Result<(), TestCaseError> {
    let mut by_side: Vec<PairSide> = Vec::new();
    for c in &d.children {
        if let Ok(sa) = &c.outcome {
            for r in &sa.rekeys {
                if !by_side.contains(&r.by) {
                    by_side.push(r.by);
                }
            }
        }
    }
    for by in by_side {
        let (s, o) = (harness(by), harness(by).other());
        let before = (p.events(s).len(), p.events(o).len());
        let held = endpoint(p, s).ike_sas()[0].children.len();
        let tunnels: Vec<String> = endpoint(p, s).ike_sas()[0]
            .children
            .iter()
            .map(|c| c.tunnel.clone())
            .fold(Vec::new(), |mut v, t| {
                if !v.contains(&t) {
                    v.push(t);
                }
                v
            });
        for t in &tunnels {
            let now = p.now;
            p.endpoint(s).rekey_child(now, t).unwrap();
        }
        p.drive();
        let mut want_ok = Vec::new();
        let mut want_fail = Vec::new();
        for c in &d.children {
            let Ok(sa) = &c.outcome else { continue };
            match sa.rekeys.iter().find(|r| r.by == by).map(|r| &r.outcome) {
                Some(Ok(suite)) => want_ok.push(*suite),
                Some(Err(f)) => want_fail.push(f),
                // Not predicted for this side (longer lifetime): it rekeys all the same.
                None => {}
            }
        }
        let new_up: Vec<_> = p.events(s)[before.0..]
            .iter()
            .filter_map(|e| match e {
                Event::ChildSaUp { suite, .. } => Some(*suite),
                _ => None,
            })
            .collect();
        let failed: Vec<&Reason> = p.events(s)[before.0..]
            .iter()
            .filter_map(|e| match e {
                Event::Phase2Failed { reason, .. } => Some(reason),
                _ => None,
            })
            .collect();
        for f in &want_fail {
            prop_assert!(
                failed.iter().any(|r| same_reason(&f.initiator, r)),
                "rekey by {by:?}: predicted {f:?}, got {failed:?}"
            );
            if let Some(pr) = &f.responder {
                prop_assert!(
                    p.events(o)[before.1..].iter().any(
                        |e| matches!(e, Event::Phase2Failed { reason, .. } if same_reason(pr, reason))
                    ),
                    "rekey by {by:?}: responder {:?}\npredicted {f:?}",
                    &p.events(o)[before.1..]
                );
            }
        }
        for suite in &want_ok {
            prop_assert!(
                new_up.contains(suite),
                "rekey by {by:?}: predicted {suite}, got {new_up:?} and {failed:?}"
            );
        }
        // `rekey_child` rekeys one Child SA per proxy ID (two SAs the responder narrowed onto
        // one of its proxy IDs are rekeyed once by it): one outcome at most per SA held.
        prop_assert!(new_up.len() + failed.len() <= held);
        // Still the same Child SAs on both sides.
        let mine = &endpoint(p, s).ike_sas()[0].children;
        let theirs = &endpoint(p, o).ike_sas()[0].children;
        prop_assert_eq!(mine.len(), theirs.len());
    }
    Ok(())
}

fn run(spec: &PairSpec, seed: u64) -> Result<(), TestCaseError> {
    let left_text = spec.left_toml();
    let right_text = spec.right_toml();
    let (left, right) = (load(&left_text), load(&right_text));
    let prediction: Prediction = predict(&left, &right, &default_provider());
    let el = EndpointConfig::from_config(&left).expect("left resolves");
    let er = EndpointConfig::from_config(&right).expect("right resolves");
    let mut p = Pair::new(el, er, seed);
    if spec.nat {
        p.left_nat = Some("203.0.113.9".parse().expect("address"));
    }
    let init = match spec.initiator() {
        Who::Left => PairSide::First,
        Who::Right => PairSide::Second,
    };
    prop_assert_eq!(prediction.gateways.len(), 1);
    let g = &prediction.gateways[0];
    let direction = g.directions.iter().find(|d| d.initiator == init);
    let s = harness(init);
    let tunnels: Vec<String> = endpoint(&p, s)
        .config()
        .tunnels
        .iter()
        .map(|t| t.name.clone())
        .collect();
    let mut refused = 0;
    for t in &tunnels {
        let now = p.now;
        if p.endpoint(s).connect(now, t).is_err() {
            refused += 1;
        }
    }
    p.drive();
    if direction.is_some_and(|d| d.ike.is_err()) {
        // An unauthenticated refusal of IKE_SA_INIT is reported once the initiator's
        // retransmissions end (RFC 7296 section 2.21.1); its last wait is longer than the
        // quiet minute `drive` stops at.
        p.drive_for(Duration::from_secs(200));
    }
    let Some(d) = direction else {
        // Predicted not to initiate: connect refuses and nothing happens.
        prop_assert_eq!(refused, tunnels.len());
        prop_assert!(p.left_events.is_empty() && p.right_events.is_empty());
        return Ok(());
    };
    prop_assert_eq!(refused, 0);
    check_direction(&p, d)?;
    // ESP is UDP-encapsulated on both sides exactly when a NAT is found by two peers doing NAT-T.
    let both_nat_t = spec.left.nat_t && spec.right.nat_t;
    for side in [Side::Left, Side::Right] {
        for sa in endpoint(&p, side).ike_sas() {
            for c in &sa.children {
                prop_assert_eq!(c.encapsulation.is_some(), spec.nat && both_nat_t, "{}", sa);
            }
        }
    }
    if d.ike.is_ok() && d.children.iter().any(|c| c.outcome.is_ok()) {
        check_rekeys(&mut p, d)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_protocol_does_what_the_checker_predicts(spec in pair(), seed in any::<u64>()) {
        let r = run(&spec, seed);
        if let Err(e) = &r {
            eprintln!(
                "--- left.toml (initiator: {:?}, NAT in front of left: {})\n{}\n--- right.toml\n{}\n--- {e}",
                spec.initiator(),
                spec.nat,
                spec.left_toml(),
                spec.right_toml()
            );
        }
        r?;
    }
}

/// The first Child SA when `side` initiates, as `(left's local, left's remote)` selectors.
fn first_child_selectors(
    spec: &PairSpec,
    side: Side,
) -> Option<(Vec<TrafficSelector>, Vec<TrafficSelector>)> {
    let (l, r) = (load(&spec.left_toml()), load(&spec.right_toml()));
    let mut p = Pair::new(
        EndpointConfig::from_config(&l).ok()?,
        EndpointConfig::from_config(&r).ok()?,
        7,
    );
    let t = p.endpoint(side).config().tunnels.first()?.name.clone();
    let now = p.now;
    p.endpoint(side).connect(now, &t).ok()?;
    p.drive();
    let sa = p.left.ike_sas().into_iter().next()?;
    let c = sa.children.first()?;
    Some((c.local_ts.clone(), c.remote_ts.clone()))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases() / 8,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// One proxy ID on each side, negotiated once from each end: when both come up, the left
    /// holds the same selectors either way (narrowing is an intersection, whoever proposes), and
    /// they lie inside both sides' proxy IDs (it never widens).
    #[test]
    fn narrowing_is_symmetric_and_never_widens(spec in pair()) {
        let mut spec = spec;
        spec.nat = false;
        spec.left.passive = false;
        spec.right.passive = false;
        spec.left.tunnels.truncate(1);
        spec.left.tunnels[0].truncate(1);
        spec.right.tunnels.truncate(1);
        spec.right.tunnels[0].truncate(1);
        let a = first_child_selectors(&spec, Side::Left);
        let b = first_child_selectors(&spec, Side::Right);
        if let (Some(a), Some(b)) = (&a, &b) {
            prop_assert_eq!(a, b);
        }
        let ours = EndpointConfig::from_config(&load(&spec.left_toml())).expect("left");
        let theirs = EndpointConfig::from_config(&load(&spec.right_toml())).expect("right");
        // The first proxy ID as (local, remote); the generator gives IPv4 pairs, where a tunnel
        // without proxy IDs negotiates 0.0.0.0/0 both ways.
        let any = TrafficSelector::any_v4();
        let policy = |c: &EndpointConfig| {
            c.tunnels[0]
                .proxy_ids
                .first()
                .map_or((any, any), |p| (p.local, p.remote))
        };
        let ((ll, lr), (rl, rr)) = (policy(&ours), policy(&theirs));
        for (local, remote) in a.iter().chain(b.iter()) {
            for t in local {
                prop_assert!(ll.contains(t) && rr.contains(t), "{t} outside {ll} or {rr}");
            }
            for t in remote {
                prop_assert!(lr.contains(t) && rl.contains(t), "{t} outside {lr} or {rl}");
            }
        }
    }
}

#[test]
fn sample_pair_is_predicted_up_both_ways() {
    let hq = load(include_str!("../../examples/configs/hq.toml"));
    let branch = load(include_str!("../../examples/configs/branch.toml"));
    let p = predict(&hq, &branch, &default_provider());
    assert!(p.all_up(), "{p}");
    assert_eq!(p.gateways[0].directions.len(), 2);
}

/// The generator reaches every kind of outcome the checker predicts, so that the property above
/// is exercised on each (counted over a fixed sample of pairs).
#[test]
fn generated_pairs_reach_every_outcome() {
    use ikev2::check::Cause;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::BTreeMap;

    let mut runner = TestRunner::deterministic();
    let strategy = pair();
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    for _ in 0..1000 {
        let spec = strategy.new_tree(&mut runner).expect("tree").current();
        let p = predict(
            &load(&spec.left_toml()),
            &load(&spec.right_toml()),
            &default_provider(),
        );
        let g = &p.gateways[0];
        let mut count = |k| *seen.entry(k).or_default() += 1;
        if g.directions.is_empty() {
            count("nobody initiates");
        }
        for d in &g.directions {
            let f = match &d.ike {
                Ok(ike) => {
                    count("IKE SA up");
                    if !ike.invalid_ke.is_empty() {
                        count("INVALID_KE_PAYLOAD in IKE_SA_INIT");
                    }
                    None
                }
                Err(f) => Some(f),
            };
            let children = d.children.iter().map(|c| (c, &c.outcome));
            let failures = f
                .into_iter()
                .chain(children.clone().filter_map(|(_, o)| o.as_ref().err()));
            for f in failures {
                count(match f.cause {
                    Cause::NoIkeProposal => "no IKE proposal",
                    Cause::PeerId {
                        checked_by: ikev2::Role::Responder,
                    } => "peer-id (responder)",
                    Cause::PeerId { .. } => "peer-id (initiator)",
                    Cause::PreSharedKey => "pre-shared key",
                    Cause::TrafficSelectors => "TS_UNACCEPTABLE",
                    Cause::NoEspProposal => "no ESP proposal",
                    Cause::PfsGroup => "PFS mismatch",
                    _ => "other failure",
                });
            }
            for (c, o) in children {
                let Ok(sa) = o else { continue };
                count("Child SA up");
                if (&sa.tsi, &sa.tsr) != (&c.tsi, &c.tsr) {
                    count("narrowed");
                }
                if sa.mode == ipsec_core::child_sa::Mode::Transport {
                    count("transport mode");
                }
                if sa.rekeys.iter().any(|r| r.outcome.is_err()) {
                    count("rekey fails");
                }
            }
        }
    }
    for k in [
        "nobody initiates",
        "IKE SA up",
        "INVALID_KE_PAYLOAD in IKE_SA_INIT",
        "no IKE proposal",
        "peer-id (responder)",
        "peer-id (initiator)",
        "pre-shared key",
        "TS_UNACCEPTABLE",
        "no ESP proposal",
        "PFS mismatch",
        "Child SA up",
        "narrowed",
        "transport mode",
        "rekey fails",
    ] {
        let n = seen.get(k).copied().unwrap_or(0);
        assert!(n >= 5, "only {n} pairs with `{k}` in the sample: {seen:?}");
    }
}
