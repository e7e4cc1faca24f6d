//! Security policy with PAN-OS semantics, and the NAT rulebase as far as the gateway honours it.
//!
//! Security rules are evaluated top down and the first match decides: it matches when the
//! packet's source zone is in `from` (or `from` is `any`), its destination zone in `to`, its
//! addresses in `source` and `destination`, and its protocol and port in `service`. When no rule
//! matches, the predefined defaults apply: `intrazone-default` allows traffic within one zone,
//! `interzone-default` denies traffic between zones. Every rule, the two defaults included,
//! counts its hits; a hit is a session, as on PAN-OS.
//!
//! The gateway has no App-ID: a rule that names applications cannot be matched as written. An
//! allow rule with applications never matches (it would allow more than its author meant), a
//! deny rule with applications matches whatever the application (it denies more); both are
//! reported in the configuration warnings. Services are `any`, `application-default` (with
//! application `any`, every port) and the predefined `service-http` and `service-https`; other
//! names are warned about and treated the same way. Actions `deny`, `drop` and the `reset-*`
//! ones all drop the packet; no TCP reset is sent (warned for `reset-*`).
//!
//! NAT: a no-NAT rule (no translation) is honoured by forwarding untranslated, which is all
//! the gateway ever does; a rule that translates is reported as a warning when the gateway is
//! built, and sessions that match it are counted ([`Counters::nat_untranslated`]).
//!
//! [`Counters::nat_untranslated`]: crate::Counters::nat_untranslated

use crate::packet::Flow;
use crate::Warning;
use ipsec_core::config::{AddressMatch, Config, NatRule, RuleAction, SecurityRule};
use serde::Serialize;

/// Which rule decided a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleRef {
    /// The security rule at this position.
    Rule(usize),
    /// `intrazone-default`: allow within a zone.
    IntrazoneDefault,
    /// `interzone-default`: deny between zones.
    InterzoneDefault,
}

/// The decision for a new session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) allow: bool,
    pub(crate) rule: RuleRef,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Zones {
    Any,
    Some(Vec<usize>),
}

impl Zones {
    fn of(names: &[String], zones: &[String]) -> Zones {
        if names.iter().any(|n| n == "any") {
            return Zones::Any;
        }
        Zones::Some(
            names
                .iter()
                .filter_map(|n| zones.iter().position(|z| z == n))
                .collect(),
        )
    }

    fn contains(&self, zone: usize) -> bool {
        match self {
            Zones::Any => true,
            Zones::Some(v) => v.contains(&zone),
        }
    }
}

/// A protocol and port range of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Port {
    protocol: u8,
    low: u16,
    high: u16,
}

/// The predefined services PAN-OS ships.
fn predefined(name: &str) -> Option<&'static [Port]> {
    const HTTP: [Port; 2] = [
        Port {
            protocol: 6,
            low: 80,
            high: 80,
        },
        Port {
            protocol: 6,
            low: 8080,
            high: 8080,
        },
    ];
    const HTTPS: [Port; 1] = [Port {
        protocol: 6,
        low: 443,
        high: 443,
    }];
    match name {
        "service-http" => Some(&HTTP),
        "service-https" => Some(&HTTPS),
        _ => None,
    }
}

#[derive(Clone, Debug)]
struct Rule {
    name: String,
    from: Zones,
    to: Zones,
    source: Vec<AddressMatch>,
    destination: Vec<AddressMatch>,
    /// `None` for any service.
    service: Option<Vec<Port>>,
    allow: bool,
    /// False for rules that can never match (disabled, or an allow rule the gateway cannot
    /// match as written).
    usable: bool,
    hits: u64,
}

impl Rule {
    fn matches(&self, from: usize, to: usize, f: &Flow) -> bool {
        self.usable
            && self.from.contains(from)
            && self.to.contains(to)
            && self.source.iter().any(|a| a.matches(f.src))
            && self.destination.iter().any(|a| a.matches(f.dst))
            && self.service.as_ref().is_none_or(|ports| {
                ports
                    .iter()
                    .any(|p| p.protocol == f.protocol && (p.low..=p.high).contains(&f.dst_port))
            })
    }
}

