//! `ipsec-demo` end to end: the sample configurations bring up both proxy IDs and carry traffic;
//! a pre-shared key mismatch fails the run with AUTHENTICATION_FAILED.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output};

const DEMO: &str = env!("CARGO_BIN_EXE_ipsec-demo");
const HQ: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/hq.toml");
const BRANCH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/branch.toml");

fn run(args: &[&str]) -> (Output, String, String) {
    let out = Command::new(DEMO)
        .args(args)
        .output()
        .expect("run ipsec-demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// The lines printed under `admin@<fw>> <command>`, up to the next blank line.
fn section<'a>(stdout: &'a str, fw: &str, command: &str) -> Vec<&'a str> {
    let header = format!("admin@{fw}> {command}");
    let mut lines = stdout.lines().skip_while(|l| *l != header);
    assert_eq!(
        lines.next(),
        Some(header.as_str()),
        "no `{header}` in:\n{stdout}"
    );
    lines.take_while(|l| !l.is_empty()).collect()
}

/// One row of `show vpn ipsec-sa`.
#[derive(Debug)]
struct Row {
    tunnel: String,
    spi_in: String,
    spi_out: String,
    life: String,
    packets: (u64, u64),
    bytes: (u64, u64),
    proxy_id: String,
}

fn pair(s: &str) -> (u64, u64) {
    let (a, b) = s.split_once('/').expect("in/out");
    (a.parse().expect("number"), b.parse().expect("number"))
}

fn ipsec_sa_rows(stdout: &str, fw: &str) -> Vec<Row> {
    let lines = section(stdout, fw, "show vpn ipsec-sa");
    assert!(lines[0].starts_with("Tunnel(Gateway)"), "{lines:?}");
    lines[1..]
        .iter()
        .take_while(|l| !l.starts_with("Show IPSec SA"))
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            assert!(c.len() >= 10, "short row {l:?}");
            Row {
                tunnel: c[0].to_owned(),
                spi_in: c[3].to_owned(),
                spi_out: c[4].to_owned(),
                life: c[5].to_owned(),
                packets: pair(c[7]),
                bytes: pair(c[8]),
                proxy_id: c[9].trim_end_matches(':').to_owned(),
            }
        })
        .collect()
}

