//! `ipsec_gateway_reconfigure`: a new configuration for a running gateway, applied as a PAN-OS
//! commit (see [`Gateway::reconfigure`](::gateway::Gateway::reconfigure)).

use super::{config_from, ipsec_gateway, map_error, with_gateway};
use crate::status::*;
use gateway::{Instant, Reload};
use std::ffi::{c_char, c_void, CString};

/// What became of one object of the configuration, reported by `ipsec_gateway_reconfigure`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ipsec_reload_item {
    /// A static route gone, changed or through a changed tunnel interface: remove the kernel
    /// route the embedder installed for it (before removing interfaces).
    IPSEC_RELOAD_ROUTE_REMOVED = 0,
    /// A tunnel interface gone: remove its device.
    IPSEC_RELOAD_INTERFACE_REMOVED = 1,
    /// A tunnel interface whose address, MTU, zone or virtual router changed: create its
    /// device again.
    IPSEC_RELOAD_INTERFACE_CHANGED = 2,
    /// A new tunnel interface: create its device.
    IPSEC_RELOAD_INTERFACE_ADDED = 3,
    /// A static route new, changed or through a changed tunnel interface: install it (after
    /// creating interfaces).
    IPSEC_RELOAD_ROUTE_ADDED = 4,
    /// An IKE gateway whose settings did not change: its SAs are untouched.
    IPSEC_RELOAD_GATEWAY_KEPT = 5,
    /// An IKE gateway whose settings changed: its IKE SA was deleted.
    IPSEC_RELOAD_GATEWAY_CHANGED = 6,
    /// A new IKE gateway.
    IPSEC_RELOAD_GATEWAY_ADDED = 7,
    /// An IKE gateway gone: its IKE SA was deleted.
    IPSEC_RELOAD_GATEWAY_REMOVED = 8,
    /// An IPsec tunnel whose settings did not change: its Child SAs are untouched.
    IPSEC_RELOAD_TUNNEL_KEPT = 9,
    /// An IPsec tunnel whose settings changed: its Child SAs were deleted, to be negotiated
    /// again.
    IPSEC_RELOAD_TUNNEL_CHANGED = 10,
    /// A new IPsec tunnel.
    IPSEC_RELOAD_TUNNEL_ADDED = 11,
    /// An IPsec tunnel gone: its Child SAs were deleted.
    IPSEC_RELOAD_TUNNEL_REMOVED = 12,
    /// An added or changed IPsec tunnel whose negotiation was started.
    IPSEC_RELOAD_TUNNEL_INITIATED = 13,
    /// A tunnel interface whose settings did not change.
    IPSEC_RELOAD_INTERFACE_KEPT = 14,
}

/// The function `ipsec_gateway_reconfigure` calls once per object: `user` as given, what
/// became of it, and its name (NUL-terminated, valid only during the call). It is called after
/// the gateway's lock is released, so it may call into the gateway (to look up the new
/// interface ids with `ipsec_gateway_interface`, say).
#[allow(non_camel_case_types)]
pub type ipsec_reload_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, item: ipsec_reload_item, name: *const c_char)>;

