//! SK and SKF protection with the default crypto provider: every IKE algorithm round-trips, any
//! flipped bit is rejected, and fragments reassemble in any order with duplicates and losses.

mod wire_support;

use ikev2::wire::*;
use ipsec_core::crypto::default::SeededRandom;
use ipsec_core::crypto::{default_provider, EncrId, Encryption, IntegId};
use proptest::prelude::*;

/// (encryption, integrity, SK_e length, SK_a length)
const SUITES: &[(Encryption, IntegId, usize, usize)] = &[
    (
        Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
        IntegId::NONE,
        20,
        0,
    ),
    (
        Encryption::new(EncrId::ENCR_AES_GCM_16, 256),
        IntegId::NONE,
        36,
        0,
    ),
    (
        Encryption::new(EncrId::ENCR_CHACHA20_POLY1305, 0),
        IntegId::NONE,
        36,
        0,
    ),
    (
        Encryption::new(EncrId::ENCR_AES_CBC, 128),
        IntegId::AUTH_HMAC_SHA2_256_128,
        16,
        32,
    ),
    (
        Encryption::new(EncrId::ENCR_AES_CBC, 128),
        IntegId::AUTH_HMAC_SHA2_384_192,
        16,
        48,
    ),
    (
        Encryption::new(EncrId::ENCR_AES_CBC, 128),
        IntegId::AUTH_HMAC_SHA2_512_256,
        16,
        64,
    ),
    (
        Encryption::new(EncrId::ENCR_AES_CBC, 256),
        IntegId::AUTH_HMAC_SHA2_256_128,
        32,
        32,
    ),
    (
        Encryption::new(EncrId::ENCR_AES_CBC, 256),
        IntegId::AUTH_HMAC_SHA2_384_192,
        32,
        48,
    ),
    (
        Encryption::new(EncrId::ENCR_AES_CBC, 256),
        IntegId::AUTH_HMAC_SHA2_512_256,
        32,
        64,
    ),
];

fn keys(suite: usize, seed: u8) -> SkKeys {
    let (enc, integ, e_len, a_len) = SUITES[suite];
    let e: Vec<u8> = (0..e_len).map(|i| seed ^ i as u8).collect();
    let a: Vec<u8> = (0..a_len).map(|i| seed.wrapping_add(i as u8)).collect();
    SkKeys::new(&default_provider(), enc, integ, &e, &a).unwrap()
}

