//! `ipsec_endpoint`: the IKEv2 endpoint behind an opaque handle.
//!
//! The handle wraps [`ikev2::Endpoint`] and follows its contract: feed inputs
//! (`ipsec_endpoint_handle_datagram`, `ipsec_endpoint_handle_timeout`) and commands
//! (`ipsec_endpoint_connect`), then poll `ipsec_endpoint_poll_transmit`,
//! `ipsec_endpoint_poll_event` and `ipsec_endpoint_poll_timeout`, each until it returns
//! `IPSEC_NONE`. Times are microseconds on the caller's monotonic clock (`now_us`).

use crate::addr::ipsec_addr;
use crate::event::{ipsec_event, to_c, EventStrings};
use crate::status::*;
use ikev2::config::EndpointConfig;
use ikev2::{CommandError, Endpoint, Event, Outbound, Received, Transmit};
use ipsec_core::child_sa::ChildSa;
use ipsec_core::config::Config;
use ipsec_core::crypto::default_provider;
use ipsec_core::time::Instant;
use std::ffi::{c_char, CStr};
use std::sync::{Mutex, MutexGuard};

/// The largest UDP payload: a buffer this large always holds a datagram.
const MAX_DATAGRAM: usize = 65_535;

/// An IKEv2 endpoint: the IKE SAs of one configuration. Opaque; create it with
/// `ipsec_endpoint_new`, free it with `ipsec_endpoint_free`. Every call on the handle holds a
/// lock inside it for its duration, so calls from several threads are serialized (and
/// `ipsec_esp_table_install` may run on a datapath thread while another thread polls events);
/// the event strings of `ipsec_endpoint_poll_event` stay valid only until the next poll, whatever
/// the thread.
#[allow(non_camel_case_types)]
pub struct ipsec_endpoint {
    state: Mutex<EndpointState>,
}

/// What the lock of an [`ipsec_endpoint`] guards.
pub(crate) struct EndpointState {
    ep: Endpoint,
    /// Set after a panic inside the endpoint: its state may be inconsistent.
    pub(crate) poisoned: bool,
    /// A datagram taken from the endpoint but not yet copied out (the caller's buffer was too
    /// small), so that a short buffer loses nothing.
    pending: Option<Transmit>,
    scratch: Vec<u8>,
    strings: EventStrings,
    /// The Child SA of the last event returned, when it was `IPSEC_EVENT_CHILD_SA_UP`, for
    /// `ipsec_esp_table_install`: keys never cross the boundary.
    pub(crate) last_child: Option<(Box<ChildSa>, Outbound)>,
}

/// The handle is shared between threads only through its lock.
const _: () = {
    const fn sync<T: Sync + Send>() {}
    sync::<ipsec_endpoint>();
};

impl ipsec_endpoint {
    /// Takes the handle's lock. A panic while it was held (outside the guard that catches
    /// panics, which cannot happen) leaves the state poisoned.
    pub(crate) fn lock(&self) -> MutexGuard<'_, EndpointState> {
        self.state.lock().unwrap_or_else(|poison| {
            let mut s = poison.into_inner();
            s.poisoned = true;
            s
        })
    }
}

/// What `ipsec_endpoint_handle_datagram` found in a datagram.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ipsec_received {
    /// An IKE message, processed (or dropped and counted).
    IPSEC_RECEIVED_IKE = 0,
    /// An ESP packet in UDP (port 4500): give the same bytes to the ESP datapath.
    IPSEC_RECEIVED_ESP = 1,
    /// A NAT-keepalive: nothing to do.
    IPSEC_RECEIVED_KEEPALIVE = 2,
    /// Not an IKE message; dropped.
    IPSEC_RECEIVED_DROPPED = 3,
}

/// A datagram written by `ipsec_endpoint_poll_transmit`: send the first `len` bytes of the
/// buffer from `local` to `remote`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ipsec_transmit {
    /// The local address and port to send from.
    pub local: ipsec_addr,
    /// The destination.
    pub remote: ipsec_addr,
    /// Bytes written to the buffer (on `IPSEC_ERR_BUFFER_TOO_SMALL`: bytes needed).
    pub len: usize,
    /// Zero; reserved for growth.
    pub reserved: [u8; 16],
}

