//! Proposals: what a crypto profile offers and how one suite is chosen (RFC 7296 sections 2.7, 3.3).
//!
//! # Ordering rule
//!
//! The responder honours the **initiator's** order: it walks the offered proposals first to last
//! and takes the first one that any of its own proposals accepts; inside that proposal it takes, for
//! each transform type, the first offered transform its own proposal lists. This is what RFC 7296
//! section 2.7 describes ("the initiator lists them in order of preference") and what PAN-OS does;
//! it makes the outcome depend only on the initiator's order, so both peers can predict it.
//!
//! For the key exchange of IKE_SA_INIT one exception applies: when the chosen proposal accepts the
//! group of the initiator's KE payload, that group is taken even if it is not the first offered,
//! which saves an INVALID_KE_PAYLOAD round trip. Otherwise the first acceptable group is chosen
//! and the initiator is told to retry with it.
//!
//! In IKE_AUTH, key-exchange transforms of the Child SA proposal are ignored (RFC 7296 section
//! 1.2: the first Child SA has no PFS of its own).

use crate::error::Error;
use crate::wire::{Proposal, ProtocolId, SecurityAssociation, Transform, TransformId};
use core::fmt;
use ipsec_core::crypto::{
    CryptoProvider, DhGroup, EncrId, Encryption, EsnId, IntegId, PrfId, TransformType,
};

/// Transform type numbers (RFC 7296 section 3.3.2).
pub mod transform_type {
    /// Encryption algorithm.
    pub const ENCR: u8 = 1;
    /// Pseudorandom function.
    pub const PRF: u8 = 2;
    /// Integrity algorithm.
    pub const INTEG: u8 = 3;
    /// Key exchange method.
    pub const DH: u8 = 4;
    /// Extended sequence numbers.
    pub const ESN: u8 = 5;
}

/// One transform as offered on the wire: type, ID and key length attribute (0 when absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OfferedTransform {
    /// Transform type.
    pub ty: u8,
    /// Transform ID.
    pub id: u16,
    /// Key Length attribute in bits, 0 when absent.
    pub key_bits: u16,
}

/// One proposal as offered on the wire, independent of the codec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// Proposal number (1-based).
    pub number: u8,
    /// Protocol ID: 1 IKE, 3 ESP.
    pub protocol: u8,
    /// The sender's SPI for this proposal (empty in IKE_SA_INIT, 4 bytes for ESP).
    pub spi: Vec<u8>,
    /// The transforms, in the sender's order.
    pub transforms: Vec<OfferedTransform>,
}

/// An IKE crypto profile entry: the acceptable algorithms of each kind, in preference order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IkeProposal {
    /// Encryption transforms (AEAD or not).
    pub encryption: Vec<Encryption>,
    /// PRFs.
    pub prf: Vec<PrfId>,
    /// Integrity algorithms; must be empty for AEAD-only proposals.
    pub integrity: Vec<IntegId>,
    /// Key exchange groups.
    pub dh: Vec<DhGroup>,
}

/// An IPsec crypto profile entry.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EspProposal {
    /// Encryption transforms.
    pub encryption: Vec<Encryption>,
    /// Integrity algorithms; empty for AEAD-only proposals.
    pub integrity: Vec<IntegId>,
    /// PFS groups for CREATE_CHILD_SA; empty or `[DhGroup::NONE]` for no PFS.
    pub dh: Vec<DhGroup>,
    /// Extended sequence numbers: offer ESN (`true`) and/or 32-bit numbers (`false`). Empty means
    /// 32-bit only.
    pub esn: Vec<bool>,
}

/// The negotiated IKE SA algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IkeSuite {
    /// Encryption.
    pub encryption: Encryption,
    /// PRF.
    pub prf: PrfId,
    /// Integrity (`IntegId::NONE` with an AEAD).
    pub integrity: IntegId,
    /// Key exchange group.
    pub dh: DhGroup,
}

