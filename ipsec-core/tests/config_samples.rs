//! The two sample configurations (the configuration contract) load with the values they state,
//! PAN-OS defaults fill what they leave out, and the same configuration built in code is equal.

use core::time::Duration;
use ipsec_core::child_sa::IpsecProtocol;
use ipsec_core::config::*;
use ipsec_core::crypto::{DhGroup, EncrId, Encryption, IntegId, PrfId};
use ipsec_core::selector::IpPrefix;
use std::net::IpAddr;

const HQ: &str = include_str!("../../examples/configs/hq.toml");
const BRANCH: &str = include_str!("../../examples/configs/branch.toml");

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
fn prefix(s: &str) -> IpPrefix {
    s.parse().unwrap()
}
fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn load(text: &str) -> Config {
    match Config::from_toml_str(text) {
        Ok(c) => c,
        Err(errors) => panic!("sample does not load: {errors:#?}"),
    }
}

#[test]
fn hq_loads_with_the_values_it_states() {
    let c = load(HQ);
    let ike = c.ike_crypto_profile("ike-suite-b").unwrap();
    assert_eq!(ike.dh_group, [DhGroupName::Group19, DhGroupName::Group14]);
    assert_eq!(ike.hash, [HashName::Sha256, HashName::Sha384]);
    assert_eq!(
        ike.encryption,
        [CipherName::Aes256Gcm, CipherName::Aes256Cbc]
    );
    assert_eq!(ike.lifetime(), Duration::from_secs(8 * 3600));

    let esp = c.ipsec_crypto_profile("esp-gcm").unwrap();
    assert_eq!(esp.protocol, ProtocolName::Esp);
    assert_eq!(
        esp.encryption,
        [CipherName::Aes128Gcm, CipherName::Aes256Gcm]
    );
    assert_eq!(esp.authentication, [AuthName::None]);
    assert_eq!(esp.dh_group, PfsGroup::Group(DhGroupName::Group19));
    assert_eq!(esp.lifetime(), Duration::from_secs(3600));
    assert_eq!(esp.lifesize_bytes(), Some(4096 * 1024 * 1024));

    let gw = c.ike_gateway("gw-branch").unwrap();
    assert_eq!(gw.version, IkeVersion::Ikev2);
    assert_eq!(gw.local_address.interface, "ethernet1/1");
    assert_eq!(gw.local_address.ip, Some(ip("192.0.2.1")));
    assert_eq!(gw.peer_address, PeerAddress::Ip(ip("192.0.2.2")));
    assert_eq!(
        gw.pre_shared_key().unwrap().expose(),
        b"correct horse battery staple"
    );
    assert_eq!(
        gw.local_id,
        Some(LocalId {
            id_type: IdType::Fqdn,
            id: "hq.example.net".into()
        })
    );
    let peer_id = gw.peer_id.as_ref().unwrap();
    assert_eq!(peer_id.id, "branch.example.net");
    assert_eq!(peer_id.matching, IdMatching::Exact);
    assert_eq!(gw.ike_crypto_profile, "ike-suite-b");
    assert_eq!(gw.liveness_interval(), Some(Duration::from_secs(5)));
    assert_eq!(gw.nat_keepalive_interval(), Some(Duration::from_secs(20)));

    let ti = c.tunnel_interface("tunnel.1").unwrap();
    assert_eq!(ti.unit(), Some(1));
    assert_eq!(ti.mtu, 1400);
    assert_eq!(ti.zone.as_deref(), Some("vpn"));
    assert_eq!(ti.ip.unwrap().to_string(), "169.254.100.1/30");

    let t = c.ipsec_tunnel("vpn-branch").unwrap();
    assert_eq!(t.ike_gateway.as_deref(), Some("gw-branch"));
    assert_eq!(t.ipsec_crypto_profile.as_deref(), Some("esp-gcm"));
    assert_eq!(t.replay_window(), 1024);
    let mon = t.tunnel_monitor.unwrap();
    assert_eq!(mon.destination_ip, ip("169.254.100.2"));
    assert_eq!((mon.interval, mon.threshold), (3, 5));
    assert_eq!(mon.action, MonitorAction::WaitRecover);
    assert_eq!(t.proxy_ids.len(), 2);
    assert_eq!(t.proxy_ids[0].local, prefix("10.1.0.0/24"));
    assert_eq!(t.proxy_ids[0].remote, prefix("10.2.0.0/24"));
    assert_eq!(t.proxy_ids[0].protocol, ProxyProtocol::Any);
    assert_eq!(t.proxy_ids[1].protocol, ProxyProtocol::Number(1));
    assert_eq!(t.proxy_ids[1].protocol.ip_protocol(), 1);

    let r = &c.static_routes[0];
    assert_eq!(r.destination, prefix("10.2.0.0/24"));
    assert_eq!(r.interface.as_deref(), Some("tunnel.1"));
    assert_eq!(c.zone_of("tunnel.1").unwrap().name, "vpn");
    assert_eq!(c.security_rules.len(), 2);
    assert_eq!(c.security_rules[0].action, RuleAction::Allow);
    assert!(c.nat_rules[0].is_no_nat());
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
}