/// Runs `f` on the endpoint behind `ep` under its lock: NULL and poisoned handles are refused, a
/// panic poisons the handle.
fn with_endpoint(
    ep: *mut ipsec_endpoint,
    f: impl FnOnce(&mut EndpointState) -> ipsec_status,
) -> ipsec_status {
    if ep.is_null() {
        return fail(IPSEC_ERR_NULL, "endpoint is NULL");
    }
    // SAFETY: `ep` is non-NULL and, by the caller's contract, came from `ipsec_endpoint_new` and
    // was not freed. Only a shared reference is made: other threads may hold one too, and all
    // mutation goes through the lock.
    let handle = unsafe { &*ep };
    let mut state = handle.lock();
    if state.poisoned {
        return fail(
            IPSEC_ERR_PANIC,
            "endpoint is unusable after an internal error",
        );
    }
    let status = guard(|| f(&mut state));
    if status == IPSEC_ERR_PANIC {
        state.poisoned = true;
    }
    status
}

/// The status a refused command returns, as the header documents: an unknown name is
/// `IPSEC_ERR_INVALID`, everything the state does not allow (a passive or dynamic gateway, no
/// established SA) is `IPSEC_ERR_STATE`.
fn map_error(e: CommandError) -> ipsec_status {
    let status = if e.is_unknown_name() {
        IPSEC_ERR_INVALID
    } else {
        IPSEC_ERR_STATE
    };
    fail(status, e.to_string())
}

/// Builds the endpoint of a configuration; on failure, the problems, one per entry.
fn load(text: &str) -> Result<Endpoint, Vec<String>> {
    let cfg = Config::from_toml_str(text)
        .map_err(|errs| errs.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    let cfg = EndpointConfig::from_config(&cfg).map_err(|e| vec![e.to_string()])?;
    Endpoint::new(cfg, default_provider()).map_err(|e| vec![e.to_string()])
}

/// Creates an endpoint from a PAN-OS-shaped TOML configuration.
///
/// `toml` points to `len` bytes of UTF-8 (no terminating NUL needed). On `IPSEC_OK`, `*out`
/// holds a new endpoint owned by the caller, to free with `ipsec_endpoint_free`; on error
/// `*out` is set to NULL and `ipsec_last_error` lists every configuration problem, one per line.
///
/// # Safety
///
/// `toml` must point to `len` readable bytes; `out` must point to writable storage for a
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_new(
    toml: *const c_char,
    len: usize,
    out: *mut *mut ipsec_endpoint,
) -> ipsec_status {
    if out.is_null() {
        return fail(IPSEC_ERR_NULL, "out is NULL");
    }
    // SAFETY: `out` is non-NULL and writable by the caller's contract.
    unsafe { *out = core::ptr::null_mut() };
    if toml.is_null() {
        return fail(IPSEC_ERR_NULL, "toml is NULL");
    }
    guard(|| {
        // SAFETY: `toml` is non-NULL and points to `len` readable bytes by the caller's contract.
        let bytes = unsafe { core::slice::from_raw_parts(toml.cast::<u8>(), len) };
        let Ok(text) = core::str::from_utf8(bytes) else {
            return fail(IPSEC_ERR_INVALID, "configuration is not UTF-8");
        };
        match load(text) {
            Ok(ep) => {
                let handle = Box::new(ipsec_endpoint {
                    state: Mutex::new(EndpointState {
                        ep,
                        poisoned: false,
                        pending: None,
                        scratch: vec![0; MAX_DATAGRAM],
                        strings: EventStrings::default(),
                        last_child: None,
                    }),
                });
                // SAFETY: `out` is non-NULL and writable (checked above).
                unsafe { *out = Box::into_raw(handle) };
                IPSEC_OK
            }
            Err(problems) => fail_lines(IPSEC_ERR_INVALID, &problems),
        }
    })
}

/// Frees an endpoint and everything it owns (including the strings of the last event). NULL is
/// accepted and ignored.
///
/// # Safety
///
/// `ep` must be NULL or a handle from `ipsec_endpoint_new` not freed before; it must not be
/// used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_free(ep: *mut ipsec_endpoint) {
    if ep.is_null() {
        return;
    }
    let _ = guard(|| {
        // SAFETY: `ep` came from `Box::into_raw` in `ipsec_endpoint_new` and is freed once, by
        // the caller's contract.
        drop(unsafe { Box::from_raw(ep) });
        IPSEC_OK
    });
}

