//! Endpoint events as a C struct.

use crate::addr::ipsec_addr;
use ikev2::{Event, Outbound, Role};
use ipsec_core::text::escape;
use std::ffi::{c_char, CString};

/// What an [`ipsec_event`] reports.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ipsec_event_kind {
    /// An IKE SA is established. `name` is the `ike-gateway`; `spi_i`, `spi_r`, `local`,
    /// `remote` name the SA.
    IPSEC_EVENT_IKE_SA_UP = 1,
    /// An IKE SA is gone (its Child SAs are reported gone one by one).
    IPSEC_EVENT_IKE_SA_DOWN = 2,
    /// A Child SA is negotiated: install it in the datapath with `ipsec_esp_table_install`,
    /// which honours `outbound_later` by itself. `name` is the `ipsec-tunnel`;
    /// `inbound_spi` and `outbound_spi` are its ESP SPIs; `local` and `remote` its outer
    /// addresses.
    IPSEC_EVENT_CHILD_SA_UP = 3,
    /// A Child SA is gone: stop sending on it and remove it after `linger_ms`
    /// (`ipsec_esp_table_retire`). `name` is the `ipsec-tunnel`.
    IPSEC_EVENT_CHILD_SA_DOWN = 4,
    /// IKE SA negotiation failed. `name` is the `ike-gateway` (empty if none matched).
    IPSEC_EVENT_PHASE1_FAILED = 5,
    /// Child SA negotiation failed; the IKE SA stays up. `name` is the `ipsec-tunnel`.
    IPSEC_EVENT_PHASE2_FAILED = 6,
    /// An IKE_SA_INIT came from an address no gateway is configured for (`remote`).
    IPSEC_EVENT_NO_GATEWAY = 7,
    /// Send on this Child SA from now on: it came up with `outbound_later` and the peer has it
    /// (`ipsec_esp_table_activate`). `name` is the `ipsec-tunnel`.
    IPSEC_EVENT_CHILD_SA_OUTBOUND = 8,
    /// (Gateway) A negotiated Child SA could not be installed in the datapath; IKE deletes it.
    /// `name` is `tunnel:proxy-id`, `inbound_spi` its SPI.
    IPSEC_EVENT_INSTALL_FAILED = 9,
    /// (Gateway) The datapath reached a byte, packet or sequence-number limit of a Child SA;
    /// `text` says what the gateway does (it rekeys by itself). `name` is `tunnel:proxy-id`.
    IPSEC_EVENT_LIFETIME = 10,
    /// (Gateway) The tunnel monitor declared the `ipsec-tunnel` `name` down.
    IPSEC_EVENT_TUNNEL_DOWN = 11,
    /// (Gateway) The tunnel monitor reached its destination through `name` again.
    IPSEC_EVENT_TUNNEL_UP = 12,
}

/// Our side of the exchange an event reports, where it has one.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ipsec_role {
    /// The event has no role.
    IPSEC_ROLE_NONE = 0,
    /// We started the exchange.
    IPSEC_ROLE_INITIATOR = 1,
    /// We answered it.
    IPSEC_ROLE_RESPONDER = 2,
}

/// One event from `ipsec_endpoint_poll_event`.
///
/// Fields that do not apply to `kind` are zero. `name` and `text` point into memory owned by the
/// endpoint: they stay valid until the next `ipsec_endpoint_poll_event` or
/// `ipsec_endpoint_free` on the same endpoint; copy them to keep them. Both are NUL-terminated
/// UTF-8.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ipsec_event {
    /// What happened.
    pub kind: ipsec_event_kind,
    /// Our role.
    pub role: ipsec_role,
    /// The IKE SA's initiator SPI (IKE SA events and phase-1 failures).
    pub spi_i: u64,
    /// The IKE SA's responder SPI (0 before the responder answered).
    pub spi_r: u64,
    /// Our inbound ESP SPI (Child SA events).
    pub inbound_spi: u32,
    /// The peer's inbound, our outbound, ESP SPI (Child SA events).
    pub outbound_spi: u32,
    /// Our address and port.
    pub local: ipsec_addr,
    /// The peer's address and port.
    pub remote: ipsec_addr,
    /// The gateway or tunnel the event is about (see `kind`).
    pub name: *const c_char,
    /// The event as one log line, worded like the PAN-OS system log.
    pub text: *const c_char,
    /// Length of `text` in bytes, without the terminating NUL.
    pub text_len: usize,
    /// `IPSEC_EVENT_CHILD_SA_DOWN`: how long the SA's inbound half still accepts packets (it
    /// was replaced by a rekey; packets sent before the switch may still arrive); 0 otherwise.
    pub linger_ms: u32,
    /// `IPSEC_EVENT_CHILD_SA_UP`: 1 when we answered the peer's rekey: receive on the SA, but
    /// keep sending on the one it replaces until `IPSEC_EVENT_CHILD_SA_OUTBOUND` (or the first
    /// packet that arrives on it); 0 to send on it at once.
    pub outbound_later: u8,
    /// Zero; reserved for growth.
    pub reserved: [u8; 27],
}

