//! Key exchange suites: X25519, the ECP groups and the MODP groups.

use super::vectors::{self, Record};
use super::{outcome, Check, Report};
use crate::crypto::{
    ActiveKeyExchange, CryptoError, CryptoProvider, DhGroup, KeyExchangeGroup, SecretBytes,
};

/// Why a known-answer suite did not run on a group that cannot import private keys.
const NO_IMPORT: &str =
    "start_with_private is unsupported (known answers need chosen private keys)";

pub(super) fn check(
    g: &'static dyn KeyExchangeGroup,
    provider: &CryptoProvider,
    report: &mut Report,
) {
    let group = g.group();
    let imports = !matches!(
        g.start_with_private(&[1; 32]),
        Err(CryptoError::Unsupported(_))
    );
    if group == DhGroup::CURVE25519 {
        report.push(x25519_rfc(g, imports));
        report.push(x25519_wycheproof(g, provider, imports));
    } else if let Some(field) = ecp_field_len(group) {
        report.push(ecp_rfc(g, imports));
        if group == DhGroup::ECP_256 {
            report.push(ecp_256_wycheproof(g, provider, imports));
        }
        report.push(ecp_invalid_points(g, provider, field));
    } else if modp_record(group).is_some() {
        report.push(modp(g, provider, imports));
    } else {
        report.push(Check::new(g, "known answers").skip("no vectors for this group"));
    }
    report.push(agreement(g, provider));
}

/// Field length in octets of the ECP groups of RFC 5903.
fn ecp_field_len(group: DhGroup) -> Option<usize> {
    match group {
        DhGroup::ECP_256 => Some(32),
        DhGroup::ECP_384 => Some(48),
        DhGroup::ECP_521 => Some(66),
        _ => None,
    }
}

/// The `modp_primes.txt` record of a MODP group.
fn modp_record(group: DhGroup) -> Option<Record> {
    let id = group.0.to_string();
    vectors::records(vectors::MODP_PRIMES)
        .into_iter()
        .find(|r| r.get("group") == Some(id.as_str()))
}

/// A fresh exchange from the provider's random source, or a failure message.
fn fresh(
    g: &dyn KeyExchangeGroup,
    provider: &CryptoProvider,
) -> Result<Box<dyn ActiveKeyExchange>, String> {
    g.start(provider.random)
        .map_err(|e| format!("start: {e:?}"))
}

/// `complete` must refuse `peer` with [`CryptoError::InvalidPeerPublicKey`].
fn expect_refused(c: &mut Check, me: &dyn ActiveKeyExchange, peer: &[u8], label: &str) {
    let r = me.complete(peer);
    c.expect(
        r == Err(CryptoError::InvalidPeerPublicKey(me.group())),
        || format!("{label}: {}", outcome(&r)),
    );
}

/// `complete` must give `shared`.
fn expect_shared(c: &mut Check, r: Result<SecretBytes, CryptoError>, shared: &[u8], label: &str) {
    let ok = matches!(&r, Ok(s) if s.expose() == shared);
    c.expect(ok, || format!("{label}: {}", outcome(&r)));
}

fn x25519_rfc(g: &'static dyn KeyExchangeGroup, imports: bool) -> Check {
    let mut c = Check::new(g, "RFC 7748 sections 5.2 and 6.1");
    if !imports {
        return c.skip(NO_IMPORT);
    }
    for r in vectors::records(vectors::X25519_RFC) {
        let label = r.label();
        if let (Some(k), Some(u), Some(out)) = (r.hex("scalar"), r.hex("u"), r.hex("out")) {
            match g.start_with_private(&k) {
                Ok(me) => expect_shared(&mut c, me.complete(&u), &out, &label),
                Err(e) => c.fail(format!("{label}: start_with_private: {e:?}")),
            }
            continue;
        }
        let (Some(a), Some(b), Some(pa), Some(pb), Some(k)) = (
            r.hex("alice_private"),
            r.hex("bob_private"),
            r.hex("alice_public"),
            r.hex("bob_public"),
            r.hex("shared"),
        ) else {
            c.fail(format!("{label}: unreadable vector"));
            continue;
        };
        match (g.start_with_private(&a), g.start_with_private(&b)) {
            (Ok(alice), Ok(bob)) => {
                c.expect(alice.public_value() == pa, || {
                    format!("{label}: Alice's public key")
                });
                c.expect(bob.public_value() == pb, || {
                    format!("{label}: Bob's public key")
                });
                expect_shared(&mut c, alice.complete(&pb), &k, &label);
                expect_shared(&mut c, bob.complete(&pa), &k, &label);
            }
            (a, b) => c.fail(format!(
                "{label}: start_with_private: {} / {}",
                outcome(&a),
                outcome(&b)
            )),
        }
    }
    c
}

