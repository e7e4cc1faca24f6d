//! Runs `ipsec-gateway check` on the sample pair and on the broken pairs of
//! `testdata/configs/pairs/` (each file's first lines say what must be reported), in text and
//! in JSON.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn path(rel: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    root.join(rel).to_string_lossy().into_owned()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ipsec-gateway"))
        .args(args)
        .output()
        .expect("run ipsec-gateway");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const HQ: &str = "configs/hq.toml";

fn pair(file: &str) -> String {
    path(&format!("../testdata/configs/pairs/{file}"))
}

fn check(a: &str, b: &str) -> (i32, String) {
    let (code, out, err) = run(&["check", a, b]);
    assert!(err.is_empty(), "{err}");
    (code, out)
}

fn json(a: &str, b: &str) -> (i32, Value) {
    let (code, out, err) = run(&["check", "--json", a, b]);
    assert!(err.is_empty(), "{err}");
    (code, serde_json::from_str(&out).expect("JSON"))
}

#[test]
fn sample_pair_comes_up_both_ways() {
    let (hq, branch) = (path(HQ), path("configs/branch.toml"));
    let (code, out) = check(&hq, &branch);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "  {hq} initiates:\n    phase 1: IKE SA up, proposal aes-256-gcm/sha256/group19\n"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("  {branch} initiates:")), "{out}");
    assert!(
        out.contains(
            "    phase 2 vpn-branch:lan-to-lan (IKE_AUTH): Child SA up with vpn-hq:lan-to-lan, \
             proposal aes-128-gcm/no-pfs, tunnel mode, local 10.1.0.0/24 remote 10.2.0.0/24\n      \
             rekey by either side (lifetime 1 h on both): proposal aes-128-gcm/group19\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("    phase 2 vpn-branch:monitor (CREATE_CHILD_SA): Child SA up with vpn-hq:monitor, proposal aes-128-gcm/group19"),
        "{out}"
    );
    assert!(!out.contains("fails"), "{out}");

    let (code, v) = json(&hq, &branch);
    assert_eq!(code, 0);
    assert_eq!(v["all_up"], true);
    let d = &v["gateways"][0]["directions"];
    assert_eq!(d.as_array().unwrap().len(), 2);
    assert_eq!(d[0]["initiator"], "first");
    assert_eq!(d[0]["phase1"]["proposal"], "aes-256-gcm/sha256/group19");
    let c = &d[0]["children"][1];
    assert_eq!(c["proxy_id"], "monitor");
    assert_eq!(c["exchange"], "CREATE_CHILD_SA");
    assert_eq!(c["local"][0], "169.254.100.1/32 protocol 1");
    assert_eq!(c["rekeys"][0]["proposal"], "aes-128-gcm/group19");
}

#[test]
fn no_common_ike_proposal_fails_phase_1() {
    let (code, out) = check(&path(HQ), &pair("branch-ike-proposal.toml"));
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out.matches("phase 1 fails in IKE_SA_INIT with NO_PROPOSAL_CHOSEN")
            .count(),
        2,
        "{out}"
    );
    assert!(
        out.contains("branch-ike-proposal.toml accepts: aes-128-cbc/sha512/sha512/group20"),
        "{out}"
    );
    assert!(out.contains("no suitable proposal found in peer's SA payload (peer: aes-256-gcm/sha256,sha384/group19,group14 | aes-256-cbc/sha256,sha384/sha256,sha384/group19,group14; mine: aes-128-cbc/sha512/sha512/group20)"), "{out}");
    let (_, v) = json(&path(HQ), &pair("branch-ike-proposal.toml"));
    let f = &v["gateways"][0]["directions"][0]["phase1"]["failure"];
    assert_eq!(f["phase"], 1);
    assert_eq!(f["notify"], "NO_PROPOSAL_CHOSEN");
    assert!(f["initiator_log"]
        .as_str()
        .unwrap()
        .contains("received notify type NO_PROPOSAL_CHOSEN"));
}

#[test]
fn psk_mismatch_fails_authentication() {
    let (code, out) = check(&path(HQ), &path("../testdata/configs/branch-mismatch.toml"));
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out.matches(
            "phase 1 fails in IKE_AUTH with AUTHENTICATION_FAILED: the pre-shared keys differ"
        )
        .count(),
        2,
        "{out}"
    );
    assert!(
        out.contains(
            "AUTH payload of fqdn:hq.example.net does not verify (pre-shared key mismatch?)"
        ),
        "{out}"
    );
    // The key itself never appears.
    assert!(
        !out.contains("not the same key") && !out.contains("correct horse"),
        "{out}"
    );
}

#[test]
fn wildcard_peer_id_mismatch_is_found_by_whoever_checks() {
    let (code, out) = check(&path(HQ), &pair("branch-peer-id.toml"));
    assert_eq!(code, 1, "{out}");
    // hq initiates: the branch, responding, rejects hq's ID.
    assert!(out.contains("branch-peer-id.toml logs: IKE phase-1 negotiation is failed as responder, non-rekey: authentication failed: peer ID fqdn:hq.example.net does not match the configured fqdn:*.example.org."), "{out}");
    // The branch initiates: it rejects hq's answer; hq tears its SA down.
    assert!(out.contains("branch-peer-id.toml logs: IKE phase-1 negotiation is failed as initiator, non-rekey: authentication failed: peer ID fqdn:hq.example.net"), "{out}");
    assert!(out.contains("hq.toml logs: IKE phase-1 negotiation is failed as responder, non-rekey: authentication failed: peer rejected our AUTH payload or ID."), "{out}");
    assert!(
        out.contains("branch-peer-id.toml expects: fqdn:*.example.org"),
        "{out}"
    );
}

