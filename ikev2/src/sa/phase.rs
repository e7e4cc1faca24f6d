//! Where an IKE SA is in its life, and what it holds there.
//!
//! ```text
//!  initiator:  InitSent --IKE_SA_INIT--> AuthSent --IKE_AUTH--> Established
//!  responder:  (IKE_SA_INIT answered) --> HalfOpen --IKE_AUTH--> Established
//!  Established --IKE rekey--> Superseded (its successor holds the Child SAs)
//!  any phase   --failure, delete, timeout--> Dead
//! ```
//!
//! Each phase carries exactly the data it needs: the key exchange while IKE_SA_INIT is out, the
//! signed octets of the AUTH payloads while IKE_AUTH is, the Child SAs once established. What
//! only the handshake needed is dropped when the SA is established.

use super::child::{Child, ChildRequest};
use crate::ctx::Ctx;
use crate::event::{Event, Outbound, Reason, Role, REKEYED_LINGER};
use crate::identity::Identity;
use crate::keys::IkeKeys;
use crate::proposal::IkeSuite;
use crate::wire::SkKeys;
use core::time::Duration;
use ipsec_core::child_sa::ChildSa;
use ipsec_core::crypto::{ActiveKeyExchange, HashAlgorithmId, SecretBytes};
use ipsec_core::time::Instant;

/// The keys of an IKE SA once IKE_SA_INIT is done.
pub(crate) struct SaKeys {
    pub(crate) ike: IkeKeys,
    /// Protects what we send.
    pub(crate) send: SkKeys,
    /// Checks what we receive.
    pub(crate) recv: SkKeys,
}

/// Initiator: the IKE_SA_INIT request is out.
pub(crate) struct InitSent {
    /// Our key exchange (private key zeroized on drop); its group is the one our KE offers.
    pub(crate) ke: Box<dyn ActiveKeyExchange>,
    pub(crate) ni: Vec<u8>,
    /// The COOKIE the responder asked us to return, if any.
    pub(crate) cookie: Option<Vec<u8>>,
    /// COOKIE rounds so far; bounded so a hostile responder cannot loop us.
    pub(crate) cookies: u8,
    /// INVALID_KE_PAYLOAD restarts so far; bounded the same way.
    pub(crate) ke_retries: u8,
    /// Our request as last sent (the signed octets of our AUTH).
    pub(crate) request: Vec<u8>,
    /// The key exchanges of our earlier requests in other groups, with those requests: the
    /// responder may have answered one of them before an INVALID_KE_PAYLOAD (perhaps forged)
    /// made us restart.
    pub(crate) earlier: Vec<(Box<dyn ActiveKeyExchange>, Vec<u8>)>,
    /// The first refusal an (unauthenticated) response gave us: the attempt goes on until the
    /// retransmissions end, in case the refusal was forged, and is reported with it then (RFC
    /// 7296 section 2.21.1).
    pub(crate) refused: Option<Reason>,
    /// The Child SA to propose in IKE_AUTH.
    pub(crate) first_child: Option<ChildRequest>,
}

/// After IKE_SA_INIT, before IKE_AUTH is done: the negotiated suite, the keys, and what the
/// AUTH payloads sign (RFC 7296 section 2.15).
pub(crate) struct Handshake {
    pub(crate) suite: IkeSuite,
    pub(crate) keys: SaKeys,
    pub(crate) ni: Vec<u8>,
    pub(crate) nr: Vec<u8>,
    /// Our IKE_SA_INIT message as sent.
    pub(crate) our_init: Vec<u8>,
    /// The peer's IKE_SA_INIT message as received.
    pub(crate) peer_init: Vec<u8>,
    /// The hashes of the peer's SIGNATURE_HASH_ALGORITHMS (RFC 7427 section 4), when it sent
    /// one to a certificate gateway of ours.
    pub(crate) peer_hashes: Option<Vec<HashAlgorithmId>>,
}

/// Initiator: the IKE_AUTH request is out.
pub(crate) struct AuthSent {
    pub(crate) hs: Handshake,
    /// The Child SA proposed in it.
    pub(crate) first_child: Option<ChildRequest>,
}

