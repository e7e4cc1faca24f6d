//! What an IKE SA borrows from its endpoint while it processes one input: the time, the
//! configuration, the crypto provider and random source, the inbound SPI allocator, and the
//! queues of datagrams and events.

use crate::config::{EndpointConfig, GatewayConfig, TunnelConfig};
use crate::error::LocalError;
use crate::event::Event;
use crate::nat::{NATT_PORT, NON_ESP_MARKER};
use core::time::Duration;
use ipsec_core::crypto::{ActiveKeyExchange, CryptoError, CryptoProvider, DhGroup, SecureRandom};
use ipsec_core::spi::{SpiAllocator, SpiError};
use ipsec_core::time::{Instant, UnixTime};
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;

/// Length of our nonces: 32 bytes, at least half the key size of every PRF we support (RFC 7296
/// section 2.10).
pub(crate) const NONCE_LEN: usize = 32;

/// Draws before a random source that keeps producing unusable SPIs is declared broken.
const SPI_TRIES: usize = 64;

/// A datagram waiting for [`Endpoint::poll_transmit`](crate::Endpoint::poll_transmit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Datagram {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) bytes: Vec<u8>,
}

/// The endpoint's part of processing one input.
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    /// The wall-clock time at `now`, when the embedder gave one (certificate validity).
    pub(crate) wall_clock: Option<UnixTime>,
    pub(crate) cfg: &'a EndpointConfig,
    pub(crate) provider: &'a CryptoProvider,
    pub(crate) rng: &'a dyn SecureRandom,
    /// Hands out every inbound (ESP) SPI we offer, whatever the exchange and role.
    pub(crate) spis: &'a mut dyn SpiAllocator,
    /// The IKE SPIs of the endpoint's SAs, which a new one must avoid.
    pub(crate) ike_spis: &'a HashSet<u64>,
    pub(crate) out: &'a mut VecDeque<Datagram>,
    pub(crate) events: &'a mut VecDeque<Event>,
}

impl<'a> Ctx<'a> {
    /// Queues IKE messages for sending, adding the non-ESP marker on the NAT-T port.
    pub(crate) fn send(&mut self, local: SocketAddr, remote: SocketAddr, messages: &[Vec<u8>]) {
        for m in messages {
            let bytes = if local.port() == NATT_PORT {
                let mut b = Vec::with_capacity(m.len() + 4);
                b.extend_from_slice(&NON_ESP_MARKER);
                b.extend_from_slice(m);
                b
            } else {
                m.clone()
            };
            self.out.push_back(Datagram {
                local,
                remote,
                bytes,
            });
        }
    }

    /// The wall-clock time at `now` from the embedder's last
    /// [`set_wall_clock`](crate::Endpoint::set_wall_clock): the instant and time it gave, moved
    /// on by the monotonic time elapsed since.
    pub(crate) fn wall_clock_at(
        now: Instant,
        set: Option<(Instant, UnixTime)>,
    ) -> Option<UnixTime> {
        set.map(|(at, unix)| {
            UnixTime::from_secs(
                unix.as_secs()
                    .saturating_add(now.saturating_duration_since(at).as_secs()),
            )
        })
    }

    /// Reports an event to the embedder.
    pub(crate) fn emit(&mut self, event: Event) {
        self.events.push_back(event);
    }

    /// Random bytes; a failing random source is fatal for the exchange.
    pub(crate) fn random(&self, len: usize) -> Result<Vec<u8>, LocalError> {
        let mut v = vec![0; len];
        self.rng.fill(&mut v)?;
        Ok(v)
    }

    /// A fresh nonce of [`NONCE_LEN`] bytes.
    pub(crate) fn nonce(&self) -> Result<Vec<u8>, LocalError> {
        self.random(NONCE_LEN)
    }

    /// Starts our side of a key exchange in `group`.
    pub(crate) fn start_ke(
        &self,
        group: DhGroup,
    ) -> Result<Box<dyn ActiveKeyExchange>, LocalError> {
        let kx = self
            .provider
            .key_exchange(group)
            .ok_or(CryptoError::Unsupported("key exchange not in the provider"))?;
        Ok(kx.start(self.rng)?)
    }

