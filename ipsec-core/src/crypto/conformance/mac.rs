//! Integrity and PRF suites: HMAC known answers, split inputs, tampering and key lengths.

use super::vectors::{self, Record};
use super::{outcome, Check, Report};
use crate::crypto::{CryptoError, IntegId, IntegrityAlgorithm, PrfAlgorithm, PrfId};

/// The hash named in the vector files for an integrity transform, with its key and ICV lengths
/// (RFC 4868 section 2.1.1: keys as long as the hash output; RFC 2404, RFC 2403).
fn integrity_params(id: IntegId) -> Option<(&'static str, usize, usize)> {
    match id {
        IntegId::AUTH_HMAC_SHA2_256_128 => Some(("sha256", 32, 16)),
        IntegId::AUTH_HMAC_SHA2_384_192 => Some(("sha384", 48, 24)),
        IntegId::AUTH_HMAC_SHA2_512_256 => Some(("sha512", 64, 32)),
        IntegId::AUTH_HMAC_SHA1_96 => Some(("sha1", 20, 12)),
        IntegId::AUTH_HMAC_MD5_96 => Some(("md5", 16, 12)),
        _ => None,
    }
}

/// The hash of a PRF transform, with its output length.
fn prf_params(id: PrfId) -> Option<(&'static str, usize)> {
    match id {
        PrfId::PRF_HMAC_SHA2_256 => Some(("sha256", 32)),
        PrfId::PRF_HMAC_SHA2_384 => Some(("sha384", 48)),
        PrfId::PRF_HMAC_SHA2_512 => Some(("sha512", 64)),
        PrfId::PRF_HMAC_SHA1 => Some(("sha1", 20)),
        PrfId::PRF_HMAC_MD5 => Some(("md5", 16)),
        _ => None,
    }
}

/// One HMAC known answer: label, key, data and the full MAC (or its first octets).
type HmacVector = (String, Vec<u8>, Vec<u8>, Vec<u8>);

/// Every record for `hash` in the HMAC files.
fn hmac_vectors(hash: &str) -> Vec<HmacVector> {
    let mut out = Vec::new();
    for file in [
        vectors::HMAC_RFC4231,
        vectors::HMAC_RFC4868,
        vectors::HMAC_RFC2202,
    ] {
        for r in vectors::records(file) {
            if r.get("hash") != Some(hash) {
                continue;
            }
            if let Some(v) = hmac_record(&r) {
                out.push(v);
            }
        }
    }
    out
}

fn hmac_record(r: &Record) -> Option<HmacVector> {
    // RFC 4868's records give the full output as `prf`, the others as `mac` (RFC 4231 test case
    // 5 prints only the first 128 bits).
    let mac = r.hex("prf").or_else(|| r.hex("mac"))?;
    Some((r.label(), r.hex("key")?, r.hex("data")?, mac))
}

pub(super) fn check_integrity(alg: &'static dyn IntegrityAlgorithm, report: &mut Report) {
    let params = integrity_params(alg.id());
    let mut p = Check::new(alg, "parameters (RFC 4868, RFC 2404, RFC 2403)");
    if let Some((_, key_len, icv_len)) = params {
        let got = (alg.key_len(), alg.icv_len());
        p.expect(got == (key_len, icv_len), || {
            format!(
                "key, ICV lengths {got:?} (expected {:?})",
                (key_len, icv_len)
            )
        });
    }
    p.expect(alg.icv_len() > 0, || "ICV length 0".to_string());
    report.push(p);
    match params {
        Some((hash, key_len, icv_len)) => {
            let mut c = Check::new(alg, "RFC 4868, RFC 2202");
            for (label, key, data, mac) in hmac_vectors(hash) {
                // Only full-length keys are integrity keys; truncated ICVs are MAC prefixes.
                if key.len() != key_len || mac.len() < icv_len {
                    continue;
                }
                known_icv(alg, &key, &data, &mac[..icv_len], &label, &mut c);
            }
            if c.passed + c.failed == 0 {
                c = c.skip("no vectors with a key of this length");
            }
            report.push(c);
        }
        None => report.push(Check::new(alg, "known answers").skip("no vectors for this transform")),
    }
    report.push(integrity_properties(alg));
}

/// Signs and verifies one known ICV; a tampered ICV must fail.
fn known_icv(
    alg: &dyn IntegrityAlgorithm,
    key: &[u8],
    data: &[u8],
    icv: &[u8],
    label: &str,
    c: &mut Check,
) {
    let k = match alg.new_key(key) {
        Ok(k) => k,
        Err(e) => {
            c.fail(format!("{label}: new_key: {e:?}"));
            return;
        }
    };
    let mut out = vec![0u8; icv.len()];
    k.sign(&[data], &mut out);
    c.expect(out == icv, || format!("{label}: wrong ICV"));
    let cut = data.len() / 2;
    let r = k.verify(&[&data[..cut], &data[cut..]], icv);
    c.expect(r.is_ok(), || {
        format!("{label}: verify gave {}", outcome(&r))
    });
}

