//! Digital signatures for IKEv2 authentication: the schemes, their identifiers on the wire, and
//! the provider traits that sign and verify.
//!
//! IKEv2 carries signatures in two ways (RFC 7296 section 3.8):
//!
//! - **method 14, Digital Signature** (RFC 7427): the AUTH data starts with the signature
//!   algorithm's ASN.1 `AlgorithmIdentifier` ([`SignatureScheme::algorithm_identifier`],
//!   [`SignatureScheme::from_algorithm_identifier`]); ECDSA signatures are DER `Ecdsa-Sig-Value`s
//!   ([`SignatureEncoding::Der`]). Peers announce the hashes they accept in a
//!   SIGNATURE_HASH_ALGORITHMS notify ([`HashAlgorithmId`], RFC 7427 section 4).
//! - **the classic methods**: 1 (RSA PKCS#1 v1.5, which IKEv2 always used with SHA-1, RFC 7427
//!   section 1) and 9, 10, 11 (ECDSA with SHA-256 on P-256, SHA-384 on P-384, SHA-512 on P-521,
//!   RFC 4754), whose ECDSA signatures are `r || s` ([`SignatureEncoding::P1363`]).
//!
//! A provider implements each scheme as a `&'static dyn` [`SignatureAlgorithm`] in
//! [`crate::crypto::CryptoProvider::signatures`]: it verifies with a public key taken from a
//! certificate and loads private keys ([`PrivateKeyDer`]) into [`SigningKey`]s that zeroize on drop.

use core::fmt;

use der::{Decode, Encode, Tagged};
use zeroize::Zeroizing;

use super::{CryptoError, SecretBytes, SecureRandom};

crate::iana_registry! {
    /// "IKEv2 Hash Algorithms", the values of the SIGNATURE_HASH_ALGORITHMS notify (RFC 7427
    /// section 7, RFC 8420 section 2 for Identity).
    pub struct HashAlgorithmId(u16) {
        /// SHA-1 (RFC 8247 forbids it for new signatures).
        SHA1 = 1,
        /// SHA2-256.
        SHA2_256 = 2,
        /// SHA2-384.
        SHA2_384 = 3,
        /// SHA2-512.
        SHA2_512 = 4,
        /// No hash: the signature algorithm takes the whole message (Ed25519, RFC 8420).
        IDENTITY = 5,
    }
}

/// The kind of key a scheme needs, as read from a certificate's SubjectPublicKeyInfo or a
/// private key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA (`rsaEncryption`).
    Rsa,
    /// ECDSA on P-256 (secp256r1).
    EcdsaP256,
    /// ECDSA on P-384 (secp384r1).
    EcdsaP384,
    /// ECDSA on P-521 (secp521r1).
    EcdsaP521,
    /// Ed25519 (RFC 8410).
    Ed25519,
}

impl KeyType {
    /// A short name for log lines (`ECDSA P-256`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::EcdsaP256 => "ECDSA P-256",
            KeyType::EcdsaP384 => "ECDSA P-384",
            KeyType::EcdsaP521 => "ECDSA P-521",
            KeyType::Ed25519 => "Ed25519",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an ECDSA signature is laid out; RSA and Ed25519 signatures are the same in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureEncoding {
    /// ASN.1 DER `Ecdsa-Sig-Value` (X.509 certificates, RFC 7427 method 14).
    Der,
    /// `r || s`, each padded to the field length (IEEE P1363; RFC 4754 methods 9-11).
    P1363,
}

/// A signature scheme: key type, padding and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// RSASSA-PKCS1-v1_5 with SHA-1: only for auth method 1 with peers that know nothing else.
    RsaPkcs1Sha1,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, a 32-octet salt.
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, a 48-octet salt.
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512, MGF1-SHA-512, a 64-octet salt.
    RsaPssSha512,
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256Sha256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384Sha384,
    /// ECDSA on P-521 with SHA-512.
    EcdsaP521Sha512,
    /// Ed25519 (RFC 8032, pure: the message is not hashed first).
    Ed25519,
}

