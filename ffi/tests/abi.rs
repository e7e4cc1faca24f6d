//! The C ABI's guard rails, called as C would call them: NULL pointers, short buffers, bad
//! configurations and addresses give status codes and a readable last error, never a crash.

use ipsec::*;
use std::ffi::c_char;
use std::ptr::{null, null_mut};

const HQ: &str = include_str!("../../examples/configs/hq.toml");

fn last_error() -> String {
    let mut buf = vec![0u8; 4096];
    // SAFETY: `buf` is writable for its length.
    let n = unsafe { ipsec_last_error(buf.as_mut_ptr().cast(), buf.len()) };
    buf.truncate(n.min(buf.len() - 1));
    String::from_utf8(buf).unwrap()
}

fn new_endpoint(toml: &str) -> (ipsec_status, *mut ipsec_endpoint) {
    let mut ep = null_mut();
    // SAFETY: `toml` is readable for its length; `ep` is a writable pointer.
    let st = unsafe { ipsec_endpoint_new(toml.as_ptr().cast(), toml.len(), &mut ep) };
    (st, ep)
}

fn addr(s: &str) -> ipsec_addr {
    let a: std::net::SocketAddr = s.parse().unwrap();
    let mut out = ipsec_addr {
        family: if a.is_ipv4() {
            IPSEC_AF_INET
        } else {
            IPSEC_AF_INET6
        },
        port: a.port(),
        ..Default::default()
    };
    match a.ip() {
        std::net::IpAddr::V4(v) => out.addr[..4].copy_from_slice(&v.octets()),
        std::net::IpAddr::V6(v) => out.addr = v.octets(),
    }
    out
}

/// An endpoint that will be freed at the end of the test.
struct Ep(*mut ipsec_endpoint);

impl Drop for Ep {
    fn drop(&mut self) {
        // SAFETY: the handle came from `ipsec_endpoint_new` and is freed once.
        unsafe { ipsec_endpoint_free(self.0) };
    }
}

fn hq() -> Ep {
    let (st, ep) = new_endpoint(HQ);
    assert_eq!(st, ipsec_status::IPSEC_OK, "{}", last_error());
    assert!(!ep.is_null());
    Ep(ep)
}

#[test]
fn null_pointers_give_err_null() {
    let ep = hq();
    let mut out = null_mut();
    let mut t = ipsec_transmit::default();
    let mut us = 0u64;
    let mut r = ipsec_received::IPSEC_RECEIVED_IKE;
    let a = addr("192.0.2.1:500");
    let mut buf = [0u8; 64];
    // SAFETY: every non-NULL pointer below is valid; the NULL ones are what is tested.
    unsafe {
        use ipsec_status::IPSEC_ERR_NULL;
        assert_eq!(ipsec_endpoint_new(null(), 0, &mut out), IPSEC_ERR_NULL);
        assert!(out.is_null());
        assert_eq!(
            ipsec_endpoint_new(HQ.as_ptr().cast(), HQ.len(), null_mut()),
            IPSEC_ERR_NULL
        );
        assert!(last_error().contains("out is NULL"));
        assert_eq!(
            ipsec_endpoint_connect(null_mut(), 0, c"vpn-branch".as_ptr()),
            IPSEC_ERR_NULL
        );
        assert_eq!(ipsec_endpoint_connect(ep.0, 0, null()), IPSEC_ERR_NULL);
        assert_eq!(ipsec_endpoint_handle_timeout(null_mut(), 0), IPSEC_ERR_NULL);
        assert_eq!(
            ipsec_endpoint_poll_timeout(null_mut(), &mut us),
            IPSEC_ERR_NULL
        );
        assert_eq!(
            ipsec_endpoint_poll_timeout(ep.0, null_mut()),
            IPSEC_ERR_NULL
        );
        assert_eq!(ipsec_endpoint_poll_event(ep.0, null_mut()), IPSEC_ERR_NULL);
        assert_eq!(
            ipsec_endpoint_poll_transmit(null_mut(), buf.as_mut_ptr(), 64, &mut t),
            IPSEC_ERR_NULL
        );
        assert_eq!(
            ipsec_endpoint_poll_transmit(ep.0, buf.as_mut_ptr(), 64, null_mut()),
            IPSEC_ERR_NULL
        );
        assert_eq!(
            ipsec_endpoint_poll_transmit(ep.0, null_mut(), 64, &mut t),
            IPSEC_ERR_NULL
        );
        assert_eq!(
            ipsec_endpoint_handle_datagram(ep.0, 0, null(), &a, buf.as_ptr(), 4, &mut r),
            IPSEC_ERR_NULL
        );
        assert_eq!(
            ipsec_endpoint_handle_datagram(ep.0, 0, &a, &a, null(), 4, &mut r),
            IPSEC_ERR_NULL
        );
        assert_eq!(
            ipsec_endpoint_handle_datagram(ep.0, 0, &a, &a, buf.as_ptr(), 4, null_mut()),
            IPSEC_ERR_NULL
        );
        // Freeing NULL is a no-op, as with free(3).
        ipsec_endpoint_free(null_mut());
    }
}