/// Split inputs, tampering and lengths, on any integrity transform.
fn integrity_properties(alg: &'static dyn IntegrityAlgorithm) -> Check {
    let mut c = Check::new(alg, "properties");
    let keybytes: Vec<u8> = (0..alg.key_len())
        .map(|i| (i as u8).wrapping_mul(29))
        .collect();
    let key = match alg.new_key(&keybytes) {
        Ok(k) => k,
        Err(e) => {
            c.fail(format!("new_key: {e:?}"));
            return c;
        }
    };
    let data: Vec<u8> = (0..300).map(|i| (i * 11) as u8).collect();
    let mut whole = vec![0u8; alg.icv_len()];
    key.sign(&[&data], &mut whole);
    for cut in [0, 1, 64, 150, 299, 300] {
        let mut split = vec![0u8; alg.icv_len()];
        key.sign(&[&data[..cut], &[], &data[cut..]], &mut split);
        c.expect(split == whole, || {
            format!("input split at {cut}: another ICV")
        });
        let r = key.verify(&[&data[..cut], &data[cut..]], &whole);
        c.expect(r.is_ok(), || {
            format!("input split at {cut}: verify gave {}", outcome(&r))
        });
    }
    for at in [0, alg.icv_len() / 2, alg.icv_len() - 1] {
        let mut bad = whole.clone();
        bad[at] ^= 0x40;
        let r = key.verify(&[&data], &bad);
        c.expect(r == Err(CryptoError::IntegrityCheckFailed), || {
            format!("ICV bit flipped at {at}: {}", outcome(&r))
        });
    }
    let mut other = data.clone();
    other[299] ^= 1;
    let r = key.verify(&[&other], &whole);
    c.expect(r == Err(CryptoError::IntegrityCheckFailed), || {
        format!("data changed: {}", outcome(&r))
    });
    let r = key.verify(&[&data], &whole[..alg.icv_len() - 1]);
    c.expect(matches!(r, Err(CryptoError::InvalidLength(_))), || {
        format!("truncated ICV: {}", outcome(&r))
    });
    let mut longer = whole.clone();
    longer.push(0);
    let r = key.verify(&[&data], &longer);
    c.expect(r.is_err(), || {
        "an ICV with an extra octet was accepted".to_string()
    });
    for len in [0, alg.key_len() - 1, alg.key_len() + 1] {
        let r = alg.new_key(&vec![1; len]);
        c.expect(
            matches!(r, Err(CryptoError::InvalidKeyLength { .. })),
            || format!("{len}-octet key: {}", outcome(&r)),
        );
    }
    c
}

pub(super) fn check_prf(prf: &'static dyn PrfAlgorithm, report: &mut Report) {
    let params = prf_params(prf.id());
    let mut p = Check::new(prf, "parameters (RFC 4868, RFC 2104)");
    if let Some((_, len)) = params {
        p.expect(prf.output_len() == len, || {
            format!("output length {} (expected {len})", prf.output_len())
        });
    }
    report.push(p);
    match params {
        Some((hash, _)) => {
            let mut c = Check::new(prf, "RFC 4231, RFC 4868, RFC 2202");
            for (label, key, data, mac) in hmac_vectors(hash) {
                let out = prf_both_ways(prf, &key, &data);
                let n = mac.len().min(out.len());
                c.expect(n > 0 && out[..n] == mac[..n], || {
                    format!("{label}: wrong output")
                });
            }
            if c.passed + c.failed == 0 {
                c = c.skip("no vectors for this hash");
            }
            report.push(c);
        }
        None => report.push(Check::new(prf, "known answers").skip("no vectors for this transform")),
    }
    report.push(prf_properties(prf));
}

/// The PRF over `data` in one piece; the same input split in three must give the same output.
fn prf_both_ways(prf: &dyn PrfAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut whole = vec![0u8; prf.output_len()];
    prf.prf(key, &[data], &mut whole);
    let (a, b) = (data.len() / 3, 2 * data.len() / 3);
    let mut split = vec![0u8; prf.output_len()];
    prf.prf(key, &[&data[..a], &data[a..b], &data[b..]], &mut split);
    if split == whole {
        whole
    } else {
        Vec::new()
    }
}

/// Keys of any length (IKEv2 keys the PRF with Ni | Nr, RFC 7296 section 2.14) and key changes.
fn prf_properties(prf: &'static dyn PrfAlgorithm) -> Check {
    let mut c = Check::new(prf, "properties");
    let data = b"IKEv2 prf+ input";
    let mut outputs: Vec<Vec<u8>> = Vec::new();
    for key_len in [0usize, 1, 16, 64, 65, 128, 300] {
        let key: Vec<u8> = (0..key_len).map(|i| (i as u8) ^ 0x36).collect();
        let out = prf_both_ways(prf, &key, data);
        c.expect(out.len() == prf.output_len(), || {
            format!("{key_len}-octet key: output changed when the input was split")
        });
        c.expect(!outputs.contains(&out), || {
            format!("{key_len}-octet key: same output as a shorter key")
        });
        outputs.push(out);
    }
    c
}
