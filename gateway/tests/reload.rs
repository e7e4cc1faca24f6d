//! `Gateway::reconfigure` on the simulated network, as a PAN-OS commit: an unchanged tunnel
//! keeps its SPIs and its traffic across it, a changed tunnel gets new Child SAs, a removed one
//! is deleted with the peer told, an added one comes up, routes and rules apply at once, and a
//! configuration that cannot run is refused with everything left as it was.
//!
//! ```text
//!   10.1.0.0/24 --[hq 192.0.2.1]== tunnel.1 ==[branch 192.0.2.2]-- 10.2.0.0/16
//!                  proxy IDs: lan 10.1.0.0/24 <-> 10.2.0.0/24 (+ servers <-> 10.2.9.0/24)
//!   hq is reconfigured while a host pings across every 100 ms.
//! ```

mod common;

use common::sites::{self, branch_site, hq_site, LAN, SERVERS};
use common::{ping, Net, Node, Site, ALLOW_BOTH_WAYS};
use core::time::Duration;
use gateway::{Action, Config, DropReason, Event};

fn hq_config(proxy_ids: &[(&str, &str, &str)]) -> Config {
    hq_site(proxy_ids, ALLOW_BOTH_WAYS).config(&["tunnel.1"])
}

/// hq (with `proxy_ids`) and branch, the tunnel up as far as hq proposes it.
fn up(proxy_ids: &[(&str, &str, &str)]) -> Net {
    sites::up(
        &hq_site(proxy_ids, ALLOW_BOTH_WAYS),
        &branch_site(),
        proxy_ids.len(),
    )
}

/// `node`'s inbound SPIs, sorted.
fn spis(net: &mut Net, node: &str) -> Vec<u32> {
    let now = net.now;
    net.node(node).spis_in(now)
}

/// Pings from hq's LAN to `dst` every 100 ms for `secs`, the branch host answering each
/// request; returns (requests sent, replies received at hq).
fn ping_for(net: &mut Net, dst: [u8; 4], secs: u64, seq0: u16) -> (u16, usize) {
    let before = net.node("hq").lan.len();
    let mut sent = 0;
    for i in 0..(secs * 10) as u16 {
        let request = ping([10, 1, 0, 5], dst, 0x77, seq0 + i);
        if matches!(net.send_from_lan("hq", &request), Action::Send(_)) {
            sent += 1;
        }
        net.run_for(Duration::from_millis(50));
        let requests: Vec<Vec<u8>> = net.node("branch").lan.drain(..).map(|r| r.bytes).collect();
        for r in requests {
            if let Some(reply) = common::echo_reply(&r) {
                let _ = net.send_from_lan("branch", &reply);
            }
        }
        net.run_for(Duration::from_millis(50));
    }
    (sent, net.node("hq").lan.len() - before)
}

#[test]
fn unchanged_configuration_keeps_the_spis_and_every_ping() {
    let mut net = up(&[LAN]);
    let (hq_before, branch_before) = (spis(&mut net, "hq"), spis(&mut net, "branch"));
    assert_eq!(ping_for(&mut net, [10, 2, 0, 7], 1, 0), (10, 10));
    let events = net.node("hq").events.len();
    let now = net.now;
    let r = net
        .node("hq")
        .gw
        .reconfigure(now, hq_config(&[LAN]))
        .unwrap();
    assert!(r.is_unchanged(), "{r:?}");
    assert_eq!(r.tunnels.kept, vec!["vpn-branch".to_owned()]);
    assert_eq!(r.tunnel_interfaces.kept, vec!["tunnel.1".to_owned()]);
    assert!(r.initiated.is_empty());
    assert_eq!(ping_for(&mut net, [10, 2, 0, 7], 3, 100), (30, 30));
    assert_eq!(spis(&mut net, "hq"), hq_before);
    assert_eq!(spis(&mut net, "branch"), branch_before);
    let after: Vec<String> = net.node("hq").events[events..]
        .iter()
        .map(|(_, e)| e.to_string())
        .collect();
    assert!(after.is_empty(), "{after:?}");
    assert_eq!(net.node("hq").gw.counters().dropped_total(), 0);
}

#[test]
fn a_changed_tunnel_gets_new_child_sas_and_carries_traffic_again() {
    let mut net = up(&[LAN]);
    let old = spis(&mut net, "hq");
    let branch_old = spis(&mut net, "branch");
    let branch_events = net.node("branch").events.len();
    let now = net.now;
    let r = net
        .node("hq")
        .gw
        .reconfigure(now, hq_config(&[LAN, SERVERS]))
        .unwrap();
    assert_eq!(r.tunnels.changed, vec!["vpn-branch".to_owned()]);
    assert_eq!(r.gateways.kept, vec!["gw-vpn-branch".to_owned()]);
    assert_eq!(r.initiated, vec!["vpn-branch".to_owned()]);
    assert!(r.tunnel_interfaces.is_unchanged());
    let up = net.run_until(Duration::from_secs(10), |n| {
        let now = n.now;
        let sas = n.nodes[0].gw.show_ipsec_sa(now).sas;
        sas.len() == 2 && sas.iter().all(|s| !old.contains(&s.spi_in))
    });
    assert!(up, "{:?}", net.nodes[0].log());
    // The branch was told the old one is gone.
    let told = net.node("branch").events[branch_events..]
        .iter()
        .any(|(_, e)| {
            matches!(
                e,
                Event::Ike(ikev2::Event::ChildSaDown {
                    inbound_spi,
                    reason: ikev2::Reason::DeletedByPeer,
                    ..
                }) if branch_old.contains(inbound_spi)
            )
        });
    assert!(told, "{:?}", net.nodes[1].log());
    assert_eq!(ping_for(&mut net, [10, 2, 9, 9], 1, 0), (10, 10));
    assert_eq!(ping_for(&mut net, [10, 2, 0, 7], 1, 20), (10, 10));
}

