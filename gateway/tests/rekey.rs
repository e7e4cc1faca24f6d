//! Byte lifetimes under continuous traffic: the datapath's soft limit starts a rekey, the new
//! Child SA takes over, the old one is deleted after it, and not one packet is lost.
//!
//! ```text
//!   hq (lifesize 64 KB)                                   branch (lifesize 64 KB)
//!   every 20 ms: 10.1.0.5 -> 10.2.0.7 (400 bytes)  ==>
//!                                                  <==    every 20 ms: 10.2.0.7 -> 10.1.0.5
//!   at 90 % of 64 KB on an SA: CREATE_CHILD_SA(REKEY_SA) -> new SA up -> DELETE old
//! ```

mod common;

use common::{udp, Net, Node, Site, ALLOW_BOTH_WAYS};
use core::time::Duration;
use gateway::{Action, Event, LifetimeAction};

fn site(me: &'static str, peer: &str, lan: &'static str, port: &'static str, remote: &str) -> Site {
    Site::new(me, lan, port)
        .tunnel(
            "vpn",
            peer,
            "tunnel.1",
            if me.ends_with(".1") { "169.254.100.1/30" } else { "169.254.100.2/30" },
            "lifesize = { kb = 64 }",
            &[("lan", lan, remote)],
            None,
        )
        .with(&format!(
            "\n[[static-route]]\nname = \"peer-lan\"\ndestination = \"{remote}\"\ninterface = \"tunnel.1\"\n"
        ))
        .with(ALLOW_BOTH_WAYS)
}

fn sequence_of(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[28], p[29], p[30], p[31]])
}

#[test]
fn byte_lifetime_rekeys_under_continuous_traffic_lose_nothing() {
    let hq = Node::new(
        "hq",
        &site(
            "192.0.2.1",
            "192.0.2.2",
            "10.1.0.0/24",
            "10.1.0.1/24",
            "10.2.0.0/24",
        ),
        &["tunnel.1"],
        7,
    );
    let branch = Node::new(
        "branch",
        &site(
            "192.0.2.2",
            "192.0.2.1",
            "10.2.0.0/24",
            "10.2.0.1/24",
            "10.1.0.0/24",
        ),
        &["tunnel.1"],
        8,
    );
    let mut net = Net::new(vec![hq, branch]);
    let now = net.now;
    net.node("hq").gw.connect(now, "vpn").unwrap();
    assert!(net.run_until(Duration::from_secs(5), |n| n
        .nodes
        .iter()
        .all(|x| x.child_sas_up() == 1)));

    const PACKETS: u32 = 400;
    let mut data = vec![0u8; 400];
    for seq in 0..PACKETS {
        data[..4].copy_from_slice(&seq.to_be_bytes());
        let out = udp([10, 1, 0, 5], [10, 2, 0, 7], 40000, 9, &data);
        let back = udp([10, 2, 0, 7], [10, 1, 0, 5], 40001, 9, &data);
        let a = net.send_from_lan("hq", &out);
        assert!(matches!(a, Action::Send(_)), "hq packet {seq}: {a:?}");
        let a = net.send_from_lan("branch", &back);
        assert!(matches!(a, Action::Send(_)), "branch packet {seq}: {a:?}");
        net.run_for(Duration::from_millis(20));
    }
    net.run_for(Duration::from_secs(1));

    for (name, other) in [("hq", "branch"), ("branch", "hq")] {
        let node = net.node(name);
        let got: Vec<u32> = node.lan.iter().map(|r| sequence_of(&r.bytes)).collect();
        let missing: Vec<u32> = (0..PACKETS).filter(|s| !got.contains(s)).collect();
        assert!(
            missing.is_empty() && got.len() == PACKETS as usize,
            "{name} lost {missing:?} from {other}\n{}\n{:#?}",
            node.gw.counters(),
            node.events
                .iter()
                .map(|(t, e)| format!("{t:?} {e}"))
                .collect::<Vec<_>>()
        );
        // 400 packets of 428 bytes each way: several rekeys of a 64 KB SA.
        let ups = node.child_sas_up();
        assert!(ups >= 4, "{name}: {ups} Child SAs\n{:#?}", node.log());
        let c = node.gw.counters();
        assert_eq!(c.dropped_total(), 0, "{name}: {c}");
        let now = net.now;
        let node = net.node(name);
        let table = node.gw.show_ipsec_sa(now);
        assert!(table.esp_drops.is_empty(), "{name}: {table}");
        assert_eq!(table.sas.len(), 1, "{name}: old SAs deleted\n{table}");
        assert_eq!(node.spis_in(now).len(), 1);
        assert!(node.events.iter().any(|(_, e)| matches!(
            e,
            Event::Lifetime {
                action: LifetimeAction::Rekey,
                outbound: true,
                ..
            }
        )));
        assert!(node
            .log()
            .iter()
            .any(|l| l.contains("IPsec SA soft byte lifetime expired (outbound); rekeying.")));
    }
}