// RFC 7427 Appendix A (and RFC 8420 section 2 for Ed25519): the DER AlgorithmIdentifiers sent in
// the AUTH payload of method 14. PKCS#1 v1.5 identifiers carry a NULL parameter; ECDSA and
// Ed25519 identifiers carry none; RSASSA-PSS carries its hash, MGF1 hash and salt length.
const ALG_RSA_PKCS1_SHA1: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
];
const ALG_RSA_PKCS1_SHA256: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];
const ALG_RSA_PKCS1_SHA384: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00,
];
const ALG_RSA_PKCS1_SHA512: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00,
];
const ALG_ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];
const ALG_ECDSA_SHA384: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
];
const ALG_ECDSA_SHA512: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04,
];
const ALG_ED25519: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];

/// RSASSA-PSS AlgorithmIdentifier for a SHA-2 hash whose OID ends in `h` (1, 2, 3 for SHA-256,
/// -384, -512) and a salt of `salt` octets (RFC 4055 section 3.1, RFC 7427 Appendix A.4).
const fn alg_rsa_pss(h: u8, salt: u8) -> [u8; 67] {
    [
        0x30, 0x41, // AlgorithmIdentifier
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, // id-RSASSA-PSS
        0x30, 0x34, // RSASSA-PSS-params
        0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, h,
        0x05, 0x00, // [0] hashAlgorithm
        0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08,
        0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, h, 0x05,
        0x00, // [1] maskGenAlgorithm: MGF1 with the same hash
        0xa2, 0x03, 0x02, 0x01, salt, // [2] saltLength
    ]
}
const ALG_RSA_PSS_SHA256: &[u8] = &alg_rsa_pss(1, 32);
const ALG_RSA_PSS_SHA384: &[u8] = &alg_rsa_pss(2, 48);
const ALG_RSA_PSS_SHA512: &[u8] = &alg_rsa_pss(3, 64);

const OID_RSA_PSS: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_MGF1: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const OID_SHA256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SHA384: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const OID_SHA512: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

impl SignatureScheme {
    /// Every scheme, strongest first within each key type.
    pub const ALL: [SignatureScheme; 11] = [
        SignatureScheme::RsaPssSha256,
        SignatureScheme::RsaPssSha384,
        SignatureScheme::RsaPssSha512,
        SignatureScheme::RsaPkcs1Sha256,
        SignatureScheme::RsaPkcs1Sha384,
        SignatureScheme::RsaPkcs1Sha512,
        SignatureScheme::RsaPkcs1Sha1,
        SignatureScheme::EcdsaP256Sha256,
        SignatureScheme::EcdsaP384Sha384,
        SignatureScheme::EcdsaP521Sha512,
        SignatureScheme::Ed25519,
    ];

    /// The hash announced in SIGNATURE_HASH_ALGORITHMS for this scheme.
    pub fn hash(self) -> HashAlgorithmId {
        use SignatureScheme::*;
        match self {
            RsaPkcs1Sha1 => HashAlgorithmId::SHA1,
            RsaPkcs1Sha256 | RsaPssSha256 | EcdsaP256Sha256 => HashAlgorithmId::SHA2_256,
            RsaPkcs1Sha384 | RsaPssSha384 | EcdsaP384Sha384 => HashAlgorithmId::SHA2_384,
            RsaPkcs1Sha512 | RsaPssSha512 | EcdsaP521Sha512 => HashAlgorithmId::SHA2_512,
            Ed25519 => HashAlgorithmId::IDENTITY,
        }
    }

