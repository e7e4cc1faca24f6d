//! An endpoint driven on one thread while a datapath thread installs its Child SAs into an ESP
//! table: `ipsec_esp_table_install` reads the endpoint's last event under the endpoint's lock, so
//! it always sees a whole event, never one being replaced.
//!
//! ```text
//!   control thread                              datapath thread
//!   connect, shuttle IKE, poll events   <-->    ipsec_esp_table_install(table, hq) in a loop
//!   rekey_child x ROUNDS, poll events            (each CHILD_SA_UP gets installed once)
//! ```
//!
//! Under ThreadSanitizer this test reports any unsynchronized access:
//! `RUSTC_BOOTSTRAP=1 RUSTFLAGS=-Zsanitizer=thread cargo test -p ipsec-ffi --test threads
//! --target x86_64-unknown-linux-gnu`.

use ipsec::*;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

const HQ: &str = include_str!("../../examples/configs/hq.toml");
const BRANCH: &str = include_str!("../../examples/configs/branch.toml");
const ROUNDS: u64 = 40;

/// A handle shared between the two threads.
struct Handle<T>(*mut T);

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Handle<T> {}

impl<T> Handle<T> {
    /// The pointer (a method, so that closures capture the whole `Send` handle).
    fn ptr(self) -> *mut T {
        self.0
    }
}

// SAFETY: the endpoint handle serializes every call on it with its own lock; the table handle is
// only used by the datapath thread while both run, and by the test thread after they joined.
unsafe impl<T> Send for Handle<T> {}

fn endpoint(toml: &str) -> Handle<ipsec_endpoint> {
    let mut ep = null_mut();
    // SAFETY: `toml` is readable for its length; `ep` is writable.
    let st = unsafe { ipsec_endpoint_new(toml.as_ptr().cast(), toml.len(), &mut ep) };
    assert_eq!(st, ipsec_status::IPSEC_OK);
    Handle(ep)
}

/// Moves datagrams both ways until none is in flight.
fn shuttle(a: Handle<ipsec_endpoint>, b: Handle<ipsec_endpoint>, now: u64) {
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
                    let st = ipsec_endpoint_handle_datagram(
                        to.0,
                        now,
                        &t.remote,
                        &t.local,
                        buf.as_ptr(),
                        t.len,
                        &mut r,
                    );
                    assert_eq!(st, ipsec_status::IPSEC_OK);
                    any = true;
                }
            }
        }
        if !any {
            return;
        }
    }
    panic!("datagrams still in flight after 100 rounds");
}

/// Drains `ep`'s events and records the inbound SPI of each CHILD_SA_UP; with `attempts`, waits
/// after each such event until the datapath thread has started an install after the poll (so
/// every one gets installed).
fn drain(ep: Handle<ipsec_endpoint>, attempts: Option<&AtomicU64>, ups: &mut Vec<u32>) {
    let mut e = std::mem::MaybeUninit::<ipsec_event>::uninit();
    loop {
        // SAFETY: the handle is live; `e` is written before it is read.
        let st = unsafe { ipsec_endpoint_poll_event(ep.0, e.as_mut_ptr()) };
        if st != ipsec_status::IPSEC_OK {
            assert_eq!(st, ipsec_status::IPSEC_NONE);
            return;
        }
        // SAFETY: written by the successful poll.
        let e = unsafe { e.assume_init_ref() };
        if e.kind == ipsec_event_kind::IPSEC_EVENT_CHILD_SA_UP {
            ups.push(e.inbound_spi);
            let Some(attempts) = attempts else {
                continue;
            };
            // An attempt counted now may have taken the lock before the poll; the one after it
            // started after the poll.
            let seen = attempts.load(Ordering::SeqCst);
            while attempts.load(Ordering::SeqCst) < seen + 2 {
                std::thread::yield_now();
            }
        }
    }
}

#[test]
fn installs_on_a_datapath_thread_race_event_polls_safely() {
    let hq = endpoint(HQ);
    let branch = endpoint(BRANCH);
    let mut table = null_mut();
    // SAFETY: `table` is writable.
    let st = unsafe { ipsec_esp_table_new(&mut table) };
    assert_eq!(st, ipsec_status::IPSEC_OK);
    let table = Handle(table);

    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicU64::new(0));
    let datapath = {
        let (stop, attempts) = (stop.clone(), attempts.clone());
        std::thread::spawn(move || {
            let (mut ok, mut other) = (0u64, 0u64);
            while !stop.load(Ordering::SeqCst) {
                // SAFETY: both handles are live until the test thread frees them after join.
                let st = unsafe { ipsec_esp_table_install(table.ptr(), hq.ptr(), 0) };
                attempts.fetch_add(1, Ordering::SeqCst);
                match st {
                    ipsec_status::IPSEC_OK => ok += 1,
                    // Not a CHILD_SA_UP event, or that SA is already installed.
                    ipsec_status::IPSEC_ERR_STATE | ipsec_status::IPSEC_ERR_INVALID => other += 1,
                    st => panic!("install returned {st:?}"),
                }
            }
            (ok, other)
        })
    };

    let mut ups = Vec::new();
    // SAFETY: handles are live; names are NUL-terminated.
    unsafe {
        assert_eq!(
            ipsec_endpoint_connect(hq.0, 0, c"vpn-branch".as_ptr()),
            ipsec_status::IPSEC_OK
        );
    }
    shuttle(hq, branch, 0);
    drain(hq, Some(&attempts), &mut ups);
    for round in 1..=ROUNDS {
        let now = round * 1_000_000;
        // SAFETY: as above.
        unsafe {
            assert_eq!(
                ipsec_endpoint_rekey_child(hq.0, now, c"vpn-branch".as_ptr()),
                ipsec_status::IPSEC_OK
            );
        }
        shuttle(hq, branch, now);
        drain(hq, Some(&attempts), &mut ups);
        // The branch's events are drained too, as an embedder would.
        drain(branch, None, &mut Vec::new());
    }
    stop.store(true, Ordering::SeqCst);
    let (ok, other) = datapath.join().unwrap();

    // Two proxy IDs: two Child SAs at first and two more per rekey, each installed exactly once,
    // under the SPI its event announced.
    assert_eq!(ups.len() as u64, 2 * (ROUNDS + 1));
    assert_eq!(ok, ups.len() as u64, "installs that succeeded");
    assert!(other > 0);
    for spi in &ups {
        // SAFETY: the datapath thread has ended; the table is live.
        let st = unsafe { ipsec_esp_table_remove(table.0, *spi) };
        assert_eq!(st, ipsec_status::IPSEC_OK, "SA {spi:08x} was installed");
    }
    // SAFETY: each handle is freed once, after its last use.
    unsafe {
        ipsec_esp_table_free(table.0);
        ipsec_endpoint_free(hq.0);
        ipsec_endpoint_free(branch.0);
    }
}
