//! C ABI over the IKEv2 and ESP Sans-IO cores.
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
pub use status::ipsec_status;

use std::ffi::c_char;

/// Library version as `major << 16 | minor << 8 | patch`.
#[no_mangle]
pub extern "C" fn ipsec_version() -> u32 {
    let major: u32 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0);
    let minor: u32 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0);
    let patch: u32 = env!("CARGO_PKG_VERSION_PATCH").parse().unwrap_or(0);
    (major << 16) | (minor << 8) | patch
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
    #[test]
    fn version_matches_package() {
        assert_eq!(super::ipsec_version(), 0x00_01_00);
    }
}
