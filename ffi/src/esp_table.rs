//! `ipsec_esp_table`: the ESP datapath (`esp::SaTable`) behind an opaque handle.
//!
//! The embedder installs each Child SA that an endpoint reports (`IPSEC_EVENT_CHILD_SA_UP`)
//! with `ipsec_esp_table_install` right after polling that event, and removes it on
//! `IPSEC_EVENT_CHILD_SA_DOWN`. Keys stay inside the library. Packets are processed in the
//! caller's buffers.

use crate::addr::ipsec_addr;
use crate::endpoint::ipsec_endpoint;
use crate::status::*;
use esp::{ChildHandle, EspError, SaTable};
use ikev2::Outbound;
use ipsec_core::crypto::default_provider;
use ipsec_core::time::Instant;
use std::collections::HashMap;
use std::ffi::{c_char, CStr};

/// Space left before the inner packet for the ESP header and IV (8 + at most 16 bytes).
const HEADROOM: usize = 64;

/// The ESP Security Associations of one gateway. Opaque; create it with
/// `ipsec_esp_table_new`, free it with `ipsec_esp_table_free`. Not thread-safe: use it from one
/// thread at a time (that thread may differ from the endpoint's).
#[allow(non_camel_case_types)]
pub struct ipsec_esp_table {
    table: SaTable,
    /// Installed Child SAs by inbound SPI.
    children: HashMap<u32, ChildHandle>,
    poisoned: bool,
}

/// An ESP packet written by `ipsec_esp_table_encapsulate`: send the first `len` bytes of the
/// buffer from `source` to `destination` (as UDP when the port is not 0, else as IP protocol
/// 50).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ipsec_esp_transmit {
    /// Our outer address (port 0 for raw ESP).
    pub source: ipsec_addr,
    /// The peer (port 0 for raw ESP).
    pub destination: ipsec_addr,
    /// The SPI of the SA that was used.
    pub spi: u32,
    /// Bytes written at the start of the buffer (on `IPSEC_ERR_BUFFER_TOO_SMALL`: the
    /// capacity needed).
    pub len: usize,
    /// Zero; reserved for growth.
    pub reserved: [u8; 16],
}

/// A packet decapsulated by `ipsec_esp_table_decapsulate`: the inner packet is
/// `buf[offset .. offset + len]` of the caller's buffer.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ipsec_esp_delivered {
    /// The inbound SPI.
    pub spi: u32,
    /// The ESP Next Header: 4 (IPv4) or 41 (IPv6) in tunnel mode.
    pub next_header: u8,
    /// The full sequence number.
    pub sequence: u64,
    /// Where the inner packet starts in the buffer.
    pub offset: usize,
    /// Its length.
    pub len: usize,
    /// Zero; reserved for growth.
    pub reserved: [u8; 16],
}

fn with_table(
    t: *mut ipsec_esp_table,
    f: impl FnOnce(&mut ipsec_esp_table) -> ipsec_status,
) -> ipsec_status {
    if t.is_null() {
        return fail(IPSEC_ERR_NULL, "table is NULL");
    }
    // SAFETY: `t` is non-NULL and, by the caller's contract, a live handle from
    // `ipsec_esp_table_new` not used by another thread during this call.
    let handle = unsafe { &mut *t };
    if handle.poisoned {
        return fail(IPSEC_ERR_PANIC, "table is unusable after an internal error");
    }
    let status = guard(|| f(handle));
    if status == IPSEC_ERR_PANIC {
        // SAFETY: as above; the closure that borrowed the handle has ended.
        unsafe { (*t).poisoned = true };
    }
    status
}

fn dropped(e: EspError) -> ipsec_status {
    fail(IPSEC_ERR_DROPPED, e.to_string())
}

/// Creates an empty ESP table using the default crypto provider. On `IPSEC_OK`, `*out` holds
/// a table owned by the caller, to free with `ipsec_esp_table_free`.
///
/// # Safety
///
/// `out` must point to writable storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn ipsec_esp_table_new(out: *mut *mut ipsec_esp_table) -> ipsec_status {
    if out.is_null() {
        return fail(IPSEC_ERR_NULL, "out is NULL");
    }
    guard(|| {
        let t = Box::new(ipsec_esp_table {
            table: SaTable::new(default_provider()),
            children: HashMap::new(),
            poisoned: false,
        });
        // SAFETY: `out` is non-NULL and writable by the caller's contract.
        unsafe { *out = Box::into_raw(t) };
        IPSEC_OK
    })
}

