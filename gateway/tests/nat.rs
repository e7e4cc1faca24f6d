//! Several branch firewalls behind one NAT address, each with its own identity and
//! INITIAL_CONTACT, all connected to one hub whose IKE gateway takes any `*.branch.test` peer
//! from any address: every IKE SA and Child SA stays up (RFC 7296 section 2.4 ties
//! INITIAL_CONTACT to the two identities, not to the address), and traffic flows both ways
//! through each branch's own Child SA.
//!
//! ```text
//!   site1 10.0.0.11 (10.21.0.0/24) -\
//!   site2 10.0.0.12 (10.22.0.0/24) --- NAT 198.51.100.7 --- hub 192.0.2.1 (10.1.0.0/24)
//!   site3 10.0.0.13 (10.23.0.0/24) -/                       dynamic peer, *.branch.test
//! ```
//!
//! The same with one proxy ID for all branches on the hub (`10.1.0.0/24` to `10.16.0.0/12`,
//! narrowed to each branch's LAN): each branch's Child SA is rekeyed on its own byte lifetime,
//! however many other branches came up after it.

mod common;

use common::{udp, Net, Node, Site, ALLOW_BOTH_WAYS};
use core::time::Duration;
use gateway::{Action, Event};

const SITES: u8 = 3;

const ESP: &str = r#"
[[ipsec-crypto-profile]]
name = "esp"
encryption = ["aes-128-gcm"]
authentication = ["none"]
dh-group = "group19"
"#;

/// How the hub's tunnel sorts the branches' traffic.
#[derive(Clone, Copy, PartialEq)]
enum HubProxyIds {
    /// One proxy ID per branch LAN.
    PerBranch,
    /// One proxy ID for every branch, with a byte lifetime of 64 KB.
    OneFor64Kb,
}

fn hub_site(proxy_ids: HubProxyIds) -> Site {
    let lifesize = match proxy_ids {
        HubProxyIds::PerBranch => "",
        HubProxyIds::OneFor64Kb => "lifesize = { kb = 64 }",
    };
    let mut text = format!(
        r#"{ESP}{lifesize}
[[ike-gateway]]
name = "gw-branches"
version = "ikev2"
local-address = {{ interface = "ethernet1/1", ip = "192.0.2.1" }}
peer-address = "dynamic"
local-id = {{ type = "fqdn", id = "hub.test" }}
peer-id = {{ type = "fqdn", id = "*.branch.test", matching = "wildcard" }}
authentication = {{ pre-shared-key = "correct horse battery staple" }}
ike-crypto-profile = "ike"

[[tunnel-interface]]
name = "tunnel.1"
ip = "169.254.100.1/24"
zone = "vpn"

[[ipsec-tunnel]]
name = "branches"
tunnel-interface = "tunnel.1"
ike-gateway = "gw-branches"
ipsec-crypto-profile = "esp"

[[static-route]]
name = "to-branches"
destination = "10.16.0.0/12"
interface = "tunnel.1"
"#
    );
    match proxy_ids {
        HubProxyIds::PerBranch => {
            for i in 1..=SITES {
                text.push_str(&format!(
                    "\n[[ipsec-tunnel.proxy-id]]\nname = \"site{i}\"\nlocal = \"10.1.0.0/24\"\n\
                     remote = \"10.2{i}.0.0/24\"\n"
                ));
            }
        }
        HubProxyIds::OneFor64Kb => text.push_str(
            "\n[[ipsec-tunnel.proxy-id]]\nname = \"branches\"\nlocal = \"10.1.0.0/24\"\n\
             remote = \"10.16.0.0/12\"\n",
        ),
    }
    Site::new("192.0.2.1", "10.1.0.0/24", "10.1.0.1/24")
        .with(&text)
        .with(ALLOW_BOTH_WAYS)
}

fn branch_site(i: u8) -> Site {
    let me: &'static str = Box::leak(format!("10.0.0.1{i}").into_boxed_str());
    let lan: &'static str = Box::leak(format!("10.2{i}.0.0/24").into_boxed_str());
    let port: &'static str = Box::leak(format!("10.2{i}.0.1/24").into_boxed_str());
    let text = format!(
        r#"{ESP}
[[ike-gateway]]
name = "gw-hub"
version = "ikev2"
local-address = {{ interface = "ethernet1/1", ip = "{me}" }}
peer-address = {{ ip = "192.0.2.1" }}
local-id = {{ type = "fqdn", id = "site{i}.branch.test" }}
peer-id = {{ type = "fqdn", id = "hub.test" }}
authentication = {{ pre-shared-key = "correct horse battery staple" }}
ike-crypto-profile = "ike"

[[tunnel-interface]]
name = "tunnel.1"
ip = "169.254.100.1{i}/24"
zone = "vpn"

[[ipsec-tunnel]]
name = "vpn-hub"
tunnel-interface = "tunnel.1"
ike-gateway = "gw-hub"
ipsec-crypto-profile = "esp"

[[ipsec-tunnel.proxy-id]]
name = "lan"
local = "{lan}"
remote = "10.1.0.0/24"

[[static-route]]
name = "to-hub"
destination = "10.1.0.0/24"
interface = "tunnel.1"
"#
    );
    Site::new(me, lan, port).with(&text).with(ALLOW_BOTH_WAYS)
}

const NAMES: [&str; 3] = ["site1", "site2", "site3"];

