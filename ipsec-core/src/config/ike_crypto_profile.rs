//! IKE crypto profile (`network/ike/crypto-profiles/ike-crypto-profiles`).

use super::algorithms::{CipherName, DhGroupName, HashName};
use super::error::{range, ConfigError, Problem, Site, Warning};
use super::lifetime::Lifetime;
use crate::crypto::{DhGroup, Encryption, IntegId, PrfId};
use serde::Deserialize;

/// The algorithms and lifetime of IKE SAs (phase 1).
///
/// `hash` gives the PRF of every proposal and the integrity algorithm of proposals with a non-AEAD
/// cipher. `integrity` (not in PAN-OS) lists integrity algorithms separately from the PRF; since
/// AEAD ciphers take no integrity transform (RFC 5282 section 8), it is an error in a profile whose
/// ciphers are all AEAD.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IkeCryptoProfile {
    /// Unique name.
    pub name: String,
    /// Key exchange groups, in order of preference. PAN-OS default: `group2`.
    #[serde(default = "default_dh_groups")]
    pub dh_group: Vec<DhGroupName>,
    /// PRF (and integrity) algorithms. PAN-OS default: `sha1`.
    #[serde(default = "default_hashes")]
    pub hash: Vec<HashName>,
    /// Integrity algorithms when they differ from `hash` (not in PAN-OS). Empty: use `hash`.
    #[serde(default)]
    pub integrity: Vec<HashName>,
    /// Ciphers. PAN-OS default: `aes-128-cbc`, `3des`.
    #[serde(default = "default_ciphers")]
    pub encryption: Vec<CipherName>,
    /// IKE SA lifetime. Default 8 hours.
    #[serde(default = "default_lifetime")]
    pub lifetime: Lifetime,
    /// Re-authentication after `lifetime * authentication-multiple`; 0 (default) disables it.
    #[serde(default)]
    pub authentication_multiple: u32,
}

fn default_dh_groups() -> Vec<DhGroupName> {
    vec![DhGroupName::Group2]
}
fn default_hashes() -> Vec<HashName> {
    vec![HashName::Sha1]
}
fn default_ciphers() -> Vec<CipherName> {
    vec![CipherName::Aes128Cbc, CipherName::TripleDes]
}
fn default_lifetime() -> Lifetime {
    Lifetime::Hours(8)
}

/// One IKE SA proposal choice: IANA transforms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IkeProposal {
    /// Cipher with key length.
    pub encryption: Encryption,
    /// Pseudorandom function.
    pub prf: PrfId,
    /// Integrity algorithm; `IntegId::NONE` with AEAD ciphers.
    pub integrity: IntegId,
    /// Key exchange method.
    pub dh_group: DhGroup,
}

impl IkeCryptoProfile {
    /// A profile with PAN-OS's defaults (weak ones: set the algorithms you want).
    pub fn new(name: impl Into<String>) -> Self {
        IkeCryptoProfile {
            name: name.into(),
            dh_group: default_dh_groups(),
            hash: default_hashes(),
            integrity: Vec::new(),
            encryption: default_ciphers(),
            lifetime: default_lifetime(),
            authentication_multiple: 0,
        }
    }

    /// Every combination the profile allows, in preference order (cipher, then hash, then
    /// group). AEAD ciphers get `IntegId::NONE`; `non-auth` contributes no PRF.
    pub fn proposals(&self) -> Vec<IkeProposal> {
        // Each hash names a PRF and, for non-AEAD ciphers, the matching integrity algorithm
        // (sha256: PRF_HMAC_SHA2_256 with AUTH_HMAC_SHA2_256_128). A separate `integrity` list
        // is combined with every PRF instead.
        let mut pairs: Vec<(PrfId, Option<IntegId>)> = Vec::new();
        for h in &self.hash {
            let Some(prf) = h.prf() else { continue };
            if self.integrity.is_empty() {
                pairs.push((prf, h.integrity()));
            } else {
                pairs.extend(self.integrity.iter().map(|i| (prf, i.integrity())));
            }
        }
        let mut out = Vec::new();
        for enc in &self.encryption {
            for &(prf, integ) in &pairs {
                let integrity = match (enc.is_aead(), integ) {
                    (true, _) => IntegId::NONE,
                    (false, Some(i)) => i,
                    (false, None) => continue,
                };
                for dh in &self.dh_group {
                    let p = IkeProposal {
                        encryption: enc.encryption(),
                        prf,
                        integrity,
                        dh_group: dh.dh_group(),
                    };
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
        }
        out
    }

    /// The IKE SA lifetime.
    pub fn lifetime(&self) -> core::time::Duration {
        self.lifetime.duration()
    }

    /// The re-authentication interval, `None` when disabled.
    pub fn reauth_interval(&self) -> Option<core::time::Duration> {
        (self.authentication_multiple > 0).then(|| self.lifetime() * self.authentication_multiple)
    }

    pub(crate) fn check(&self, site: &Site, out: &mut Vec<ConfigError>) {
        for (field, empty) in [
            ("dh-group", self.dh_group.is_empty()),
            ("hash", self.hash.is_empty()),
            ("encryption", self.encryption.is_empty()),
        ] {
            if empty {
                out.push(site.at(field, Problem::InvalidValue("the list is empty".into())));
            }
        }
        for c in &self.encryption {
            if matches!(c, CipherName::Null | CipherName::Aes128Ccm) {
                out.push(site.at(
                    "encryption",
                    Problem::InvalidValue(format!("{c} is not allowed in an IKE profile")),
                ));
            }
        }
        if let Err(p) = self.lifetime.check() {
            out.push(site.at2("lifetime", self.lifetime.unit(), p));
        }
        if self.authentication_multiple > 50 {
            out.push(site.at(
                "authentication-multiple",
                range(self.authentication_multiple, "0-50"),
            ));
        }
        let has_prf = self.hash.iter().any(|h| h.prf().is_some());
        if !self.hash.is_empty() && !has_prf {
            out.push(site.at(
                "hash",
                Problem::Conflict("non-auth alone gives IKE no PRF; add sha256 or stronger".into()),
            ));
        }
        let all_aead = !self.encryption.is_empty() && self.encryption.iter().all(|c| c.is_aead());
        if all_aead && !self.integrity.is_empty() {
            out.push(
                site.at(
                    "integrity",
                    Problem::Conflict(
                        "every cipher is AEAD (GCM/ChaCha20), which takes no separate integrity \
                     algorithm (RFC 5282 section 8)"
                            .into(),
                    ),
                ),
            );
        }
        let integ = if self.integrity.is_empty() {
            &self.hash
        } else {
            &self.integrity
        };
        let has_integ = integ.iter().any(|h| h.integrity().is_some());
        if has_prf && !has_integ {
            for c in self.encryption.iter().filter(|c| !c.is_aead()) {
                out.push(site.at(
                    "encryption",
                    Problem::Conflict(format!(
                        "{c} needs an integrity algorithm but the profile has only non-auth"
                    )),
                ));
            }
        }
    }

    pub(crate) fn warnings(&self, site: &Site, out: &mut Vec<Warning>) {
        for g in &self.dh_group {
            if let Some(w) = g.weakness() {
                out.push(site.warn("dh-group", w));
            }
        }
        for (field, list) in [("hash", &self.hash), ("integrity", &self.integrity)] {
            for h in list {
                if let Some(w) = h.weakness() {
                    out.push(site.warn(field, w));
                }
            }
        }
        for c in &self.encryption {
            if let Some(w) = c.weakness() {
                out.push(site.warn("encryption", w));
            }
        }
    }
}
