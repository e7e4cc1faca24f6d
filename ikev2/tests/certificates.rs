//! IKE_AUTH with certificates in the [`Pair`] harness: every key kind of the test PKI in both
//! roles, every signature scheme of the default provider through RFC 7427 (method 14) and the
//! classic methods (1, 9-11), and what each message carries.
//!
//! ```text
//! left (hq.example.net)                           right (branch.example.net)
//! IKE_SA_INIT SAi1 KEi Ni N(SIGNATURE_HASH_ALGORITHMS)  -->
//!                 <--  SAr1 KEr Nr CERTREQ(root CA key hash) N(SIGNATURE_HASH_ALGORITHMS)
//! IKE_AUTH SK{IDi CERT(hq) CERT(intermediate) CERTREQ AUTH SAi2 TSi TSr}  -->
//!                 <--  SK{IDr CERT(branch) AUTH SAr2 TSi TSr}
//! ```

mod pki_support;

use ikev2::config::Authentication;
use ikev2::identity::{IdPattern, Identity};
use ikev2::testing::{Pair, Side};
use ikev2::wire::{AuthMethod, CertEncoding, Message, NotifyType, Payload};
use ikev2::Reason;
use ipsec_core::crypto::{KeyType, SignatureScheme};
use ipsec_core::pki::DistinguishedName;
use pki_support::*;

/// The key kind of the test PKI for a key type.
fn kind_of(key: KeyType) -> &'static str {
    match key {
        KeyType::Rsa => "rsa",
        KeyType::EcdsaP256 => "ecdsa-p256",
        KeyType::EcdsaP384 => "ecdsa-p384",
        KeyType::EcdsaP521 => "ecdsa-p521",
        KeyType::Ed25519 => "ed25519",
    }
}

/// The first IKE_SA_INIT message `from` sent, in clear.
/// The IKE_SA_INIT message of `from` that made the IKE SA (with an SA payload: not a COOKIE
/// answer, which a responder sends first when its answer would be larger than the request).
fn ike_sa_init(p: &Pair, from: Side) -> Message {
    p.sent
        .iter()
        .filter(|(side, ..)| *side == from)
        .filter_map(|(_, _, _, b)| Message::parse(b).ok())
        .find(|m| m.sa().is_some())
        .expect("IKE_SA_INIT")
}

#[test]
fn every_key_kind_authenticates_in_both_roles_with_rfc_7427() {
    for kind in KINDS {
        for initiator in [Side::Left, Side::Right] {
            let mut p = pair(auth(kind, "hq"), auth(kind, "branch"), 41);
            assert!(
                connect(&mut p, initiator),
                "{kind}, {initiator:?} initiates: {:?} / {:?}",
                p.left_events,
                p.right_events
            );
            // Each side's AUTH is a method 14 signature by its key, behind its chain.
            for (side, response) in [(initiator, false), (initiator.other(), true)] {
                let msg = ike_auth(&p, side, response);
                let auth = auth_payload(&msg);
                assert_eq!(auth.method, AuthMethod::DIGITAL_SIGNATURE, "{kind}");
                let key = cert(kind, "hq").key_type().unwrap();
                let scheme =
                    SignatureScheme::from_algorithm_identifier(algorithm_identifier(auth), key)
                        .expect("an AlgorithmIdentifier of our schemes");
                assert_eq!(scheme.key_type(), key);
                let certs = cert_payloads(&msg);
                if side == Side::Left {
                    // hq sends its intermediate CA after its own certificate.
                    assert_eq!(
                        certs,
                        [cert(kind, "hq").der(), cert(kind, "intermediate-ca").der()]
                    );
                } else {
                    assert_eq!(certs, [cert(kind, "branch").der()]);
                }
                // Only the initiator asks for certificates in IKE_AUTH (RFC 7296 section 1.2).
                let certreq = msg
                    .payloads
                    .iter()
                    .any(|p| matches!(p, Payload::CertReq(_)));
                assert_eq!(certreq, !response, "{kind}");
            }
            // The peer's identity is the one it sent.
            let sas = p.endpoint(initiator).ike_sas();
            assert!(sas[0].established);
        }
    }
}

