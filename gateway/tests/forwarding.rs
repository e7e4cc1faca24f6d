//! Route-based forwarding between two gateways on the simulated network: routes choose the
//! tunnel, proxy IDs the Child SA, security rules with sessions what passes; every drop is
//! counted by reason.
//!
//! ```text
//!   10.1.0.0/24 --[hq 192.0.2.1]== tunnel.1 (vpn-branch) ==[branch 192.0.2.2]-- 10.2.0.0/16
//!                  proxy IDs: lan     10.1.0.0/24 <-> 10.2.0.0/24
//!                             servers 10.1.0.0/24 <-> 10.2.9.0/24
//!                  hq: route 10.2.0.0/16 -> tunnel.1; rules: block-host (deny 10.1.0.66),
//!                      lan-to-branch (trust -> vpn); nothing from vpn to trust
//! ```

mod common;

use common::sites::{self, branch_site, hq_site, LAN, SERVERS};
use common::{echo_reply, ping, udp, Net, Node};
use core::time::Duration;
use gateway::{Action, DropReason, Event, Forwarded};

const HQ_RULES: &str = r#"
[[security-rule]]
name = "block-host"
from = ["trust"]
to = ["vpn"]
source = ["10.1.0.66/32"]
action = "deny"

[[security-rule]]
name = "lan-to-branch"
from = ["trust"]
to = ["vpn"]
source = ["10.1.0.0/24"]
destination = ["10.2.0.0/16"]
action = "allow"
"#;

/// hq and branch with the tunnel up (both proxy IDs).
fn up() -> Net {
    sites::up(&hq_site(&[LAN, SERVERS], HQ_RULES), &branch_site(), 2)
}

/// The inbound SPI of `node`'s Child SA for `proxy_id`.
fn spi_of(net: &mut Net, node: &str, proxy_id: &str) -> u32 {
    let now = net.now;
    let t = net.node(node).gw.show_ipsec_sa(now);
    t.sas
        .iter()
        .find(|s| s.proxy_id.as_deref() == Some(proxy_id))
        .map(|s| s.spi_in)
        .expect("SA")
}

#[test]
fn each_proxy_id_carries_its_own_traffic() {
    let mut net = up();
    let (lan_spi, servers_spi) = (
        spi_of(&mut net, "branch", "lan"),
        spi_of(&mut net, "branch", "servers"),
    );
    assert_ne!(lan_spi, servers_spi);
    for (dst, spi) in [([10, 2, 0, 7], lan_spi), ([10, 2, 9, 9], servers_spi)] {
        let p = udp([10, 1, 0, 5], dst, 40000, 53, b"query");
        assert!(matches!(net.send_from_lan("hq", &p), Action::Send(_)));
        net.settle();
        let got = net.node("branch").lan.pop().expect("delivered");
        assert_eq!(got.bytes, p);
        assert_eq!(got.spi, Some(spi), "to {dst:?}");
    }
    // Routed into the tunnel, but no proxy ID covers it.
    let p = udp([10, 1, 0, 5], [10, 2, 7, 7], 40000, 53, b"query");
    assert_eq!(
        net.send_from_lan("hq", &p),
        Action::Drop(DropReason::NoProxyId)
    );
    let hq = net.node("hq");
    assert_eq!(hq.gw.counters().dropped(DropReason::NoProxyId), 1);
    assert_eq!(hq.gw.counters().encapsulated, 2);
    assert!(hq
        .gw
        .counters()
        .to_string()
        .contains("flow_tunnel_no_proxyid"));
}

#[test]
fn a_packet_denied_by_a_rule_is_counted_against_it() {
    let mut net = up();
    let p = udp([10, 1, 0, 66], [10, 2, 0, 7], 40000, 53, b"query");
    assert_eq!(
        net.send_from_lan("hq", &p),
        Action::Drop(DropReason::PolicyDeny)
    );
    assert_eq!(
        net.send_from_lan("hq", &p),
        Action::Drop(DropReason::PolicyDeny)
    );
    net.settle();
    assert!(net.node("branch").lan.is_empty());
    let hq = &net.node("hq").gw;
    assert_eq!(hq.counters().dropped(DropReason::PolicyDeny), 2);
    assert_eq!(hq.counters().dropped_total(), 2);
    let rules = hq.show_security_rules();
    let hits = |name: &str| rules.iter().find(|r| r.name == name).map(|r| r.hits);
    assert_eq!(hits("block-host"), Some(2));
    assert_eq!(hits("lan-to-branch"), Some(0));
    assert_eq!(hits("interzone-default"), Some(0));
}

