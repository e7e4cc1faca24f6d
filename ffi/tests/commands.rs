//! Two endpoints wired together through the ABI, driven by its commands.
//!
//! ```text
//!   hq                          branch
//!   connect  --IKE_SA_INIT-->
//!            <--IKE_SA_INIT--
//!            --IKE_AUTH----->
//!            <--IKE_AUTH-----   IKE SA + Child SA "lan-to-lan" up on both
//!            --CREATE_CHILD_SA->
//!            <-CREATE_CHILD_SA-  Child SA "monitor" up on both
//!   rekey_child --CREATE_CHILD_SA--> ...   per proxy ID: new Child SA up, old one down
//!   delete_child --INFORMATIONAL-->  ...   both Child SAs down on both sides
//! ```

use ipsec::*;
use std::ffi::CStr;
use std::ptr::null_mut;

const HQ: &str = include_str!("../../examples/configs/hq.toml");
const BRANCH: &str = include_str!("../../examples/configs/branch.toml");

struct Ep(*mut ipsec_endpoint);

impl Ep {
    fn new(toml: &str) -> Ep {
        let mut ep = null_mut();
        // SAFETY: `toml` is readable for its length; `ep` is writable.
        let st = unsafe { ipsec_endpoint_new(toml.as_ptr().cast(), toml.len(), &mut ep) };
        assert_eq!(st, ipsec_status::IPSEC_OK);
        Ep(ep)
    }

    /// Drains the events as (kind, name, inbound SPI, outbound SPI).
    fn events(&self) -> Vec<(ipsec_event_kind, String, u32, u32)> {
        let mut out = Vec::new();
        let mut e = std::mem::MaybeUninit::<ipsec_event>::uninit();
        // SAFETY: the handle is live; `e` is written before it is read; `name` is valid until
        // the next poll, and copied before it.
        unsafe {
            while ipsec_endpoint_poll_event(self.0, e.as_mut_ptr()) == ipsec_status::IPSEC_OK {
                let e = e.assume_init_ref();
                let name = CStr::from_ptr(e.name).to_str().unwrap().to_owned();
                out.push((e.kind, name, e.inbound_spi, e.outbound_spi));
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

/// Moves datagrams both ways until none is in flight; returns how many moved.
fn shuttle(a: &Ep, b: &Ep, now: u64) -> usize {
    let mut buf = vec![0u8; 65_535];
    let mut moved = 0;
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
                    assert_eq!(r, ipsec_received::IPSEC_RECEIVED_IKE);
                    any = true;
                    moved += 1;
                }
            }
        }
        if !any {
            return moved;
        }
    }
    panic!("datagrams still in flight after 100 rounds");
}

fn kinds(ev: &[(ipsec_event_kind, String, u32, u32)]) -> Vec<ipsec_event_kind> {
    ev.iter().map(|e| e.0).collect()
}

/// The (inbound, outbound) SPI pairs of the events of `kind`, sorted.
fn spis(ev: &[(ipsec_event_kind, String, u32, u32)], kind: ipsec_event_kind) -> Vec<(u32, u32)> {
    let mut v: Vec<_> = ev
        .iter()
        .filter(|e| e.0 == kind)
        .map(|e| (e.2, e.3))
        .collect();
    v.sort_unstable();
    v
}

/// The same pairs as the peer sees them (inbound and outbound swapped), sorted.
fn crossed(pairs: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut v: Vec<_> = pairs.iter().map(|&(i, o)| (o, i)).collect();
    v.sort_unstable();
    v
}

fn count(ev: &[(ipsec_event_kind, String, u32, u32)], kind: ipsec_event_kind) -> usize {
    ev.iter().filter(|e| e.0 == kind).count()
}

