//! Algorithm names as PAN-OS spells them, and their IANA transform IDs.
//!
//! Beyond PAN-OS: `group31` (Curve25519, RFC 8031) and `chacha20-poly1305` (RFC 7634).

use crate::crypto::{DhGroup, EncrId, Encryption, IntegId, PrfId};
use serde::{Deserialize, Serialize};

/// A Diffie-Hellman group name (`group19`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DhGroupName {
    /// 768-bit MODP (weak).
    Group1,
    /// 1024-bit MODP (weak; PAN-OS's default).
    Group2,
    /// 1536-bit MODP (weak).
    Group5,
    /// 2048-bit MODP.
    Group14,
    /// 3072-bit MODP.
    Group15,
    /// 4096-bit MODP.
    Group16,
    /// NIST P-256.
    Group19,
    /// NIST P-384.
    Group20,
    /// NIST P-521.
    Group21,
    /// Curve25519 (not in PAN-OS).
    Group31,
}

impl DhGroupName {
    /// The IANA key exchange method.
    pub fn dh_group(self) -> DhGroup {
        match self {
            DhGroupName::Group1 => DhGroup::MODP_768,
            DhGroupName::Group2 => DhGroup::MODP_1024,
            DhGroupName::Group5 => DhGroup::MODP_1536,
            DhGroupName::Group14 => DhGroup::MODP_2048,
            DhGroupName::Group15 => DhGroup::MODP_3072,
            DhGroupName::Group16 => DhGroup::MODP_4096,
            DhGroupName::Group19 => DhGroup::ECP_256,
            DhGroupName::Group20 => DhGroup::ECP_384,
            DhGroupName::Group21 => DhGroup::ECP_521,
            DhGroupName::Group31 => DhGroup::CURVE25519,
        }
    }

    /// The PAN-OS spelling (`group19`).
    pub fn as_str(self) -> &'static str {
        match self {
            DhGroupName::Group1 => "group1",
            DhGroupName::Group2 => "group2",
            DhGroupName::Group5 => "group5",
            DhGroupName::Group14 => "group14",
            DhGroupName::Group15 => "group15",
            DhGroupName::Group16 => "group16",
            DhGroupName::Group19 => "group19",
            DhGroupName::Group20 => "group20",
            DhGroupName::Group21 => "group21",
            DhGroupName::Group31 => "group31",
        }
    }

    /// Why the group is weak, if it is.
    pub fn weakness(self) -> Option<&'static str> {
        match self {
            DhGroupName::Group1 => Some("group1 (768-bit MODP) is broken"),
            DhGroupName::Group2 => Some("group2 (1024-bit MODP) is weak"),
            DhGroupName::Group5 => Some("group5 (1536-bit MODP) is weak"),
            _ => None,
        }
    }
}

/// The PFS group of an IPsec crypto profile: `no-pfs` or a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PfsGroup {
    /// No additional key exchange in CREATE_CHILD_SA.
    NoPfs,
    /// 768-bit MODP (weak).
    Group1,
    /// 1024-bit MODP (weak; PAN-OS's default).
    Group2,
    /// 1536-bit MODP (weak).
    Group5,
    /// 2048-bit MODP.
    Group14,
    /// 3072-bit MODP.
    Group15,
    /// 4096-bit MODP.
    Group16,
    /// NIST P-256.
    Group19,
    /// NIST P-384.
    Group20,
    /// NIST P-521.
    Group21,
    /// Curve25519 (not in PAN-OS).
    Group31,
}

impl PfsGroup {
    /// The group, `None` for `no-pfs`.
    pub fn group(self) -> Option<DhGroupName> {
        Some(match self {
            PfsGroup::NoPfs => return None,
            PfsGroup::Group1 => DhGroupName::Group1,
            PfsGroup::Group2 => DhGroupName::Group2,
            PfsGroup::Group5 => DhGroupName::Group5,
            PfsGroup::Group14 => DhGroupName::Group14,
            PfsGroup::Group15 => DhGroupName::Group15,
            PfsGroup::Group16 => DhGroupName::Group16,
            PfsGroup::Group19 => DhGroupName::Group19,
            PfsGroup::Group20 => DhGroupName::Group20,
            PfsGroup::Group21 => DhGroupName::Group21,
            PfsGroup::Group31 => DhGroupName::Group31,
        })
    }

