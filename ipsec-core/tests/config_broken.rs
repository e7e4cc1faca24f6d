//! Broken configurations: each one is the headquarters sample with one mistake, and must fail
//! with an error naming the right object, field and (where given) line.

use ipsec_core::config::{Config, ConfigError, Problem};

const HQ: &str = include_str!("../../examples/configs/hq.toml");

/// One broken configuration.
struct Case {
    /// What is wrong.
    what: &'static str,
    /// Text replacements applied to hq.toml; each `from` must occur in it.
    edits: &'static [(&'static str, &'static str)],
    /// Expected object kind and name (`None`: a file-level error).
    object: Option<(&'static str, &'static str)>,
    /// Expected field.
    field: &'static str,
    /// The error must be on the line holding this text (first occurrence), when given.
    line_of: Option<&'static str>,
}

const fn case(
    what: &'static str,
    edits: &'static [(&'static str, &'static str)],
    object: Option<(&'static str, &'static str)>,
    field: &'static str,
    line_of: Option<&'static str>,
) -> Case {
    Case {
        what,
        edits,
        object,
        field,
        line_of,
    }
}

const GW: Option<(&str, &str)> = Some(("ike-gateway", "gw-branch"));
const IKE: Option<(&str, &str)> = Some(("ike-crypto-profile", "ike-suite-b"));
const ESP: Option<(&str, &str)> = Some(("ipsec-crypto-profile", "esp-gcm"));
const TUN: Option<(&str, &str)> = Some(("ipsec-tunnel", "vpn-branch"));
const TIF: Option<(&str, &str)> = Some(("tunnel-interface", "tunnel.1"));
const ROUTE: Option<(&str, &str)> = Some(("static-route", "to-branch-lan"));

const LIVENESS: &str = "liveness-check = { interval = 5 }";
const NATT: &str = "nat-traversal = { enable = true, keep-alive-interval = 20 }";
const MONITOR: &str = "tunnel-monitor = { destination-ip = \"169.254.100.2\", interval = 3, threshold = 5, action = \"wait-recover\" }";
const IKE_ENC: &str = "encryption = [\"aes-256-gcm\", \"aes-256-cbc\"]";
const ESP_ENC: &str = "encryption = [\"aes-128-gcm\", \"aes-256-gcm\"]";
const PSK: &str = "authentication = { pre-shared-key = \"correct horse battery staple\" }";

const DYNAMIC_GW: &str = r#"[[ike-gateway]]
name = "gw-dyn"
version = "ikev2"
local-address = { interface = "ethernet1/1", ip = "192.0.2.1" }
peer-address = "dynamic"
authentication = { pre-shared-key = "another key" }
ike-crypto-profile = "ike-2"

[[ike-crypto-profile]]
name = "ike-2"
dh-group = ["group20"]
hash = ["sha384"]
encryption = ["aes-256-gcm"]

[[tunnel-interface]]"#;

