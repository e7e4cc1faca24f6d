//! Certificates refused in IKE_AUTH, in the [`Pair`] harness: each refusal is
//! AUTHENTICATION_FAILED on the wire, the IKE SA never comes up on either side, and the refusing
//! side's failure event names the check that failed. Each case runs with the refusing side as
//! responder (it answers N(AUTHENTICATION_FAILED)) and as initiator (it reports the failure in
//! an INFORMATIONAL, RFC 7296 section 2.21.2).
//!
//! ```text
//! refusing side responds:                 refusing side initiates:
//! IKE_AUTH {IDi CERT AUTH}      -->       IKE_AUTH {IDi CERT AUTH}           -->
//!     <--  {N(AUTHENTICATION_FAILED)}         <--  {IDr CERT AUTH}    (check fails)
//!                                         INFORMATIONAL {N(AUTHENTICATION_FAILED)} -->
//! ```

mod pki_support;

use core::time::Duration;
use ikev2::config::{Authentication, CertificateAuth, EndpointConfig};
use ikev2::identity::{IdPattern, Identity};
use ikev2::testing::{Pair, Side, Verdict};
use ikev2::wire::{ExchangeType, Message, Notify, NotifyType, Payload};
use ikev2::{Endpoint, Event, Reason};
use ipsec_core::crypto::default_provider;
use ipsec_core::pki::{TrustStore, UnixTime};
use pki_support::*;

/// Who holds the bad credential: `Left` (hq's place) or `Right` (branch's place). The other
/// side refuses it.
fn with_bad(
    bad: Side,
    kind: &str,
    credential: CertificateAuth,
) -> (EndpointConfig, EndpointConfig) {
    match bad {
        Side::Left => configs(credential, auth(kind, "branch")),
        Side::Right => configs(auth(kind, "hq"), credential),
    }
}

/// Certificate authentication with `name`'s credential (no intermediates), trusting the root.
fn auth_from(kind: &str, name: &str) -> CertificateAuth {
    CertificateAuth::new(
        credential_with(kind, name, &[]),
        TrustStore::new(vec![cert(kind, "root-ca")]),
    )
}

/// Runs `p` with `initiator` connecting and checks the refusal: the refusing side (`bad`'s
/// peer) failed with a reason starting `check`, the other failed too (it was told), nothing is
/// up. Returns the refusing side's log line.
fn refused(mut p: Pair, initiator: Side, bad: Side, check: &str) -> String {
    assert!(!connect(&mut p, initiator), "came up");
    p.drive_for(Duration::from_secs(2));
    let refuser = bad.other();
    let why = match phase1_failure(&p, refuser) {
        Some(Reason::AuthenticationFailed(why)) => why.clone(),
        other => panic!("{refuser:?} did not refuse: {other:?}"),
    };
    assert!(why.starts_with(check), "{check}: {why}");
    // The other side learnt it: the responder's N(AUTHENTICATION_FAILED), or the initiator's
    // INFORMATIONAL after the responder had come up.
    let told = p.events(bad).iter().any(|e| {
        matches!(
            e,
            Event::Phase1Failed {
                reason: Reason::AuthenticationFailed(_),
                ..
            } | Event::IkeSaDown {
                reason: Reason::AuthenticationFailed(_),
                ..
            }
        )
    });
    assert!(told, "{bad:?} was not told: {:?}", p.events(bad));
    assert!(p.left.ike_sas().is_empty() && p.right.ike_sas().is_empty());
    assert!(p.installed(Side::Left).is_empty() && p.installed(Side::Right).is_empty());
    // The refusal is one PAN-OS-style line that names the check.
    p.events(refuser)
        .iter()
        .find(|e| matches!(e, Event::Phase1Failed { .. }))
        .map(|e| e.to_string())
        .expect("a failure event")
}

/// Every combination of who initiates and who holds the bad credential.
fn both_ways(kind: &str, credential: impl Fn() -> CertificateAuth, check: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for bad in [Side::Left, Side::Right] {
        for initiator in [Side::Left, Side::Right] {
            let (l, r) = with_bad(bad, kind, credential());
            lines.push(refused(Pair::new(l, r, 60), initiator, bad, check));
        }
    }
    lines
}

/// `wrong-ca`: issued by a CA with the root's name but another key.
#[test]
fn certificate_from_the_wrong_ca() {
    for kind in KINDS {
        let lines = both_ways(kind, || auth_from(kind, "wrong-ca"), "certificate ");
        for l in lines {
            assert!(
                l.contains("issuer check failed") || l.contains("signature check failed"),
                "{l}"
            );
            assert!(
                l.contains("CN=branch.example.net"),
                "names the certificate: {l}"
            );
        }
    }
}

#[test]
fn expired_certificate() {
    for kind in KINDS {
        for l in both_ways(
            kind,
            || auth_from(kind, "expired"),
            "certificate validity check failed",
        ) {
            assert!(l.contains("expired on 2021-01-01T00:00:00Z"), "{l}");
            assert!(l.contains("now 2030-01-01T00:00:00Z"), "{l}");
        }
    }
}

/// The refusing side's wall clock says 2023: every certificate of the test PKI is from 2024
/// on. As responder it refuses the initiator's certificate, as initiator the responder's.
#[test]
fn certificate_not_yet_valid() {
    let (l, r) = configs(auth("ecdsa-p256", "hq"), auth("ecdsa-p256", "branch"));
    for initiator in [Side::Left, Side::Right] {
        for refuser in [Side::Left, Side::Right] {
            let mut p = Pair::new(l.clone(), r.clone(), 61);
            let early = UnixTime::from_secs(1_672_531_200); // 2023-01-01
            let now = p.now;
            p.endpoint(refuser).set_wall_clock(now, early);
            let line = refused(
                p,
                initiator,
                refuser.other(),
                "certificate validity check failed",
            );
            assert!(line.contains("is not valid before 2024-01-01"), "{line}");
        }
    }
}