#[test]
fn return_traffic_of_an_allowed_session_passes_and_nothing_else_does() {
    let mut net = up();
    // hq's host pings branch's: allowed by lan-to-branch; the reply has no rule of its own.
    let request = ping([10, 1, 0, 5], [10, 2, 0, 7], 0x1d, 1);
    assert!(matches!(net.send_from_lan("hq", &request), Action::Send(_)));
    net.settle();
    let at_branch = net.node("branch").lan.pop().expect("request delivered");
    let reply = echo_reply(&at_branch.bytes).unwrap();
    assert!(matches!(
        net.send_from_lan("branch", &reply),
        Action::Send(_)
    ));
    net.settle();
    let got = net.node("hq").lan.pop().expect("reply delivered");
    assert_eq!(got.bytes, reply);
    let now = net.now;
    let sessions = net.node("hq").gw.show_sessions(now);
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].rule.as_deref(), Some("lan-to-branch"));
    assert_eq!(
        (sessions[0].from_zone.as_str(), sessions[0].to_zone.as_str()),
        ("trust", "vpn")
    );
    assert_eq!(sessions[0].packets, 2);

    // A flow branch's host starts toward hq is a new session from vpn to trust: denied.
    let p = udp([10, 2, 0, 7], [10, 1, 0, 5], 5000, 22, b"ssh?");
    assert!(matches!(net.send_from_lan("branch", &p), Action::Send(_)));
    net.settle();
    assert!(net.node("hq").lan.is_empty());
    let hq = &net.node("hq").gw;
    assert_eq!(hq.counters().dropped(DropReason::PolicyDeny), 1);
    let rules = hq.show_security_rules();
    assert_eq!(
        rules
            .iter()
            .find(|r| r.name == "interzone-default")
            .map(|r| r.hits),
        Some(1)
    );

    // Once the ping session aged out (ICMP: 6 s idle), a late reply is a new flow: denied.
    net.run_for(Duration::from_secs(8));
    assert!(matches!(
        net.send_from_lan("branch", &reply),
        Action::Send(_)
    ));
    net.settle();
    assert!(net.node("hq").lan.is_empty());
    let hq = &net.node("hq").gw;
    assert_eq!(hq.counters().dropped(DropReason::PolicyDeny), 2);
    assert!(hq.counters().sessions_aged >= 1);
}

#[test]
fn no_route_and_tunnel_down_are_counted() {
    let hq = Node::new("hq", &hq_site(&[LAN, SERVERS], HQ_RULES), &["tunnel.1"], 1);
    let branch = Node::new("branch", &branch_site(), &["tunnel.1"], 2);
    let mut net = Net::new(vec![hq, branch]);
    // Routed to tunnel.1 before the tunnel is negotiated.
    let p = udp([10, 1, 0, 5], [10, 2, 0, 7], 40000, 53, b"early");
    assert_eq!(
        net.send_from_lan("hq", &p),
        Action::Drop(DropReason::TunnelDown)
    );
    let p = udp([10, 1, 0, 5], [192, 168, 50, 1], 40000, 53, b"nowhere");
    assert_eq!(
        net.send_from_lan("hq", &p),
        Action::Drop(DropReason::NoRoute)
    );
    assert_eq!(
        net.send_from_lan("hq", b"\x45junk"),
        Action::Drop(DropReason::Malformed)
    );
    let c = *net.node("hq").gw.counters();
    assert_eq!(
        (
            c.dropped(DropReason::TunnelDown),
            c.dropped(DropReason::NoRoute),
            c.dropped(DropReason::Malformed)
        ),
        (1, 1, 1)
    );
    let text = c.to_string();
    assert!(text.contains("flow_fwd_l3_noroute"), "{text}");
    assert!(text.contains("Packets dropped: no route"), "{text}");
}

