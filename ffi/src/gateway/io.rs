//! The inputs and outputs of an `ipsec_gateway`: outer datagrams and inner packets in, each
//! answered with an `ipsec_action` for the caller's buffer (drops with their reason codes);
//! packets, events and the next deadline out; the global counters.

use super::{ipsec_gateway, with_gateway};
use crate::addr::ipsec_addr;
use crate::event::{ipsec_event, ipsec_event_kind, to_c, EventStrings};
use crate::status::*;
use gateway::{Action, DropReason, Event, Instant, OuterProtocol};
use std::ffi::{c_char, CStr};

/// Why a packet was dropped (`ipsec_action.drop`), as `show counter global` names it
/// (`ipsec_drop_reason_name`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ipsec_drop_reason {
    /// Not a drop.
    IPSEC_DROP_NONE = 0,
    /// Not a well-formed IPv4 or IPv6 packet (`flow_parse_l3_err`).
    IPSEC_DROP_MALFORMED = 1,
    /// No route covers the destination (`flow_fwd_l3_noroute`).
    IPSEC_DROP_NO_ROUTE = 2,
    /// The ingress or egress interface is in no zone (`flow_fwd_notopology`).
    IPSEC_DROP_NO_ZONE = 3,
    /// The route's tunnel has no Child SA (`flow_tunnel_down`).
    IPSEC_DROP_TUNNEL_DOWN = 4,
    /// No proxy ID of the tunnel covers the packet (`flow_tunnel_no_proxyid`).
    IPSEC_DROP_NO_PROXY_ID = 5,
    /// A security rule denied the session (`flow_policy_deny`).
    IPSEC_DROP_POLICY_DENY = 6,
    /// The session table is full (`flow_session_alloc_fail`).
    IPSEC_DROP_SESSION_LIMIT = 7,
    /// ESP encapsulation failed: an SA limit, or no headroom/tailroom (`flow_tunnel_encap_err`).
    IPSEC_DROP_ENCAP_FAILED = 8,
    /// The ESP datapath refused a received packet (`flow_tunnel_decap_err`).
    IPSEC_DROP_ESP = 9,
    /// A datagram on port 4500 that is neither IKE, ESP nor a keepalive
    /// (`flow_udp_encap_malformed`).
    IPSEC_DROP_BAD_UDP_ENCAP = 10,
}

const DROP_CODES: [(DropReason, ipsec_drop_reason); 10] = {
    use ipsec_drop_reason::*;
    [
        (DropReason::Malformed, IPSEC_DROP_MALFORMED),
        (DropReason::NoRoute, IPSEC_DROP_NO_ROUTE),
        (DropReason::NoZone, IPSEC_DROP_NO_ZONE),
        (DropReason::TunnelDown, IPSEC_DROP_TUNNEL_DOWN),
        (DropReason::NoProxyId, IPSEC_DROP_NO_PROXY_ID),
        (DropReason::PolicyDeny, IPSEC_DROP_POLICY_DENY),
        (DropReason::SessionLimit, IPSEC_DROP_SESSION_LIMIT),
        (DropReason::EncapFailed, IPSEC_DROP_ENCAP_FAILED),
        (DropReason::Esp, IPSEC_DROP_ESP),
        (DropReason::BadUdpEncap, IPSEC_DROP_BAD_UDP_ENCAP),
    ]
};

fn drop_code(r: DropReason) -> ipsec_drop_reason {
    DROP_CODES
        .iter()
        .find(|(d, _)| *d == r)
        .map_or(ipsec_drop_reason::IPSEC_DROP_NONE, |(_, c)| *c)
}

/// What became of a packet (`ipsec_action.kind`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ipsec_action_kind {
    /// Nothing left to do: an IKE message (answers come from `ipsec_gateway_poll_transmit`),
    /// a keepalive, a tunnel monitor's answer.
    IPSEC_ACTION_CONSUMED = 0,
    /// Send `buf[offset .. offset + len]` from `source` to `destination`: over UDP when
    /// `protocol` is 17, as IP protocol 50 when it is 50.
    IPSEC_ACTION_SEND = 1,
    /// Hand the inner packet `buf[offset .. offset + len]` out of `interface` (to `next_hop`
    /// when its family is not 0).
    IPSEC_ACTION_DELIVER = 2,
    /// Dropped, for `drop`; counted in `ipsec_gateway_counters`.
    IPSEC_ACTION_DROP = 3,
}

