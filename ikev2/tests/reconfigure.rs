//! A new configuration for a running endpoint ([`Endpoint::reconfigure`]), in the [`Pair`]
//! harness: what did not change keeps its SAs and its traffic, a changed proposal gives new
//! Child SAs, a removed tunnel's Child SAs are deleted with the peer told, an added tunnel
//! comes up, a changed gateway's IKE SA is deleted, and a configuration that does not validate
//! changes nothing.
//!
//! ```text
//! left (reconfigured)                               right
//!   reconfigure(same)        -- nothing --           SAs and probes untouched
//!   reconfigure(ESP changed) -- INFORMATIONAL{D} --> old Child SA deleted
//!                            -- CREATE_CHILD_SA -->  new Child SA, new SPIs
//!   reconfigure(gw changed)  -- INFORMATIONAL{D(IKE)} --> IKE SA gone
//! ```
//!
//! [`Endpoint::reconfigure`]: ikev2::Endpoint::reconfigure

use core::time::Duration;
use ikev2::config::{EndpointConfig, ProxyId};
use ikev2::testing::{Pair, Side, SiteSpec};
use ikev2::{Event, Reason};
use ipsec_core::crypto::{EncrId, Encryption, SecretBytes};
use ipsec_core::selector::{IpPrefix, TrafficSelector};

fn sel(p: &str) -> TrafficSelector {
    let p: IpPrefix = p.parse().unwrap();
    TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: p.network(),
        end_addr: p.last(),
    }
}

/// `site`'s configuration with a second tunnel `tun2` (proxy ID `local` <-> `remote`) over the
/// same gateway.
fn with_tun2(site: &SiteSpec, local: &str, remote: &str) -> EndpointConfig {
    let mut c = site.config();
    let mut t = c.tunnels[0].clone();
    t.name = "tun2".into();
    t.proxy_ids = vec![ProxyId {
        name: "pid2".into(),
        local: sel(local),
        remote: sel(remote),
    }];
    c.tunnels.push(t);
    c
}

fn left2() -> EndpointConfig {
    with_tun2(&SiteSpec::left(), "10.11.0.0/24", "10.12.0.0/24")
}

fn right2() -> EndpointConfig {
    with_tun2(&SiteSpec::right(), "10.12.0.0/24", "10.11.0.0/24")
}

/// The inbound SPIs of `side`'s installed Child SAs of `tunnel`.
fn spis(p: &Pair, side: Side, tunnel: &str) -> Vec<u32> {
    let mut v: Vec<u32> = p
        .installed(side)
        .iter()
        .filter(|c| c.tunnel == tunnel)
        .map(|c| c.inbound.spi)
        .collect();
    v.sort_unstable();
    v
}

/// The SPIs of `side`'s IKE SAs.
fn ike_spis(p: &mut Pair, side: Side) -> Vec<(u64, u64)> {
    p.endpoint(side)
        .ike_sas()
        .iter()
        .map(|s| (s.spi_i, s.spi_r))
        .collect()
}

/// A pair with both tunnels up, left initiating.
fn up_with_two() -> Pair {
    let mut p = Pair::new(left2(), right2(), 11);
    let now = p.now;
    p.left.connect(now, "tun").unwrap();
    p.left.connect(now, "tun2").unwrap();
    assert!(p.drive_until(Duration::from_secs(10), |p| {
        spis(p, Side::Left, "tun").len() == 1
            && spis(p, Side::Left, "tun2").len() == 1
            && spis(p, Side::Right, "tun2").len() == 1
    }));
    p
}

fn both_up(p: &Pair) -> bool {
    p.tunnel_up(Side::Left) && p.tunnel_up(Side::Right) && !p.installed(Side::Left).is_empty()
}