#[test]
fn ike_sa_init_announces_hashes_and_the_responder_asks_for_its_cas() {
    let mut p = pair(auth("ecdsa-p256", "hq"), auth("ecdsa-p256", "branch"), 42);
    assert!(connect(&mut p, Side::Left));
    let request = ike_sa_init(&p, Side::Left);
    let response = ike_sa_init(&p, Side::Right);
    for msg in [&request, &response] {
        let n = msg
            .notify(NotifyType::SIGNATURE_HASH_ALGORITHMS)
            .expect("SIGNATURE_HASH_ALGORITHMS");
        // SHA2-256, SHA2-384, SHA2-512, Identity (RFC 8420); never SHA-1.
        assert_eq!(n.data, [0, 2, 0, 3, 0, 4, 0, 5]);
    }
    let certreq = |m: &Message| {
        m.payloads.iter().find_map(|p| match p {
            Payload::CertReq(c) => Some(c.clone()),
            _ => None,
        })
    };
    assert!(
        certreq(&request).is_none(),
        "RFC 7296 1.2: not in the request"
    );
    let c = certreq(&response).expect("CERTREQ in the IKE_SA_INIT response");
    assert_eq!(c.encoding, CertEncoding::X509_SIGNATURE);
    assert_eq!(c.authorities, cert("ecdsa-p256", "root-ca").key_hash());
    // The initiator's CERTREQ comes in IKE_AUTH, with the same hash.
    let ike_auth_req = ike_auth(&p, Side::Left, false);
    assert_eq!(certreq(&ike_auth_req).unwrap().authorities, c.authorities);
}

/// A pre-shared-key gateway's IKE_SA_INIT carries neither.
#[test]
fn psk_gateways_send_no_certificate_payloads() {
    let l = ikev2::testing::SiteSpec::left().config();
    let r = ikev2::testing::SiteSpec::right().config();
    let mut p = Pair::new(l, r, 43);
    assert!(connect(&mut p, Side::Left));
    for side in [Side::Left, Side::Right] {
        let m = ike_sa_init(&p, side);
        assert!(m.notify(NotifyType::SIGNATURE_HASH_ALGORITHMS).is_none());
        assert!(!m.payloads.iter().any(|p| matches!(p, Payload::CertReq(_))));
    }
}

/// Both sides sign with one scheme (their preference), in each role, and check it in the other's
/// AUTH: the RSA schemes on the RSA 3072 keys (PSS and PKCS#1 v1.5 with SHA-2 by method 14,
/// PKCS#1 v1.5 with SHA-1 by method 1), ECDSA on P-256, P-384 and P-521 by method 14 (DER) and
/// methods 9, 10, 11 (`r || s`), Ed25519 by method 14.
#[test]
fn every_signature_scheme_through_ike_auth() {
    let provider = ipsec_core::crypto::default_provider();
    let mut seen = 0;
    for scheme in SignatureScheme::ALL {
        assert!(provider.signature(scheme).is_some(), "{scheme}");
        let kind = kind_of(scheme.key_type());
        // Method 14 with this scheme (SHA-1 never: it is not announced), and the classic method
        // when the scheme has one.
        let mut ways = Vec::new();
        if scheme != SignatureScheme::RsaPkcs1Sha1 {
            ways.push(true);
        }
        if scheme.classic_auth_method().is_some() {
            ways.push(false);
        }
        for rfc7427 in ways {
            for initiator in [Side::Left, Side::Right] {
                let mut l = auth(kind, "hq");
                let mut r = auth(kind, "branch");
                for a in [&mut l, &mut r] {
                    a.signature_schemes = vec![scheme];
                    a.rfc7427 = rfc7427;
                }
                let mut p = pair(l, r, 44);
                assert!(
                    connect(&mut p, initiator),
                    "{scheme} rfc7427={rfc7427}: {:?}",
                    phase1_failure(&p, Side::Right).or(phase1_failure(&p, Side::Left))
                );
                for (side, response) in [(initiator, false), (initiator.other(), true)] {
                    let msg = ike_auth(&p, side, response);
                    let a = auth_payload(&msg);
                    if rfc7427 {
                        assert_eq!(algorithm_identifier(a), scheme.algorithm_identifier());
                    } else {
                        assert_eq!(Some(a.method.0), scheme.classic_auth_method(), "{scheme}");
                    }
                }
                seen += 1;
            }
        }
    }
    // 10 schemes by method 14 and 4 by their classic method, each in both roles.
    assert_eq!(seen, 28);
}