/// What an input did with the caller's packet. Fields that do not apply to `kind` are zero.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ipsec_action {
    /// What to do.
    pub kind: ipsec_action_kind,
    /// `IPSEC_ACTION_DROP`: why.
    pub drop: ipsec_drop_reason,
    /// Where the packet to send or deliver starts in the caller's buffer.
    pub offset: usize,
    /// Its length.
    pub len: usize,
    /// `IPSEC_ACTION_SEND`: our address and UDP port (port 0 for protocol 50).
    pub source: ipsec_addr,
    /// `IPSEC_ACTION_SEND`: the peer's address and UDP port.
    pub destination: ipsec_addr,
    /// `IPSEC_ACTION_SEND`: 17 (UDP) or 50 (ESP).
    pub protocol: u8,
    /// `IPSEC_ACTION_DELIVER`: non-zero when the packet is for the gateway's own address.
    pub local: u8,
    /// `IPSEC_ACTION_DELIVER`: the egress interface (`ipsec_gateway_interface`).
    pub interface: u16,
    /// `IPSEC_ACTION_DELIVER`: the inbound SPI it came out of, 0 if none.
    pub inbound_spi: u32,
    /// `IPSEC_ACTION_DELIVER`: the route's next hop (port 0), family 0 if none.
    pub next_hop: ipsec_addr,
    /// Zero; reserved for growth.
    pub reserved: [u8; 16],
}

/// A packet written by `ipsec_gateway_poll_transmit`: send the first `len` bytes of the buffer
/// from `source` to `destination`, over UDP (`protocol` 17) or as IP protocol 50.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ipsec_gateway_transmit {
    /// Our address and UDP port.
    pub source: ipsec_addr,
    /// The peer's address and UDP port.
    pub destination: ipsec_addr,
    /// Bytes written (on `IPSEC_ERR_BUFFER_TOO_SMALL`: bytes needed).
    pub len: usize,
    /// 17 (UDP) or 50 (ESP).
    pub protocol: u8,
    /// Zero; reserved for growth.
    pub reserved: [u8; 15],
}

/// The gateway's global counters (`show counter global`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ipsec_counters {
    /// Inner packets encapsulated into a tunnel.
    pub encapsulated: u64,
    /// ESP packets decapsulated.
    pub decapsulated: u64,
    /// Inner packets handed to a non-tunnel interface or the local stack.
    pub delivered: u64,
    /// Sessions created.
    pub sessions_created: u64,
    /// Sessions aged out.
    pub sessions_aged: u64,
    /// INVALID_SPI notifications sent.
    pub invalid_spi_sent: u64,
    /// INVALID_SPI notifications held back by the rate limit.
    pub invalid_spi_suppressed: u64,
    /// Sessions that matched a NAT rule that translates: the gateway does not translate, so
    /// their packets left untranslated (the configuration warned about the rule).
    pub nat_untranslated: u64,
    /// Drops, indexed by `ipsec_drop_reason` (index 0, `IPSEC_DROP_NONE`, stays 0).
    pub drops: [u64; 16],
}

fn action_to_c(a: &Action) -> ipsec_action {
    let mut out = ipsec_action {
        kind: ipsec_action_kind::IPSEC_ACTION_CONSUMED,
        drop: ipsec_drop_reason::IPSEC_DROP_NONE,
        offset: 0,
        len: 0,
        source: ipsec_addr::default(),
        destination: ipsec_addr::default(),
        protocol: 0,
        local: 0,
        interface: 0,
        inbound_spi: 0,
        next_hop: ipsec_addr::default(),
        reserved: [0; 16],
    };
    match a {
        Action::Consumed => {}
        Action::Send(t) => {
            out.kind = ipsec_action_kind::IPSEC_ACTION_SEND;
            out.offset = t.range.start;
            out.len = t.range.len();
            out.source = t.source.into();
            out.destination = t.destination.into();
            out.protocol = protocol(t.protocol);
        }
        Action::Deliver(d) => {
            out.kind = ipsec_action_kind::IPSEC_ACTION_DELIVER;
            out.offset = d.range.start;
            out.len = d.range.len();
            out.interface = d.interface.get();
            out.local = u8::from(d.local);
            out.inbound_spi = d.inbound_spi.unwrap_or(0);
            if let Some(ip) = d.next_hop {
                out.next_hop = std::net::SocketAddr::new(ip, 0).into();
            }
        }
        Action::Drop(r) => {
            out.kind = ipsec_action_kind::IPSEC_ACTION_DROP;
            out.drop = drop_code(*r);
        }
    }
    out
}

fn protocol(p: OuterProtocol) -> u8 {
    match p {
        OuterProtocol::Udp => 17,
        OuterProtocol::Esp => 50,
    }
}

