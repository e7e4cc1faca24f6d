//! Proposals: what a crypto profile offers and how one suite is chosen (RFC 7296 sections 2.7, 3.3).
//!
//! Offers, answers and selection all work on the wire's [`Proposal`], so what is matched is
//! exactly what was sent or received.
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

use crate::error::{LocalError, Mismatch, NegotiationError};
use crate::keys::{ChildKeyLengths, IkeKeyLengths};
use crate::wire::{Proposal, ProtocolId, Transform, TransformId};
use core::fmt;
use ipsec_core::crypto::algorithms::{
    cipher_name, cipher_of, group_name, mac_name, mac_of, prf_name, prf_of,
};
use ipsec_core::crypto::{
    CryptoError, CryptoProvider, DhGroup, Encryption, EsnId, IntegId, PrfId, TransformType,
};

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

/// The key material lengths of a cipher (key and salt) and an integrity algorithm, from the
/// algorithm table.
fn cipher_keys(e: Encryption, i: IntegId) -> Result<(usize, usize), LocalError> {
    let encr = cipher_of(e).ok_or(CryptoError::Unsupported("encryption without key lengths"))?;
    let integ = match i {
        IntegId::NONE => 0,
        i => {
            mac_of(i)
                .ok_or(CryptoError::Unsupported("integrity without key length"))?
                .key_len
        }
    };
    Ok((encr.keymat_len(), integ))
}

impl IkeSuite {
    /// The lengths of the SK_* keys (RFC 7296 section 2.14).
    pub(crate) fn key_lengths(&self) -> Result<IkeKeyLengths, LocalError> {
        let (encr_key, integ_key) = cipher_keys(self.encryption, self.integrity)?;
        let prf = prf_of(self.prf).ok_or(CryptoError::Unsupported("PRF without output length"))?;
        Ok(IkeKeyLengths {
            prf_key: prf.output_len,
            integ_key,
            encr_key,
        })
    }
}

impl EspSuite {
    /// The lengths of the Child SA keys (RFC 7296 section 2.17).
    pub(crate) fn key_lengths(&self) -> Result<ChildKeyLengths, LocalError> {
        let (encr_key, integ_key) = cipher_keys(self.encryption, self.integrity)?;
        Ok(ChildKeyLengths {
            encr_key,
            integ_key,
        })
    }
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

    /// The proposals for this entry, protocol IKE without SPI: AEADs and plain ciphers go in
    /// separate proposals (RFC 7296 section 3.3), numbered 0 until [`number`]. `dh_first` is
    /// moved to the front of the groups (the group of our KE).
    pub fn offers(&self, dh_first: DhGroup) -> Vec<Proposal> {
        let mut dh: Vec<DhGroup> = self.dh.clone();
        if let Some(i) = dh.iter().position(|d| *d == dh_first) {
            let g = dh.remove(i);
            dh.insert(0, g);
        }
        Offer {
            encryption: &self.encryption,
            prf: &self.prf,
            integrity: &self.integrity,
            dh: &dh,
            esn: &[],
        }
        .proposals(ProtocolId::IKE, Vec::new())
    }
}

impl EspProposal {
    /// True when encryption is present, and integrity exactly when a non-AEAD cipher is.
    pub fn is_complete(&self) -> bool {
        let non_aead = self.encryption.iter().any(|e| !e.is_aead());
        !self.encryption.is_empty() && (!non_aead || !self.integrity.is_empty())
    }

    /// The proposals for this entry, protocol ESP with our inbound `spi`, split as for IKE. Key
    /// exchange transforms are included only when `with_dh` (CREATE_CHILD_SA).
    pub fn offers(&self, spi: u32, with_dh: bool) -> Vec<Proposal> {
        let esn: Vec<EsnId> = if self.esn.is_empty() {
            vec![EsnId::NO_ESN]
        } else {
            self.esn.iter().map(|e| esn_id(*e)).collect()
        };
        Offer {
            encryption: &self.encryption,
            prf: &[],
            integrity: &self.integrity,
            dh: if with_dh { &self.dh } else { &[] },
            esn: &esn,
        }
        .proposals(ProtocolId::ESP, spi.to_be_bytes().to_vec())
    }
}

/// The transforms of one profile entry, by kind, as they go into proposals.
///
/// AEADs and plain ciphers go in separate proposals (RFC 7296 section 3.3: an AEAD proposal
/// carries no integrity transform), so one entry can become two proposals. Their numbers are 0
/// until [`number`] numbers the whole list.
struct Offer<'a> {
    encryption: &'a [Encryption],
    prf: &'a [PrfId],
    integrity: &'a [IntegId],
    dh: &'a [DhGroup],
    esn: &'a [EsnId],
}