#[test]
fn unknown_spis_are_answered_with_invalid_spi_rate_limited() {
    let mut net = up();
    let now = net.now;
    let forged: Vec<u8> = [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1]
        .into_iter()
        .chain([0u8; 40])
        .collect();
    let (local, remote) = (
        "192.0.2.1:4500".parse().unwrap(),
        "192.0.2.2:4500".parse().unwrap(),
    );
    let hq = &mut net.node("hq").gw;
    for _ in 0..3 {
        let mut b = forged.clone();
        assert_eq!(
            hq.handle_datagram(now, local, remote, &mut b),
            Action::Drop(DropReason::Esp)
        );
    }
    let c = *hq.counters();
    assert_eq!((c.invalid_spi_sent, c.invalid_spi_suppressed), (1, 2));
    // The notify is one INFORMATIONAL request to the peer, which answers it; the tunnel stays.
    let mut buf = vec![0u8; 65_535];
    let t = hq
        .poll_transmit(&mut buf)
        .expect("INFORMATIONAL with INVALID_SPI");
    assert_eq!(t.destination, remote);
    assert!(hq.poll_transmit(&mut buf).is_none());
    net.send(&t, &buf);
    net.settle();
    let p = udp([10, 1, 0, 5], [10, 2, 0, 7], 40000, 53, b"still up");
    assert!(matches!(net.send_from_lan("hq", &p), Action::Send(_)));
    net.settle();
    assert_eq!(net.node("branch").lan.len(), 1);
}

#[test]
fn events_and_show_data_carry_no_keys() {
    let mut net = up();
    let p = udp([10, 1, 0, 5], [10, 2, 0, 7], 40000, 53, b"query");
    assert!(matches!(net.send_from_lan("hq", &p), Action::Send(_)));
    net.settle();
    let hq = net.node("hq");
    for (_, e) in &hq.events {
        if let Event::Ike(ikev2::Event::ChildSaUp { child, .. }) = e {
            for k in [&child.inbound, &child.outbound] {
                assert!(k.encryption_key.is_empty() && k.integrity_key.is_empty());
            }
        }
    }
    let now = net.now;
    let show = net.node("hq").gw.show(now);
    let json = serde_json::to_string(&show).unwrap();
    assert!(json.contains("\"name\":\"vpn-branch:lan\""), "{json}");
    assert!(!json.to_lowercase().contains("key"), "{json}");
    assert_eq!(show.ike_sa.len(), 1);
    assert_eq!(show.ike_sa[0].children.len(), 2);
    assert!(show.ike_sa[0].to_string().contains(" Init Established "));
    let rows = show.ipsec_sa.to_string();
    assert!(
        rows.contains("Show IPSec SA: Total 1 tunnels found. 2 ipsec sa found."),
        "{rows}"
    );
    let lan = show
        .ipsec_sa
        .sas
        .iter()
        .find(|s| s.proxy_id.as_deref() == Some("lan"))
        .unwrap();
    assert_eq!((lan.packets_out, lan.packets_in), (1, 0));
    assert!(show
        .routes
        .iter()
        .any(|r| r.name == "to-branch" && !r.withdrawn));
    assert!(show
        .routes
        .iter()
        .any(|r| r.connected && r.destination == "10.1.0.0/24"));
}

