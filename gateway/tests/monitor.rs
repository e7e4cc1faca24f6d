//! The tunnel monitor: fail-over to a backup tunnel when the primary stops answering, and back
//! when it recovers; wait-recover renegotiates and keeps the routes.
//!
//! ```text
//!                      tunnel.1 (primary, metric 10, monitor -> 169.254.100.2, fail-over)
//!   10.1.0.0/24 --[hq]====================================================[a]-- 10.2.0.0/24
//!                  \\    tunnel.2 (backup, metric 50)                       [b]-- 10.2.0.0/24
//!                   \\=====================================================/
//! ```

mod common;

use common::{dst_of, udp, Net, Node, Site, ALLOW_BOTH_WAYS};
use core::time::Duration;
use gateway::monitor::MonitorState;
use gateway::{Action, Event};
use std::net::IpAddr;

const HQ: &str = "192.0.2.1";
const A: &str = "192.0.2.2";
const B: &str = "192.0.2.3";

fn hq_site(action: &str) -> Site {
    let monitor = format!(
        "{{ destination-ip = \"169.254.100.2\", interval = 2, threshold = 3, action = \"{action}\" }}"
    );
    Site::new(HQ, "10.1.0.0/24", "10.1.0.1/24")
        .tunnel(
            "to-a",
            A,
            "tunnel.1",
            "169.254.100.1/30",
            "",
            &[],
            Some(&monitor),
        )
        .tunnel("to-b", B, "tunnel.2", "169.254.101.1/30", "", &[], None)
        .with(
            r#"
[[static-route]]
name = "primary"
destination = "10.2.0.0/24"
interface = "tunnel.1"
metric = 10

[[static-route]]
name = "backup"
destination = "10.2.0.0/24"
interface = "tunnel.2"
metric = 50
"#,
        )
        .with(ALLOW_BOTH_WAYS)
}

fn branch_site(me: &'static str, ifc_ip: &str) -> Site {
    Site::new(me, "10.2.0.0/24", "10.2.0.1/24")
        .tunnel("to-hq", HQ, "tunnel.1", ifc_ip, "", &[], None)
        .with(
            r#"
[[static-route]]
name = "to-hq"
destination = "10.1.0.0/24"
interface = "tunnel.1"
"#,
        )
        .with(ALLOW_BOTH_WAYS)
}

fn network(action: &str) -> Net {
    let hq = Node::new("hq", &hq_site(action), &["tunnel.1", "tunnel.2"], 1);
    let a = Node::new("a", &branch_site(A, "169.254.100.2/30"), &["tunnel.1"], 2);
    let b = Node::new("b", &branch_site(B, "169.254.101.2/30"), &["tunnel.1"], 3);
    assert!(hq.gw.warnings().is_empty(), "{:?}", hq.gw.warnings());
    let mut net = Net::new(vec![hq, a, b]);
    let now = net.now;
    assert_eq!(net.node("hq").gw.connect_all(now).unwrap(), 2);
    assert!(net.run_until(Duration::from_secs(10), |n| {
        n.nodes.iter().map(|x| x.child_sas_up()).sum::<usize>() == 4
    }));
    // The first probes are answered: the monitor is up.
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.node("hq").gw.show_monitors()[0].state, MonitorState::Up);
    assert!(net.node("a").pings_answered >= 2);
    net
}

/// Sends one packet from hq's LAN to 10.2.0.7 and says which branch's LAN got it.
fn which_branch(net: &mut Net, seq: u16) -> Option<&'static str> {
    let p = udp(
        [10, 1, 0, 5],
        [10, 2, 0, 7],
        40000 + seq,
        53,
        b"where am I?",
    );
    if !matches!(net.send_from_lan("hq", &p), Action::Send(_)) {
        return None;
    }
    net.settle();
    for name in ["a", "b"] {
        let node = net.node(name);
        if let Some(r) = node.lan.pop() {
            assert_eq!(
                dst_of(&r.bytes),
                "10.2.0.7".parse::<std::net::Ipv4Addr>().unwrap()
            );
            return Some(node.name);
        }
    }
    None
}

fn cut(net: &mut Net, on: bool) {
    let pair: (IpAddr, IpAddr) = (HQ.parse().unwrap(), A.parse().unwrap());
    net.cut.retain(|p| *p != pair);
    if on {
        net.cut.push(pair);
    }
}