#[test]
fn pfs_mismatch_fails_only_create_child_sa() {
    let (code, out) = check(&path(HQ), &pair("branch-pfs.toml"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("phase 2 vpn-branch:lan-to-lan (IKE_AUTH): Child SA up with vpn-hq:lan-to-lan, proposal aes-128-gcm/no-pfs"), "{out}");
    assert!(out.contains("phase 2 vpn-branch:monitor fails in CREATE_CHILD_SA with NO_PROPOSAL_CHOSEN: PFS mismatch"), "{out}");
    assert!(
        out.contains("hq.toml offers: aes-128-gcm,aes-256-gcm/group19"),
        "{out}"
    );
    assert!(
        out.contains("branch-pfs.toml accepts: aes-128-gcm,aes-256-gcm\n"),
        "{out}"
    );
    assert_eq!(
        out.matches("(the Child SA then expires)").count(),
        4,
        "{out}"
    );
    let (_, v) = json(&path(HQ), &pair("branch-pfs.toml"));
    let c = &v["gateways"][0]["directions"][0]["children"];
    assert_eq!(c[0]["ok"], true);
    assert_eq!(c[0]["rekeys"][0]["ok"], false);
    assert_eq!(c[0]["rekeys"][0]["failure"]["exchange"], "CREATE_CHILD_SA");
    assert_eq!(c[1]["failure"]["phase"], 2);
}

#[test]
fn no_common_esp_proposal_keeps_the_ike_sa() {
    let (code, out) = check(&path(HQ), &pair("branch-esp.toml"));
    assert_eq!(code, 1, "{out}");
    assert_eq!(out.matches("phase 1: IKE SA up").count(), 2, "{out}");
    assert!(out.contains("phase 2 vpn-branch:lan-to-lan fails in IKE_AUTH with NO_PROPOSAL_CHOSEN: no common IPsec proposal"), "{out}");
    assert!(out.contains("IKE phase-2 negotiation failed when processing SA payload. Tunnel vpn-hq as responder: no suitable proposal found in peer's SA payload (peer: aes-128-gcm,aes-256-gcm; mine: aes-256-cbc/sha256/group19)."), "{out}");
}

#[test]
fn narrowed_and_unmatched_proxy_ids() {
    let (code, out) = check(&path(HQ), &pair("branch-proxy-ids.toml"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Child SA up with vpn-branch:lan-to-lan, proposal aes-128-gcm/no-pfs, tunnel mode, local 10.2.0.0/24 remote 10.1.0.0/24 (narrowed from local 10.2.0.0/24 remote 10.1.0.0/16)"), "{out}");
    assert!(
        out.contains("phase 2 vpn-hq:dmz fails in CREATE_CHILD_SA with TS_UNACCEPTABLE"),
        "{out}"
    );
    assert!(out.contains("hq.toml has proxy IDs: local 10.1.0.0/24 remote 10.2.0.0/24; local 169.254.100.1/32 protocol 1 remote 169.254.100.2/32 protocol 1"), "{out}");
}

#[test]
fn passive_on_both_sides_brings_nothing_up() {
    let (code, out) = check(&pair("hq-passive.toml"), &pair("branch-passive.toml"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("note: neither side initiates"), "{out}");
    assert!(!out.contains(" initiates:\n"), "{out}");
    let (_, v) = json(&pair("hq-passive.toml"), &pair("branch-passive.toml"));
    assert_eq!(v["all_up"], false);
    assert!(v["gateways"][0]["directions"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn nat_t_off_and_different_lifetimes_still_come_up() {
    let (code, out) = check(&path(HQ), &pair("branch-nat-lifetimes.toml"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("note: NAT traversal is off on"), "{out}");
    assert!(
        out.contains("note: IKE SA lifetimes differ (8 h on"),
        "{out}"
    );
    // hq's IPsec lifetime is the shorter one: hq rekeys, whoever initiated.
    assert_eq!(out.matches("rekey by ").count(), 4, "{out}");
    assert_eq!(
        out.matches("hq.toml (lifetime 1 h vs 2 h)").count(),
        4,
        "{out}"
    );
}

#[test]
fn usage_and_load_errors_exit_2() {
    let (code, _, err) = run(&["check", &path(HQ)]);
    assert_eq!(code, 2);
    assert!(err.contains("usage: ipsec-gateway check"), "{err}");
    let (code, _, err) = run(&["check", "--yaml", &path(HQ), &path(HQ)]);
    assert_eq!(code, 2);
    assert!(err.contains("'--yaml'"), "{err}");
    let broken = path("../testdata/configs/broken/syntax.toml");
    let (code, _, err) = run(&["check", &path(HQ), &broken]);
    assert_eq!(code, 2);
    assert!(err.contains("syntax.toml: error:"), "{err}");
}
