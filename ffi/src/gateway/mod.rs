//! `ipsec_gateway`: the route-based VPN of one firewall ([`Gateway`](::gateway::Gateway))
//! behind an opaque handle.
//!
//! The handle follows the gateway's contract: feed it outer datagrams
//! (`ipsec_gateway_handle_datagram`, `ipsec_gateway_handle_esp`), inner packets
//! (`ipsec_gateway_handle_inner`, `ipsec_gateway_handle_local`) and the time
//! (`ipsec_gateway_handle_timeout`), act on the `ipsec_action` each input returns, then poll
//! `ipsec_gateway_poll_transmit`, `ipsec_gateway_poll_event` and `ipsec_gateway_poll_timeout`
//! until each returns `IPSEC_NONE`. Child SAs are installed, rekeyed on the datapath's
//! lifetimes and removed by the gateway itself; the caller never installs keys.

mod io;
mod reload;

pub use io::*;
pub use reload::*;

use crate::event::EventStrings;
use crate::status::*;
use gateway::{Config, Gateway, Instant, Options};
use ipsec_core::time::UnixTime;
use std::ffi::{c_char, CStr};
use std::sync::{Mutex, MutexGuard};

/// The largest UDP payload: a buffer this large always holds a datagram.
const MAX_DATAGRAM: usize = 65_535;

/// Free bytes to leave before an inner packet given to `ipsec_gateway_handle_inner`, for the
/// ESP header and IV.
pub const IPSEC_HEADROOM: usize = 64;
/// Free bytes to leave after it, for ESP padding, trailer and ICV.
pub const IPSEC_TAILROOM: usize = 64;

// Spelled out above for the header; the gateway's own figures are the truth.
const _: () = assert!(IPSEC_HEADROOM == gateway::HEADROOM && IPSEC_TAILROOM == gateway::TAILROOM);

/// A gateway: IKE, the ESP datapath, routes, zones and security rules of one configuration.
/// Opaque; create it with `ipsec_gateway_new`, free it with `ipsec_gateway_free`. Every call on
/// the handle holds a lock inside it for its duration, so calls from several threads are
/// serialized; the event strings of `ipsec_gateway_poll_event` stay valid only until the next
/// poll, whatever the thread.
#[allow(non_camel_case_types)]
pub struct ipsec_gateway {
    state: Mutex<GatewayState>,
}

/// What the lock of an [`ipsec_gateway`] guards.
struct GatewayState {
    gw: Gateway,
    /// Set after a panic inside the gateway: its state may be inconsistent.
    poisoned: bool,
    /// A packet taken from the gateway but not yet copied out (the caller's buffer was too
    /// small), so that a short buffer loses nothing.
    pending: Option<gateway::Transmit>,
    scratch: Vec<u8>,
    strings: EventStrings,
}

/// The handle is shared between threads only through its lock.
const _: () = {
    const fn sync<T: Sync + Send>() {}
    sync::<ipsec_gateway>();
};

/// How a gateway runs, beyond its configuration. Zero-initialise it and set what you need;
/// a zero `session_limit` keeps the default (16,384).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ipsec_gateway_options {
    /// Non-zero: UDP-encapsulate ESP even without NAT (RFC 3948), for networks that pass UDP
    /// but not IP protocol 50.
    pub force_udp_encapsulation: u8,
    /// Zero; reserved for growth.
    pub reserved0: [u8; 3],
    /// The most sessions at once (0: the default).
    pub session_limit: u32,
    /// Zero; reserved for growth.
    pub reserved: [u8; 24],
}

/// Runs `f` on the gateway behind `gw` under its lock: NULL and poisoned handles are refused,
/// a panic poisons the handle.
fn with_gateway(
    gw: *mut ipsec_gateway,
    f: impl FnOnce(&mut GatewayState) -> ipsec_status,
) -> ipsec_status {
    if gw.is_null() {
        return fail(IPSEC_ERR_NULL, "gateway is NULL");
    }
    // SAFETY: `gw` is non-NULL and, by the caller's contract, came from `ipsec_gateway_new` and
    // was not freed. Only a shared reference is made: all mutation goes through the lock.
    let handle = unsafe { &*gw };
    let mut state = lock(handle);
    if state.poisoned {
        return fail(
            IPSEC_ERR_PANIC,
            "gateway is unusable after an internal error",
        );
    }
    let status = guard(|| f(&mut state));
    if status == IPSEC_ERR_PANIC {
        state.poisoned = true;
    }
    status
}

