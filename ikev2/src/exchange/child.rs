//! Child SA negotiation shared by IKE_AUTH and CREATE_CHILD_SA: which Child SAs a tunnel
//! proposes and accepts (one per proxy ID, as PAN-OS negotiates them), our ESP offer, how a
//! refusal reads, and building the negotiated Child SA.

use crate::config::{any_selector, EndpointConfig, TunnelConfig};
use crate::ctx::Ctx;
use crate::error::LocalError;
use crate::event::Reason;
use crate::proposal;
use crate::sa::{self, Agreed, Carriage, Child, ChildRequest, Keymat, Link};
use crate::wire::{Message, Notify, NotifyType, Payload, Proposal, SecurityAssociation};
use ipsec_core::child_sa::Mode;
use ipsec_core::crypto::DhGroup;
use ipsec_core::selector::TrafficSelector;
use std::net::IpAddr;

/// The Child SAs an initiator proposes for `t` as `(proxy ID, TSi, TSr)`: one per proxy ID, in
/// configuration order, or a single 0.0.0.0/0 (::/0, by `peer`'s family) pair when the tunnel
/// has none.
pub(crate) fn proposed_children(
    t: &TunnelConfig,
    peer: IpAddr,
) -> Vec<(Option<String>, TrafficSelector, TrafficSelector)> {
    if t.proxy_ids.is_empty() {
        let any = any_selector(peer);
        return vec![(None, any, any)];
    }
    t.proxy_ids
        .iter()
        .map(|p| (Some(p.name.clone()), p.local, p.remote))
        .collect()
}

/// The Child SA an initiator proposes for proxy ID number `index` of `tunnel` (see
/// [`proposed_children`]); index 0 goes into IKE_AUTH, the others into CREATE_CHILD_SA.
pub(crate) fn child_request(
    ctx: &Ctx<'_>,
    tunnel: &str,
    index: usize,
    spi: u32,
    peer: IpAddr,
) -> Result<ChildRequest, LocalError> {
    let t = ctx.tunnel(tunnel)?;
    let (proxy_id, local, remote) = proposed_children(t, peer)
        .into_iter()
        .nth(index)
        .ok_or_else(|| LocalError::Inconsistent(format!("proxy ID {index} of {tunnel}")))?;
    Ok(ChildRequest {
        tunnel: t.name.clone(),
        proxy_id,
        spi,
        tsi: vec![local],
        tsr: vec![remote],
        rekey: None,
        group: None,
    })
}

/// A responder's candidate policy: `(local, remote, tunnel, proxy ID)`.
pub(crate) type Policy<'c> = (
    Vec<TrafficSelector>,
    Vec<TrafficSelector>,
    &'c TunnelConfig,
    Option<String>,
);

/// The policies of every tunnel of `gateway`: one per proxy ID, or 0.0.0.0/0 (::/0, by
/// `family_of`) both ways for a tunnel without proxy IDs.
pub(crate) fn policies<'c>(
    cfg: &'c EndpointConfig,
    gateway: &str,
    family_of: IpAddr,
) -> Vec<Policy<'c>> {
    let mut out = Vec::new();
    for t in cfg.tunnels.iter().filter(|t| t.gateway == gateway) {
        if t.proxy_ids.is_empty() {
            let any = any_selector(family_of);
            out.push((vec![any], vec![any], t, None));
        }
        for p in &t.proxy_ids {
            out.push((vec![p.local], vec![p.remote], t, Some(p.name.clone())));
        }
    }
    out
}

/// The first candidate policy as the `(local, remote, tunnel)` of a TS_UNACCEPTABLE report.
pub(crate) fn first_policy(
    pols: &[Policy<'_>],
) -> (Vec<TrafficSelector>, Vec<TrafficSelector>, String) {
    pols.first()
        .map(|(l, r, t, _)| (l.clone(), r.clone(), t.name.clone()))
        .unwrap_or_default()
}

/// Our ESP proposals for `t`, as the text of a [`Reason::NoProposalChosen`].
pub(crate) fn esp_text(t: &TunnelConfig) -> String {
    t.esp_proposals
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Appends an initiator's Child SA offer for `t` with our inbound `spi`: N(USE_TRANSPORT_MODE)
/// when `t` wants transport mode, then the SA payload (with PFS groups when `with_dh`).
pub(crate) fn push_esp_offers(
    payloads: &mut Vec<Payload>,
    t: &TunnelConfig,
    spi: u32,
    with_dh: bool,
) {
    if t.mode == Mode::Transport {
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::USE_TRANSPORT_MODE,
            &[],
        )));
    }
    payloads.push(Payload::Sa(SecurityAssociation {
        proposals: esp_offers(t, spi, with_dh),
    }));
}

