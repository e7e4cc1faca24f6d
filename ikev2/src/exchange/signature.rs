//! Certificate authentication: what a certificate gateway adds to IKE_SA_INIT and IKE_AUTH, and
//! the checks of the peer's certificate and signature.
//!
//! ```text
//! Initiator                                  Responder
//! HDR, SAi1, KEi, Ni, N(SIGNATURE_HASH_ALGORITHMS)  -->
//!                       <--  HDR, SAr1, KEr, Nr, CERTREQ, N(SIGNATURE_HASH_ALGORITHMS)
//! HDR, SK {IDi, CERT+, CERTREQ, AUTH, SAi2, TSi, TSr}  -->
//!                       <--  HDR, SK {IDr, CERT+, AUTH, SAr2, TSi, TSr}
//! ```
//!
//! SIGNATURE_HASH_ALGORITHMS (RFC 7427 section 4) lists the hashes we verify; a peer that sends
//! it gets an AUTH of method 14 (an AlgorithmIdentifier, then the signature), one that does not
//! the classic method of our key: RSA PKCS#1 v1.5 with SHA-1 (method 1, RFC 7296 section 3.8)
//! or ECDSA (methods 9-11, RFC 4754, signatures as `r || s`). CERTREQ names the CAs we trust
//! by the SHA-1 hash of their SubjectPublicKeyInfo (RFC 7296 section 3.7); we always send our
//! whole chain, end entity first, whatever the peer asks for.
//!
//! The peer's AUTH is checked in the order an admin fixes problems: the method, the
//! certificate's path to a trusted CA at the wall-clock time, its identity, then the signature
//! over the octets of RFC 7296 section 2.15. Every refusal is one line that names the check:
//! `certificate validity check failed: certificate "C=CH, ..." expired on ...`.

use crate::config::{CertificateAuth, GatewayConfig};
use crate::error::LocalError;
use crate::event::Role;
use crate::identity::Identity;
use crate::wire::{
    Auth, AuthMethod, Cert, CertEncoding, CertReq, Message, Notify, NotifyType, Payload,
};
use ipsec_core::crypto::{
    CryptoError, CryptoProvider, HashAlgorithmId, SecureRandom, SignatureEncoding, SignatureScheme,
};
use ipsec_core::pki::{check_identity, peer_chain, CertificateError, UnixTime};

/// What a certificate gateway adds to its IKE_SA_INIT message: SIGNATURE_HASH_ALGORITHMS with
/// RFC 7427, and in the responder's answer a CERTREQ for the CAs it trusts (RFC 7296 section
/// 1.2). Nothing for a pre-shared-key gateway.
pub(crate) fn init_payloads(
    provider: &CryptoProvider,
    g: &GatewayConfig,
    role: Role,
) -> Vec<Payload> {
    let Some(c) = g.auth.certificate() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if role == Role::Responder {
        out.push(cert_request(c));
    }
    if c.rfc7427 {
        let data: Vec<u8> = our_hashes(provider)
            .iter()
            .flat_map(|h| h.0.to_be_bytes())
            .collect();
        out.push(Payload::Notify(Notify::new(
            NotifyType::SIGNATURE_HASH_ALGORITHMS,
            &data,
        )));
    }
    out
}

/// The hashes we accept in method 14: those of the provider's schemes, without SHA-1 (RFC 8247
/// section 3.2 forbids it in new signatures), in registry order.
fn our_hashes(provider: &CryptoProvider) -> Vec<HashAlgorithmId> {
    let mut hashes: Vec<HashAlgorithmId> = provider
        .signatures
        .iter()
        .map(|s| s.scheme().hash())
        .filter(|h| *h != HashAlgorithmId::SHA1)
        .collect();
    hashes.sort_by_key(|h| h.0);
    hashes.dedup();
    hashes
}

/// CERTREQ for X.509 signature certificates from the CAs of our profile.
fn cert_request(c: &CertificateAuth) -> Payload {
    Payload::CertReq(CertReq {
        encoding: CertEncoding::X509_SIGNATURE,
        authorities: c.trust.ca_key_hashes().concat(),
    })
}

