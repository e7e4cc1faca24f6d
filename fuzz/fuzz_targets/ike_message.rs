//! Fuzz target: one datagram's worth of bytes as an IKE message.
//!
//! Invariants checked, beyond "never panics":
//! - a message that parses emits again, `buffer_len()` is the emitted length, and the emitted bytes
//!   are the input or at least re-parse to the same message;
//! - every parse error names a notify or is a fragment error;
//! - SK/SKF unprotect with fixed keys never panics: with the captured exchange's real SK_ei/SK_er
//!   (seeds then get past the ICV until mutated) and with a no-security AEAD that accepts every
//!   tag, so that the fuzzer reaches the inner payload parser; whatever unprotect returns also
//!   re-emits and re-parses equal;
//! - a parsed message without SK/SKF, protected whole or in fragments with the no-security keys,
//!   unprotects or reassembles to the same payloads.

#![no_main]

use ikev2::wire::{
    protect, protect_fragments, unprotect, Error, Limits, Message, Payload, Reassembler, SkKeys,
};
use ipsec_core::crypto::{AeadAlgorithm, CryptoProvider, EncrId, Encryption, IntegId};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

use ipsec_core::crypto::no_security;

static AEADS: &[&dyn AeadAlgorithm] = &[&no_security::ANY_TAG_AEAD];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn keys() -> &'static [SkKeys; 3] {
    static KEYS: OnceLock<[SkKeys; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let real = ipsec_core::crypto::default_provider();
        let gcm256 = Encryption::new(EncrId::ENCR_AES_GCM_16, 256);
        // SK_ei and SK_er of testdata/strongswan-x25519/keys.txt.
        let ei = unhex("10985b0c0da336f42cbf173c67a2a2de84dbbd157b7aa34ce4510f82fc5c7838593d7bd5");
        let er = unhex("3a3a61eaa402cb05ea25d8c1e7b0fa3dc2f505529ebff180d8b4aecdadec517bc926326a");
        let none = CryptoProvider {
            aeads: AEADS,
            ciphers: &[],
            integrity: &[],
            prfs: &[],
            key_exchanges: &[],
            signatures: &[],
            random: real.random,
        };
        let null_gcm = Encryption::new(EncrId::ENCR_AES_GCM_16, 128);
        [
            SkKeys::new(&real, gcm256, IntegId::NONE, &ei, &[]).unwrap(),
            SkKeys::new(&real, gcm256, IntegId::NONE, &er, &[]).unwrap(),
            SkKeys::new(&none, null_gcm, IntegId::NONE, &[0; 20], &[]).unwrap(),
        ]
    })
}

fn check_round_trip(m: &Message, input: Option<&[u8]>) {
    let out = m.to_bytes().expect("a decoded message emits");
    assert_eq!(out.len(), m.buffer_len());
    if input != Some(&out[..]) {
        let again = Message::parse(&out).expect("emitted bytes parse");
        assert_eq!(&again, m);
    }
}

/// Protects a plaintext message's payloads whole and in fragments, and opens them again.
fn check_protection(m: &Message, keys: &SkKeys) {
    if m.payloads
        .iter()
        .any(|p| matches!(p, Payload::Sk(_) | Payload::Skf(_)))
    {
        return;
    }
    let rng = ipsec_core::crypto::default::SeededRandom::new([0; 32]);
    let whole = match protect(&m.header, &m.payloads, keys, &rng) {
        Ok(w) => w,
        // Near 64 KiB the SK payload's 16-bit length cannot hold the result.
        Err(Error::TooLong(_)) => return,
        Err(e) => panic!("a parsed message fails to protect: {e}"),
    };
    assert_eq!(unprotect(&whole, keys).expect("own message opens"), *m);
    // A datagram size from the message itself, so that sizes vary with the input.
    let max = 80 + usize::from(m.header.message_id as u16 % 600);
    let limits = Limits::default();
    let Ok(frags) = protect_fragments(&m.header, &m.payloads, keys, &rng, max, &limits) else {
        return;
    };
    let mut r = Reassembler::new(limits);
    let mut out = None;
    for f in frags.iter().rev() {
        assert!(f.len() <= max);
        out = r.handle(f, keys).expect("own fragment opens");
    }
    assert_eq!(out.expect("all fragments given"), *m);
}

fuzz_target!(|data: &[u8]| {
    match Message::parse(data) {
        Ok(m) => {
            check_round_trip(&m, Some(data));
            check_protection(&m, &keys()[2]);
        }
        Err(e) => assert!(e.notify().is_some() || matches!(e, Error::BadFragment(_))),
    }
    for k in keys() {
        if let Ok(m) = unprotect(data, k) {
            check_round_trip(&m, None);
        }
        if let Ok(Some(m)) = Reassembler::default().handle(data, k) {
            check_round_trip(&m, None);
        }
    }
});