    /// The key type the scheme signs with.
    pub fn key_type(self) -> KeyType {
        use SignatureScheme::*;
        match self {
            RsaPkcs1Sha1 | RsaPkcs1Sha256 | RsaPkcs1Sha384 | RsaPkcs1Sha512 | RsaPssSha256
            | RsaPssSha384 | RsaPssSha512 => KeyType::Rsa,
            EcdsaP256Sha256 => KeyType::EcdsaP256,
            EcdsaP384Sha384 => KeyType::EcdsaP384,
            EcdsaP521Sha512 => KeyType::EcdsaP521,
            Ed25519 => KeyType::Ed25519,
        }
    }

    /// The DER `AlgorithmIdentifier` that starts method 14's AUTH data (RFC 7427 section 3,
    /// Appendix A; RFC 8420 section 2). The AUTH data is its length in one octet, these bytes,
    /// then the signature.
    pub fn algorithm_identifier(self) -> &'static [u8] {
        use SignatureScheme::*;
        match self {
            RsaPkcs1Sha1 => ALG_RSA_PKCS1_SHA1,
            RsaPkcs1Sha256 => ALG_RSA_PKCS1_SHA256,
            RsaPkcs1Sha384 => ALG_RSA_PKCS1_SHA384,
            RsaPkcs1Sha512 => ALG_RSA_PKCS1_SHA512,
            RsaPssSha256 => ALG_RSA_PSS_SHA256,
            RsaPssSha384 => ALG_RSA_PSS_SHA384,
            RsaPssSha512 => ALG_RSA_PSS_SHA512,
            EcdsaP256Sha256 => ALG_ECDSA_SHA256,
            EcdsaP384Sha384 => ALG_ECDSA_SHA384,
            EcdsaP521Sha512 => ALG_ECDSA_SHA512,
            Ed25519 => ALG_ED25519,
        }
    }

    /// The scheme a peer's `AlgorithmIdentifier` names, given the key type of its certificate
    /// (ecdsa-with-SHA256 names a hash, not a curve). PKCS#1 v1.5 identifiers are accepted with
    /// a NULL parameter or none; RSASSA-PSS only with MGF1 on the same hash and a salt as long
    /// as the hash (what RFC 8017 recommends and strongSwan sends). `None` for anything else.
    pub fn from_algorithm_identifier(der: &[u8], key: KeyType) -> Option<SignatureScheme> {
        let alg = spki::AlgorithmIdentifierRef::from_der(der).ok()?;
        let null_or_none = alg.parameters.is_none()
            || alg
                .parameters
                .is_some_and(|p| p.tag() == der::Tag::Null && p.value().is_empty());
        let scheme = if alg.oid == OID_RSA_PSS {
            pss_scheme(alg.parameters?.to_der().ok()?.as_slice())?
        } else {
            let s = SignatureScheme::ALL.into_iter().find(|s| {
                spki::AlgorithmIdentifierRef::from_der(s.algorithm_identifier())
                    .is_ok_and(|ours| ours.oid == alg.oid)
            })?;
            // PKCS#1 v1.5 identifiers may carry NULL or nothing; the others must carry nothing.
            let params_ok = if s.key_type() == KeyType::Rsa {
                null_or_none
            } else {
                alg.parameters.is_none()
            };
            params_ok.then_some(s)?
        };
        (scheme.key_type() == key).then_some(scheme)
    }

    /// The classic auth method that carries this scheme without an AlgorithmIdentifier: 1 for
    /// RSA PKCS#1 v1.5 with SHA-1 (RFC 7296 section 3.8), 9, 10, 11 for ECDSA (RFC 4754).
    pub fn classic_auth_method(self) -> Option<u8> {
        match self {
            SignatureScheme::RsaPkcs1Sha1 => Some(1),
            SignatureScheme::EcdsaP256Sha256 => Some(9),
            SignatureScheme::EcdsaP384Sha384 => Some(10),
            SignatureScheme::EcdsaP521Sha512 => Some(11),
            _ => None,
        }
    }

    /// The scheme of classic auth method `method` (1, 9, 10, 11).
    pub fn from_classic_auth_method(method: u8) -> Option<SignatureScheme> {
        SignatureScheme::ALL
            .into_iter()
            .find(|s| s.classic_auth_method() == Some(method))
    }

    /// How the signature bytes are laid out in an AUTH payload of `method`: `r || s` for the
    /// RFC 4754 methods 9-11, DER otherwise.
    pub fn encoding_for_auth_method(method: u8) -> SignatureEncoding {
        if (9..=11).contains(&method) {
            SignatureEncoding::P1363
        } else {
            SignatureEncoding::Der
        }
    }

    /// The name used in logs (`ecdsa-with-sha256`, `rsassa-pss-sha384`).
    pub fn as_str(self) -> &'static str {
        use SignatureScheme::*;
        match self {
            RsaPkcs1Sha1 => "sha1WithRSAEncryption",
            RsaPkcs1Sha256 => "sha256WithRSAEncryption",
            RsaPkcs1Sha384 => "sha384WithRSAEncryption",
            RsaPkcs1Sha512 => "sha512WithRSAEncryption",
            RsaPssSha256 => "rsassa-pss-sha256",
            RsaPssSha384 => "rsassa-pss-sha384",
            RsaPssSha512 => "rsassa-pss-sha512",
            EcdsaP256Sha256 => "ecdsa-with-sha256 (P-256)",
            EcdsaP384Sha384 => "ecdsa-with-sha384 (P-384)",
            EcdsaP521Sha512 => "ecdsa-with-sha512 (P-521)",
            Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for SignatureScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The PSS scheme whose DER RSASSA-PSS-params are `params`: MGF1 over the same SHA-2 hash, a salt
/// as long as the hash, the default trailer.
fn pss_scheme(params: &[u8]) -> Option<SignatureScheme> {
    let p = pkcs1::RsaPssParams::from_der(params).ok()?;
    let (scheme, len) = match p.hash.oid {
        o if o == OID_SHA256 => (SignatureScheme::RsaPssSha256, 32),
        o if o == OID_SHA384 => (SignatureScheme::RsaPssSha384, 48),
        o if o == OID_SHA512 => (SignatureScheme::RsaPssSha512, 64),
        _ => return None,
    };
    let mgf_ok =
        p.mask_gen.oid == OID_MGF1 && p.mask_gen.parameters.is_some_and(|h| h.oid == p.hash.oid);
    let trailer_ok = p.trailer_field == pkcs1::TrailerField::BC;
    (mgf_ok && usize::from(p.salt_len) == len && trailer_ok).then_some(scheme)
}

/// A private key as read from a PEM file, in one of the three encodings `pki`, OpenSSL and
/// PAN-OS exports use. The bytes zeroize on drop and never print.
#[derive(Clone, PartialEq, Eq)]
pub enum PrivateKeyDer {
    /// PKCS#8 `PrivateKeyInfo` (`-----BEGIN PRIVATE KEY-----`): RSA, ECDSA or Ed25519.
    Pkcs8(SecretBytes),
    /// PKCS#1 `RSAPrivateKey` (`-----BEGIN RSA PRIVATE KEY-----`).
    Pkcs1(SecretBytes),
    /// SEC1 `ECPrivateKey` (`-----BEGIN EC PRIVATE KEY-----`).
    Sec1(SecretBytes),
}

impl fmt::Debug for PrivateKeyDer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            PrivateKeyDer::Pkcs8(_) => "Pkcs8",
            PrivateKeyDer::Pkcs1(_) => "Pkcs1",
            PrivateKeyDer::Sec1(_) => "Sec1",
        };
        write!(f, "PrivateKeyDer::{kind}(redacted)")
    }
}

