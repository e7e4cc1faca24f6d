//! The two firewalls most integration tests run: hq (192.0.2.1, LAN 10.1.0.0/24) and branch
//! (192.0.2.2, LAN 10.2.0.0/16), joined by one route-based tunnel on `tunnel.1` with up to two
//! proxy IDs, and a static route toward the other side on each.

use super::{Net, Node, Site, ALLOW_BOTH_WAYS};
use core::time::Duration;

/// hq's proxy ID for branch's LAN.
pub const LAN: (&str, &str, &str) = ("lan", "10.1.0.0/24", "10.2.0.0/24");
/// hq's proxy ID for branch's servers.
pub const SERVERS: (&str, &str, &str) = ("servers", "10.1.0.0/24", "10.2.9.0/24");

/// hq with the proxy IDs `proxy_ids`, its route to branch, then `extra` (rules, say).
pub fn hq_site(proxy_ids: &[(&str, &str, &str)], extra: &str) -> Site {
    Site::new("192.0.2.1", "10.1.0.0/24", "10.1.0.1/24")
        .tunnel(
            "vpn-branch",
            "192.0.2.2",
            "tunnel.1",
            "169.254.100.1/30",
            "",
            proxy_ids,
            None,
        )
        .with(
            r#"
[[static-route]]
name = "to-branch"
destination = "10.2.0.0/16"
interface = "tunnel.1"
"#,
        )
        .with(extra)
}

/// branch, with both proxy IDs mirrored, its route to hq and every rule allowing.
pub fn branch_site() -> Site {
    Site::new("192.0.2.2", "10.2.0.0/16", "10.2.0.1/16")
        .tunnel(
            "vpn-hq",
            "192.0.2.1",
            "tunnel.1",
            "169.254.100.2/30",
            "",
            &[
                ("lan", "10.2.0.0/24", "10.1.0.0/24"),
                ("servers", "10.2.9.0/24", "10.1.0.0/24"),
            ],
            None,
        )
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

/// `hq` and `branch` on one wire, hq connecting every tunnel, until both hold `child_sas`
/// Child SAs.
pub fn up(hq: &Site, branch: &Site, child_sas: usize) -> Net {
    let hq = Node::new("hq", hq, &["tunnel.1"], 1);
    let branch = Node::new("branch", branch, &["tunnel.1"], 2);
    assert!(hq.gw.warnings().is_empty(), "{:?}", hq.gw.warnings());
    let mut net = Net::new(vec![hq, branch]);
    let now = net.now;
    net.node("hq").gw.connect_all(now).unwrap();
    let up = net.run_until(Duration::from_secs(10), |net| {
        net.nodes
            .iter()
            .all(|node| node.child_sas_up() == child_sas)
    });
    assert!(up, "{:?}\n{:?}", net.nodes[0].log(), net.nodes[1].log());
    net
}
