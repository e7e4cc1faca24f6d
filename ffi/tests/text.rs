//! Every string the ABI returns has its control characters escaped: a peer's identity in an
//! event's text, a caller's name in a last error, a configuration's problems (one per line, and
//! no other newline).

use ipsec::*;
use std::ffi::CStr;
use std::ptr::null_mut;

const HQ: &str = include_str!("../../examples/configs/hq.toml");
const BRANCH: &str = include_str!("../../examples/configs/branch.toml");

fn last_error() -> String {
    let mut buf = vec![0u8; 8192];
    // SAFETY: `buf` is writable for its length.
    let n = unsafe { ipsec_last_error(buf.as_mut_ptr().cast(), buf.len()) };
    buf.truncate(n.min(buf.len() - 1));
    String::from_utf8(buf).unwrap()
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

struct Ep(*mut ipsec_endpoint);

impl Ep {
    fn new(toml: &str) -> Ep {
        let mut ep = null_mut();
        // SAFETY: `toml` is readable for its length; `ep` is writable.
        let st = unsafe { ipsec_endpoint_new(toml.as_ptr().cast(), toml.len(), &mut ep) };
        assert_eq!(st, ipsec_status::IPSEC_OK, "{}", last_error());
        Ep(ep)
    }

    /// Drains the events as (kind, name, text).
    fn events(&self) -> Vec<(ipsec_event_kind, String, String)> {
        let mut out = Vec::new();
        let mut e = std::mem::MaybeUninit::<ipsec_event>::uninit();
        // SAFETY: the handle is live; `e` is written before it is read; the strings are valid
        // until the next poll and copied before it.
        unsafe {
            while ipsec_endpoint_poll_event(self.0, e.as_mut_ptr()) == ipsec_status::IPSEC_OK {
                let e = e.assume_init_ref();
                let name = CStr::from_ptr(e.name).to_str().unwrap().to_owned();
                let text = CStr::from_ptr(e.text).to_str().unwrap().to_owned();
                assert_eq!(text.len(), e.text_len);
                out.push((e.kind, name, text));
            }
        }
        out
    }
}

impl Drop for Ep {
    fn drop(&mut self) {
        // SAFETY: freed once.
        unsafe { ipsec_endpoint_free(self.0) };
    }
}

/// Moves datagrams both ways until none is in flight.
fn shuttle(a: &Ep, b: &Ep) {
    let mut buf = vec![0u8; 65_535];
    for _ in 0..100 {
        let mut any = false;
        for (from, to) in [(a, b), (b, a)] {
            let mut t = ipsec_transmit::default();
            let mut r = ipsec_received::IPSEC_RECEIVED_DROPPED;
            // SAFETY: handles are live; buffers and out-pointers are valid.
            unsafe {
                while ipsec_endpoint_poll_transmit(from.0, buf.as_mut_ptr(), buf.len(), &mut t)
                    == ipsec_status::IPSEC_OK
                {
                    ipsec_endpoint_handle_datagram(
                        to.0,
                        0,
                        &t.remote,
                        &t.local,
                        buf.as_ptr(),
                        t.len,
                        &mut r,
                    );
                    any = true;
                }
            }
        }
        if !any {
            return;
        }
    }
}

#[test]
fn a_peer_identity_with_escapes_reaches_the_event_text_escaped() {
    // The branch claims an identity carrying an ANSI colour, a newline and a forged log line.
    let hostile = r"branch\u001b[31m\nJan 1 00:00:00 FAKE LINE\u0000.example.net";
    let branch = BRANCH.replace(
        r#"local-id = { type = "fqdn", id = "branch.example.net" }"#,
        &format!(r#"local-id = {{ type = "fqdn", id = "{hostile}" }}"#),
    );
    assert_ne!(branch, BRANCH);
    let hq = Ep::new(HQ);
    let branch = Ep::new(&branch);
    // SAFETY: the handle is live; the name is NUL-terminated.
    let st = unsafe { ipsec_endpoint_connect(hq.0, 0, c"vpn-branch".as_ptr()) };
    assert_eq!(st, ipsec_status::IPSEC_OK);
    shuttle(&hq, &branch);
    let events = hq.events();
    let failed = events
        .iter()
        .find(|e| e.0 == ipsec_event_kind::IPSEC_EVENT_PHASE1_FAILED)
        .unwrap_or_else(|| panic!("{events:?}"));
    let text = &failed.2;
    assert!(!has_control(text), "{text:?}");
    // The identity arrives escaped, by the identity's own Display (`\0`) or by the C string
    // (`\u{0}`); either way every character is visible and the forged line stays on one line.
    assert!(
        [r"\u{0}", r"\0"].iter().any(|nul| text.contains(&format!(
            r"branch\u{{1b}}[31m\nJan 1 00:00:00 FAKE LINE{nul}.example.net"
        ))),
        "{text:?}"
    );
    for (_, name, text) in events.iter().chain(branch.events().iter()) {
        assert!(
            !has_control(name) && !has_control(text),
            "{name:?} {text:?}"
        );
    }
}

#[test]
fn a_last_error_quoting_the_caller_is_escaped() {
    let hq = Ep::new(HQ);
    // SAFETY: the handle is live; the name is NUL-terminated.
    let st = unsafe { ipsec_endpoint_connect(hq.0, 0, c"vpn\x1b[2J\nbranch".as_ptr()) };
    assert_eq!(st, ipsec_status::IPSEC_ERR_INVALID);
    let msg = last_error();
    assert!(!has_control(&msg), "{msg:?}");
    assert!(msg.contains(r"vpn\u{1b}[2J\nbranch"), "{msg:?}");
}

#[test]
fn configuration_problems_are_one_per_line_with_nothing_else_raw() {
    let broken = HQ
        .replace(r#"name = "gw-branch""#, r#"name = "gw\nbranch\u001b[0m""#)
        .replace(
            r#"ike-crypto-profile = "ike-suite-b""#,
            r#"ike-crypto-profile = "nope""#,
        );
    let mut ep = null_mut();
    // SAFETY: `broken` is readable for its length; `ep` is writable.
    let st = unsafe { ipsec_endpoint_new(broken.as_ptr().cast(), broken.len(), &mut ep) };
    assert_eq!(st, ipsec_status::IPSEC_ERR_INVALID);
    let msg = last_error();
    let lines: Vec<&str> = msg.split('\n').collect();
    // The gateway's name; its undefined profile; the tunnel's reference to the old name.
    assert_eq!(lines.len(), 3, "{msg}");
    for l in &lines {
        assert!(!has_control(l), "{l:?}");
        assert!(l.starts_with("line "), "{l:?}");
    }
    assert!(
        msg.contains(r#"ike-gateway "gw\nbranch\u{1b}[0m": name: "#),
        "{msg}"
    );
}
