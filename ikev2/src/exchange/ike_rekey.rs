//! Rekeying the IKE SA with CREATE_CHILD_SA (RFC 7296 sections 1.3.2, 2.18).
//!
//! ```text
//! Initiator                                    Responder
//! HDR(old SPIs), SK {SA(new SPIi), Ni, KEi} -->
//!                                         <--  HDR(old SPIs), SK {SA(new SPIr), Nr, KEr}
//! (both: new IKE SA with the new SPIs, message IDs from 0, the Child SAs move over)
//! HDR(old SPIs), SK {D(IKE)}                -->
//!                                         <--  HDR(old SPIs), SK {}
//! ```
//!
//! `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)` with the old SA's PRF, then the SK_* keys
//! with the new suite's prf+ (RFC 7296 section 2.18). The rekey's initiator is the original
//! initiator of the new SA. When both peers rekey at once, each answers the other's request with
//! TEMPORARY_FAILURE and retries after a random pause of a few seconds.

use super::ike_sa_init::{our_proposals, start_ke, NONCE_LEN};
use super::{offers_of, sa_payload, Ctx};
use crate::error::Error;
use crate::event::{Event, Reason, Role};
use crate::keys;
use crate::proposal::{self, IkeSuite};
use crate::sa::{IkeSa, Pending, State, HALF_OPEN_TIMEOUT};
use crate::timer::Timer;
use crate::wire::{ExchangeType, KeyExchange, Message, Nonce, NotifyType, Payload};
use core::time::Duration;
use ipsec_core::crypto::{ActiveKeyExchange, DhGroup, SecretBytes};
use std::collections::VecDeque;

/// Our IKE SA rekey in progress.
pub(crate) struct IkeRekey {
    spi: u64,
    ni: Vec<u8>,
    ke: Box<dyn ActiveKeyExchange>,
}

fn new_spi(ctx: &Ctx<'_>) -> Result<u64, Error> {
    super::fresh_ike_spi(ctx.rng, |_| false)
}

/// A soft lifetime: 85-90 % of the hard one, the point drawn at random (saturating, so any
/// configured lifetime is safe).
pub(crate) fn soft_lifetime(ctx: &Ctx<'_>, hard: Duration) -> Duration {
    let jitter = ctx.random(1).map(|b| f64::from(b[0])).unwrap_or(0.0);
    hard.mul_f64(0.85)
        .saturating_add(hard.mul_f64(0.05 * jitter / 255.0))
}

