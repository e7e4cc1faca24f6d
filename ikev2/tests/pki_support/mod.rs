//! Helpers shared by the certificate tests: the test PKI made by strongSwan's `pki`
//! (`testdata/pki/make-certs.sh`), credentials and trust stores from it, a [`Pair`] whose
//! gateways authenticate with certificates, and the IKE_AUTH messages it exchanged, decrypted.

#![allow(dead_code)]

use core::time::Duration;
use ikev2::config::{Authentication, CertificateAuth, EndpointConfig};
use ikev2::identity::{IdPattern, Identity};
use ikev2::testing::{Pair, Side, SiteSpec};
use ikev2::wire::{Auth, AuthMethod, ExchangeType, Message, Packet, Payload};
use ikev2::{Event, Reason};
use ipsec_core::crypto::{default_provider, PrivateKeyDer};
use ipsec_core::pki::{Certificate, LocalCredential, TrustStore};
use std::path::PathBuf;

/// Every key kind of the test PKI.
pub(crate) const KINDS: [&str; 5] = ["rsa", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ed25519"];

/// The left site's identity (its certificate is `hq`, issued by the intermediate CA).
pub(crate) const HQ: &str = "hq.example.net";
/// The right site's identity (its certificate is `branch`, issued by the root CA).
pub(crate) const BRANCH: &str = "branch.example.net";

pub(crate) fn fixture(kind: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/pki")
        .join(kind)
        .join(file)
}

/// The certificate `name` of `kind`.
pub(crate) fn cert(kind: &str, name: &str) -> Certificate {
    let bytes = std::fs::read(fixture(kind, &format!("{name}.crt"))).expect("fixture");
    Certificate::from_pem_or_der(&bytes)
        .expect("certificate")
        .remove(0)
}

fn key(kind: &str, name: &str) -> PrivateKeyDer {
    let text = std::fs::read_to_string(fixture(kind, &format!("{name}.key"))).expect("fixture");
    PrivateKeyDer::from_pem(&text).expect("key")
}

/// The end entity `name` with its key, followed by `intermediates`.
pub(crate) fn credential_with(kind: &str, name: &str, intermediates: &[&str]) -> LocalCredential {
    let mut chain = vec![cert(kind, name)];
    chain.extend(intermediates.iter().map(|i| cert(kind, i)));
    LocalCredential::new(&default_provider(), chain, key(kind, name)).expect("credential")
}

/// The credential of `name` as a gateway holds it: `hq` with its intermediate CA.
pub(crate) fn credential(kind: &str, name: &str) -> LocalCredential {
    match name {
        "hq" => credential_with(kind, name, &["intermediate-ca"]),
        _ => credential_with(kind, name, &[]),
    }
}

/// Certificate authentication with `name`'s credential, trusting `kind`'s root CA.
pub(crate) fn auth(kind: &str, name: &str) -> CertificateAuth {
    CertificateAuth::new(
        credential(kind, name),
        TrustStore::new(vec![cert(kind, "root-ca")]),
    )
}

/// The usual pair of sites, both authenticating with certificates: left as `hq.example.net`
/// with `left`, right as `branch.example.net` with `right`, each requiring the other's ID.
/// Fragmentation is off so that each IKE_AUTH message is one datagram the tests can open.
pub(crate) fn configs(
    left: CertificateAuth,
    right: CertificateAuth,
) -> (EndpointConfig, EndpointConfig) {
    let mut l = SiteSpec::left();
    l.id = Identity::Fqdn(HQ.into());
    l.peer_id = Some(IdPattern::Exact(Identity::Fqdn(BRANCH.into())));
    let mut r = SiteSpec::right();
    r.id = Identity::Fqdn(BRANCH.into());
    r.peer_id = Some(IdPattern::Exact(Identity::Fqdn(HQ.into())));
    let (mut l, mut r) = (l.config(), r.config());
    l.gateways[0].auth = Authentication::Certificate(Box::new(left));
    r.gateways[0].auth = Authentication::Certificate(Box::new(right));
    l.gateways[0].fragmentation = false;
    r.gateways[0].fragmentation = false;
    (l, r)
}

/// A pair of certificate sites (see [`configs`]).
pub(crate) fn pair(left: CertificateAuth, right: CertificateAuth, seed: u64) -> Pair {
    let (l, r) = configs(left, right);
    Pair::new(l, r, seed)
}

/// `initiator` connects tunnel `tun`; runs until both sides have it up or 10 s passed.
pub(crate) fn connect(p: &mut Pair, initiator: Side) -> bool {
    let now = p.now;
    p.endpoint(initiator).connect(now, "tun").expect("connect");
    p.drive_until(Duration::from_secs(10), |p| {
        p.tunnel_up(Side::Left) && p.tunnel_up(Side::Right)
    })
}

/// The IKE_AUTH request (`response == false`) or response `from` sent, decrypted by its
/// receiver.
pub(crate) fn ike_auth(p: &Pair, from: Side, response: bool) -> Message {
    let bytes = p
        .sent
        .iter()
        .filter(|(side, ..)| *side == from)
        .map(|(_, local, _, b)| {
            // Strip the non-ESP marker of port 4500.
            if local.port() == 4500 {
                b[4..].to_vec()
            } else {
                b.clone()
            }
        })
        .find(|b| {
            Packet::new_checked(b.as_slice()).is_ok_and(|pk| {
                pk.exchange_type() == ExchangeType::IKE_AUTH && pk.flags().is_response() == response
            })
        })
        .expect("an IKE_AUTH message");
    p.open_message(from.other(), "gw", &bytes)
        .expect("IKE_AUTH decrypts")
}

/// The AUTH payload of `msg`.
pub(crate) fn auth_payload(msg: &Message) -> &Auth {
    msg.auth().expect("AUTH payload")
}

/// The CERT payloads of `msg`, as DER.
pub(crate) fn cert_payloads(msg: &Message) -> Vec<&[u8]> {
    msg.payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Cert(c) => Some(c.data.as_slice()),
            _ => None,
        })
        .collect()
}

/// For method 14, the AlgorithmIdentifier at the start of the AUTH data.
pub(crate) fn algorithm_identifier(auth: &Auth) -> &[u8] {
    assert_eq!(auth.method, AuthMethod::DIGITAL_SIGNATURE);
    let len = usize::from(auth.data[0]);
    &auth.data[1..1 + len]
}

/// The reason of `side`'s first Phase1Failed event.
pub(crate) fn phase1_failure(p: &Pair, side: Side) -> Option<&Reason> {
    p.events(side).iter().find_map(|e| match e {
        Event::Phase1Failed { reason, .. } => Some(reason),
        _ => None,
    })
}

/// True when `side` reported an IKE SA up.
pub(crate) fn ike_up(p: &Pair, side: Side) -> bool {
    p.events(side)
        .iter()
        .any(|e| matches!(e, Event::IkeSaUp { .. }))
}