/// Why a PEM private key could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrivateKeyError {
    /// The text holds no PEM block, or a malformed one.
    #[error("not a PEM private key")]
    NotPem,
    /// The key is encrypted with a passphrase.
    #[error("the key is encrypted; store it unencrypted in a file only the daemon can read")]
    Encrypted,
    /// A PEM block with another label (a certificate, a public key).
    #[error("PEM block \"{0}\" is not a private key")]
    WrongLabel(String),
    /// The DER inside does not decode as the label says.
    #[error("the {0} key does not decode")]
    Malformed(&'static str),
    /// A key type no scheme here uses (DSA, X25519, Ed448, another curve).
    #[error("unsupported key type: {0}")]
    UnsupportedType(String),
}

impl PrivateKeyDer {
    /// Reads the first private key in PEM `text`, skipping other blocks (OpenSSL's
    /// `EC PARAMETERS`). Intermediate buffers are zeroized.
    pub fn from_pem(text: &str) -> Result<PrivateKeyDer, PrivateKeyError> {
        let mut rest = text;
        let mut other = None;
        while let Some(start) = rest.find("-----BEGIN ") {
            let block = &rest[start..];
            let label_end = block[11..].find("-----").ok_or(PrivateKeyError::NotPem)? + 11;
            let label = &block[11..label_end];
            let end_marker = format!("-----END {label}-----");
            let end = block.find(&end_marker).ok_or(PrivateKeyError::NotPem)? + end_marker.len();
            let pem = &block[..end];
            rest = &block[end..];
            let wrap: fn(SecretBytes) -> PrivateKeyDer = match label {
                "PRIVATE KEY" => PrivateKeyDer::Pkcs8,
                "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1,
                "EC PRIVATE KEY" => PrivateKeyDer::Sec1,
                "ENCRYPTED PRIVATE KEY" => return Err(PrivateKeyError::Encrypted),
                "EC PARAMETERS" => continue,
                _ => {
                    other.get_or_insert_with(|| label.to_string());
                    continue;
                }
            };
            if pem.contains("Proc-Type: 4,ENCRYPTED") {
                return Err(PrivateKeyError::Encrypted);
            }
            let (_, der) = pem_rfc7468::decode_vec(pem.as_bytes())
                .map(|(l, v)| (l.to_string(), Zeroizing::new(v)))
                .map_err(|_| PrivateKeyError::NotPem)?;
            let key = wrap(SecretBytes::from_slice(&der));
            key.key_type()?;
            return Ok(key);
        }
        Err(other.map_or(PrivateKeyError::NotPem, PrivateKeyError::WrongLabel))
    }

