//! IANA "Internet Key Exchange Version 2 (IKEv2) Parameters": transform types and transform IDs.

crate::iana_registry! {
    /// Transform type (RFC 7296 section 3.3.2).
    pub struct TransformType(u8) {
        /// Encryption algorithm.
        ENCR = 1,
        /// Pseudorandom function.
        PRF = 2,
        /// Integrity algorithm.
        INTEG = 3,
        /// Diffie-Hellman group (key exchange method).
        DH = 4,
        /// Extended sequence numbers.
        ESN = 5,
    }
}

crate::iana_registry! {
    /// Transform type 1: encryption algorithm IDs.
    pub struct EncrId(u16) {
        /// DES (insecure; recognised only to name it).
        ENCR_DES = 2,
        /// Triple DES in CBC mode (RFC 2451).
        ENCR_3DES = 3,
        /// No encryption, ESP only (RFC 2410).
        ENCR_NULL = 11,
        /// AES in CBC mode (RFC 3602).
        ENCR_AES_CBC = 12,
        /// AES in CTR mode (RFC 3686).
        ENCR_AES_CTR = 13,
        /// AES-CCM with an 8-octet ICV (RFC 4309).
        ENCR_AES_CCM_8 = 14,
        /// AES-CCM with a 12-octet ICV.
        ENCR_AES_CCM_12 = 15,
        /// AES-CCM with a 16-octet ICV.
        ENCR_AES_CCM_16 = 16,
        /// AES-GCM with an 8-octet ICV (RFC 4106).
        ENCR_AES_GCM_8 = 18,
        /// AES-GCM with a 12-octet ICV.
        ENCR_AES_GCM_12 = 19,
        /// AES-GCM with a 16-octet ICV (RFC 4106, RFC 5282).
        ENCR_AES_GCM_16 = 20,
        /// AES-GMAC, authentication only (RFC 4543).
        ENCR_NULL_AUTH_AES_GMAC = 21,
        /// ChaCha20-Poly1305 (RFC 7634).
        ENCR_CHACHA20_POLY1305 = 28,
    }
}

crate::iana_registry! {
    /// Transform type 2: pseudorandom function IDs.
    pub struct PrfId(u16) {
        /// HMAC-MD5 (RFC 2104).
        PRF_HMAC_MD5 = 1,
        /// HMAC-SHA1 (RFC 2104).
        PRF_HMAC_SHA1 = 2,
        /// AES-XCBC-PRF-128 (RFC 4434).
        PRF_AES128_XCBC = 4,
        /// HMAC-SHA-256 (RFC 4868).
        PRF_HMAC_SHA2_256 = 5,
        /// HMAC-SHA-384 (RFC 4868).
        PRF_HMAC_SHA2_384 = 6,
        /// HMAC-SHA-512 (RFC 4868).
        PRF_HMAC_SHA2_512 = 7,
        /// AES-CMAC-PRF-128 (RFC 4615).
        PRF_AES128_CMAC = 8,
    }
}

crate::iana_registry! {
    /// Transform type 3: integrity algorithm IDs.
    pub struct IntegId(u16) {
        /// No integrity algorithm (with AEAD ciphers).
        NONE = 0,
        /// HMAC-MD5 truncated to 96 bits (RFC 2403).
        AUTH_HMAC_MD5_96 = 1,
        /// HMAC-SHA1 truncated to 96 bits (RFC 2404).
        AUTH_HMAC_SHA1_96 = 2,
        /// AES-XCBC-MAC-96 (RFC 3566).
        AUTH_AES_XCBC_96 = 5,
        /// AES-128-GMAC (RFC 4543).
        AUTH_AES_128_GMAC = 9,
        /// AES-256-GMAC (RFC 4543).
        AUTH_AES_256_GMAC = 11,
        /// HMAC-SHA-256 truncated to 128 bits (RFC 4868).
        AUTH_HMAC_SHA2_256_128 = 12,
        /// HMAC-SHA-384 truncated to 192 bits (RFC 4868).
        AUTH_HMAC_SHA2_384_192 = 13,
        /// HMAC-SHA-512 truncated to 256 bits (RFC 4868).
        AUTH_HMAC_SHA2_512_256 = 14,
    }
}