/// The hashes of the peer's SIGNATURE_HASH_ALGORITHMS in `msg` (its IKE_SA_INIT), when it sent
/// one and this gateway uses RFC 7427: our AUTH is then of method 14.
pub(crate) fn peer_hashes(g: &GatewayConfig, msg: &Message) -> Option<Vec<HashAlgorithmId>> {
    g.auth.certificate().filter(|c| c.rfc7427)?;
    let n = msg.notify(NotifyType::SIGNATURE_HASH_ALGORITHMS)?;
    Some(
        n.data
            .chunks_exact(2)
            .map(|b| HashAlgorithmId(u16::from_be_bytes([b[0], b[1]])))
            .collect(),
    )
}

/// Why we cannot authenticate ourselves.
pub(crate) enum SignError {
    /// Our side failed (random source, a provider without the scheme).
    Local(LocalError),
    /// No scheme suits both our key and the peer (an Ed25519 key and a peer without RFC 7427).
    NoScheme(String),
}

impl From<LocalError> for SignError {
    fn from(e: LocalError) -> Self {
        SignError::Local(e)
    }
}

impl From<CryptoError> for SignError {
    fn from(e: CryptoError) -> Self {
        SignError::Local(e.into())
    }
}

/// The scheme and auth method we sign with: method 14 with a scheme whose hash the peer
/// announced, else the classic method of our key.
fn choose(
    provider: &CryptoProvider,
    c: &CertificateAuth,
    peer_hashes: Option<&[HashAlgorithmId]>,
) -> Option<(SignatureScheme, AuthMethod)> {
    let preference = (!c.signature_schemes.is_empty()).then_some(c.signature_schemes.as_slice());
    if let Some(hashes) = peer_hashes.filter(|_| c.rfc7427) {
        if let Some(s) = c
            .credential
            .choose_scheme(provider, Some(hashes), preference)
        {
            return Some((s, AuthMethod::DIGITAL_SIGNATURE));
        }
    }
    let s = c.credential.choose_scheme(provider, None, None)?;
    Some((s, AuthMethod(s.classic_auth_method()?)))
}