    /// A soft lifetime: 85-90 % of the hard one, the point drawn at random (saturating, so any
    /// configured lifetime is safe) so that two peers with equal lifetimes rarely rekey at the
    /// same instant.
    pub(crate) fn soft_lifetime(&self, hard: Duration) -> Duration {
        let jitter = self.random(1).map(|b| f64::from(b[0])).unwrap_or(0.0);
        hard.mul_f64(0.85)
            .saturating_add(hard.mul_f64(0.05 * jitter / 255.0))
    }

    /// The pause before retrying an exchange the peer refused with TEMPORARY_FAILURE: "a short
    /// random delay" (RFC 7296 section 2.25), here 0.5 to 2.5 s, and at most `limit`.
    pub(crate) fn retry_delay(&self, limit: Duration) -> Duration {
        let r = self
            .random(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .unwrap_or(0);
        let d = Duration::from_millis(500 + u64::from(r) % 2000);
        d.min(limit)
    }

    /// A fresh IKE SPI: non-zero and not used by another IKE SA of the endpoint. A random
    /// source that cannot produce one in a few tries is broken: [`CryptoError::RandomFailed`]
    /// rather than a loop.
    pub(crate) fn fresh_ike_spi(&self) -> Result<u64, LocalError> {
        fresh_ike_spi(self.rng, |s| self.ike_spis.contains(&s))
    }

    /// A fresh inbound SPI to offer the peer, unique among every SA of the endpoint's datapath
    /// (see [`ipsec_core::spi`]). Once offered it is installed ([`Event::ChildSaUp`] carries
    /// it) or given back with [`release_spi`](Self::release_spi).
    pub(crate) fn allocate_spi(&mut self) -> Result<u32, SpiError> {
        self.spis.allocate_spi()
    }

    /// Gives back an SPI from [`allocate_spi`](Self::allocate_spi) that will never be
    /// installed: the negotiation failed, the peer refused, or the request was dropped.
    pub(crate) fn release_spi(&mut self, spi: u32) {
        tracing::trace!(spi = format_args!("{spi:08x}"), "inbound SPI released");
        self.spis.release_spi(spi);
    }

    /// The gateway named `name` (it exists: the configuration is validated and never changes).
    pub(crate) fn gateway(&self, name: &str) -> Result<&'a GatewayConfig, LocalError> {
        self.cfg
            .gateway(name)
            .ok_or_else(|| LocalError::Inconsistent(format!("\"{name}\"")))
    }

    /// The tunnel named `name`.
    pub(crate) fn tunnel(&self, name: &str) -> Result<&'a TunnelConfig, LocalError> {
        self.cfg
            .tunnel(name)
            .ok_or_else(|| LocalError::Inconsistent(format!("\"{name}\"")))
    }
}

/// A fresh IKE SPI drawn from `rng` (see [`Ctx::fresh_ike_spi`]).
pub(crate) fn fresh_ike_spi(
    rng: &dyn SecureRandom,
    taken: impl Fn(u64) -> bool,
) -> Result<u64, LocalError> {
    let mut b = [0u8; 8];
    for _ in 0..SPI_TRIES {
        rng.fill(&mut b)?;
        let spi = u64::from_be_bytes(b);
        if spi != 0 && !taken(spi) {
            return Ok(spi);
        }
    }
    Err(CryptoError::RandomFailed.into())
}

/// A fresh ESP SPI drawn from `rng`: never 0-255 (reserved, RFC 4303 section 2.1) and not
/// `taken`.
pub(crate) fn fresh_child_spi(
    rng: &dyn SecureRandom,
    taken: impl Fn(u32) -> bool,
) -> Result<u32, LocalError> {
    let mut b = [0u8; 4];
    for _ in 0..SPI_TRIES {
        rng.fill(&mut b)?;
        let spi = u32::from_be_bytes(b);
        if spi > 255 && !taken(spi) {
            return Ok(spi);
        }
    }
    Err(CryptoError::RandomFailed.into())
}
