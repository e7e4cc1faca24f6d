//! Where the endpoint's inbound SPIs come from: an allocator the embedder lends for each call
//! ([`Endpoint::with_spis`], usually the ESP datapath's table), or the endpoint's own.

use super::{Endpoint, Received};
use crate::ctx::fresh_child_spi;
use crate::error::CommandError;
use crate::event::Event;
use ipsec_core::crypto::SecureRandom;
use ipsec_core::spi::{SpiAllocator, SpiError};
use ipsec_core::time::Instant;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

/// The endpoint's own allocator, for embedders whose datapath does not hand out SPIs: random
/// SPIs, unique among those it handed out and not freed.
struct OwnSpis<'a> {
    used: &'a mut HashSet<u32>,
    rng: &'a dyn SecureRandom,
}

impl SpiAllocator for OwnSpis<'_> {
    fn allocate_spi(&mut self) -> Result<u32, SpiError> {
        let used = &*self.used;
        let spi = fresh_child_spi(self.rng, |s| used.contains(&s)).map_err(|e| match e {
            crate::error::LocalError::Crypto(c) => SpiError::Random(c),
            _ => SpiError::Exhausted,
        })?;
        self.used.insert(spi);
        Ok(spi)
    }

    fn release_spi(&mut self, spi: u32) {
        self.used.remove(&spi);
    }
}

impl Endpoint {
    /// Runs `f` with the endpoint's own allocator. It stands in for a datapath: the SPI of a
    /// Child SA the endpoint reports down is free again.
    pub(super) fn own_spis<R>(
        &mut self,
        f: impl FnOnce(&mut Endpoint, &mut dyn SpiAllocator) -> R,
    ) -> R {
        let mut used = core::mem::take(&mut self.own_spis);
        let rng = self.rng.clone();
        let before = self.events.len();
        let r = f(
            self,
            &mut OwnSpis {
                used: &mut used,
                rng: &*rng,
            },
        );
        for e in self.events.iter().skip(before) {
            if let Event::ChildSaDown { inbound_spi, .. } = e {
                used.remove(inbound_spi);
            }
        }
        self.own_spis = used;
        r
    }

    /// The endpoint with `spis` lent for the calls made through the result: every inbound SPI
    /// they offer comes from `spis`, and what was offered but will never be installed goes back
    /// to it ([`SpiAllocator::release_spi`]). The embedder's datapath frees the SPIs of the SAs
    /// it removes. Lend the same allocator for every input and command, for the whole life of
    /// the endpoint (see [`Endpoint`]'s contract); the outputs and getters stay on `Endpoint`.
    ///
    /// ```
    /// # use ikev2::testing::SiteSpec;
    /// # use ipsec_core::crypto::default_provider;
    /// # use ipsec_core::time::Instant;
    /// use ikev2::Endpoint;
    /// use ipsec_core::spi::SpiAllocator;
    ///
    /// /// Sequential SPIs from 0x1000, for the example; `esp::SaTable` is the usual allocator.
    /// struct Counter(u32);
    /// impl SpiAllocator for Counter {
    ///     fn allocate_spi(&mut self) -> Result<u32, ipsec_core::spi::SpiError> {
    ///         self.0 += 1;
    ///         Ok(self.0)
    ///     }
    ///     fn release_spi(&mut self, _spi: u32) {}
    /// }
    ///
    /// let mut endpoint = Endpoint::new(SiteSpec::left().config(), default_provider())?;
    /// let mut spis = Counter(0x1000);
    /// endpoint.with_spis(&mut spis).connect(Instant::from_secs(1), "tun")?;
    /// assert_eq!(spis.0, 0x1001, "the first Child SA's inbound SPI, offered in IKE_AUTH");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_spis<'a>(&'a mut self, spis: &'a mut dyn SpiAllocator) -> WithSpis<'a> {
        WithSpis {
            endpoint: self,
            spis,
        }
    }
}

/// An [`Endpoint`] with an SPI allocator lent to it, from [`Endpoint::with_spis`]: its inputs
/// and commands, each documented on `Endpoint`.
pub struct WithSpis<'a> {
    pub(super) endpoint: &'a mut Endpoint,
    pub(super) spis: &'a mut dyn SpiAllocator,
}

impl core::fmt::Debug for WithSpis<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WithSpis").finish_non_exhaustive()
    }
}

impl WithSpis<'_> {
    /// [`Endpoint::handle_datagram`].
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) -> Received {
        self.endpoint
            .handle_datagram_using(self.spis, now, local, remote, data)
    }

    /// [`Endpoint::handle_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout_using(self.spis, now);
    }

    /// [`Endpoint::connect`].
    pub fn connect(&mut self, now: Instant, tunnel: &str) -> Result<(), CommandError> {
        self.endpoint.connect_using(self.spis, now, tunnel)
    }

    /// [`Endpoint::rekey_child_sa`].
    pub fn rekey_child_sa(&mut self, now: Instant, inbound_spi: u32) -> Result<(), CommandError> {
        self.endpoint
            .rekey_child_sa_using(self.spis, now, inbound_spi)
    }

    /// [`Endpoint::delete_child_sa`].
    pub fn delete_child_sa(&mut self, now: Instant, inbound_spi: u32) -> Result<(), CommandError> {
        self.endpoint
            .delete_child_sa_using(self.spis, now, inbound_spi)
    }

    /// [`Endpoint::rekey_child`].
    pub fn rekey_child(&mut self, now: Instant, tunnel: &str) -> Result<(), CommandError> {
        self.endpoint.rekey_child_using(self.spis, now, tunnel)
    }

    /// [`Endpoint::delete_child`].
    pub fn delete_child(&mut self, now: Instant, tunnel: &str) -> Result<(), CommandError> {
        self.endpoint.delete_child_using(self.spis, now, tunnel)
    }

    /// [`Endpoint::rekey_ike`].
    pub fn rekey_ike(&mut self, now: Instant, gateway: &str) -> Result<(), CommandError> {
        self.endpoint.rekey_ike_using(self.spis, now, gateway)
    }

    /// [`Endpoint::delete_ike`].
    pub fn delete_ike(&mut self, now: Instant, gateway: &str) -> Result<(), CommandError> {
        self.endpoint.delete_ike_using(self.spis, now, gateway)
    }

    /// [`Endpoint::liveness_check`].
    pub fn liveness_check(&mut self, now: Instant, gateway: &str) -> Result<(), CommandError> {
        self.endpoint.liveness_check_using(self.spis, now, gateway)
    }

    /// [`Endpoint::invalid_spi`].
    pub fn invalid_spi(
        &mut self,
        now: Instant,
        remote: IpAddr,
        spi: u32,
    ) -> Result<(), CommandError> {
        self.endpoint.invalid_spi_using(self.spis, now, remote, spi)
    }
}