/// Wycheproof X25519: agreed secrets with chosen keys; all-zero secrets (small-order points)
/// refused whatever the private key (RFC 8031 section 2.3), so those run on any provider.
fn x25519_wycheproof(
    g: &'static dyn KeyExchangeGroup,
    provider: &CryptoProvider,
    imports: bool,
) -> Check {
    let mut c = Check::new(g, "Wycheproof x25519_test");
    for r in vectors::records(vectors::X25519_WYCHEPROOF) {
        let label = r.label();
        let (Some(private), Some(public), Some(shared)) =
            (r.hex("private"), r.hex("public"), r.hex("shared"))
        else {
            c.fail(format!("{label}: unreadable vector"));
            continue;
        };
        let zero = shared.iter().all(|&b| b == 0);
        let me = if imports {
            g.start_with_private(&private)
                .map_err(|e| format!("start_with_private: {e:?}"))
        } else if zero {
            fresh(g, provider)
        } else {
            continue;
        };
        match me {
            Ok(me) if zero => expect_refused(&mut c, me.as_ref(), &public, &label),
            Ok(me) => expect_shared(&mut c, me.complete(&public), &shared, &label),
            Err(m) => c.fail(format!("{label}: {m}")),
        }
    }
    c
}

/// `x | y` of a SEC1 uncompressed point, as the KE payload carries it.
fn xy(r: &Record, x: &str, y: &str) -> Option<Vec<u8>> {
    let mut v = r.hex(x)?;
    v.extend(r.hex(y)?);
    Some(v)
}

fn ecp_rfc(g: &'static dyn KeyExchangeGroup, imports: bool) -> Check {
    let mut c = Check::new(g, "RFC 5903 section 8");
    if !imports {
        return c.skip(NO_IMPORT);
    }
    let id = g.group().0.to_string();
    for r in vectors::records(vectors::ECP_RFC) {
        if r.get("group") != Some(id.as_str()) {
            continue;
        }
        let label = r.label();
        let (Some(i), Some(rr), Some(gi), Some(gr), Some(girx)) = (
            r.hex("i"),
            r.hex("r"),
            xy(&r, "gix", "giy"),
            xy(&r, "grx", "gry"),
            r.hex("girx"),
        ) else {
            c.fail(format!("{label}: unreadable vector"));
            continue;
        };
        match (g.start_with_private(&i), g.start_with_private(&rr)) {
            (Ok(ini), Ok(res)) => {
                c.expect(ini.public_value() == gi, || format!("{label}: g^i"));
                c.expect(res.public_value() == gr, || format!("{label}: g^r"));
                expect_shared(&mut c, ini.complete(&gr), &girx, &label);
                expect_shared(&mut c, res.complete(&gi), &girx, &label);
            }
            (a, b) => c.fail(format!(
                "{label}: start_with_private: {} / {}",
                outcome(&a),
                outcome(&b)
            )),
        }
        // Private keys of zero, or all ones (above the order), are refused.
        for bad in [vec![0u8; i.len()], vec![0xff; i.len()]] {
            let r = g.start_with_private(&bad);
            c.expect(r.is_err(), || {
                format!("{label}: private key {:02x}.. accepted", bad[0])
            });
        }
        let r = g.start_with_private(&vec![1; i.len() + 1]);
        c.expect(r.is_err(), || {
            format!("{label}: a private key one octet too long was accepted")
        });
    }
    if c.passed + c.failed == 0 {
        return c.skip("no vectors for this group");
    }
    c
}

