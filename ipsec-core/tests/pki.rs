//! Certificates made by strongSwan's `pki` (testdata/pki/make-certs.sh) through path validation,
//! identity checks and our own credential, for every key kind: RSA 3072, ECDSA P-256 and P-384,
//! Ed25519.

use std::path::PathBuf;

use ipsec_core::crypto::{
    default_provider, HashAlgorithmId, PrivateKeyDer, SignatureEncoding, SignatureScheme,
};
use ipsec_core::pki::{
    check_identity, peer_chain, Certificate, CertificateError, CertificateField, Check,
    DistinguishedName, LocalCredential, PeerIdentity, TrustStore, UnixTime,
};

const KINDS: [&str; 4] = ["rsa", "ecdsa-p256", "ecdsa-p384", "ed25519"];

/// 2030-01-01T00:00:00Z: inside every fixture's validity but the expired one's.
const NOW: UnixTime = UnixTime::from_secs(1_893_456_000);

fn path(kind: &str, file: &str) -> PathBuf {
    [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "testdata",
        "pki",
        kind,
        file,
    ]
    .iter()
    .collect()
}

fn cert(kind: &str, name: &str) -> Certificate {
    let bytes = std::fs::read(path(kind, &format!("{name}.crt"))).unwrap();
    let mut certs = Certificate::from_pem_or_der(&bytes).unwrap();
    assert_eq!(certs.len(), 1);
    certs.remove(0)
}

fn key(kind: &str, name: &str) -> PrivateKeyDer {
    let text = std::fs::read_to_string(path(kind, &format!("{name}.key"))).unwrap();
    PrivateKeyDer::from_pem(&text).unwrap()
}

fn trust(kind: &str) -> TrustStore {
    TrustStore::new(vec![cert(kind, "root-ca")])
}

#[test]
fn chains_through_the_intermediate_and_directly_from_the_root() {
    let p = default_provider();
    for kind in KINDS {
        let hq = cert(kind, "hq");
        let inter = cert(kind, "intermediate-ca");
        let chain = trust(kind)
            .verify(&p, &hq, std::slice::from_ref(&inter), NOW)
            .unwrap();
        let subjects: Vec<String> = chain.path.iter().map(|c| c.subject().to_string()).collect();
        assert_eq!(subjects.len(), 3, "{kind}: {subjects:?}");
        assert!(subjects[0].ends_with("CN=hq.example.net"), "{kind}");
        assert!(subjects[1].ends_with("Intermediate CA"), "{kind}");
        assert!(subjects[2].ends_with("Root CA"), "{kind}");
        // The branch certificate is issued by the root itself; a stray intermediate is ignored.
        let chain = trust(kind)
            .verify(&p, &cert(kind, "branch"), std::slice::from_ref(&inter), NOW)
            .unwrap();
        assert_eq!(chain.path.len(), 2, "{kind}");
        // An intermediate trusted directly is an anchor of its own.
        let direct = TrustStore::new(vec![inter]);
        assert_eq!(direct.verify(&p, &hq, &[], NOW).unwrap().path.len(), 2);
    }
}

#[test]
fn a_missing_intermediate_or_the_wrong_ca_is_an_unknown_issuer() {
    let p = default_provider();
    for kind in KINDS {
        let e = trust(kind)
            .verify(&p, &cert(kind, "hq"), &[], NOW)
            .unwrap_err();
        assert_eq!(e.check(), Check::Issuer, "{kind}: {e}");
        assert!(
            e.to_string()
                .contains("Intermediate CA\", which is not a trusted CA"),
            "{e}"
        );

        // Issued by a CA with the root's name but another key.
        let e = trust(kind)
            .verify(&p, &cert(kind, "wrong-ca"), &[], NOW)
            .unwrap_err();
        assert!(
            matches!(e.check(), Check::Issuer | Check::Signature),
            "{kind}: {e}"
        );
        assert!(e.to_string().contains("CN=branch.example.net"), "{e}");

        // Trusting only the rogue CA refuses the genuine certificates.
        let rogue = TrustStore::new(vec![cert(kind, "rogue-ca")]);
        assert!(rogue.verify(&p, &cert(kind, "branch"), &[], NOW).is_err());
        rogue.verify(&p, &cert(kind, "wrong-ca"), &[], NOW).unwrap();
    }
}