/// The caller's mutable buffer of `len` bytes.
///
/// # Safety
///
/// `buf` must be writable for `len` bytes (or NULL with `len` 0) and not aliased during the
/// call.
unsafe fn buffer<'a>(buf: *mut u8, len: usize) -> &'a mut [u8] {
    if len == 0 {
        return &mut [];
    }
    // SAFETY: the caller's contract.
    unsafe { core::slice::from_raw_parts_mut(buf, len) }
}

/// Processes the UDP payload `buf[0..len]` received on port 500 or 4500 at `local` from
/// `remote`. ESP is decapsulated in place: the inner packet's place in `buf` is in `*out`.
///
/// # Safety
///
/// `gw` must be a live handle; `local`, `remote` and `out` valid pointers; `buf` writable for
/// `len` bytes (NULL when `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_handle_datagram(
    gw: *mut ipsec_gateway,
    now_us: u64,
    local: *const ipsec_addr,
    remote: *const ipsec_addr,
    buf: *mut u8,
    len: usize,
    out: *mut ipsec_action,
) -> ipsec_status {
    if local.is_null() || remote.is_null() || out.is_null() || (buf.is_null() && len != 0) {
        return fail(IPSEC_ERR_NULL, "local, remote, out or buf is NULL");
    }
    with_gateway(gw, |h| {
        // SAFETY: both are non-NULL and point to valid `ipsec_addr` by the caller's contract.
        let (local, remote) = unsafe { (*local, *remote) };
        let (Some(local), Some(remote)) = (local.to_socket_addr(), remote.to_socket_addr()) else {
            return fail(IPSEC_ERR_INVALID, "address family is not IPSEC_AF_INET(6)");
        };
        // SAFETY: the caller's contract.
        let data = unsafe { buffer(buf, len) };
        let a =
            h.gw.handle_datagram(Instant::from_micros(now_us), local, remote, data);
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { out.write(action_to_c(&a)) };
        IPSEC_OK
    })
}

/// Processes the payload `buf[0..len]` of an IP protocol 50 packet from `remote` (its port is
/// ignored): decapsulated in place, as in `ipsec_gateway_handle_datagram`.
///
/// # Safety
///
/// As `ipsec_gateway_handle_datagram`.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_handle_esp(
    gw: *mut ipsec_gateway,
    now_us: u64,
    remote: *const ipsec_addr,
    buf: *mut u8,
    len: usize,
    out: *mut ipsec_action,
) -> ipsec_status {
    if remote.is_null() || out.is_null() || (buf.is_null() && len != 0) {
        return fail(IPSEC_ERR_NULL, "remote, out or buf is NULL");
    }
    with_gateway(gw, |h| {
        // SAFETY: non-NULL and valid by the caller's contract.
        let Some(remote) = unsafe { *remote }.to_socket_addr() else {
            return fail(IPSEC_ERR_INVALID, "address family is not IPSEC_AF_INET(6)");
        };
        // SAFETY: the caller's contract.
        let data = unsafe { buffer(buf, len) };
        let a =
            h.gw.handle_esp(Instant::from_micros(now_us), remote.ip(), data);
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { out.write(action_to_c(&a)) };
        IPSEC_OK
    })
}

/// Forwards the inner IP packet `buf[offset .. offset + len]` that arrived on `interface`
/// (`ipsec_gateway_interface`): into its tunnel (encapsulated in place: leave
/// `IPSEC_HEADROOM` bytes before the packet and `IPSEC_TAILROOM` after it within `cap`), out of
/// another interface, or dropped and counted.
///
/// # Safety
///
/// `gw` must be a live handle; `out` a valid pointer; `buf` writable for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_handle_inner(
    gw: *mut ipsec_gateway,
    now_us: u64,
    interface: u16,
    buf: *mut u8,
    cap: usize,
    offset: usize,
    len: usize,
    out: *mut ipsec_action,
) -> ipsec_status {
    if out.is_null() || (buf.is_null() && cap != 0) {
        return fail(IPSEC_ERR_NULL, "out or buf is NULL");
    }
    let Some(end) = offset.checked_add(len).filter(|e| *e <= cap) else {
        return fail(IPSEC_ERR_INVALID, "offset + len exceeds cap");
    };
    with_gateway(gw, |h| {
        let Some(ifc) = h.gw.interface_at(interface) else {
            return fail(IPSEC_ERR_INVALID, format!("no interface {interface}"));
        };
        // SAFETY: the caller's contract.
        let data = unsafe { buffer(buf, cap) };
        let a =
            h.gw.handle_inner(Instant::from_micros(now_us), ifc, data, offset..end);
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { out.write(action_to_c(&a)) };
        IPSEC_OK
    })
}

