//! `include/ipsec.h` is generated from `ffi/src` by cbindgen and committed: this test
//! regenerates it and fails when the committed file differs.
//!
//! Update it with `UPDATE_HEADER=1 cargo test -p ipsec-ffi --test header`.

use std::path::PathBuf;

#[test]
fn committed_header_matches_the_crate() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let header = crate_dir.join("../include/ipsec.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen parses ffi/src")
        .write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    assert!(generated.contains("ipsec_endpoint_new"));

    if std::env::var_os("UPDATE_HEADER").is_some() {
        std::fs::write(&header, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&header).unwrap_or_default();
    assert!(
        committed == generated,
        "include/ipsec.h is out of date with ffi/src; update it with:\n    \
         UPDATE_HEADER=1 cargo test -p ipsec-ffi --test header"
    );
}
