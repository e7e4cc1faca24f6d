//! Child SAs: building the [`ChildSa`] description ESP installs.

use crate::config::TunnelConfig;
use crate::error::LocalError;
use crate::event::Role;
use crate::keys;
use crate::proposal::EspSuite;
use ipsec_core::child_sa::{
    ChildSa, DirectionKeys, IpsecProtocol, Lifetimes, Mode, UdpEncapsulation,
};
use ipsec_core::crypto::{DhGroup, PrfAlgorithm};
use ipsec_core::selector::TrafficSelector;
use ipsec_core::time::Instant;
use std::net::SocketAddr;

/// A Child SA we propose: the first in IKE_AUTH, later ones (and rekeys) in CREATE_CHILD_SA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChildRequest {
    pub(crate) tunnel: String,
    pub(crate) proxy_id: Option<String>,
    /// Our inbound SPI for it.
    pub(crate) spi: u32,
    pub(crate) tsi: Vec<TrafficSelector>,
    pub(crate) tsr: Vec<TrafficSelector>,
    /// For a rekey: the inbound SPI of the Child SA being replaced.
    pub(crate) rekey: Option<u32>,
    /// The PFS group the responder asked for with INVALID_KE_PAYLOAD (one retry).
    pub(crate) group: Option<DhGroup>,
}

impl ChildRequest {
    /// The request that rekeys `old`, with our new inbound SPI `spi` (RFC 7296 section 1.3.3).
    pub(crate) fn rekey_of(old: &ChildSa, spi: u32) -> Self {
        ChildRequest {
            tunnel: old.tunnel.clone(),
            proxy_id: old.proxy_id.clone(),
            spi,
            tsi: old.local_ts.clone(),
            tsr: old.remote_ts.clone(),
            rekey: Some(old.inbound.spi),
            group: None,
        }
    }

    /// True when it is for `tunnel`'s proxy ID `proxy_id`.
    pub(crate) fn is_for(&self, tunnel: &str, proxy_id: Option<&str>) -> bool {
        self.tunnel == tunnel && self.proxy_id.as_deref() == proxy_id
    }
}

/// A Child SA of an IKE SA.
#[derive(Clone, Debug)]
pub(crate) struct Child {
    pub(crate) sa: ChildSa,
    pub(crate) suite: EspSuite,
    /// For a rekeyed SA: the inbound SPI of the SA it replaces.
    pub(crate) replaces: Option<u32>,
    /// The lower of the two nonces of the exchange that created it (RFC 7296 section 2.8.1).
    pub(crate) min_nonce: Vec<u8>,
    /// We sent the request that created it.
    pub(crate) ours: bool,
    /// When to rekey it (soft lifetime); `None` once a rekey was started.
    pub(crate) rekey_at: Option<Instant>,
    /// When it must be gone (hard lifetime).
    pub(crate) expire_at: Instant,
}

impl Child {
    /// True when it carries `tunnel`'s proxy ID `proxy_id`.
    pub(crate) fn is_for(&self, tunnel: &str, proxy_id: Option<&str>) -> bool {
        self.sa.tunnel == tunnel && self.sa.proxy_id.as_deref() == proxy_id
    }

    /// Its next deadline: the rekey, else the expiry.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        [self.rekey_at, Some(self.expire_at)]
            .into_iter()
            .flatten()
            .filter(|t| *t < Instant::from_micros(u64::MAX))
            .min()
    }
}

/// The soft byte limit for a hard one of `hard` bytes: 90 % of it, rounded up (without the
/// overflow `hard * 9` could give).
fn soft_bytes(hard: u64) -> u64 {
    hard - hard / 10
}

/// Everything that goes into one [`ChildSa`].
pub(crate) struct ChildParams<'a> {
    pub(crate) tunnel: &'a TunnelConfig,
    pub(crate) proxy_id: Option<String>,
    pub(crate) role: Role,
    pub(crate) suite: EspSuite,
    pub(crate) our_spi: u32,
    pub(crate) peer_spi: u32,
    pub(crate) local_ts: Vec<TrafficSelector>,
    pub(crate) remote_ts: Vec<TrafficSelector>,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) encap: bool,
    pub(crate) mode: Mode,
    pub(crate) tfc_padding: bool,
}

/// Derives the keys (RFC 7296 section 2.17; `g_ir` is the PFS secret of CREATE_CHILD_SA) and
/// builds the Child SA.
pub(crate) fn build(
    prf: &dyn PrfAlgorithm,
    sk_d: &[u8],
    g_ir: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    p: ChildParams<'_>,
) -> Result<Child, LocalError> {
    let lens = p.suite.key_lengths()?;
    let k = keys::child_keys(prf, sk_d, g_ir, ni, nr, lens)?;
    // KEYMAT: initiator-to-responder keys first.
    let (inbound, outbound) = match p.role {
        Role::Initiator => ((k.encr_r, k.integ_r), (k.encr_i, k.integ_i)),
        Role::Responder => ((k.encr_i, k.integ_i), (k.encr_r, k.integ_r)),
    };
    let life = p.tunnel.lifetime;
    let sa = ChildSa {
        tunnel: p.tunnel.name.clone(),
        proxy_id: p.proxy_id,
        protocol: IpsecProtocol::Esp,
        mode: p.mode,
        encryption: p.suite.encryption,
        integrity: p.suite.integrity,
        esn: p.suite.esn,
        inbound: DirectionKeys {
            spi: p.our_spi,
            encryption_key: inbound.0,
            integrity_key: inbound.1,
        },
        outbound: DirectionKeys {
            spi: p.peer_spi,
            encryption_key: outbound.0,
            integrity_key: outbound.1,
        },
        local_ts: p.local_ts,
        remote_ts: p.remote_ts,
        local_addr: p.local,
        remote_addr: p.remote,
        encapsulation: p.encap.then_some(UdpEncapsulation {
            local_port: p.local.port(),
            remote_port: p.remote.port(),
        }),
        lifetimes: Lifetimes {
            // Soft limits at 90 % of the hard ones, as PAN-OS and strongSwan roughly do.
            soft_time: Some(life.mul_f64(0.9)),
            hard_time: Some(life),
            soft_bytes: p.tunnel.lifesize.map(soft_bytes),
            hard_bytes: p.tunnel.lifesize,
            ..Default::default()
        },
        replay_window: p.tunnel.replay_window,
        tfc_padding: p.tfc_padding,
    };
    Ok(Child {
        sa,
        suite: p.suite,
        replaces: None,
        min_nonce: ni.min(nr).to_vec(),
        ours: p.role == Role::Initiator,
        rekey_at: None,
        expire_at: Instant::ZERO,
    })
}