impl Offer<'_> {
    fn proposals(&self, protocol: ProtocolId, spi: Vec<u8>) -> Vec<Proposal> {
        let plain = |id: TransformId| Transform::new(id);
        let mut out = Vec::new();
        for aead in [true, false] {
            let encs: Vec<&Encryption> = self
                .encryption
                .iter()
                .filter(|e| e.is_aead() == aead)
                .collect();
            if encs.is_empty() {
                continue;
            }
            let mut t: Vec<Transform> = encs.iter().map(|e| Transform::encryption(**e)).collect();
            t.extend(self.prf.iter().map(|p| plain(TransformId::Prf(*p))));
            if !aead {
                t.extend(self.integrity.iter().map(|i| plain(TransformId::Integ(*i))));
            }
            t.extend(self.dh.iter().map(|d| plain(TransformId::Dh(*d))));
            t.extend(self.esn.iter().map(|e| plain(TransformId::Esn(*e))));
            out.push(Proposal {
                number: 0,
                protocol,
                spi: spi.clone(),
                transforms: t,
            });
        }
        out
    }
}

fn esn_id(esn: bool) -> EsnId {
    if esn {
        EsnId::ESN
    } else {
        EsnId::NO_ESN
    }
}

/// Numbers a list of proposals 1, 2, 3... as they go on the wire.
pub fn number(mut proposals: Vec<Proposal>) -> Vec<Proposal> {
    for (i, p) in proposals.iter_mut().enumerate() {
        p.number = u8::try_from(i + 1).unwrap_or(u8::MAX);
    }
    proposals
}

/// The first transform of type `ty` in `p` that `accept` takes.
fn first<T>(
    p: &Proposal,
    ty: TransformType,
    accept: impl Fn(TransformId) -> Option<T>,
) -> Option<T> {
    p.transforms_of(ty).find_map(|t| accept(t.id))
}

/// The first offered encryption transform in `encryption`, with its integrity algorithm: the
/// first offered one in `integrity` (never NONE), or NONE for an AEAD, whose proposal may have
/// no integrity transform but NONE (RFC 5282 section 8).
fn match_cipher(
    p: &Proposal,
    encryption: &[Encryption],
    integrity: &[IntegId],
) -> Option<(Encryption, IntegId)> {
    let e = p
        .transforms_of(TransformType::ENCR)
        .find_map(|t| t.as_encryption().filter(|e| encryption.contains(e)))?;
    if !e.is_aead() {
        let i = first(p, TransformType::INTEG, |id| match id {
            TransformId::Integ(i) if i != IntegId::NONE && integrity.contains(&i) => Some(i),
            _ => None,
        })?;
        return Some((e, i));
    }
    p.transforms_of(TransformType::INTEG)
        .all(|t| t.id == TransformId::Integ(IntegId::NONE))
        .then_some((e, IntegId::NONE))
}

/// The first offered group of `p` in `ours`.
fn match_group(p: &Proposal, ours: &[DhGroup]) -> Option<DhGroup> {
    first(p, TransformType::DH, |id| match id {
        TransformId::Dh(g) if ours.contains(&g) => Some(g),
        _ => None,
    })
}

/// Tries to accept one offered IKE proposal with one of ours.
fn match_ike(p: &Proposal, ours: &IkeProposal, ke: Option<DhGroup>) -> Option<IkeSuite> {
    if p.protocol != ProtocolId::IKE {
        return None;
    }
    let (encryption, integrity) = match_cipher(p, &ours.encryption, &ours.integrity)?;
    let prf = first(p, TransformType::PRF, |id| match id {
        TransformId::Prf(f) if ours.prf.contains(&f) => Some(f),
        _ => None,
    })?;
    let acceptable: Vec<DhGroup> = ours
        .dh
        .iter()
        .copied()
        .filter(|g| *g != DhGroup::NONE)
        .collect();
    let dh = match ke {
        Some(g)
            if acceptable.contains(&g)
                && p.transforms_of(TransformType::DH)
                    .any(|t| t.id == TransformId::Dh(g)) =>
        {
            g
        }
        _ => match_group(p, &acceptable)?,
    };
    Some(IkeSuite {
        encryption,
        prf,
        integrity,
        dh,
    })
}