#[test]
fn bad_toml_is_invalid_with_a_readable_reason() {
    let (st, ep) = new_endpoint("[[ike-gateway]\nname = ");
    assert_eq!(st, ipsec_status::IPSEC_ERR_INVALID);
    assert!(ep.is_null());
    let msg = last_error();
    assert!(msg.len() > 10, "{msg:?}");
    assert!(msg.is_ascii() && !msg.contains('\0'), "{msg:?}");

    // Well-formed TOML that names a crypto profile nobody defines.
    let broken = HQ.replace(
        "ike-crypto-profile = \"ike-suite-b\"",
        "ike-crypto-profile = \"nope\"",
    );
    let (st, ep) = new_endpoint(&broken);
    assert_eq!(st, ipsec_status::IPSEC_ERR_INVALID);
    assert!(ep.is_null());
    assert!(last_error().contains("nope"), "{}", last_error());
}

#[test]
fn non_utf8_config_is_invalid() {
    let bytes = [0xffu8, 0xfe, b'a'];
    let mut ep = null_mut();
    // SAFETY: `bytes` is readable for its length; `ep` is writable.
    let st = unsafe { ipsec_endpoint_new(bytes.as_ptr().cast::<c_char>(), bytes.len(), &mut ep) };
    assert_eq!(st, ipsec_status::IPSEC_ERR_INVALID);
    assert_eq!(last_error(), "configuration is not UTF-8");
}

#[test]
fn last_error_truncates_like_snprintf() {
    let (st, _) = new_endpoint("not toml at all [");
    assert_eq!(st, ipsec_status::IPSEC_ERR_INVALID);
    let full = last_error();
    let mut small = [0x55u8; 5];
    // SAFETY: `small` is writable for 5 bytes; NULL with cap 0 only asks for the length.
    let (n, n0) = unsafe {
        (
            ipsec_last_error(small.as_mut_ptr().cast(), small.len()),
            ipsec_last_error(null_mut(), 0),
        )
    };
    assert_eq!(n, full.len());
    assert_eq!(n0, full.len());
    assert_eq!(&small[..4], &full.as_bytes()[..4]);
    assert_eq!(small[4], 0);
}

#[test]
fn short_transmit_buffer_keeps_the_datagram() {
    let ep = hq();
    let mut t = ipsec_transmit::default();
    let mut small = [0u8; 16];
    let mut big = vec![0u8; 65_535];
    // SAFETY: the handle is live; buffers are writable for the lengths given.
    unsafe {
        assert_eq!(
            ipsec_endpoint_connect(ep.0, 0, c"vpn-branch".as_ptr()),
            ipsec_status::IPSEC_OK
        );
        assert_eq!(
            ipsec_endpoint_poll_transmit(ep.0, small.as_mut_ptr(), small.len(), &mut t),
            ipsec_status::IPSEC_ERR_BUFFER_TOO_SMALL
        );
        let needed = t.len;
        assert!(needed > small.len());
        assert!(last_error().contains(&needed.to_string()));
        assert_eq!(
            ipsec_endpoint_poll_transmit(ep.0, big.as_mut_ptr(), big.len(), &mut t),
            ipsec_status::IPSEC_OK
        );
        assert_eq!(t.len, needed);
        assert_eq!(t.local, addr("192.0.2.1:500"));
        assert_eq!(t.remote, addr("192.0.2.2:500"));
        // An IKE header: version 2.0 at byte 17, IKE_SA_INIT (34) at byte 18.
        assert_eq!(big[17], 0x20);
        assert_eq!(big[18], 34);
        assert_eq!(
            ipsec_endpoint_poll_transmit(ep.0, big.as_mut_ptr(), big.len(), &mut t),
            ipsec_status::IPSEC_NONE
        );
        // The retransmission timer is armed.
        let mut us = 0;
        assert_eq!(
            ipsec_endpoint_poll_timeout(ep.0, &mut us),
            ipsec_status::IPSEC_OK
        );
        assert!(us > 0);
    }
}

#[test]
fn unknown_tunnel_and_bad_family_are_invalid() {
    let ep = hq();
    let mut r = ipsec_received::IPSEC_RECEIVED_IKE;
    let good = addr("192.0.2.1:500");
    let bad = ipsec_addr { family: 2, ..good };
    let data = [0u8; 8];
    // SAFETY: the handle is live; pointers are valid.
    unsafe {
        assert_eq!(
            ipsec_endpoint_connect(ep.0, 0, c"no-such-tunnel".as_ptr()),
            ipsec_status::IPSEC_ERR_INVALID
        );
        assert!(last_error().contains("no-such-tunnel"), "{}", last_error());
        assert_eq!(
            ipsec_endpoint_handle_datagram(ep.0, 0, &bad, &good, data.as_ptr(), data.len(), &mut r),
            ipsec_status::IPSEC_ERR_INVALID
        );
    }
}