/// The negotiated Child SA algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EspSuite {
    /// Encryption.
    pub encryption: Encryption,
    /// Integrity (`IntegId::NONE` with an AEAD).
    pub integrity: IntegId,
    /// PFS group (`DhGroup::NONE` without PFS).
    pub dh: DhGroup,
    /// Extended sequence numbers.
    pub esn: bool,
}

impl IkeProposal {
    /// True when every mandatory kind has at least one algorithm, and integrity is present
    /// exactly when a non-AEAD cipher is.
    pub fn is_complete(&self) -> bool {
        let non_aead = self.encryption.iter().any(|e| !e.is_aead());
        !self.encryption.is_empty()
            && !self.prf.is_empty()
            && !self.dh.is_empty()
            && (!non_aead || !self.integrity.is_empty())
    }

    /// This proposal restricted to what `provider` implements; `None` when nothing usable is left.
    pub fn supported_by(&self, provider: &CryptoProvider) -> Option<IkeProposal> {
        let p = IkeProposal {
            encryption: self
                .encryption
                .iter()
                .copied()
                .filter(|e| provider.supports_encryption(*e))
                .collect(),
            prf: self
                .prf
                .iter()
                .copied()
                .filter(|p| provider.prf(*p).is_some())
                .collect(),
            integrity: self
                .integrity
                .iter()
                .copied()
                .filter(|i| provider.integrity(*i).is_some())
                .collect(),
            dh: self
                .dh
                .iter()
                .copied()
                .filter(|d| provider.key_exchange(*d).is_some())
                .collect(),
        };
        p.is_complete().then_some(p)
    }

    /// The offer for this proposal: AEADs and plain ciphers go in separate proposals (RFC 7296
    /// section 3.3: an AEAD proposal carries no integrity transform), so one profile entry can
    /// become two offers. `dh_first` is moved to the front of the groups (the group of our KE).
    pub fn offers(&self, dh_first: DhGroup) -> Vec<Offer> {
        let mut dh: Vec<DhGroup> = self.dh.clone();
        if let Some(i) = dh.iter().position(|d| *d == dh_first) {
            let g = dh.remove(i);
            dh.insert(0, g);
        }
        let mut out = Vec::new();
        for aead in [true, false] {
            let encs: Vec<_> = self
                .encryption
                .iter()
                .filter(|e| e.is_aead() == aead)
                .collect();
            if encs.is_empty() {
                continue;
            }
            let mut t: Vec<OfferedTransform> = encs.iter().map(|e| encr(**e)).collect();
            t.extend(self.prf.iter().map(|p| plain(transform_type::PRF, p.0)));
            if !aead {
                t.extend(
                    self.integrity
                        .iter()
                        .map(|i| plain(transform_type::INTEG, i.0)),
                );
            }
            t.extend(dh.iter().map(|d| plain(transform_type::DH, d.0)));
            out.push(Offer {
                number: 0,
                protocol: 1,
                spi: Vec::new(),
                transforms: t,
            });
        }
        out
    }
}

impl EspProposal {
    /// True when encryption is present, and integrity exactly when a non-AEAD cipher is.
    pub fn is_complete(&self) -> bool {
        let non_aead = self.encryption.iter().any(|e| !e.is_aead());
        !self.encryption.is_empty() && (!non_aead || !self.integrity.is_empty())
    }

    /// The offers for this proposal (AEAD and non-AEAD split as for IKE), with SPI `spi`. Key
    /// exchange transforms are included only when `with_dh` (CREATE_CHILD_SA).
    pub fn offers(&self, spi: u32, with_dh: bool) -> Vec<Offer> {
        let mut out = Vec::new();
        for aead in [true, false] {
            let encs: Vec<_> = self
                .encryption
                .iter()
                .filter(|e| e.is_aead() == aead)
                .collect();
            if encs.is_empty() {
                continue;
            }
            let mut t: Vec<OfferedTransform> = encs.iter().map(|e| encr(**e)).collect();
            if !aead {
                t.extend(
                    self.integrity
                        .iter()
                        .map(|i| plain(transform_type::INTEG, i.0)),
                );
            }
            if with_dh {
                t.extend(self.dh.iter().map(|d| plain(transform_type::DH, d.0)));
            }
            let esn: &[bool] = if self.esn.is_empty() {
                &[false]
            } else {
                &self.esn
            };
            t.extend(esn.iter().map(|e| {
                plain(
                    transform_type::ESN,
                    if *e { EsnId::ESN.0 } else { EsnId::NO_ESN.0 },
                )
            }));
            out.push(Offer {
                number: 0,
                protocol: 3,
                spi: spi.to_be_bytes().to_vec(),
                transforms: t,
            });
        }
        out
    }
}