/// Responder: picks an IKE suite from the initiator's proposals (see the module doc for the
/// order). `ke` is the group of the initiator's KE payload. Returns the chosen proposal's number
/// with the suite; the caller compares `suite.dh` with `ke` to decide on INVALID_KE_PAYLOAD.
pub fn select_ike(
    offers: &[Proposal],
    ours: &[IkeProposal],
    ke: Option<DhGroup>,
) -> Result<(u8, IkeSuite), NegotiationError> {
    offers
        .iter()
        .find_map(|o| {
            ours.iter()
                .find_map(|p| match_ike(o, p, ke))
                .map(|s| (o.number, s))
        })
        .ok_or(NegotiationError::Incompatible(Mismatch::NoProposalChosen))
}

/// Tries to accept one offered ESP proposal with one of ours.
fn match_esp(p: &Proposal, ours: &EspProposal, with_dh: bool) -> Option<EspSuite> {
    if p.protocol != ProtocolId::ESP || p.spi_u32().is_none() {
        return None;
    }
    let (encryption, integrity) = match_cipher(p, &ours.encryption, &ours.integrity)?;
    let offers_dh = p.transforms_of(TransformType::DH).next().is_some();
    let dh = if with_dh && offers_dh {
        let ours_dh: &[DhGroup] = if ours.dh.is_empty() {
            &[DhGroup::NONE]
        } else {
            &ours.dh
        };
        match_group(p, ours_dh)?
    } else if with_dh && ours.dh.iter().any(|d| *d != DhGroup::NONE) {
        // We require PFS and the peer offers none.
        return None;
    } else {
        DhGroup::NONE
    };
    let ours_esn: Vec<EsnId> = if ours.esn.is_empty() {
        vec![EsnId::NO_ESN]
    } else {
        ours.esn.iter().map(|e| esn_id(*e)).collect()
    };
    let esn = if p.transforms_of(TransformType::ESN).next().is_some() {
        first(p, TransformType::ESN, |id| match id {
            TransformId::Esn(e) if ours_esn.contains(&e) => Some(e == EsnId::ESN),
            _ => None,
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

/// Responder: picks an ESP suite from the initiator's proposals. Returns the chosen proposal's
/// number, the initiator's SPI and the suite. `with_dh` is false in IKE_AUTH.
pub fn select_esp(
    offers: &[Proposal],
    ours: &[EspProposal],
    with_dh: bool,
) -> Result<(u8, u32, EspSuite), NegotiationError> {
    offers
        .iter()
        .find_map(|o| {
            let spi = o.spi_u32()?;
            ours.iter()
                .find_map(|p| match_esp(o, p, with_dh))
                .map(|s| (o.number, spi, s))
        })
        .ok_or(NegotiationError::Incompatible(Mismatch::NoProposalChosen))
}

/// The single-proposal answer for a chosen IKE suite.
pub fn ike_answer(number: u8, s: &IkeSuite) -> Proposal {
    let mut transforms = vec![
        Transform::encryption(s.encryption),
        Transform::new(TransformId::Prf(s.prf)),
    ];
    if s.integrity != IntegId::NONE {
        transforms.push(Transform::new(TransformId::Integ(s.integrity)));
    }
    transforms.push(Transform::new(TransformId::Dh(s.dh)));
    Proposal {
        number,
        protocol: ProtocolId::IKE,
        spi: Vec::new(),
        transforms,
    }
}

/// The single-proposal answer for a chosen ESP suite, with our SPI.
pub fn esp_answer(number: u8, spi: u32, s: &EspSuite, with_dh: bool) -> Proposal {
    let mut transforms = vec![Transform::encryption(s.encryption)];
    if s.integrity != IntegId::NONE {
        transforms.push(Transform::new(TransformId::Integ(s.integrity)));
    }
    if with_dh && s.dh != DhGroup::NONE {
        transforms.push(Transform::new(TransformId::Dh(s.dh)));
    }
    transforms.push(Transform::new(TransformId::Esn(esn_id(s.esn))));
    Proposal {
        number,
        protocol: ProtocolId::ESP,
        spi: spi.to_be_bytes().to_vec(),
        transforms,
    }
}

/// Initiator: checks the responder's answer is exactly one proposal with one transform of each
/// kind, all taken from what we offered, and returns the suite.
pub fn accept_ike_answer(
    answer: &[Proposal],
    ours: &[IkeProposal],
) -> Result<IkeSuite, NegotiationError> {
    let [a] = answer else {
        return Err(NegotiationError::PeerMisbehaved(
            "responder must return one proposal".into(),
        ));
    };
    for ty in [TransformType::ENCR, TransformType::PRF, TransformType::DH] {
        if a.transforms_of(ty).count() != 1 {
            return Err(NegotiationError::PeerMisbehaved(
                "responder's proposal must have one transform of each type".into(),
            ));
        }
    }
    ours.iter()
        .find_map(|p| match_ike(a, p, None))
        .ok_or(NegotiationError::Incompatible(Mismatch::NoProposalChosen))
}

/// Initiator: checks the responder's ESP answer and returns its SPI and the suite.
pub fn accept_esp_answer(
    answer: &[Proposal],
    ours: &[EspProposal],
    with_dh: bool,
) -> Result<(u32, EspSuite), NegotiationError> {
    let [a] = answer else {
        return Err(NegotiationError::PeerMisbehaved(
            "responder must return one proposal".into(),
        ));
    };
    if a.transforms_of(TransformType::ENCR).count() != 1 {
        return Err(NegotiationError::PeerMisbehaved(
            "responder's proposal must have one encryption transform".into(),
        ));
    }
    select_esp(answer, ours, with_dh).map(|(_, spi, s)| (spi, s))
}

fn join<T: Copy>(items: impl IntoIterator<Item = T>, f: fn(T) -> String) -> String {
    items.into_iter().map(f).collect::<Vec<_>>().join(",")
}

impl fmt::Display for IkeSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", cipher_name(self.encryption), prf_name(self.prf))?;
        if self.integrity != IntegId::NONE {
            write!(f, "/{}", mac_name(self.integrity))?;
        }
        write!(f, "/{}", group_name(self.dh))
    }
}

impl fmt::Display for EspSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", cipher_name(self.encryption))?;
        if self.integrity != IntegId::NONE {
            write!(f, "/{}", mac_name(self.integrity))?;
        }
        write!(f, "/{}", group_name(self.dh))?;
        if self.esn {
            write!(f, "/esn")?;
        }
        Ok(())
    }
}