fn cases() -> Vec<Case> {
    vec![
        // Syntax and type errors (serde stops at the first one).
        case("TOML syntax", &[("name = \"gw-branch\"", "name = \"gw-branch")], None, "", Some("name = \"gw-branch")),
        case("unknown gateway field", &[("version = \"ikev2\"", "version = \"ikev2\"\ncolour = \"red\"")], GW, "colour", Some("colour")),
        case("unknown top-level table", &[("[[zone]]\nname = \"trust\"", "[[zones]]\nname = \"trust\"")], None, "zones", Some("[[zones]]")),
        case("unknown field in nested table", &[(LIVENESS, "liveness-check = { interval = 5, retry = 3 }")], GW, "liveness-check.retry", Some("retry = 3")),
        case("mtu of the wrong type", &[("mtu = 1400", "mtu = \"big\"")], TIF, "mtu", Some("mtu = \"big\"")),
        case("unknown IKE cipher", &[(IKE_ENC, "encryption = [\"aes-256-gcm\", \"aes-999\"]")], IKE, "encryption[1]", Some("aes-999")),
        case("unknown PFS group", &[("dh-group = \"group19\"", "dh-group = \"group99\"")], ESP, "dh-group", Some("group99")),
        case("unknown lifetime unit", &[("lifetime = { hours = 1 }", "lifetime = { weeks = 1 }")], ESP, "lifetime.weeks", Some("weeks")),
        case("unknown monitor action", &[(MONITOR, "tunnel-monitor = { destination-ip = \"169.254.100.2\", action = \"explode\" }")], TUN, "tunnel-monitor.action", Some("explode")),
        case("proxy-id prefix with host bits", &[("remote = \"10.2.0.0/24\"", "remote = \"10.2.0.1/24\"")], TUN, "proxy-id[lan-to-lan].remote", Some("10.2.0.1/24")),
        case("bad peer address", &[("peer-address = { ip = \"192.0.2.2\" }", "peer-address = { ip = \"192.0.2.300\" }")], GW, "peer-address.ip", Some("192.0.2.300")),
        case("missing peer-address", &[("peer-address = { ip = \"192.0.2.2\" }\n", "")], GW, "peer-address", Some("[[ike-gateway]]")),
        case("negative SPI-like value", &[("anti-replay-window = 1024", "anti-replay-window = -1")], TUN, "anti-replay-window", Some("anti-replay-window")),
        // Out-of-range values.
        case("IPsec lifetime too short", &[("lifetime = { hours = 1 }", "lifetime = { seconds = 60 }")], ESP, "lifetime.seconds", Some("seconds = 60")),
        case("IKE lifetime too long", &[("lifetime = { hours = 8 }", "lifetime = { days = 400 }")], IKE, "lifetime.days", Some("days = 400")),
        case("lifesize too large", &[("lifesize = { mb = 4096 }", "lifesize = { mb = 70000 }")], ESP, "lifesize.mb", Some("mb = 70000")),
        case("authentication-multiple too large", &[("lifetime = { hours = 8 }", "lifetime = { hours = 8 }\nauthentication-multiple = 51")], IKE, "authentication-multiple", Some("authentication-multiple")),
        case("liveness interval too long", &[(LIVENESS, "liveness-check = { interval = 200 }")], GW, "liveness-check.interval", Some("interval = 200")),
        case("NAT keepalive too short", &[(NATT, "nat-traversal = { enable = true, keep-alive-interval = 5 }")], GW, "nat-traversal.keep-alive-interval", Some("keep-alive-interval = 5")),
        case("MTU too small", &[("mtu = 1400", "mtu = 100")], TIF, "mtu", Some("mtu = 100")),
        case("anti-replay window not a power of two", &[("anti-replay-window = 1024", "anti-replay-window = 1000")], TUN, "anti-replay-window", Some("anti-replay-window = 1000")),
        case("anti-replay window too large", &[("anti-replay-window = 1024", "anti-replay-window = 8192")], TUN, "anti-replay-window", Some("anti-replay-window = 8192")),
        case("monitor interval too short", &[(MONITOR, "tunnel-monitor = { destination-ip = \"169.254.100.2\", interval = 1 }")], TUN, "tunnel-monitor.interval", Some("interval = 1")),
        case("monitor threshold too high", &[(MONITOR, "tunnel-monitor = { destination-ip = \"169.254.100.2\", threshold = 20 }")], TUN, "tunnel-monitor.threshold", Some("threshold = 20")),
        case("static route metric 0", &[("interface = \"tunnel.1\"\n\n[[zone]]", "interface = \"tunnel.1\"\nmetric = 0\n\n[[zone]]")], ROUTE, "metric", Some("metric = 0")),
        case("proxy-id protocol 0", &[("protocol = { number = 1 }", "protocol = { number = 0 }")], TUN, "proxy-id[monitor].protocol", Some("number = 0")),
        // Dangling references.
        case("undefined ike-gateway", &[("ike-gateway = \"gw-branch\"", "ike-gateway = \"gw-x\"")], TUN, "ike-gateway", Some("gw-x")),
        case("undefined ipsec-crypto-profile", &[("ipsec-crypto-profile = \"esp-gcm\"\nanti", "ipsec-crypto-profile = \"esp-fast\"\nanti")], TUN, "ipsec-crypto-profile", Some("esp-fast")),
        case("undefined ike-crypto-profile", &[("ike-crypto-profile = \"ike-suite-b\"\nliveness", "ike-crypto-profile = \"ike-x\"\nliveness")], GW, "ike-crypto-profile", Some("ike-x")),
        case("undefined tunnel-interface", &[("tunnel-interface = \"tunnel.1\"", "tunnel-interface = \"tunnel.2\"")], TUN, "tunnel-interface", Some("tunnel-interface = \"tunnel.2\"")),
        case("static route to undefined interface", &[("destination = \"10.2.0.0/24\"\ninterface = \"tunnel.1\"", "destination = \"10.2.0.0/24\"\ninterface = \"tunnel.9\"")], ROUTE, "interface", Some("tunnel.9")),
        case("undefined zone of a tunnel interface", &[("zone = \"vpn\"", "zone = \"dmz\"")], TIF, "zone", Some("zone = \"dmz\"")),
        case("rule from an undefined zone", &[("from = [\"trust\"]\nto = [\"vpn\"]\nsource", "from = [\"dmz\"]\nto = [\"vpn\"]\nsource")], Some(("security-rule", "lan-to-branch")), "from[0]", Some("\"dmz\"")),
        case("NAT to an undefined interface", &[("to-interface = \"tunnel.1\"", "to-interface = \"tunnel.5\"")], Some(("nat-rule", "no-nat-vpn")), "to-interface", Some("tunnel.5")),
        // Duplicates.
        case("duplicate zone name", &[("name = \"trust\"", "name = \"vpn\"")], Some(("zone", "vpn")), "name", Some("name = \"vpn\"\ninterfaces = [\"tunnel.1\"]")),
        case("duplicate proxy-id name", &[("name = \"monitor\"", "name = \"lan-to-lan\"")], TUN, "proxy-id[lan-to-lan].name", Some("name = \"lan-to-lan\"                   #")),
        // Impossible combinations.
        case("AH with encryption", &[("protocol = \"esp\"", "protocol = \"ah\"")], ESP, "encryption", Some(ESP_ENC)),
        case("CBC with authentication none", &[(ESP_ENC, "encryption = [\"aes-128-cbc\"]")], ESP, "authentication", Some("authentication = [\"none\"]")),
        case("null with authentication none", &[(ESP_ENC, "encryption = [\"null\"]")], ESP, "authentication", Some("authentication = [\"none\"]")),
        case("GCM-only IKE profile with integrity", &[(IKE_ENC, "encryption = [\"aes-256-gcm\"]\nintegrity = [\"sha256\"]")], IKE, "integrity", Some("integrity = ")),
        case("IKE hash non-auth only", &[("hash = [\"sha256\", \"sha384\"]", "hash = [\"non-auth\"]")], IKE, "hash", Some("non-auth")),
        case("null cipher in an IKE profile", &[(IKE_ENC, "encryption = [\"null\"]")], IKE, "encryption", Some("encryption = [\"null\"]")),
        case("proxy-id families differ", &[("remote = \"10.2.0.0/24\"", "remote = \"2001:db8::/64\"")], TUN, "proxy-id[lan-to-lan].remote", Some("2001:db8::/64")),
        case("tunnel interface in no zone", &[("zone = \"vpn\"\n", ""), ("interfaces = [\"tunnel.1\"]", "interfaces = []")], TIF, "zone", Some("[[tunnel-interface]]")),
        case("tunnel monitor without an address", &[("ip = \"169.254.100.1/30\"\n", "")], TUN, "tunnel-monitor.destination-ip", Some("tunnel-monitor")),
        case("bad tunnel interface name", &[("name = \"tunnel.1\"", "name = \"tunnel.0\"")], Some(("tunnel-interface", "tunnel.0")), "name", Some("tunnel.0")),
        case("certificate authentication with an undefined certificate", &[(PSK, "authentication = { certificate = { local-certificate = \"hq\" } }")], GW, "authentication.certificate.local-certificate", Some("certificate")),
        case("certificate authentication without a profile", &[(PSK, "authentication = { certificate = { local-certificate = \"hq\" } }")], GW, "authentication.certificate.certificate-profile", Some("certificate")),
        case("local-id ipaddr that is not an address", &[("local-id = { type = \"fqdn\", id = \"hq.example.net\" }", "local-id = { type = \"ipaddr\", id = \"hq.example.net\" }")], GW, "local-id.id", Some("local-id")),
        case("empty pre-shared key", &[(PSK, "authentication = { pre-shared-key = \"\" }")], GW, "authentication.pre-shared-key", Some("pre-shared-key")),
        case("monitor destination outside every proxy-id", &[("destination-ip = \"169.254.100.2\"", "destination-ip = \"169.254.100.9\"")], TUN, "tunnel-monitor.destination-ip", Some("169.254.100.9")),
        case("dynamic-peer gateways on one address with different profiles", &[("[[tunnel-interface]]", DYNAMIC_GW)], Some(("ike-gateway", "gw-dyn")), "ike-crypto-profile", Some("ike-crypto-profile = \"ike-2\"")),
        case("both manual key and IKE", &[(MONITOR, "manual-key = { local-spi = 4096, remote-spi = 4097, local-address = { interface = \"ethernet1/1\" }, peer-address = { ip = \"192.0.2.2\" }, esp = { encryption = { algorithm = \"aes-128-cbc\", key = \"00112233445566778899aabbccddeeff\" }, authentication = { algorithm = \"sha256\", key = \"00\" } } }")], TUN, "manual-key", Some("manual-key")),
    ]
}