/// Fixed-width private key from Wycheproof's minimal big-endian integer.
fn fixed_width(private: &[u8], len: usize) -> Option<Vec<u8>> {
    let trimmed: Vec<u8> = private.iter().copied().skip_while(|&b| b == 0).collect();
    let mut out = vec![0; len.checked_sub(trimmed.len())?];
    out.extend(trimmed);
    Some(out)
}

/// Wycheproof P-256: agreed secrets with chosen keys; invalid points refused whatever the
/// private key (so those run on any provider).
fn ecp_256_wycheproof(
    g: &'static dyn KeyExchangeGroup,
    provider: &CryptoProvider,
    imports: bool,
) -> Check {
    let mut c = Check::new(g, "Wycheproof ecdh_secp256r1_ecpoint_test");
    for r in vectors::records(vectors::ECP_256_WYCHEPROOF) {
        let label = r.label();
        let (Some(private), Some(public), Some(shared)) =
            (r.hex("private"), r.hex("public"), r.hex("shared"))
        else {
            c.fail(format!("{label}: unreadable vector"));
            continue;
        };
        // The KE payload has no SEC1 prefix: the file's points are 0x04 | x | y.
        let Some(xy) = public.get(1..).filter(|_| public.first() == Some(&0x04)) else {
            c.fail(format!("{label}: not an uncompressed point"));
            continue;
        };
        let valid = r.get("result") == Some("valid");
        let me = if imports {
            fixed_width(&private, 32)
                .ok_or_else(|| "private key too long".to_string())
                .and_then(|k| {
                    g.start_with_private(&k)
                        .map_err(|e| format!("start_with_private: {e:?}"))
                })
        } else if !valid {
            fresh(g, provider)
        } else {
            continue;
        };
        match me {
            Ok(me) if valid => expect_shared(&mut c, me.complete(xy), &shared, &label),
            Ok(me) => expect_refused(&mut c, me.as_ref(), xy, &label),
            Err(m) => c.fail(format!("{label}: {m}")),
        }
    }
    c
}

/// Points that are not on the curve, the SEC1 form, and wrong lengths (RFC 6989 section 2.3).
fn ecp_invalid_points(
    g: &'static dyn KeyExchangeGroup,
    provider: &CryptoProvider,
    field: usize,
) -> Check {
    let mut c = Check::new(g, "invalid peer points (RFC 6989)");
    let me = match fresh(g, provider) {
        Ok(me) => me,
        Err(m) => {
            c.fail(m);
            return c;
        }
    };
    // Our own public value with y + 1 (or y - 1) is on no curve point with that x but ours.
    let mut off = me.public_value().to_vec();
    if let Some(last) = off.last_mut() {
        *last = if *last == 0xff { 0xfe } else { *last + 1 };
    }
    let mut sec1 = vec![0x04];
    sec1.extend(me.public_value());
    let cases: [(&str, Vec<u8>); 6] = [
        ("y + 1", off),
        ("(0, 0)", vec![0; 2 * field]),
        ("coordinates >= p", vec![0xff; 2 * field]),
        ("SEC1 0x04 prefix", sec1),
        ("one octet short", me.public_value()[1..].to_vec()),
        ("empty", Vec::new()),
    ];
    for (label, peer) in cases {
        // A fresh exchange per case, so that a provider whose exchanges complete once is
        // judged on each case.
        match fresh(g, provider) {
            Ok(me) => expect_refused(&mut c, me.as_ref(), &peer, label),
            Err(m) => c.fail(m),
        }
    }
    c
}

/// `2^n - p` for an n-bit `p` in n/8 big-endian octets: the two's complement of `p`.
fn two_pow_n_minus(p: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = p.iter().map(|b| !b).collect();
    for byte in out.iter_mut().rev() {
        let (v, carry) = byte.overflowing_add(1);
        *byte = v;
        if !carry {
            break;
        }
    }
    out
}

