//! Gives the shared library a SONAME with the major version (`libipsec.so.0`), as C users
//! and distributions expect: programs link against the major version, not one file.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target == "linux" || target == "android" || target.ends_with("bsd") {
        let major = env!("CARGO_PKG_VERSION_MAJOR");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libipsec.so.{major}");
    }
}