    /// The PAN-OS spelling (`no-pfs`, `group19`).
    pub fn as_str(self) -> &'static str {
        match self.group() {
            None => "no-pfs",
            Some(g) => g.as_str(),
        }
    }

    /// The IANA key exchange method; `DhGroup::NONE` for `no-pfs`.
    pub fn dh_group(self) -> DhGroup {
        self.group().map_or(DhGroup::NONE, DhGroupName::dh_group)
    }
}

/// An IKE crypto profile `hash`: the PRF, and the integrity algorithm for non-AEAD ciphers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashName {
    /// No integrity algorithm; gives no PRF either.
    NonAuth,
    /// HMAC-MD5 (weak).
    Md5,
    /// HMAC-SHA1 (weak).
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-384.
    Sha384,
    /// HMAC-SHA-512.
    Sha512,
}

impl HashName {
    /// The PRF (RFC 7296 section 3.3.2), `None` for `non-auth`.
    pub fn prf(self) -> Option<PrfId> {
        match self {
            HashName::NonAuth => None,
            HashName::Md5 => Some(PrfId::PRF_HMAC_MD5),
            HashName::Sha1 => Some(PrfId::PRF_HMAC_SHA1),
            HashName::Sha256 => Some(PrfId::PRF_HMAC_SHA2_256),
            HashName::Sha384 => Some(PrfId::PRF_HMAC_SHA2_384),
            HashName::Sha512 => Some(PrfId::PRF_HMAC_SHA2_512),
        }
    }

    /// The integrity algorithm, `None` for `non-auth`.
    pub fn integrity(self) -> Option<IntegId> {
        match self {
            HashName::NonAuth => None,
            HashName::Md5 => Some(IntegId::AUTH_HMAC_MD5_96),
            HashName::Sha1 => Some(IntegId::AUTH_HMAC_SHA1_96),
            HashName::Sha256 => Some(IntegId::AUTH_HMAC_SHA2_256_128),
            HashName::Sha384 => Some(IntegId::AUTH_HMAC_SHA2_384_192),
            HashName::Sha512 => Some(IntegId::AUTH_HMAC_SHA2_512_256),
        }
    }

    /// Why the hash is weak, if it is.
    pub fn weakness(self) -> Option<&'static str> {
        match self {
            HashName::Md5 => Some("md5 is broken"),
            HashName::Sha1 => Some("sha1 is deprecated"),
            _ => None,
        }
    }
}

/// An IPsec crypto profile `authentication` (ESP integrity or AH).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthName {
    /// No integrity algorithm (with AEAD ciphers).
    None,
    /// HMAC-MD5-96 (weak).
    Md5,
    /// HMAC-SHA1-96 (weak).
    Sha1,
    /// HMAC-SHA-256-128.
    Sha256,
    /// HMAC-SHA-384-192.
    Sha384,
    /// HMAC-SHA-512-256.
    Sha512,
}

impl AuthName {
    /// The integrity transform (`IntegId::NONE` for `none`).
    pub fn integrity(self) -> IntegId {
        match self {
            AuthName::None => IntegId::NONE,
            AuthName::Md5 => IntegId::AUTH_HMAC_MD5_96,
            AuthName::Sha1 => IntegId::AUTH_HMAC_SHA1_96,
            AuthName::Sha256 => IntegId::AUTH_HMAC_SHA2_256_128,
            AuthName::Sha384 => IntegId::AUTH_HMAC_SHA2_384_192,
            AuthName::Sha512 => IntegId::AUTH_HMAC_SHA2_512_256,
        }
    }

    /// Key length of the HMAC in bytes (RFC 2403, 2404, 4868); 0 for `none`.
    pub fn key_len(self) -> usize {
        match self {
            AuthName::None => 0,
            AuthName::Md5 => 16,
            AuthName::Sha1 => 20,
            AuthName::Sha256 => 32,
            AuthName::Sha384 => 48,
            AuthName::Sha512 => 64,
        }
    }