#[test]
fn garbage_datagram_is_dropped_not_an_error() {
    let ep = hq();
    let mut r = ipsec_received::IPSEC_RECEIVED_IKE;
    let local = addr("192.0.2.1:500");
    let remote = addr("192.0.2.2:500");
    let data = [0xabu8; 3];
    let mut e = std::mem::MaybeUninit::<ipsec_event>::uninit();
    // SAFETY: the handle is live; pointers are valid; an empty datagram may pass NULL.
    unsafe {
        assert_eq!(
            ipsec_endpoint_handle_datagram(ep.0, 0, &local, &remote, data.as_ptr(), 3, &mut r),
            ipsec_status::IPSEC_OK
        );
        assert_eq!(r, ipsec_received::IPSEC_RECEIVED_DROPPED);
        assert_eq!(
            ipsec_endpoint_handle_datagram(ep.0, 0, &local, &remote, null(), 0, &mut r),
            ipsec_status::IPSEC_OK
        );
        assert_eq!(r, ipsec_received::IPSEC_RECEIVED_DROPPED);
        assert_eq!(
            ipsec_endpoint_poll_event(ep.0, e.as_mut_ptr()),
            ipsec_status::IPSEC_NONE
        );
    }
}

#[test]
fn esp_table_guards() {
    let ep = hq();
    let mut t = null_mut();
    let mut tx = ipsec_esp_transmit::default();
    let mut d = ipsec_esp_delivered::default();
    let packet = [0x45u8; 28];
    let mut buf = vec![0u8; 2048];
    // SAFETY: the handles are live until freed at the end; pointers are valid except the NULL
    // ones under test.
    unsafe {
        use ipsec_status::*;
        assert_eq!(ipsec_esp_table_new(null_mut()), IPSEC_ERR_NULL);
        assert_eq!(ipsec_esp_table_new(&mut t), IPSEC_OK);
        assert!(!t.is_null());
        // No Child SA event was polled: nothing to install.
        assert_eq!(ipsec_esp_table_install(t, ep.0, 0), IPSEC_ERR_STATE);
        assert!(last_error().contains("IPSEC_EVENT_CHILD_SA_UP"));
        assert_eq!(ipsec_esp_table_install(null_mut(), ep.0, 0), IPSEC_ERR_NULL);
        assert_eq!(ipsec_esp_table_install(t, null_mut(), 0), IPSEC_ERR_NULL);
        assert_eq!(ipsec_esp_table_remove(t, 0x1234), IPSEC_ERR_INVALID);
        assert!(last_error().contains("00001234"), "{}", last_error());
        let enc = |tunnel: *const c_char, p: *const u8, b: *mut u8, o| {
            ipsec_esp_table_encapsulate(t, 0, tunnel, p, packet.len(), b, 2048, o)
        };
        let tun = c"vpn-branch".as_ptr();
        assert_eq!(
            enc(null(), packet.as_ptr(), buf.as_mut_ptr(), &mut tx),
            IPSEC_ERR_NULL
        );
        assert_eq!(enc(tun, null(), buf.as_mut_ptr(), &mut tx), IPSEC_ERR_NULL);
        assert_eq!(
            enc(tun, packet.as_ptr(), null_mut(), &mut tx),
            IPSEC_ERR_NULL
        );
        assert_eq!(
            enc(tun, packet.as_ptr(), buf.as_mut_ptr(), null_mut()),
            IPSEC_ERR_NULL
        );
        // No SA for the tunnel yet.
        assert_eq!(
            enc(tun, packet.as_ptr(), buf.as_mut_ptr(), &mut tx),
            IPSEC_ERR_INVALID
        );
        assert_eq!(
            ipsec_esp_table_decapsulate(t, 0, null_mut(), 0, &mut d),
            IPSEC_ERR_NULL
        );
        assert_eq!(
            ipsec_esp_table_decapsulate(t, 0, buf.as_mut_ptr(), 40, null_mut()),
            IPSEC_ERR_NULL
        );
        // An ESP packet for an SPI nobody installed is dropped with the reason.
        buf[..4].copy_from_slice(&0x0bad_cafe_u32.to_be_bytes());
        assert_eq!(
            ipsec_esp_table_decapsulate(t, 0, buf.as_mut_ptr(), 40, &mut d),
            IPSEC_ERR_DROPPED
        );
        assert!(!last_error().is_empty());
        ipsec_esp_table_free(t);
        ipsec_esp_table_free(null_mut());
    }
}