/// The hub and the branches behind the NAT, each branch connected in turn.
fn connected(proxy_ids: HubProxyIds) -> Net {
    let mut nodes = vec![Node::new("hub", &hub_site(proxy_ids), &["tunnel.1"], 1)];
    for i in 1..=SITES {
        nodes.push(Node::new(
            NAMES[usize::from(i - 1)],
            &branch_site(i),
            &["tunnel.1"],
            10 + i,
        ));
    }
    let mut net = Net::new(nodes);
    let public = "198.51.100.7".parse().unwrap();
    for i in 1..=SITES {
        net.nat
            .push((format!("10.0.0.1{i}").parse().unwrap(), public));
    }
    // One after the other, each with INITIAL_CONTACT in its IKE_AUTH.
    for name in NAMES {
        let now = net.now;
        net.node(name).gw.connect(now, "vpn-hub").unwrap();
        let up = net.run_until(Duration::from_secs(10), |n| {
            n.nodes
                .iter()
                .find(|x| x.name == name)
                .unwrap()
                .child_sas_up()
                == 1
        });
        assert!(up, "{name}: {:?}", net.node(name).log());
    }
    net.run_for(Duration::from_secs(2));
    net
}

#[test]
fn branches_behind_one_nat_address_coexist_and_carry_traffic_both_ways() {
    let mut net = connected(HubProxyIds::PerBranch);
    let public: std::net::IpAddr = "198.51.100.7".parse().unwrap();

    let hub = net.node("hub");
    let downs: Vec<String> = hub
        .events
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::Ike(ikev2::Event::IkeSaDown { .. } | ikev2::Event::ChildSaDown { .. })
            )
        })
        .map(|(_, e)| e.to_string())
        .collect();
    assert!(downs.is_empty(), "SAs torn down on the hub: {downs:?}");
    assert_eq!(hub.child_sas_up(), usize::from(SITES));
    let ike = hub.gw.endpoint().ike_sas();
    assert_eq!(ike.len(), usize::from(SITES), "{ike:?}");
    assert!(ike.iter().all(|s| s.established && s.remote.ip() == public));

    // Each branch LAN reaches the hub LAN through its own Child SA ...
    for (k, name) in NAMES.iter().enumerate() {
        let src = [10, 21 + k as u8, 0, 7];
        let a = net.send_from_lan(name, &udp(src, [10, 1, 0, 5], 4000, 53, b"hello"));
        assert!(matches!(a, Action::Send(_)), "{name}: {a:?}");
    }
    net.run_for(Duration::from_millis(100));
    let hub = net.node("hub");
    assert_eq!(hub.lan.len(), usize::from(SITES));
    let mut spis: Vec<u32> = hub.lan.iter().filter_map(|r| r.spi).collect();
    spis.sort_unstable();
    spis.dedup();
    assert_eq!(spis.len(), usize::from(SITES), "one Child SA per branch");

    // ... and the hub reaches each branch LAN, through the NAT, on that branch's Child SA.
    for k in 0..SITES {
        let dst = [10, 21 + k, 0, 7];
        let a = net.send_from_lan("hub", &udp([10, 1, 0, 5], dst, 53, 4000, b"hi"));
        assert!(matches!(a, Action::Send(_)), "to {dst:?}: {a:?}");
    }
    net.run_for(Duration::from_millis(100));
    for name in NAMES {
        assert_eq!(net.node(name).lan.len(), 1, "{name} got its packet");
    }
}

#[test]
fn each_branch_on_a_shared_proxy_id_is_rekeyed_on_its_own_byte_lifetime() {
    let mut net = connected(HubProxyIds::OneFor64Kb);
    let now = net.now;
    let hub = net.node("hub");
    assert_eq!(hub.child_sas_up(), usize::from(SITES));
    let first = hub.spis_in(now);
    assert_eq!(first.len(), usize::from(SITES));

    // site1 came up first: two more Child SAs of the hub's proxy ID came up after its own. Its
    // 100 KB cross the hub's 64 KB lifetime; the hub rekeys its SA and loses nothing. The
    // branch has no byte lifetime, so no rekey comes from it: at 50 KB/s the 10% of the
    // lifetime left after the hub's inbound soft limit lasts 128 ms, and the hub rekeys
    // without waiting the rest of its grace of 2 s for the peer.
    const PACKETS: u32 = 100;
    let mut data = vec![0u8; 1000];
    for seq in 0..PACKETS {
        data[..4].copy_from_slice(&seq.to_be_bytes());
        let a = net.send_from_lan("site1", &udp([10, 21, 0, 7], [10, 1, 0, 5], 4000, 9, &data));
        assert!(matches!(a, Action::Send(_)), "packet {seq}: {a:?}");
        net.run_for(Duration::from_millis(20));
    }
    net.run_for(Duration::from_secs(1));
    let now = net.now;
    let hub = net.node("hub");
    let got = hub.lan.len();
    assert_eq!(
        got,
        PACKETS as usize,
        "{}\n{:#?}",
        hub.gw.counters(),
        hub.log()
    );
    let log = hub.log();
    let rekeyed: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("soft byte lifetime expired"))
        .collect();
    assert!(
        !rekeyed.is_empty() && rekeyed.iter().all(|l| !l.contains("already replaced")),
        "{rekeyed:#?}"
    );
    let spis = hub.spis_in(now);
    assert_eq!(spis.len(), usize::from(SITES), "one Child SA per branch");
    let kept = spis.iter().filter(|s| first.contains(s)).count();
    assert_eq!(
        kept,
        usize::from(SITES) - 1,
        "site1's SA replaced, the others kept"
    );
}
