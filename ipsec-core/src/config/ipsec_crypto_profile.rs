//! IPsec crypto profile (`network/ike/crypto-profiles/ipsec-crypto-profiles`).

use super::algorithms::{AuthName, CipherName, DhGroupName, PfsGroup};
use super::error::{ConfigError, Problem, Site, Warning};
use super::lifetime::{Lifesize, Lifetime};
use crate::child_sa::IpsecProtocol;
use crate::crypto::{DhGroup, Encryption, IntegId};
use serde::Deserialize;

/// ESP or AH, as a crypto profile names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolName {
    /// Encapsulating Security Payload.
    #[default]
    Esp,
    /// Authentication Header (no encryption, incompatible with NAT).
    Ah,
}

impl ProtocolName {
    /// The protocol as the Child SA description names it.
    pub fn protocol(self) -> IpsecProtocol {
        match self {
            ProtocolName::Esp => IpsecProtocol::Esp,
            ProtocolName::Ah => IpsecProtocol::Ah,
        }
    }
}

/// The algorithms and lifetimes of Child SAs (phase 2).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IpsecCryptoProfile {
    /// Unique name.
    pub name: String,
    /// `esp` (default) or `ah`.
    #[serde(default)]
    pub protocol: ProtocolName,
    /// ESP ciphers (`null` for authentication only); must be empty for AH.
    #[serde(default)]
    pub encryption: Vec<CipherName>,
    /// Integrity algorithms; `none` only with AEAD ciphers. Required.
    #[serde(default)]
    pub authentication: Vec<AuthName>,
    /// PFS group for CREATE_CHILD_SA, or `no-pfs`. PAN-OS default: `group2`.
    #[serde(default = "default_pfs")]
    pub dh_group: PfsGroup,
    /// Child SA lifetime. Default 1 hour.
    #[serde(default = "default_lifetime")]
    pub lifetime: Lifetime,
    /// Child SA volume limit; none by default.
    #[serde(default)]
    pub lifesize: Option<Lifesize>,
}

fn default_pfs() -> PfsGroup {
    PfsGroup::Group(DhGroupName::Group2)
}
fn default_lifetime() -> Lifetime {
    Lifetime::Hours(1)
}

/// One Child SA proposal choice: IANA transforms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpsecProposal {
    /// ESP or AH.
    pub protocol: IpsecProtocol,
    /// Cipher; `None` for AH.
    pub encryption: Option<Encryption>,
    /// Integrity algorithm; `IntegId::NONE` with AEAD ciphers.
    pub integrity: IntegId,
    /// PFS key exchange method; `DhGroup::NONE` without PFS.
    pub dh_group: DhGroup,
}

impl IpsecCryptoProfile {
    /// An ESP profile with the given ciphers and integrity algorithms, PFS `group2`, 1 hour.
    pub fn esp(
        name: impl Into<String>,
        encryption: Vec<CipherName>,
        authentication: Vec<AuthName>,
    ) -> Self {
        IpsecCryptoProfile {
            name: name.into(),
            protocol: ProtocolName::Esp,
            encryption,
            authentication,
            dh_group: default_pfs(),
            lifetime: default_lifetime(),
            lifesize: None,
        }
    }

    /// An AH profile with the given integrity algorithms, PFS `group2`, 1 hour.
    pub fn ah(name: impl Into<String>, authentication: Vec<AuthName>) -> Self {
        IpsecCryptoProfile {
            protocol: ProtocolName::Ah,
            ..Self::esp(name, Vec::new(), authentication)
        }
    }

    /// Every combination the profile allows, in preference order. AEAD ciphers pair only with
    /// `IntegId::NONE`; other ciphers only with real integrity algorithms.
    pub fn proposals(&self) -> Vec<IpsecProposal> {
        let dh_group = self.dh_group.dh_group();
        let protocol = self.protocol.protocol();
        let mut out = Vec::new();
        let mut push = |p: IpsecProposal| {
            if !out.contains(&p) {
                out.push(p);
            }
        };
        match self.protocol {
            ProtocolName::Ah => {
                for a in self.authentication.iter().filter(|a| **a != AuthName::None) {
                    push(IpsecProposal {
                        protocol,
                        encryption: None,
                        integrity: a.integrity(),
                        dh_group,
                    });
                }
            }
            ProtocolName::Esp => {
                for c in &self.encryption {
                    if c.is_aead() {
                        push(IpsecProposal {
                            protocol,
                            encryption: Some(c.encryption()),
                            integrity: IntegId::NONE,
                            dh_group,
                        });
                        continue;
                    }
                    for a in self.authentication.iter().filter(|a| **a != AuthName::None) {
                        push(IpsecProposal {
                            protocol,
                            encryption: Some(c.encryption()),
                            integrity: a.integrity(),
                            dh_group,
                        });
                    }
                }
            }
        }
        out
    }

    /// The Child SA lifetime.
    pub fn lifetime(&self) -> core::time::Duration {
        self.lifetime.duration()
    }

    /// The Child SA volume limit in bytes, if any.
    pub fn lifesize_bytes(&self) -> Option<u64> {
        self.lifesize.map(Lifesize::bytes)
    }

    pub(crate) fn check(&self, site: &Site, out: &mut Vec<ConfigError>) {
        if self.authentication.is_empty() {
            out.push(site.at("authentication", Problem::Missing));
        }
        let real_auth = self.authentication.iter().any(|a| *a != AuthName::None);
        match self.protocol {
            ProtocolName::Ah => {
                if !self.encryption.is_empty() {
                    out.push(site.at(
                        "encryption",
                        Problem::Conflict("AH does not encrypt; remove encryption".into()),
                    ));
                }
                if self.authentication.contains(&AuthName::None) {
                    out.push(site.at(
                        "authentication",
                        Problem::Conflict("AH needs an integrity algorithm, not none".into()),
                    ));
                }
            }
            ProtocolName::Esp => {
                if self.encryption.is_empty() {
                    out.push(site.at("encryption", Problem::Missing));
                }
                for c in &self.encryption {
                    if real_auth || c.is_aead() || self.authentication.is_empty() {
                        continue;
                    }
                    let why = if *c == CipherName::Null {
                        "null encryption with authentication none protects nothing".to_string()
                    } else {
                        format!(
                            "{c} is not AEAD and needs an integrity algorithm, \
                             but authentication is none"
                        )
                    };
                    out.push(site.at("authentication", Problem::Conflict(why)));
                }
            }
        }
        if let Err(p) = self.lifetime.check() {
            out.push(site.at2("lifetime", self.lifetime.unit(), p));
        }
        if let Some(ls) = self.lifesize {
            if let Err(p) = ls.check() {
                out.push(site.at2("lifesize", ls.unit(), p));
            }
        }
    }

    pub(crate) fn warnings(&self, site: &Site, out: &mut Vec<Warning>) {
        if let Some(w) = self.dh_group.group().and_then(|g| g.weakness()) {
            out.push(site.warn("dh-group", w));
        }
        for a in &self.authentication {
            if let Some(w) = a.weakness() {
                out.push(site.warn("authentication", w));
            }
        }
        for c in &self.encryption {
            if let Some(w) = c.weakness() {
                out.push(site.warn("encryption", w));
            }
            if *c == CipherName::Null {
                out.push(site.warn("encryption", "null: traffic is not encrypted"));
            }
        }
    }
}
