//! The C user's path end to end: `ffi/install.sh` installs the library this test run built
//! (shared and static, header, pkg-config file) under a temporary prefix; `examples/c/gateway.c`
//! is compiled with `pkg-config --cflags --libs ipsec`, linked against the shared library by its
//! SONAME, and run on the sample configurations: under AddressSanitizer (and LeakSanitizer), and
//! under valgrind's memcheck when valgrind is installed (required when `REQUIRE_VALGRIND` is set).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The directory holding the libraries cargo built with this test (`deps/`).
fn built_libs() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap().to_path_buf();
    for f in ["libipsec.so", "libipsec.a"] {
        assert!(deps.join(f).exists(), "{f} missing beside the test binary");
    }
    deps
}

/// Installs under `prefix` with the documented script; returns PKG_CONFIG_PATH.
fn install(prefix: &Path) -> PathBuf {
    let out = Command::new("bash")
        .arg(root().join("ffi/install.sh"))
        .arg("--prefix")
        .arg(prefix)
        .arg("--from")
        .arg(built_libs())
        .output()
        .unwrap();
    assert!(out.status.success(), "install.sh: {}", text(&out));
    let lib = prefix.join("lib");
    for f in [
        "libipsec.so",
        "libipsec.so.0",
        "libipsec.a",
        "pkgconfig/ipsec.pc",
    ] {
        assert!(lib.join(f).exists(), "{f} not installed");
    }
    assert!(prefix.join("include/ipsec.h").exists());
    lib.join("pkgconfig")
}

fn text(o: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn pkg_config(pc_path: &Path, what: &str) -> Vec<String> {
    let out = Command::new("pkg-config")
        .env("PKG_CONFIG_PATH", pc_path)
        .args([what, "ipsec"])
        .output()
        .expect("pkg-config is installed");
    assert!(out.status.success(), "pkg-config {what}: {}", text(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn compile(pc_path: &Path, extra: &[&str], exe: &Path) {
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
        .args(extra)
        .args(pkg_config(pc_path, "--cflags"))
        .arg(root().join("examples/c/gateway.c"))
        .args(pkg_config(pc_path, "--libs"))
        .arg("-o")
        .arg(exe)
        .status()
        .expect("a C compiler (`cc`, or $CC) is installed");
    assert!(status.success(), "compiling gateway.c failed: {status}");
}

fn run(cmd: &mut Command, lib: &Path) -> Output {
    cmd.env("LD_LIBRARY_PATH", lib)
        .arg(root().join("examples/configs/hq.toml"))
        .arg(root().join("examples/configs/branch.toml"))
        .output()
        .unwrap()
}

fn check_output(o: &Output) {
    assert!(o.status.success(), "gateway.c failed: {}", text(o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for expected in [
        "hq: connecting 1 tunnel(s)",
        "esp hq -> branch: ",
        "esp branch -> hq: ",
        "hq: dropped: flow_fwd_l3_noroute",
        "branch: rekeyed SPI ",
        "hq: commit: vpn-branch unchanged",
        "hq: committed, SPI ",
        "gateway example: OK",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(expected)),
            "no line starting {expected:?} in:\n{stdout}"
        );
    }
    assert!(stdout.contains("IKE phase-2 negotiation is succeeded as initiator, non-rekey"));
    assert!(stdout.contains("rekey of SPI:"), "{stdout}");
}

#[test]
fn gateway_c_installed_with_pkg_config_runs_clean_under_asan_and_valgrind() {
    let dir = std::env::temp_dir().join(format!("ipsec-ffi-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let prefix = dir.join("prefix");
    let pc = install(&prefix);
    let lib = prefix.join("lib");

    // The installed shared library carries the major-version SONAME programs link against.
    let readelf = Command::new("readelf")
        .arg("-d")
        .arg(lib.join("libipsec.so"))
        .output();
    if let Ok(o) = readelf {
        let dynamic = String::from_utf8_lossy(&o.stdout);
        assert!(
            dynamic.contains("[libipsec.so.0]"),
            "no SONAME libipsec.so.0:\n{dynamic}"
        );
    }

    let asan = dir.join("gateway-asan");
    compile(
        &pc,
        &["-fsanitize=address", "-fno-omit-frame-pointer"],
        &asan,
    );
    let o = run(
        Command::new(&asan).env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0"),
        &lib,
    );
    check_output(&o);

    let plain = dir.join("gateway");
    compile(&pc, &[], &plain);
    let valgrind = Command::new("valgrind").arg("--version").output();
    if valgrind.is_ok_and(|o| o.status.success()) {
        let o = run(
            Command::new("valgrind")
                .args([
                    "--quiet",
                    "--error-exitcode=99",
                    "--leak-check=full",
                    "--errors-for-leak-kinds=definite,indirect",
                ])
                .arg(&plain),
            &lib,
        );
        check_output(&o);
    } else {
        // CI installs valgrind and sets REQUIRE_VALGRIND (.ci/run); elsewhere ASan suffices.
        assert!(
            std::env::var_os("REQUIRE_VALGRIND").is_none(),
            "valgrind is not installed but REQUIRE_VALGRIND is set"
        );
        eprintln!("valgrind not installed: memcheck run skipped (ASan ran)");
        check_output(&run(&mut Command::new(&plain), &lib));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