#[test]
fn fail_over_to_the_backup_tunnel_and_back() {
    let mut net = network("fail-over");
    assert_eq!(which_branch(&mut net, 1), Some("a"));

    // The link to a goes down: three probes lost, the primary route is withdrawn.
    cut(&mut net, true);
    let down = net.run_until(Duration::from_secs(20), |n| {
        n.nodes[0]
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::TunnelDown { .. }))
    });
    assert!(down, "{:#?}", net.nodes[0].log());
    let log = net.node("hq").log();
    assert!(
        log.iter().any(|l| l
            == "Tunnel to-a is down: tunnel monitor lost 3 consecutive probes to \
             169.254.100.2; action fail-over: 2 routes withdrawn, renegotiating."),
        "{log:#?}"
    );
    let routes = net.node("hq").gw.show_routes();
    assert!(
        routes.iter().any(|r| r.name == "primary" && r.withdrawn),
        "{routes:?}"
    );
    assert_eq!(
        which_branch(&mut net, 2),
        Some("b"),
        "the backup tunnel carries it"
    );
    // A long outage: the monitor keeps probing and renegotiating, dead-peer detection gives
    // up on the IKE SA; the backup carries the traffic all along.
    net.run_for(Duration::from_secs(60));
    assert_eq!(which_branch(&mut net, 3), Some("b"));
    assert_eq!(
        net.node("hq").gw.show_monitors()[0].state,
        MonitorState::Down
    );

    // The link comes back: the tunnel is renegotiated, the probes are answered, the route
    // returns and traffic goes back to a.
    cut(&mut net, false);
    let up = net.run_until(Duration::from_secs(600), |n| {
        n.nodes[0]
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::TunnelUp { .. }))
    });
    assert!(up, "{:#?}", net.nodes[0].log());
    let log = net.node("hq").log();
    assert!(
        log.iter()
            .any(|l| l
                == "Tunnel to-a is up: tunnel monitor reached 169.254.100.2; 2 routes restored."),
        "{log:#?}"
    );
    assert!(net.node("hq").gw.show_routes().iter().all(|r| !r.withdrawn));
    assert_eq!(net.node("hq").gw.show_monitors()[0].state, MonitorState::Up);
    // Let the renegotiated tunnel settle (the old SAs' deletions) before the last packet.
    net.run_for(Duration::from_secs(10));
    assert_eq!(which_branch(&mut net, 4), Some("a"));
}

#[test]
fn wait_recover_keeps_the_routes_and_renegotiates() {
    let mut net = network("wait-recover");
    let ike_ups = |n: &Net| {
        n.nodes[0]
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Ike(ikev2::Event::IkeSaUp { gateway, .. }) if gateway == "gw-to-a"))
            .count()
    };
    assert_eq!(ike_ups(&net), 1);
    cut(&mut net, true);
    assert!(net.run_until(Duration::from_secs(20), |n| {
        n.nodes[0]
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::TunnelDown { .. }))
    }));
    let log = net.node("hq").log();
    assert!(
        log.iter().any(|l| l.starts_with("Tunnel to-a is down")
            && l.ends_with("action wait-recover: renegotiating.")),
        "{log:#?}"
    );
    assert!(net.node("hq").gw.show_routes().iter().all(|r| !r.withdrawn));
    // With the route kept and the tunnel dead, the packet goes nowhere (to-a's SA is stale
    // or gone): a is unreachable and b is not used.
    assert_ne!(which_branch(&mut net, 1), Some("b"));

    cut(&mut net, false);
    assert!(
        net.run_until(Duration::from_secs(600), |n| {
            n.nodes[0]
                .events
                .iter()
                .any(|(_, e)| matches!(e, Event::TunnelUp { .. }))
        }),
        "{:#?}",
        net.nodes[0].log()
    );
    // The renegotiation asked for when the tunnel went down completes: a new IKE SA.
    assert!(
        net.run_until(Duration::from_secs(120), |n| ike_ups(n) >= 2),
        "renegotiated: {:#?}",
        net.nodes[0].log()
    );
    net.run_for(Duration::from_secs(10));
    assert_eq!(which_branch(&mut net, 2), Some("a"));
}

#[test]
fn a_reload_keeps_a_failed_over_monitor_and_its_withdrawn_routes() {
    let mut net = network("fail-over");
    cut(&mut net, true);
    assert!(net.run_until(Duration::from_secs(20), |n| {
        n.nodes[0]
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::TunnelDown { .. }))
    }));
    assert_eq!(which_branch(&mut net, 1), Some("b"));
    let now = net.now;
    let config = hq_site("fail-over").config(&["tunnel.1", "tunnel.2"]);
    let r = net.node("hq").gw.reconfigure(now, config).unwrap();
    assert!(r.is_unchanged(), "{r:?}");
    let hq = &net.node("hq").gw;
    assert_eq!(hq.show_monitors()[0].state, MonitorState::Down);
    assert!(hq
        .show_routes()
        .iter()
        .any(|r| r.name == "primary" && r.withdrawn));
    assert_eq!(which_branch(&mut net, 2), Some("b"), "still the backup");
    // The monitor carries on: the link back, the route returns.
    cut(&mut net, false);
    assert!(net.run_until(Duration::from_secs(600), |n| {
        n.nodes[0]
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::TunnelUp { .. }))
    }));
    assert!(net.node("hq").gw.show_routes().iter().all(|r| !r.withdrawn));
    net.run_for(Duration::from_secs(10));
    assert_eq!(which_branch(&mut net, 3), Some("a"));
}