fn down_events(p: &Pair, side: Side, from: usize) -> Vec<(String, u32, Reason)> {
    p.events(side)[from..]
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaDown {
                tunnel,
                inbound_spi,
                reason,
                ..
            } => Some((tunnel.clone(), *inbound_spi, reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn unchanged_configuration_keeps_every_sa_and_loses_no_probe() {
    let mut p = up_with_two();
    p.start_probes(Duration::from_millis(100));
    p.drive_for(Duration::from_secs(2));
    let before = (spis(&p, Side::Left, "tun"), spis(&p, Side::Left, "tun2"));
    let ike = ike_spis(&mut p, Side::Left);
    let (sent, events) = (p.sent.len(), p.events(Side::Left).len());
    let now = p.now;
    let r = p.left.reconfigure(now, left2()).unwrap();
    assert_eq!(r.gateways.kept, vec!["gw".to_owned()]);
    assert_eq!(r.tunnels.kept, vec!["tun".to_owned(), "tun2".to_owned()]);
    assert!(
        r.gateways.is_unchanged() && r.tunnels.is_unchanged(),
        "{r:?}"
    );
    p.drive_for(Duration::from_secs(5));
    assert_eq!(
        (spis(&p, Side::Left, "tun"), spis(&p, Side::Left, "tun2")),
        before
    );
    assert_eq!(ike_spis(&mut p, Side::Left), ike);
    assert!(down_events(&p, Side::Left, events).is_empty());
    assert!(down_events(&p, Side::Right, 0).is_empty());
    // Liveness checks only: no Delete, no CREATE_CHILD_SA went out because of the reload.
    let after: Vec<_> = p.sent[sent..]
        .iter()
        .filter(|s| s.0 == Side::Left)
        .collect();
    assert!(after.len() <= 2, "{} datagrams from left", after.len());
    let probes = p.probes(Side::Left);
    assert!(probes.delivered >= 60, "{probes:?}");
    assert_eq!(probes.lost(), 0, "{probes:?}");
    assert_eq!(p.probes(Side::Right).lost(), 0);
}

#[test]
fn changed_proposal_gives_the_tunnel_new_child_sas_and_leaves_the_other_alone() {
    let mut p = up_with_two();
    let old = spis(&p, Side::Left, "tun");
    let other = spis(&p, Side::Left, "tun2");
    let ike = ike_spis(&mut p, Side::Left);
    let right_events = p.events(Side::Right).len();
    let mut cfg = left2();
    // AES-256-GCM first: the right side only takes AES-128-GCM, so it still agrees.
    let mut first = cfg.tunnels[0].esp_proposals[0].clone();
    first.encryption = vec![Encryption {
        id: EncrId::ENCR_AES_GCM_16,
        key_bits: 256,
    }];
    cfg.tunnels[0].esp_proposals.insert(0, first);
    let now = p.now;
    let r = p.left.reconfigure(now, cfg).unwrap();
    assert_eq!(r.tunnels.changed, vec!["tun".to_owned()]);
    assert_eq!(r.tunnels.kept, vec!["tun2".to_owned()]);
    assert_eq!(r.gateways.kept, vec!["gw".to_owned()]);
    assert!(p.drive_until(Duration::from_secs(10), |p| {
        let new = spis(p, Side::Left, "tun");
        new.len() == 1 && new != old && spis(p, Side::Right, "tun").len() == 1
    }));
    p.drive_for(Duration::from_secs(2));
    let new = spis(&p, Side::Left, "tun");
    assert_eq!(new.len(), 1);
    assert!(!old.contains(&new[0]));
    let gone = down_events(&p, Side::Right, right_events);
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert_eq!(
        (gone[0].0.as_str(), &gone[0].2),
        ("tun", &Reason::DeletedByPeer)
    );
    assert_eq!(spis(&p, Side::Left, "tun2"), other);
    assert_eq!(ike_spis(&mut p, Side::Left), ike);
    // The new Child SA pairs up with the right side's.
    let l = p.installed(Side::Left);
    let r = p.installed(Side::Right);
    let lc = l.iter().find(|c| c.tunnel == "tun").unwrap();
    let rc = r.iter().find(|c| c.tunnel == "tun").unwrap();
    assert_eq!(lc.outbound.spi, rc.inbound.spi);
    assert_eq!(lc.inbound.spi, rc.outbound.spi);
}

#[test]
fn removed_tunnel_is_deleted_and_the_peer_sees_the_delete() {
    let mut p = up_with_two();
    let kept = spis(&p, Side::Left, "tun");
    let removed = spis(&p, Side::Left, "tun2");
    let right_removed = spis(&p, Side::Right, "tun2");
    let right_events = p.events(Side::Right).len();
    let now = p.now;
    let r = p.left.reconfigure(now, SiteSpec::left().config()).unwrap();
    assert_eq!(r.tunnels.removed, vec!["tun2".to_owned()]);
    assert_eq!(r.tunnels.kept, vec!["tun".to_owned()]);
    assert!(p.drive_until(Duration::from_secs(10), |p| {
        spis(p, Side::Right, "tun2").is_empty() && spis(p, Side::Left, "tun2").is_empty()
    }));
    let gone = down_events(&p, Side::Right, right_events);
    assert_eq!(
        gone,
        vec![("tun2".to_owned(), right_removed[0], Reason::DeletedByPeer)]
    );
    assert!(down_events(&p, Side::Left, 0)
        .iter()
        .any(|(t, spi, why)| t == "tun2" && *spi == removed[0] && *why == Reason::DeletedLocally));
    assert_eq!(spis(&p, Side::Left, "tun"), kept);
    // Nothing brings it back.
    p.drive_for(Duration::from_secs(30));
    assert!(spis(&p, Side::Left, "tun2").is_empty());
    assert!(p.left.connect(p.now, "tun2").is_err());
}

#[test]
fn added_tunnel_comes_up_beside_the_kept_one() {
    let mut p = Pair::new(SiteSpec::left().config(), right2(), 12);
    let now = p.now;
    p.left.connect(now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(10), both_up));
    let kept = spis(&p, Side::Left, "tun");
    let ike = ike_spis(&mut p, Side::Left);
    let now = p.now;
    let r = p.left.reconfigure(now, left2()).unwrap();
    assert_eq!(r.tunnels.added, vec!["tun2".to_owned()]);
    assert_eq!(r.tunnels.kept, vec!["tun".to_owned()]);
    p.left.connect(now, "tun2").unwrap();
    assert!(p.drive_until(Duration::from_secs(10), |p| {
        spis(p, Side::Left, "tun2").len() == 1 && spis(p, Side::Right, "tun2").len() == 1
    }));
    assert_eq!(spis(&p, Side::Left, "tun"), kept);
    assert_eq!(
        ike_spis(&mut p, Side::Left),
        ike,
        "the same IKE SA carries it"
    );
}

#[test]
fn changed_gateway_deletes_its_ike_sa_and_a_new_one_comes_up() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 13);
    let now = p.now;
    p.left.connect(now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(10), both_up));
    let ike = ike_spis(&mut p, Side::Left);
    let old = spis(&p, Side::Left, "tun");
    let mut cfg = SiteSpec::left().config();
    cfg.gateways[0].liveness = None;
    let now = p.now;
    let r = p.left.reconfigure(now, cfg).unwrap();
    assert_eq!(r.gateways.changed, vec!["gw".to_owned()]);
    assert_eq!(r.tunnels.changed, vec!["tun".to_owned()]);
    // Reported down at once, the peer told.
    assert!(p.left.ike_sas().is_empty());
    p.drive_for(Duration::from_millis(100));
    assert!(p.events(Side::Left).iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: Reason::DeletedLocally,
            ..
        }
    )));
    assert!(p.events(Side::Right).iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: Reason::DeletedByPeer,
            ..
        }
    )));
    assert!(spis(&p, Side::Right, "tun").is_empty());
    let now = p.now;
    p.left.connect(now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(10), both_up));
    assert_ne!(ike_spis(&mut p, Side::Left), ike);
    assert_ne!(spis(&p, Side::Left, "tun"), old);
}