/// Without SIGNATURE_HASH_ALGORITHMS from the peer each side falls back to its key's classic
/// method: 1 for RSA, 9, 10, 11 for the curves. One side without RFC 7427 is enough: it does
/// not announce it, and does not use method 14 itself.
#[test]
fn classic_methods_when_one_side_has_no_rfc_7427() {
    for (kind, method) in [
        ("rsa", AuthMethod::RSA_SIG),
        ("ecdsa-p256", AuthMethod::ECDSA_SHA256_P256),
        ("ecdsa-p384", AuthMethod::ECDSA_SHA384_P384),
        ("ecdsa-p521", AuthMethod::ECDSA_SHA512_P521),
    ] {
        for classic in [Side::Left, Side::Right] {
            let mut l = auth(kind, "hq");
            let mut r = auth(kind, "branch");
            match classic {
                Side::Left => l.rfc7427 = false,
                Side::Right => r.rfc7427 = false,
            }
            let mut p = pair(l, r, 45);
            assert!(connect(&mut p, Side::Left), "{kind}");
            assert_eq!(
                auth_payload(&ike_auth(&p, Side::Left, false)).method,
                method
            );
            assert_eq!(
                auth_payload(&ike_auth(&p, Side::Right, true)).method,
                method
            );
            let init = ike_sa_init(&p, classic);
            assert!(init.notify(NotifyType::SIGNATURE_HASH_ALGORITHMS).is_none());
        }
    }
}

/// An Ed25519 key has no classic method: against a peer without RFC 7427 we cannot sign, and
/// say so, as initiator (nothing sent) and as responder (AUTHENTICATION_FAILED).
#[test]
fn ed25519_needs_rfc_7427() {
    for initiator in [Side::Left, Side::Right] {
        let mut r = auth("ed25519", "branch");
        r.rfc7427 = false;
        let mut p = pair(auth("ed25519", "hq"), r, 46);
        assert!(!connect(&mut p, initiator));
        // Left holds the Ed25519 key facing a peer that did not announce RFC 7427. (Right does
        // not use RFC 7427 either, so it cannot sign with its Ed25519 key at all.)
        let why = match phase1_failure(&p, initiator) {
            Some(Reason::AuthenticationFailed(why)) => why.clone(),
            other => panic!("{other:?}"),
        };
        assert!(why.contains("Ed25519") && why.contains("RFC 7427"), "{why}");
        assert!(!ike_up(&p, Side::Left) && !ike_up(&p, Side::Right));
    }
}

/// A chain of three: hq's certificate is issued by the intermediate CA, which it sends; a peer
/// that trusts only the root validates through it, and one that trusts the intermediate
/// directly needs nothing more.
#[test]
fn chain_through_an_intermediate_ca() {
    for kind in KINDS {
        let mut r = auth(kind, "branch");
        r.trust = ipsec_core::pki::TrustStore::new(vec![cert(kind, "intermediate-ca")]);
        // Left (hq) trusts the root, right trusts only the intermediate: right validates hq
        // through the intermediate as an anchor; left validates branch against the root.
        let mut l = auth(kind, "hq");
        l.trust = ipsec_core::pki::TrustStore::new(vec![cert(kind, "root-ca")]);
        let mut p = pair(l, r, 47);
        assert!(
            connect(&mut p, Side::Right),
            "{kind}: {:?}",
            phase1_failure(&p, Side::Right)
        );
    }
}

