//! Object names follow PAN-OS's rules (letters, digits, spaces, `-`, `_`, `.`): a name with a
//! control character, an ANSI escape, a bidirectional override or another character PAN-OS
//! refuses is an error naming the object, the field and the line, and no error text ever carries
//! such a character raw.

use ipsec_core::config::*;
use ipsec_core::text::needs_escape;

const HQ: &str = include_str!("../../examples/configs/hq.toml");

/// The 1-based line of the first line of `text` that is exactly `name = "<value>"` (before any
/// comment).
fn name_line(text: &str, value: &str) -> usize {
    let want = format!("name = \"{value}\"");
    text.lines()
        .position(|l| l.split('#').next().unwrap().trim_end() == want)
        .unwrap_or_else(|| panic!("{want}"))
        + 1
}

/// `HQ` with every quoted occurrence of `from` (definition and references) replaced by `to`,
/// written as TOML escapes.
fn renamed(text: &str, from: &str, to: &str) -> String {
    text.replace(&format!("\"{from}\""), &format!("\"{to}\""))
}

#[test]
fn names_with_control_or_foreign_characters_are_refused_where_they_stand() {
    // (kind, field, original name, hostile name in TOML escapes)
    let cases = [
        (
            ObjectKind::IkeGateway,
            "name",
            "gw-branch",
            r"gw\u001b[2Jbranch",
        ),
        (
            ObjectKind::IkeCryptoProfile,
            "name",
            "ike-suite-b",
            r"ike\nsuite-b",
        ),
        (ObjectKind::Zone, "name", "trust", r"trust\u0000"),
        (
            ObjectKind::IpsecTunnel,
            "proxy-id[mon\\titor].name",
            "monitor",
            r"mon\titor",
        ),
        (
            ObjectKind::SecurityRule,
            "name",
            "lan-to-branch",
            "lan/branch",
        ),
        (
            ObjectKind::NatRule,
            "name",
            "no-nat-vpn",
            r"no\u202Enat-vpn",
        ),
        (ObjectKind::IpsecTunnel, "name", "vpn-branch", "vpn<b>"),
        (
            ObjectKind::StaticRoute,
            "name",
            "to-branch-lan",
            r"to\u009b31mbranch",
        ),
    ];
    for (kind, field, from, to) in cases {
        let line = name_line(HQ, from);
        let text = renamed(HQ, from, to);
        let errors = Config::from_toml_str(&text).expect_err(to);
        let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 1, "{to}: {shown:#?}");
        let e = &errors[0];
        assert_eq!(e.object.as_ref().map(|o| o.kind), Some(kind), "{to}");
        assert_eq!(
            e.field.as_deref().map(ipsec_core::text::escape).as_deref(),
            Some(field),
            "{to}"
        );
        assert_eq!(e.location.map(|l| l.line), Some(line), "{to}: {}", shown[0]);
        assert!(matches!(e.problem, Problem::InvalidValue(_)), "{to}");
        assert!(
            !shown[0].chars().any(needs_escape),
            "{to}: raw control in {:?}",
            shown[0]
        );
        assert!(
            shown[0].contains("names use letters, digits, spaces, '-', '_' and '.'"),
            "{}",
            shown[0]
        );
    }
}

#[test]
fn the_characters_pan_os_allows_are_accepted() {
    let mut text = HQ.to_string();
    for (from, to) in [
        ("gw-branch", "GW Branch_2.old"),
        ("trust", "Trust Zone"),
        ("lan-to-lan", "lan to lan 1"),
        ("lan-to-branch", "règle-1"),
    ] {
        text = renamed(&text, from, to);
    }
    let c = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(c.ike_gateway("GW Branch_2.old").is_some());
}

#[test]
fn interface_names_with_control_characters_are_refused() {
    let text = HQ.replace(
        r#"interfaces = ["ethernet1/2"]"#,
        r#"interfaces = ["ethernet1/2\r\n"]"#,
    );
    let line = text
        .lines()
        .position(|l| l.starts_with("interfaces = [\"ethernet1/2"))
        .unwrap()
        + 1;
    let errors = Config::from_toml_str(&text).unwrap_err();
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(errors.len(), 1, "{shown:#?}");
    assert_eq!(errors[0].field.as_deref(), Some("interfaces[0]"));
    assert_eq!(errors[0].location.map(|l| l.line), Some(line));
    assert_eq!(
        shown[0],
        format!(
            r#"line {line}, column 15: zone "trust": interfaces[0]: "ethernet1/2\r\n" contains a control character"#
        )
    );
}

#[test]
fn names_built_in_code_are_checked_too_and_printed_escaped() {
    let mut c = Config::from_toml_str(HQ).unwrap();
    c.ike_gateways[0].name = "gw\u{1b}]0;pwned\u{7}".into();
    c.ipsec_tunnels[0].ike_gateway = Some(c.ike_gateways[0].name.clone());
    let errors = c.validate().unwrap_err();
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        shown,
        vec![
            r#"ike-gateway "gw\u{1b}]0;pwned\u{7}": name: "gw\u{1b}]0;pwned\u{7}" contains a control character; names use letters, digits, spaces, '-', '_' and '.'"#
        ]
    );
}