#[test]
fn changed_key_counts_as_a_changed_gateway() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 14);
    let now = p.now;
    let mut cfg = SiteSpec::left().config();
    cfg.gateways[0].auth = ikev2::config::Authentication::PreSharedKey(SecretBytes::from_slice(
        b"another key, same length....",
    ));
    let r = p.left.reconfigure(now, cfg).unwrap();
    assert_eq!(r.gateways.changed, vec!["gw".to_owned()]);
    let r = p.left.reconfigure(now, SiteSpec::left().config()).unwrap();
    assert_eq!(r.gateways.changed, vec!["gw".to_owned()], "and back");
    let r = p.left.reconfigure(now, SiteSpec::left().config()).unwrap();
    assert!(r.gateways.is_unchanged() && r.tunnels.is_unchanged());
}

#[test]
fn invalid_configuration_is_refused_and_changes_nothing() {
    let mut p = up_with_two();
    p.start_probes(Duration::from_millis(100));
    p.drive_for(Duration::from_secs(1));
    let before = (spis(&p, Side::Left, "tun"), spis(&p, Side::Left, "tun2"));
    let ike = ike_spis(&mut p, Side::Left);
    let mut cfg = left2();
    cfg.tunnels[1].gateway = "nowhere".into();
    let (sent, events) = (p.sent.len(), p.events(Side::Left).len());
    let now = p.now;
    let e = p.left.reconfigure(now, cfg).unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");
    assert_eq!(p.left.config().tunnels[1].gateway, "gw");
    p.drive_for(Duration::from_secs(3));
    assert_eq!(
        (spis(&p, Side::Left, "tun"), spis(&p, Side::Left, "tun2")),
        before
    );
    assert_eq!(ike_spis(&mut p, Side::Left), ike);
    assert!(down_events(&p, Side::Left, events).is_empty());
    assert!(p.sent[sent..].iter().filter(|s| s.0 == Side::Left).count() <= 1);
    assert_eq!(p.probes(Side::Left).lost(), 0);
}

#[test]
fn a_negotiation_with_the_old_settings_is_abandoned_and_started_again() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 15);
    let now = p.now;
    p.left.connect(now, "tun").unwrap();
    // IKE_SA_INIT is on the wire; the tunnel's proposals change under it.
    let mut cfg = SiteSpec::left().config();
    let mut first = cfg.tunnels[0].esp_proposals[0].clone();
    first.encryption = vec![Encryption {
        id: EncrId::ENCR_AES_GCM_16,
        key_bits: 256,
    }];
    cfg.tunnels[0].esp_proposals.insert(0, first);
    let r = p.left.reconfigure(now, cfg).unwrap();
    assert_eq!(r.tunnels.changed, vec!["tun".to_owned()]);
    assert_eq!(r.gateways.kept, vec!["gw".to_owned()]);
    assert!(p.left.ike_sas().is_empty(), "the attempt was abandoned");
    // The endpoint starts it again by itself, with the new settings.
    assert!(p.drive_until(Duration::from_secs(10), both_up));
    assert_eq!(p.left.ike_sas().len(), 1);
    assert!(p
        .events(Side::Left)
        .iter()
        .all(|e| !matches!(e, Event::Phase1Failed { .. } | Event::Phase2Failed { .. })));
}
