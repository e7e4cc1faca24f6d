//! The `ipsec_gateway` handle's guard rails and contract, called as C would call it: NULL
//! pointers, bad configurations, unknown names and SPIs, short buffers and packets without a
//! route give status codes, drop codes and a readable last error, never a crash; the log
//! callback can be installed once.

use ipsec::*;
use std::ffi::{c_char, c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};

const HQ: &str = include_str!("../../examples/configs/hq.toml");
const BRANCH: &str = include_str!("../../examples/configs/branch.toml");

fn last_error() -> String {
    let mut buf = vec![0u8; 4096];
    // SAFETY: `buf` is writable for its length.
    let n = unsafe { ipsec_last_error(buf.as_mut_ptr().cast(), buf.len()) };
    buf.truncate(n.min(buf.len() - 1));
    String::from_utf8(buf).unwrap()
}

/// A gateway freed at the end of the test.
struct Gw(*mut ipsec_gateway);

impl Drop for Gw {
    fn drop(&mut self) {
        // SAFETY: the handle came from `ipsec_gateway_new` and is freed once.
        unsafe { ipsec_gateway_free(self.0) };
    }
}

fn new_gateway(toml: &str, options: Option<&ipsec_gateway_options>) -> (ipsec_status, Gw) {
    let mut gw = null_mut();
    let opts = options.map_or(null(), |o| o as *const _);
    // SAFETY: `toml` is readable for its length, `opts` NULL or valid, `gw` writable.
    let st = unsafe { ipsec_gateway_new(toml.as_ptr().cast(), toml.len(), opts, &mut gw) };
    (st, Gw(gw))
}

fn up(toml: &str) -> Gw {
    let (st, gw) = new_gateway(toml, None);
    assert_eq!(st, ipsec_status::IPSEC_OK, "{}", last_error());
    gw
}

fn interface(gw: &Gw, name: &CStr) -> u16 {
    let mut id = u16::MAX;
    // SAFETY: live handle, NUL-terminated name, writable `id`.
    let st = unsafe { ipsec_gateway_interface(gw.0, name.as_ptr(), &mut id) };
    assert_eq!(st, ipsec_status::IPSEC_OK, "{}", last_error());
    id
}

/// Moves every packet `from` transmits to `to` (as received on the destination address).
fn shuttle(from: &Gw, to: &Gw, now: u64) -> usize {
    let mut buf = vec![0u8; 65_535];
    let mut n = 0;
    loop {
        let mut t = ipsec_gateway_transmit::default();
        // SAFETY: live handle, `buf` writable for its length, `t` writable.
        let st =
            unsafe { ipsec_gateway_poll_transmit(from.0, buf.as_mut_ptr(), buf.len(), &mut t) };
        if st == ipsec_status::IPSEC_NONE {
            return n;
        }
        assert_eq!(st, ipsec_status::IPSEC_OK, "{}", last_error());
        let mut a = std::mem::MaybeUninit::<ipsec_action>::uninit();
        // SAFETY: as above; `a` is written by the call.
        let st = unsafe {
            ipsec_gateway_handle_datagram(
                to.0,
                now,
                &t.destination,
                &t.source,
                buf.as_mut_ptr(),
                t.len,
                a.as_mut_ptr(),
            )
        };
        assert_eq!(st, ipsec_status::IPSEC_OK, "{}", last_error());
        n += 1;
    }
}