#[test]
fn sample_configs_bring_up_both_proxy_ids_and_carry_traffic() {
    let (out, stdout, stderr) = run(&[]);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status
    );
    assert_eq!(stdout.lines().last(), Some("demo: ok"), "{stdout}");
    // One connect per ipsec-tunnel brings up all its proxy IDs.
    assert!(
        stdout
            .lines()
            .any(|l| l == "hq initiates: vpn-branch (proxy IDs lan-to-lan, monitor)"),
        "{stdout}"
    );

    // show vpn ike-sa: one established IKE SA per side, the same SPI pair, ESP in UDP.
    let ike = |fw: &str, gw: &str, role: &str, path: &str| -> String {
        let lines = section(&stdout, fw, "show vpn ike-sa");
        let sa: Vec<&&str> = lines.iter().filter(|l| l.starts_with(gw)).collect();
        assert_eq!(sa.len(), 1, "{fw}: {lines:?}");
        let l = sa[0];
        // Below the IKE SA, one line per Child SA, named tunnel:proxy-id.
        for pid in ["lan-to-lan", "monitor"] {
            let tunnel = if fw == "hq" { "vpn-branch" } else { "vpn-hq" };
            let name = format!("  {tunnel}:{pid} SPI in ");
            assert!(
                lines.iter().any(|l| l.starts_with(&name)),
                "{fw}: {lines:?}"
            );
        }
        assert!(l.contains(path), "{fw}: {l}");
        assert!(l.contains(&format!(" {role} Established ")), "{fw}: {l}");
        assert!(lines.contains(&"Show IKE SA: 1 IKE SA found."), "{lines:?}");
        l.split_whitespace().nth(4).expect("SPIs").to_owned()
    };
    let hq_spis = ike(
        "hq",
        "gw-branch ",
        "Init",
        "192.0.2.1[4500] -> 192.0.2.2[4500]",
    );
    let br_spis = ike(
        "branch",
        "gw-hq ",
        "Resp",
        "192.0.2.2[4500] -> 192.0.2.1[4500]",
    );
    assert_eq!(hq_spis, br_spis);
    assert_eq!(hq_spis.len(), 33, "{hq_spis}");

    // show vpn ipsec-sa: two Child SAs per side, SPIs crosswise, traffic counted both ways.
    let hq = ipsec_sa_rows(&stdout, "hq");
    let branch = ipsec_sa_rows(&stdout, "branch");
    assert_eq!(hq.len(), 2, "{hq:?}");
    assert_eq!(branch.len(), 2, "{branch:?}");
    let spis = |rows: &[Row], swap: bool| -> BTreeSet<(String, String)> {
        rows.iter()
            .map(|r| match swap {
                false => (r.spi_in.clone(), r.spi_out.clone()),
                true => (r.spi_out.clone(), r.spi_in.clone()),
            })
            .collect()
    };
    assert_eq!(spis(&hq, false), spis(&branch, true));
    for (fw, rows, tunnel) in [("hq", &hq, "vpn-branch"), ("branch", &branch, "vpn-hq")] {
        let proxies: BTreeSet<&str> = rows.iter().map(|r| r.proxy_id.as_str()).collect();
        assert_eq!(proxies, BTreeSet::from(["lan-to-lan", "monitor"]), "{fw}");
        for r in rows {
            assert!(r.tunnel.starts_with(&format!("{tunnel}:")), "{fw}: {r:?}");
            assert_eq!(r.spi_in.len(), 8, "{r:?}");
            assert_ne!(r.spi_in, r.spi_out, "{r:?}");
            // esp-gcm: lifetime 1 h, lifesize 4096 MB.
            assert_eq!(r.life, "3600/4194304", "{fw}: {r:?}");
            assert!(r.packets.0 > 0 && r.packets.1 > 0, "{fw}: {r:?}");
            assert!(r.bytes.0 >= 20 * r.packets.0, "{fw}: {r:?}");
            assert!(r.bytes.1 >= 20 * r.packets.1, "{fw}: {r:?}");
        }
    }
    // What one side sent on a Child SA, the other received on it.
    for h in &hq {
        let b = branch
            .iter()
            .find(|b| b.spi_in == h.spi_out)
            .expect("peer SA");
        assert_eq!(h.packets.1, b.packets.0, "{h:?} {b:?}");
        assert_eq!(h.bytes.1, b.bytes.0, "{h:?} {b:?}");
    }

    // The tunnel monitor's ping went over the monitor proxy ID, not the LAN one.
    let monitor = stdout
        .lines()
        .skip_while(|l| !l.contains("ICMP echo request 169.254.100.1 -> 169.254.100.2"))
        .nth(1)
        .expect("tunnel monitor ping");
    assert!(
        monitor.contains("branch received it intact on vpn-hq:monitor"),
        "{monitor}"
    );

    // The system log: phase 1 once and phase 2 twice on each side.
    for fw in ["hq", "branch"] {
        let log = section(&stdout, fw, "show log system subtype equal vpn");
        let count = |s: &str| log.iter().filter(|l| l.contains(s)).count();
        assert_eq!(count("IKE phase-1 negotiation is succeeded"), 1, "{log:?}");
        assert_eq!(count("IKE phase-2 negotiation is succeeded"), 2, "{log:?}");
        assert_eq!(log.len(), 3, "{log:?}");
    }
}

/// A scratch directory of this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ipsec-demo-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn mismatched_pre_shared_key_fails_with_authentication_failed() {
    let text = std::fs::read_to_string(BRANCH).expect("branch.toml");
    let wrong = text.replace(
        "pre-shared-key = \"correct horse battery staple\"",
        "pre-shared-key = \"incorrect horse battery staple\"",
    );
    assert_ne!(
        wrong, text,
        "the sample's PSK line changed; update this test"
    );
    let dir = scratch("psk");
    let path = dir.join("branch.toml");
    std::fs::write(&path, wrong).expect("write config");

    let (out, stdout, stderr) = run(&[HQ, path.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stdout.contains("demo: ok"), "{stdout}");
    assert!(
        stderr.starts_with("demo: FAILED: negotiation failed"),
        "{stderr}"
    );
    // Both sides say why, the responder that the PSK is the likely culprit.
    for fw in ["hq", "branch"] {
        assert!(
            stderr.lines().any(|l| l
                .trim_start()
                .starts_with(&format!("{fw}: IKE phase-1 negotiation is failed"))
                && l.ends_with("[notify AUTHENTICATION_FAILED]")),
            "{fw}: {stderr}"
        );
    }
    assert!(stderr.contains("pre-shared key mismatch"), "{stderr}");
    assert!(!stdout.contains("show vpn ipsec-sa"), "{stdout}");
}

