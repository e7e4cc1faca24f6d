//! Validation and pair checks stay linear in the size of a configuration: a hub with 100,000
//! proxy IDs and thousands of gateways validates in well under a second of work, where comparing
//! every proxy ID with every other one would take billions of comparisons. (The comparison counts
//! themselves are asserted by the unit tests of the config module's index; these tests run the
//! whole checks at a size where quadratic work cannot finish in a test run, and check their
//! findings.)

use ipsec_core::config::*;
use ipsec_core::selector::IpPrefix;
use std::net::{IpAddr, Ipv4Addr};

const PROXY_IDS: u32 = 100_000;
const GATEWAYS: u32 = 20_000;

fn v4(x: u32, len: u8) -> IpPrefix {
    IpPrefix::new(IpAddr::V4(Ipv4Addr::from(x)), len).unwrap()
}

/// Proxy ID `i`: a /24 behind the hub to a /32 behind the branch (or the branch's mirror image).
fn proxy(i: u32, mirrored: bool) -> ProxyId {
    let hub = v4(0x0a00_0000 + (i << 8), 24);
    let branch = v4(0xac10_0000 + i, 32);
    let (local, remote) = if mirrored {
        (branch, hub)
    } else {
        (hub, branch)
    };
    ProxyId::new(format!("p{i}"), local, remote)
}

fn gateway(name: String, local: IpAddr, peer: PeerAddress, profile: &str) -> IkeGateway {
    IkeGateway::new(
        name,
        LocalAddress {
            interface: "ethernet1/1".into(),
            ip: Some(local),
        },
        peer,
        Authentication::PreSharedKey(PreSharedKey::new("a shared key of some length")),
        profile,
    )
}

fn base(ike_profiles: &[&str]) -> Config {
    let mut c = Config::new();
    for p in ike_profiles {
        c.ike_crypto_profiles.push(IkeCryptoProfile::new(*p));
    }
    c.ipsec_crypto_profiles.push(IpsecCryptoProfile::esp(
        "esp",
        vec![CipherName::Aes256Gcm],
        vec![AuthName::None],
    ));
    let mut ti = TunnelInterface::new("tunnel.1");
    ti.zone = Some("vpn".into());
    c.tunnel_interfaces.push(ti);
    c.zones.push(Zone::new("vpn", vec!["tunnel.1".into()]));
    c.zones.push(Zone::new("trust", vec!["ethernet1/2".into()]));
    c
}

const HUB: [u8; 4] = [192, 0, 2, 1];
const BRANCH: [u8; 4] = [198, 18, 0, 1];

/// A hub with `GATEWAYS` static peers on one local address (one tunnel each) and one dynamic
/// peer, whose first tunnel carries `PROXY_IDS` proxy IDs.
fn hub() -> Config {
    let mut c = base(&["ike", "ike-other"]);
    for g in 0..GATEWAYS {
        let peer = if g == 0 {
            IpAddr::from(BRANCH)
        } else {
            IpAddr::V4(Ipv4Addr::from(0xc633_0000 + g))
        };
        c.ike_gateways.push(gateway(
            format!("gw{g}"),
            HUB.into(),
            PeerAddress::Ip(peer),
            "ike",
        ));
        c.ipsec_tunnels.push(IpsecTunnel::auto_key(
            format!("t{g}"),
            "tunnel.1",
            format!("gw{g}"),
            "esp",
        ));
    }
    c.ipsec_tunnels[0].proxy_ids = (0..PROXY_IDS).map(|i| proxy(i, false)).collect();
    c
}

#[test]
fn a_hub_with_100000_proxy_ids_validates_and_finds_its_mistakes() {
    let mut c = hub();
    c.validate().unwrap();

    // Three mistakes, one of each quadratic kind: a proxy ID name used twice, a gateway name used
    // twice, and a dynamic peer with another IKE profile on the shared local address.
    let dup = proxy(7, false);
    c.ipsec_tunnels[0]
        .proxy_ids
        .push(ProxyId::new("p99998", dup.local, dup.remote));
    c.ike_gateways.push(gateway(
        "gw12345".into(),
        HUB.into(),
        PeerAddress::Ip([203, 0, 113, 9].into()),
        "ike",
    ));
    c.ike_gateways.push(gateway(
        "dyn".into(),
        HUB.into(),
        PeerAddress::Dynamic,
        "ike-other",
    ));
    let errors = c.validate().unwrap_err();
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(errors.len(), 3, "{shown:#?}");
    assert!(
        shown.contains(&r#"ike-gateway "gw12345": name: name "gw12345" is used twice"#.to_string()),
        "{shown:#?}"
    );
    assert!(
        shown.iter().any(
            |s| s.starts_with(r#"ipsec-tunnel "t0": proxy-id[p99998].name: "#)
                && s.ends_with(r#"name "p99998" is used twice"#)
        ),
        "{shown:#?}"
    );
    assert!(
        shown.contains(&r#"ike-gateway "dyn": ike-crypto-profile: "ike-other" differs from "ike" of ike-gateway "gw0" on the same local address; with a dynamic peer all gateways there must share one profile"#.to_string()),
        "{shown:#?}"
    );
}

#[test]
fn a_hub_and_its_branch_with_100000_mirrored_proxy_ids_pair_up() {
    let a = hub();
    let mut b = base(&["ike"]);
    b.ike_gateways.push(gateway(
        "to-hub".into(),
        BRANCH.into(),
        PeerAddress::Ip(HUB.into()),
        "ike",
    ));
    b.ipsec_tunnels
        .push(IpsecTunnel::auto_key("to-hub", "tunnel.1", "to-hub", "esp"));
    b.ipsec_tunnels[0].proxy_ids = (0..PROXY_IDS).map(|i| proxy(i, true)).collect();
    b.validate().unwrap();
    assert_eq!(gateway_pairs(&a, &b), vec![("gw0", "to-hub")]);
    assert_eq!(check_pair(&a, &b), vec![]);

    // One proxy ID the branch lacks, one it has that the hub lacks.
    b.ipsec_tunnels[0].proxy_ids.remove(4242);
    b.ipsec_tunnels[0].proxy_ids.push(proxy(PROXY_IDS, true));
    let findings = check_pair(&a, &b);
    let shown: Vec<(PairSide, String)> = findings
        .iter()
        .map(|f| (f.side, f.error.to_string()))
        .collect();
    assert_eq!(findings.len(), 2, "{shown:#?}");
    assert_eq!(findings[0].side, PairSide::First);
    assert!(
        shown[0]
            .1
            .starts_with(r#"ipsec-tunnel "t0": proxy-id[p4242]: "#),
        "{shown:#?}"
    );
    assert_eq!(findings[1].side, PairSide::Second);
    assert!(
        shown[1].1.starts_with(&format!(
            r#"ipsec-tunnel "to-hub": proxy-id[p{PROXY_IDS}]: "#
        )),
        "{shown:#?}"
    );
}