/// An initiator's ESP offers for `t` with our inbound `spi`, numbered as they go on the wire;
/// with PFS groups when `with_dh` (CREATE_CHILD_SA, not IKE_AUTH).
pub(crate) fn esp_offers(t: &TunnelConfig, spi: u32, with_dh: bool) -> Vec<Proposal> {
    proposal::number(
        t.esp_proposals
            .iter()
            .flat_map(|p| p.offers(spi, with_dh))
            .collect(),
    )
}

/// The group of an initiator's CREATE_CHILD_SA KE payload: its first PFS group, if any.
pub(crate) fn pfs_group(t: &TunnelConfig) -> Option<DhGroup> {
    t.esp_proposals
        .iter()
        .flat_map(|p| p.dh.iter().copied())
        .find(|g| *g != DhGroup::NONE)
}

/// Whether an initiator retries CREATE_CHILD_SA after INVALID_KE_PAYLOAD asked for `wanted`:
/// once only (`retried` false), with a group it offered, and not the one it sent (`sent`).
pub(crate) fn retries_pfs(
    t: &TunnelConfig,
    wanted: Option<DhGroup>,
    sent: Option<DhGroup>,
    retried: bool,
) -> bool {
    let offered = t
        .esp_proposals
        .iter()
        .any(|p| wanted.is_some_and(|w| p.dh.contains(&w)));
    offered && !retried && wanted != sent
}

/// Why the peer refused the Child SA of `req`, from the error notify of its answer.
pub(crate) fn peer_refusal(n: NotifyType, tunnel: &TunnelConfig, req: &ChildRequest) -> Reason {
    match n {
        NotifyType::TS_UNACCEPTABLE => Reason::TsUnacceptable {
            local: req.tsi.clone(),
            remote: req.tsr.clone(),
            received_remote: Vec::new(),
            received_local: Vec::new(),
        },
        NotifyType::NO_PROPOSAL_CHOSEN => Reason::NoProposalChosen {
            ours: esp_text(tunnel),
            theirs: String::new(),
        },
        other => Reason::PeerNotify(other.0),
    }
}

/// Builds a negotiated Child SA over `link`. The mode is transport when the tunnel asks for it
/// and so does the peer's `msg` (USE_TRANSPORT_MODE, RFC 7296 section 1.3.1).
pub(crate) fn make_child(
    link: &Link,
    k: Keymat<'_>,
    a: Agreed<'_>,
    msg: &Message,
) -> Result<Child, LocalError> {
    let mode = if a.tunnel.mode == Mode::Transport
        && msg.notify(NotifyType::USE_TRANSPORT_MODE).is_some()
    {
        Mode::Transport
    } else {
        Mode::Tunnel
    };
    let carriage = Carriage {
        local: link.local,
        remote: link.remote,
        encap: link.encap,
        mode,
        tfc_padding: msg
            .notify(NotifyType::ESP_TFC_PADDING_NOT_SUPPORTED)
            .is_none(),
    };
    sa::build(k, a, carriage)
}

/// Appends a responder's accepted Child SA: N(USE_TRANSPORT_MODE) when `c` is in transport
/// mode, then the SA payload answering proposal `number` with our SPI.
pub(crate) fn push_esp_answer(payloads: &mut Vec<Payload>, c: &Child, number: u8, with_dh: bool) {
    if c.sa.mode == Mode::Transport {
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::USE_TRANSPORT_MODE,
            &[],
        )));
    }
    payloads.push(Payload::Sa(SecurityAssociation {
        proposals: vec![proposal::esp_answer(
            number,
            c.sa.inbound.spi,
            &c.suite,
            with_dh,
        )],
    }));
}
