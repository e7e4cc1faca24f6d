//! C ABI over the gateway layer and the IKEv2 and ESP Sans-IO cores.
//!
//! `ipsec_gateway_*` is the route-based VPN of one firewall
//! ([`Gateway`](::gateway::Gateway)): IKE, the ESP datapath, routes, zones and security rules
//! behind one handle, which installs, rekeys and removes Child SAs by itself.
//! `ipsec_endpoint_*` (IKE alone) and `ipsec_esp_table_*` (ESP alone) remain for products that
//! keep their own datapath or their own IKE.
//!
//! The header `include/ipsec.h` is generated from this crate by cbindgen (`ffi/tests/header.rs`
//! fails when it drifts). Every entry point checks its pointers, catches panics and returns an
//! [`ipsec_status`]; after an error, [`ipsec_last_error`] says why.
//!
//! Ownership: handles are created by `*_new` and freed by `*_free`; buffers are the caller's
//! and borrowed for one call; strings in returned structs point into the handle and live until
//! the next call that says it replaces them.

mod addr;
mod endpoint;
mod esp_table;
mod event;
mod gateway;
mod log;
mod status;

pub use addr::{ipsec_addr, IPSEC_AF_INET, IPSEC_AF_INET6};
pub use endpoint::{
    ipsec_endpoint, ipsec_endpoint_connect, ipsec_endpoint_delete_child, ipsec_endpoint_delete_ike,
    ipsec_endpoint_free, ipsec_endpoint_handle_datagram, ipsec_endpoint_handle_timeout,
    ipsec_endpoint_new, ipsec_endpoint_poll_event, ipsec_endpoint_poll_timeout,
    ipsec_endpoint_poll_transmit, ipsec_endpoint_rekey_child, ipsec_endpoint_rekey_ike,
    ipsec_received, ipsec_transmit,
};
pub use esp_table::{
    ipsec_esp_delivered, ipsec_esp_table, ipsec_esp_table_activate, ipsec_esp_table_decapsulate,
    ipsec_esp_table_encapsulate, ipsec_esp_table_free, ipsec_esp_table_handle_timeout,
    ipsec_esp_table_install, ipsec_esp_table_new, ipsec_esp_table_poll_timeout,
    ipsec_esp_table_remove, ipsec_esp_table_retire, ipsec_esp_transmit,
};
pub use event::{ipsec_event, ipsec_event_kind, ipsec_role};
pub use gateway::{
    ipsec_action, ipsec_action_kind, ipsec_counters, ipsec_drop_reason, ipsec_drop_reason_name,
    ipsec_gateway, ipsec_gateway_connect, ipsec_gateway_connect_all, ipsec_gateway_counters,
    ipsec_gateway_delete_child_sa, ipsec_gateway_delete_ike, ipsec_gateway_free,
    ipsec_gateway_handle_datagram, ipsec_gateway_handle_esp, ipsec_gateway_handle_inner,
    ipsec_gateway_handle_local, ipsec_gateway_handle_timeout, ipsec_gateway_interface,
    ipsec_gateway_new, ipsec_gateway_options, ipsec_gateway_poll_event, ipsec_gateway_poll_timeout,
    ipsec_gateway_poll_transmit, ipsec_gateway_reconfigure, ipsec_gateway_rekey_child_sa,
    ipsec_gateway_rekey_ike, ipsec_gateway_set_interface_address, ipsec_gateway_set_wall_clock,
    ipsec_gateway_transmit, ipsec_reload_fn, ipsec_reload_item, IPSEC_HEADROOM, IPSEC_TAILROOM,
};
pub use log::{ipsec_log_fn, ipsec_log_level, ipsec_set_log_callback};
pub use status::ipsec_status;

use std::ffi::c_char;

/// The major version of the header: the library's SONAME is `libipsec.so.IPSEC_VERSION_MAJOR`.
pub const IPSEC_VERSION_MAJOR: u32 = 0;
/// The minor version of the header.
pub const IPSEC_VERSION_MINOR: u32 = 1;
/// The patch version of the header.
pub const IPSEC_VERSION_PATCH: u32 = 0;
/// The header's version as `ipsec_version()` returns the library's: compare the two to detect
/// a program built against another header than the library it runs with.
pub const IPSEC_VERSION: u32 =
    (IPSEC_VERSION_MAJOR << 16) | (IPSEC_VERSION_MINOR << 8) | IPSEC_VERSION_PATCH;

/// Library version as `major << 16 | minor << 8 | patch` (`IPSEC_VERSION` of the header it was
/// built with).
#[no_mangle]
pub extern "C" fn ipsec_version() -> u32 {
    IPSEC_VERSION
}

/// Copies this thread's last error message into `buf` (`cap` bytes), always NUL-terminated
/// when `cap > 0` and truncated to fit, like `snprintf`. Returns the message's full length in
/// bytes without the NUL: a return value `>= cap` means it was truncated. `buf` may be NULL
/// when `cap` is 0, to ask for the length. The message is empty when no call on this thread
/// has failed. It may quote text from a peer or the caller, with its control characters
/// escaped; only a configuration's list of problems has newlines, one between each two.
///
/// # Safety
///
/// `buf` must be writable for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn ipsec_last_error(buf: *mut c_char, cap: usize) -> usize {
    let msg = status::last_error();
    if buf.is_null() || cap == 0 {
        return msg.len();
    }
    let n = msg.len().min(cap - 1);
    // SAFETY: `buf` is non-NULL and writable for `cap > n` bytes by the caller's contract; the
    // message is a separate allocation.
    unsafe {
        core::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), n);
        buf.add(n).write(0);
    }
    msg.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_matches_package() {
        let part = |s: &str| s.parse::<u32>().unwrap();
        assert_eq!(IPSEC_VERSION_MAJOR, part(env!("CARGO_PKG_VERSION_MAJOR")));
        assert_eq!(IPSEC_VERSION_MINOR, part(env!("CARGO_PKG_VERSION_MINOR")));
        assert_eq!(IPSEC_VERSION_PATCH, part(env!("CARGO_PKG_VERSION_PATCH")));
        assert_eq!(ipsec_version(), 0x00_01_00);
    }
}
