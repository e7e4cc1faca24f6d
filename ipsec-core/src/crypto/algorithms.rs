//! The algorithms the project names, in one table: each row gives an algorithm's name as the
//! configuration spells it (`aes-256-gcm`, `sha256`, `group19`), its IANA transform and its key
//! lengths. The configuration model, log lines and key derivation read the same rows, so a name
//! or a length is written once.

use super::{DhGroup, EncrId, Encryption, IntegId, PrfId};

/// An encryption transform (RFC 7296 section 3.3.2, transform type 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cipher {
    /// The name in configurations and log lines.
    pub name: &'static str,
    /// The transform with its Key Length attribute.
    pub encryption: Encryption,
    /// Length of the cipher key in bytes.
    pub key_len: usize,
    /// Length of the salt IKE derives after the key, for AEADs (RFC 4106 section 8.1, RFC 4309
    /// section 7.1, RFC 7634 section 2); 0 otherwise.
    pub salt_len: usize,
}

impl Cipher {
    /// Key material IKE derives for it: the key, then the salt.
    pub const fn keymat_len(&self) -> usize {
        self.key_len + self.salt_len
    }
}

/// An integrity algorithm (transform type 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mac {
    /// The name in configurations and log lines.
    pub name: &'static str,
    /// The transform ID.
    pub id: IntegId,
    /// Key length in bytes.
    pub key_len: usize,
    /// Length of the truncated ICV in bytes.
    pub icv_len: usize,
}

/// A pseudorandom function (transform type 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prf {
    /// The name in configurations and log lines.
    pub name: &'static str,
    /// The transform ID.
    pub id: PrfId,
    /// Output length in bytes, also its preferred key length (RFC 7296 section 2.13).
    pub output_len: usize,
}

/// A key exchange method (transform type 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group {
    /// The name in configurations and log lines.
    pub name: &'static str,
    /// The transform ID.
    pub id: DhGroup,
}

const fn cipher(name: &'static str, id: EncrId, bits: u16, key_len: usize, salt: usize) -> Cipher {
    Cipher {
        name,
        encryption: Encryption::new(id, bits),
        key_len,
        salt_len: salt,
    }
}

/// Every encryption transform with a name.
pub static CIPHERS: &[Cipher] = &[
    cipher("des", EncrId::ENCR_DES, 0, 8, 0),
    cipher("3des", EncrId::ENCR_3DES, 0, 24, 0),
    cipher("aes-128-cbc", EncrId::ENCR_AES_CBC, 128, 16, 0),
    cipher("aes-192-cbc", EncrId::ENCR_AES_CBC, 192, 24, 0),
    cipher("aes-256-cbc", EncrId::ENCR_AES_CBC, 256, 32, 0),
    cipher("aes-128-ccm", EncrId::ENCR_AES_CCM_16, 128, 16, 3),
    cipher("aes-128-gcm", EncrId::ENCR_AES_GCM_16, 128, 16, 4),
    cipher("aes-256-gcm", EncrId::ENCR_AES_GCM_16, 256, 32, 4),
    cipher(
        "chacha20-poly1305",
        EncrId::ENCR_CHACHA20_POLY1305,
        0,
        32,
        4,
    ),
    cipher("null", EncrId::ENCR_NULL, 0, 0, 0),
];

/// Every integrity algorithm with a name; `none` goes with AEAD ciphers.
pub static MACS: &[Mac] = &[
    Mac {
        name: "none",
        id: IntegId::NONE,
        key_len: 0,
        icv_len: 0,
    },
    Mac {
        name: "md5",
        id: IntegId::AUTH_HMAC_MD5_96,
        key_len: 16,
        icv_len: 12,
    },
    Mac {
        name: "sha1",
        id: IntegId::AUTH_HMAC_SHA1_96,
        key_len: 20,
        icv_len: 12,
    },
    Mac {
        name: "sha256",
        id: IntegId::AUTH_HMAC_SHA2_256_128,
        key_len: 32,
        icv_len: 16,
    },
    Mac {
        name: "sha384",
        id: IntegId::AUTH_HMAC_SHA2_384_192,
        key_len: 48,
        icv_len: 24,
    },
    Mac {
        name: "sha512",
        id: IntegId::AUTH_HMAC_SHA2_512_256,
        key_len: 64,
        icv_len: 32,
    },
];

/// Every PRF with a name.
pub static PRFS: &[Prf] = &[
    Prf {
        name: "md5",
        id: PrfId::PRF_HMAC_MD5,
        output_len: 16,
    },
    Prf {
        name: "sha1",
        id: PrfId::PRF_HMAC_SHA1,
        output_len: 20,
    },
    Prf {
        name: "sha256",
        id: PrfId::PRF_HMAC_SHA2_256,
        output_len: 32,
    },
    Prf {
        name: "sha384",
        id: PrfId::PRF_HMAC_SHA2_384,
        output_len: 48,
    },
    Prf {
        name: "sha512",
        id: PrfId::PRF_HMAC_SHA2_512,
        output_len: 64,
    },
];