#[test]
fn bad_input_gives_status_codes_not_crashes() {
    use ipsec_status::*;
    // Every problem of a broken configuration, one per line.
    let (st, gw) = new_gateway("[[ike-gateway]]\nname = 42\n", None);
    assert_eq!(st, IPSEC_ERR_INVALID);
    assert!(gw.0.is_null());
    assert!(!last_error().is_empty());

    let gw = up(HQ);
    let mut id = 0u16;
    let mut us = 0u64;
    let mut counters = std::mem::MaybeUninit::<ipsec_counters>::uninit();
    // SAFETY: every non-NULL pointer below is valid; the NULL ones are what is tested.
    unsafe {
        assert_eq!(
            ipsec_gateway_new(HQ.as_ptr().cast(), HQ.len(), null(), null_mut()),
            IPSEC_ERR_NULL
        );
        assert_eq!(
            ipsec_gateway_connect(null_mut(), 0, c"vpn-branch".as_ptr()),
            IPSEC_ERR_NULL
        );
        assert_eq!(ipsec_gateway_connect(gw.0, 0, null()), IPSEC_ERR_NULL);
        assert_eq!(
            ipsec_gateway_connect(gw.0, 0, c"no-such-tunnel".as_ptr()),
            IPSEC_ERR_INVALID
        );
        assert_eq!(
            ipsec_gateway_interface(gw.0, c"ethernet9/9".as_ptr(), &mut id),
            IPSEC_ERR_INVALID
        );
        assert!(last_error().contains("ethernet9/9"), "{}", last_error());
        assert_eq!(
            ipsec_gateway_set_interface_address(
                gw.0,
                c"ethernet1/2".as_ptr(),
                c"not-an-address".as_ptr()
            ),
            IPSEC_ERR_INVALID
        );
        // No IKE SA carries these SPIs yet.
        assert_eq!(
            ipsec_gateway_rekey_child_sa(gw.0, 0, 0x1234),
            IPSEC_ERR_INVALID
        );
        assert_eq!(
            ipsec_gateway_delete_child_sa(gw.0, 0, 0x1234),
            IPSEC_ERR_INVALID
        );
        assert_eq!(ipsec_gateway_poll_timeout(gw.0, null_mut()), IPSEC_ERR_NULL);
        assert_eq!(ipsec_gateway_counters(gw.0, null_mut()), IPSEC_ERR_NULL);
        assert_eq!(
            ipsec_gateway_counters(gw.0, counters.as_mut_ptr()),
            IPSEC_OK
        );
        assert_eq!(counters.assume_init().encapsulated, 0);
        assert_eq!(
            ipsec_gateway_poll_timeout(null_mut(), &mut us),
            IPSEC_ERR_NULL
        );
        // An inner packet whose range lies outside the buffer.
        let mut buf = [0u8; 64];
        let mut a = std::mem::MaybeUninit::<ipsec_action>::uninit();
        assert_eq!(
            ipsec_gateway_handle_inner(gw.0, 0, 0, buf.as_mut_ptr(), 64, 60, 20, a.as_mut_ptr()),
            IPSEC_ERR_INVALID
        );
        assert_eq!(
            ipsec_gateway_handle_inner(gw.0, 0, 999, buf.as_mut_ptr(), 64, 0, 20, a.as_mut_ptr()),
            IPSEC_ERR_INVALID
        );
        ipsec_gateway_free(null_mut());
    }
    // Drop codes name PAN-OS's counters; unknown codes are "none".
    // SAFETY: the names are static NUL-terminated strings.
    let name = |c: u32| unsafe { CStr::from_ptr(ipsec_drop_reason_name(c)) };
    assert_eq!(
        name(ipsec_drop_reason::IPSEC_DROP_POLICY_DENY as u32).to_str(),
        Ok("flow_policy_deny")
    );
    assert_eq!(name(9999).to_str(), Ok("none"));
}