/// Frees a table and its SAs (their keys are zeroized). NULL is accepted and ignored.
///
/// # Safety
///
/// `t` must be NULL or a handle from `ipsec_esp_table_new` not freed before.
#[no_mangle]
pub unsafe extern "C" fn ipsec_esp_table_free(t: *mut ipsec_esp_table) {
    if t.is_null() {
        return;
    }
    let _ = guard(|| {
        // SAFETY: `t` came from `Box::into_raw` in `ipsec_esp_table_new`, freed once.
        drop(unsafe { Box::from_raw(t) });
        IPSEC_OK
    });
}

/// Installs the Child SA of the event that the last `ipsec_endpoint_poll_event` on `ep`
/// returned. That event must be `IPSEC_EVENT_CHILD_SA_UP` (else `IPSEC_ERR_STATE`); an SA
/// already installed gives `IPSEC_ERR_INVALID`. When the event has `outbound_later`, the SA
/// only receives until `ipsec_esp_table_activate` (or its first authenticated packet); the
/// tunnel keeps sending on the SA it replaces. The event is read under the endpoint's lock, so
/// this may run on another thread than the one polling `ep` (it then installs whichever event
/// was polled last when it takes the lock).
///
/// # Safety
///
/// `t` and `ep` must be live handles.
#[no_mangle]
pub unsafe extern "C" fn ipsec_esp_table_install(
    t: *mut ipsec_esp_table,
    ep: *mut ipsec_endpoint,
    now_us: u64,
) -> ipsec_status {
    if ep.is_null() {
        return fail(IPSEC_ERR_NULL, "endpoint is NULL");
    }
    with_table(t, |t| {
        // SAFETY: `ep` is non-NULL and a live endpoint handle by the caller's contract; it is a
        // different object from the table. Only a shared reference is made, and the last event is
        // read under the endpoint's lock, as another thread may be polling events meanwhile.
        let e = unsafe { &*ep }.lock();
        if e.poisoned {
            return fail(
                IPSEC_ERR_STATE,
                "endpoint is unusable after an internal error",
            );
        }
        let Some((child, outbound)) = e.last_child.as_ref() else {
            return fail(
                IPSEC_ERR_STATE,
                "the last event polled from the endpoint is not IPSEC_EVENT_CHILD_SA_UP",
            );
        };
        let now = Instant::from_micros(now_us);
        let installed = match outbound {
            Outbound::Later => t.table.install_inbound(now, child),
            Outbound::Now => t.table.install(now, child),
        };
        match installed {
            Ok(h) => {
                t.children.insert(h.inbound_spi, h);
                IPSEC_OK
            }
            Err(err) => fail(IPSEC_ERR_INVALID, err.to_string()),
        }
    })
}

/// Starts sending on the Child SA whose inbound SPI is `inbound_spi` (from
/// `IPSEC_EVENT_CHILD_SA_OUTBOUND`). `IPSEC_ERR_INVALID` when no such SA is installed.
///
/// # Safety
///
/// `t` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_esp_table_activate(
    t: *mut ipsec_esp_table,
    inbound_spi: u32,
) -> ipsec_status {
    with_table(t, |t| match t.children.get(&inbound_spi) {
        Some(h) => {
            t.table.activate_outbound(*h);
            IPSEC_OK
        }
        None => fail(
            IPSEC_ERR_INVALID,
            format!("no Child SA with inbound SPI {inbound_spi:08X}"),
        ),
    })
}

/// Retires the Child SA whose inbound SPI is `inbound_spi` (from `IPSEC_EVENT_CHILD_SA_DOWN`,
/// with its `linger_ms`): nothing is sent on it from now on, and it still accepts packets for
/// `linger_ms`, then `ipsec_esp_table_handle_timeout` removes it (0 removes it at once).
/// `IPSEC_ERR_INVALID` when no such SA is installed.
///
/// # Safety
///
/// `t` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_esp_table_retire(
    t: *mut ipsec_esp_table,
    now_us: u64,
    inbound_spi: u32,
    linger_ms: u32,
) -> ipsec_status {
    with_table(t, |t| match t.children.remove(&inbound_spi) {
        Some(h) => {
            let linger = std::time::Duration::from_millis(u64::from(linger_ms));
            t.table
                .retire_lingering(Instant::from_micros(now_us), h, linger);
            IPSEC_OK
        }
        None => fail(
            IPSEC_ERR_INVALID,
            format!("no Child SA with inbound SPI {inbound_spi:08X}"),
        ),
    })
}