#[derive(Clone, Debug)]
struct Nat {
    name: String,
    from: Zones,
    to: Zones,
    to_interface: Option<String>,
    source: Vec<AddressMatch>,
    destination: Vec<AddressMatch>,
    translates: bool,
    disabled: bool,
    hits: u64,
}

/// One security rule with its hit count, for `show running security-policy`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleHits {
    /// The rule's name (`intrazone-default`, `interzone-default` for the defaults).
    pub name: String,
    /// `allow` or `deny`.
    pub action: &'static str,
    /// Sessions it decided.
    pub hits: u64,
}

/// Zones, security rules and NAT rules, compiled for lookups.
#[derive(Clone, Debug, Default)]
pub(crate) struct Policy {
    pub(crate) zones: Vec<String>,
    rules: Vec<Rule>,
    nat: Vec<Nat>,
    intrazone_hits: u64,
    interzone_hits: u64,
}

fn rule_of(r: &SecurityRule, zones: &[String], warnings: &mut Vec<Warning>) -> Rule {
    let object = format!("security-rule \"{}\"", r.name);
    let allow = r.action == RuleAction::Allow;
    let mut usable = !r.disabled;
    let mut unmatchable = |what: String, warnings: &mut Vec<Warning>| {
        if allow {
            usable = false;
            warnings.push(Warning::new(
                object.clone(),
                format!("{what}: the rule never matches"),
            ));
        } else {
            warnings.push(Warning::new(
                object.clone(),
                format!(
                    "{what}: the rule matches whatever the {}",
                    what.split(' ').next().unwrap_or("value")
                ),
            ));
        }
    };
    if r.application.iter().any(|a| a != "any") {
        unmatchable(
            format!(
                "application {} needs App-ID, which the gateway lacks",
                r.application.join(", ")
            ),
            warnings,
        );
    }
    let mut ports = Vec::new();
    let mut any_service = false;
    for s in &r.service {
        match s.as_str() {
            "any" | "application-default" => any_service = true,
            name => match predefined(name) {
                Some(p) => ports.extend_from_slice(p),
                None => unmatchable(
                    format!("service \"{name}\" is not a predefined service"),
                    warnings,
                ),
            },
        }
    }
    if matches!(
        r.action,
        RuleAction::ResetClient | RuleAction::ResetServer | RuleAction::ResetBoth
    ) {
        warnings.push(Warning::new(
            object.clone(),
            "action reset-* drops the packet; the gateway sends no TCP reset".to_owned(),
        ));
    }
    for z in r.from.iter().chain(&r.to) {
        if z != "any" && !zones.contains(z) {
            warnings.push(Warning::new(
                object.clone(),
                format!("zone \"{z}\" is not defined"),
            ));
        }
    }
    Rule {
        name: r.name.clone(),
        from: Zones::of(&r.from, zones),
        to: Zones::of(&r.to, zones),
        source: r.source.clone(),
        destination: r.destination.clone(),
        // With only unknown services, a deny rule matches every port (see above).
        service: (!any_service && !ports.is_empty()).then_some(ports),
        allow,
        usable,
        hits: 0,
    }
}

fn nat_of(r: &NatRule, zones: &[String], warnings: &mut Vec<Warning>) -> Nat {
    let translates = !r.is_no_nat();
    if translates && !r.disabled {
        warnings.push(Warning::new(
            format!("nat-rule \"{}\"", r.name),
            "address translation is not performed by the gateway: matching sessions leave \
             untranslated (only no-NAT rules are honoured)"
                .to_owned(),
        ));
    }
    Nat {
        name: r.name.clone(),
        from: Zones::of(&r.from, zones),
        to: Zones::of(&r.to, zones),
        to_interface: r.to_interface.clone(),
        source: r.source.clone(),
        destination: r.destination.clone(),
        translates,
        disabled: r.disabled,
        hits: 0,
    }
}

impl Policy {
    /// Compiles the zones, security rules and NAT rules of `config`.
    pub(crate) fn from_config(config: &Config, warnings: &mut Vec<Warning>) -> Policy {
        let zones: Vec<String> = config.zones.iter().map(|z| z.name.clone()).collect();
        let rules = config
            .security_rules
            .iter()
            .map(|r| rule_of(r, &zones, warnings))
            .collect();
        let nat = config
            .nat_rules
            .iter()
            .map(|r| nat_of(r, &zones, warnings))
            .collect();
        Policy {
            zones,
            rules,
            nat,
            intrazone_hits: 0,
            interzone_hits: 0,
        }
    }