/// Brings up the `ipsec-tunnel` named `tunnel` (NUL-terminated): starts an IKE SA toward its
/// gateway, or adds a Child SA to the established one. Then poll the outputs.
///
/// Returns `IPSEC_ERR_INVALID` for an unknown tunnel, `IPSEC_ERR_STATE` when the tunnel cannot
/// be initiated (passive or dynamic gateway).
///
/// # Safety
///
/// `ep` must be a live handle; `tunnel` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_connect(
    ep: *mut ipsec_endpoint,
    now_us: u64,
    tunnel: *const c_char,
) -> ipsec_status {
    if tunnel.is_null() {
        return fail(IPSEC_ERR_NULL, "tunnel is NULL");
    }
    with_endpoint(ep, |h| {
        // SAFETY: `tunnel` is non-NULL and NUL-terminated by the caller's contract.
        let name = unsafe { CStr::from_ptr(tunnel) };
        let Ok(name) = name.to_str() else {
            return fail(IPSEC_ERR_INVALID, "tunnel name is not UTF-8");
        };
        match h.ep.connect(Instant::from_micros(now_us), name) {
            Ok(()) => IPSEC_OK,
            Err(e) => map_error(e),
        }
    })
}

/// Runs an endpoint command that takes `now` and a NUL-terminated object name.
///
/// # Safety
///
/// `ep` must be NULL or a live handle; `name` NULL or a NUL-terminated string.
unsafe fn named_command(
    ep: *mut ipsec_endpoint,
    now_us: u64,
    name: *const c_char,
    f: impl FnOnce(&mut Endpoint, Instant, &str) -> Result<(), CommandError>,
) -> ipsec_status {
    if name.is_null() {
        return fail(IPSEC_ERR_NULL, "name is NULL");
    }
    with_endpoint(ep, |h| {
        // SAFETY: `name` is non-NULL and NUL-terminated by the caller's contract.
        let Ok(name) = unsafe { CStr::from_ptr(name) }.to_str() else {
            return fail(IPSEC_ERR_INVALID, "name is not UTF-8");
        };
        match f(&mut h.ep, Instant::from_micros(now_us), name) {
            Ok(()) => IPSEC_OK,
            Err(e) => map_error(e),
        }
    })
}

/// Deletes the Child SAs of the `ipsec-tunnel` named `tunnel` (INFORMATIONAL with Delete);
/// `IPSEC_EVENT_CHILD_SA_DOWN` follows for each.
/// `IPSEC_ERR_INVALID` for an unknown tunnel, `IPSEC_ERR_STATE` when it has no Child SA.
///
/// # Safety
///
/// `ep` must be a live handle; `tunnel` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_delete_child(
    ep: *mut ipsec_endpoint,
    now_us: u64,
    tunnel: *const c_char,
) -> ipsec_status {
    // SAFETY: the caller's contract is this function's.
    unsafe { named_command(ep, now_us, tunnel, |e, now, n| e.delete_child(now, n)) }
}

/// Rekeys the Child SAs of the `ipsec-tunnel` named `tunnel`, one per proxy ID
/// (CREATE_CHILD_SA): a new `IPSEC_EVENT_CHILD_SA_UP` for each, then
/// `IPSEC_EVENT_CHILD_SA_DOWN` for the old one. For an admin's command only: the endpoint
/// rekeys on time by itself, and a second rekey of the same SA makes the peers collide.
/// `IPSEC_ERR_INVALID` for an unknown tunnel, `IPSEC_ERR_STATE` when it has no Child SA.
///
/// # Safety
///
/// `ep` must be a live handle; `tunnel` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_rekey_child(
    ep: *mut ipsec_endpoint,
    now_us: u64,
    tunnel: *const c_char,
) -> ipsec_status {
    // SAFETY: the caller's contract is this function's.
    unsafe { named_command(ep, now_us, tunnel, |e, now, n| e.rekey_child(now, n)) }
}