fn encr(e: Encryption) -> OfferedTransform {
    OfferedTransform {
        ty: transform_type::ENCR,
        id: e.id.0,
        key_bits: e.key_bits,
    }
}

fn plain(ty: u8, id: u16) -> OfferedTransform {
    OfferedTransform {
        ty,
        id,
        key_bits: 0,
    }
}

/// Numbers a list of offers 1, 2, 3... as they go on the wire.
pub fn number(mut offers: Vec<Offer>) -> Vec<Offer> {
    for (i, o) in offers.iter_mut().enumerate() {
        o.number = u8::try_from(i + 1).unwrap_or(u8::MAX);
    }
    offers
}

fn first<T: Copy>(
    offer: &Offer,
    ty: u8,
    accept: impl Fn(&OfferedTransform) -> Option<T>,
) -> Option<T> {
    offer
        .transforms
        .iter()
        .filter(|t| t.ty == ty)
        .find_map(accept)
}

fn has(offer: &Offer, ty: u8) -> bool {
    offer.transforms.iter().any(|t| t.ty == ty)
}

fn offered_encryption(t: &OfferedTransform) -> Encryption {
    Encryption {
        id: EncrId(t.id),
        key_bits: t.key_bits,
    }
}

/// The first offered encryption transform in `encryption`, with its integrity algorithm: the
/// first offered one in `integrity` (never NONE), or NONE for an AEAD, whose proposal may have
/// no integrity transform but NONE (RFC 5282 section 8).
fn match_cipher(
    offer: &Offer,
    encryption: &[Encryption],
    integrity: &[IntegId],
) -> Option<(Encryption, IntegId)> {
    let e = first(offer, transform_type::ENCR, |t| {
        let e = offered_encryption(t);
        encryption.contains(&e).then_some(e)
    })?;
    if !e.is_aead() {
        let i = first(offer, transform_type::INTEG, |t| {
            let i = IntegId(t.id);
            (i != IntegId::NONE && integrity.contains(&i)).then_some(i)
        })?;
        return Some((e, i));
    }
    offer
        .transforms
        .iter()
        .filter(|t| t.ty == transform_type::INTEG)
        .all(|t| t.id == IntegId::NONE.0)
        .then_some((e, IntegId::NONE))
}

/// Tries to accept one offered IKE proposal with one of ours.
fn match_ike(offer: &Offer, ours: &IkeProposal, ke: Option<DhGroup>) -> Option<IkeSuite> {
    if offer.protocol != 1 {
        return None;
    }
    let (encryption, integrity) = match_cipher(offer, &ours.encryption, &ours.integrity)?;
    let prf = first(offer, transform_type::PRF, |t| {
        ours.prf.contains(&PrfId(t.id)).then_some(PrfId(t.id))
    })?;
    let acceptable = |t: &OfferedTransform| {
        let g = DhGroup(t.id);
        (g != DhGroup::NONE && ours.dh.contains(&g)).then_some(g)
    };
    let dh = match ke {
        Some(g)
            if offer
                .transforms
                .iter()
                .any(|t| t.ty == transform_type::DH && acceptable(t) == Some(g)) =>
        {
            g
        }
        _ => first(offer, transform_type::DH, acceptable)?,
    };
    Some(IkeSuite {
        encryption,
        prf,
        integrity,
        dh,
    })
}