/// Takes the handle's lock; a lock poisoned by a panic leaves the state poisoned.
fn lock(handle: &ipsec_gateway) -> MutexGuard<'_, GatewayState> {
    handle.state.lock().unwrap_or_else(|poison| {
        let mut s = poison.into_inner();
        s.poisoned = true;
        s
    })
}

/// The status of a refused command: an unknown name or SPI is `IPSEC_ERR_INVALID`, what the
/// state does not allow is `IPSEC_ERR_STATE`.
fn map_error(e: gateway::Error) -> ipsec_status {
    let status = match &e {
        gateway::Error::Ike(c) if c.is_unknown_name() => IPSEC_ERR_INVALID,
        gateway::Error::Ike(ikev2::CommandError::NoChildSa(_)) => IPSEC_ERR_INVALID,
        gateway::Error::Ike(_) => IPSEC_ERR_STATE,
        _ => IPSEC_ERR_INVALID,
    };
    fail(status, e.to_string())
}

/// The configuration in the `len` bytes at `toml`, or the status (every problem, one per line,
/// in the last error).
///
/// # Safety
///
/// `toml` must be NULL or point to `len` readable bytes.
unsafe fn config_from(toml: *const c_char, len: usize) -> Result<Config, ipsec_status> {
    if toml.is_null() {
        return Err(fail(IPSEC_ERR_NULL, "toml is NULL"));
    }
    // SAFETY: `toml` is non-NULL and points to `len` readable bytes by the caller's contract.
    let bytes = unsafe { core::slice::from_raw_parts(toml.cast::<u8>(), len) };
    let Ok(text) = core::str::from_utf8(bytes) else {
        return Err(fail(IPSEC_ERR_INVALID, "configuration is not UTF-8"));
    };
    Config::from_toml_str(text).map_err(|errs| {
        let problems: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        fail_lines(IPSEC_ERR_INVALID, &problems)
    })
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
///
/// `s` must be NULL or NUL-terminated.
unsafe fn text<'a>(s: *const c_char, what: &str) -> Result<&'a str, ipsec_status> {
    if s.is_null() {
        return Err(fail(IPSEC_ERR_NULL, format!("{what} is NULL")));
    }
    // SAFETY: `s` is non-NULL and NUL-terminated by the caller's contract.
    unsafe { CStr::from_ptr(s) }
        .to_str()
        .map_err(|_| fail(IPSEC_ERR_INVALID, format!("{what} is not UTF-8")))
}

/// Creates a gateway from a PAN-OS-shaped TOML configuration, with the default crypto
/// provider.
///
/// `toml` points to `len` bytes of UTF-8 (no terminating NUL needed); `options` may be NULL for
/// the defaults. On `IPSEC_OK`, `*out` holds a new gateway owned by the caller, to free with
/// `ipsec_gateway_free`; on error `*out` is NULL and `ipsec_last_error` lists every
/// configuration problem, one per line.
///
/// # Safety
///
/// `toml` must point to `len` readable bytes; `options` must be NULL or valid; `out` must point
/// to writable storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_new(
    toml: *const c_char,
    len: usize,
    options: *const ipsec_gateway_options,
    out: *mut *mut ipsec_gateway,
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
        let mut opts = Options::default();
        if !options.is_null() {
            // SAFETY: `options` is non-NULL and valid by the caller's contract.
            let o = unsafe { *options };
            opts.force_udp_encapsulation = o.force_udp_encapsulation != 0;
            if o.session_limit != 0 {
                opts.session_limit = o.session_limit as usize;
            }
        }
        // SAFETY: `toml` is non-NULL and points to `len` readable bytes by the caller's contract.
        let cfg = match unsafe { config_from(toml, len) } {
            Ok(c) => c,
            Err(s) => return s,
        };
        match Gateway::with_options(cfg, gateway::default_provider(), opts) {
            Ok(gw) => {
                let handle = Box::new(ipsec_gateway {
                    state: Mutex::new(GatewayState {
                        gw,
                        poisoned: false,
                        pending: None,
                        scratch: vec![0; MAX_DATAGRAM],
                        strings: EventStrings::default(),
                    }),
                });
                // SAFETY: `out` is non-NULL and writable (checked above).
                unsafe { *out = Box::into_raw(handle) };
                IPSEC_OK
            }
            Err(e) => fail(IPSEC_ERR_INVALID, e.to_string()),
        }
    })
}