#[test]
fn per_sa_rekey_and_delete_act_on_the_one_child_sa_they_name() {
    let mut net = up();
    let (lan, servers) = (
        spi_of(&mut net, "branch", "lan"),
        spi_of(&mut net, "branch", "servers"),
    );
    // The table hands out every inbound SPI IKE offers: each encodes a small table slot.
    for spi in [lan, servers, spi_of(&mut net, "hq", "lan")] {
        assert!(spi & 0xffff < 16, "{spi:08x} is not a table slot SPI");
    }
    let now = net.now;
    net.node("branch").gw.rekey_child_sa(now, lan).unwrap();
    net.run_for(Duration::from_secs(10));
    let new_lan = spi_of(&mut net, "branch", "lan");
    assert_ne!(new_lan, lan);
    assert!(new_lan & 0xffff < 16);
    assert_eq!(spi_of(&mut net, "branch", "servers"), servers, "untouched");
    let log = net.node("branch").log();
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("rekey of SPI:{lan:08X}"))),
        "{log:?}"
    );
    let p = udp([10, 1, 0, 5], [10, 2, 0, 7], 40000, 53, b"query");
    assert!(matches!(net.send_from_lan("hq", &p), Action::Send(_)));
    net.settle();
    assert_eq!(
        net.node("branch").lan.pop().expect("delivered").spi,
        Some(new_lan)
    );

    let now = net.now;
    net.node("branch").gw.delete_child_sa(now, servers).unwrap();
    net.run_for(Duration::from_secs(10));
    let now = net.now;
    let sas = net.node("branch").gw.show_ipsec_sa(now).sas;
    assert_eq!(sas.len(), 1, "{sas:?}");
    assert_eq!(sas[0].spi_in, new_lan);
    assert!(net.node("branch").gw.delete_child_sa(now, servers).is_err());
    // The tunnel still carries its other proxy ID.
    assert!(matches!(net.send_from_lan("hq", &p), Action::Send(_)));
    net.settle();
    assert!(net.node("branch").lan.pop().is_some());
}

#[test]
fn esp_opened_on_another_thread_is_forwarded_as_handle_esp_would() {
    let mut net = up();
    let now = net.now;
    let lan_spi = spi_of(&mut net, "branch", "lan");
    let p = udp([10, 1, 0, 5], [10, 2, 0, 7], 40000, 53, b"query");
    // What hq sends for it: the UDP 4500 payload (an ESP packet).
    let hq = &mut net.node("hq").gw;
    let mut buf = vec![0u8; gateway::HEADROOM + p.len() + gateway::TAILROOM];
    let inner = gateway::HEADROOM..gateway::HEADROOM + p.len();
    buf[inner.clone()].copy_from_slice(&p);
    let lan = hq.interface("ethernet1/2").expect("LAN port");
    let Action::Send(t) = hq.handle_inner(now, lan, &mut buf, inner) else {
        panic!("routed into the tunnel");
    };
    let esp = buf[t.range.clone()].to_vec();
    let from = t.source.ip();

    let branch = &mut net.node("branch").gw;
    let mut b = esp.clone();
    let opening = branch.prepare_esp(now, from, &b).expect("a known SA");
    let opened = std::thread::scope(|s| s.spawn(|| opening.open(&mut b)).join().unwrap());
    match branch.finish_esp(now, from, opened, &mut b) {
        Action::Deliver(d) => {
            assert_eq!(&b[d.range.clone()], &p[..]);
            assert_eq!(d.inbound_spi, Some(lan_spi));
        }
        other => panic!("{other:?}"),
    }
    // The same datagram again is a replay, refused before the cipher.
    assert_eq!(
        branch.prepare_esp(now, from, &esp).unwrap_err(),
        Action::Drop(DropReason::Esp)
    );
    // Another forged at the end: prepared, refused when finished.
    let mut forged = esp.clone();
    let last = forged.len() - 1;
    forged[7] = forged[7].wrapping_add(1); // the next sequence number, not yet seen
    forged[last] ^= 1;
    let o = branch
        .prepare_esp(now, from, &forged)
        .expect("not a replay");
    let o = o.open(&mut forged);
    assert_eq!(
        branch.finish_esp(now, from, o, &mut forged),
        Action::Drop(DropReason::Esp)
    );
    // An unknown SPI is answered with INVALID_SPI, as by handle_esp.
    let mut stranger = esp.clone();
    stranger[0] ^= 0x40;
    assert_eq!(
        branch.prepare_esp(now, from, &stranger).unwrap_err(),
        Action::Drop(DropReason::Esp)
    );
    let c = branch.counters();
    assert_eq!(c.decapsulated, 1);
    assert_eq!(c.dropped(DropReason::Esp), 3);
    assert_eq!(c.invalid_spi_sent, 1);

    // A packet whose SA goes away while it is opened is dropped at the finish, without the
    // INVALID_SPI of an unknown SPI: its SPI was known when it arrived.
    let hq = &mut net.node("hq").gw;
    let mut buf = vec![0u8; gateway::HEADROOM + p.len() + gateway::TAILROOM];
    let inner = gateway::HEADROOM..gateway::HEADROOM + p.len();
    buf[inner.clone()].copy_from_slice(&p);
    let Action::Send(t) = hq.handle_inner(now, lan, &mut buf, inner) else {
        panic!("routed into the tunnel");
    };
    let mut late = buf[t.range].to_vec();
    let o = net
        .node("branch")
        .gw
        .prepare_esp(now, from, &late)
        .expect("a known SA");
    net.node("branch").gw.delete_child_sa(now, lan_spi).unwrap();
    net.settle();
    let now = net.now;
    let branch = &mut net.node("branch").gw;
    assert!(branch
        .show_ipsec_sa(now)
        .sas
        .iter()
        .all(|s| s.spi_in != lan_spi));
    let o = o.open(&mut late);
    assert_eq!(
        branch.finish_esp(now, from, o, &mut late),
        Action::Drop(DropReason::Esp)
    );
    let c = branch.counters();
    assert_eq!((c.decapsulated, c.dropped(DropReason::Esp)), (1, 4));
    assert_eq!(c.invalid_spi_sent, 1, "no INVALID_SPI for it");
}

