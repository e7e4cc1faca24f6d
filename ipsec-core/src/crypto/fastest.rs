//! The mixed provider: each algorithm from the fastest implementation compiled in, the rest from
//! RustCrypto.
//!
//! A provider is a table of algorithms, so mixing is choosing, per transform, which table
//! answers. The order below comes from the benchmarks in this repository (`ipsec-core/benches/
//! crypto.rs` and `esp/benches/datapath.rs`, which print every provider side by side):
//!
//! | family | taken from, in order of preference | why |
//! |---|---|---|
//! | AEAD | *ring*, aws-lc-rs, RustCrypto | *ring*'s AES-GCM (VAES/AVX2) and ChaCha20-Poly1305 are the fastest measured |
//! | cipher | aws-lc-rs, RustCrypto | AES-CBC from AWS-LC; 3DES only in RustCrypto |
//! | integrity, PRF | aws-lc-rs, RustCrypto, *ring* | AWS-LC is as fast as *ring* and clears its HMAC states; MD5 only in RustCrypto |
//! | key exchange | aws-lc-rs, RustCrypto, *ring* | AWS-LC is the fastest and clears its keys, and its exchanges can be seeded; MODP only in RustCrypto |
//! | signature | aws-lc-rs, *ring*, RustCrypto | constant-time RSA (RustCrypto's is not: RUSTSEC-2023-0071); RSA with SHA-1 from RustCrypto, the only one that signs with it |
//!
//! *ring* comes last for key exchange because it cannot import or seed private keys and does not
//! clear them; it is still used when it is the only provider with a group.

use std::sync::OnceLock;

use super::{
    AeadAlgorithm, CipherAlgorithm, CryptoProvider, IntegrityAlgorithm, KeyExchangeGroup,
    PrfAlgorithm, SecureRandom, SignatureAlgorithm,
};

/// The tables of the mixed provider, built once.
struct Tables {
    aeads: Vec<&'static dyn AeadAlgorithm>,
    ciphers: Vec<&'static dyn CipherAlgorithm>,
    integrity: Vec<&'static dyn IntegrityAlgorithm>,
    prfs: Vec<&'static dyn PrfAlgorithm>,
    key_exchanges: Vec<&'static dyn KeyExchangeGroup>,
    signatures: Vec<&'static dyn SignatureAlgorithm>,
}

/// The entries of `sources`, in order, keeping only the first one for each transform.
fn merge<T: ?Sized, K: PartialEq>(
    sources: &[&[&'static T]],
    key: impl Fn(&T) -> K,
) -> Vec<&'static T> {
    let mut out: Vec<&'static T> = Vec::new();
    for entry in sources.iter().flat_map(|s| s.iter().copied()) {
        let k = key(entry);
        if !out.iter().any(|e| key(e) == k) {
            out.push(entry);
        }
    }
    out
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| Tables {
        aeads: merge(
            &[
                #[cfg(feature = "ring")]
                super::ring::ALL_AEADS,
                #[cfg(feature = "aws-lc-rs")]
                super::aws_lc_rs::ALL_AEADS,
                #[cfg(feature = "rust-crypto")]
                super::default::ALL_AEADS,
            ],
            |a| a.encryption(),
        ),
        ciphers: merge(
            &[
                #[cfg(feature = "aws-lc-rs")]
                super::aws_lc_rs::ALL_CIPHERS,
                #[cfg(feature = "rust-crypto")]
                super::default::ALL_CIPHERS,
                #[cfg(feature = "ring")]
                super::ring::ALL_CIPHERS,
            ],
            |c| c.encryption(),
        ),
        integrity: merge(
            &[
                #[cfg(feature = "aws-lc-rs")]
                super::aws_lc_rs::ALL_INTEGRITY,
                #[cfg(feature = "rust-crypto")]
                super::default::ALL_INTEGRITY,
                #[cfg(feature = "ring")]
                super::ring::ALL_INTEGRITY,
            ],
            |i| i.id(),
        ),
        prfs: merge(
            &[
                #[cfg(feature = "aws-lc-rs")]
                super::aws_lc_rs::ALL_PRFS,
                #[cfg(feature = "rust-crypto")]
                super::default::ALL_PRFS,
                #[cfg(feature = "ring")]
                super::ring::ALL_PRFS,
            ],
            |p| p.id(),
        ),
        key_exchanges: merge(
            &[
                #[cfg(feature = "aws-lc-rs")]
                super::aws_lc_rs::ALL_KEY_EXCHANGES,
                #[cfg(feature = "rust-crypto")]
                super::default::ALL_KEY_EXCHANGES,
                #[cfg(feature = "ring")]
                super::ring::ALL_KEY_EXCHANGES,
            ],
            |k| k.group(),
        ),
        signatures: merge(
            &[
                // Auth method 1 needs RSA with SHA-1 to sign, which only RustCrypto does.
                #[cfg(feature = "rust-crypto")]
                &[super::default::RSA_PKCS1_SHA1],
                #[cfg(feature = "aws-lc-rs")]
                super::aws_lc_rs::ALL_SIGNATURES,
                #[cfg(feature = "ring")]
                super::ring::ALL_SIGNATURES,
                #[cfg(feature = "rust-crypto")]
                super::default::ALL_SIGNATURES,
            ],
            |s| s.scheme(),
        ),
    })
}

/// The random source of the mixed provider: AWS-LC's DRBG if compiled in, else the operating
/// system's.
fn random() -> &'static dyn SecureRandom {
    #[cfg(feature = "aws-lc-rs")]
    {
        &super::aws_lc_rs::RANDOM
    }
    #[cfg(not(feature = "aws-lc-rs"))]
    {
        &super::random::OS_RANDOM
    }
}

/// The mixed provider: every transform any compiled-in provider has, each from the fastest
/// implementation (see the [module documentation](self) for the order and the reasons).
///
/// With only the default `rust-crypto` feature this is the same as
/// [`default_provider`](super::default_provider); enable `ring` and/or `aws-lc-rs` to speed it
/// up. The tables are built on the first call.
///
/// ```
/// use ipsec_core::crypto::{fastest_provider, DhGroup, EncrId, Encryption};
///
/// let provider = fastest_provider();
/// provider.consistency_check().unwrap();
/// let gcm = provider.aead(Encryption::new(EncrId::ENCR_AES_GCM_16, 128)).unwrap();
/// println!("AES-128-GCM from {gcm:?}");
/// # #[cfg(feature = "rust-crypto")]
/// assert!(provider.key_exchange(DhGroup::MODP_2048).is_some());
/// ```
pub fn fastest_provider() -> CryptoProvider {
    let t = tables();
    CryptoProvider {
        aeads: &t.aeads,
        ciphers: &t.ciphers,
        integrity: &t.integrity,
        prfs: &t.prfs,
        key_exchanges: &t.key_exchanges,
        signatures: &t.signatures,
        random: random(),
    }
}