#[test]
fn absent_fields_take_pan_os_defaults() {
    let c = load(HQ);
    let ike = c.ike_crypto_profile("ike-suite-b").unwrap();
    assert_eq!(ike.authentication_multiple, 0);
    assert_eq!(ike.reauth_interval(), None);
    assert!(ike.integrity.is_empty());
    let gw = c.ike_gateway("gw-branch").unwrap();
    assert!(!gw.passive_mode);
    assert!(!gw.require_cookie);
    assert!(!gw.fragmentation);
    assert!(!gw.disabled);
    assert!(gw.liveness_check.enable);
    let t = c.ipsec_tunnel("vpn-branch").unwrap();
    assert!(t.anti_replay);
    assert_eq!(t.ipsec_mode, IpsecMode::Tunnel);
    assert!(!t.copy_tos);
    assert!(t.tunnel_monitor.unwrap().enable);
    assert!(t.manual_key.is_none());
    assert!(t.proxy_ids_v6.is_empty());
    assert_eq!(c.static_routes[0].metric, 10);
    assert_eq!(c.static_routes[0].admin_dist, None);
    assert_eq!(c.static_routes[0].nexthop, None);
    assert!(c.tunnel_interface("tunnel.1").unwrap().ipv6.is_none());

    // A nearly empty gateway, profile and tunnel get every PAN-OS default.
    let text = r#"
        [[ike-crypto-profile]]
        name = "default"
        [[ipsec-crypto-profile]]
        name = "p2"
        encryption = ["aes-128-cbc"]
        authentication = ["sha256"]
        [[ike-gateway]]
        name = "gw"
        version = "ikev2"
        local-address = { interface = "ethernet1/1" }
        peer-address = "dynamic"
        authentication = { pre-shared-key = "k" }
        [[tunnel-interface]]
        name = "tunnel.7"
        zone = "vpn"
        [[zone]]
        name = "vpn"
        [[ipsec-tunnel]]
        name = "t"
        tunnel-interface = "tunnel.7"
        ike-gateway = "gw"
        ipsec-crypto-profile = "p2"
        tunnel-monitor = { destination-ip = "10.0.0.1", enable = false }
    "#;
    let c = load(text);
    let ike = &c.ike_crypto_profiles[0];
    assert_eq!(ike.dh_group, [DhGroupName::Group2]);
    assert_eq!(ike.hash, [HashName::Sha1]);
    assert_eq!(
        ike.encryption,
        [CipherName::Aes128Cbc, CipherName::TripleDes]
    );
    assert_eq!(ike.lifetime, Lifetime::Hours(8));
    let p2 = &c.ipsec_crypto_profiles[0];
    assert_eq!(p2.protocol, ProtocolName::Esp);
    assert_eq!(p2.dh_group, PfsGroup::Group(DhGroupName::Group2));
    assert_eq!(p2.lifetime, Lifetime::Hours(1));
    assert_eq!(p2.lifesize, None);
    let gw = &c.ike_gateways[0];
    assert_eq!(gw.ike_crypto_profile, "default");
    assert_eq!(gw.peer_address, PeerAddress::Dynamic);
    assert_eq!(gw.liveness_check.interval, 5);
    assert!(!gw.nat_traversal.enable);
    assert_eq!(gw.nat_traversal.keep_alive_interval, 20);
    assert_eq!(gw.nat_keepalive_interval(), None);
    let ti = &c.tunnel_interfaces[0];
    assert_eq!((ti.mtu, ti.virtual_router.as_str()), (1500, "default"));
    let t = &c.ipsec_tunnels[0];
    assert_eq!(t.anti_replay_window, 1024);
    let mon = t.tunnel_monitor.unwrap();
    assert_eq!(
        (mon.interval, mon.threshold, mon.action),
        (3, 5, MonitorAction::WaitRecover)
    );
    // The PAN-OS defaults are weak: they load, with warnings.
    let w = c.warnings();
    let fields: Vec<_> = w
        .iter()
        .map(|w| (w.object.to_string(), w.field.as_str()))
        .collect();
    assert!(fields.contains(&("ike-crypto-profile \"default\"".into(), "dh-group")));
    assert!(fields.contains(&("ike-crypto-profile \"default\"".into(), "hash")));
    assert!(fields.contains(&("ike-crypto-profile \"default\"".into(), "encryption")));
    assert!(fields.contains(&("ipsec-crypto-profile \"p2\"".into(), "dh-group")));
}

