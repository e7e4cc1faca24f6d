//! An IKE SA's link to its peer: who is who (gateway, role, SPIs), where the peer is (addresses,
//! NAT, UDP encapsulation) and how a message of ours is protected for it.

use crate::config::GatewayConfig;
use crate::ctx::Ctx;
use crate::error::LocalError;
use crate::event::{Role, SaName};
use crate::nat::{NatState, IKE_PORT, NATT_PORT};
use crate::wire::{self, ExchangeType, Flags, Header, Payload, SkKeys};
use std::net::SocketAddr;

/// The addressing of one IKE SA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    /// The `ike-gateway` it belongs to.
    pub(crate) gateway: String,
    /// Our role: who sent IKE_SA_INIT (or, for a rekeyed SA, the rekey request).
    pub(crate) role: Role,
    pub(crate) spi_i: u64,
    /// 0 until the responder answered IKE_SA_INIT.
    pub(crate) spi_r: u64,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    /// What NAT detection found (RFC 7296 section 2.23).
    pub(crate) nat: NatState,
    /// UDP encapsulation in use (NAT detected or forced).
    pub(crate) encap: bool,
    /// The peer sent IKEV2_FRAGMENTATION_SUPPORTED and we offer it too (RFC 7383).
    pub(crate) fragmentation: bool,
}

impl Link {
    /// A link with nothing detected yet.
    pub(crate) fn new(
        gateway: &str,
        role: Role,
        (spi_i, spi_r): (u64, u64),
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Self {
        Link {
            gateway: gateway.to_owned(),
            role,
            spi_i,
            spi_r,
            local,
            remote,
            nat: NatState::default(),
            encap: false,
            fragmentation: false,
        }
    }

    /// The SPI we chose, under which the endpoint files the SA.
    pub(crate) fn our_spi(&self) -> u64 {
        match self.role {
            Role::Initiator => self.spi_i,
            Role::Responder => self.spi_r,
        }
    }

    /// SPIs and addresses for events.
    pub(crate) fn name(&self) -> SaName {
        SaName {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            local: self.local,
            remote: self.remote,
        }
    }

    /// A header for a message of ours.
    pub(crate) fn header(&self, exchange: ExchangeType, response: bool, id: u32) -> Header {
        Header::new(
            self.spi_i,
            self.spi_r,
            exchange,
            Flags::new(self.role == Role::Initiator, response),
            id,
        )
    }

    /// The gateway's configuration.
    pub(crate) fn gateway_cfg<'c>(&self, ctx: &Ctx<'c>) -> Result<&'c GatewayConfig, LocalError> {
        ctx.gateway(&self.gateway)
    }

    /// Moves IKE to port 4500 once UDP encapsulation is decided (RFC 7296 section 2.23).
    pub(crate) fn float(&mut self) {
        self.local.set_port(NATT_PORT);
        if self.remote.port() == IKE_PORT {
            self.remote.set_port(NATT_PORT);
        }
    }

    /// Encrypts `payloads` into one message, or into fragments when it is too large and the
    /// peer supports fragmentation (RFC 7383).
    pub(crate) fn protect(
        &self,
        ctx: &Ctx<'_>,
        keys: &SkKeys,
        header: &Header,
        payloads: &[Payload],
    ) -> Result<Vec<Vec<u8>>, LocalError> {
        let whole = wire::protect(header, payloads, keys, ctx.rng).map_err(LocalError::Encode)?;
        let limit = ctx.cfg.fragment_size;
        if self.fragmentation && whole.len() > limit {
            let marker = if self.local.port() == NATT_PORT { 4 } else { 0 };
            return wire::protect_fragments(
                header,
                payloads,
                keys,
                ctx.rng,
                limit.saturating_sub(marker),
                &wire::Limits::default(),
            )
            .map_err(LocalError::Encode);
        }
        Ok(vec![whole])
    }
}