#[test]
fn unreadable_config_and_bad_usage_fail_cleanly() {
    let dir = scratch("missing");
    let missing = dir.join("nowhere.toml");
    let (out, _, stderr) = run(&[HQ, missing.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nowhere.toml"), "{stderr}");

    let (out, _, stderr) = run(&["--frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("usage: ipsec-demo"), "{stderr}");
}

/// The certificate samples (`hq-cert.toml`, `branch-cert.toml`) in a scratch directory, with the
/// test PKI's ECDSA P-256 certificates (testdata/pki, made by strongSwan's pki) in the `certs/`
/// that `examples/configs/make-certs.sh` would write; branch's certificate and key are
/// `branch_cert`'s. Git does not keep file modes: the keys are made 0600 here.
fn cert_samples(name: &str, branch_cert: &str) -> (PathBuf, String, String) {
    let configs = concat!(env!("CARGO_MANIFEST_DIR"), "/configs");
    let pki = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/pki/ecdsa-p256");
    let read = |f: &str| std::fs::read(format!("{pki}/{f}")).expect("test PKI file");
    let dir = scratch(name);
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).expect("certs dir");
    // hq is issued by the intermediate CA: its file carries the chain.
    let hq = [read("hq.crt"), read("intermediate-ca.crt")].concat();
    let files = [
        ("hq.crt", hq),
        ("hq.key", read("hq.key")),
        ("branch.crt", read(&format!("{branch_cert}.crt"))),
        ("branch.key", read(&format!("{branch_cert}.key"))),
        ("root-ca.crt", read("root-ca.crt")),
    ];
    for (file, data) in files {
        let path = certs.join(file);
        std::fs::write(&path, data).expect("write certificate");
        #[cfg(unix)]
        if file.ends_with(".key") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .expect("chmod 600");
        }
    }
    let mut paths = Vec::new();
    for fw in ["hq", "branch"] {
        let file = format!("{fw}-cert.toml");
        let path = dir.join(&file);
        std::fs::copy(format!("{configs}/{file}"), &path).expect("copy sample");
        paths.push(path.to_str().expect("utf-8 path").to_owned());
    }
    let branch = paths.pop().expect("branch");
    let hq = paths.pop().expect("hq");
    (dir, hq, branch)
}

#[test]
fn certificate_samples_bring_up_the_tunnel() {
    let (dir, hq, branch) = cert_samples("certs", "branch");
    let (out, stdout, stderr) = run(&[&hq, &branch]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status
    );
    assert_eq!(stdout.lines().last(), Some("demo: ok"), "{stdout}");
    let root = "trusting \"C=CH, O=ipsec-rs test, CN=ECDSA P-256 Root CA\"";
    for fw in ["hq", "branch"] {
        let line = format!(
            "{fw}-cert authenticates with certificate \"C=CH, O=ipsec-rs test, \
             CN={fw}.example.net\" (ECDSA P-256), {root}"
        );
        assert!(stdout.lines().any(|l| l == line), "{line}\n{stdout}");
        let lines = section(&stdout, &format!("{fw}-cert"), "show vpn ike-sa");
        assert!(
            lines.iter().any(|l| l.contains(" Established ")),
            "{fw}: {lines:?}"
        );
    }
    // Both proxy IDs carried traffic.
    let rows = ipsec_sa_rows(&stdout, "hq-cert");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter().all(|r| r.packets.0 > 0 && r.packets.1 > 0),
        "{rows:?}"
    );
}

#[test]
fn expired_certificate_fails_with_authentication_failed() {
    let (dir, hq, branch) = cert_samples("expired", "expired");
    let (out, stdout, stderr) = run(&[&hq, &branch]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stdout.contains("demo: ok"), "{stdout}");
    assert!(
        stderr.contains("certificate validity check failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("expired on 2021-01-01T00:00:00Z"),
        "{stderr}"
    );
    assert!(stderr.contains("AUTHENTICATION_FAILED"), "{stderr}");
}