/// The strings an [`ipsec_event`] points to, owned by the endpoint.
#[derive(Default)]
pub(crate) struct EventStrings {
    name: CString,
    text: CString,
}

/// A C string of `s`, with control characters escaped: event text quotes what the peer sent
/// (identities, notify data), and a newline, an ANSI escape or a NUL must not reach the caller's
/// log raw.
fn c_string(s: &str) -> CString {
    let escaped = escape(s);
    // Escaping removed every NUL; should one remain, the string ends there.
    let cut = escaped.split('\0').next().unwrap_or_default();
    CString::new(cut).unwrap_or_default()
}

fn role(r: Role) -> ipsec_role {
    match r {
        Role::Initiator => ipsec_role::IPSEC_ROLE_INITIATOR,
        Role::Responder => ipsec_role::IPSEC_ROLE_RESPONDER,
    }
}

impl EventStrings {
    /// An event of `kind` with only its name and text set, keeping them in `self`.
    pub(crate) fn event(&mut self, kind: ipsec_event_kind, name: &str, text: &str) -> ipsec_event {
        let mut out = blank();
        out.kind = kind;
        self.name = c_string(name);
        self.text = c_string(text);
        out.name = self.name.as_ptr();
        out.text = self.text.as_ptr();
        out.text_len = self.text.as_bytes().len();
        out
    }
}

fn blank() -> ipsec_event {
    ipsec_event {
        kind: ipsec_event_kind::IPSEC_EVENT_IKE_SA_UP,
        role: ipsec_role::IPSEC_ROLE_NONE,
        spi_i: 0,
        spi_r: 0,
        inbound_spi: 0,
        outbound_spi: 0,
        local: ipsec_addr::default(),
        remote: ipsec_addr::default(),
        name: core::ptr::null(),
        text: core::ptr::null(),
        text_len: 0,
        linger_ms: 0,
        outbound_later: 0,
        reserved: [0; 27],
    }
}

/// Converts `e`, keeping its strings in `strings` (replacing the previous event's).
pub(crate) fn to_c(e: &Event, strings: &mut EventStrings) -> ipsec_event {
    use ipsec_event_kind::*;
    let mut out = blank();
    let name: &str = match e {
        Event::IkeSaUp {
            gateway,
            role: r,
            sa,
            ..
        } => {
            out.role = role(*r);
            (out.spi_i, out.spi_r) = (sa.spi_i, sa.spi_r);
            (out.local, out.remote) = (sa.local.into(), sa.remote.into());
            gateway
        }
        Event::IkeSaDown { gateway, sa, .. } => {
            out.kind = IPSEC_EVENT_IKE_SA_DOWN;
            (out.spi_i, out.spi_r) = (sa.spi_i, sa.spi_r);
            (out.local, out.remote) = (sa.local.into(), sa.remote.into());
            gateway
        }
        Event::ChildSaUp {
            role: r,
            child,
            outbound,
            ..
        } => {
            out.kind = IPSEC_EVENT_CHILD_SA_UP;
            out.role = role(*r);
            out.outbound_later = u8::from(*outbound == Outbound::Later);
            out.inbound_spi = child.inbound.spi;
            out.outbound_spi = child.outbound.spi;
            (out.local, out.remote) = (child.local_addr.into(), child.remote_addr.into());
            &child.tunnel
        }
        Event::ChildSaOutbound {
            tunnel,
            inbound_spi,
            outbound_spi,
        } => {
            out.kind = IPSEC_EVENT_CHILD_SA_OUTBOUND;
            (out.inbound_spi, out.outbound_spi) = (*inbound_spi, *outbound_spi);
            tunnel
        }
        Event::ChildSaDown {
            tunnel,
            inbound_spi,
            outbound_spi,
            linger,
            ..
        } => {
            out.kind = IPSEC_EVENT_CHILD_SA_DOWN;
            (out.inbound_spi, out.outbound_spi) = (*inbound_spi, *outbound_spi);
            out.linger_ms = u32::try_from(linger.as_millis()).unwrap_or(u32::MAX);
            tunnel
        }
        Event::Phase1Failed {
            gateway,
            role: r,
            sa,
            ..
        } => {
            out.kind = IPSEC_EVENT_PHASE1_FAILED;
            out.role = role(*r);
            (out.spi_i, out.spi_r) = (sa.spi_i, sa.spi_r);
            (out.local, out.remote) = (sa.local.into(), sa.remote.into());
            gateway
        }
        Event::Phase2Failed {
            tunnel, role: r, ..
        } => {
            out.kind = IPSEC_EVENT_PHASE2_FAILED;
            out.role = role(*r);
            tunnel
        }
        Event::NoGateway { remote } => {
            out.kind = IPSEC_EVENT_NO_GATEWAY;
            out.remote = (*remote).into();
            ""
        }
    };
    strings.name = c_string(name);
    strings.text = c_string(&e.to_string());
    out.name = strings.name.as_ptr();
    out.text = strings.text.as_ptr();
    out.text_len = strings.text.as_bytes().len();
    out
}