/// hq.toml, written in code.
fn hq_in_code() -> Config {
    let mut ike = IkeCryptoProfile::new("ike-suite-b");
    ike.dh_group = vec![DhGroupName::Group19, DhGroupName::Group14];
    ike.hash = vec![HashName::Sha256, HashName::Sha384];
    ike.encryption = vec![CipherName::Aes256Gcm, CipherName::Aes256Cbc];

    let mut esp = IpsecCryptoProfile::esp(
        "esp-gcm",
        vec![CipherName::Aes128Gcm, CipherName::Aes256Gcm],
        vec![AuthName::None],
    );
    esp.dh_group = PfsGroup::Group(DhGroupName::Group19);
    esp.lifesize = Some(Lifesize::Mb(4096));

    let mut gw = IkeGateway::new(
        "gw-branch",
        LocalAddress {
            interface: "ethernet1/1".into(),
            ip: Some(ip("192.0.2.1")),
        },
        PeerAddress::Ip(ip("192.0.2.2")),
        Authentication::PreSharedKey(PreSharedKey::new("correct horse battery staple")),
        "ike-suite-b",
    );
    gw.local_id = Some(LocalId {
        id_type: IdType::Fqdn,
        id: "hq.example.net".into(),
    });
    gw.peer_id = Some(PeerId {
        id_type: IdType::Fqdn,
        id: "branch.example.net".into(),
        matching: IdMatching::Exact,
    });
    gw.nat_traversal.enable = true;

    let mut ti = TunnelInterface::new("tunnel.1");
    ti.zone = Some("vpn".into());
    ti.ip = Some("169.254.100.1/30".parse().unwrap());
    ti.mtu = 1400;

    let mut t = IpsecTunnel::auto_key("vpn-branch", "tunnel.1", "gw-branch", "esp-gcm");
    t.tunnel_monitor = Some(TunnelMonitor::new(ip("169.254.100.2")));
    t.proxy_ids.push(ProxyId::new(
        "lan-to-lan",
        prefix("10.1.0.0/24"),
        prefix("10.2.0.0/24"),
    ));
    let mut mon = ProxyId::new(
        "monitor",
        prefix("169.254.100.1/32"),
        prefix("169.254.100.2/32"),
    );
    mon.protocol = ProxyProtocol::Number(1);
    t.proxy_ids.push(mon);

    let rule = |name: &str, from: &str, to: &str, src: &str, dst: &str| {
        let mut r = SecurityRule::new(name, strings(&[from]), strings(&[to]), RuleAction::Allow);
        r.source = vec![AddressMatch::Prefix(prefix(src))];
        r.destination = vec![AddressMatch::Prefix(prefix(dst))];
        r
    };
    let rules = vec![
        rule(
            "lan-to-branch",
            "trust",
            "vpn",
            "10.1.0.0/24",
            "10.2.0.0/24",
        ),
        rule(
            "branch-to-lan",
            "vpn",
            "trust",
            "10.2.0.0/24",
            "10.1.0.0/24",
        ),
    ];
    let mut nat = NatRule::no_nat("no-nat-vpn", strings(&["trust"]), strings(&["vpn"]));
    nat.to_interface = Some("tunnel.1".into());
    nat.source = vec![AddressMatch::Prefix(prefix("10.1.0.0/24"))];
    nat.destination = vec![AddressMatch::Prefix(prefix("10.2.0.0/24"))];

    let mut c = Config::new();
    c.ike_crypto_profiles.push(ike);
    c.ipsec_crypto_profiles.push(esp);
    c.ike_gateways.push(gw);
    c.tunnel_interfaces.push(ti);
    c.ipsec_tunnels.push(t);
    c.static_routes.push(StaticRoute::new(
        "to-branch-lan",
        prefix("10.2.0.0/24"),
        "tunnel.1",
    ));
    c.zones.push(Zone::new("trust", strings(&["ethernet1/2"])));
    c.zones.push(Zone::new("vpn", strings(&["tunnel.1"])));
    c.security_rules = rules;
    c.nat_rules.push(nat);
    c
}

