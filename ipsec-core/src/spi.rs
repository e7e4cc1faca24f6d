//! Inbound SPI allocation: the one place IKE and the datapath agree on which SPIs are taken.
//!
//! Every inbound SPI of a gateway (ESP or AH) must be unique among all its SAs, whichever IKE SA
//! negotiated them and whatever the exchange: IKE_AUTH, CREATE_CHILD_SA for a new or a rekeyed
//! Child SA, in either role, and the Child SA work an IKE rekey carries over. The datapath that
//! looks packets up by SPI knows best which SPIs are free, and may encode where an SA lives in
//! the SPI itself (an index for O(1) lookup), so it hands them out: IKE asks
//! [`SpiAllocator::allocate_spi`] before it offers an SPI to the peer, and gives back with
//! [`SpiAllocator::release_spi`] what it offered but never installed.
//!
//! The trait is object safe and takes `&mut self`: an IKE endpoint borrows the allocator for the
//! duration of each call that may negotiate a Child SA, so both live side by side in the
//! embedder without shared ownership.
//!
//! IKE SPIs (eight bytes, RFC 7296 section 2.6) are not handed out here: they name IKE SAs,
//! which only the IKE endpoint looks up.

use crate::crypto::CryptoError;

/// Why no SPI could be allocated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpiError {
    /// Every SPI the allocator can hand out is reserved or installed. Refuse the Child SA (the
    /// peer gets NO_ADDITIONAL_SAS or TEMPORARY_FAILURE); retry after SAs are deleted.
    #[error("no inbound SPI left: the SA table is full")]
    Exhausted,
    /// The random source failed.
    #[error("random source: {0}")]
    Random(CryptoError),
}

/// Hands out inbound SPIs that collide with no SPI reserved or installed.
///
/// Contract, for implementers and callers alike:
/// - an SPI returned by [`allocate_spi`](Self::allocate_spi) is never in 0-255 (reserved by
///   RFC 4303 section 2.1) and differs from every SPI allocated and not released, and from
///   every SPI of an installed inbound SA, until it is released or its SA is removed;
/// - installing an SA with an allocated SPI consumes the reservation; removing that SA frees
///   the SPI;
/// - an SPI allocated but never installed (the negotiation failed, the peer refused, a
///   collision was lost) must be released, or it stays reserved.
pub trait SpiAllocator {
    /// Reserves a fresh inbound SPI.
    fn allocate_spi(&mut self) -> Result<u32, SpiError>;

    /// Gives back an SPI from [`allocate_spi`](Self::allocate_spi) that was never installed.
    /// Releasing an SPI that is not reserved (never allocated, installed, or already released)
    /// does nothing.
    fn release_spi(&mut self, spi: u32);
}