/// Frees a gateway and everything it owns (keys are zeroized). NULL is accepted and ignored.
///
/// # Safety
///
/// `gw` must be NULL or a handle from `ipsec_gateway_new` not freed before; it must not be used
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_free(gw: *mut ipsec_gateway) {
    if gw.is_null() {
        return;
    }
    let _ = guard(|| {
        // SAFETY: `gw` came from `Box::into_raw` in `ipsec_gateway_new` and is freed once, by the
        // caller's contract.
        drop(unsafe { Box::from_raw(gw) });
        IPSEC_OK
    });
}

/// Writes the id of the interface named `name` (`tunnel.1`, `ethernet1/2`) to `*out`, for
/// `ipsec_gateway_handle_inner` and `ipsec_action.interface`. `IPSEC_ERR_INVALID` when the
/// configuration names no such interface.
///
/// # Safety
///
/// `gw` must be a live handle; `name` NULL or NUL-terminated; `out` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_interface(
    gw: *mut ipsec_gateway,
    name: *const c_char,
    out: *mut u16,
) -> ipsec_status {
    if out.is_null() {
        return fail(IPSEC_ERR_NULL, "out is NULL");
    }
    with_gateway(gw, |h| {
        // SAFETY: the caller's contract.
        let name = match unsafe { text(name, "name") } {
            Ok(n) => n,
            Err(s) => return s,
        };
        match h.gw.interface(name) {
            Some(id) => {
                // SAFETY: `out` is non-NULL and writable by contract.
                unsafe { out.write(id.get()) };
                IPSEC_OK
            }
            None => fail(IPSEC_ERR_INVALID, format!("no interface `{name}`")),
        }
    })
}

/// Gives the non-tunnel interface `name` the address `cidr` (`10.1.0.1/24`): its subnet becomes
/// a connected route, so packets out of a tunnel find the LAN.
///
/// # Safety
///
/// `gw` must be a live handle; `name` and `cidr` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_set_interface_address(
    gw: *mut ipsec_gateway,
    name: *const c_char,
    cidr: *const c_char,
) -> ipsec_status {
    with_gateway(gw, |h| {
        // SAFETY: the caller's contract.
        let (name, cidr) = match unsafe { (text(name, "name"), text(cidr, "cidr")) } {
            (Ok(n), Ok(c)) => (n, c),
            (Err(s), _) | (_, Err(s)) => return s,
        };
        let Ok(address) = cidr.parse() else {
            return fail(
                IPSEC_ERR_INVALID,
                format!("`{cidr}` is not an address/prefix"),
            );
        };
        match h.gw.set_interface_address(name, address) {
            Ok(()) => IPSEC_OK,
            Err(e) => map_error(e),
        }
    })
}

/// Brings up the `ipsec-tunnel` named `tunnel`; the gateway keeps it up from then on (rekeys,
/// restarts, tunnel monitor). Then poll the outputs.
///
/// # Safety
///
/// `gw` must be a live handle; `tunnel` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_connect(
    gw: *mut ipsec_gateway,
    now_us: u64,
    tunnel: *const c_char,
) -> ipsec_status {
    with_gateway(gw, |h| {
        // SAFETY: the caller's contract.
        let name = match unsafe { text(tunnel, "tunnel") } {
            Ok(n) => n,
            Err(s) => return s,
        };
        match h.gw.connect(Instant::from_micros(now_us), name) {
            Ok(()) => IPSEC_OK,
            Err(e) => map_error(e),
        }
    })
}