#[test]
fn a_short_buffer_keeps_the_packet_and_garbage_is_dropped_with_its_code() {
    use ipsec_status::*;
    let hq = up(HQ);
    let branch = up(BRANCH);
    let mut n = 0usize;
    // SAFETY: live handle, writable count.
    let st = unsafe { ipsec_gateway_connect_all(hq.0, 1_000_000, &mut n) };
    assert_eq!(st, IPSEC_OK);
    assert_eq!(n, 1);
    let mut small = [0u8; 8];
    let mut t = ipsec_gateway_transmit::default();
    // SAFETY: live handle; `small` writable for 8 bytes.
    let st = unsafe { ipsec_gateway_poll_transmit(hq.0, small.as_mut_ptr(), 8, &mut t) };
    assert_eq!(st, IPSEC_ERR_BUFFER_TOO_SMALL);
    assert!(t.len > 8 && t.protocol == 17, "{t:?}");
    // Nothing was lost: the whole exchange completes from the kept packet on.
    for round in 0..20 {
        let now = 1_000_000 + round * 10_000;
        if shuttle(&hq, &branch, now) + shuttle(&branch, &hq, now) == 0 {
            break;
        }
    }
    let mut ups = 0;
    loop {
        let mut e = std::mem::MaybeUninit::<ipsec_event>::uninit();
        // SAFETY: live handle, writable event.
        match unsafe { ipsec_gateway_poll_event(branch.0, e.as_mut_ptr()) } {
            IPSEC_NONE => break,
            IPSEC_OK => {
                // SAFETY: written by the call.
                let e = unsafe { e.assume_init() };
                if e.kind == ipsec_event_kind::IPSEC_EVENT_CHILD_SA_UP {
                    ups += 1;
                    // SAFETY: the event's strings live until the next poll.
                    let text = unsafe { CStr::from_ptr(e.text) }.to_str().unwrap();
                    assert!(text.contains("phase-2 negotiation is succeeded"), "{text}");
                }
            }
            st => panic!("{st:?}: {}", last_error()),
        }
    }
    assert!(ups >= 1, "the tunnel came up on the branch");

    // A UDP 4500 payload that is neither IKE, ESP nor a keepalive: dropped with its code.
    let local = interface_addr("192.0.2.2:4500");
    let remote = interface_addr("192.0.2.1:4500");
    let mut junk = [0x12u8, 0x34, 0x56];
    let mut a = std::mem::MaybeUninit::<ipsec_action>::uninit();
    // SAFETY: live handle, valid addresses and buffer, writable action.
    let st = unsafe {
        ipsec_gateway_handle_datagram(
            branch.0,
            2_000_000,
            &local,
            &remote,
            junk.as_mut_ptr(),
            junk.len(),
            a.as_mut_ptr(),
        )
    };
    assert_eq!(st, IPSEC_OK, "{}", last_error());
    // SAFETY: written by the call.
    let a = unsafe { a.assume_init() };
    assert_eq!(a.kind, ipsec_action_kind::IPSEC_ACTION_DROP);
    assert_ne!(a.drop, ipsec_drop_reason::IPSEC_DROP_NONE);
    let mut c = std::mem::MaybeUninit::<ipsec_counters>::uninit();
    // SAFETY: live handle, writable counters.
    let st = unsafe { ipsec_gateway_counters(branch.0, c.as_mut_ptr()) };
    assert_eq!(st, IPSEC_OK);
    // SAFETY: written by the call.
    let c = unsafe { c.assume_init() };
    assert_eq!(c.drops[a.drop as usize], 1);
    let _ = interface(&branch, c"ethernet1/2");
}

fn interface_addr(s: &str) -> ipsec_addr {
    let a: std::net::SocketAddrV4 = s.parse().unwrap();
    let mut out = ipsec_addr {
        family: IPSEC_AF_INET,
        port: a.port(),
        ..Default::default()
    };
    out.addr[..4].copy_from_slice(&a.ip().octets());
    out
}

static LINES: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn count(
    user: *mut c_void,
    _level: ipsec_log_level,
    _target: *const c_char,
    line: *const c_char,
) {
    // SAFETY: `line` is NUL-terminated for the duration of the call.
    let line = unsafe { CStr::from_ptr(line) }.to_str().unwrap();
    assert!(!line.contains('\n'), "one line per event: {line:?}");
    assert_eq!(user as usize, 7);
    LINES.fetch_add(1, Ordering::Relaxed);
}

#[test]
fn the_log_callback_receives_lines_and_installs_once() {
    use ipsec_status::*;
    // SAFETY: `count` stays callable for the process; `user` is an opaque number.
    unsafe {
        assert_eq!(ipsec_set_log_callback(None, null_mut(), 5), IPSEC_ERR_NULL);
        assert_eq!(
            ipsec_set_log_callback(Some(count), 7 as *mut c_void, 5),
            IPSEC_OK
        );
        assert_eq!(
            ipsec_set_log_callback(Some(count), 7 as *mut c_void, 5),
            IPSEC_ERR_STATE
        );
    }
    let hq = up(HQ);
    // SAFETY: live handle.
    let st = unsafe { ipsec_gateway_connect_all(hq.0, 1_000_000, null_mut()) };
    assert_eq!(st, IPSEC_OK);
    let branch = up(BRANCH);
    shuttle(&hq, &branch, 1_000_000);
    shuttle(&branch, &hq, 1_010_000);
    assert!(LINES.load(Ordering::Relaxed) > 0, "a negotiation logs");
}