#[test]
fn a_removed_tunnel_is_deleted_with_its_routes_and_interface() {
    let mut net = up(&[LAN]);
    let now = net.now;
    let bare = Site::new("192.0.2.1", "10.1.0.0/24", "10.1.0.1/24").config(&[]);
    let r = net.node("hq").gw.reconfigure(now, bare).unwrap();
    assert_eq!(r.gateways.removed, vec!["gw-vpn-branch".to_owned()]);
    assert_eq!(r.tunnels.removed, vec!["vpn-branch".to_owned()]);
    assert_eq!(r.tunnel_interfaces.removed, vec!["tunnel.1".to_owned()]);
    assert_eq!(r.routes_removed, vec!["to-branch".to_owned()]);
    assert!(r.policy_changed);
    net.run_for(Duration::from_millis(100));
    assert!(spis(&mut net, "hq").is_empty());
    assert!(net.node("branch").events.iter().any(|(_, e)| matches!(
        e,
        Event::Ike(ikev2::Event::IkeSaDown {
            reason: ikev2::Reason::DeletedByPeer,
            ..
        })
    )));
    assert!(spis(&mut net, "branch").is_empty());
    assert!(net.node("hq").gw.show_routes().iter().all(|r| r.connected));
    let p = ping([10, 1, 0, 5], [10, 2, 0, 7], 1, 1);
    assert_eq!(
        net.send_from_lan("hq", &p),
        Action::Drop(DropReason::NoRoute)
    );
}

#[test]
fn an_added_tunnel_comes_up_with_its_route() {
    let hq_bare = Site::new("192.0.2.1", "10.1.0.0/24", "10.1.0.1/24").with(ALLOW_BOTH_WAYS);
    let hq = Node::new("hq", &hq_bare, &[], 1);
    // The branch only answers: nothing initiates until hq has the tunnel.
    let branch = Node::new("branch", &branch_site(), &["tunnel.1"], 2);
    let mut net = Net::new(vec![hq, branch]);
    let p = ping([10, 1, 0, 5], [10, 2, 0, 7], 1, 1);
    assert_eq!(
        net.send_from_lan("hq", &p),
        Action::Drop(DropReason::NoRoute)
    );
    let now = net.now;
    let r = net
        .node("hq")
        .gw
        .reconfigure(now, hq_config(&[LAN]))
        .unwrap();
    assert_eq!(r.gateways.added, vec!["gw-vpn-branch".to_owned()]);
    assert_eq!(r.tunnels.added, vec!["vpn-branch".to_owned()]);
    assert_eq!(r.tunnel_interfaces.added, vec!["tunnel.1".to_owned()]);
    assert_eq!(r.routes_added, vec!["to-branch".to_owned()]);
    assert_eq!(r.initiated, vec!["vpn-branch".to_owned()]);
    let up = net.run_until(Duration::from_secs(10), |n| {
        n.nodes.iter().all(|node| node.child_sas_up() == 1)
    });
    assert!(up, "{:?}\n{:?}", net.nodes[0].log(), net.nodes[1].log());
    assert_eq!(ping_for(&mut net, [10, 2, 0, 7], 1, 0), (10, 10));
}

#[test]
fn a_configuration_that_cannot_run_is_refused_and_nothing_changes() {
    let mut net = up(&[LAN]);
    let before = spis(&mut net, "hq");
    let mut bad = hq_config(&[LAN, SERVERS]);
    bad.ipsec_tunnels[0].ike_gateway = Some("nowhere".into());
    let events = net.node("hq").events.len();
    let now = net.now;
    let e = net.node("hq").gw.reconfigure(now, bad).unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");
    assert_eq!(net.node("hq").gw.config(), &hq_config(&[LAN]));
    assert_eq!(ping_for(&mut net, [10, 2, 0, 7], 2, 0), (20, 20));
    assert_eq!(spis(&mut net, "hq"), before);
    assert_eq!(net.node("hq").events.len(), events);
}

#[test]
fn rules_apply_at_once_and_the_session_table_follows_them() {
    let mut net = up(&[LAN]);
    assert_eq!(ping_for(&mut net, [10, 2, 0, 7], 1, 0), (10, 10));
    let deny = r#"
[[security-rule]]
name = "deny-host"
from = ["trust"]
to = ["vpn"]
source = ["10.1.0.5/32"]
action = "deny"
"#;
    let c = hq_site(&[LAN], deny)
        .with(ALLOW_BOTH_WAYS)
        .config(&["tunnel.1"]);
    let before = spis(&mut net, "hq");
    let now = net.now;
    let r = net.node("hq").gw.reconfigure(now, c).unwrap();
    assert!(r.policy_changed && r.tunnels.is_unchanged(), "{r:?}");
    let p = ping([10, 1, 0, 5], [10, 2, 0, 7], 0x77, 500);
    assert_eq!(
        net.send_from_lan("hq", &p),
        Action::Drop(DropReason::PolicyDeny)
    );
    assert_eq!(spis(&mut net, "hq"), before);
}