fn line_of(text: &str, marker: &str) -> usize {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("marker {marker:?} not in text"));
    text[..at].matches('\n').count() + 1
}

fn matches(e: &ConfigError, c: &Case, text: &str) -> bool {
    let object_ok = match (c.object, &e.object) {
        (None, None) => true,
        (Some((kind, name)), Some(o)) => o.kind.as_str() == kind && o.name.as_deref() == Some(name),
        _ => false,
    };
    let field_ok = if c.field.is_empty() {
        e.field.is_none()
    } else {
        e.field.as_deref() == Some(c.field)
    };
    let line_ok = match c.line_of {
        None => true,
        Some(m) => e.location.map(|l| l.line) == Some(line_of(text, m)),
    };
    object_ok && field_ok && line_ok
}

#[test]
fn every_broken_config_names_object_field_and_line() {
    let cases = cases();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for c in &cases {
        let mut text = HQ.to_string();
        for (from, to) in c.edits {
            assert!(text.contains(from), "{}: {from:?} not in hq.toml", c.what);
            text = text.replacen(from, to, 1);
        }
        match Config::from_toml_str(&text) {
            Ok(_) => failures.push(format!("{}: loaded without error", c.what)),
            Err(errors) => {
                if !errors.iter().any(|e| matches(e, c, &text)) {
                    let shown: Vec<String> = errors
                        .iter()
                        .map(|e| format!("{e}  [object {:?}, field {:?}]", e.object, e.field))
                        .collect();
                    failures.push(format!("{}: got {shown:#?}", c.what));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_read_like_pan_os_messages() {
    let text = HQ.replace("ike-gateway = \"gw-branch\"", "ike-gateway = \"gw-x\"");
    let errors = Config::from_toml_str(&text).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let line = line_of(&text, "gw-x");
    assert_eq!(
        errors[0].to_string(),
        format!("line {line}, column 1: ipsec-tunnel \"vpn-branch\": ike-gateway \"gw-x\" is not defined")
    );
    assert!(matches!(errors[0].problem, Problem::Undefined { .. }));
}

#[test]
fn all_semantic_errors_are_reported_not_only_the_first() {
    let text = HQ
        .replace("mtu = 1400", "mtu = 100")
        .replace("ike-gateway = \"gw-branch\"", "ike-gateway = \"gw-x\"")
        .replace(LIVENESS, "liveness-check = { interval = 200 }")
        .replace("protocol = \"esp\"", "protocol = \"ah\"");
    let errors = Config::from_toml_str(&text).unwrap_err();
    let fields: Vec<_> = errors.iter().filter_map(|e| e.field.as_deref()).collect();
    for f in [
        "mtu",
        "ike-gateway",
        "liveness-check.interval",
        "encryption",
        "authentication",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    assert!(errors.iter().all(|e| e.location.is_some()));
}

#[test]
fn code_built_config_errors_have_no_location() {
    let mut c = Config::from_toml_str(HQ).unwrap();
    c.ipsec_tunnels[0].anti_replay_window = 100;
    let errors = c.validate().unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field.as_deref(), Some("anti-replay-window"));
    assert_eq!(errors[0].location, None);
    assert!(matches!(errors[0].problem, Problem::OutOfRange { .. }));
}

#[test]
fn weak_algorithms_load_with_warnings() {
    let text = HQ
        .replace(IKE_ENC, "encryption = [\"3des\", \"des\"]")
        .replace(
            "hash = [\"sha256\", \"sha384\"]",
            "hash = [\"md5\", \"sha1\"]",
        )
        .replace(
            "dh-group = [\"group19\", \"group14\"]",
            "dh-group = [\"group1\", \"group2\", \"group5\"]",
        );
    let c = Config::from_toml_str(&text).unwrap();
    let w = c.warnings();
    let count = |field: &str| w.iter().filter(|w| w.field == field).count();
    assert_eq!(count("encryption"), 2, "{w:#?}");
    assert_eq!(count("hash"), 2, "{w:#?}");
    assert_eq!(count("dh-group"), 3, "{w:#?}");
    assert!(w
        .iter()
        .all(|w| w.object.to_string() == "ike-crypto-profile \"ike-suite-b\""));
    assert!(w.iter().any(|w| w.why.contains("3des")));
}

#[test]
fn missing_file_is_an_io_error() {
    let errors = Config::load("/nonexistent/ipsec.toml").unwrap_err();
    assert!(matches!(errors[0].problem, Problem::Io(_)));
    assert!(errors[0].object.is_none());
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        "[[ike-gateway]]",
        "ike-gateway = 5",
        "[[ipsec-tunnel]]\nname = 1",
        "[[ipsec-tunnel.proxy-id]]\nname = \"x\"",
        "\u{feff}[[zone]]\nname=\"é\"\ninterfaces=[1]",
        "[[zone]]\nname = \"z\"\ninterfaces = [\"tunnel.1\"]\n[[zone]]\nname = \"z\"",
    ] {
        let _ = Config::from_toml_str(text);
    }
    assert_eq!(Config::from_toml_str("").unwrap(), Config::new());
}

/// A manual-key tunnel appended to hq.toml.
const MANUAL: &str = r#"
[[tunnel-interface]]
name = "tunnel.2"
zone = "vpn"

[[ipsec-tunnel]]
name = "manual"
tunnel-interface = "tunnel.2"
anti-replay = false
ipsec-mode = "transport"
copy-tos = true

[ipsec-tunnel.manual-key]
local-spi = 0x1000
remote-spi = 0x2000
local-address = { interface = "ethernet1/1", ip = "192.0.2.1" }
peer-address = { ip = "192.0.2.3" }
esp = { encryption = { algorithm = "aes-128-cbc", key = "00112233445566778899aabbccddeeff" }, authentication = { algorithm = "sha256", key = "0x00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11:12:13:14:15:16:17:18:19:1a:1b:1c:1d:1e:1f" } }
"#;

#[test]
fn manual_key_tunnels_load_and_their_keys_are_checked() {
    let text = format!("{HQ}{MANUAL}");
    let c = Config::from_toml_str(&text).unwrap();
    let t = c.ipsec_tunnel("manual").unwrap();
    let mk = t.manual_key.as_ref().unwrap();
    assert_eq!((mk.local_spi, mk.remote_spi), (0x1000, 0x2000));
    let esp = mk.esp.as_ref().unwrap();
    assert_eq!(
        esp.encryption.key.as_ref().unwrap().0.expose()[..2],
        [0x00, 0x11]
    );
    assert_eq!(esp.authentication.key.as_ref().unwrap().0.len(), 32);
    assert_eq!(
        esp.authentication.key.as_ref().unwrap().0.expose()[31],
        0x1f
    );
    assert_eq!(t.replay_window(), 0);
    assert_eq!(t.ipsec_mode.mode(), ipsec_core::child_sa::Mode::Transport);
    assert!(
        !format!("{mk:?}").contains("0011"),
        "keys must not be printed"
    );
    let w = c.warnings();
    assert!(w.iter().any(|w| w.field == "manual-key"), "{w:?}");
    assert!(w.iter().any(|w| w.field == "anti-replay"), "{w:?}");

    let short = text.replace(
        "key = \"00112233445566778899aabbccddeeff\"",
        "key = \"0011\"",
    );
    let errors = Config::from_toml_str(&short).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(
        errors[0].field.as_deref(),
        Some("manual-key.esp.encryption.key")
    );

    for (bad, why) in [
        (
            "0x00112233445566778899aabbccddeeg0",
            "key is not hexadecimal",
        ),
        (
            "0x00112233445566778899aabbccddeef",
            "hex key has an odd number of digits",
        ),
    ] {
        let broken = text.replace("00112233445566778899aabbccddeeff", bad);
        let errors = Config::from_toml_str(&broken).unwrap_err();
        assert_eq!(
            errors[0].field.as_deref(),
            Some("manual-key.esp.encryption.key"),
            "{errors:#?}"
        );
        assert!(errors[0].to_string().contains(why), "{}", errors[0]);
    }

    let reserved = text.replace("local-spi = 0x1000", "local-spi = 200");
    let errors = Config::from_toml_str(&reserved).unwrap_err();
    assert_eq!(errors[0].field.as_deref(), Some("manual-key.local-spi"));
    assert_eq!(
        errors[0].location.map(|l| l.line),
        Some(line_of(&reserved, "local-spi = 200"))
    );

    let not_hex = text.replace("key = \"00112233445566778899aabbccddeeff\"", "key = \"zz\"");
    let errors = Config::from_toml_str(&not_hex).unwrap_err();
    assert_eq!(
        errors[0].field.as_deref(),
        Some("manual-key.esp.encryption.key"),
        "{errors:#?}"
    );
}

#[test]
fn ipv6_proxy_ids_and_ports_load() {
    let text = format!(
        "{HQ}{}",
        r#"
[[ipsec-tunnel.proxy-id-v6]]
name = "v6-web"
local = "2001:db8:1::/64"
remote = "2001:db8:2::/64"
protocol = { tcp = { remote-port = 443 } }
"#
    );
    let c = Config::from_toml_str(&text).unwrap();
    let t = c.ipsec_tunnel("vpn-branch").unwrap();
    let p = &t.proxy_ids_v6[0];
    assert_eq!(p.protocol.ip_protocol(), 6);
    let ports = p.protocol.ports().unwrap();
    assert_eq!((ports.local_port, ports.remote_port), (0, 443));
    assert_eq!(t.all_proxy_ids().count(), 3);

    // An IPv4 proxy ID in the IPv6 list is an error naming the entry.
    let wrong = text.replace(
        "local = \"2001:db8:1::/64\"\nremote = \"2001:db8:2::/64\"",
        "local = \"10.9.0.0/16\"\nremote = \"10.8.0.0/16\"",
    );
    let errors = Config::from_toml_str(&wrong).unwrap_err();
    assert_eq!(
        errors[0].field.as_deref(),
        Some("proxy-id-v6[v6-web].local"),
        "{errors:#?}"
    );
}

#[test]
fn unknown_field_errors_list_the_valid_fields() {
    let text = HQ.replace(
        "mtu = 1400",
        "mtu = 1400
mtus = 1",
    );
    let errors = Config::from_toml_str(&text).unwrap_err();
    let shown = errors[0].to_string();
    assert!(shown.contains("unknown field `mtus`"), "{shown}");
    assert!(shown.contains("expected one of"), "{shown}");
    assert!(shown.contains("`virtual-router`"), "{shown}");
}

mod fuzzish {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Cutting, inserting or replacing text anywhere in a valid file never panics, and every
        /// error found in text carries a line.
        #[test]
        fn mutated_samples_never_panic(at in 0usize..2600, cut in 0usize..40, insert in "[ -~\n]{0,12}") {
            let mut bytes = HQ.as_bytes().to_vec();
            let at = at.min(bytes.len());
            let end = (at + cut).min(bytes.len());
            bytes.splice(at..end, insert.bytes());
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if let Err(errors) = Config::from_toml_str(&text) {
                prop_assert!(!errors.is_empty());
                for e in &errors {
                    prop_assert!(e.location.is_some(), "no location: {e}\n{text}");
                }
            }
        }
    }
}
