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

/// A C program that prints the size of each struct in the header and the offset of its last
/// field, compiled and compared with the Rust layout: the two sides agree on every byte.
#[test]
fn header_layouts_match_rust() {
    use ipsec::*;
    use std::mem::{offset_of, size_of};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("ipsec-ffi-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let checks: &[(&str, &str, usize, usize)] = &[
        (
            "ipsec_addr",
            "addr",
            size_of::<ipsec_addr>(),
            offset_of!(ipsec_addr, addr),
        ),
        (
            "ipsec_transmit",
            "reserved",
            size_of::<ipsec_transmit>(),
            offset_of!(ipsec_transmit, reserved),
        ),
        (
            "ipsec_event",
            "reserved",
            size_of::<ipsec_event>(),
            offset_of!(ipsec_event, reserved),
        ),
        (
            "ipsec_esp_transmit",
            "reserved",
            size_of::<ipsec_esp_transmit>(),
            offset_of!(ipsec_esp_transmit, reserved),
        ),
        (
            "ipsec_esp_delivered",
            "reserved",
            size_of::<ipsec_esp_delivered>(),
            offset_of!(ipsec_esp_delivered, reserved),
        ),
        (
            "ipsec_action",
            "reserved",
            size_of::<ipsec_action>(),
            offset_of!(ipsec_action, reserved),
        ),
        (
            "ipsec_gateway_transmit",
            "reserved",
            size_of::<ipsec_gateway_transmit>(),
            offset_of!(ipsec_gateway_transmit, reserved),
        ),
        (
            "ipsec_gateway_options",
            "reserved",
            size_of::<ipsec_gateway_options>(),
            offset_of!(ipsec_gateway_options, reserved),
        ),
        (
            "ipsec_counters",
            "drops",
            size_of::<ipsec_counters>(),
            offset_of!(ipsec_counters, drops),
        ),
        ("ipsec_drop_reason", "", size_of::<ipsec_drop_reason>(), 0),
        ("ipsec_action_kind", "", size_of::<ipsec_action_kind>(), 0),
        ("ipsec_log_level", "", size_of::<ipsec_log_level>(), 0),
        ("ipsec_status", "", size_of::<ipsec_status>(), 0),
        ("ipsec_event_kind", "", size_of::<ipsec_event_kind>(), 0),
    ];
    let mut c = String::from(
        "#include \"ipsec.h\"\n#include <stdio.h>\n#include <stddef.h>\nint main(void) {\n",
    );
    for (ty, field, _, _) in checks {
        let off = if field.is_empty() {
            "0".to_owned()
        } else {
            format!("offsetof({ty}, {field})")
        };
        c.push_str(&format!(
            "    printf(\"{ty} %zu %zu\\n\", sizeof({ty}), (size_t){off});\n"
        ));
    }
    c.push_str("    return 0;\n}\n");
    std::fs::write(&src, c).unwrap();
    let exe = dir.join("layout");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c99", "-Wall", "-Werror", "-I"])
        .arg(root.join("include"))
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new(&exe).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8(out.stdout).unwrap();
    for (ty, _, size, off) in checks {
        let want = format!("{ty} {size} {off}");
        assert!(
            stdout.lines().any(|l| l == want),
            "C disagrees on {ty}: want {want:?}, C says:\n{stdout}"
        );
    }
}

/// The header is also valid C++ (its declarations are `extern "C"` there).
#[test]
fn header_compiles_as_cpp() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(std::env::var("CXX").unwrap_or_else(|_| "c++".into()))
        .args([
            "-std=c++11",
            "-Wall",
            "-Werror",
            "-fsyntax-only",
            "-x",
            "c++",
        ])
        .arg(root.join("include/ipsec.h"))
        .status()
        .expect("a C++ compiler (`c++`, or $CXX) is installed");
    assert!(status.success(), "include/ipsec.h does not compile as C++");
}