    /// The DER bytes. Keep the borrow short and never log them.
    pub fn expose(&self) -> &[u8] {
        match self {
            PrivateKeyDer::Pkcs8(b) | PrivateKeyDer::Pkcs1(b) | PrivateKeyDer::Sec1(b) => {
                b.expose()
            }
        }
    }

    /// The key's type, read from its encoding (PKCS#8 algorithm and curve, SEC1 curve).
    pub fn key_type(&self) -> Result<KeyType, PrivateKeyError> {
        match self {
            PrivateKeyDer::Pkcs1(b) => pkcs1::RsaPrivateKey::from_der(b.expose())
                .map(|_| KeyType::Rsa)
                .map_err(|_| PrivateKeyError::Malformed("PKCS#1")),
            PrivateKeyDer::Sec1(b) => {
                let k = sec1::EcPrivateKey::from_der(b.expose())
                    .map_err(|_| PrivateKeyError::Malformed("SEC1"))?;
                match k.parameters.and_then(|p| p.named_curve()) {
                    Some(curve) => ec_key_type(&curve),
                    // Without parameters the curve follows from the scalar's length.
                    None => match k.private_key.len() {
                        32 => Ok(KeyType::EcdsaP256),
                        48 => Ok(KeyType::EcdsaP384),
                        66 => Ok(KeyType::EcdsaP521),
                        n => Err(PrivateKeyError::UnsupportedType(format!(
                            "EC key of {n} octets without a named curve"
                        ))),
                    },
                }
            }
            PrivateKeyDer::Pkcs8(b) => {
                let info = pkcs8::PrivateKeyInfo::from_der(b.expose())
                    .map_err(|_| PrivateKeyError::Malformed("PKCS#8"))?;
                key_type_of_algorithm(&info.algorithm).map_err(PrivateKeyError::UnsupportedType)
            }
        }
    }
}