/// Removes retired SAs whose linger is over and raises the SAs' time limits; call it when the
/// instant from `ipsec_esp_table_poll_timeout` has passed.
///
/// # Safety
///
/// `t` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_esp_table_handle_timeout(
    t: *mut ipsec_esp_table,
    now_us: u64,
) -> ipsec_status {
    with_table(t, |t| {
        t.table.handle_timeout(Instant::from_micros(now_us));
        IPSEC_OK
    })
}

/// Writes the table's next deadline (microseconds on the caller's clock) to `*out_us`.
/// `IPSEC_NONE` when nothing is scheduled.
///
/// # Safety
///
/// `t` must be a live handle and `out_us` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ipsec_esp_table_poll_timeout(
    t: *mut ipsec_esp_table,
    out_us: *mut u64,
) -> ipsec_status {
    if out_us.is_null() {
        return fail(IPSEC_ERR_NULL, "out_us is NULL");
    }
    with_table(t, |t| match t.table.poll_timeout() {
        Some(at) => {
            // SAFETY: `out_us` is non-NULL and writable by the caller's contract.
            unsafe { out_us.write(at.as_micros()) };
            IPSEC_OK
        }
        None => IPSEC_NONE,
    })
}

/// Removes the Child SA whose inbound SPI is `inbound_spi` (from `IPSEC_EVENT_CHILD_SA_DOWN`).
/// `IPSEC_ERR_INVALID` when no such SA is installed.
///
/// # Safety
///
/// `t` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_esp_table_remove(
    t: *mut ipsec_esp_table,
    inbound_spi: u32,
) -> ipsec_status {
    with_table(t, |t| match t.children.remove(&inbound_spi) {
        Some(h) => {
            t.table.remove(h);
            IPSEC_OK
        }
        None => fail(
            IPSEC_ERR_INVALID,
            format!("no Child SA with inbound SPI {inbound_spi:08X}"),
        ),
    })
}

/// Encapsulates the IP packet `packet` (`len` bytes, borrowed for the call) with the newest SA
/// of the `ipsec-tunnel` named `tunnel` whose selectors carry it, writing the ESP packet to the
/// start of the caller's `buf` (`cap` bytes). `cap >= len + 128` always suffices for SAs without
/// TFC padding; on `IPSEC_ERR_BUFFER_TOO_SMALL`, `out->len` is the capacity needed. A packet no
/// SA carries gives `IPSEC_ERR_DROPPED`.
///
/// # Safety
///
/// `t` must be a live handle, `tunnel` a NUL-terminated string, `packet` readable for `len`
/// bytes, `buf` writable for `cap` bytes and not overlapping `packet`, `out` a valid pointer.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ipsec_esp_table_encapsulate(
    t: *mut ipsec_esp_table,
    now_us: u64,
    tunnel: *const c_char,
    packet: *const u8,
    len: usize,
    buf: *mut u8,
    cap: usize,
    out: *mut ipsec_esp_transmit,
) -> ipsec_status {
    if tunnel.is_null() || packet.is_null() || buf.is_null() || out.is_null() {
        return fail(IPSEC_ERR_NULL, "tunnel, packet, buf or out is NULL");
    }
    with_table(t, |t| {
        // SAFETY: `tunnel` is non-NULL and NUL-terminated by contract.
        let Ok(name) = unsafe { CStr::from_ptr(tunnel) }.to_str() else {
            return fail(IPSEC_ERR_INVALID, "tunnel name is not UTF-8");
        };
        let Some(id) = t.table.tunnel(name) else {
            return fail(
                IPSEC_ERR_INVALID,
                format!("no SA installed for tunnel {name}"),
            );
        };
        let mut desc = ipsec_esp_transmit::default();
        let needed = HEADROOM.saturating_add(len);
        if cap < needed {
            desc.len = needed.saturating_add(64);
            // SAFETY: `out` is non-NULL and writable by contract.
            unsafe { out.write(desc) };
            return fail(IPSEC_ERR_BUFFER_TOO_SMALL, format!("buffer of {cap} bytes"));
        }
        // SAFETY: `buf` is non-NULL and writable for `cap` bytes by contract; `packet` is
        // readable for `len` bytes and does not overlap it.
        let (buf, packet) = unsafe {
            (
                core::slice::from_raw_parts_mut(buf, cap),
                core::slice::from_raw_parts(packet, len),
            )
        };
        let Some(dst) = buf.get_mut(HEADROOM..needed) else {
            return fail(IPSEC_ERR_BUFFER_TOO_SMALL, "buffer too small");
        };
        dst.copy_from_slice(packet);
        match t
            .table
            .encapsulate(Instant::from_micros(now_us), id, buf, HEADROOM..needed)
        {
            Ok(tx) => {
                let n = tx.range.len();
                buf.copy_within(tx.range, 0);
                desc.source = tx.source.into();
                desc.destination = tx.destination.into();
                desc.spi = tx.spi;
                desc.len = n;
                // SAFETY: `out` is non-NULL and writable by contract.
                unsafe { out.write(desc) };
                IPSEC_OK
            }
            Err(EspError::BufferTooSmall { tailroom, .. }) => {
                desc.len = needed.saturating_add(tailroom);
                // SAFETY: `out` is non-NULL and writable by contract.
                unsafe { out.write(desc) };
                fail(IPSEC_ERR_BUFFER_TOO_SMALL, format!("buffer of {cap} bytes"))
            }
            Err(e) => dropped(e),
        }
    })
}

