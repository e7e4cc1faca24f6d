//! What an exchange asks of its IKE SA beyond the phase it changes; the endpoint's driver of the
//! SA carries it out (queueing, timers, successors), so the exchanges never touch the queue.

use crate::event::Reason;
use crate::sa::{Established, Link, Task};
use ipsec_core::time::Instant;

/// The side effects of handling one message.
#[derive(Default)]
pub(crate) struct Effects {
    /// Work to queue behind what is queued.
    pub(crate) then: Vec<Task>,
    /// Work to start before anything queued (in this order).
    pub(crate) first: Vec<Task>,
    /// Queued deletes of these Child SAs (inbound SPIs) are moot: the peer deleted them.
    pub(crate) cancel_deletes: Vec<u32>,
    /// The IKE SA ends, for this reason.
    pub(crate) end: Option<Reason>,
    /// Try the IKE SA rekey again at this instant (the peer answered TEMPORARY_FAILURE).
    pub(crate) retry_rekey: Option<Instant>,
    /// An IKE SA rekey made this successor.
    pub(crate) successor: Option<Successor>,
    /// We answered the peer's IKE SA rekey while ours is in flight (RFC 7296 section 2.8.2):
    /// the SA it made waits until ours completes or fails, then the nonces decide.
    pub(crate) crossing: Option<Successor>,
    /// Work to start at an instant (a request the peer refused with TEMPORARY_FAILURE, RFC 7296
    /// section 2.25).
    pub(crate) later: Vec<(Instant, Task)>,
}

/// The new IKE SA of a rekey (RFC 7296 section 1.3.2): it takes over the Child SAs and their
/// queued work; the old one is superseded.
pub(crate) struct Successor {
    pub(crate) link: Link,
    /// Its state, without the Child SAs yet.
    pub(crate) sa: Established,
    /// We sent the rekey request (we then delete the old SA; otherwise the peer does).
    pub(crate) ours: bool,
    /// The lower of the exchange's two nonces: of two crossing rekeys, the SA whose exchange
    /// had the lowest of the four nonces is redundant (RFC 7296 section 2.8.2).
    pub(crate) min_nonce: Vec<u8>,
}

impl Effects {
    /// Drops the Child SA work these effects ask for, giving back the inbound SPIs it
    /// proposes: nothing is left to do.
    pub(crate) fn discard(self, ctx: &mut crate::ctx::Ctx<'_>) -> Effects {
        let work = self.then.iter().chain(&self.first);
        let spis: Vec<u32> = work
            .chain(self.later.iter().map(|(_, t)| t))
            .filter_map(Task::child_request)
            .map(|r| r.spi)
            .collect();
        for spi in spis {
            ctx.release_spi(spi);
        }
        Effects::default()
    }

    /// Effects that end the IKE SA.
    pub(crate) fn end(reason: Reason) -> Self {
        Effects {
            end: Some(reason),
            ..Effects::default()
        }
    }
}