/// hq.toml's tunnel has two proxy IDs (lan-to-lan and monitor): each is its own Child SA, the
/// first negotiated in IKE_AUTH and the second with CREATE_CHILD_SA right after.
#[test]
fn connect_rekey_and_delete_through_the_abi() {
    use ipsec_event_kind::*;
    use ipsec_status::*;
    let hq = Ep::new(HQ);
    let branch = Ep::new(BRANCH);
    // SAFETY: handles are live; names are NUL-terminated.
    unsafe {
        assert_eq!(
            ipsec_endpoint_connect(hq.0, 0, c"vpn-branch".as_ptr()),
            IPSEC_OK
        );
    }
    assert_eq!(shuttle(&hq, &branch, 0), 6);
    let (h, b) = (hq.events(), branch.events());
    let up3 = [
        IPSEC_EVENT_IKE_SA_UP,
        IPSEC_EVENT_CHILD_SA_UP,
        IPSEC_EVENT_CHILD_SA_UP,
    ];
    assert_eq!(kinds(&h), up3, "{h:?}");
    assert_eq!(kinds(&b), up3, "{b:?}");
    let hq_old = spis(&h, IPSEC_EVENT_CHILD_SA_UP);
    assert_eq!(spis(&b, IPSEC_EVENT_CHILD_SA_UP), crossed(&hq_old));
    assert_ne!(hq_old[0], hq_old[1], "one Child SA per proxy ID");
    assert!(h[1..].iter().all(|e| e.1 == "vpn-branch"), "{h:?}");
    assert!(b[1..].iter().all(|e| e.1 == "vpn-hq"), "{b:?}");

    // SAFETY: as above.
    unsafe {
        assert_eq!(
            ipsec_endpoint_rekey_child(hq.0, 1_000_000, c"vpn-branch".as_ptr()),
            IPSEC_OK
        );
    }
    shuttle(&hq, &branch, 1_000_000);
    let (h, b) = (hq.events(), branch.events());
    for ev in [&h, &b] {
        assert_eq!(count(ev, IPSEC_EVENT_CHILD_SA_UP), 2, "{ev:?}");
        assert_eq!(count(ev, IPSEC_EVENT_CHILD_SA_DOWN), 2, "{ev:?}");
    }
    // The initiator of the rekeys sends on the new SAs at once; the responder switches to each
    // when the old one's Delete arrives, right before that old SA goes.
    assert_eq!(h.len(), 4, "{h:?}");
    assert_eq!(b.len(), 6, "{b:?}");
    assert_eq!(
        spis(&b, IPSEC_EVENT_CHILD_SA_OUTBOUND),
        spis(&b, IPSEC_EVENT_CHILD_SA_UP)
    );
    assert_eq!(
        spis(&h, IPSEC_EVENT_CHILD_SA_DOWN),
        hq_old,
        "the old SAs go down"
    );
    let hq_new = spis(&h, IPSEC_EVENT_CHILD_SA_UP);
    assert_eq!(spis(&b, IPSEC_EVENT_CHILD_SA_UP), crossed(&hq_new));
    assert_eq!(spis(&b, IPSEC_EVENT_CHILD_SA_DOWN), crossed(&hq_old));
    assert!(hq_new.iter().all(|p| !hq_old.contains(p)));

    // SAFETY: as above.
    unsafe {
        assert_eq!(
            ipsec_endpoint_delete_child(hq.0, 2_000_000, c"vpn-branch".as_ptr()),
            IPSEC_OK
        );
        assert_eq!(
            ipsec_endpoint_delete_child(hq.0, 2_000_000, c"nope".as_ptr()),
            IPSEC_ERR_INVALID
        );
        assert_eq!(
            ipsec_endpoint_delete_child(hq.0, 2_000_000, std::ptr::null()),
            IPSEC_ERR_NULL
        );
    }
    shuttle(&hq, &branch, 2_000_000);
    let (h, b) = (hq.events(), branch.events());
    let down2 = [IPSEC_EVENT_CHILD_SA_DOWN, IPSEC_EVENT_CHILD_SA_DOWN];
    assert_eq!(kinds(&h), down2, "{h:?}");
    assert_eq!(kinds(&b), down2, "{b:?}");
    assert_eq!(spis(&h, IPSEC_EVENT_CHILD_SA_DOWN), hq_new);
    assert_eq!(spis(&b, IPSEC_EVENT_CHILD_SA_DOWN), crossed(&hq_new));

    // SAFETY: as above.
    unsafe {
        assert_eq!(
            ipsec_endpoint_delete_ike(hq.0, 3_000_000, c"gw-branch".as_ptr()),
            IPSEC_OK
        );
    }
    shuttle(&hq, &branch, 3_000_000);
    assert_eq!(kinds(&hq.events()), [IPSEC_EVENT_IKE_SA_DOWN]);
    assert_eq!(kinds(&branch.events()), [IPSEC_EVENT_IKE_SA_DOWN]);
}