#[test]
fn validity_is_checked_against_the_time_passed_in() {
    let p = default_provider();
    for kind in KINDS {
        let e = trust(kind)
            .verify(&p, &cert(kind, "expired"), &[], NOW)
            .unwrap_err();
        assert!(matches!(e, CertificateError::Expired { .. }), "{kind}: {e}");
        assert_eq!(e.check(), Check::Validity);
        assert!(
            e.to_string()
                .contains("expired on 2021-01-01T00:00:00Z (now 2030-01-01T00:00:00Z)"),
            "{e}"
        );
        // In 2020 the expired one was fine but the others did not exist yet.
        let in_2020 = UnixTime::from_secs(1_590_000_000);
        // ... but the root itself starts in 2024, and trusted CAs are checked too.
        let e = trust(kind)
            .verify(&p, &cert(kind, "expired"), &[], in_2020)
            .unwrap_err();
        assert_eq!(e.check(), Check::Validity, "{e}");
        assert!(
            e.to_string().contains("Root CA\" is not valid before 2024"),
            "{e}"
        );
        let e = trust(kind)
            .verify(
                &p,
                &cert(kind, "hq"),
                &[cert(kind, "intermediate-ca")],
                in_2020,
            )
            .unwrap_err();
        assert!(
            matches!(e, CertificateError::NotYetValid { .. }),
            "{kind}: {e}"
        );
        // After the CAs end (2054), the root is named.
        let e = trust(kind)
            .verify(
                &p,
                &cert(kind, "hq"),
                &[cert(kind, "intermediate-ca")],
                UnixTime::from_secs(2_400_000_000),
            )
            .unwrap_err();
        assert_eq!(e.check(), Check::Validity, "{e}");
    }
}

#[test]
fn ca_certificates_and_foreign_purposes_are_refused_as_peers() {
    let p = default_provider();
    for kind in KINDS {
        let e = trust(kind)
            .verify(&p, &cert(kind, "intermediate-ca"), &[], NOW)
            .unwrap_err();
        assert_eq!(e.check(), Check::BasicConstraints, "{kind}: {e}");
        let e = trust(kind)
            .verify(&p, &cert(kind, "ocsp-signer"), &[], NOW)
            .unwrap_err();
        assert_eq!(e.check(), Check::ExtendedKeyUsage, "{kind}: {e}");
        assert!(e.to_string().contains("1.3.6.1.5.5.7.3.9"), "{e}");
    }
}

#[test]
fn identities_match_subject_and_alt_names() {
    let any = CertificateField::SubjectOrAltName;
    for kind in KINDS {
        let hq = cert(kind, "hq");
        for id in [
            PeerIdentity::Fqdn("hq.example.net"),
            PeerIdentity::Fqdn("HQ.Example.NET"),
            PeerIdentity::Email("hq@example.net"),
            PeerIdentity::Ip("192.0.2.1".parse().unwrap()),
            PeerIdentity::Ip("2001:db8::1".parse().unwrap()),
            PeerIdentity::Dn(hq.subject_der()),
        ] {
            check_identity(&hq, id, any).unwrap_or_else(|e| panic!("{kind} {id}: {e}"));
        }
        // A DN written by an admin, in either order, encoded for the ID payload.
        let dn = DistinguishedName::parse("cn=hq.example.net, o=ipsec-rs test, c=CH").unwrap();
        check_identity(&hq, PeerIdentity::Dn(&dn.to_der()), any).unwrap();

        let other = cert(kind, "mismatch");
        let e = check_identity(&other, PeerIdentity::Fqdn("branch.example.net"), any).unwrap_err();
        assert_eq!(e.check(), Check::Identity);
        assert_eq!(
            e.to_string(),
            "peer ID fqdn:branch.example.net is not in certificate \
             \"C=CH, O=ipsec-rs test, CN=other.example.net\" (subject or subjectAltName)"
        );
        for id in [
            PeerIdentity::Ip("192.0.2.2".parse().unwrap()),
            PeerIdentity::Email("hq.example.net"),
            PeerIdentity::KeyId(b"hq"),
            PeerIdentity::Dn(b"not der"),
        ] {
            assert!(check_identity(&hq, id, any).is_err(), "{kind} {id}");
        }
        // The subject's common name only: the FQDN matches, the e-mail SAN no longer does.
        let cn = CertificateField::SubjectCommonName;
        check_identity(&hq, PeerIdentity::Fqdn("hq.example.net"), cn).unwrap();
        assert!(check_identity(&hq, PeerIdentity::Email("hq@example.net"), cn).is_err());
        // subjectAltName only: the subject DN no longer does.
        let alt = CertificateField::AltName;
        assert!(check_identity(&hq, PeerIdentity::Dn(hq.subject_der()), alt).is_err());
        check_identity(&hq, PeerIdentity::Email("hq@example.net"), alt).unwrap();
    }
}

#[test]
fn credentials_sign_what_the_peer_verifies() {
    let p = default_provider();
    for kind in KINDS {
        let chain = vec![cert(kind, "hq"), cert(kind, "intermediate-ca")];
        let ours = LocalCredential::new(&p, chain.clone(), key(kind, "hq")).unwrap();
        assert_eq!(ours.chain().len(), 2);

        // The peer's side: CERT payloads in order, validated, then the AUTH signature.
        let ders: Vec<&[u8]> = ours.chain().iter().map(Certificate::der).collect();
        let (peer, intermediates) = peer_chain(ders).unwrap();
        trust(kind).verify(&p, &peer, &intermediates, NOW).unwrap();

        let hashes = [
            HashAlgorithmId::SHA2_256,
            HashAlgorithmId::SHA2_384,
            HashAlgorithmId::SHA2_512,
            HashAlgorithmId::IDENTITY,
        ];
        let scheme = ours.choose_scheme(&p, Some(&hashes), None).unwrap();
        assert_eq!(scheme.key_type(), peer.key_type().unwrap());
        let signer = ours.signing_key(&p, scheme).unwrap();
        let octets = b"RealMessage1 | NonceRData | prf(SK_pi, RestOfInitIDPayload)";
        let sig = signer
            .sign(octets, SignatureEncoding::Der, p.random)
            .unwrap();
        // Method 14: the AlgorithmIdentifier names the scheme for the peer's key type.
        let named = SignatureScheme::from_algorithm_identifier(
            scheme.algorithm_identifier(),
            peer.key_type().unwrap(),
        )
        .unwrap();
        p.signature(named)
            .unwrap()
            .verify(peer.public_key(), octets, &sig, SignatureEncoding::Der)
            .unwrap();
        // Someone else's certificate does not verify it.
        let other = cert(kind, "branch");
        assert!(p
            .signature(named)
            .unwrap()
            .verify(other.public_key(), octets, &sig, SignatureEncoding::Der)
            .is_err());
    }
}