/// Responder: picks an IKE suite from the initiator's offers (see the module doc for the order).
/// `ke` is the group of the initiator's KE payload. Returns the chosen offer's number with the
/// suite; the caller compares `suite.dh` with `ke` to decide on INVALID_KE_PAYLOAD.
pub fn select_ike(
    offers: &[Offer],
    ours: &[IkeProposal],
    ke: Option<DhGroup>,
) -> Result<(u8, IkeSuite), Error> {
    offers
        .iter()
        .find_map(|o| {
            ours.iter()
                .find_map(|p| match_ike(o, p, ke))
                .map(|s| (o.number, s))
        })
        .ok_or(Error::NoProposalChosen)
}

/// Tries to accept one offered ESP proposal with one of ours.
fn match_esp(offer: &Offer, ours: &EspProposal, with_dh: bool) -> Option<EspSuite> {
    if offer.protocol != 3 || offer.spi.len() != 4 {
        return None;
    }
    let (encryption, integrity) = match_cipher(offer, &ours.encryption, &ours.integrity)?;
    let dh = if with_dh && has(offer, transform_type::DH) {
        let ours_dh: &[DhGroup] = if ours.dh.is_empty() {
            &[DhGroup::NONE]
        } else {
            &ours.dh
        };
        first(offer, transform_type::DH, |t| {
            ours_dh.contains(&DhGroup(t.id)).then_some(DhGroup(t.id))
        })?
    } else if with_dh && ours.dh.iter().any(|d| *d != DhGroup::NONE) {
        // We require PFS and the peer offers none.
        return None;
    } else {
        DhGroup::NONE
    };
    let esn = if has(offer, transform_type::ESN) {
        let ours_esn: &[bool] = if ours.esn.is_empty() {
            &[false]
        } else {
            &ours.esn
        };
        first(offer, transform_type::ESN, |t| {
            let e = match EsnId(t.id) {
                EsnId::ESN => true,
                EsnId::NO_ESN => false,
                _ => return None,
            };
            ours_esn.contains(&e).then_some(e)
        })?
    } else {
        false
    };
    Some(EspSuite {
        encryption,
        integrity,
        dh,
        esn,
    })
}

/// Responder: picks an ESP suite from the initiator's offers. Returns the chosen offer's number,
/// the initiator's SPI and the suite. `with_dh` is false in IKE_AUTH.
pub fn select_esp(
    offers: &[Offer],
    ours: &[EspProposal],
    with_dh: bool,
) -> Result<(u8, u32, EspSuite), Error> {
    offers
        .iter()
        .find_map(|o| {
            let spi = u32::from_be_bytes(o.spi.as_slice().try_into().ok()?);
            ours.iter()
                .find_map(|p| match_esp(o, p, with_dh))
                .map(|s| (o.number, spi, s))
        })
        .ok_or(Error::NoProposalChosen)
}

/// The single-proposal answer for a chosen IKE suite.
pub fn ike_answer(number: u8, s: &IkeSuite) -> Offer {
    let mut t = vec![encr(s.encryption), plain(transform_type::PRF, s.prf.0)];
    if s.integrity != IntegId::NONE {
        t.push(plain(transform_type::INTEG, s.integrity.0));
    }
    t.push(plain(transform_type::DH, s.dh.0));
    Offer {
        number,
        protocol: 1,
        spi: Vec::new(),
        transforms: t,
    }
}

/// The single-proposal answer for a chosen ESP suite, with our SPI.
pub fn esp_answer(number: u8, spi: u32, s: &EspSuite, with_dh: bool) -> Offer {
    let mut t = vec![encr(s.encryption)];
    if s.integrity != IntegId::NONE {
        t.push(plain(transform_type::INTEG, s.integrity.0));
    }
    if with_dh && s.dh != DhGroup::NONE {
        t.push(plain(transform_type::DH, s.dh.0));
    }
    t.push(plain(
        transform_type::ESN,
        if s.esn { EsnId::ESN.0 } else { EsnId::NO_ESN.0 },
    ));
    Offer {
        number,
        protocol: 3,
        spi: spi.to_be_bytes().to_vec(),
        transforms: t,
    }
}