    /// Why the algorithm is weak, if it is.
    pub fn weakness(self) -> Option<&'static str> {
        match self {
            AuthName::Md5 => Some("md5 is broken"),
            AuthName::Sha1 => Some("sha1 is deprecated"),
            _ => None,
        }
    }
}

/// An encryption algorithm name, for IKE and IPsec crypto profiles and manual keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CipherName {
    /// DES-CBC (broken; IKE and ESP).
    #[serde(rename = "des")]
    Des,
    /// 3DES-CBC (weak).
    #[serde(rename = "3des")]
    TripleDes,
    /// AES-128-CBC.
    #[serde(rename = "aes-128-cbc")]
    Aes128Cbc,
    /// AES-192-CBC.
    #[serde(rename = "aes-192-cbc")]
    Aes192Cbc,
    /// AES-256-CBC.
    #[serde(rename = "aes-256-cbc")]
    Aes256Cbc,
    /// AES-128-CCM with a 16-octet ICV (ESP only).
    #[serde(rename = "aes-128-ccm")]
    Aes128Ccm,
    /// AES-128-GCM with a 16-octet ICV.
    #[serde(rename = "aes-128-gcm")]
    Aes128Gcm,
    /// AES-256-GCM with a 16-octet ICV.
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
    /// ChaCha20-Poly1305 (RFC 7634; not in PAN-OS).
    #[serde(rename = "chacha20-poly1305")]
    Chacha20Poly1305,
    /// No encryption (ESP only, RFC 2410).
    #[serde(rename = "null")]
    Null,
}

impl CipherName {
    /// The IANA transform with its key length.
    pub fn encryption(self) -> Encryption {
        match self {
            CipherName::Des => Encryption::new(EncrId::ENCR_DES, 0),
            CipherName::TripleDes => Encryption::new(EncrId::ENCR_3DES, 0),
            CipherName::Aes128Cbc => Encryption::new(EncrId::ENCR_AES_CBC, 128),
            CipherName::Aes192Cbc => Encryption::new(EncrId::ENCR_AES_CBC, 192),
            CipherName::Aes256Cbc => Encryption::new(EncrId::ENCR_AES_CBC, 256),
            CipherName::Aes128Ccm => Encryption::new(EncrId::ENCR_AES_CCM_16, 128),
            CipherName::Aes128Gcm => Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
            CipherName::Aes256Gcm => Encryption::new(EncrId::ENCR_AES_GCM_16, 256),
            CipherName::Chacha20Poly1305 => Encryption::new(EncrId::ENCR_CHACHA20_POLY1305, 0),
            CipherName::Null => Encryption::new(EncrId::ENCR_NULL, 0),
        }
    }

    /// True for combined-mode ciphers, which need no separate integrity algorithm.
    pub fn is_aead(self) -> bool {
        self.encryption().is_aead()
    }

    /// The PAN-OS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CipherName::Des => "des",
            CipherName::TripleDes => "3des",
            CipherName::Aes128Cbc => "aes-128-cbc",
            CipherName::Aes192Cbc => "aes-192-cbc",
            CipherName::Aes256Cbc => "aes-256-cbc",
            CipherName::Aes128Ccm => "aes-128-ccm",
            CipherName::Aes128Gcm => "aes-128-gcm",
            CipherName::Aes256Gcm => "aes-256-gcm",
            CipherName::Chacha20Poly1305 => "chacha20-poly1305",
            CipherName::Null => "null",
        }
    }

    /// Key length in bytes of a manual key for this cipher (without AEAD salt).
    pub fn key_len(self) -> usize {
        match self {
            CipherName::Des => 8,
            CipherName::TripleDes => 24,
            CipherName::Aes128Cbc | CipherName::Aes128Ccm | CipherName::Aes128Gcm => 16,
            CipherName::Aes192Cbc => 24,
            CipherName::Aes256Cbc | CipherName::Aes256Gcm | CipherName::Chacha20Poly1305 => 32,
            CipherName::Null => 0,
        }
    }

    /// Why the cipher is weak, if it is.
    pub fn weakness(self) -> Option<&'static str> {
        match self {
            CipherName::Des => Some("des (56-bit key) is broken"),
            CipherName::TripleDes => Some("3des (64-bit block) is weak"),
            _ => None,
        }
    }
}

impl core::fmt::Display for CipherName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}
