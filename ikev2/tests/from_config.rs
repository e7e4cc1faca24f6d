//! The sample PAN-OS configurations (`examples/configs/hq.toml`, `branch.toml`) resolve into
//! endpoint configurations that negotiate with each other.

use core::time::Duration;
use ikev2::config::EndpointConfig;
use ikev2::testing::{Pair, Side};
use ikev2::Event;
use ipsec_core::config::Config;

fn load(name: &str) -> EndpointConfig {
    let path = format!("{}/../examples/configs/{name}", env!("CARGO_MANIFEST_DIR"));
    let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{path}: {e:?}"));
    EndpointConfig::from_config(&cfg).unwrap()
}

/// ```text
/// hq (initiator)                           branch (responder)
/// IKE_SA_INIT (group19, aes-256-gcm...) -->
///                                       <--  IKE_SA_INIT
/// IKE_AUTH (proxy ID lan-to-lan)        -->
///                                       <--  IKE_AUTH
/// ```
#[test]
fn hq_and_branch_samples_negotiate() {
    let hq = load("hq.toml");
    let branch = load("branch.toml");
    assert_eq!(hq.gateways.len(), 1);
    assert_eq!(hq.tunnels[0].proxy_ids.len(), 2);
    let tunnel = hq.tunnels[0].name.clone();
    let mut p = Pair::new(hq, branch, 31);
    p.left.connect(p.now, &tunnel).unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    let child = p
        .left_events
        .iter()
        .find_map(|e| match e {
            Event::ChildSaUp { child, .. } => Some(child.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(child.proxy_id.as_deref(), Some("lan-to-lan"));
    assert_eq!(child.replay_window, 1024);
    assert_eq!(child.lifetimes.hard_time, Some(Duration::from_secs(3600)));
    let show = p.left.ike_sas()[0].to_string();
    assert!(
        show.starts_with("gw-branch        192.0.2.1[500] -> 192.0.2.2[500] "),
        "{show}"
    );
    assert!(
        show.contains(" Init Established aes-gcm-256/sha256/group19 NAT not detected\n"),
        "{show}"
    );
    assert!(show.contains("  vpn-branch     SPI in "), "{show}");
    assert!(
        show.contains(" ESP local 10.1.0.0/24 remote 10.2.0.0/24\n"),
        "{show}"
    );
    for e in &p.left_events {
        println!("hq: {e}");
    }
    for e in &p.right_events {
        println!("branch: {e}");
    }
}

#[test]
fn unsupported_objects_are_named() {
    let mut cfg = Config::load(format!(
        "{}/../examples/configs/hq.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    cfg.ike_gateways[0].peer_address =
        ipsec_core::config::PeerAddress::Fqdn("branch.example.net".into());
    let err = EndpointConfig::from_config(&cfg).unwrap_err().to_string();
    assert!(err.contains("ike-gateway \"gw-branch\""), "{err}");
}