/// Brings up every tunnel whose IKE gateway may initiate; writes how many to `*count` (which
/// may be NULL).
///
/// # Safety
///
/// `gw` must be a live handle; `count` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_connect_all(
    gw: *mut ipsec_gateway,
    now_us: u64,
    count: *mut usize,
) -> ipsec_status {
    with_gateway(gw, |h| {
        match h.gw.connect_all(Instant::from_micros(now_us)) {
            Ok(n) => {
                if !count.is_null() {
                    // SAFETY: `count` is non-NULL and writable by contract.
                    unsafe { count.write(n) };
                }
                IPSEC_OK
            }
            Err(e) => map_error(e),
        }
    })
}

/// Rekeys the one Child SA whose inbound SPI is `inbound_spi` (an admin's `test vpn
/// ipsec-sa`). Never needed for lifetimes: the gateway rekeys on them itself.
/// `IPSEC_ERR_INVALID` when no established IKE SA carries it.
///
/// # Safety
///
/// `gw` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_rekey_child_sa(
    gw: *mut ipsec_gateway,
    now_us: u64,
    inbound_spi: u32,
) -> ipsec_status {
    with_gateway(gw, |h| {
        match h
            .gw
            .rekey_child_sa(Instant::from_micros(now_us), inbound_spi)
        {
            Ok(()) => IPSEC_OK,
            Err(e) => map_error(e),
        }
    })
}

/// Deletes the one Child SA whose inbound SPI is `inbound_spi` (`clear vpn ipsec-sa`).
/// `IPSEC_ERR_INVALID` when no established IKE SA carries it.
///
/// # Safety
///
/// `gw` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_delete_child_sa(
    gw: *mut ipsec_gateway,
    now_us: u64,
    inbound_spi: u32,
) -> ipsec_status {
    with_gateway(gw, |h| {
        match h
            .gw
            .delete_child_sa(Instant::from_micros(now_us), inbound_spi)
        {
            Ok(()) => IPSEC_OK,
            Err(e) => map_error(e),
        }
    })
}

/// Deletes the IKE SA of the `ike-gateway` named `name` and its Child SAs (`clear vpn ike-sa`).
///
/// # Safety
///
/// `gw` must be a live handle; `name` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_delete_ike(
    gw: *mut ipsec_gateway,
    now_us: u64,
    name: *const c_char,
) -> ipsec_status {
    with_gateway(gw, |h| {
        // SAFETY: the caller's contract.
        let name = match unsafe { text(name, "name") } {
            Ok(n) => n,
            Err(s) => return s,
        };
        match h.gw.delete_ike(Instant::from_micros(now_us), name) {
            Ok(()) => IPSEC_OK,
            Err(e) => map_error(e),
        }
    })
}

/// Rekeys the IKE SA of the `ike-gateway` named `name` now.
///
/// # Safety
///
/// `gw` must be a live handle; `name` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_rekey_ike(
    gw: *mut ipsec_gateway,
    now_us: u64,
    name: *const c_char,
) -> ipsec_status {
    with_gateway(gw, |h| {
        // SAFETY: the caller's contract.
        let name = match unsafe { text(name, "name") } {
            Ok(n) => n,
            Err(s) => return s,
        };
        match h.gw.rekey_ike(Instant::from_micros(now_us), name) {
            Ok(()) => IPSEC_OK,
            Err(e) => map_error(e),
        }
    })
}

/// Tells the gateway the wall-clock time: `unix_secs` seconds since the Unix epoch at the
/// monotonic instant `now_us`. Certificates' validity dates are checked against it (the library
/// reads no clock); call it at start and whenever the system clock is set. Without it, a
/// configuration with certificates fails its negotiations.
///
/// # Safety
///
/// `gw` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_set_wall_clock(
    gw: *mut ipsec_gateway,
    now_us: u64,
    unix_secs: u64,
) -> ipsec_status {
    with_gateway(gw, |h| {
        h.gw.set_wall_clock(Instant::from_micros(now_us), UnixTime::from_secs(unix_secs));
        IPSEC_OK
    })
}