    /// Decides a new session from zone `from` to zone `to`, and counts the hit.
    pub(crate) fn evaluate(&mut self, from: usize, to: usize, flow: &Flow) -> Verdict {
        if let Some((i, r)) = self
            .rules
            .iter_mut()
            .enumerate()
            .find(|(_, r)| r.matches(from, to, flow))
        {
            r.hits = r.hits.saturating_add(1);
            return Verdict {
                allow: r.allow,
                rule: RuleRef::Rule(i),
            };
        }
        if from == to {
            self.intrazone_hits = self.intrazone_hits.saturating_add(1);
            Verdict {
                allow: true,
                rule: RuleRef::IntrazoneDefault,
            }
        } else {
            self.interzone_hits = self.interzone_hits.saturating_add(1);
            Verdict {
                allow: false,
                rule: RuleRef::InterzoneDefault,
            }
        }
    }

    /// The first NAT rule matching a new session (counting its hit): `Some(true)` when it
    /// translates, which the gateway does not do.
    pub(crate) fn nat(
        &mut self,
        from: usize,
        to: usize,
        egress: &str,
        flow: &Flow,
    ) -> Option<bool> {
        let r = self.nat.iter_mut().find(|r| {
            !r.disabled
                && r.from.contains(from)
                && r.to.contains(to)
                && r.to_interface
                    .as_deref()
                    .is_none_or(|i| i == egress || i == "any")
                && r.source.iter().any(|a| a.matches(flow.src))
                && r.destination.iter().any(|a| a.matches(flow.dst))
        })?;
        r.hits = r.hits.saturating_add(1);
        Some(r.translates)
    }

    /// The name of a rule reference.
    pub(crate) fn rule_name(&self, r: RuleRef) -> &str {
        match r {
            RuleRef::Rule(i) => self.rules.get(i).map_or("?", |r| r.name.as_str()),
            RuleRef::IntrazoneDefault => "intrazone-default",
            RuleRef::InterzoneDefault => "interzone-default",
        }
    }

    /// Every security rule with its hits, then the two defaults.
    pub(crate) fn hits(&self) -> Vec<RuleHits> {
        let action = |allow| if allow { "allow" } else { "deny" };
        self.rules
            .iter()
            .map(|r| RuleHits {
                name: r.name.clone(),
                action: action(r.allow),
                hits: r.hits,
            })
            .chain([
                RuleHits {
                    name: "intrazone-default".into(),
                    action: "allow",
                    hits: self.intrazone_hits,
                },
                RuleHits {
                    name: "interzone-default".into(),
                    action: "deny",
                    hits: self.interzone_hits,
                },
            ])
            .collect()
    }