fn header() -> Header {
    Header::new(
        0x1122_3344_5566_7788,
        0x99aa_bbcc_ddee_ff00,
        ExchangeType::IKE_AUTH,
        Flags::new(true, false),
        1,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn protect_then_unprotect_returns_the_payloads(
        suite in 0..SUITES.len(),
        seed in any::<u8>(),
        h in wire_support::strategy::header(),
        inner in proptest::collection::vec(wire_support::strategy::plain_payload(), 0..6),
    ) {
        let k = keys(suite, seed);
        let rng = SeededRandom::new([seed; 32]);
        let bytes = protect(&h, &inner, &k, &rng).unwrap();
        let outer = Message::parse(&bytes).unwrap();
        prop_assert_eq!(outer.header, h);
        prop_assert!(matches!(outer.payloads.as_slice(), [Payload::Sk(_)]));
        let m = unprotect(&bytes, &k).unwrap();
        prop_assert_eq!(m.header, h);
        prop_assert_eq!(m.payloads, inner);
    }

    #[test]
    fn any_flipped_bit_is_rejected(
        suite in 0..SUITES.len(),
        inner in proptest::collection::vec(wire_support::strategy::plain_payload(), 0..3),
        bit in any::<prop::sample::Index>(),
    ) {
        let k = keys(suite, 1);
        let bytes = protect(&header(), &inner, &k, &SeededRandom::new([2; 32])).unwrap();
        let mut t = bytes.clone();
        let b = bit.index(bytes.len() * 8);
        t[b / 8] ^= 1 << (b % 8);
        prop_assert!(unprotect(&t, &k).is_err());
    }
}

#[test]
fn every_bit_of_one_message_per_suite_is_covered() {
    let inner = [
        Payload::IdI(Identification::fqdn("left.ike.test")),
        Payload::Notify(Notify::new(NotifyType::INITIAL_CONTACT, &[])),
    ];
    for suite in 0..SUITES.len() {
        let k = keys(suite, 9);
        let bytes = protect(&header(), &inner, &k, &SeededRandom::new([3; 32])).unwrap();
        assert_eq!(unprotect(&bytes, &k).unwrap().payloads, inner);
        for b in 0..bytes.len() * 8 {
            let mut t = bytes.clone();
            t[b / 8] ^= 1 << (b % 8);
            assert!(unprotect(&t, &k).is_err(), "suite {suite} bit {b}");
        }
        // Wrong key: silently dropped, no notify.
        let e = unprotect(&bytes, &keys(suite, 10)).unwrap_err();
        assert_eq!(e, Error::IntegrityCheckFailed);
        assert_eq!(e.notify(), None);
    }
}

#[test]
fn cbc_padding_and_sizes() {
    // AES-CBC: IV 16, ciphertext a multiple of 16, ICV 16 (HMAC-SHA2-256-128).
    let k = keys(3, 0);
    assert_eq!((k.iv_len(), k.block_len(), k.icv_len()), (16, 16, 16));
    for n in 0..40 {
        let inner = [Payload::Nonce(Nonce { data: vec![7; n] })];
        let bytes = protect(&header(), &inner, &k, &SeededRandom::new([0; 32])).unwrap();
        let enc = bytes.len() - 28 - 4 - 16 - 16;
        assert_eq!(enc % 16, 0);
        assert!(enc > 4 + n, "room for payload and pad length");
        assert_eq!(unprotect(&bytes, &k).unwrap().payloads, inner);
    }
    // AEAD: no padding, 8-byte IV, 16-byte tag.
    let g = keys(1, 0);
    assert_eq!((g.iv_len(), g.block_len(), g.icv_len()), (8, 1, 16));
    let bytes = protect(&header(), &[], &g, &SeededRandom::new([0; 32])).unwrap();
    assert_eq!(bytes.len(), 28 + 4 + 8 + 1 + 16);
}

#[test]
fn sk_keys_reject_bad_setups() {
    let p = default_provider();
    let gcm = Encryption::new(EncrId::ENCR_AES_GCM_16, 256);
    assert!(SkKeys::new(&p, gcm, IntegId::AUTH_HMAC_SHA2_256_128, &[0; 36], &[0; 32]).is_err());
    assert!(SkKeys::new(&p, gcm, IntegId::NONE, &[0; 35], &[]).is_err());
    let cbc = Encryption::new(EncrId::ENCR_AES_CBC, 256);
    assert!(SkKeys::new(&p, cbc, IntegId::NONE, &[0; 32], &[]).is_err());
    assert!(SkKeys::new(&p, Encryption::new(EncrId(999), 0), IntegId::NONE, &[], &[]).is_err());
}

fn big_inner() -> Vec<Payload> {
    vec![
        Payload::IdI(Identification::fqdn("left.ike.test")),
        Payload::Cert(Cert {
            encoding: CertEncoding::X509_SIGNATURE,
            data: (0..3000u32).map(|i| (i * 7) as u8).collect(),
        }),
        Payload::Auth(Auth {
            method: AuthMethod::DIGITAL_SIGNATURE,
            data: vec![0x5a; 300],
        }),
    ]
}

fn fragments(suite: usize, max: usize) -> Vec<Vec<u8>> {
    protect_fragments(
        &header(),
        &big_inner(),
        &keys(suite, 4),
        &SeededRandom::new([4; 32]),
        max,
        &Limits::default(),
    )
    .unwrap()
}

#[test]
fn fragments_fit_and_reassemble_in_any_order() {
    for suite in 0..SUITES.len() {
        let k = keys(suite, 4);
        let frags = fragments(suite, 500);
        assert!(frags.len() >= 7, "{}", frags.len());
        for (i, f) in frags.iter().enumerate() {
            assert!(f.len() <= 500);
            let m = Message::parse(f).unwrap();
            let [Payload::Skf(skf)] = m.payloads.as_slice() else {
                panic!("one SKF payload")
            };
            assert_eq!(usize::from(skf.fragment_number), i + 1);
            assert_eq!(usize::from(skf.total_fragments), frags.len());
            let want = if i == 0 {
                PayloadType::IDI
            } else {
                PayloadType::NONE
            };
            assert_eq!(skf.next_payload, want);
            // A fragment alone does not unprotect.
            assert!(matches!(unprotect(f, &k), Err(Error::BadFragment(_))));
        }
        // In order.
        let mut r = Reassembler::default();
        for (i, f) in frags.iter().enumerate() {
            let out = r.handle(f, &k).unwrap();
            assert_eq!(out.is_some(), i + 1 == frags.len());
            if let Some(m) = out {
                assert_eq!(m.payloads, big_inner());
                assert_eq!(m.header, header());
            }
        }
        // Reversed, with every fragment duplicated.
        let mut r = Reassembler::default();
        let mut results = Vec::new();
        for f in frags.iter().rev() {
            results.push(r.handle(f, &k).unwrap());
            results.push(r.handle(f, &k).unwrap());
        }
        let n = results.len();
        assert!(results[..n - 2].iter().all(Option::is_none));
        assert_eq!(results[n - 2].as_ref().unwrap().payloads, big_inner());
        // A late duplicate of the last fragment only opens a new partial message.
        assert!(results[n - 1].is_none());
        assert_eq!(r.missing().len(), frags.len() - 1);
    }
}

#[test]
fn reassembly_with_missing_duplicate_and_forged_fragments() {
    let k = keys(0, 4);
    let frags = fragments(0, 400);
    let n = frags.len();
    let mut r = Reassembler::default();
    for f in frags.iter().skip(1) {
        assert_eq!(r.handle(f, &k).unwrap(), None);
    }
    assert_eq!(r.missing(), [1]);
    // Duplicates change nothing.
    assert_eq!(r.handle(&frags[2], &k).unwrap(), None);
    // A forged first fragment is rejected and does not take the slot.
    let mut forged = frags[0].clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(
        r.handle(&forged, &k).unwrap_err(),
        Error::IntegrityCheckFailed
    );
    assert_eq!(r.missing(), [1]);
    let m = r.handle(&frags[0], &k).unwrap().unwrap();
    assert_eq!(m.payloads, big_inner());
    assert!(r.missing().is_empty());
    assert!(n > 2);
}

#[test]
fn refragmentation_and_other_messages_restart_reassembly() {
    let k = keys(0, 4);
    let small = fragments(0, 300);
    let large = fragments(0, 1200);
    assert!(small.len() > large.len());
    let mut r = Reassembler::default();
    r.handle(&large[0], &k).unwrap();
    // More fragments than before: the sender re-fragmented smaller; start over.
    r.handle(&small[0], &k).unwrap();
    assert_eq!(r.missing().len(), small.len() - 1);
    // Fewer than announced: rejected, the partial message stays.
    assert!(matches!(
        r.handle(&large[1], &k),
        Err(Error::BadFragment(_))
    ));
    assert_eq!(r.missing().len(), small.len() - 1);
    // Another message ID starts anew.
    let mut h = header();
    h.message_id = 2;
    let other = protect_fragments(
        &h,
        &big_inner(),
        &k,
        &SeededRandom::new([5; 32]),
        1200,
        &Limits::default(),
    )
    .unwrap();
    r.handle(&other[0], &k).unwrap();
    assert_eq!(r.missing().len(), other.len() - 1);
    let mut last = None;
    for f in &other[1..] {
        last = r.handle(f, &k).unwrap();
    }
    assert_eq!(last.unwrap().header.message_id, 2);
}

#[test]
fn fragment_limits() {
    let k = keys(0, 4);
    // Too small for even one byte of payload.
    let e = protect_fragments(
        &header(),
        &big_inner(),
        &k,
        &SeededRandom::new([0; 32]),
        60,
        &Limits::default(),
    );
    assert!(matches!(e, Err(Error::TooLong(_))));
    // More fragments than allowed when sending.
    let few = Limits {
        max_fragments: 3,
        ..Limits::default()
    };
    let e = protect_fragments(
        &header(),
        &big_inner(),
        &k,
        &SeededRandom::new([0; 32]),
        500,
        &few,
    );
    assert_eq!(e.unwrap_err(), Error::TooLong("too many fragments"));
    // ... and when receiving.
    let frags = fragments(0, 500);
    let mut r = Reassembler::new(few);
    assert!(matches!(
        r.handle(&frags[0], &k),
        Err(Error::BadFragment(_))
    ));
    // Reassembled size bound: the partial message is dropped.
    let tight = Limits {
        max_reassembled_len: 1000,
        ..Limits::default()
    };
    let mut r = Reassembler::new(tight);
    let mut err = None;
    for f in &frags {
        if let Err(e) = r.handle(f, &k) {
            err = Some(e);
            break;
        }
    }
    assert_eq!(err, Some(Error::LimitExceeded("reassembled message size")));
    assert!(r.missing().is_empty());
    // An empty inner list still makes one fragment.
    let one = protect_fragments(
        &header(),
        &[],
        &k,
        &SeededRandom::new([0; 32]),
        500,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(one.len(), 1);
    let m = Reassembler::default().handle(&one[0], &k).unwrap().unwrap();
    assert!(m.payloads.is_empty());
}

/// The fuzz seeds `7_null_aead_sk.bin` and `8_null_aead_skf_1_of_1.bin` are "protected" with a
/// no-security AEAD (identity cipher, tag ignored) so the fuzzer reaches the inner payload parser;
/// check they really decode that way.
mod no_security {
    use super::*;
    use ipsec_core::crypto::no_security::ANY_TAG_AEAD;
    use ipsec_core::crypto::{AeadAlgorithm, CryptoProvider};

    static AEADS: &[&dyn AeadAlgorithm] = &[&ANY_TAG_AEAD];

    #[test]
    fn fuzz_seeds_decode_with_the_no_security_aead() {
        let provider = CryptoProvider {
            aeads: AEADS,
            ciphers: &[],
            integrity: &[],
            prfs: &[],
            key_exchanges: &[],
            signatures: &[],
            random: default_provider().random,
        };
        let k = SkKeys::new(
            &provider,
            Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
            IntegId::NONE,
            &[0; 20],
            &[],
        )
        .unwrap();
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/ike_message");
        let want = vec![
            Payload::Notify(Notify::new(NotifyType::INITIAL_CONTACT, &[])),
            Payload::Nonce(Nonce {
                data: (0..16).collect(),
            }),
        ];
        let sk = std::fs::read(dir.join("7_null_aead_sk.bin")).unwrap();
        assert_eq!(unprotect(&sk, &k).unwrap().payloads, want);
        let skf = std::fs::read(dir.join("8_null_aead_skf_1_of_1.bin")).unwrap();
        let m = Reassembler::default().handle(&skf, &k).unwrap().unwrap();
        assert_eq!(m.payloads, want);
        // Every seed parses and re-emits exactly.
        for e in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            assert_eq!(Message::parse(&bytes).unwrap().to_bytes().unwrap(), bytes);
        }
    }
}
