//! Known answers for group 31 (X25519, RFC 8031): RFC 7748 sections 5.2 and 6.1, and Wycheproof
//! cases, among them small-order points whose shared secret is all zeros, which RFC 8031
//! section 2.3 requires us to reject.

mod kat_common;

use ipsec_core::crypto::default::CURVE25519;
use ipsec_core::crypto::{default_provider, CryptoError, DhGroup};
use kat_common::load;

fn invalid() -> Result<(), CryptoError> {
    Err(CryptoError::InvalidPeerPublicKey(DhGroup::CURVE25519))
}

#[test]
fn rfc7748_known_answers() {
    let records = load("x25519_rfc7748.txt");
    assert_eq!(records.len(), 3);
    for r in &records[..2] {
        let k = CURVE25519.start_with_private(&r.hex("scalar")).unwrap();
        assert_eq!(k.complete(&r.hex("u")).unwrap().expose(), &r.hex("out")[..]);
    }
    let dh = &records[2];
    let alice = CURVE25519
        .start_with_private(&dh.hex("alice_private"))
        .unwrap();
    let bob = CURVE25519
        .start_with_private(&dh.hex("bob_private"))
        .unwrap();
    assert_eq!(alice.public_value(), &dh.hex("alice_public")[..]);
    assert_eq!(bob.public_value(), &dh.hex("bob_public")[..]);
    let shared = dh.hex("shared");
    assert_eq!(
        alice.complete(bob.public_value()).unwrap().expose(),
        &shared[..]
    );
    assert_eq!(
        bob.complete(alice.public_value()).unwrap().expose(),
        &shared[..]
    );
}

#[test]
fn wycheproof_x25519() {
    let records = load("wycheproof_x25519.txt");
    let (mut agreed, mut zero) = (0, 0);
    for r in &records {
        let me = CURVE25519.start_with_private(&r.hex("private")).unwrap();
        let shared = r.hex("shared");
        let result = me.complete(&r.hex("public"));
        if shared.iter().all(|&b| b == 0) {
            assert_eq!(result.map(|_| ()), invalid(), "tcId {}", r.label());
            zero += 1;
        } else {
            assert_eq!(result.unwrap().expose(), &shared[..], "tcId {}", r.label());
            agreed += 1;
        }
    }
    assert!(
        agreed >= 5 && zero >= 20,
        "{agreed} agreed, {zero} rejected"
    );
}

#[test]
fn zero_point_and_bad_lengths_are_rejected() {
    let me = CURVE25519.start(default_provider().random).unwrap();
    assert_eq!(me.public_value().len(), 32);
    assert_eq!(me.complete(&[0; 32]).map(|_| ()), invalid());
    // u = 1 has order 1 as well (RFC 7748 section 6.1 lists the small-order points).
    let mut one = [0u8; 32];
    one[0] = 1;
    assert_eq!(me.complete(&one).map(|_| ()), invalid());
    assert_eq!(me.complete(&[9; 31]).map(|_| ()), invalid());
    assert_eq!(me.complete(&[9; 33]).map(|_| ()), invalid());
    assert!(matches!(
        CURVE25519.start_with_private(&[1; 31]),
        Err(CryptoError::InvalidKeyLength { .. })
    ));
}