#[test]
fn scheme_choice_follows_the_peer_hashes_and_the_classic_methods() {
    let p = default_provider();
    let cred =
        |kind: &str| LocalCredential::new(&p, vec![cert(kind, "hq")], key(kind, "hq")).unwrap();
    let sha384 = [HashAlgorithmId::SHA2_384];
    assert_eq!(
        cred("rsa").choose_scheme(&p, Some(&sha384), None),
        Some(SignatureScheme::RsaPssSha384)
    );
    assert_eq!(
        cred("rsa").choose_scheme(&p, Some(&[HashAlgorithmId::SHA1]), None),
        None,
        "no SHA-1 with RFC 7427"
    );
    assert_eq!(
        cred("rsa").choose_scheme(&p, None, None),
        Some(SignatureScheme::RsaPkcs1Sha1)
    );
    let pkcs1_first = [
        SignatureScheme::RsaPkcs1Sha256,
        SignatureScheme::RsaPssSha256,
    ];
    assert_eq!(
        cred("rsa").choose_scheme(&p, Some(&[HashAlgorithmId::SHA2_256]), Some(&pkcs1_first)),
        Some(SignatureScheme::RsaPkcs1Sha256)
    );
    assert_eq!(
        cred("ecdsa-p384").choose_scheme(&p, None, None),
        Some(SignatureScheme::EcdsaP384Sha384)
    );
    assert_eq!(
        cred("ecdsa-p256").choose_scheme(&p, Some(&sha384), None),
        None,
        "P-256 signs with SHA-256 only"
    );
    assert_eq!(cred("ed25519").choose_scheme(&p, None, None), None);
    assert_eq!(
        cred("ed25519").choose_scheme(&p, Some(&[HashAlgorithmId::IDENTITY]), None),
        Some(SignatureScheme::Ed25519)
    );
}

#[test]
fn a_key_must_belong_to_its_certificate() {
    let p = default_provider();
    for kind in KINDS {
        let e = LocalCredential::new(&p, vec![cert(kind, "hq")], key(kind, "branch")).unwrap_err();
        assert_eq!(e.check(), Check::PublicKey);
        assert!(e.to_string().contains("does not belong"), "{kind}: {e}");
        let other_kind = if kind == "rsa" { "ed25519" } else { "rsa" };
        let e =
            LocalCredential::new(&p, vec![cert(kind, "hq")], key(other_kind, "hq")).unwrap_err();
        assert!(e.to_string().contains("another type"), "{kind}: {e}");
        assert!(LocalCredential::new(&p, vec![], key(kind, "hq")).is_err());
    }
}

#[test]
fn ca_key_hashes_name_the_trusted_cas() {
    for kind in KINDS {
        let root = cert(kind, "root-ca");
        let rogue = cert(kind, "rogue-ca");
        let hashes =
            TrustStore::new(vec![root.clone(), cert(kind, "intermediate-ca")]).ca_key_hashes();
        assert_eq!(hashes.len(), 2);
        assert_eq!(hashes[0], root.key_hash());
        assert_ne!(hashes[0], hashes[1]);
        // Same name, other key: another hash (CERTREQ names keys, not names).
        assert_eq!(root.subject(), rogue.subject());
        assert_ne!(root.key_hash(), rogue.key_hash());
    }
}

#[test]
fn pem_files_with_several_certificates_and_der() {
    let pem = [
        std::fs::read_to_string(path("rsa", "hq.crt")).unwrap(),
        std::fs::read_to_string(path("rsa", "intermediate-ca.crt")).unwrap(),
    ]
    .concat();
    let certs = Certificate::from_pem_or_der(pem.as_bytes()).unwrap();
    assert_eq!(certs.len(), 2);
    let der = certs[1].der().to_vec();
    assert_eq!(Certificate::from_pem_or_der(&der).unwrap()[0], certs[1]);
    assert!(matches!(
        Certificate::from_pem_or_der(
            std::fs::read_to_string(path("rsa", "hq.key"))
                .unwrap()
                .as_bytes()
        ),
        Err(CertificateError::Malformed(_))
    ));
    assert!(peer_chain(Vec::<&[u8]>::new()).is_err());
    assert!(peer_chain([&b"junk"[..]]).is_err());
}