/// The items of `r` in the order an embedder acts on them: kernel routes out, devices out,
/// devices in, routes in; then what became of the gateways and tunnels.
fn items(r: &Reload) -> Vec<(ipsec_reload_item, &str)> {
    use ipsec_reload_item::*;
    let lists: [(ipsec_reload_item, &[String]); 15] = [
        (IPSEC_RELOAD_ROUTE_REMOVED, &r.routes_removed),
        (IPSEC_RELOAD_INTERFACE_REMOVED, &r.tunnel_interfaces.removed),
        (IPSEC_RELOAD_INTERFACE_CHANGED, &r.tunnel_interfaces.changed),
        (IPSEC_RELOAD_INTERFACE_ADDED, &r.tunnel_interfaces.added),
        (IPSEC_RELOAD_ROUTE_ADDED, &r.routes_added),
        (IPSEC_RELOAD_INTERFACE_KEPT, &r.tunnel_interfaces.kept),
        (IPSEC_RELOAD_GATEWAY_KEPT, &r.gateways.kept),
        (IPSEC_RELOAD_GATEWAY_CHANGED, &r.gateways.changed),
        (IPSEC_RELOAD_GATEWAY_ADDED, &r.gateways.added),
        (IPSEC_RELOAD_GATEWAY_REMOVED, &r.gateways.removed),
        (IPSEC_RELOAD_TUNNEL_KEPT, &r.tunnels.kept),
        (IPSEC_RELOAD_TUNNEL_CHANGED, &r.tunnels.changed),
        (IPSEC_RELOAD_TUNNEL_ADDED, &r.tunnels.added),
        (IPSEC_RELOAD_TUNNEL_REMOVED, &r.tunnels.removed),
        (IPSEC_RELOAD_TUNNEL_INITIATED, &r.initiated),
    ];
    lists
        .into_iter()
        .flat_map(|(item, names)| names.iter().map(move |n| (item, n.as_str())))
        .collect()
}

/// Runs a new PAN-OS-shaped TOML configuration from now on, as a PAN-OS commit does: IKE
/// gateways and IPsec tunnels whose settings did not change keep their SAs (no packet lost),
/// changed and removed ones are torn down (Deletes sent) and added ones come up; routes, zones,
/// security rules, no-NAT rules and tunnel monitors of the new configuration apply at once.
///
/// `toml` points to `len` bytes of UTF-8. `each` (may be NULL) is called once per object of the
/// old and new configurations with what became of it (`ipsec_reload_item`), routes and tunnel
/// interfaces first, in the order to act on them; `*policy_changed` (may be NULL) is set to 1
/// when zones, security rules or NAT rules changed (sessions were cleared), else 0. Interface
/// ids are numbered afresh: look them up again with `ipsec_gateway_interface`. Then poll the
/// outputs, as after any command.
///
/// A configuration that does not load or cannot run is refused with `IPSEC_ERR_INVALID`,
/// `ipsec_last_error` listing every problem, one per line; the gateway goes on with the old
/// configuration, unchanged, and `each` is not called.
///
/// # Safety
///
/// `gw` must be a live handle; `toml` must point to `len` readable bytes; `each`, if not NULL,
/// must be safe to call with `user`; `policy_changed` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_reconfigure(
    gw: *mut ipsec_gateway,
    now_us: u64,
    toml: *const c_char,
    len: usize,
    each: ipsec_reload_fn,
    user: *mut c_void,
    policy_changed: *mut u8,
) -> ipsec_status {
    let mut report = None;
    let status = guard(|| {
        // SAFETY: `toml` points to `len` readable bytes by the caller's contract (NULL refused).
        let cfg = match unsafe { config_from(toml, len) } {
            Ok(c) => c,
            Err(s) => return s,
        };
        with_gateway(gw, |h| {
            match h.gw.reconfigure(Instant::from_micros(now_us), cfg) {
                Ok(r) => {
                    report = Some(r);
                    IPSEC_OK
                }
                Err(e) => map_error(e),
            }
        })
    });
    let Some(report) = report else {
        return status;
    };
    if !policy_changed.is_null() {
        // SAFETY: `policy_changed` is non-NULL and writable by the caller's contract.
        unsafe { *policy_changed = u8::from(report.policy_changed) };
    }
    if let Some(f) = each {
        guard(|| {
            for (item, name) in items(&report) {
                // Object names follow PAN-OS's characters: never a NUL.
                let Ok(name) = CString::new(name) else {
                    continue;
                };
                // SAFETY: `f` is callable with `user` by the caller's contract; `name` is
                // NUL-terminated and lives through the call.
                unsafe { f(user, item, name.as_ptr()) };
            }
            IPSEC_OK
        })
    } else {
        IPSEC_OK
    }
}