/// Deletes the IKE SA of the `ike-gateway` named `gateway`, and with it its Child SAs.
///
/// # Safety
///
/// `ep` must be a live handle; `gateway` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_delete_ike(
    ep: *mut ipsec_endpoint,
    now_us: u64,
    gateway: *const c_char,
) -> ipsec_status {
    // SAFETY: the caller's contract is this function's.
    unsafe { named_command(ep, now_us, gateway, |e, now, n| e.delete_ike(now, n)) }
}

/// Rekeys the IKE SA of the `ike-gateway` named `gateway`; its Child SAs move to the new one.
///
/// # Safety
///
/// `ep` must be a live handle; `gateway` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_rekey_ike(
    ep: *mut ipsec_endpoint,
    now_us: u64,
    gateway: *const c_char,
) -> ipsec_status {
    // SAFETY: the caller's contract is this function's.
    unsafe { named_command(ep, now_us, gateway, |e, now, n| e.rekey_ike(now, n)) }
}

/// Processes one datagram received on UDP port 500 or 4500: `local` is the address it arrived
/// on, `remote` its source, `buf` its `len` payload bytes (borrowed for the call only). On
/// `IPSEC_OK`, `*out` says what it was.
///
/// # Safety
///
/// `ep` must be a live handle; `local`, `remote` and `out` must be valid pointers; `buf` must
/// point to `len` readable bytes (it may be NULL when `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_handle_datagram(
    ep: *mut ipsec_endpoint,
    now_us: u64,
    local: *const ipsec_addr,
    remote: *const ipsec_addr,
    buf: *const u8,
    len: usize,
    out: *mut ipsec_received,
) -> ipsec_status {
    if local.is_null() || remote.is_null() || out.is_null() || (buf.is_null() && len != 0) {
        return fail(IPSEC_ERR_NULL, "local, remote, out or buf is NULL");
    }
    with_endpoint(ep, |h| {
        // SAFETY: both are non-NULL and point to valid `ipsec_addr` by the caller's contract.
        let (local, remote) = unsafe { (*local, *remote) };
        let (Some(local), Some(remote)) = (local.to_socket_addr(), remote.to_socket_addr()) else {
            return fail(IPSEC_ERR_INVALID, "address family is not IPSEC_AF_INET(6)");
        };
        let data: &[u8] = if len == 0 {
            &[]
        } else {
            // SAFETY: `buf` is non-NULL and points to `len` readable bytes by contract.
            unsafe { core::slice::from_raw_parts(buf, len) }
        };
        let r =
            h.ep.handle_datagram(Instant::from_micros(now_us), local, remote, data);
        let r = match r {
            Received::Ike => ipsec_received::IPSEC_RECEIVED_IKE,
            Received::Esp => ipsec_received::IPSEC_RECEIVED_ESP,
            Received::Keepalive => ipsec_received::IPSEC_RECEIVED_KEEPALIVE,
            Received::Dropped => ipsec_received::IPSEC_RECEIVED_DROPPED,
        };
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { out.write(r) };
        IPSEC_OK
    })
}

/// Processes expired deadlines; call when the time from `ipsec_endpoint_poll_timeout` has
/// passed (calling early is harmless).
///
/// # Safety
///
/// `ep` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_handle_timeout(
    ep: *mut ipsec_endpoint,
    now_us: u64,
) -> ipsec_status {
    with_endpoint(ep, |h| {
        h.ep.handle_timeout(Instant::from_micros(now_us));
        IPSEC_OK
    })
}