#[test]
fn a_lost_request_is_retransmitted_at_the_polled_deadline() {
    let ep = hq();
    let mut t = ipsec_transmit::default();
    let mut first = vec![0u8; 65_535];
    let mut again = vec![0u8; 65_535];
    let mut us = 0u64;
    // SAFETY: the handle is live; buffers and out-pointers are valid.
    unsafe {
        use ipsec_status::*;
        assert_eq!(
            ipsec_endpoint_connect(ep.0, 1_000, c"vpn-branch".as_ptr()),
            IPSEC_OK
        );
        assert_eq!(
            ipsec_endpoint_poll_transmit(ep.0, first.as_mut_ptr(), first.len(), &mut t),
            IPSEC_OK
        );
        let len = t.len;
        assert_eq!(ipsec_endpoint_poll_timeout(ep.0, &mut us), IPSEC_OK);
        assert!(us > 1_000);
        // Just before the deadline nothing happens.
        assert_eq!(ipsec_endpoint_handle_timeout(ep.0, us - 1), IPSEC_OK);
        assert_eq!(
            ipsec_endpoint_poll_transmit(ep.0, again.as_mut_ptr(), again.len(), &mut t),
            IPSEC_NONE
        );
        // At the deadline the same request goes out again (RFC 7296 section 2.1).
        assert_eq!(ipsec_endpoint_handle_timeout(ep.0, us), IPSEC_OK);
        assert_eq!(
            ipsec_endpoint_poll_transmit(ep.0, again.as_mut_ptr(), again.len(), &mut t),
            IPSEC_OK
        );
        assert_eq!(t.len, len);
        assert_eq!(first[..len], again[..len]);
        let mut later = 0u64;
        assert_eq!(ipsec_endpoint_poll_timeout(ep.0, &mut later), IPSEC_OK);
        assert!(later > us);
    }
}

/// Random bytes through both input paths: every call returns a status, none panics or
/// poisons the handle.
#[test]
fn random_input_gives_statuses_not_crashes() {
    let ep = hq();
    let mut table = null_mut();
    // xorshift64*: deterministic, no dependency.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let local = addr("192.0.2.1:4500");
    let remote = addr("192.0.2.2:4500");
    let mut buf = vec![0u8; 512];
    // SAFETY: handles are live; buffers and out-pointers are valid.
    unsafe {
        use ipsec_status::*;
        assert_eq!(ipsec_esp_table_new(&mut table), IPSEC_OK);
        for i in 0..2_000 {
            let len = (next() % 512) as usize;
            for b in buf.iter_mut().take(len) {
                *b = next() as u8;
            }
            if i % 3 == 0 {
                // Look like an IKE header now and then: version 2.0, IKE_SA_INIT.
                if len > 28 {
                    buf[..4].fill(0);
                    buf[4 + 17] = 0x20;
                    buf[4 + 18] = 34;
                }
            }
            let mut r = ipsec_received::IPSEC_RECEIVED_IKE;
            let st =
                ipsec_endpoint_handle_datagram(ep.0, i, &local, &remote, buf.as_ptr(), len, &mut r);
            assert_eq!(st, IPSEC_OK);
            let mut d = ipsec_esp_delivered::default();
            let st = ipsec_esp_table_decapsulate(table, i, buf.as_mut_ptr(), len, &mut d);
            assert_eq!(st, IPSEC_ERR_DROPPED, "no SA is installed");
        }
        assert_eq!(ipsec_endpoint_handle_timeout(ep.0, 10_000_000), IPSEC_OK);
        ipsec_esp_table_free(table);
    }
}

/// The header's promise for `ipsec_endpoint_connect`: an unknown tunnel is the caller's
/// mistake (`IPSEC_ERR_INVALID`); a passive gateway's tunnel is valid but cannot be initiated
/// (`IPSEC_ERR_STATE`).
#[test]
fn connect_statuses_follow_the_header() {
    let passive = HQ.replace(
        "ike-crypto-profile = \"ike-suite-b\"\n",
        "ike-crypto-profile = \"ike-suite-b\"\npassive-mode = true\n",
    );
    assert_ne!(passive, HQ);
    let (st, ep) = new_endpoint(&passive);
    assert_eq!(st, ipsec_status::IPSEC_OK, "{}", last_error());
    let ep = Ep(ep);
    // SAFETY: the handle is live; the names are NUL-terminated literals.
    unsafe {
        assert_eq!(
            ipsec_endpoint_connect(ep.0, 0, c"vpn-branch".as_ptr()),
            ipsec_status::IPSEC_ERR_STATE
        );
        assert!(last_error().contains("passive"), "{}", last_error());
        assert_eq!(
            ipsec_endpoint_connect(ep.0, 0, c"no-such-tunnel".as_ptr()),
            ipsec_status::IPSEC_ERR_INVALID
        );
    }
}