/// Initiator: checks the responder's answer is exactly one proposal with one transform of each
/// kind, all taken from what we offered, and returns the suite.
pub fn accept_ike_answer(answer: &[Offer], ours: &[IkeProposal]) -> Result<IkeSuite, Error> {
    let [a] = answer else {
        return Err(Error::Malformed(
            "responder must return one proposal".into(),
        ));
    };
    for ty in [
        transform_type::ENCR,
        transform_type::PRF,
        transform_type::DH,
    ] {
        if a.transforms.iter().filter(|t| t.ty == ty).count() != 1 {
            return Err(Error::Malformed(
                "responder's proposal must have one transform of each type".into(),
            ));
        }
    }
    ours.iter()
        .find_map(|p| match_ike(a, p, None))
        .ok_or(Error::NoProposalChosen)
}

/// Initiator: checks the responder's ESP answer and returns its SPI and the suite.
pub fn accept_esp_answer(
    answer: &[Offer],
    ours: &[EspProposal],
    with_dh: bool,
) -> Result<(u32, EspSuite), Error> {
    let [a] = answer else {
        return Err(Error::Malformed(
            "responder must return one proposal".into(),
        ));
    };
    if a.transforms
        .iter()
        .filter(|t| t.ty == transform_type::ENCR)
        .count()
        != 1
    {
        return Err(Error::Malformed(
            "responder's proposal must have one encryption transform".into(),
        ));
    }
    select_esp(answer, ours, with_dh).map(|(_, spi, s)| (spi, s))
}

fn enc_name(e: Encryption) -> String {
    let base = match e.id {
        EncrId::ENCR_AES_CBC => "aes",
        EncrId::ENCR_AES_CTR => "aes-ctr",
        EncrId::ENCR_AES_GCM_16 => "aes-gcm",
        EncrId::ENCR_AES_GCM_12 => "aes-gcm12",
        EncrId::ENCR_AES_GCM_8 => "aes-gcm8",
        EncrId::ENCR_3DES => return "3des".into(),
        EncrId::ENCR_NULL => return "null".into(),
        EncrId::ENCR_CHACHA20_POLY1305 => return "chacha20-poly1305".into(),
        other => return format!("encr{}", other.0),
    };
    if e.key_bits == 0 {
        base.into()
    } else {
        format!("{base}-{}", e.key_bits)
    }
}

fn prf_name(p: PrfId) -> String {
    match p {
        PrfId::PRF_HMAC_SHA1 => "sha1".into(),
        PrfId::PRF_HMAC_SHA2_256 => "sha256".into(),
        PrfId::PRF_HMAC_SHA2_384 => "sha384".into(),
        PrfId::PRF_HMAC_SHA2_512 => "sha512".into(),
        PrfId::PRF_HMAC_MD5 => "md5".into(),
        other => format!("prf{}", other.0),
    }
}

fn integ_name(i: IntegId) -> String {
    match i {
        IntegId::AUTH_HMAC_SHA1_96 => "sha1".into(),
        IntegId::AUTH_HMAC_SHA2_256_128 => "sha256".into(),
        IntegId::AUTH_HMAC_SHA2_384_192 => "sha384".into(),
        IntegId::AUTH_HMAC_SHA2_512_256 => "sha512".into(),
        IntegId::AUTH_HMAC_MD5_96 => "md5".into(),
        IntegId::NONE => "none".into(),
        other => format!("integ{}", other.0),
    }
}

fn dh_name(d: DhGroup) -> String {
    if d == DhGroup::NONE {
        "no-pfs".into()
    } else {
        format!("group{}", d.0)
    }
}

fn join<T: Copy>(items: &[T], f: fn(T) -> String) -> String {
    items.iter().map(|x| f(*x)).collect::<Vec<_>>().join(",")
}

impl fmt::Display for IkeSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", enc_name(self.encryption), prf_name(self.prf))?;
        if self.integrity != IntegId::NONE {
            write!(f, "/{}", integ_name(self.integrity))?;
        }
        write!(f, "/{}", dh_name(self.dh))
    }
}

impl fmt::Display for EspSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", enc_name(self.encryption))?;
        if self.integrity != IntegId::NONE {
            write!(f, "/{}", integ_name(self.integrity))?;
        }
        write!(f, "/{}", dh_name(self.dh))?;
        if self.esn {
            write!(f, "/esn")?;
        }
        Ok(())
    }
}