/// What `ipsec_gateway_reconfigure` reported, and whether the gateway answered a call made from
/// inside the callback.
struct Reloaded {
    gw: *mut ipsec_gateway,
    items: Vec<(ipsec_reload_item, String)>,
    lookups_ok: usize,
}

unsafe extern "C" fn record(user: *mut c_void, item: ipsec_reload_item, name: *const c_char) {
    // SAFETY: `user` is the `Reloaded` the test passed; `name` is NUL-terminated for the call.
    let (r, name) = unsafe { (&mut *user.cast::<Reloaded>(), CStr::from_ptr(name)) };
    let name = name.to_str().unwrap().to_owned();
    if matches!(
        item,
        ipsec_reload_item::IPSEC_RELOAD_INTERFACE_ADDED
            | ipsec_reload_item::IPSEC_RELOAD_INTERFACE_CHANGED
    ) {
        // The embedder looks up the interface's new id for its new device: the gateway's lock
        // is free during the callback.
        let c = std::ffi::CString::new(name.as_str()).unwrap();
        let mut id = u16::MAX;
        // SAFETY: live handle, NUL-terminated name, writable `id`.
        if unsafe { ipsec_gateway_interface(r.gw, c.as_ptr(), &mut id) } == ipsec_status::IPSEC_OK {
            r.lookups_ok += 1;
        }
    }
    r.items.push((item, name));
}

/// The kinds of the events `gw` has, drained.
fn event_kinds(gw: &Gw) -> Vec<ipsec_event_kind> {
    let mut kinds = Vec::new();
    loop {
        let mut e = std::mem::MaybeUninit::<ipsec_event>::uninit();
        // SAFETY: live handle, writable event.
        match unsafe { ipsec_gateway_poll_event(gw.0, e.as_mut_ptr()) } {
            ipsec_status::IPSEC_NONE => return kinds,
            // SAFETY: written by the call.
            ipsec_status::IPSEC_OK => kinds.push(unsafe { e.assume_init() }.kind),
            st => panic!("{st:?}: {}", last_error()),
        }
    }
}

fn reconfigure(gw: &Gw, toml: &str, now: u64) -> (ipsec_status, Reloaded, u8) {
    let mut r = Reloaded {
        gw: gw.0,
        items: Vec::new(),
        lookups_ok: 0,
    };
    let mut policy = 9u8;
    // SAFETY: live handle, `toml` readable for its length, `record` callable with `r`, which
    // outlives the call; `policy` writable.
    let st = unsafe {
        ipsec_gateway_reconfigure(
            gw.0,
            now,
            toml.as_ptr().cast(),
            toml.len(),
            Some(record),
            (&mut r as *mut Reloaded).cast(),
            &mut policy,
        )
    };
    (st, r, policy)
}