/// Every key exchange method with a name.
pub static GROUPS: &[Group] = &[
    Group {
        name: "group1",
        id: DhGroup::MODP_768,
    },
    Group {
        name: "group2",
        id: DhGroup::MODP_1024,
    },
    Group {
        name: "group5",
        id: DhGroup::MODP_1536,
    },
    Group {
        name: "group14",
        id: DhGroup::MODP_2048,
    },
    Group {
        name: "group15",
        id: DhGroup::MODP_3072,
    },
    Group {
        name: "group16",
        id: DhGroup::MODP_4096,
    },
    Group {
        name: "group19",
        id: DhGroup::ECP_256,
    },
    Group {
        name: "group20",
        id: DhGroup::ECP_384,
    },
    Group {
        name: "group21",
        id: DhGroup::ECP_521,
    },
    Group {
        name: "group31",
        id: DhGroup::CURVE25519,
    },
];

/// The row of `e`.
pub fn cipher_of(e: Encryption) -> Option<&'static Cipher> {
    CIPHERS.iter().find(|c| c.encryption == e)
}

/// The row of `id`.
pub fn mac_of(id: IntegId) -> Option<&'static Mac> {
    MACS.iter().find(|m| m.id == id)
}

/// The row of `id`.
pub fn prf_of(id: PrfId) -> Option<&'static Prf> {
    PRFS.iter().find(|p| p.id == id)
}

/// The row of `id`.
pub fn group_of(id: DhGroup) -> Option<&'static Group> {
    GROUPS.iter().find(|g| g.id == id)
}

/// The name of `e` for a log line: the table's, else the IANA name (`ENCR_AES_CTR-128`).
pub fn cipher_name(e: Encryption) -> String {
    cipher_of(e).map_or_else(|| e.to_string(), |c| c.name.to_owned())
}

/// The name of `id` for a log line: the table's, else the IANA name.
pub fn mac_name(id: IntegId) -> String {
    mac_of(id).map_or_else(|| id.to_string(), |m| m.name.to_owned())
}

/// The name of `id` for a log line: the table's, else the IANA name.
pub fn prf_name(id: PrfId) -> String {
    prf_of(id).map_or_else(|| id.to_string(), |p| p.name.to_owned())
}

/// The name of `id` for a log line: the table's (`no-pfs` for `DhGroup::NONE`, the PFS
/// setting that means no group), else `group<n>`.
pub fn group_name(id: DhGroup) -> String {
    if id == DhGroup::NONE {
        return "no-pfs".to_owned();
    }
    group_of(id).map_or_else(|| format!("group{}", id.0), |g| g.name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_are_unique() {
        for (i, c) in CIPHERS.iter().enumerate() {
            assert!(CIPHERS[..i]
                .iter()
                .all(|o| o.name != c.name && o.encryption != c.encryption));
            // AEADs carry a salt, and nothing else does.
            assert_eq!(c.encryption.is_aead(), c.salt_len != 0, "{}", c.name);
        }
        for (i, g) in GROUPS.iter().enumerate() {
            assert!(GROUPS[..i].iter().all(|o| o.name != g.name && o.id != g.id));
        }
        assert_eq!(
            cipher_of(Encryption::new(EncrId::ENCR_AES_GCM_16, 256))
                .unwrap()
                .keymat_len(),
            36
        );
        assert_eq!(mac_of(IntegId::AUTH_HMAC_SHA2_256_128).unwrap().key_len, 32);
        assert_eq!(prf_of(PrfId::PRF_HMAC_SHA2_384).unwrap().output_len, 48);
    }

    #[test]
    fn log_names_use_the_configuration_spelling() {
        assert_eq!(
            cipher_name(Encryption::new(EncrId::ENCR_AES_GCM_16, 256)),
            "aes-256-gcm"
        );
        assert_eq!(
            cipher_name(Encryption::new(EncrId::ENCR_AES_CTR, 128)),
            "ENCR_AES_CTR-128"
        );
        assert_eq!(mac_name(IntegId::AUTH_HMAC_SHA2_512_256), "sha512");
        assert_eq!(prf_name(PrfId(99)), "99");
        assert_eq!(group_name(DhGroup::CURVE25519), "group31");
        assert_eq!(group_name(DhGroup::NONE), "no-pfs");
        assert_eq!(group_name(DhGroup(32)), "group32");
    }
}