/// MODP: public values that follow from the prime alone, and the RFC 6989 section 2.1 range.
///
/// There are no published MODP exchange vectors, so the known answers use exponents whose
/// results follow from the prime: `2^1 = 2`, `2^10 = 0x400`, and `2^n mod p = 2^n - p` for the
/// n-bit prime (since `p < 2^n < 2p`). Private exponents are big-endian, of any length up to
/// the modulus.
fn modp(g: &'static dyn KeyExchangeGroup, provider: &CryptoProvider, imports: bool) -> Check {
    let mut c = Check::new(g, "RFC 3526 primes, RFC 6989 section 2.1");
    let Some(r) = modp_record(g.group()) else {
        return c.skip("no vectors for this group");
    };
    let (Some(p), Some(bits)) = (
        r.hex("p"),
        r.get("bits").and_then(|b| b.parse::<u16>().ok()),
    ) else {
        c.fail("unreadable prime".to_string());
        return c;
    };
    let len = p.len();
    c.expect(g.public_len() == len, || {
        format!("public_len {} (expected {len})", g.public_len())
    });
    let mut two = vec![0u8; len];
    two[len - 1] = 2;
    if imports {
        let mut k = vec![0u8; len];
        k[len - 2] = 0x04;
        for (x, expected, label) in [
            (vec![1u8], two.clone(), "g^1"),
            (vec![10u8], k, "g^10"),
            (bits.to_be_bytes().to_vec(), two_pow_n_minus(&p), "g^n"),
        ] {
            match g.start_with_private(&x) {
                Ok(me) => {
                    c.expect(me.public_value() == expected, || {
                        format!("{label}: wrong public value")
                    });
                    // With the peer's value 2 (the generator), g^xy is our own public value.
                    let own = me.public_value().to_vec();
                    expect_shared(
                        &mut c,
                        me.complete(&two),
                        &own,
                        &format!("{label} with peer 2"),
                    );
                }
                Err(e) => c.fail(format!("{label}: start_with_private: {e:?}")),
            }
        }
    }
    let mut one = vec![0u8; len];
    one[len - 1] = 1;
    let mut p_minus_1 = p.clone();
    p_minus_1[len - 1] ^= 0x01; // every RFC prime ends in 64 one bits
    let mut p_minus_2 = p.clone();
    p_minus_2[len - 1] ^= 0x03;
    let cases: [(&str, Vec<u8>); 7] = [
        ("0", vec![0; len]),
        ("1", one),
        ("p - 1", p_minus_1),
        ("p", p.clone()),
        ("2^n - 1", vec![0xff; len]),
        ("one octet short", p_minus_2[1..].to_vec()),
        ("one octet long", [&[0][..], &p_minus_2].concat()),
    ];
    for (label, peer) in cases {
        match fresh(g, provider) {
            Ok(me) => expect_refused(&mut c, me.as_ref(), &peer, label),
            Err(m) => c.fail(m),
        }
    }
    // p - 2 is the largest value RFC 6989 allows.
    match fresh(g, provider) {
        Ok(me) => {
            let r = me.complete(&p_minus_2);
            c.expect(r.is_ok(), || format!("p - 2: {}", outcome(&r)));
        }
        Err(m) => c.fail(m),
    }
    c
}

/// Two fresh exchanges agree, on a value as long as the group says.
fn agreement(g: &'static dyn KeyExchangeGroup, provider: &CryptoProvider) -> Check {
    let mut c = Check::new(g, "agreement");
    for _ in 0..2 {
        let (a, b) = match (fresh(g, provider), fresh(g, provider)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(m), _) | (_, Err(m)) => {
                c.fail(m);
                continue;
            }
        };
        c.expect(a.group() == g.group(), || {
            "exchange reports another group".to_string()
        });
        c.expect(a.public_value().len() == g.public_len(), || {
            format!(
                "public value of {} octets (public_len {})",
                a.public_value().len(),
                g.public_len()
            )
        });
        c.expect(a.public_value() != b.public_value(), || {
            "two exchanges share a public value".to_string()
        });
        let (s1, s2) = (a.complete(b.public_value()), b.complete(a.public_value()));
        let agreed = matches!((&s1, &s2), (Ok(x), Ok(y)) if x == y && !x.is_empty());
        c.expect(agreed, || {
            format!("shared secrets differ: {} / {}", outcome(&s1), outcome(&s2))
        });
    }
    c
}