/// Authenticated: Child SAs, INFORMATIONAL and CREATE_CHILD_SA exchanges.
pub(crate) struct Established {
    pub(crate) suite: IkeSuite,
    /// SK_d for Child SAs and rekeys, and the SK protection keys; the other SK_* are zeroized.
    pub(crate) keys: SaKeys,
    pub(crate) children: Vec<Child>,
    /// The peer's authenticated identity.
    pub(crate) peer_id: Option<Identity>,
    /// Responder: the peer sent INITIAL_CONTACT, so its older IKE SAs with us are stale
    /// (RFC 7296 section 2.4); the endpoint acts on it once.
    pub(crate) initial_contact: bool,
    /// The peer refused to rekey it: the delete that follows should lead to a new SA.
    pub(crate) replace: bool,
    /// SPIs the peer deleted while our CREATE_CHILD_SA was unanswered, none of ours: the Child
    /// SA its answer creates, should it carry one of them (RFC 7296 section 2.25.1).
    pub(crate) deleted_unborn: Vec<u32>,
}

/// Why an IKE SA ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// Negotiation failed before it was established ([`Event::Phase1Failed`]).
    Failed,
    /// It went down once established ([`Event::IkeSaDown`]); `restart` when the tunnels it
    /// carried should come back (dead peer, expiry).
    Down { restart: bool },
    /// Its successor took over: nothing went down.
    Replaced,
}

/// The phase of an IKE SA, with its data.
pub(crate) enum Phase {
    /// Initiator: IKE_SA_INIT request sent.
    InitSent(InitSent),
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH.
    HalfOpen(Handshake),
    /// Initiator: IKE_AUTH request sent.
    AuthSent(AuthSent),
    /// Authenticated and usable.
    Established(Established),
    /// Rekeyed: the successor holds the Child SAs; this one only waits to be deleted, silently.
    Superseded(Established),
    /// Gone: the endpoint removes it.
    Dead(Cause),
}

impl Phase {
    /// The SK keys, once IKE_SA_INIT is done.
    pub(crate) fn keys(&self) -> Option<&SaKeys> {
        match self {
            Phase::HalfOpen(hs) => Some(&hs.keys),
            Phase::AuthSent(a) => Some(&a.hs.keys),
            Phase::Established(e) | Phase::Superseded(e) => Some(&e.keys),
            Phase::InitSent(_) | Phase::Dead(_) => None,
        }
    }

    /// The established SA's data, also while it is superseded.
    pub(crate) fn authenticated(&self) -> Option<&Established> {
        match self {
            Phase::Established(e) | Phase::Superseded(e) => Some(e),
            _ => None,
        }
    }

    /// The negotiated suite, once IKE_SA_INIT is done.
    pub(crate) fn suite(&self) -> Option<IkeSuite> {
        match self {
            Phase::HalfOpen(hs) => Some(hs.suite),
            Phase::AuthSent(a) => Some(a.hs.suite),
            Phase::Established(e) | Phase::Superseded(e) => Some(e.suite),
            Phase::InitSent(_) | Phase::Dead(_) => None,
        }
    }

    /// True before authentication completed.
    pub(crate) fn is_negotiating(&self) -> bool {
        matches!(
            self,
            Phase::InitSent(_) | Phase::HalfOpen(_) | Phase::AuthSent(_)
        )
    }
}

impl Established {
    /// The SA after IKE_AUTH: the IKE_SA_INIT nonces and messages, and every key but SK_d
    /// (SK_e/SK_a live on inside the SK protection keys), are dropped.
    pub(crate) fn from_handshake(hs: Handshake, peer_id: Option<Identity>) -> Self {
        let Handshake {
            suite, mut keys, ..
        } = hs;
        for key in [
            &mut keys.ike.sk_ai,
            &mut keys.ike.sk_ar,
            &mut keys.ike.sk_ei,
            &mut keys.ike.sk_er,
            &mut keys.ike.sk_pi,
            &mut keys.ike.sk_pr,
        ] {
            *key = SecretBytes::default();
        }
        Established {
            suite,
            keys,
            children: Vec::new(),
            peer_id,
            initial_contact: false,
            replace: false,
            deleted_unborn: Vec::new(),
        }
    }

    /// The Child SA with inbound SPI `spi`.
    pub(crate) fn child(&self, spi: u32) -> Option<&Child> {
        self.children.iter().find(|c| c.sa.inbound.spi == spi)
    }

    /// The Child SA whose outbound SPI (the peer's inbound one) is `spi`.
    pub(crate) fn child_by_outbound(&self, spi: u32) -> Option<&Child> {
        self.children.iter().find(|c| c.sa.outbound.spi == spi)
    }