/// An endpoint never told the date refuses every certificate rather than guess.
#[test]
fn unknown_wall_clock() {
    let (l, r) = configs(auth("ecdsa-p256", "hq"), auth("ecdsa-p256", "branch"));
    for initiator in [Side::Left, Side::Right] {
        for refuser in [Side::Left, Side::Right] {
            let mut p = Pair::new(l.clone(), r.clone(), 62);
            // The harness tells both endpoints the time; a new one has never been told.
            let seed = Box::new(ipsec_core::crypto::default::SeededRandom::new([3; 32]));
            let config = p.endpoint(refuser).config().clone();
            *p.endpoint(refuser) = Endpoint::with_rng(config, default_provider(), seed).unwrap();
            let line = refused(
                p,
                initiator,
                refuser.other(),
                "certificate validity check failed: the wall-clock time is unknown",
            );
            assert!(line.contains("set_wall_clock"), "{line}");
        }
    }
}

/// `mismatch` (other.example.net) presented with the ID of the site it replaces.
#[test]
fn id_not_in_the_certificate() {
    for kind in KINDS {
        for l in both_ways(
            kind,
            || auth_from(kind, "mismatch"),
            "certificate identity check failed",
        ) {
            assert!(l.contains("is not in certificate"), "{l}");
            assert!(l.contains("CN=other.example.net"), "{l}");
        }
    }
}

/// The peer's ID is in its certificate but not the configured `peer-id` (exact, then
/// wildcard).
#[test]
fn peer_id_check() {
    for pattern in [
        IdPattern::Exact(Identity::Fqdn("other.example.net".into())),
        IdPattern::FqdnGlob("*.example.org".into()),
    ] {
        for initiator in [Side::Left, Side::Right] {
            let (l, mut r) = configs(auth("ecdsa-p256", "hq"), auth("ecdsa-p256", "branch"));
            r.gateways[0].peer_id = Some(pattern.clone());
            let line = refused(Pair::new(l, r, 63), initiator, Side::Left, "peer ID ");
            assert!(line.contains("does not match the configured"), "{line}");
        }
    }
}

/// hq without its intermediate CA in its chain: a peer trusting only the root finds no path.
#[test]
fn missing_intermediate() {
    for initiator in [Side::Left, Side::Right] {
        let (l, r) = configs(auth_from("rsa", "hq"), auth("rsa", "branch"));
        let line = refused(
            Pair::new(l, r, 64),
            initiator,
            Side::Left,
            "certificate issuer check failed",
        );
        assert!(line.contains("Intermediate CA"), "{line}");
    }
}

/// An IKE_SA_INIT message changed on the way (an extra status notify both sides ignore) no
/// longer matches what its sender signed: the receiver's signature check fails, as it must
/// against a man in the middle (RFC 7296 section 2.15).
#[test]
fn signature_over_a_tampered_ike_sa_init() {
    for kind in KINDS {
        for initiator in [Side::Left, Side::Right] {
            // Tamper with the message the refusing side receives: the request when it responds,
            // the response when it initiates. Here the refusing side is `initiator.other()`
            // when the request is changed.
            for change_response in [false, true] {
                let (l, r) = configs(auth(kind, "hq"), auth(kind, "branch"));
                let mut p = Pair::new(l, r, 65);
                p.tamper = Some(Box::new(move |_, _, bytes| {
                    if let Ok(mut m) = Message::parse(bytes) {
                        if m.header.exchange_type == ExchangeType::IKE_SA_INIT
                            && m.header.flags.is_response() == change_response
                        {
                            m.payloads
                                .push(Payload::Notify(Notify::new(NotifyType(40_000), &[7])));
                            *bytes = m.to_bytes().unwrap();
                        }
                    }
                    Verdict::Deliver
                }));
                // The receiver of the changed message refuses; its peer holds the "bad" AUTH.
                let receiver = if change_response {
                    initiator
                } else {
                    initiator.other()
                };
                let line = refused(
                    p,
                    initiator,
                    receiver.other(),
                    "AUTH signature check failed",
                );
                assert!(
                    line.contains("does not verify with the key of certificate"),
                    "{line}"
                );
            }
        }
    }
}

/// One side with a pre-shared key, the other with certificates: the responder refuses the
/// initiator's method (the configuration has one method per gateway, for both directions).
#[test]
fn psk_against_certificates() {
    for psk_side in [Side::Left, Side::Right] {
        for initiator in [Side::Left, Side::Right] {
            let (mut l, mut r) = configs(auth("ecdsa-p256", "hq"), auth("ecdsa-p256", "branch"));
            let psk = Authentication::PreSharedKey(ipsec_core::crypto::SecretBytes::from_slice(
                b"a-pre-shared-key",
            ));
            match psk_side {
                Side::Left => l.gateways[0].auth = psk,
                Side::Right => r.gateways[0].auth = psk,
            }
            let check = if initiator.other() == psk_side {
                "peer uses auth method ECDSA_SHA256_P256, we use PSK"
            } else {
                "auth method check failed: the peer uses SHARED_KEY_MIC"
            };
            refused(Pair::new(l, r, 66), initiator, initiator, check);
        }
    }
}
