//! A crypto provider with no security, for tests and fuzzing only (the `no-security` feature):
//! it lets a fuzzer or a test past authentication to the parsers and checks behind it (rustls'
//! fuzzing provider is the model). Never use it for traffic.
//!
//! The AEAD is the identity cipher (announced as ENCR_AES_GCM_16-128: 16-byte key, 4-byte salt,
//! 8-byte IV) that seals with an all-zero tag; [`ZERO_TAG_AEAD`] opens only an all-zero tag (so a
//! mutated tag is still rejected), [`ANY_TAG_AEAD`] opens anything. The MAC (announced as
//! AUTH_HMAC_SHA2_256_128) signs with an all-zero ICV and accepts only that.

use super::{
    AeadAlgorithm, AeadKey, CryptoError, CryptoProvider, EncrId, Encryption, IntegId,
    IntegrityAlgorithm, IntegrityKey,
};

/// The identity "AEAD". With `require_zero_tag`, open accepts only an all-zero tag (so a mutated
/// tag is still rejected); without it, every tag passes.
#[derive(Debug)]
pub struct NoSecurityAead {
    require_zero_tag: bool,
}

/// Opens only packets whose tag is all zeros.
pub static ZERO_TAG_AEAD: NoSecurityAead = NoSecurityAead {
    require_zero_tag: true,
};
/// Opens everything.
pub static ANY_TAG_AEAD: NoSecurityAead = NoSecurityAead {
    require_zero_tag: false,
};

struct NoSecurityAeadKey {
    require_zero_tag: bool,
}

impl AeadAlgorithm for NoSecurityAead {
    fn encryption(&self) -> Encryption {
        Encryption::new(EncrId::ENCR_AES_GCM_16, 128)
    }
    fn key_len(&self) -> usize {
        16
    }
    fn salt_len(&self) -> usize {
        4
    }
    fn iv_len(&self) -> usize {
        8
    }
    fn tag_len(&self) -> usize {
        16
    }
    fn new_key(&self, _keymat: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError> {
        Ok(Box::new(NoSecurityAeadKey {
            require_zero_tag: self.require_zero_tag,
        }))
    }
}

impl AeadKey for NoSecurityAeadKey {
    fn seal_in_place(
        &self,
        _iv: &[u8],
        _aad: &[u8],
        _buf: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        tag.fill(0);
        Ok(())
    }
    fn open_in_place(
        &self,
        _iv: &[u8],
        _aad: &[u8],
        _buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        if !self.require_zero_tag || tag.iter().all(|b| *b == 0) {
            Ok(())
        } else {
            Err(CryptoError::IntegrityCheckFailed)
        }
    }
}

/// The all-zero-ICV "MAC".
#[derive(Debug)]
pub struct ZeroIcvMac;

struct ZeroIcvMacKey;

impl IntegrityAlgorithm for ZeroIcvMac {
    fn id(&self) -> IntegId {
        IntegId::AUTH_HMAC_SHA2_256_128
    }
    fn key_len(&self) -> usize {
        32
    }
    fn icv_len(&self) -> usize {
        16
    }
    fn new_key(&self, _key: &[u8]) -> Result<Box<dyn IntegrityKey>, CryptoError> {
        Ok(Box::new(ZeroIcvMacKey))
    }
}

impl IntegrityKey for ZeroIcvMacKey {
    fn sign(&self, _data: &[&[u8]], icv: &mut [u8]) {
        icv.fill(0);
    }
    fn verify(&self, _data: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        if icv.iter().all(|b| *b == 0) {
            Ok(())
        } else {
            Err(CryptoError::IntegrityCheckFailed)
        }
    }
}

static AEADS: &[&dyn AeadAlgorithm] = &[&ZERO_TAG_AEAD];
static MACS: &[&dyn IntegrityAlgorithm] = &[&ZeroIcvMac];

/// The default provider with its AEADs and integrity algorithms replaced by the no-security
/// ones (zero tags required); PRFs, key exchanges and the random source stay real, so an
/// endpoint on it negotiates as usual.
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        aeads: AEADS,
        integrity: MACS,
        ..super::default_provider()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_with_zero_tags_and_checks_them_as_told() {
        let k = ZERO_TAG_AEAD.new_key(&[0; 20]).unwrap();
        let mut buf = *b"plain";
        let mut tag = [9u8; 16];
        k.seal_in_place(&[0; 8], b"", &mut buf, &mut tag).unwrap();
        assert_eq!((&buf, tag), (b"plain", [0; 16]));
        assert!(k.open_in_place(&[0; 8], b"", &mut buf, &[0; 16]).is_ok());
        assert!(k.open_in_place(&[0; 8], b"", &mut buf, &[1; 16]).is_err());
        let any = ANY_TAG_AEAD.new_key(&[0; 20]).unwrap();
        assert!(any.open_in_place(&[0; 8], b"", &mut buf, &[1; 16]).is_ok());
        let mac = ZeroIcvMac.new_key(&[0; 32]).unwrap();
        let mut icv = [7u8; 16];
        mac.sign(&[b"x"], &mut icv);
        assert_eq!(icv, [0; 16]);
        assert!(mac.verify(&[b"x"], &[1; 16]).is_err());
        assert!(provider().consistency_check().is_ok());
    }
}
