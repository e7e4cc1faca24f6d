//! Fuzz target: an initiator endpoint fed arbitrary responses (and commands).
//!
//! The endpoint connects tunnel `t0` (two proxy IDs) at the start, so its IKE_SA_INIT request
//! is out; every datagram of the input then arrives as if from the peer. It runs on the
//! no-security provider with the random source `ikev2::testing::Pair` gives its left peer, so
//! the responses of a recorded `Pair` run match its SPIs and carry it through IKE_AUTH, the
//! second Child SA, rekeys and deletes.
//!
//! Input: steps as described in `common/endpoint.rs`. Checked after every step: no panic; every
//! datagram sent parses (and its SK payload opens); IKE SAs and Child SAs bounded by the steps
//! taken; events consistent with each other and with the installed Child SAs.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../common/no_security.rs"]
mod no_security;

#[path = "../common/endpoint.rs"]
mod endpoint;

fuzz_target!(|data: &[u8]| {
    let mut d = endpoint::Driven::new(true);
    d.step(&endpoint::Step::Command(0, 0));
    for s in endpoint::steps(data).iter().take(256) {
        d.step(s);
    }
});
