//! Child SAs: building the [`ChildSa`] description ESP installs.

use crate::config::TunnelConfig;
use crate::error::LocalError;
use crate::event::Role;
use crate::keys;
use crate::proposal::EspSuite;
use ipsec_core::child_sa::{
    ChildSa, DirectionKeys, IpsecProtocol, Lifetimes, Mode, UdpEncapsulation,
};
use ipsec_core::crypto::{DhGroup, PrfAlgorithm, SecretBytes};
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
    /// We answered the peer's rekey that created it and the datapath does not send on it yet:
    /// the peer may not have our answer ([`Outbound::Later`](crate::Outbound::Later)).
    pub(crate) outbound_later: bool,
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

/// The keying material of a Child SA (RFC 7296 section 2.17): `KEYMAT = prf+(SK_d, [g^ir |]
/// Ni | Nr)`.
pub(crate) struct Keymat<'a> {
    pub(crate) prf: &'static dyn PrfAlgorithm,
    pub(crate) sk_d: &'a [u8],
    pub(crate) ni: &'a [u8],
    pub(crate) nr: &'a [u8],
    /// The PFS secret of CREATE_CHILD_SA.
    pub(crate) shared: Option<&'a SecretBytes>,
}

/// What the two peers agreed for one Child SA.
pub(crate) struct Agreed<'a> {
    pub(crate) tunnel: &'a TunnelConfig,
    pub(crate) proxy_id: Option<String>,
    pub(crate) role: Role,
    pub(crate) suite: EspSuite,
    pub(crate) our_spi: u32,
    pub(crate) peer_spi: u32,
    /// TSi and TSr as on the wire.
    pub(crate) tsi: Vec<TrafficSelector>,
    pub(crate) tsr: Vec<TrafficSelector>,
}

/// How the Child SA is carried: addresses, encapsulation, mode, TFC padding.
pub(crate) struct Carriage {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) encap: bool,
    pub(crate) mode: Mode,
    pub(crate) tfc_padding: bool,
}

/// Derives the keys (RFC 7296 section 2.17) and builds the Child SA.
pub(crate) fn build(k: Keymat<'_>, a: Agreed<'_>, c: Carriage) -> Result<Child, LocalError> {
    let lens = a.suite.key_lengths()?;
    let shared = k.shared.map(|s| s.expose());
    let keys = keys::child_keys(k.prf, k.sk_d, shared, k.ni, k.nr, lens)?;
    // KEYMAT: initiator-to-responder keys first; TSi is the initiator's side.
    let ((inbound, outbound), (local_ts, remote_ts)) = match a.role {
        Role::Initiator => (
            ((keys.encr_r, keys.integ_r), (keys.encr_i, keys.integ_i)),
            (a.tsi, a.tsr),
        ),
        Role::Responder => (
            ((keys.encr_i, keys.integ_i), (keys.encr_r, keys.integ_r)),
            (a.tsr, a.tsi),
        ),
    };
    let life = a.tunnel.lifetime;
    let sa = ChildSa {
        tunnel: a.tunnel.name.clone(),
        proxy_id: a.proxy_id,
        protocol: IpsecProtocol::Esp,
        mode: c.mode,
        encryption: a.suite.encryption,
        integrity: a.suite.integrity,
        esn: a.suite.esn,
        inbound: DirectionKeys {
            spi: a.our_spi,
            encryption_key: inbound.0,
            integrity_key: inbound.1,
        },
        outbound: DirectionKeys {
            spi: a.peer_spi,
            encryption_key: outbound.0,
            integrity_key: outbound.1,
        },
        local_ts,
        remote_ts,
        local_addr: c.local,
        remote_addr: c.remote,
        encapsulation: c.encap.then_some(UdpEncapsulation {
            local_port: c.local.port(),
            remote_port: c.remote.port(),
        }),
        lifetimes: Lifetimes {
            // Soft limits at 90 % of the hard ones, as PAN-OS and strongSwan roughly do.
            soft_time: Some(life.mul_f64(0.9)),
            hard_time: Some(life),
            soft_bytes: a.tunnel.lifesize.map(soft_bytes),
            hard_bytes: a.tunnel.lifesize,
            ..Default::default()
        },
        replay_window: a.tunnel.replay_window,
        tfc_padding: c.tfc_padding,
    };
    Ok(Child {
        sa,
        suite: a.suite,
        replaces: None,
        min_nonce: k.ni.min(k.nr).to_vec(),
        ours: a.role == Role::Initiator,
        outbound_later: false,
        rekey_at: None,
        expire_at: Instant::ZERO,
    })
}