/// Our CERT payloads (the chain, end entity first), the initiator's CERTREQ, and our AUTH: a
/// signature over `octets` (RFC 7296 section 2.15). The caller puts them after our ID payload.
pub(crate) fn our_payloads(
    provider: &CryptoProvider,
    rng: &dyn SecureRandom,
    c: &CertificateAuth,
    role: Role,
    peer_hashes: Option<&[HashAlgorithmId]>,
    octets: &[u8],
) -> Result<Vec<Payload>, SignError> {
    let (scheme, method) = choose(provider, c, peer_hashes).ok_or_else(|| {
        let key = c
            .credential
            .certificate()
            .key_type()
            .map_or_else(|e| e.to_string(), |k| k.to_string());
        SignError::NoScheme(match peer_hashes {
            Some(h) => format!(
                "no signature scheme for our {key} key uses a hash the peer accepts ({})",
                h.iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None if !c.rfc7427 => format!(
                "our {key} key has no classic auth method and RFC 7427 signature \
                 authentication is off on this gateway"
            ),
            None => format!(
                "our {key} key has no classic auth method and the peer did not announce RFC \
                 7427 signature authentication"
            ),
        })
    })?;
    let key = c.credential.signing_key(provider, scheme)?;
    let encoding = SignatureScheme::encoding_for_auth_method(method.0);
    let signature = key.sign(octets, encoding, rng)?;
    let data = if method == AuthMethod::DIGITAL_SIGNATURE {
        let alg = scheme.algorithm_identifier();
        let mut d = Vec::with_capacity(1 + alg.len() + signature.len());
        // RFC 7427 section 3: one octet of length, the AlgorithmIdentifier, the signature.
        d.push(u8::try_from(alg.len()).map_err(|_| {
            LocalError::KeyDerivation("AlgorithmIdentifier longer than 255 octets")
        })?);
        d.extend_from_slice(alg);
        d.extend_from_slice(&signature);
        d
    } else {
        signature
    };
    tracing::debug!(%scheme, %method, "signing our AUTH");
    let mut out: Vec<Payload> = c
        .credential
        .chain()
        .iter()
        .map(|cert| {
            Payload::Cert(Cert {
                encoding: CertEncoding::X509_SIGNATURE,
                data: cert.der().to_vec(),
            })
        })
        .collect();
    if role == Role::Initiator {
        out.push(cert_request(c));
    }
    out.push(Payload::Auth(Auth { method, data }));
    Ok(out)
}

/// A failed certificate check as its log text.
fn refused(e: CertificateError) -> String {
    format!("certificate {} check failed: {e}", e.check().as_str())
}

/// Checks the peer's certificate and signature: `auth` from `peer` in `msg` (whose CERT
/// payloads carry its chain) must be a signature over `octets` by the key of a certificate that
/// chains to a CA of `c` at `now` and, unless `c` allows the mismatch, names `peer`. The
/// error says which check failed.
pub(crate) fn verify(
    provider: &CryptoProvider,
    c: &CertificateAuth,
    now: Option<UnixTime>,
    (peer, msg, auth): (&Identity, &Message, &Auth),
    octets: &[u8],
) -> Result<(), String> {
    let method = auth.method;
    let classic = SignatureScheme::from_classic_auth_method(method.0);
    if method != AuthMethod::DIGITAL_SIGNATURE && classic.is_none() {
        return Err(format!(
            "auth method check failed: the peer uses {method}, this gateway expects a digital \
             signature with a certificate"
        ));
    }
    let ders: Vec<&[u8]> = msg
        .payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Cert(cert) if cert.encoding == CertEncoding::X509_SIGNATURE => {
                Some(cert.data.as_slice())
            }
            _ => None,
        })
        .collect();
    if ders.is_empty() {
        return Err(
            "certificate syntax check failed: the peer sent no certificate (no CERT \
                    payload of encoding X.509 Certificate - Signature)"
                .into(),
        );
    }
    let (ee, intermediates) = peer_chain(ders).map_err(refused)?;
    let now = now.ok_or(
        "certificate validity check failed: the wall-clock time is unknown (the embedder \
         never called Endpoint::set_wall_clock)",
    )?;
    c.trust
        .verify(provider, &ee, &intermediates, now)
        .map_err(refused)?;
    if !c.allow_id_mismatch {
        let id = peer.as_peer_identity().ok_or_else(|| {
            format!("certificate identity check failed: peer ID {peer} is of a type no certificate names")
        })?;
        check_identity(&ee, id, c.field).map_err(refused)?;
    }
    let key = ee.key_type().map_err(refused)?;
    let (scheme, signature) = match classic {
        Some(s) => (s, auth.data.as_slice()),
        None => {
            let len = usize::from(*auth.data.first().unwrap_or(&0));
            let (alg, sig) = auth
                .data
                .get(1..)
                .filter(|rest| rest.len() >= len)
                .map(|rest| rest.split_at(len))
                .ok_or("auth method check failed: method 14 AUTH data shorter than its AlgorithmIdentifier")?;
            let s = SignatureScheme::from_algorithm_identifier(alg, key)
                .filter(|s| s.hash() != HashAlgorithmId::SHA1)
                .ok_or_else(|| {
                    format!(
                        "auth method check failed: the peer's signature algorithm ({} octets of \
                         AlgorithmIdentifier) is not one we accept with its {key} key",
                        alg.len()
                    )
                })?;
            (s, sig)
        }
    };
    if scheme.key_type() != key {
        return Err(format!(
            "auth method check failed: the peer signs with {method} ({scheme}) but its \
             certificate \"{}\" holds an {key} key",
            ee.subject()
        ));
    }
    let algorithm = provider.signature(scheme).ok_or_else(|| {
        format!("auth method check failed: the crypto provider does not verify {scheme}")
    })?;
    let encoding = match classic {
        Some(_) => SignatureScheme::encoding_for_auth_method(method.0),
        None => SignatureEncoding::Der,
    };
    algorithm
        .verify(ee.public_key(), octets, signature, encoding)
        .map_err(|_| {
            format!(
                "AUTH signature check failed: the {scheme} signature of {peer} does not verify \
                 with the key of certificate \"{}\"",
                ee.subject()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ExchangeType, Flags, Header};
    use ipsec_core::crypto::default_provider;
    use ipsec_core::pki::{Certificate, LocalCredential, TrustStore};

    fn fixture(kind: &str, name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../testdata/pki/{kind}/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).expect("fixture")
    }

    fn cert(kind: &str, name: &str) -> Certificate {
        Certificate::from_pem_or_der(&fixture(kind, &format!("{name}.crt")))
            .expect("certificate")
            .remove(0)
    }

    /// Right's view: branch's credential, trusting the root.
    fn ours(kind: &str) -> CertificateAuth {
        let key = String::from_utf8(fixture(kind, "branch.key")).unwrap();
        let key = ipsec_core::crypto::PrivateKeyDer::from_pem(&key).unwrap();
        let cred =
            LocalCredential::new(&default_provider(), vec![cert(kind, "branch")], key).unwrap();
        CertificateAuth::new(cred, TrustStore::new(vec![cert(kind, "root-ca")]))
    }

    /// A message from hq with `certs` and an AUTH of `method` with `data`.
    fn from_hq(certs: Vec<Vec<u8>>, method: u8, data: Vec<u8>) -> (Identity, Message, Auth) {
        let mut payloads: Vec<Payload> = certs
            .into_iter()
            .map(|data| {
                Payload::Cert(Cert {
                    encoding: CertEncoding::X509_SIGNATURE,
                    data,
                })
            })
            .collect();
        let auth = Auth {
            method: AuthMethod(method),
            data,
        };
        payloads.push(Payload::Auth(auth.clone()));
        let header = Header::new(1, 2, ExchangeType::IKE_AUTH, Flags::new(true, false), 1);
        let id = Identity::Fqdn("hq.example.net".into());
        (id, Message { header, payloads }, auth)
    }

    fn check(kind: &str, certs: Vec<Vec<u8>>, method: u8, data: Vec<u8>) -> String {
        let (id, msg, auth) = from_hq(certs, method, data);
        let now = Some(UnixTime::from_secs(1_893_456_000));
        verify(
            &default_provider(),
            &ours(kind),
            now,
            (&id, &msg, &auth),
            b"octets",
        )
        .expect_err("refused")
    }

    fn hq_chain(kind: &str) -> Vec<Vec<u8>> {
        vec![
            cert(kind, "hq").der().to_vec(),
            cert(kind, "intermediate-ca").der().to_vec(),
        ]
    }

    #[test]
    fn no_or_garbage_certificates() {
        let e = check("ecdsa-p256", vec![], 14, vec![0; 80]);
        assert!(e.starts_with("certificate syntax check failed: the peer sent no certificate"));
        let e = check(
            "ecdsa-p256",
            vec![vec![0x30, 0x03, 1, 2, 3]],
            9,
            vec![0; 64],
        );
        assert!(
            e.starts_with("certificate syntax check failed: not an X.509"),
            "{e}"
        );
        // A CERT of another encoding (a CRL, hash and URL) is not the peer's certificate.
        let (id, mut msg, auth) = from_hq(hq_chain("ecdsa-p256"), 9, vec![0; 64]);
        for p in &mut msg.payloads {
            if let Payload::Cert(c) = p {
                c.encoding = CertEncoding::CRL;
            }
        }
        let now = Some(UnixTime::from_secs(1_893_456_000));
        let e = verify(
            &default_provider(),
            &ours("ecdsa-p256"),
            now,
            (&id, &msg, &auth),
            b"x",
        )
        .unwrap_err();
        assert!(e.contains("sent no certificate"), "{e}");
    }

    #[test]
    fn auth_methods_that_do_not_fit() {
        // DSS and NULL authentication are not signatures we verify.
        for m in [2, 3, 13] {
            let e = check("ecdsa-p256", hq_chain("ecdsa-p256"), m, vec![0; 64]);
            assert!(
                e.starts_with("auth method check failed: the peer uses"),
                "{e}"
            );
        }
        // Method 10 is ECDSA on P-384; hq's key is P-256.
        let e = check("ecdsa-p256", hq_chain("ecdsa-p256"), 10, vec![0; 96]);
        assert!(e.contains("holds an ECDSA P-256 key"), "{e}");
        // Method 1 (RSA) with an Ed25519 certificate.
        let e = check("ed25519", hq_chain("ed25519"), 1, vec![0; 64]);
        assert!(e.starts_with("auth method check failed"), "{e}");
    }

    #[test]
    fn method_14_data_that_does_not_fit() {
        let kind = "ecdsa-p256";
        // Empty, and a length beyond the data.
        for data in [vec![], vec![40, 0x30, 0x0a]] {
            let e = check(kind, hq_chain(kind), 14, data);
            assert!(e.contains("shorter than its AlgorithmIdentifier"), "{e}");
        }
        // ecdsa-with-SHA384 with a P-256 key, RSA PKCS#1 v1.5 SHA-1 (never by method 14), junk.
        for alg in [
            SignatureScheme::EcdsaP384Sha384.algorithm_identifier(),
            SignatureScheme::RsaPkcs1Sha1.algorithm_identifier(),
            &[0x30, 0x03, 0x06, 0x01, 0x00][..],
        ] {
            let mut data = vec![u8::try_from(alg.len()).unwrap()];
            data.extend_from_slice(alg);
            data.extend_from_slice(&[0; 70]);
            let e = check(kind, hq_chain(kind), 14, data);
            assert!(
                e.contains("is not one we accept with its ECDSA P-256 key"),
                "{e}"
            );
        }
        let e = check("rsa", hq_chain("rsa"), 14, {
            let alg = SignatureScheme::RsaPkcs1Sha1.algorithm_identifier();
            let mut d = vec![u8::try_from(alg.len()).unwrap()];
            d.extend_from_slice(alg);
            d.extend_from_slice(&[0; 384]);
            d
        });
        assert!(e.contains("is not one we accept with its RSA key"), "{e}");
    }

    #[test]
    fn a_signature_over_other_octets() {
        // A real signature by hq's key, over other octets than the ones checked.
        let kind = "ecdsa-p256";
        let key = String::from_utf8(fixture(kind, "hq.key")).unwrap();
        let key = ipsec_core::crypto::PrivateKeyDer::from_pem(&key).unwrap();
        let p = default_provider();
        let signer = p
            .signature(SignatureScheme::EcdsaP256Sha256)
            .unwrap()
            .signing_key(&key)
            .unwrap();
        let sig = signer
            .sign(b"other octets", SignatureEncoding::P1363, p.random)
            .unwrap();
        let e = check(kind, hq_chain(kind), 9, sig.clone());
        assert!(e.starts_with("AUTH signature check failed"), "{e}");
        // Over the right octets it verifies.
        let sig = signer
            .sign(b"octets", SignatureEncoding::P1363, p.random)
            .unwrap();
        let (id, msg, auth) = from_hq(hq_chain(kind), 9, sig);
        let now = Some(UnixTime::from_secs(1_893_456_000));
        verify(&p, &ours(kind), now, (&id, &msg, &auth), b"octets").unwrap();
    }

    #[test]
    fn hashes_announced() {
        let p = default_provider();
        assert_eq!(
            our_hashes(&p),
            [
                HashAlgorithmId::SHA2_256,
                HashAlgorithmId::SHA2_384,
                HashAlgorithmId::SHA2_512,
                HashAlgorithmId::IDENTITY
            ]
        );
    }
}