/// Decapsulates, in place, the ESP packet in `buf` (`len` bytes: the UDP payload on port 4500,
/// or the IP payload of protocol 50) and describes the inner packet in `*out`. Returns
/// `IPSEC_NONE` for an authenticated dummy packet (nothing to deliver) and
/// `IPSEC_ERR_DROPPED` for a packet that fails any check.
///
/// # Safety
///
/// `t` must be a live handle, `buf` readable and writable for `len` bytes, `out` a valid
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn ipsec_esp_table_decapsulate(
    t: *mut ipsec_esp_table,
    now_us: u64,
    buf: *mut u8,
    len: usize,
    out: *mut ipsec_esp_delivered,
) -> ipsec_status {
    if buf.is_null() || out.is_null() {
        return fail(IPSEC_ERR_NULL, "buf or out is NULL");
    }
    with_table(t, |t| {
        // SAFETY: `buf` is non-NULL and valid for `len` bytes by contract.
        let packet = unsafe { core::slice::from_raw_parts_mut(buf, len) };
        match t.table.decapsulate(Instant::from_micros(now_us), packet) {
            Ok(Some(d)) => {
                let desc = ipsec_esp_delivered {
                    spi: d.spi,
                    next_header: d.packet.next_header,
                    sequence: d.packet.sequence,
                    offset: d.packet.range.start,
                    len: d.packet.range.len(),
                    reserved: [0; 16],
                };
                // SAFETY: `out` is non-NULL and writable by contract.
                unsafe { out.write(desc) };
                IPSEC_OK
            }
            Ok(None) => IPSEC_NONE,
            Err(e) => dropped(e),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::ipsec_endpoint_new;
    use std::sync::mpsc;
    use std::time::Duration;

    const HQ: &str = include_str!("../../examples/configs/hq.toml");

    /// The two handles, moved to the installing thread.
    struct Handles(*mut ipsec_esp_table, *mut ipsec_endpoint);

    // SAFETY: the table is used by the installing thread only; the endpoint is only reached
    // through its lock.
    unsafe impl Send for Handles {}

    #[test]
    fn install_waits_for_the_endpoint_lock() {
        let (mut ep, mut t) = (core::ptr::null_mut(), core::ptr::null_mut());
        // SAFETY: `HQ` is readable for its length; the out-pointers are writable.
        unsafe {
            assert_eq!(
                ipsec_endpoint_new(HQ.as_ptr().cast(), HQ.len(), &mut ep),
                IPSEC_OK
            );
            assert_eq!(ipsec_esp_table_new(&mut t), IPSEC_OK);
        }
        // SAFETY: `ep` is live until freed below; only a shared reference is made.
        let endpoint = unsafe { &*ep };
        // Another thread inside the endpoint (as `ipsec_endpoint_poll_event` replacing the last
        // event would be): the install must wait for it rather than read the event meanwhile.
        let busy = endpoint.lock();
        let (done, finished) = mpsc::channel();
        let handles = Handles(t, ep);
        let installer = std::thread::spawn(move || {
            let h = handles;
            // SAFETY: both handles are live until the thread is joined.
            let st = unsafe { ipsec_esp_table_install(h.0, h.1, 0) };
            done.send(st).unwrap();
        });
        assert_eq!(
            finished.recv_timeout(Duration::from_millis(300)),
            Err(mpsc::RecvTimeoutError::Timeout),
            "the install read the endpoint while another call held it"
        );
        drop(busy);
        // No event was polled, so there is nothing to install; but the call went through.
        assert_eq!(finished.recv().unwrap(), IPSEC_ERR_STATE);
        installer.join().unwrap();
        // SAFETY: freed once, after the installing thread ended.
        unsafe {
            ipsec_esp_table_free(t);
            crate::endpoint::ipsec_endpoint_free(ep);
        }
    }
}
