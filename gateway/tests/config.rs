//! Building gateways from configurations: the sample firewalls run as written; what a
//! configuration says and the gateway does not do is a warning, never silence.

use gateway::{default_provider, Config, Error, Gateway};

const HQ: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/configs/hq.toml");
const BRANCH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/configs/branch.toml"
);

#[test]
fn the_sample_firewalls_run_as_written() {
    for path in [HQ, BRANCH] {
        let gw = Gateway::new(Config::load(path).unwrap(), default_provider()).unwrap();
        assert!(gw.warnings().is_empty(), "{path}: {:?}", gw.warnings());
        let t1 = gw.interface("tunnel.1").expect("tunnel.1");
        assert_eq!(gw.interface_name(t1), Some("tunnel.1"));
        assert!(gw.interface("ethernet1/2").is_some(), "a zone names it");
        let monitors = gw.show_monitors();
        assert_eq!(monitors.len(), 1);
        assert_eq!(monitors[0].action, "wait-recover");
        let nat = gw.show_nat_rules();
        assert_eq!(
            (nat[0].name.as_str(), nat[0].action),
            ("no-nat-vpn", "no-nat")
        );
    }
}

#[test]
fn what_the_gateway_does_not_do_is_warned_about() {
    let mut text = std::fs::read_to_string(HQ).unwrap();
    text.push_str(
        r#"
[[nat-rule]]
name = "hide-lan"
from = ["trust"]
to = ["vpn"]
source-translation = { dynamic-ip-and-port = { interface = "ethernet1/1" } }

[[security-rule]]
name = "web"
from = ["trust"]
to = ["vpn"]
application = ["web-browsing"]
action = "allow"

[[tunnel-interface]]
name = "tunnel.2"
zone = "vpn"

[[ipsec-tunnel]]
name = "transport"
tunnel-interface = "tunnel.2"
ike-gateway = "gw-branch"
ipsec-crypto-profile = "esp-gcm"
ipsec-mode = "transport"
"#,
    );
    let text = text.replace(
        "interfaces = [\"tunnel.1\"]",
        "interfaces = [\"tunnel.1\", \"tunnel.2\"]",
    );
    let gw = Gateway::new(Config::from_toml_str(&text).unwrap(), default_provider()).unwrap();
    let warnings: Vec<String> = gw.warnings().iter().map(|w| w.to_string()).collect();
    let has = |prefix: &str, part: &str| {
        warnings
            .iter()
            .any(|w| w.starts_with(prefix) && w.contains(part))
    };
    assert!(
        has("nat-rule \"hide-lan\"", "not performed"),
        "{warnings:#?}"
    );
    assert!(has("security-rule \"web\"", "App-ID"), "{warnings:#?}");
    assert!(
        has("ipsec-tunnel \"transport\"", "transport"),
        "{warnings:#?}"
    );
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
}

#[test]
fn bad_configurations_and_commands_fail_with_a_named_cause() {
    let mut cfg = Config::load(HQ).unwrap();
    cfg.ike_gateways[0].local_address.ip = None;
    match Gateway::new(cfg, default_provider()) {
        Err(Error::Config(e)) => assert!(e.to_string().contains("gw-branch"), "{e}"),
        other => panic!("{other:?}"),
    }
    let mut gw = Gateway::new(Config::load(HQ).unwrap(), default_provider()).unwrap();
    let now = gateway::Instant::from_secs(1);
    assert!(matches!(
        gw.set_interface_address("ethernet9/9", "10.9.0.1/24".parse().unwrap()),
        Err(Error::UnknownInterface(_))
    ));
    assert!(matches!(
        gw.set_interface_address("tunnel.1", "10.9.0.1/24".parse().unwrap()),
        Err(Error::Interface(..))
    ));
    assert!(matches!(
        gw.connect(now, "no-such-tunnel"),
        Err(Error::Ike(_))
    ));
    assert!(
        matches!(gw.rekey_child(now, "vpn-branch"), Err(Error::Ike(_))),
        "not up yet"
    );
}