#[test]
fn config_built_in_code_equals_the_loaded_one() {
    let built = hq_in_code();
    assert_eq!(built.validate(), Ok(()));
    assert_eq!(built, load(HQ));
}

#[test]
fn crypto_profiles_map_to_iana_transforms() {
    let c = load(HQ);
    let ike = c.ike_crypto_profile("ike-suite-b").unwrap().proposals();
    let gcm256 = Encryption::new(EncrId::ENCR_AES_GCM_16, 256);
    let cbc256 = Encryption::new(EncrId::ENCR_AES_CBC, 256);
    assert_eq!(
        ike[0],
        IkeProposal {
            encryption: gcm256,
            prf: PrfId::PRF_HMAC_SHA2_256,
            integrity: IntegId::NONE,
            dh_group: DhGroup::ECP_256,
        }
    );
    // 2 hashes x 2 groups for GCM (no integrity), the same for CBC with matching integrity.
    assert_eq!(ike.len(), 8);
    assert!(ike.contains(&IkeProposal {
        encryption: cbc256,
        prf: PrfId::PRF_HMAC_SHA2_384,
        integrity: IntegId::AUTH_HMAC_SHA2_384_192,
        dh_group: DhGroup::MODP_2048,
    }));
    assert!(ike
        .iter()
        .all(|p| p.encryption != gcm256 || p.integrity == IntegId::NONE));

    let esp = c.ipsec_crypto_profile("esp-gcm").unwrap().proposals();
    assert_eq!(
        esp,
        [
            IpsecProposal {
                protocol: IpsecProtocol::Esp,
                encryption: Some(Encryption::new(EncrId::ENCR_AES_GCM_16, 128)),
                integrity: IntegId::NONE,
                dh_group: DhGroup::ECP_256,
            },
            IpsecProposal {
                protocol: IpsecProtocol::Esp,
                encryption: Some(gcm256),
                integrity: IntegId::NONE,
                dh_group: DhGroup::ECP_256,
            },
        ]
    );
    assert_eq!(DhGroupName::Group31.dh_group(), DhGroup::CURVE25519);
    assert_eq!(
        CipherName::Chacha20Poly1305.encryption(),
        Encryption::new(EncrId::ENCR_CHACHA20_POLY1305, 0)
    );
    assert_eq!(PfsGroup::NoPfs.dh_group(), DhGroup::NONE);
    assert_eq!(HashName::Sha256.prf(), Some(PrfId::PRF_HMAC_SHA2_256));
    assert_eq!(
        HashName::Sha256.integrity(),
        Some(IntegId::AUTH_HMAC_SHA2_256_128)
    );
}