/// Routes the inner IP packet `buf[offset .. offset + len]` that the caller's own IP stack
/// sends (a ping from a tunnel interface's address, a routing protocol's packet): into its
/// tunnel, encapsulated in place as in `ipsec_gateway_handle_inner`, or out of an interface.
///
/// # Safety
///
/// As `ipsec_gateway_handle_inner`.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_handle_local(
    gw: *mut ipsec_gateway,
    now_us: u64,
    buf: *mut u8,
    cap: usize,
    offset: usize,
    len: usize,
    out: *mut ipsec_action,
) -> ipsec_status {
    if out.is_null() || (buf.is_null() && cap != 0) {
        return fail(IPSEC_ERR_NULL, "out or buf is NULL");
    }
    let Some(end) = offset.checked_add(len).filter(|e| *e <= cap) else {
        return fail(IPSEC_ERR_INVALID, "offset + len exceeds cap");
    };
    with_gateway(gw, |h| {
        // SAFETY: the caller's contract.
        let data = unsafe { buffer(buf, cap) };
        let a =
            h.gw.handle_local(Instant::from_micros(now_us), data, offset..end);
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { out.write(action_to_c(&a)) };
        IPSEC_OK
    })
}

/// Processes expired deadlines (IKE retransmissions and rekeys, datapath lifetimes, session
/// ageing, tunnel monitor probes). Calling it early is harmless.
///
/// # Safety
///
/// `gw` must be a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_handle_timeout(
    gw: *mut ipsec_gateway,
    now_us: u64,
) -> ipsec_status {
    with_gateway(gw, |h| {
        h.gw.handle_timeout(Instant::from_micros(now_us));
        IPSEC_OK
    })
}

/// Writes the next packet to send (IKE, NAT keepalive, tunnel monitor probe) into `buf` of
/// `cap` bytes and describes it in `*out`. `IPSEC_NONE` when nothing is queued;
/// `IPSEC_ERR_BUFFER_TOO_SMALL` with the needed length in `out->len` keeps the packet for the
/// next call (65,535 bytes always suffice).
///
/// # Safety
///
/// `gw` must be a live handle, `out` a valid pointer, `buf` writable for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_poll_transmit(
    gw: *mut ipsec_gateway,
    buf: *mut u8,
    cap: usize,
    out: *mut ipsec_gateway_transmit,
) -> ipsec_status {
    if out.is_null() || (buf.is_null() && cap != 0) {
        return fail(IPSEC_ERR_NULL, "out or buf is NULL");
    }
    with_gateway(gw, |h| {
        let t = match h.pending.take() {
            Some(t) => t,
            None => match h.gw.poll_transmit(&mut h.scratch) {
                Some(t) => t,
                None => return IPSEC_NONE,
            },
        };
        let len = t.range.len();
        let desc = ipsec_gateway_transmit {
            source: t.source.into(),
            destination: t.destination.into(),
            len,
            protocol: protocol(t.protocol),
            reserved: [0; 15],
        };
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { out.write(desc) };
        let Some(bytes) = h.scratch.get(t.range.clone()) else {
            return fail(IPSEC_ERR_INVALID, "packet outside the scratch buffer");
        };
        if cap < len {
            h.pending = Some(t);
            return fail(
                IPSEC_ERR_BUFFER_TOO_SMALL,
                format!("packet of {len} bytes, buffer of {cap}"),
            );
        }
        // SAFETY: `buf` is writable for `cap >= len` bytes by contract and cannot overlap the
        // handle's own scratch buffer.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, len) };
        IPSEC_OK
    })
}

/// Writes the next event into `*out`; `IPSEC_NONE` when there is none. IKE events keep their
/// kinds (`IPSEC_EVENT_CHILD_SA_UP` arrives after the SA was installed; no keys cross); the
/// gateway's own are `IPSEC_EVENT_INSTALL_FAILED`, `IPSEC_EVENT_LIFETIME`,
/// `IPSEC_EVENT_TUNNEL_DOWN` and `IPSEC_EVENT_TUNNEL_UP`. `name` and `text` stay valid until
/// the next call of this function on `gw` or `ipsec_gateway_free`.
///
/// # Safety
///
/// `gw` must be a live handle and `out` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_poll_event(
    gw: *mut ipsec_gateway,
    out: *mut ipsec_event,
) -> ipsec_status {
    if out.is_null() {
        return fail(IPSEC_ERR_NULL, "out is NULL");
    }
    with_gateway(gw, |h| {
        let Some(e) = h.gw.poll_event() else {
            return IPSEC_NONE;
        };
        let c = gateway_event_to_c(&e, &mut h.strings);
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { out.write(c) };
        IPSEC_OK
    })
}