impl fmt::Display for Offer {
    /// The PAN-OS style summary `aes-256-gcm,aes-128/sha256/group19,group14`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let of = |ty: u8| -> Vec<&OfferedTransform> {
            self.transforms.iter().filter(|t| t.ty == ty).collect()
        };
        let encs: Vec<String> = of(transform_type::ENCR)
            .iter()
            .map(|t| enc_name(offered_encryption(t)))
            .collect();
        write!(f, "{}", encs.join(","))?;
        let prfs: Vec<String> = of(transform_type::PRF)
            .iter()
            .map(|t| prf_name(PrfId(t.id)))
            .collect();
        if !prfs.is_empty() {
            write!(f, "/{}", prfs.join(","))?;
        }
        let ints: Vec<String> = of(transform_type::INTEG)
            .iter()
            .map(|t| integ_name(IntegId(t.id)))
            .collect();
        if !ints.is_empty() {
            write!(f, "/{}", ints.join(","))?;
        }
        let dhs: Vec<String> = of(transform_type::DH)
            .iter()
            .map(|t| dh_name(DhGroup(t.id)))
            .collect();
        if !dhs.is_empty() {
            write!(f, "/{}", dhs.join(","))?;
        }
        Ok(())
    }
}

impl fmt::Display for IkeProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            join(&self.encryption, enc_name),
            join(&self.prf, prf_name)
        )?;
        if !self.integrity.is_empty() {
            write!(f, "/{}", join(&self.integrity, integ_name))?;
        }
        write!(f, "/{}", join(&self.dh, dh_name))
    }
}

impl fmt::Display for EspProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", join(&self.encryption, enc_name))?;
        if !self.integrity.is_empty() {
            write!(f, "/{}", join(&self.integrity, integ_name))?;
        }
        if !self.dh.is_empty() {
            write!(f, "/{}", join(&self.dh, dh_name))?;
        }
        Ok(())
    }
}