#[test]
fn the_two_samples_make_a_working_pair() {
    let hq = load(HQ);
    let branch = load(BRANCH);
    assert_eq!(check_pair(&hq, &branch), []);
    assert_eq!(check_pair(&branch, &hq), []);
}

#[test]
fn pair_check_finds_mismatches() {
    let hq = load(HQ);
    let edited = BRANCH
        .replace(
            "pre-shared-key = \"correct horse battery staple\"",
            "pre-shared-key = \"wrong\"",
        )
        .replace("remote = \"10.1.0.0/24\"", "remote = \"10.1.9.0/24\"")
        .replace("dh-group = \"group19\"", "dh-group = \"no-pfs\"")
        .replace(
            "peer-id = { type = \"fqdn\", id = \"hq.example.net\" }",
            "peer-id = { type = \"fqdn\", id = \"*.example.org\", matching = \"wildcard\" }",
        );
    let branch = load(&edited);
    let found = check_pair(&hq, &branch);
    let text: Vec<String> = found.iter().map(|f| f.error.to_string()).collect();
    let has = |side: PairSide, field: &str| {
        found
            .iter()
            .any(|f| f.side == side && f.error.field.as_deref() == Some(field))
    };
    assert!(
        has(PairSide::First, "authentication.pre-shared-key"),
        "{text:#?}"
    );
    assert!(has(PairSide::Second, "peer-id"), "{text:#?}");
    assert!(has(PairSide::First, "ipsec-crypto-profile"), "{text:#?}");
    assert!(has(PairSide::First, "proxy-id[lan-to-lan]"), "{text:#?}");
    assert!(has(PairSide::Second, "proxy-id[lan-to-lan]"), "{text:#?}");
    assert!(!text.iter().any(|t| t.contains("wrong")), "the key leaked");
    assert!(
        text.iter()
            .any(|t| t.contains("uses group19") && t.contains("uses no-pfs")),
        "{text:#?}"
    );

    // IKEv1 against IKEv2.
    let v1 = load(&BRANCH.replace("version = \"ikev2\"", "version = \"ikev1\""));
    let found = check_pair(&hq, &v1);
    assert!(
        found
            .iter()
            .any(|f| f.error.field.as_deref() == Some("version")
                && f.error
                    .to_string()
                    .contains("ikev2 but the peer's ike-gateway \"gw-hq\" uses ikev1")),
        "{found:#?}"
    );

    // Passive mode facing a dynamic peer: nobody initiates.
    let passive = HQ.replace(
        "ike-crypto-profile = \"ike-suite-b\"\nliveness",
        "ike-crypto-profile = \"ike-suite-b\"\npassive-mode = true\nliveness",
    );
    let dynamic = BRANCH.replace(
        "peer-address = { ip = \"192.0.2.1\" }",
        "peer-address = \"dynamic\"",
    );
    let found = check_pair(&load(&passive), &load(&dynamic));
    assert!(
        found
            .iter()
            .any(|f| f.error.field.as_deref() == Some("passive-mode")),
        "{found:#?}"
    );

    // Gateways that do not point at each other: not a pair at all.
    let elsewhere = BRANCH.replace(
        "peer-address = { ip = \"192.0.2.1\" }",
        "peer-address = { ip = \"192.0.2.99\" }",
    );
    let elsewhere = load(&elsewhere);
    assert!(gateway_pairs(&hq, &elsewhere).is_empty());
    assert_eq!(gateway_pairs(&hq, &branch), [("gw-branch", "gw-hq")]);
    let found = check_pair(&hq, &elsewhere);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].error.object.is_none());

    // No common IKE proposal.
    let other_ike = BRANCH.replace(
        "dh-group = [\"group19\", \"group14\"]",
        "dh-group = [\"group20\"]",
    );
    let found = check_pair(&hq, &load(&other_ike));
    assert!(
        found
            .iter()
            .any(|f| f.error.field.as_deref() == Some("ike-crypto-profile")),
        "{found:#?}"
    );
}