    /// Reports a new Child SA and schedules its rekey (at 85-90 % of its lifetime) and expiry.
    /// A Child SA that answers the peer's rekey comes up [`Outbound::Later`]: the datapath keeps
    /// sending on the old SA until the peer deletes it (see [`remove`](Self::remove)).
    pub(crate) fn install(&mut self, ctx: &mut Ctx<'_>, gateway: &str, role: Role, mut c: Child) {
        c.outbound_later = !c.ours && c.replaces.is_some();
        // The keys go to the datapath with the event; the IKE SA keeps none of them.
        ctx.emit(Event::ChildSaUp {
            gateway: gateway.to_owned(),
            role,
            child: Box::new(c.sa.take_keys()),
            suite: c.suite,
            outbound: if c.outbound_later {
                Outbound::Later
            } else {
                Outbound::Now
            },
            replaces: c.replaces,
        });
        if let Some(hard) = c.sa.lifetimes.hard_time {
            c.rekey_at = Some(ctx.now + ctx.soft_lifetime(hard));
            c.expire_at = ctx.now + hard;
        } else {
            c.expire_at = Instant::from_micros(u64::MAX);
        }
        self.children.push(c);
    }

    /// Removes the Child SA with inbound SPI `spi`, reporting it. The SAs that replace it and
    /// waited to send (we answered their rekey) start sending first: whatever removes the old SA
    /// (the peer's Delete, which says it has the new one, our own delete, expiry), the datapath
    /// is never without an SA to send on. When another SA of the same proxy ID stays, the removed
    /// one lingers inbound for the packets still on their way ([`REKEYED_LINGER`]).
    pub(crate) fn remove(&mut self, ctx: &mut Ctx<'_>, spi: u32, reason: Reason) {
        let Some(i) = self.children.iter().position(|c| c.sa.inbound.spi == spi) else {
            return;
        };
        let c = self.children.remove(i);
        for n in self.children.iter_mut() {
            if n.outbound_later && n.replaces == Some(spi) {
                n.outbound_later = false;
                ctx.emit(Event::ChildSaOutbound {
                    tunnel: n.sa.tunnel.clone(),
                    inbound_spi: n.sa.inbound.spi,
                    outbound_spi: n.sa.outbound.spi,
                });
            }
        }
        let replaced = self
            .children
            .iter()
            .any(|n| n.is_for(&c.sa.tunnel, c.sa.proxy_id.as_deref()));
        ctx.emit(Event::ChildSaDown {
            tunnel: c.sa.tunnel,
            proxy_id: c.sa.proxy_id,
            inbound_spi: c.sa.inbound.spi,
            outbound_spi: c.sa.outbound.spi,
            reason,
            linger: if replaced {
                REKEYED_LINGER
            } else {
                Duration::ZERO
            },
        });
    }

    /// Reports every Child SA gone with the IKE SA.
    pub(crate) fn drop_children(&mut self, ctx: &mut Ctx<'_>) -> Vec<ChildSa> {
        let mut gone = Vec::new();
        for c in self.children.drain(..) {
            ctx.emit(Event::ChildSaDown {
                tunnel: c.sa.tunnel.clone(),
                proxy_id: c.sa.proxy_id.clone(),
                inbound_spi: c.sa.inbound.spi,
                outbound_spi: c.sa.outbound.spi,
                reason: Reason::IkeSaGone,
                linger: Duration::ZERO,
            });
            gone.push(c.sa);
        }
        gone
    }

    /// The Child SAs whose lifetime is up at `now`: `(to delete, to rekey)`. Each is reported
    /// once (its rekey deadline is cleared).
    pub(crate) fn due(&mut self, now: Instant) -> (Vec<u32>, Vec<ChildSa>) {
        let (mut deletes, mut rekeys) = (Vec::new(), Vec::new());
        for c in self.children.iter_mut() {
            if c.expire_at <= now {
                deletes.push(c.sa.inbound.spi);
                c.rekey_at = None;
                // Reported once: its delete is queued, and a deadline in the past would fire
                // again at once.
                c.expire_at = Instant::from_micros(u64::MAX);
            } else if c.rekey_at.is_some_and(|t| t <= now) {
                c.rekey_at = None;
                rekeys.push(c.sa.clone());
            }
        }
        (deletes, rekeys)
    }

    /// The earliest Child SA rekey or expiry.
    pub(crate) fn next_child_deadline(&self) -> Option<Instant> {
        self.children.iter().filter_map(Child::deadline).min()
    }
}