impl IkeSa {
    /// Initiator: sends the rekey request.
    pub(crate) fn start_ike_rekey(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Error> {
        let g = self.gateway_cfg(ctx)?;
        let ours = our_proposals(g, ctx.provider);
        let current = self.suite.map(|s| s.dh).unwrap_or(DhGroup::NONE);
        let group = if ours.iter().any(|p| p.dh.contains(&current)) {
            current
        } else {
            ours.first()
                .and_then(|p| p.dh.first().copied())
                .ok_or(Error::NoProposalChosen)?
        };
        let spi = new_spi(ctx)?;
        let mut offers = proposal::number(ours.iter().flat_map(|p| p.offers(group)).collect());
        for o in offers.iter_mut() {
            o.spi = spi.to_be_bytes().to_vec();
        }
        let ke = start_ke(ctx, group)?;
        let ni = ctx.random(NONCE_LEN)?;
        let payloads = vec![
            Payload::Sa(sa_payload(&offers)),
            Payload::Nonce(Nonce { data: ni.clone() }),
            Payload::Ke(KeyExchange {
                group,
                data: ke.public_value().to_vec(),
            }),
        ];
        self.ike_rekey = Some(IkeRekey { spi, ni, ke });
        self.in_flight = Some(Pending::RekeyIke);
        self.send_request(ctx, ExchangeType::CREATE_CHILD_SA, &payloads)
    }

    /// Initiator: processes the rekey response and installs the new IKE SA.
    pub(crate) fn handle_ike_rekey_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        msg: &Message,
    ) -> Result<(), Error> {
        let Some(rekey) = self.ike_rekey.take() else {
            return Ok(());
        };
        if let Some(n) = msg.notifies().find(|n| n.notify_type.is_error()) {
            if n.notify_type == NotifyType::TEMPORARY_FAILURE {
                // A crossing rekey (or a busy peer): try again shortly.
                let pause = Duration::from_millis(
                    2000 + u64::from(ctx.random(1).map(|b| b[0]).unwrap_or(0)) * 32,
                );
                self.timers.set(Timer::Lifetime, ctx.now + pause);
            } else {
                // The peer cannot rekey: replace the IKE SA instead.
                self.expiring = true;
                self.pending.push_back(Pending::DeleteIke);
            }
            return Ok(());
        }
        let g = self.gateway_cfg(ctx)?;
        let ours = our_proposals(g, ctx.provider);
        let sa = msg.sa();
        let nonce = msg.nonce();
        let ke = msg.ke();
        let (Some(sa), Some(nonce), Some(ke)) = (sa, nonce, ke) else {
            self.fail(
                ctx,
                Reason::Malformed("IKE rekey response incomplete".into()),
            );
            return Ok(());
        };
        let answer = offers_of(sa);
        let spi_r = answer
            .first()
            .and_then(|o| <[u8; 8]>::try_from(o.spi.as_slice()).ok())
            .map(u64::from_be_bytes);
        let suite = proposal::accept_ike_answer(&answer, &ours);
        let (Some(spi_r), Ok(suite)) = (spi_r, suite) else {
            self.fail(
                ctx,
                Reason::Malformed("bad SA in the IKE rekey response".into()),
            );
            return Ok(());
        };
        if suite.dh != rekey.ke.group() || ke.group != suite.dh || spi_r == 0 {
            self.fail(
                ctx,
                Reason::Malformed("IKE rekey: wrong key exchange".into()),
            );
            return Ok(());
        }
        let shared = match rekey.ke.complete(&ke.data) {
            Ok(s) => s,
            Err(e) => {
                self.fail(ctx, Reason::Malformed(e.to_string()));
                return Ok(());
            }
        };
        let new = self.successor(
            ctx,
            Role::Initiator,
            (rekey.spi, spi_r),
            suite,
            (rekey.ni, nonce.data.clone()),
            &shared,
        )?;
        ctx.new_sas.push(new);
        // The old SA has done its job; delete it before anything else.
        self.pending.clear();
        self.pending.push_front(Pending::DeleteIke);
        Ok(())
    }