pub(crate) const OID_RSA_ENCRYPTION: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub(crate) const OID_EC_PUBLIC_KEY: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(crate) const OID_ED25519: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_P256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.132.0.35");

fn ec_key_type(curve: &der::asn1::ObjectIdentifier) -> Result<KeyType, PrivateKeyError> {
    match *curve {
        c if c == OID_P256 => Ok(KeyType::EcdsaP256),
        c if c == OID_P384 => Ok(KeyType::EcdsaP384),
        c if c == OID_P521 => Ok(KeyType::EcdsaP521),
        c => Err(PrivateKeyError::UnsupportedType(format!("EC curve {c}"))),
    }
}

/// The key type named by a SubjectPublicKeyInfo's or PKCS#8's algorithm; the OID text otherwise.
pub fn key_type_of_algorithm(alg: &spki::AlgorithmIdentifierRef<'_>) -> Result<KeyType, String> {
    match alg.oid {
        o if o == OID_RSA_ENCRYPTION => Ok(KeyType::Rsa),
        o if o == OID_ED25519 => Ok(KeyType::Ed25519),
        o if o == OID_EC_PUBLIC_KEY => {
            let curve = alg
                .parameters_oid()
                .map_err(|_| "EC key without a named curve".to_string())?;
            ec_key_type(&curve).map_err(|e| e.to_string())
        }
        o => Err(format!("algorithm {o}")),
    }
}

/// One signature scheme of a provider: verification with a public key, and private keys loaded
/// for signing.
pub trait SignatureAlgorithm: Send + Sync + fmt::Debug {
    /// The scheme this implements.
    fn scheme(&self) -> SignatureScheme;

    /// Verifies `signature` over `message` (hashed here when the scheme hashes).
    ///
    /// `public_key` is the `subjectPublicKey` BIT STRING's content of the signer's certificate:
    /// a PKCS#1 `RSAPublicKey` for RSA, a SEC1 point for ECDSA, 32 octets for Ed25519 (the
    /// convention of rustls-webpki and ring). `encoding` matters for ECDSA only. Any failure,
    /// including a malformed key or signature, is [`CryptoError::SignatureInvalid`] or
    /// [`CryptoError::InvalidKey`].
    fn verify(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
        encoding: SignatureEncoding,
    ) -> Result<(), CryptoError>;

    /// Loads a private key for signing with this scheme. A key of another type, or an RSA key
    /// below 2048 bits (RFC 8247 section 3.2), is [`CryptoError::InvalidKey`].
    fn signing_key(&self, key: &PrivateKeyDer) -> Result<Box<dyn SigningKey>, CryptoError>;
}

/// A private key ready to sign with one scheme. Its secret zeroizes on drop.
pub trait SigningKey: Send + Sync + fmt::Debug {
    /// The scheme it signs with.
    fn scheme(&self) -> SignatureScheme;

    /// The matching public key, in the form [`SignatureAlgorithm::verify`] takes, to compare
    /// with a certificate's.
    fn public_key(&self) -> &[u8];

