//! `ipsec-gateway check --json`: the negotiation checker's [`Prediction`] as JSON.
//!
//! The shape follows the text form: gateway pairs, each with notes and one direction per side
//! that initiates; a direction has `phase1` and `children`; every outcome has `ok` and either
//! what comes up or a `failure` with the phase, exchange, notify, cause, both sides' lists and
//! the line each side logs. Sides are `"first"` and `"second"`, in command-line order.

use ikev2::check::{
    ChildPrediction, Direction, Failure, GatewayPrediction, PairSide, Phase, Prediction,
};
use ipsec_core::child_sa::Mode;
use ipsec_core::selector::TrafficSelector;
use serde_json::{json, Value};

fn side(s: PairSide) -> &'static str {
    match s {
        PairSide::First => "first",
        PairSide::Second => "second",
    }
}

fn selectors(v: &[TrafficSelector]) -> Value {
    v.iter().map(|t| Value::from(t.short())).collect()
}

/// The prediction as JSON; `first` and `second` name the configurations (file names).
pub fn to_json(p: &Prediction, first: &str, second: &str) -> Value {
    json!({
        "first": first,
        "second": second,
        "all_up": p.all_up(),
        "findings": p.findings.iter().map(|f| json!({
            "side": side(f.side),
            "message": f.error.to_string(),
        })).collect::<Vec<_>>(),
        "unusable": p.unusable.iter().map(|(s, why)| json!({
            "side": side(*s),
            "message": why,
        })).collect::<Vec<_>>(),
        "gateways": p.gateways.iter().map(|g| gateway(g, first, second)).collect::<Vec<_>>(),
    })
}

fn gateway(g: &GatewayPrediction, first: &str, second: &str) -> Value {
    json!({
        "first": g.first,
        "second": g.second,
        "notes": g.notes.iter().map(|n| n.describe(first, second)).collect::<Vec<_>>(),
        "directions": g.directions.iter().map(direction).collect::<Vec<_>>(),
    })
}

fn direction(d: &Direction) -> Value {
    let phase1 = match &d.ike {
        Ok(ike) => json!({
            "ok": true,
            "proposal": ike.suite.to_string(),
            "invalid_ke": ike.invalid_ke.iter().map(|g| g.0).collect::<Vec<_>>(),
            "initiator_proposals": ike.initiator_proposals,
            "responder_proposals": ike.responder_proposals,
        }),
        Err(f) => json!({ "ok": false, "failure": failure(f) }),
    };
    json!({
        "initiator": side(d.initiator),
        "initiator_gateway": d.initiator_gateway,
        "responder_gateway": d.responder_gateway,
        "phase1": phase1,
        "children": d.children.iter().map(child).collect::<Vec<_>>(),
    })
}

fn child(c: &ChildPrediction) -> Value {
    let mut v = json!({
        "tunnel": c.tunnel,
        "proxy_id": c.proxy_id,
        "exchange": c.exchange.to_string(),
        "proposed": { "local": selectors(&c.tsi), "remote": selectors(&c.tsr) },
    });
    let extra = match &c.outcome {
        Ok(sa) => json!({
            "ok": true,
            "responder_tunnel": sa.responder_tunnel,
            "responder_proxy_id": sa.responder_proxy_id,
            "proposal": sa.suite.to_string(),
            "mode": if sa.mode == Mode::Transport { "transport" } else { "tunnel" },
            "local": selectors(&sa.tsi),
            "remote": selectors(&sa.tsr),
            "invalid_ke": sa.invalid_ke.map(|g| g.0),
            "lifetime_seconds": {
                "initiator": sa.lifetimes.0.as_secs(),
                "responder": sa.lifetimes.1.as_secs(),
            },
            "rekeys": sa.rekeys.iter().map(|r| match &r.outcome {
                Ok(s) => json!({ "by": side(r.by), "ok": true, "proposal": s.to_string() }),
                Err(f) => json!({ "by": side(r.by), "ok": false, "failure": failure(f) }),
            }).collect::<Vec<_>>(),
        }),
        Err(f) => json!({ "ok": false, "failure": failure(f) }),
    };
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v
}

fn failure(f: &Failure) -> Value {
    json!({
        "phase": match f.phase { Phase::One => 1, Phase::Two => 2 },
        "exchange": f.exchange.to_string(),
        "notify": f.notify.map(|n| n.to_string()),
        "cause": f.cause.to_string(),
        "initiator_list": f.initiator_list,
        "responder_list": f.responder_list,
        "initiator_log": f.initiator_log(),
        "responder_log": f.responder_log(),
    })
}