    /// Responder: answers an IKE SA rekey request.
    pub(crate) fn handle_ike_rekey_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: u32,
        msg: &Message,
    ) -> Result<(), Error> {
        if self.in_flight == Some(Pending::RekeyIke) || self.rekeyed {
            return self.refuse(ctx, id, NotifyType::TEMPORARY_FAILURE, &[]);
        }
        let sa = msg.sa();
        let nonce = msg.nonce();
        let ke = msg.ke();
        let (Some(sa), Some(nonce), Some(ke)) = (sa, nonce, ke) else {
            return self.refuse(ctx, id, NotifyType::INVALID_SYNTAX, &[]);
        };
        if !(16..=256).contains(&nonce.data.len()) {
            return self.refuse(ctx, id, NotifyType::INVALID_SYNTAX, &[]);
        }
        let g = self.gateway_cfg(ctx)?;
        let ours = our_proposals(g, ctx.provider);
        let offers = offers_of(sa);
        let Ok((number, suite)) = proposal::select_ike(&offers, &ours, Some(ke.group)) else {
            return self.refuse(ctx, id, NotifyType::NO_PROPOSAL_CHOSEN, &[]);
        };
        let spi_i = offers
            .iter()
            .find(|o| o.number == number)
            .and_then(|o| <[u8; 8]>::try_from(o.spi.as_slice()).ok())
            .map(u64::from_be_bytes)
            .filter(|s| *s != 0);
        let Some(spi_i) = spi_i else {
            return self.refuse(ctx, id, NotifyType::INVALID_SYNTAX, &[]);
        };
        if suite.dh != ke.group {
            return self.refuse(
                ctx,
                id,
                NotifyType::INVALID_KE_PAYLOAD,
                &suite.dh.0.to_be_bytes(),
            );
        }
        let ours_ke = start_ke(ctx, suite.dh)?;
        let Ok(shared) = ours_ke.complete(&ke.data) else {
            return self.refuse(ctx, id, NotifyType::INVALID_SYNTAX, &[]);
        };
        let spi_r = new_spi(ctx)?;
        let nr = ctx.random(NONCE_LEN)?;
        let mut answer = proposal::ike_answer(number, &suite);
        answer.spi = spi_r.to_be_bytes().to_vec();
        let payloads = vec![
            Payload::Sa(sa_payload(&[answer])),
            Payload::Nonce(Nonce { data: nr.clone() }),
            Payload::Ke(KeyExchange {
                group: suite.dh,
                data: ours_ke.public_value().to_vec(),
            }),
        ];
        self.send_response(ctx, ExchangeType::CREATE_CHILD_SA, id, &payloads)?;
        let new = self.successor(
            ctx,
            Role::Responder,
            (spi_i, spi_r),
            suite,
            (nonce.data.clone(), nr),
            &shared,
        )?;
        ctx.new_sas.push(new);
        // The peer deletes the old SA; should it not, the SA goes after the half-open timeout.
        self.timers.stop_all();
        self.timers
            .set(Timer::HalfOpen, ctx.now + HALF_OPEN_TIMEOUT);
        Ok(())
    }

    /// Builds the new IKE SA of a rekey and moves the Child SAs to it.
    fn successor(
        &mut self,
        ctx: &mut Ctx<'_>,
        role: Role,
        (spi_i, spi_r): (u64, u64),
        suite: IkeSuite,
        (ni, nr): (Vec<u8>, Vec<u8>),
        shared: &SecretBytes,
    ) -> Result<IkeSa, Error> {
        let old_prf = self.prf(ctx)?;
        let old = self.keys.as_ref().ok_or(Error::KeyDerivation("no keys"))?;
        let seed = keys::rekey_skeyseed(old_prf, old.ike.sk_d.expose(), shared.expose(), &ni, &nr);
        let g = self.gateway_cfg(ctx)?;
        let mut new = IkeSa::new(
            ctx.now,
            g,
            role,
            spi_i,
            spi_r,
            self.local,
            self.remote,
            State::Established,
        );
        new.suite = Some(suite);
        new.dh = suite.dh;
        new.ni = ni;
        new.nr = nr;
        new.nat = self.nat;
        new.encap = self.encap;
        new.fragmentation = self.fragmentation;
        new.peer_id = self.peer_id.clone();
        new.install_keys(ctx, seed.expose())?;
        new.children = core::mem::take(&mut self.children);
        // Child SA work still queued (further proxy IDs, rekeys, deletes) moves along with the
        // Child SAs; what concerns the old IKE SA itself stays.
        let (child_work, own): (VecDeque<Pending>, VecDeque<Pending>) =
            core::mem::take(&mut self.pending)
                .into_iter()
                .partition(|p| {
                    matches!(
                        p,
                        Pending::CreateChild(_) | Pending::DeleteChild(_) | Pending::InvalidSpi(_)
                    )
                });
        new.pending = child_work;
        self.pending = own;
        new.arm_child_lifetime();
        let soft = soft_lifetime(ctx, g.ike_lifetime);
        new.timers.set(Timer::Lifetime, ctx.now + soft);
        new.arm_liveness(ctx);
        if let (Some(every), true) = (g.nat_keepalive, new.nat.local_behind_nat) {
            new.timers.set(Timer::Keepalive, ctx.now + every);
        }
        ctx.events.push_back(Event::IkeSaUp {
            gateway: new.gateway.clone(),
            role,
            sa: new.name(),
            suite,
            nat: new.encap,
        });
        self.rekeyed = true;
        Ok(new)
    }
}