crate::iana_registry! {
    /// Transform type 4: Diffie-Hellman group (key exchange method) IDs.
    pub struct DhGroup(u16) {
        /// No key exchange (no PFS in a Child SA).
        NONE = 0,
        /// 768-bit MODP (insecure; recognised only to name it).
        MODP_768 = 1,
        /// 1024-bit MODP (RFC 2409).
        MODP_1024 = 2,
        /// 1536-bit MODP (RFC 3526).
        MODP_1536 = 5,
        /// 2048-bit MODP (RFC 3526).
        MODP_2048 = 14,
        /// 3072-bit MODP (RFC 3526).
        MODP_3072 = 15,
        /// 4096-bit MODP (RFC 3526).
        MODP_4096 = 16,
        /// 6144-bit MODP (RFC 3526).
        MODP_6144 = 17,
        /// 8192-bit MODP (RFC 3526).
        MODP_8192 = 18,
        /// NIST P-256 (RFC 5903).
        ECP_256 = 19,
        /// NIST P-384 (RFC 5903).
        ECP_384 = 20,
        /// NIST P-521 (RFC 5903).
        ECP_521 = 21,
        /// Curve25519 (RFC 8031).
        CURVE25519 = 31,
        /// Curve448 (RFC 8031).
        CURVE448 = 32,
    }
}

crate::iana_registry! {
    /// Transform type 5: extended sequence numbers.
    pub struct EsnId(u16) {
        /// 32-bit sequence numbers.
        NO_ESN = 0,
        /// 64-bit extended sequence numbers (RFC 4303).
        ESN = 1,
    }
}

/// An encryption transform with its key length, as negotiated (`ENCR_AES_CBC` with 256-bit keys).
///
/// `key_bits` is the Key Length attribute (RFC 7296 section 3.3.5); `0` for fixed-length ciphers
/// (3DES, ChaCha20-Poly1305, NULL) that carry no attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Encryption {
    /// The transform ID.
    pub id: EncrId,
    /// The key length in bits, or 0 when the cipher has a fixed key length.
    pub key_bits: u16,
}

impl Encryption {
    /// An encryption transform.
    pub const fn new(id: EncrId, key_bits: u16) -> Self {
        Encryption { id, key_bits }
    }

    /// True for combined-mode (AEAD) ciphers, which take no separate integrity algorithm.
    pub fn is_aead(self) -> bool {
        matches!(
            self.id,
            EncrId::ENCR_AES_GCM_8
                | EncrId::ENCR_AES_GCM_12
                | EncrId::ENCR_AES_GCM_16
                | EncrId::ENCR_AES_CCM_8
                | EncrId::ENCR_AES_CCM_12
                | EncrId::ENCR_AES_CCM_16
                | EncrId::ENCR_CHACHA20_POLY1305
                | EncrId::ENCR_NULL_AUTH_AES_GMAC
        )
    }
}

impl core::fmt::Display for Encryption {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.key_bits == 0 {
            write!(f, "{}", self.id)
        } else {
            write!(f, "{}-{}", self.id, self.key_bits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_round_trip_and_print_as_numbers() {
        assert_eq!(EncrId::ENCR_AES_GCM_16.to_string(), "ENCR_AES_GCM_16");
        assert_eq!(EncrId(1234).to_string(), "1234");
        assert_eq!(format!("{:?}", DhGroup(99)), "DhGroup(99)");
        assert_eq!(u16::from(DhGroup::from(31u16)), 31);
        assert_eq!(DhGroup(31), DhGroup::CURVE25519);
        assert_eq!(
            Encryption::new(EncrId::ENCR_AES_CBC, 256).to_string(),
            "ENCR_AES_CBC-256"
        );
        assert!(Encryption::new(EncrId::ENCR_CHACHA20_POLY1305, 0).is_aead());
        assert!(!Encryption::new(EncrId::ENCR_AES_CBC, 128).is_aead());
    }
}
