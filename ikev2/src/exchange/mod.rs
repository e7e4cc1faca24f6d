//! The exchanges of an IKE SA, one module each: IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA,
//! INFORMATIONAL.
//!
//! Each module adds the methods that build and process its messages to
//! [`IkeSa`](crate::sa::IkeSa); the endpoint routes datagrams to them and the SA's
//! [`RequestQueue`](crate::queue::RequestQueue) owns message IDs and retransmission.

pub(crate) mod create_child_sa;
pub(crate) mod ike_auth;
pub(crate) mod ike_rekey;
pub(crate) mod ike_sa_init;
pub(crate) mod informational;

use crate::config::EndpointConfig;
use crate::event::Event;
use crate::proposal::{Offer, OfferedTransform};
use crate::wire::{Proposal, ProtocolId, SecurityAssociation, Transform, TransformId};
use ipsec_core::crypto::{CryptoProvider, EncrId, Encryption, SecureRandom, TransformType};
use ipsec_core::time::Instant;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// A datagram waiting for [`Endpoint::poll_transmit`](crate::Endpoint::poll_transmit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Datagram {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) bytes: Vec<u8>,
}

/// What an SA needs from the endpoint while it processes one input.
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    pub(crate) cfg: &'a EndpointConfig,
    pub(crate) provider: &'a CryptoProvider,
    pub(crate) rng: &'a dyn SecureRandom,
    pub(crate) out: &'a mut VecDeque<Datagram>,
    pub(crate) events: &'a mut VecDeque<Event>,
    /// IKE SAs created by a rekey, for the endpoint to take over.
    pub(crate) new_sas: &'a mut Vec<crate::sa::IkeSa>,
}

impl Ctx<'_> {
    /// Queues IKE messages for sending, adding the non-ESP marker on the NAT-T port.
    pub(crate) fn send(&mut self, local: SocketAddr, remote: SocketAddr, messages: &[Vec<u8>]) {
        for m in messages {
            let bytes = if local.port() == crate::nat::NATT_PORT {
                let mut b = Vec::with_capacity(m.len() + 4);
                b.extend_from_slice(&crate::nat::NON_ESP_MARKER);
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

    /// Random bytes; a failing random source is fatal for the exchange.
    pub(crate) fn random(&self, len: usize) -> Result<Vec<u8>, crate::Error> {
        let mut v = vec![0; len];
        self.rng.fill(&mut v)?;
        Ok(v)
    }
}

/// Draws before a random source that keeps producing unusable SPIs is declared broken.
const SPI_TRIES: usize = 64;

/// A fresh IKE SPI: non-zero and not `taken`. A random source that cannot produce one in a
/// few tries is broken: [`CryptoError::RandomFailed`](ipsec_core::crypto::CryptoError) rather
/// than a loop.
pub(crate) fn fresh_ike_spi(
    rng: &dyn SecureRandom,
    taken: impl Fn(u64) -> bool,
) -> Result<u64, crate::Error> {
    let mut b = [0u8; 8];
    for _ in 0..SPI_TRIES {
        rng.fill(&mut b)?;
        let spi = u64::from_be_bytes(b);
        if spi != 0 && !taken(spi) {
            return Ok(spi);
        }
    }
    Err(ipsec_core::crypto::CryptoError::RandomFailed.into())
}

/// A fresh ESP SPI: never 0-255 (reserved, RFC 4303 section 2.1) and not `taken`.
pub(crate) fn fresh_child_spi(
    rng: &dyn SecureRandom,
    taken: impl Fn(u32) -> bool,
) -> Result<u32, crate::Error> {
    let mut b = [0u8; 4];
    for _ in 0..SPI_TRIES {
        rng.fill(&mut b)?;
        let spi = u32::from_be_bytes(b);
        if spi > 255 && !taken(spi) {
            return Ok(spi);
        }
    }
    Err(ipsec_core::crypto::CryptoError::RandomFailed.into())
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
