//! The sample PAN-OS configurations (`examples/configs/hq.toml`, `branch.toml`) resolve into
//! endpoint configurations that negotiate with each other.

use core::time::Duration;
use ikev2::config::EndpointConfig;
use ikev2::testing::{Pair, Side};
use ikev2::Event;
use ipsec_core::config::Config;

fn load(name: &str) -> EndpointConfig {
    let path = format!("{}/../examples/configs/{name}", env!("CARGO_MANIFEST_DIR"));
    let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{path}: {e:?}"));
    EndpointConfig::from_config(&cfg).unwrap()
}

/// ```text
/// hq (initiator)                           branch (responder)
/// IKE_SA_INIT (group19, aes-256-gcm...) -->
///                                       <--  IKE_SA_INIT
/// IKE_AUTH (proxy ID lan-to-lan)        -->
///                                       <--  IKE_AUTH
/// CREATE_CHILD_SA (proxy ID monitor)    -->
///                                       <--  CREATE_CHILD_SA
/// ```
#[test]
fn hq_and_branch_samples_negotiate() {
    let hq = load("hq.toml");
    let branch = load("branch.toml");
    assert_eq!(hq.gateways.len(), 1);
    assert_eq!(hq.tunnels[0].proxy_ids.len(), 2);
    let tunnel = hq.tunnels[0].name.clone();
    let mut p = Pair::new(hq, branch, 31);
    p.left.connect(p.now, &tunnel).unwrap();
    assert!(p.drive_until(Duration::from_secs(5), |p| {
        p.left.ike_sas().iter().any(|s| s.children.len() == 2)
            && p.right.ike_sas().iter().any(|s| s.children.len() == 2)
    }));
    let child = p
        .left_events
        .iter()
        .find_map(|e| match e {
            Event::ChildSaUp { child, .. } => Some(child.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(child.proxy_id.as_deref(), Some("lan-to-lan"));
    assert_eq!(child.replay_window, 1024);
    assert_eq!(child.lifetimes.hard_time, Some(Duration::from_secs(3600)));
    // The profile's lifesize (4096 MB), soft at 90 % like the time lifetime.
    assert_eq!(child.lifetimes.hard_bytes, Some(4096 << 20));
    assert_eq!(child.lifetimes.soft_bytes, Some(3_865_470_567));
    for side in [&p.left, &p.right] {
        let mut names: Vec<Option<String>> = side.ike_sas()[0]
            .children
            .iter()
            .map(|c| c.proxy_id.clone())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [Some("lan-to-lan".to_string()), Some("monitor".to_string())]
        );
    }
    let show = p.left.ike_sas()[0].to_string();
    assert!(
        show.starts_with("gw-branch        192.0.2.1[500] -> 192.0.2.2[500] "),
        "{show}"
    );
    assert!(
        show.contains(" Init Established aes-256-gcm/sha256/group19 NAT not detected\n"),
        "{show}"
    );
    assert!(show.contains("  vpn-branch:lan-to-lan SPI in "), "{show}");
    assert!(show.contains("  vpn-branch:monitor SPI in "), "{show}");
    assert!(
        show.contains(
            " ESP local 169.254.100.1/32 protocol 1 remote 169.254.100.2/32 protocol 1\n"
        ),
        "{show}"
    );
    assert!(
        show.contains(" ESP local 10.1.0.0/24 remote 10.2.0.0/24\n"),
        "{show}"
    );
    for e in &p.left_events {
        println!("hq: {e}");
    }
    for e in &p.right_events {
        println!("branch: {e}");
    }
}

/// The IPsec crypto profile's lifesize reaches the Child SA lifetimes, whatever its unit, and
/// a profile without one gives no volume limit.
#[test]
fn lifesize_becomes_the_byte_lifetimes() {
    use ipsec_core::config::Lifesize;
    let path = format!("{}/../examples/configs/hq.toml", env!("CARGO_MANIFEST_DIR"));
    for (size, hard) in [
        (Some(Lifesize::Kb(10)), Some(10_240u64)),
        (Some(Lifesize::Gb(2)), Some(2 << 30)),
        (None, None),
    ] {
        let mut cfg = Config::load(&path).unwrap();
        cfg.ipsec_crypto_profiles[0].lifesize = size;
        let resolved = EndpointConfig::from_config(&cfg).unwrap();
        assert_eq!(resolved.tunnels[0].lifesize, hard);
        let tunnel = resolved.tunnels[0].name.clone();
        let mut p = Pair::new(resolved, load("branch.toml"), 32);
        p.left.connect(p.now, &tunnel).unwrap();
        assert!(p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)));
        let child = &p.left.ike_sas()[0].children[0];
        assert_eq!(child.lifetimes.hard_bytes, hard);
        assert_eq!(child.lifetimes.soft_bytes, hard.map(|h| h - h / 10));
        if let Some(10_240) = hard {
            assert_eq!(child.lifetimes.soft_bytes, Some(9_216));
        }
    }
}

