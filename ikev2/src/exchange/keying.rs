//! The IKE SA's algorithms and keys: our usable proposals, the negotiated PRF and the SK_* keys
//! (RFC 7296 sections 2.13, 2.14).

use crate::config::GatewayConfig;
use crate::ctx::Ctx;
use crate::error::LocalError;
use crate::event::Role;
use crate::keys;
use crate::proposal::{IkeProposal, IkeSuite};
use crate::sa::SaKeys;
use crate::wire::SkKeys;
use ipsec_core::crypto::{CryptoError, CryptoProvider, PrfAlgorithm};

/// The gateway's IKE proposals that the provider can run.
pub(crate) fn our_proposals(g: &GatewayConfig, provider: &CryptoProvider) -> Vec<IkeProposal> {
    g.ike_proposals
        .iter()
        .filter_map(|p| p.supported_by(provider))
        .collect()
}

/// The negotiated PRF, from the provider.
pub(crate) fn prf(
    ctx: &Ctx<'_>,
    suite: &IkeSuite,
) -> Result<&'static dyn PrfAlgorithm, LocalError> {
    Ok(ctx
        .provider
        .prf(suite.prf)
        .ok_or(CryptoError::Unsupported("PRF not in the provider"))?)
}

/// The SK_* keys from SKEYSEED, the nonces and SPIs, with `suite`; `role` decides which
/// direction's keys protect what we send.
pub(crate) fn sa_keys(
    ctx: &Ctx<'_>,
    role: Role,
    suite: &IkeSuite,
    seed: &[u8],
    (ni, nr): (&[u8], &[u8]),
    (spi_i, spi_r): (u64, u64),
) -> Result<SaKeys, LocalError> {
    let prf = prf(ctx, suite)?;
    let lens = suite.key_lengths()?;
    let ike = keys::ike_keys(prf, seed, ni, nr, spi_i, spi_r, lens)?;
    let mk = |e: &[u8], a: &[u8]| {
        SkKeys::new(ctx.provider, suite.encryption, suite.integrity, e, a)
            .map_err(LocalError::Encode)
    };
    let i = mk(ike.sk_ei.expose(), ike.sk_ai.expose())?;
    let r = mk(ike.sk_er.expose(), ike.sk_ar.expose())?;
    let (send, recv) = match role {
        Role::Initiator => (i, r),
        Role::Responder => (r, i),
    };
    Ok(SaKeys { ike, send, recv })
}
