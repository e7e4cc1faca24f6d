//! Known answers for the HMAC integrity algorithms and PRFs: RFC 4231, RFC 4868 section 2.7.2
//! (truncated ICVs with full-length keys) and RFC 2202 (HMAC-SHA1, HMAC-MD5).

mod kat_common;

use ipsec_core::crypto::default::{
    HMAC_MD5_96, HMAC_SHA1_96, HMAC_SHA2_256_128, HMAC_SHA2_384_192, HMAC_SHA2_512_256,
    PRF_HMAC_SHA1, PRF_HMAC_SHA2_256, PRF_HMAC_SHA2_384, PRF_HMAC_SHA2_512,
};
use ipsec_core::crypto::{
    default_provider, CryptoError, IntegId, IntegrityAlgorithm, PrfAlgorithm, PrfId,
};
use kat_common::load;

fn prf_for(hash: &str) -> &'static dyn PrfAlgorithm {
    match hash {
        "sha1" => PRF_HMAC_SHA1,
        "sha256" => PRF_HMAC_SHA2_256,
        "sha384" => PRF_HMAC_SHA2_384,
        "sha512" => PRF_HMAC_SHA2_512,
        other => panic!("no PRF for {other}"),
    }
}

fn integ_for(hash: &str) -> &'static dyn IntegrityAlgorithm {
    match hash {
        "md5" => HMAC_MD5_96,
        "sha1" => HMAC_SHA1_96,
        "sha256" => HMAC_SHA2_256_128,
        "sha384" => HMAC_SHA2_384_192,
        "sha512" => HMAC_SHA2_512_256,
        other => panic!("no integrity algorithm for {other}"),
    }
}

/// Runs the PRF over `data` in one piece and split in two, and returns the output.
fn prf_both_ways(prf: &dyn PrfAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut whole = vec![0u8; prf.output_len()];
    prf.prf(key, &[data], &mut whole);
    let cut = data.len() / 3;
    let mut split = vec![0u8; prf.output_len()];
    prf.prf(key, &[&data[..cut], &data[cut..]], &mut split);
    assert_eq!(whole, split, "splitting the input changed the PRF output");
    whole
}

/// Signs and verifies; checks a flipped bit and a wrong ICV length are rejected.
fn check_integrity(alg: &dyn IntegrityAlgorithm, key: &[u8], data: &[u8], icv: &[u8], label: &str) {
    assert_eq!(alg.icv_len(), icv.len(), "{label}");
    let k = alg.new_key(key).unwrap();
    let mut out = vec![0u8; alg.icv_len()];
    k.sign(&[data], &mut out);
    assert_eq!(out, icv, "{label}: ICV");
    let cut = data.len() / 2;
    k.verify(&[&data[..cut], &data[cut..]], icv).unwrap();
    let mut bad = icv.to_vec();
    bad[icv.len() - 1] ^= 0x01;
    assert_eq!(
        k.verify(&[data], &bad),
        Err(CryptoError::IntegrityCheckFailed),
        "{label}: tampered ICV"
    );
    assert!(matches!(
        k.verify(&[data], &icv[..icv.len() - 1]),
        Err(CryptoError::InvalidLength(_))
    ));
}

#[test]
fn rfc4231_prf_known_answers() {
    let records = load("hmac_rfc4231.txt");
    assert_eq!(records.len(), 21, "7 test cases x 3 hashes");
    for r in &records {
        let prf = prf_for(r.get("hash"));
        let out = prf_both_ways(prf, &r.hex("key"), &r.hex("data"));
        let mac = r.hex("mac");
        assert_eq!(&out[..mac.len()], &mac[..], "{}", r.label());
    }
}

#[test]
fn rfc4868_authenticator_known_answers() {
    let records = load("hmac_rfc4868.txt");
    assert_eq!(records.len(), 12);
    for r in &records {
        let (key, data) = (r.hex("key"), r.hex("data"));
        let prf = prf_for(r.get("hash"));
        assert_eq!(
            prf_both_ways(prf, &key, &data),
            r.hex("prf"),
            "{}",
            r.label()
        );
        check_integrity(
            integ_for(r.get("hash")),
            &key,
            &data,
            &r.hex("icv"),
            &r.label(),
        );
    }
}

#[test]
fn rfc2202_sha1_and_md5_known_answers() {
    let records = load("hmac_rfc2202.txt");
    let mut integrity_cases = 0;
    for r in &records {
        let (key, data, mac) = (r.hex("key"), r.hex("data"), r.hex("mac"));
        let hash = r.get("hash");
        if hash == "sha1" {
            assert_eq!(
                prf_both_ways(PRF_HMAC_SHA1, &key, &data),
                mac,
                "{}",
                r.label()
            );
        }
        let integ = integ_for(hash);
        if key.len() == integ.key_len() {
            check_integrity(integ, &key, &data, &mac[..12], &r.label());
            integrity_cases += 1;
        }
    }
    // Test cases 1, 3 and 5 of each hash use keys of the algorithm's length.
    assert_eq!(integrity_cases, 6);
}

#[test]
fn integrity_keys_of_the_wrong_length_are_rejected() {
    for alg in [
        HMAC_SHA2_256_128,
        HMAC_SHA2_384_192,
        HMAC_SHA2_512_256,
        HMAC_SHA1_96,
        HMAC_MD5_96,
    ] {
        for len in [0, alg.key_len() - 1, alg.key_len() + 1] {
            assert!(
                matches!(
                    alg.new_key(&vec![1; len]),
                    Err(CryptoError::InvalidKeyLength { expected, got, .. })
                        if expected == alg.key_len() && got == len
                ),
                "{alg:?} accepted a {len}-octet key"
            );
        }
    }
}

#[test]
fn provider_lists_rfc_key_and_icv_lengths() {
    let p = default_provider();
    p.consistency_check().unwrap();
    for (id, key, icv) in [
        (IntegId::AUTH_HMAC_SHA2_256_128, 32, 16),
        (IntegId::AUTH_HMAC_SHA2_384_192, 48, 24),
        (IntegId::AUTH_HMAC_SHA2_512_256, 64, 32),
        (IntegId::AUTH_HMAC_SHA1_96, 20, 12),
        (IntegId::AUTH_HMAC_MD5_96, 16, 12),
    ] {
        let alg = p.integrity(id).unwrap();
        assert_eq!((alg.key_len(), alg.icv_len()), (key, icv), "{id}");
    }
    for (id, len) in [
        (PrfId::PRF_HMAC_SHA2_256, 32),
        (PrfId::PRF_HMAC_SHA2_384, 48),
        (PrfId::PRF_HMAC_SHA2_512, 64),
        (PrfId::PRF_HMAC_SHA1, 20),
    ] {
        assert_eq!(p.prf(id).unwrap().output_len(), len, "{id}");
    }
    assert!(p.prf(PrfId::PRF_HMAC_MD5).is_none(), "RFC 8247: MUST NOT");
}