/// Writes the next datagram to send into the caller's `buf` of `cap` bytes and describes it in
/// `*out`. Returns `IPSEC_NONE` when nothing is queued. When `cap` is too small it returns
/// `IPSEC_ERR_BUFFER_TOO_SMALL` with the needed length in `out->len`, and keeps the datagram
/// for the next call; 65,535 bytes always suffice.
///
/// # Safety
///
/// `ep` must be a live handle, `out` a valid pointer, `buf` writable for `cap` bytes (it may be
/// NULL when `cap` is 0).
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_poll_transmit(
    ep: *mut ipsec_endpoint,
    buf: *mut u8,
    cap: usize,
    out: *mut ipsec_transmit,
) -> ipsec_status {
    if out.is_null() || (buf.is_null() && cap != 0) {
        return fail(IPSEC_ERR_NULL, "out or buf is NULL");
    }
    with_endpoint(ep, |h| {
        let t = match h.pending {
            Some(t) => t,
            None => match h.ep.poll_transmit(&mut h.scratch) {
                Some(t) => t,
                None => return IPSEC_NONE,
            },
        };
        h.pending = None;
        let desc = ipsec_transmit {
            local: t.local.into(),
            remote: t.remote.into(),
            len: t.len,
            reserved: [0; 16],
        };
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { out.write(desc) };
        let Some(bytes) = h.scratch.get(..t.len) else {
            return fail(IPSEC_ERR_INVALID, "datagram longer than the scratch buffer");
        };
        if cap < t.len {
            h.pending = Some(t);
            return fail(
                IPSEC_ERR_BUFFER_TOO_SMALL,
                format!("datagram of {} bytes, buffer of {cap}", t.len),
            );
        }
        // SAFETY: `buf` is writable for `cap >= t.len` bytes by contract (non-NULL since
        // `t.len > 0` whenever a datagram exists, and checked above for `cap != 0`); it cannot
        // overlap the endpoint's own scratch buffer.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, t.len) };
        IPSEC_OK
    })
}

/// Writes the next event into `*out`; `IPSEC_NONE` when there is none. The event's `name` and
/// `text` stay valid until the next call of this function on `ep` or `ipsec_endpoint_free`.
///
/// # Safety
///
/// `ep` must be a live handle and `out` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_poll_event(
    ep: *mut ipsec_endpoint,
    out: *mut ipsec_event,
) -> ipsec_status {
    if out.is_null() {
        return fail(IPSEC_ERR_NULL, "out is NULL");
    }
    with_endpoint(ep, |h| {
        let Some(e) = h.ep.poll_event() else {
            return IPSEC_NONE;
        };
        let c = to_c(&e, &mut h.strings);
        h.last_child = match e {
            Event::ChildSaUp {
                child, outbound, ..
            } => Some((child, outbound)),
            _ => None,
        };
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { out.write(c) };
        IPSEC_OK
    })
}

/// Writes the next deadline (microseconds on the caller's clock) to `*out_us`: call
/// `ipsec_endpoint_handle_timeout` once it has passed. `IPSEC_NONE` when nothing is scheduled.
///
/// # Safety
///
/// `ep` must be a live handle and `out_us` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_poll_timeout(
    ep: *mut ipsec_endpoint,
    out_us: *mut u64,
) -> ipsec_status {
    if out_us.is_null() {
        return fail(IPSEC_ERR_NULL, "out_us is NULL");
    }
    with_endpoint(ep, |h| match h.ep.poll_timeout() {
        Some(t) => {
            // SAFETY: `out_us` is non-NULL and writable by contract.
            unsafe { out_us.write(t.as_micros()) };
            IPSEC_OK
        }
        None => IPSEC_NONE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HQ: &str = include_str!("../../examples/configs/hq.toml");

    #[test]
    fn a_panic_is_caught_and_poisons_the_handle() {
        let mut ep = core::ptr::null_mut();
        // SAFETY: `HQ` is readable for its length; `ep` is writable.
        let st = unsafe { ipsec_endpoint_new(HQ.as_ptr().cast(), HQ.len(), &mut ep) };
        assert_eq!(st, IPSEC_OK);
        let st = with_endpoint(ep, |_| panic!("simulated bug"));
        assert_eq!(st, IPSEC_ERR_PANIC);
        assert!(crate::status::last_error().contains("simulated bug"));
        // Every later call refuses the handle instead of touching inconsistent state.
        // SAFETY: the handle is live until freed below.
        let st = unsafe { ipsec_endpoint_handle_timeout(ep, 0) };
        assert_eq!(st, IPSEC_ERR_PANIC);
        assert!(crate::status::last_error().contains("unusable"));
        // SAFETY: freed once.
        unsafe { ipsec_endpoint_free(ep) };
    }
}
