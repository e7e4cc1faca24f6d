//! Lifetimes of an IKE SA's Child SAs, NAT-keepalives, and what an SA forgets once it is up.

use super::{Child, ChildRequest, IkeSa, Pending, State};
use crate::error::Error;
use crate::event::{Event, Role};
use crate::exchange::Ctx;
use crate::timer::Timer;
use ipsec_core::crypto::SecretBytes;
use ipsec_core::time::Instant;

impl IkeSa {
    /// Sends a NAT-keepalive (RFC 3948 section 2.3: one 0xFF byte, no non-ESP marker) while we
    /// are behind a NAT, and arms the next one.
    pub(crate) fn keepalive(&mut self, ctx: &mut Ctx<'_>) {
        let Ok(Some(every)) = self.gateway_cfg(ctx).map(|g| g.nat_keepalive) else {
            return;
        };
        if self.state != State::Established || !self.nat.local_behind_nat || self.rekeyed {
            return;
        }
        ctx.out.push_back(crate::exchange::Datagram {
            local: self.local,
            remote: self.remote,
            bytes: vec![0xff],
        });
        self.timers.set(Timer::Keepalive, ctx.now + every);
    }

    /// Drops what only the handshake needed once IKE_AUTH is done: the IKE_SA_INIT nonces and
    /// every key but SK_d (SK_e/SK_a live on inside the SK protection keys).
    pub(crate) fn forget_handshake(&mut self) {
        self.ni = Vec::new();
        self.nr = Vec::new();
        if let Some(k) = self.keys.as_mut() {
            for key in [
                &mut k.ike.sk_ai,
                &mut k.ike.sk_ar,
                &mut k.ike.sk_ei,
                &mut k.ike.sk_er,
                &mut k.ike.sk_pi,
                &mut k.ike.sk_pr,
            ] {
                *key = SecretBytes::default();
            }
        }
    }

    /// Reports a new Child SA and schedules its rekey and expiry.
    ///
    /// The rekey comes at 85-90 % of the lifetime, the exact point drawn at random so that two
    /// peers with equal lifetimes rarely rekey at the same instant (a collision, which
    /// RFC 7296 section 2.8.1 resolution then sorts out).
    pub(crate) fn install_child(&mut self, ctx: &mut Ctx<'_>, role: Role, mut c: Child) {
        ctx.events.push_back(Event::ChildSaUp {
            gateway: self.gateway.clone(),
            role,
            child: Box::new(c.sa.clone()),
            suite: c.suite,
        });
        if let Some(hard) = c.sa.lifetimes.hard_time {
            let soft = crate::exchange::ike_rekey::soft_lifetime(ctx, hard);
            c.rekey_at = Some(ctx.now + soft);
            c.expire_at = ctx.now + hard;
        } else {
            c.expire_at = Instant::from_micros(u64::MAX);
        }
        self.children.push(c);
        self.arm_child_lifetime();
    }

    /// Arms [`Timer::ChildLifetime`] for the earliest rekey or expiry.
    pub(crate) fn arm_child_lifetime(&mut self) {
        let next = self
            .children
            .iter()
            .flat_map(|c| [c.rekey_at, Some(c.expire_at)])
            .flatten()
            .min();
        match next {
            Some(t) if t < Instant::from_micros(u64::MAX) => {
                self.timers.set(Timer::ChildLifetime, t)
            }
            _ => self.timers.stop(Timer::ChildLifetime),
        }
    }

    /// Starts the rekeys and deletes that are due.
    pub(crate) fn child_lifetimes(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Error> {
        let now = ctx.now;
        let mut rekeys = Vec::new();
        for c in self.children.iter_mut() {
            if c.expire_at <= now {
                let p = Pending::DeleteChild(c.sa.inbound.spi);
                if !self.pending.contains(&p) {
                    self.pending.push_back(p);
                }
                c.rekey_at = None;
            } else if c.rekey_at.is_some_and(|t| t <= now) {
                c.rekey_at = None;
                rekeys.push(c.sa.clone());
            }
        }
        for old in rekeys {
            let spi = self.new_child_spi(ctx)?;
            self.pending.push_back(Pending::CreateChild(ChildRequest {
                tunnel: old.tunnel,
                proxy_id: old.proxy_id,
                spi,
                tsi: old.local_ts,
                tsr: old.remote_ts,
                rekey: Some(old.inbound.spi),
                group: None,
            }));
        }
        self.arm_child_lifetime();
        self.kick(ctx)
    }
}