impl fmt::Display for IkeProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            join(self.encryption.iter().copied(), cipher_name),
            join(self.prf.iter().copied(), prf_name)
        )?;
        if !self.integrity.is_empty() {
            write!(f, "/{}", join(self.integrity.iter().copied(), mac_name))?;
        }
        write!(f, "/{}", join(self.dh.iter().copied(), group_name))
    }
}

impl fmt::Display for EspProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", join(self.encryption.iter().copied(), cipher_name))?;
        if !self.integrity.is_empty() {
            write!(f, "/{}", join(self.integrity.iter().copied(), mac_name))?;
        }
        if !self.dh.is_empty() {
            write!(f, "/{}", join(self.dh.iter().copied(), group_name))?;
        }
        Ok(())
    }
}

/// One received proposal for a log line, in the PAN-OS style `aes-256-gcm,aes-128-cbc/sha256/
/// group19,group14`.
fn proposal_text(p: &Proposal) -> String {
    let ids = |ty: TransformType| p.transforms_of(ty).map(|t| t.id);
    let mut parts = vec![join(
        p.transforms_of(TransformType::ENCR)
            .filter_map(Transform::as_encryption),
        cipher_name,
    )];
    let prfs = join(
        ids(TransformType::PRF).filter_map(|id| match id {
            TransformId::Prf(x) => Some(x),
            _ => None,
        }),
        prf_name,
    );
    let integ = join(
        ids(TransformType::INTEG).filter_map(|id| match id {
            TransformId::Integ(x) => Some(x),
            _ => None,
        }),
        mac_name,
    );
    let dh = join(
        ids(TransformType::DH).filter_map(|id| match id {
            TransformId::Dh(x) => Some(x),
            _ => None,
        }),
        group_name,
    );
    parts.extend([prfs, integ, dh].into_iter().filter(|s| !s.is_empty()));
    parts.join("/")
}

/// The peer's proposals for a log line, joined with ` | `.
pub fn describe(offers: &[Proposal]) -> String {
    offers
        .iter()
        .map(proposal_text)
        .collect::<Vec<_>>()
        .join(" | ")
}
#[cfg(test)]
mod tests {
    use super::*;
    use ipsec_core::crypto::EncrId;

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
                .transforms_of(TransformType::DH)
                .next()
                .unwrap()
                .id,
            TransformId::Dh(DhGroup::ECP_256)
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
            Err(NegotiationError::Incompatible(Mismatch::NoProposalChosen))
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
            Err(NegotiationError::PeerMisbehaved(_))
        ));
        assert_eq!(s.to_string(), "aes-256-gcm/sha256/group31");
    }
}