/// Joins several offers for a log line.
pub fn describe(offers: &[Offer]) -> String {
    offers
        .iter()
        .map(|o| o.to_string())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Converts offers to an SA payload.
pub(crate) fn sa_payload(offers: &[Offer]) -> SecurityAssociation {
    SecurityAssociation {
        proposals: offers
            .iter()
            .map(|o| Proposal {
                number: o.number,
                protocol: ProtocolId(o.protocol),
                spi: o.spi.clone(),
                transforms: o
                    .transforms
                    .iter()
                    .map(|t| {
                        if t.ty == TransformType::ENCR.0 {
                            Transform::encryption(Encryption {
                                id: EncrId(t.id),
                                key_bits: t.key_bits,
                            })
                        } else {
                            Transform::new(TransformId::new(TransformType(t.ty), t.id))
                        }
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Converts an SA payload to offers.
pub(crate) fn offers_of(sa: &SecurityAssociation) -> Vec<Offer> {
    sa.proposals
        .iter()
        .map(|p| Offer {
            number: p.number,
            protocol: p.protocol.0,
            spi: p.spi.clone(),
            transforms: p
                .transforms
                .iter()
                .map(|t| OfferedTransform {
                    ty: t.id.transform_type().0,
                    id: t.id.id(),
                    key_bits: t.key_length().unwrap_or(0),
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GCM256: Encryption = Encryption {
        id: EncrId::ENCR_AES_GCM_16,
        key_bits: 256,
    };
    const CBC128: Encryption = Encryption {
        id: EncrId::ENCR_AES_CBC,
        key_bits: 128,
    };

    fn gcm_x25519() -> IkeProposal {
        IkeProposal {
            encryption: vec![GCM256],
            prf: vec![PrfId::PRF_HMAC_SHA2_256],
            integrity: vec![],
            dh: vec![DhGroup::CURVE25519, DhGroup::ECP_256],
        }
    }

    fn cbc_modp() -> IkeProposal {
        IkeProposal {
            encryption: vec![CBC128],
            prf: vec![PrfId::PRF_HMAC_SHA2_256],
            integrity: vec![IntegId::AUTH_HMAC_SHA2_256_128],
            dh: vec![DhGroup::MODP_2048],
        }
    }

    #[test]
    fn responder_follows_the_initiators_order() {
        // The initiator prefers CBC; we list GCM first, CBC second: CBC wins.
        let offers = number(
            [
                cbc_modp().offers(DhGroup::MODP_2048),
                gcm_x25519().offers(DhGroup::CURVE25519),
            ]
            .concat(),
        );
        let (n, s) = select_ike(
            &offers,
            &[gcm_x25519(), cbc_modp()],
            Some(DhGroup::MODP_2048),
        )
        .unwrap();
        assert_eq!(n, 1);
        assert_eq!(s.encryption, CBC128);
        assert_eq!(s.integrity, IntegId::AUTH_HMAC_SHA2_256_128);
        assert_eq!(s.dh, DhGroup::MODP_2048);
        // The answer is accepted by the initiator and yields the same suite.
        let back = accept_ike_answer(&[ike_answer(n, &s)], &[cbc_modp(), gcm_x25519()]).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn ke_group_preferred_within_the_chosen_proposal() {
        let offers = number(gcm_x25519().offers(DhGroup::ECP_256));
        assert_eq!(
            offers[0]
                .transforms
                .iter()
                .find(|t| t.ty == transform_type::DH)
                .unwrap()
                .id,
            19
        );
        let (_, s) = select_ike(&offers, &[gcm_x25519()], Some(DhGroup::ECP_256)).unwrap();
        assert_eq!(s.dh, DhGroup::ECP_256);
        // We accept only x25519: the first acceptable group is chosen, the KE does not match.
        let mut only = gcm_x25519();
        only.dh = vec![DhGroup::CURVE25519];
        let (_, s) = select_ike(&offers, &[only], Some(DhGroup::ECP_256)).unwrap();
        assert_eq!(s.dh, DhGroup::CURVE25519);
    }

    #[test]
    fn nothing_in_common_is_no_proposal_chosen() {
        let offers = number(cbc_modp().offers(DhGroup::MODP_2048));
        assert_eq!(
            select_ike(&offers, &[gcm_x25519()], None),
            Err(Error::NoProposalChosen)
        );
        // Key length matters.
        let mut gcm128 = gcm_x25519();
        gcm128.encryption[0].key_bits = 128;
        let offers = number(gcm128.offers(DhGroup::CURVE25519));
        assert!(select_ike(&offers, &[gcm_x25519()], None).is_err());
    }

    #[test]
    fn esp_selection_ignores_dh_in_ike_auth_and_reads_spi() {
        let ours = EspProposal {
            encryption: vec![Encryption {
                id: EncrId::ENCR_AES_GCM_16,
                key_bits: 128,
            }],
            integrity: vec![],
            dh: vec![DhGroup::MODP_2048],
            esn: vec![],
        };
        let offers = number(ours.offers(0x01020304, false));
        let (n, spi, s) = select_esp(&offers, std::slice::from_ref(&ours), false).unwrap();
        assert_eq!((n, spi), (1, 0x01020304));
        assert_eq!(s.dh, DhGroup::NONE);
        assert!(!s.esn);
        let (spi_r, back) =
            accept_esp_answer(&[esp_answer(n, 0xaabbccdd, &s, false)], &[ours], false).unwrap();
        assert_eq!(spi_r, 0xaabbccdd);
        assert_eq!(back, s);
    }

    #[test]
    fn answers_with_two_proposals_are_rejected() {
        let s = IkeSuite {
            encryption: GCM256,
            prf: PrfId::PRF_HMAC_SHA2_256,
            integrity: IntegId::NONE,
            dh: DhGroup::CURVE25519,
        };
        let a = ike_answer(1, &s);
        assert!(matches!(
            accept_ike_answer(&[a.clone(), a], &[gcm_x25519()]),
            Err(Error::Malformed(_))
        ));
        assert_eq!(s.to_string(), "aes-gcm-256/sha256/group31");
    }
}
