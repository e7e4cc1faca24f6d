//! Known answers for ECP groups 19, 20 and 21: RFC 5903 section 8 (public values as `x | y`,
//! shared secret = x coordinate), and Wycheproof secp256r1 cases, among them points that are not
//! on the curve, which RFC 6989 requires us to reject.

mod kat_common;

use ipsec_core::crypto::default::{ECP_256, ECP_384, ECP_521};
use ipsec_core::crypto::{CryptoError, DhGroup, KeyExchangeGroup};
use kat_common::load;

fn group_for(id: &str) -> &'static dyn KeyExchangeGroup {
    match id {
        "19" => ECP_256,
        "20" => ECP_384,
        "21" => ECP_521,
        other => panic!("group {other}"),
    }
}

#[test]
fn rfc5903_section_8_known_answers() {
    let records = load("ecp_rfc5903.txt");
    assert_eq!(records.len(), 3);
    for r in &records {
        let g = group_for(r.get("group"));
        let mut gi = r.hex("gix");
        gi.extend(r.hex("giy"));
        let mut gr = r.hex("grx");
        gr.extend(r.hex("gry"));
        assert_eq!(g.public_len(), gi.len(), "{}", r.label());

        let initiator = g.start_with_private(&r.hex("i")).unwrap();
        let responder = g.start_with_private(&r.hex("r")).unwrap();
        assert_eq!(initiator.public_value(), &gi[..], "{}: g^i", r.label());
        assert_eq!(responder.public_value(), &gr[..], "{}: g^r", r.label());
        let girx = r.hex("girx");
        assert_eq!(
            initiator.complete(&gr).unwrap().expose(),
            &girx[..],
            "{}",
            r.label()
        );
        assert_eq!(
            responder.complete(&gi).unwrap().expose(),
            &girx[..],
            "{}",
            r.label()
        );
    }
}

#[test]
fn invalid_points_and_lengths_are_rejected() {
    let records = load("ecp_rfc5903.txt");
    for r in &records {
        let g = group_for(r.get("group"));
        let me = g.start_with_private(&r.hex("i")).unwrap();
        let invalid = Err(CryptoError::InvalidPeerPublicKey(g.group()));
        let mut gr = r.hex("grx");
        gr.extend(r.hex("gry"));
        // Off the curve: y + 1 (the last octet of the RFC values is below 0xff).
        let mut off = gr.clone();
        *off.last_mut().unwrap() += 1;
        assert_eq!(me.complete(&off).map(|_| ()), invalid, "{}", r.label());
        // (0, 0) is not on any of these curves; the identity has no x | y form at all.
        assert_eq!(me.complete(&vec![0; gr.len()]).map(|_| ()), invalid);
        // x = p would be reduced by a lax decoder: all-ones coordinates are >= p.
        assert_eq!(me.complete(&vec![0xff; gr.len()]).map(|_| ()), invalid);
        // Wrong lengths, including the SEC1 form with its 0x04 prefix.
        let mut sec1 = vec![0x04];
        sec1.extend(&gr);
        for bad in [&gr[1..], &sec1[..], &[][..]] {
            assert_eq!(me.complete(bad).map(|_| ()), invalid);
        }
        // A private key of the wrong length or out of range is a caller error.
        let len = r.hex("i").len();
        assert!(matches!(
            g.start_with_private(&vec![1; len + 1]),
            Err(CryptoError::InvalidKeyLength { .. })
        ));
        assert!(g.start_with_private(&vec![0; len]).is_err());
        assert!(g.start_with_private(&vec![0xff; len]).is_err());
    }
}

/// Wycheproof private keys are minimal big-endian integers; ours are fixed-width.
fn fixed_width(private: &[u8], len: usize) -> Vec<u8> {
    let trimmed: Vec<u8> = private.iter().copied().skip_while(|&b| b == 0).collect();
    let mut out = vec![0; len - trimmed.len()];
    out.extend(trimmed);
    out
}

#[test]
fn wycheproof_secp256r1() {
    let records = load("wycheproof_ecdh_secp256r1.txt");
    let (mut valid, mut invalid) = (0, 0);
    for r in &records {
        let me = ECP_256
            .start_with_private(&fixed_width(&r.hex("private"), 32))
            .unwrap();
        let public = r.hex("public");
        assert_eq!(public[0], 0x04, "uncompressed points only");
        let result = me.complete(&public[1..]);
        match r.get("result") {
            "valid" => {
                assert_eq!(
                    result.unwrap().expose(),
                    &r.hex("shared")[..],
                    "tcId {}",
                    r.label()
                );
                valid += 1;
            }
            "invalid" => {
                assert_eq!(
                    result.map(|_| ()),
                    Err(CryptoError::InvalidPeerPublicKey(DhGroup::ECP_256)),
                    "tcId {}",
                    r.label()
                );
                invalid += 1;
            }
            other => panic!("unexpected result {other}"),
        }
    }
    assert!(
        valid >= 5 && invalid >= 10,
        "{valid} valid, {invalid} invalid"
    );
}