#[test]
fn packets_sealed_on_other_threads_arrive_as_handle_inner_sends_them() {
    let mut net = up();
    let now = net.now;
    let packets: Vec<Vec<u8>> = (0..3u8)
        .map(|i| udp([10, 1, 0, 5], [10, 2, 0, 7], 40000, 53, &[b'q', i]))
        .collect();
    let hq = &mut net.node("hq").gw;
    let lan = hq.interface("ethernet1/2").expect("LAN port");
    let room = |p: &[u8]| {
        let mut buf = vec![0u8; gateway::HEADROOM + p.len() + gateway::TAILROOM];
        let inner = gateway::HEADROOM..gateway::HEADROOM + p.len();
        buf[inner.clone()].copy_from_slice(p);
        (buf, inner)
    };
    let before = hq.counters().encapsulated;
    let mut prepared = Vec::new();
    for p in &packets {
        let (mut buf, inner) = room(p);
        match hq.prepare_inner(now, lan, &mut buf, inner) {
            Forwarded::Seal(t, s) => prepared.push((t, s, buf)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        hq.counters().encapsulated,
        before + 3,
        "counted when prepared"
    );
    // Sealed on other threads, the last first.
    std::thread::scope(|sc| {
        for (_, s, buf) in prepared.iter_mut().rev() {
            sc.spawn(move || s.seal(buf).unwrap());
        }
    });
    for (t, _, buf) in &prepared {
        net.send(t, buf);
    }
    net.settle();
    let got: Vec<Vec<u8>> = net.node("branch").lan.drain(..).map(|r| r.bytes).collect();
    assert_eq!(got, packets);

    // Refused on the way: what handle_inner returns for it.
    let hq = &mut net.node("hq").gw;
    for (p, why) in [
        (
            udp([10, 1, 0, 66], [10, 2, 0, 7], 40000, 53, b"q"),
            DropReason::PolicyDeny,
        ),
        (
            udp([10, 1, 0, 5], [10, 9, 0, 7], 40000, 53, b"q"),
            DropReason::NoRoute,
        ),
    ] {
        let (mut buf, inner) = room(&p);
        match hq.prepare_inner(now, lan, &mut buf, inner.clone()) {
            Forwarded::Done(a) => assert_eq!(a, Action::Drop(why)),
            other => panic!("{other:?}"),
        }
        let (mut buf, inner) = room(&p);
        assert_eq!(
            hq.handle_inner(now, lan, &mut buf, inner),
            Action::Drop(why)
        );
    }
}