#[test]
fn unsupported_objects_are_named() {
    let mut cfg = Config::load(format!(
        "{}/../examples/configs/hq.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    cfg.ike_gateways[0].peer_address =
        ipsec_core::config::PeerAddress::Fqdn("branch.example.net".into());
    let err = EndpointConfig::from_config(&cfg).unwrap_err().to_string();
    assert!(err.contains("ike-gateway \"gw-branch\""), "{err}");
}

/// A directory with the `kind` fixtures of the test PKI that `names` list, private keys at
/// mode 0600 as the loader demands (git does not keep file modes).
fn pki_dir(kind: &str, tag: &str, names: &[&str]) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("ikev2-from-config-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = format!("{}/../testdata/pki/{kind}", env!("CARGO_MANIFEST_DIR"));
    for n in names {
        std::fs::copy(format!("{src}/{n}"), dir.join(n)).unwrap();
        if n.ends_with(".key") {
            std::fs::set_permissions(dir.join(n), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
    dir
}

/// The sample hq.toml or branch.toml switched to certificates: `cert` with `key` as our own,
/// the root CA trusted, and `ids` replacing the sample's `local-id`/`peer-id` lines.
fn cert_sample(dir: &std::path::Path, sample: &str, cert: &str, ids: &str) -> Config {
    let path = format!(
        "{}/../examples/configs/{sample}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("local-id") && !l.starts_with("peer-id"))
        .map(|l| {
            if l.starts_with("authentication = { pre-shared-key") {
                format!(
                    "authentication = {{ certificate = {{ local-certificate = \"ours\", \
                     certificate-profile = \"test-pki\" }} }}\n{ids}\n"
                )
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let text = format!(
        "{text}
[[certificate]]
name = \"ours\"
certificate-file = \"{cert}.crt\"
private-key-file = \"{cert}.key\"

[[certificate]]
name = \"root\"
certificate-file = \"root-ca.crt\"

[[certificate-profile]]
name = \"test-pki\"
ca = [\"root\"]
"
    );
    let file = dir.join(sample);
    std::fs::write(&file, text).unwrap();
    Config::load(&file).unwrap_or_else(|e| panic!("{e:#?}"))
}

/// Certificate authentication from the PAN-OS model: without `local-id` a gateway identifies
/// itself by its certificate's subject DN (DER, RFC 7296 section 3.5); a `dn` local-id is sent
/// as DER too, not as its text; `peer-id` DN patterns match by value. Then the two resolved
/// samples negotiate.
#[test]
fn certificate_samples_negotiate() {
    use ikev2::config::Authentication;
    use ikev2::identity::{IdPattern, Identity};
    use ipsec_core::pki::DistinguishedName;
    let dir = pki_dir(
        "ecdsa-p384",
        "samples",
        &[
            "hq.crt",
            "hq.key",
            "branch.crt",
            "branch.key",
            "root-ca.crt",
            "intermediate-ca.crt",
        ],
    );
    // hq's certificate is issued by the intermediate CA: its file carries both, as CERTs.
    let chain =
        ["hq.crt", "intermediate-ca.crt"].map(|f| std::fs::read_to_string(dir.join(f)).unwrap());
    std::fs::write(dir.join("hq.crt"), chain.concat()).unwrap();
    // hq: default ID; expects branch by a DN pattern.
    let hq = cert_sample(
        &dir,
        "hq.toml",
        "hq",
        "peer-id = { type = \"dn\", id = \"C=CH, O=ipsec-rs test, CN=branch.*\", matching = \"wildcard\" }",
    );
    // branch: its DN written out (reversed, as some admins do); expects hq's exact DN.
    let branch = cert_sample(
        &dir,
        "branch.toml",
        "branch",
        "local-id = { type = \"dn\", id = \"CN=branch.example.net, O=ipsec-rs test, C=CH\" }\n\
         peer-id = { type = \"dn\", id = \"C=CH, O=ipsec-rs test, CN=hq.example.net\" }",
    );
    let hq = EndpointConfig::from_config(&hq).unwrap();
    let branch = EndpointConfig::from_config(&branch).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let g = &hq.gateways[0];
    let Authentication::Certificate(c) = &g.auth else {
        panic!("certificates expected");
    };
    let subject = c.credential.certificate().subject_der().to_vec();
    assert_eq!(g.local_id, Identity::Dn(subject.clone()));
    assert!(matches!(g.peer_id, Some(IdPattern::DnGlob(_))));
    match &branch.gateways[0].local_id {
        Identity::Dn(der) => {
            let dn = DistinguishedName::from_der(der).expect("DER, not text");
            assert_eq!(
                dn.to_string(),
                "CN=branch.example.net, O=ipsec-rs test, C=CH"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(branch.gateways[0]
        .peer_id
        .as_ref()
        .unwrap()
        .matches(&Identity::Dn(subject)));
    let tunnel = hq.tunnels[0].name.clone();
    let mut p = Pair::new(hq, branch, 33);
    p.left.connect(p.now, &tunnel).unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| {
            p.tunnel_up(Side::Left) && p.tunnel_up(Side::Right)
        }),
        "{:?}\n{:?}",
        p.left_events,
        p.right_events
    );
}