    /// Signs `message`. RSA draws blinding and PSS salt from `rng`; ECDSA nonces are derived
    /// deterministically (RFC 6979), so ECDSA and Ed25519 ignore it.
    fn sign(
        &self,
        message: &[u8],
        encoding: SignatureEncoding,
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, CryptoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_identifiers_match_the_rustls_pki_types_constants() {
        use rustls_pki_types::alg_id;
        let pairs = [
            (SignatureScheme::RsaPkcs1Sha256, alg_id::RSA_PKCS1_SHA256),
            (SignatureScheme::RsaPkcs1Sha384, alg_id::RSA_PKCS1_SHA384),
            (SignatureScheme::RsaPkcs1Sha512, alg_id::RSA_PKCS1_SHA512),
            (SignatureScheme::RsaPssSha256, alg_id::RSA_PSS_SHA256),
            (SignatureScheme::RsaPssSha384, alg_id::RSA_PSS_SHA384),
            (SignatureScheme::RsaPssSha512, alg_id::RSA_PSS_SHA512),
            (SignatureScheme::EcdsaP256Sha256, alg_id::ECDSA_SHA256),
            (SignatureScheme::EcdsaP384Sha384, alg_id::ECDSA_SHA384),
            (SignatureScheme::EcdsaP521Sha512, alg_id::ECDSA_SHA512),
            (SignatureScheme::Ed25519, alg_id::ED25519),
        ];
        for (s, contents) in pairs {
            let ours = s.algorithm_identifier();
            // Ours is the full SEQUENCE; theirs is its contents.
            assert_eq!(&ours[2..], contents.as_ref(), "{s}");
            assert_eq!(usize::from(ours[1]), ours.len() - 2, "{s}");
        }
    }

    #[test]
    fn algorithm_identifiers_round_trip() {
        for s in SignatureScheme::ALL {
            assert_eq!(
                SignatureScheme::from_algorithm_identifier(s.algorithm_identifier(), s.key_type()),
                Some(s),
                "{s}"
            );
        }
        // ecdsa-with-SHA256 with a P-384 key is not a scheme here; PKCS#1 without NULL is.
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(ALG_ECDSA_SHA256, KeyType::EcdsaP384),
            None
        );
        let no_null = [
            0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
        ];
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&no_null, KeyType::Rsa),
            Some(SignatureScheme::RsaPkcs1Sha256)
        );
        // A PSS salt other than the hash length is refused.
        let mut salt20 = ALG_RSA_PSS_SHA256.to_vec();
        *salt20.last_mut().unwrap() = 20;
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&salt20, KeyType::Rsa),
            None
        );
        // The RSA identifier with an RSA-less key, and garbage.
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(ALG_RSA_PKCS1_SHA256, KeyType::Ed25519),
            None
        );
        for junk in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65],
            &[0xff; 9],
        ] {
            assert_eq!(
                SignatureScheme::from_algorithm_identifier(junk, KeyType::Rsa),
                None
            );
        }
    }

    #[test]
    fn classic_methods() {
        assert_eq!(
            SignatureScheme::from_classic_auth_method(1),
            Some(SignatureScheme::RsaPkcs1Sha1)
        );
        assert_eq!(
            SignatureScheme::from_classic_auth_method(11),
            Some(SignatureScheme::EcdsaP521Sha512)
        );
        assert_eq!(SignatureScheme::from_classic_auth_method(14), None);
        assert_eq!(
            SignatureScheme::encoding_for_auth_method(10),
            SignatureEncoding::P1363
        );
        assert_eq!(
            SignatureScheme::encoding_for_auth_method(14),
            SignatureEncoding::Der
        );
    }

    #[test]
    fn private_key_pem_errors() {
        assert_eq!(
            PrivateKeyDer::from_pem("hello"),
            Err(PrivateKeyError::NotPem)
        );
        assert_eq!(
            PrivateKeyDer::from_pem(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
            ),
            Err(PrivateKeyError::WrongLabel("CERTIFICATE".into()))
        );
        assert_eq!(
            PrivateKeyDer::from_pem(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
            ),
            Err(PrivateKeyError::Encrypted)
        );
        assert_eq!(
            PrivateKeyDer::from_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            ),
            Err(PrivateKeyError::Malformed("PKCS#8"))
        );
        assert_eq!(
            PrivateKeyDer::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA"),
            Err(PrivateKeyError::NotPem)
        );
        let k = PrivateKeyDer::Pkcs8(SecretBytes::from_slice(b"secret"));
        assert_eq!(format!("{k:?}"), "PrivateKeyDer::Pkcs8(redacted)");
    }
}