    /// Every NAT rule with its hits.
    pub(crate) fn nat_hits(&self) -> Vec<RuleHits> {
        self.nat
            .iter()
            .map(|r| RuleHits {
                name: r.name.clone(),
                action: if r.translates { "translate" } else { "no-nat" },
                hits: r.hits,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn flow(src: &str, dst: &str, protocol: u8, dport: u16) -> Flow {
        Flow {
            src: src.parse::<IpAddr>().unwrap(),
            dst: dst.parse().unwrap(),
            protocol,
            src_port: 40000,
            dst_port: dport,
            echo: None,
            len: 40,
        }
    }

    fn config(rules: &str) -> Config {
        let text = format!(
            "[[tunnel-interface]]\nname = \"tunnel.1\"\n\
             [[zone]]\nname = \"trust\"\ninterfaces = [\"ethernet1/2\"]\n\
             [[zone]]\nname = \"vpn\"\ninterfaces = [\"tunnel.1\"]\n{rules}"
        );
        Config::from_toml_str(&text).unwrap()
    }

    #[test]
    fn first_match_then_the_defaults_with_hit_counts() {
        let cfg = config(
            r#"
[[security-rule]]
name = "no-telnet"
from = ["trust"]
to = ["vpn"]
service = ["any"]
source = ["10.1.0.66/32"]
action = "deny"

[[security-rule]]
name = "lan-to-branch"
from = ["trust"]
to = ["vpn"]
source = ["10.1.0.0/24"]
destination = ["10.2.0.0/24"]
action = "allow"
"#,
        );
        let mut w = Vec::new();
        let mut p = Policy::from_config(&cfg, &mut w);
        assert!(w.is_empty(), "{w:?}");
        let (trust, vpn) = (0, 1);
        let v = p.evaluate(trust, vpn, &flow("10.1.0.5", "10.2.0.7", 17, 53));
        assert_eq!(
            v,
            Verdict {
                allow: true,
                rule: RuleRef::Rule(1)
            }
        );
        let v = p.evaluate(trust, vpn, &flow("10.1.0.66", "10.2.0.7", 17, 53));
        assert_eq!(
            v,
            Verdict {
                allow: false,
                rule: RuleRef::Rule(0)
            }
        );
        // Not matched by any rule: intrazone allowed, interzone denied.
        assert!(
            p.evaluate(vpn, vpn, &flow("10.2.0.7", "169.254.100.1", 1, 0))
                .allow
        );
        let v = p.evaluate(vpn, trust, &flow("10.2.0.7", "10.1.0.5", 6, 22));
        assert_eq!(
            v,
            Verdict {
                allow: false,
                rule: RuleRef::InterzoneDefault
            }
        );
        let hits: Vec<(String, u64)> = p.hits().into_iter().map(|h| (h.name, h.hits)).collect();
        assert_eq!(
            hits,
            vec![
                ("no-telnet".into(), 1),
                ("lan-to-branch".into(), 1),
                ("intrazone-default".into(), 1),
                ("interzone-default".into(), 1),
            ]
        );
        assert_eq!(p.rule_name(RuleRef::Rule(1)), "lan-to-branch");
    }

    #[test]
    fn services_applications_and_warnings() {
        let cfg = config(
            r#"
[[security-rule]]
name = "web-only"
from = ["trust"]
to = ["vpn"]
service = ["service-https"]
action = "allow"

[[security-rule]]
name = "ssh-app"
from = ["trust"]
to = ["vpn"]
application = ["ssh"]
action = "allow"

[[security-rule]]
name = "block-app"
from = ["any"]
to = ["any"]
application = ["bittorrent"]
action = "reset-both"

[[nat-rule]]
name = "no-nat"
from = ["trust"]
to = ["vpn"]
source-translation = "none"

[[nat-rule]]
name = "hide"
from = ["trust"]
to = ["vpn"]
source-translation = { dynamic-ip-and-port = { interface = "ethernet1/1" } }
"#,
        );
        let mut w = Vec::new();
        let mut p = Policy::from_config(&cfg, &mut w);
        let text: Vec<String> = w.iter().map(|w| w.to_string()).collect();
        assert!(
            text.iter().any(
                |t| t.starts_with("security-rule \"ssh-app\": application ssh")
                    && t.ends_with("never matches")
            ),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("security-rule \"block-app\"") && t.contains("reset")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.starts_with("nat-rule \"hide\"")),
            "{text:?}"
        );
        assert!(
            !text.iter().any(|t| t.starts_with("nat-rule \"no-nat\"")),
            "{text:?}"
        );
        // HTTPS passes web-only; SSH skips the unmatchable allow rule and is denied by the
        // application deny rule, which matches whatever the application.
        assert!(
            p.evaluate(0, 1, &flow("10.1.0.5", "10.2.0.7", 6, 443))
                .allow
        );
        let v = p.evaluate(0, 1, &flow("10.1.0.5", "10.2.0.7", 6, 22));
        assert_eq!(
            v,
            Verdict {
                allow: false,
                rule: RuleRef::Rule(2)
            }
        );
        assert_eq!(
            p.nat(0, 1, "tunnel.1", &flow("10.1.0.5", "10.2.0.7", 6, 22)),
            Some(false)
        );
        assert_eq!(
            p.nat(1, 0, "ethernet1/2", &flow("10.2.0.5", "10.1.0.7", 6, 22)),
            None
        );
        assert_eq!(p.nat_hits()[0].hits, 1);
    }
}
