//! C ABI over the IKEv2 and ESP Sans-IO cores.
//!
//! The header `include/ipsec.h` is generated from this crate by cbindgen. Every entry point checks
//! its pointers, catches panics and returns a status code.

/// Library version as `major << 16 | minor << 8 | patch`.
#[no_mangle]
pub extern "C" fn ipsec_version() -> u32 {
    let major: u32 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0);
    let minor: u32 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0);
    let patch: u32 = env!("CARGO_PKG_VERSION_PATCH").parse().unwrap_or(0);
    (major << 16) | (minor << 8) | patch
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_matches_package() {
        assert_eq!(super::ipsec_version(), 0x00_01_00);
    }
}