fn gateway_event_to_c(e: &Event, strings: &mut EventStrings) -> ipsec_event {
    use ipsec_event_kind::*;
    let (kind, name, inbound, outbound) = match e {
        Event::Ike(ike) => return to_c(ike, strings),
        Event::InstallFailed {
            name, inbound_spi, ..
        } => (IPSEC_EVENT_INSTALL_FAILED, name.as_str(), *inbound_spi, 0),
        Event::Lifetime {
            name,
            inbound_spi,
            outbound_spi,
            ..
        } => (
            IPSEC_EVENT_LIFETIME,
            name.as_str(),
            *inbound_spi,
            *outbound_spi,
        ),
        Event::TunnelDown { tunnel, .. } => (IPSEC_EVENT_TUNNEL_DOWN, tunnel.as_str(), 0, 0),
        Event::TunnelUp { tunnel, .. } => (IPSEC_EVENT_TUNNEL_UP, tunnel.as_str(), 0, 0),
    };
    let mut c = strings.event(kind, name, &e.to_string());
    c.inbound_spi = inbound;
    c.outbound_spi = outbound;
    c
}

/// Writes the next deadline (microseconds on the caller's clock) to `*out_us`; call
/// `ipsec_gateway_handle_timeout` once it has passed. `IPSEC_NONE` when nothing is scheduled.
///
/// # Safety
///
/// `gw` must be a live handle and `out_us` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_poll_timeout(
    gw: *mut ipsec_gateway,
    out_us: *mut u64,
) -> ipsec_status {
    if out_us.is_null() {
        return fail(IPSEC_ERR_NULL, "out_us is NULL");
    }
    with_gateway(gw, |h| match h.gw.poll_timeout() {
        Some(t) => {
            // SAFETY: `out_us` is non-NULL and writable by contract.
            unsafe { out_us.write(t.as_micros()) };
            IPSEC_OK
        }
        None => IPSEC_NONE,
    })
}

/// Copies the global counters into `*out`.
///
/// # Safety
///
/// `gw` must be a live handle and `out` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ipsec_gateway_counters(
    gw: *mut ipsec_gateway,
    out: *mut ipsec_counters,
) -> ipsec_status {
    if out.is_null() {
        return fail(IPSEC_ERR_NULL, "out is NULL");
    }
    with_gateway(gw, |h| {
        let c = h.gw.counters();
        let mut o = ipsec_counters {
            encapsulated: c.encapsulated,
            decapsulated: c.decapsulated,
            delivered: c.delivered,
            sessions_created: c.sessions_created,
            sessions_aged: c.sessions_aged,
            invalid_spi_sent: c.invalid_spi_sent,
            invalid_spi_suppressed: c.invalid_spi_suppressed,
            nat_untranslated: c.nat_untranslated,
            drops: [0; 16],
        };
        for (reason, code) in DROP_CODES {
            if let Some(slot) = o.drops.get_mut(code as usize) {
                *slot = c.dropped(reason);
            }
        }
        // SAFETY: `out` is non-NULL and writable by contract.
        unsafe { out.write(o) };
        IPSEC_OK
    })
}

/// The counter name of drop reason `reason` (an `ipsec_drop_reason`: `flow_policy_deny`), a
/// static NUL-terminated string; `"none"` for `IPSEC_DROP_NONE` or an unknown value.
#[no_mangle]
pub extern "C" fn ipsec_drop_reason_name(reason: u32) -> *const c_char {
    const NAMES: [&CStr; 11] = [
        c"none",
        c"flow_parse_l3_err",
        c"flow_fwd_l3_noroute",
        c"flow_fwd_notopology",
        c"flow_tunnel_down",
        c"flow_tunnel_no_proxyid",
        c"flow_policy_deny",
        c"flow_session_alloc_fail",
        c"flow_tunnel_encap_err",
        c"flow_tunnel_decap_err",
        c"flow_udp_encap_malformed",
    ];
    NAMES
        .get(usize::try_from(reason).unwrap_or(usize::MAX))
        .copied()
        .unwrap_or(c"none")
        .as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_codes_and_names_follow_the_gateway() {
        for r in DropReason::ALL {
            let code = drop_code(r);
            assert_ne!(code, ipsec_drop_reason::IPSEC_DROP_NONE);
            // SAFETY: the name is a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(ipsec_drop_reason_name(code as u32)) };
            assert_eq!(name.to_str().unwrap(), r.name());
        }
    }
}
