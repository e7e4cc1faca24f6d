//! Test-only algorithms over RustCrypto crates, for known-answer tests that must not wait on the
//! default provider.

use ipsec_core::crypto::{PrfAlgorithm, PrfId};

/// PRF_HMAC_SHA2_256.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HmacSha256;

impl PrfAlgorithm for HmacSha256 {
    fn id(&self) -> PrfId {
        PrfId::PRF_HMAC_SHA2_256
    }
    fn output_len(&self) -> usize {
        32
    }
    fn prf(&self, key: &[u8], data: &[&[u8]], out: &mut [u8]) {
        use hmac::{Hmac, Mac};
        let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
        for d in data {
            m.update(d);
        }
        out.copy_from_slice(&m.finalize().into_bytes());
    }
}
