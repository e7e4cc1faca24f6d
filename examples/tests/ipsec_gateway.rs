//! Runs the `ipsec-gateway` binary: `validate` on the sample configurations, on broken ones and
//! on a pair that does not match.

use std::path::PathBuf;
use std::process::{Command, Output};

fn path(rel: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    root.join(rel).to_string_lossy().into_owned()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_ipsec-gateway"))
        .args(args)
        .output()
        .expect("run ipsec-gateway");
    (
        status.code().expect("exit code"),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[test]
fn samples_validate_ok_and_pair_up() {
    let hq = path("configs/hq.toml");
    let branch = path("configs/branch.toml");
    let (code, out, _) = run(&["validate", &hq, &branch]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{hq}: ok")), "{out}");
    assert!(out.contains(&format!("{branch}: ok")), "{out}");
    assert!(out.contains("  ike-gateway: 1 (gw-branch)"), "{out}");
    assert!(out.contains("  ike-gateway: 1 (gw-hq)"), "{out}");
    assert!(out.contains("  zone: 2 (trust, vpn)"), "{out}");
    assert!(out.contains(&format!("{hq} <-> {branch}: ok")), "{out}");
    assert!(!out.contains("error"), "{out}");
}

#[test]
fn broken_files_exit_2_with_every_error() {
    let file = path("../testdata/configs/broken/dangling-gateway.toml");
    let (code, out, _) = run(&["validate", &file]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("ipsec-tunnel \"vpn-branch\": ike-gateway \"gw-x\" is not defined"),
        "{out}"
    );
    assert!(out.contains("line 42, column 1"), "{out}");

    let file = path("../testdata/configs/broken/many-errors.toml");
    let (code, out, _) = run(&["validate", &file]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(": 5 errors"), "{out}");
    assert_eq!(out.matches("  error: ").count(), 5, "{out}");

    let file = path("../testdata/configs/broken/syntax.toml");
    let (code, out, _) = run(&["validate", &file, &path("configs/hq.toml")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("TOML syntax error"), "{out}");
    assert!(
        out.contains("configs/hq.toml: ok"),
        "a later good file is still checked: {out}"
    );
}

#[test]
fn weak_algorithms_are_warnings_not_errors() {
    let (code, out, _) = run(&["validate", &path("../testdata/configs/weak-hq.toml")]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: ike-crypto-profile \"ike-suite-b\": encryption: 3des"),
        "{out}"
    );
    assert!(
        out.contains("warning: ike-crypto-profile \"ike-suite-b\": dh-group: group2"),
        "{out}"
    );
}

#[test]
fn mismatched_pair_exits_2() {
    let hq = path("configs/hq.toml");
    let other = path("../testdata/configs/branch-mismatch.toml");
    let (code, out, _) = run(&["validate", &hq, &other]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("authentication.pre-shared-key"), "{out}");
    assert!(out.contains("proxy-id[lan-to-lan]"), "{out}");
    assert!(!out.contains("not the same key"), "the key leaked: {out}");
}

#[test]
fn usage_mistakes_exit_2() {
    for args in [
        &[][..],
        &["validate"][..],
        &["frobnicate"][..],
        &["validate", "--x"][..],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains("usage: ipsec-gateway"), "{err}");
    }
    let (code, out, _) = run(&["help"]);
    assert_eq!(code, 0);
    assert!(out.contains("validate FILE..."));
}

#[test]
fn run_refuses_a_broken_configuration_with_every_error_before_touching_the_host() {
    let file = path("../testdata/configs/broken/many-errors.toml");
    let control =
        std::env::temp_dir().join(format!("ipsec-gateway-test-{}.sock", std::process::id()));
    let control = control.to_string_lossy().into_owned();
    let (code, _, err) = run(&["run", "--config", &file, "--control", &control]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.matches(": error: ").count(), 5, "{err}");
    assert!(err.contains("5 errors, not started"), "{err}");
    assert!(!std::path::Path::new(&control).exists());
}

#[test]
fn operational_commands_without_a_daemon_say_so() {
    let control = std::env::temp_dir().join("ipsec-gateway-test-no-daemon.sock");
    let control = control.to_string_lossy().into_owned();
    let (code, out, err) = run(&["--control", &control, "show", "vpn", "ike-sa"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("cannot reach the daemon"), "{err}");
    let (code, _, err) = run(&["test", "vpn", "ike-sa"]);
    assert_eq!(code, 2, "a gateway is required: {err}");
    let (code, _, err) = run(&["run", "--config", "x.toml", "--interface", "eth0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not NAME=DEV"), "{err}");
}
