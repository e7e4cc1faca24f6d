//! Builds `examples/c/handshake.c` against this package's static library and `include/ipsec.h`,
//! runs it on the sample configurations and checks that both sides report their SAs up.
//!
//! `cargo test -p ipsec-ffi` builds the library target with every crate type of the package,
//! so `libipsec.a` sits beside this test's binary in the target's `deps/` directory.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The static library built with this test (same profile, same target directory).
fn static_lib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let lib = deps.join("libipsec.a");
    assert!(
        lib.exists(),
        "{} missing: the test expects cargo to build the package's staticlib beside it",
        lib.display()
    );
    lib
}

fn compile(out_dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let exe = out_dir.join("handshake");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(root.join("include"))
        .arg(root.join("examples/c/handshake.c"))
        .arg(static_lib())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .status()
        .expect("a C compiler (`cc`, or $CC) is installed");
    assert!(status.success(), "compiling handshake.c failed: {status}");
    exe
}

#[test]
fn handshake_c_brings_the_tunnel_up() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("ipsec-ffi-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = compile(&dir);
    let out = Command::new(&exe)
        .arg(root.join("examples/configs/hq.toml"))
        .arg(root.join("examples/configs/branch.toml"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "handshake failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for expected in [
        "libipsec version 000100",
        "hq: IKE_SA_UP gw-branch: IKE phase-1 negotiation is succeeded as initiator",
        "branch: IKE_SA_UP gw-hq: IKE phase-1 negotiation is succeeded as responder",
        "hq: CHILD_SA_UP vpn-branch: IKE phase-2 negotiation is succeeded as initiator",
        "branch: CHILD_SA_UP vpn-hq: IKE phase-2 negotiation is succeeded as responder",
        "tunnel up: hq SPI in ",
        "esp hq -> branch: tampered copy dropped: ICV verification failed",
        "esp branch -> hq: tampered copy dropped: ICV verification failed",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(expected)),
            "no line starting {expected:?} in:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("FAILED"),
        "a negotiation failed:\n{stdout}"
    );
}

#[test]
fn handshake_c_rejects_a_bad_config_with_the_reason() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("ipsec-ffi-c-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = compile(&dir);
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[ike-gateway]]\nname = 42\n").unwrap();
    let out = Command::new(&exe)
        .arg(&bad)
        .arg(root.join("examples/configs/branch.toml"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains("bad.toml: "), "stderr:\n{stderr}");
    assert!(
        stderr.len() > "bad.toml: \n".len() + 10,
        "stderr:\n{stderr}"
    );
}