#[test]
fn reconfigure_reports_what_changed_in_the_order_to_act_on_it() {
    use ipsec_reload_item::*;
    use ipsec_status::*;
    let hq = up(HQ);
    let branch = up(BRANCH);
    // SAFETY: live handle; `count` may be NULL.
    let st = unsafe { ipsec_gateway_connect_all(hq.0, 1_000_000, null_mut()) };
    assert_eq!(st, IPSEC_OK);
    for i in 0..6 {
        shuttle(&hq, &branch, 1_000_000 + i * 10_000);
        shuttle(&branch, &hq, 1_005_000 + i * 10_000);
    }
    let ups = |k: &[ipsec_event_kind]| {
        k.iter()
            .filter(|k| **k == ipsec_event_kind::IPSEC_EVENT_CHILD_SA_UP)
            .count()
    };
    assert_eq!(ups(&event_kinds(&hq)), 2, "both proxy IDs up");

    // The same configuration: everything kept, no rules changed, nothing sent to the peer.
    let (st, r, policy) = reconfigure(&hq, HQ, 2_000_000);
    assert_eq!(st, IPSEC_OK, "{}", last_error());
    assert_eq!(policy, 0);
    let kept = vec![
        (IPSEC_RELOAD_INTERFACE_KEPT, "tunnel.1".to_owned()),
        (IPSEC_RELOAD_GATEWAY_KEPT, "gw-branch".to_owned()),
        (IPSEC_RELOAD_TUNNEL_KEPT, "vpn-branch".to_owned()),
    ];
    assert_eq!(r.items, kept);
    assert_eq!(
        shuttle(&hq, &branch, 2_000_000),
        0,
        "no Delete for a kept tunnel"
    );

    // A new MTU on tunnel.1: its route comes out before the device is made again, and goes
    // back in after; the gateway and tunnel stay.
    let mtu = HQ.replace("mtu = 1400", "mtu = 1380");
    let (st, r, policy) = reconfigure(&hq, &mtu, 3_000_000);
    assert_eq!(st, IPSEC_OK, "{}", last_error());
    assert_eq!(policy, 0);
    let order: Vec<_> = r.items.iter().map(|(i, n)| (*i, n.as_str())).collect();
    assert_eq!(
        order[..3],
        [
            (IPSEC_RELOAD_ROUTE_REMOVED, "to-branch-lan"),
            (IPSEC_RELOAD_INTERFACE_CHANGED, "tunnel.1"),
            (IPSEC_RELOAD_ROUTE_ADDED, "to-branch-lan"),
        ]
    );
    assert_eq!(r.lookups_ok, 1, "the callback may call into the gateway");
    let kinds = event_kinds(&hq);
    assert!(
        !kinds.contains(&ipsec_event_kind::IPSEC_EVENT_CHILD_SA_DOWN),
        "the tunnel's Child SAs stay: {kinds:?}"
    );

    // A rule removed: the policy changed.
    let rules = HQ.replace("name = \"branch-to-lan\"", "name = \"from-branch\"");
    let (st, _, policy) = reconfigure(&hq, &rules, 4_000_000);
    assert_eq!(st, IPSEC_OK, "{}", last_error());
    assert_eq!(policy, 1);

    // A configuration with two problems is refused whole, each problem on its own line, and
    // the gateway goes on unchanged.
    let broken = HQ
        .replace(
            "ike-gateway = \"gw-branch\"",
            "ike-gateway = \"gw-nowhere\"",
        )
        .replace(
            "ipsec-crypto-profile = \"esp-gcm\"\nanti",
            "ipsec-crypto-profile = \"esp-none\"\nanti",
        );
    let (st, r, policy) = reconfigure(&hq, &broken, 5_000_000);
    assert_eq!(st, IPSEC_ERR_INVALID);
    assert!(r.items.is_empty(), "{:?}", r.items);
    assert_eq!(policy, 9, "left alone on error");
    let err = last_error();
    assert!(err.lines().count() >= 2, "{err}");
    assert!(
        err.contains("gw-nowhere") && err.contains("esp-none"),
        "{err}"
    );
    let (st, r, _) = reconfigure(&hq, &rules, 6_000_000);
    assert_eq!(st, IPSEC_OK, "{}", last_error());
    assert!(r
        .items
        .contains(&(IPSEC_RELOAD_TUNNEL_KEPT, "vpn-branch".to_owned())));

    // NULL handle and text; no callback and no flag are fine.
    // SAFETY: NULL pointers are refused before any use; `HQ` is readable for its length.
    unsafe {
        assert_eq!(
            ipsec_gateway_reconfigure(
                null_mut(),
                0,
                HQ.as_ptr().cast(),
                HQ.len(),
                None,
                null_mut(),
                null_mut()
            ),
            IPSEC_ERR_NULL
        );
        assert_eq!(
            ipsec_gateway_reconfigure(hq.0, 0, null(), 0, None, null_mut(), null_mut()),
            IPSEC_ERR_NULL
        );
        assert_eq!(
            ipsec_gateway_reconfigure(
                hq.0,
                7_000_000,
                HQ.as_ptr().cast(),
                HQ.len(),
                None,
                null_mut(),
                null_mut()
            ),
            IPSEC_OK
        );
    }
}
