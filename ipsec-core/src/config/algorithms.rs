//! Algorithm names as PAN-OS spells them, and their IANA transform IDs. The spellings and key
//! lengths come from the one algorithm table, [`crate::crypto::algorithms`]; these enums are
//! how a configuration file names its rows.
//!
//! Beyond PAN-OS: `group31` (Curve25519, RFC 8031) and `chacha20-poly1305` (RFC 7634).

use crate::crypto::{algorithms, DhGroup, EncrId, Encryption, IntegId, PrfId};
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
    /// Every group, in the order of the IANA registry.
    pub const ALL: [DhGroupName; 10] = [
        DhGroupName::Group1,
        DhGroupName::Group2,
        DhGroupName::Group5,
        DhGroupName::Group14,
        DhGroupName::Group15,
        DhGroupName::Group16,
        DhGroupName::Group19,
        DhGroupName::Group20,
        DhGroupName::Group21,
        DhGroupName::Group31,
    ];

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

    /// The PAN-OS spelling (`group19`), from the algorithm table.
    pub fn as_str(self) -> &'static str {
        algorithms::group_of(self.dh_group()).map_or("", |g| g.name)
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PfsGroup {
    /// No additional key exchange in CREATE_CHILD_SA.
    NoPfs,
    /// A key exchange in this group with every CREATE_CHILD_SA.
    Group(DhGroupName),
}

/// The spellings `dh-group` accepts in an IPsec crypto profile.
const PFS_NAMES: &[&str] = &[
    "no-pfs", "group1", "group2", "group5", "group14", "group15", "group16", "group19", "group20",
    "group21", "group31",
];

impl PfsGroup {
    /// The group, `None` for `no-pfs`.
    pub fn group(self) -> Option<DhGroupName> {
        match self {
            PfsGroup::NoPfs => None,
            PfsGroup::Group(g) => Some(g),
        }
    }

    /// The PAN-OS spelling (`no-pfs`, `group19`).
    pub fn as_str(self) -> &'static str {
        self.group().map_or("no-pfs", DhGroupName::as_str)
    }

    /// The IANA key exchange method; `DhGroup::NONE` for `no-pfs`.
    pub fn dh_group(self) -> DhGroup {
        self.group().map_or(DhGroup::NONE, DhGroupName::dh_group)
    }
}

impl Serialize for PfsGroup {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PfsGroup {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        if name == "no-pfs" {
            return Ok(PfsGroup::NoPfs);
        }
        DhGroupName::ALL
            .iter()
            .find(|g| g.as_str() == name)
            .map(|g| PfsGroup::Group(*g))
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, PFS_NAMES))
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

    /// Key length of the HMAC in bytes (RFC 2403, 2404, 4868); 0 for `none`. From the
    /// algorithm table.
    pub fn key_len(self) -> usize {
        algorithms::mac_of(self.integrity()).map_or(0, |m| m.key_len)
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

    /// The PAN-OS spelling, from the algorithm table.
    pub fn as_str(self) -> &'static str {
        self.row().map_or("", |c| c.name)
    }

    /// Key length in bytes of a manual key for this cipher (without AEAD salt), from the
    /// algorithm table.
    pub fn key_len(self) -> usize {
        self.row().map_or(0, |c| c.key_len)
    }

    fn row(self) -> Option<&'static algorithms::Cipher> {
        algorithms::cipher_of(self.encryption())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde accepts is what the table (and so every log line) calls the algorithm.
    #[test]
    fn serde_names_are_the_table_names() {
        for g in DhGroupName::ALL {
            let toml = toml::Value::try_from(g).unwrap();
            assert_eq!(toml.as_str(), Some(g.as_str()));
            let pfs: PfsGroup = toml::Value::String(g.as_str().into()).try_into().unwrap();
            assert_eq!(pfs, PfsGroup::Group(g));
            assert!(PFS_NAMES.contains(&g.as_str()));
        }
        assert_eq!(PFS_NAMES.len(), DhGroupName::ALL.len() + 1);
        let none: PfsGroup = toml::Value::String("no-pfs".into()).try_into().unwrap();
        assert_eq!(none, PfsGroup::NoPfs);
        let bad: Result<PfsGroup, _> = toml::Value::String("group99".into()).try_into();
        assert!(bad.unwrap_err().to_string().contains("expected one of"));
        for c in [
            CipherName::Des,
            CipherName::TripleDes,
            CipherName::Aes128Cbc,
            CipherName::Aes192Cbc,
            CipherName::Aes256Cbc,
            CipherName::Aes128Ccm,
            CipherName::Aes128Gcm,
            CipherName::Aes256Gcm,
            CipherName::Chacha20Poly1305,
            CipherName::Null,
        ] {
            let toml = toml::Value::try_from(c).unwrap();
            assert_eq!(toml.as_str(), Some(c.as_str()), "{c:?}");
        }
    }
}