/// Identities: the default DN, wildcard patterns, and a profile's `allow-id-payload-mismatch`.
#[test]
fn dn_identities_and_patterns() {
    let kind = "ecdsa-p256";
    let (mut l, mut r) = configs(auth(kind, "hq"), auth(kind, "branch"));
    // Left sends its certificate's subject; right expects any CN under the test organisation.
    l.gateways[0].local_id = Identity::Dn(cert(kind, "hq").subject_der().to_vec());
    r.gateways[0].peer_id = Some(IdPattern::DnGlob(
        DistinguishedName::parse("C=CH, O=ipsec-rs test, CN=*.example.net").unwrap(),
    ));
    // Right sends an e-mail identity from its subjectAltName; left matches it by wildcard.
    r.gateways[0].local_id = Identity::UserFqdn("branch@example.net".into());
    l.gateways[0].peer_id = Some(IdPattern::UserFqdnGlob("*@example.net".into()));
    let mut p = Pair::new(l.clone(), r.clone(), 48);
    assert!(
        connect(&mut p, Side::Left),
        "{:?}",
        phase1_failure(&p, Side::Right)
    );
    let msg = ike_auth(&p, Side::Left, false);
    let idi = msg.id_i().unwrap();
    assert_eq!(idi.id_type.0, 9, "ID_DER_ASN1_DN");
    assert_eq!(idi.data, cert(kind, "hq").subject_der());

    // An IP address from a subjectAltName.
    l.gateways[0].local_id = Identity::Ip("192.0.2.1".parse().unwrap());
    r.gateways[0].peer_id = Some(IdPattern::Exact(Identity::Ip("192.0.2.1".parse().unwrap())));
    let mut p = Pair::new(l, r, 49);
    assert!(
        connect(&mut p, Side::Left),
        "{:?}",
        phase1_failure(&p, Side::Right)
    );
}

/// `allow-id-payload-mismatch`: a peer whose certificate does not name the ID it sends is
/// accepted when the profile permits it (the certificate must still chain and sign).
#[test]
fn id_payload_mismatch_allowed_when_configured() {
    let kind = "ecdsa-p384";
    let mut r = auth(kind, "branch");
    r.allow_id_mismatch = true;
    // Left holds the "mismatch" certificate (other.example.net) but says it is hq.
    let mut p = pair(auth_from(kind, "mismatch"), r, 50);
    assert!(
        connect(&mut p, Side::Left),
        "{:?}",
        phase1_failure(&p, Side::Right)
    );
}

/// Certificate authentication with `name`'s credential (no intermediates), trusting the root.
fn auth_from(kind: &str, name: &str) -> ikev2::config::CertificateAuth {
    ikev2::config::CertificateAuth::new(
        credential_with(kind, name, &[]),
        ipsec_core::pki::TrustStore::new(vec![cert(kind, "root-ca")]),
    )
}

/// With fragmentation on, RSA 3072 chains do not fit one 1200-octet datagram: IKE_AUTH travels
/// in SKF fragments (RFC 7383) and still authenticates.
#[test]
fn large_chains_are_fragmented() {
    let (mut l, mut r) = configs(auth("rsa", "hq"), auth("rsa", "branch"));
    l.gateways[0].fragmentation = true;
    r.gateways[0].fragmentation = true;
    let mut p = Pair::new(l, r, 51);
    assert!(connect(&mut p, Side::Left));
    let skf = p
        .sent
        .iter()
        .filter(|(_, _, _, b)| {
            ikev2::wire::Packet::new_checked(b.as_slice())
                .is_ok_and(|pk| pk.exchange_type() == ikev2::wire::ExchangeType::IKE_AUTH)
                && b.get(16) == Some(&53)
        })
        .count();
    assert!(skf >= 4, "IKE_AUTH in fragments both ways: {skf}");
    assert!(matches!(
        p.left.config().gateways[0].auth,
        Authentication::Certificate(_)
    ));
}
