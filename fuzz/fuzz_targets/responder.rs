//! Fuzz target: a responder endpoint fed arbitrary datagrams and commands.
//!
//! The endpoint runs on the no-security provider (`common/no_security.rs`): its AEAD is the
//! identity with a zero tag, its PRF is constant and its key exchange agrees on a zero secret,
//! so whole exchanges written by the fuzzer authenticate and reach IKE_AUTH, CREATE_CHILD_SA and
//! INFORMATIONAL handling. Its random source is seeded as `ikev2::testing::Pair` seeds its right
//! peer, so seeds recorded from a `Pair` run replay exactly (same SPIs, same nonces).
//!
//! Input: steps as described in `common/endpoint.rs`; datagrams come from the peer or from
//! eight other addresses. Checked after every step: no panic; every datagram sent parses (and
//! its SK payload opens); IKE SAs and Child SAs bounded by the steps taken; half-open IKE SAs
//! within the responder's (small) limits; `handle_timeout` visiting no more SAs than are held;
//! events consistent with each other and with the installed Child SAs.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../common/no_security.rs"]
mod no_security;

#[path = "../common/endpoint.rs"]
mod endpoint;

fuzz_target!(|data: &[u8]| {
    let mut d = endpoint::Driven::new(false);
    for s in endpoint::steps(data).iter().take(256) {
        d.step(s);
    }
});
