//! Message IDs, retransmission and the response cache of one IKE SA (RFC 7296 sections 2.1-2.3).
//!
//! We keep a window of one outstanding request. A request is retransmitted with exponential
//! back-off until its response arrives or the tries run out; the peer's requests must come in
//! message-ID order, and a retransmitted request is answered from the cached response, never
//! processed twice.

use core::time::Duration;
use ipsec_core::time::Instant;

/// Retransmission of requests: timeout of try `n` (0-based) is `timeout * (backoff_percent/100)^n`.
///
/// The default is strongSwan's (`retransmit_timeout = 4.0`, `retransmit_base = 1.8`,
/// `retransmit_tries = 5`): retransmits at 4, 11.2, 24.2, 47.5 and 89.5 s, giving up at 165 s.
/// PAN-OS retransmits IKEv2 requests on a similar back-off and gives up after 5 retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetransmitPolicy {
    /// Wait before the first retransmission.
    pub timeout: Duration,
    /// Growth of each wait, in percent (180 = times 1.8).
    pub backoff_percent: u32,
    /// Retransmissions before giving up.
    pub retries: u32,
}

impl Default for RetransmitPolicy {
    fn default() -> Self {
        RetransmitPolicy {
            timeout: Duration::from_secs(4),
            backoff_percent: 180,
            retries: 5,
        }
    }
}

impl RetransmitPolicy {
    /// The wait after the `n`-th transmission (0 = the first), capped at one hour.
    pub fn wait(&self, n: u32) -> Duration {
        let mut d = self.timeout.as_micros();
        for _ in 0..n {
            d = d.saturating_mul(u128::from(self.backoff_percent)) / 100;
            if d > 3_600_000_000 {
                d = 3_600_000_000;
                break;
            }
        }
        Duration::from_micros(u64::try_from(d).unwrap_or(u64::MAX))
    }
}

/// The request we are waiting on.
#[derive(Clone, Debug)]
struct Outstanding {
    id: u32,
    datagrams: Vec<Vec<u8>>,
    sent: u32,
    deadline: Instant,
}

/// What to do with an incoming request, by its message ID.
#[derive(Debug, PartialEq, Eq)]
pub enum RequestClass<'a> {
    /// The next request: process it.
    New,
    /// A retransmission of the last request: send these cached response datagrams again.
    Retransmit(&'a [Vec<u8>]),
    /// Out of the window (old, or skipping ahead): drop it.
    Invalid,
}

/// What a retransmission deadline asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum RetransmitAction {
    /// Send these datagrams again.
    Resend(Vec<Vec<u8>>),
    /// The tries ran out: the peer is unreachable or dead.
    GiveUp,
}

/// Message IDs, the outstanding request and the response cache.
#[derive(Clone, Debug, Default)]
pub struct RequestQueue {
    next_id: u32,
    outstanding: Option<Outstanding>,
    peer_next: u32,
    cached: Option<(u32, Vec<Vec<u8>>)>,
    policy: RetransmitPolicy,
    /// Requests dropped because their message ID was out of the window.
    pub dropped_out_of_window: u64,
    /// Requests answered again from the response cache.
    pub retransmits_answered: u64,
    /// Our requests retransmitted.
    pub retransmits_sent: u64,
}

impl RequestQueue {
    /// A queue starting at message ID 0 on both sides.
    pub fn new(policy: RetransmitPolicy) -> Self {
        RequestQueue {
            policy,
            ..Default::default()
        }
    }

    /// True while a request of ours awaits its response.
    pub fn busy(&self) -> bool {
        self.outstanding.is_some()
    }

    /// The message ID our next request gets.
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    /// The message ID we expect on the peer's next request.
    pub fn peer_next_id(&self) -> u32 {
        self.peer_next
    }

    /// Records a request just sent (its datagrams kept for retransmission) and consumes the ID.
    pub fn sent_request(&mut self, now: Instant, id: u32, datagrams: Vec<Vec<u8>>) {
        self.outstanding = Some(Outstanding {
            id,
            datagrams,
            sent: 0,
            deadline: now + self.policy.wait(0),
        });
        self.next_id = id.wrapping_add(1);
    }

    /// Resets the outstanding request's message ID use, for IKE_SA_INIT restarts (cookie,
    /// INVALID_KE): the new request reuses message ID 0 (RFC 7296 section 2.6).
    pub fn restart_init(&mut self) {
        self.outstanding = None;
        self.next_id = 0;
    }

    /// Matches a response: true when it answers the outstanding request, which is then done.
    pub fn take_response(&mut self, id: u32) -> bool {
        match &self.outstanding {
            Some(o) if o.id == id => {
                self.outstanding = None;
                true
            }
            _ => false,
        }
    }

    /// True when `id` is the outstanding request's ID (to check a response before decrypting).
    pub fn expects_response(&self, id: u32) -> bool {
        self.outstanding.as_ref().is_some_and(|o| o.id == id)
    }

    /// Classifies a peer's request by message ID.
    pub fn classify_request(&mut self, id: u32) -> RequestClass<'_> {
        if id == self.peer_next {
            return RequestClass::New;
        }
        match &self.cached {
            Some((cid, d)) if *cid == id => {
                self.retransmits_answered += 1;
                RequestClass::Retransmit(d)
            }
            _ => {
                self.dropped_out_of_window += 1;
                RequestClass::Invalid
            }
        }
    }

    /// Records our response to the peer's request `id` (cached for its retransmissions).
    pub fn sent_response(&mut self, id: u32, datagrams: Vec<Vec<u8>>) {
        self.cached = Some((id, datagrams));
        self.peer_next = id.wrapping_add(1);
    }

    /// The retransmission deadline, if a request is outstanding.
    pub fn deadline(&self) -> Option<Instant> {
        self.outstanding.as_ref().map(|o| o.deadline)
    }

    /// Called when the deadline passed.
    pub fn on_timeout(&mut self, now: Instant) -> Option<RetransmitAction> {
        let o = self.outstanding.as_mut()?;
        if o.deadline > now {
            return None;
        }
        if o.sent >= self.policy.retries {
            self.outstanding = None;
            return Some(RetransmitAction::GiveUp);
        }
        o.sent += 1;
        o.deadline = now + self.policy.wait(o.sent);
        self.retransmits_sent += 1;
        Some(RetransmitAction::Resend(o.datagrams.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_backoff_is_strongswans() {
        let p = RetransmitPolicy::default();
        let waits: Vec<u128> = (0..=5).map(|n| p.wait(n).as_millis()).collect();
        assert_eq!(waits, vec![4000, 7200, 12960, 23328, 41990, 75582]);
    }

    #[test]
    fn retransmits_then_gives_up() {
        let mut q = RequestQueue::new(RetransmitPolicy {
            timeout: Duration::from_secs(1),
            backoff_percent: 200,
            retries: 2,
        });
        q.sent_request(Instant::ZERO, 0, vec![vec![1]]);
        assert_eq!(q.next_id(), 1);
        assert_eq!(q.on_timeout(Instant::from_millis(999)), None);
        assert_eq!(
            q.on_timeout(Instant::from_secs(1)),
            Some(RetransmitAction::Resend(vec![vec![1]]))
        );
        assert_eq!(q.deadline(), Some(Instant::from_secs(3)));
        assert!(q.on_timeout(Instant::from_secs(3)).is_some());
        assert_eq!(q.deadline(), Some(Instant::from_secs(7)));
        assert_eq!(
            q.on_timeout(Instant::from_secs(7)),
            Some(RetransmitAction::GiveUp)
        );
        assert!(!q.busy());
    }

    #[test]
    fn duplicate_requests_hit_the_cache_and_old_ones_drop() {
        let mut q = RequestQueue::new(RetransmitPolicy::default());
        assert_eq!(q.classify_request(0), RequestClass::New);
        q.sent_response(0, vec![vec![9]]);
        assert_eq!(q.classify_request(0), RequestClass::Retransmit(&[vec![9]]));
        assert_eq!(q.classify_request(1), RequestClass::New);
        assert_eq!(q.classify_request(5), RequestClass::Invalid);
        assert_eq!(q.dropped_out_of_window, 1);
        assert_eq!(q.retransmits_answered, 1);
    }

    #[test]
    fn responses_match_only_the_outstanding_id() {
        let mut q = RequestQueue::new(RetransmitPolicy::default());
        q.sent_request(Instant::ZERO, 0, vec![]);
        assert!(!q.take_response(1));
        assert!(q.take_response(0));
        assert!(!q.take_response(0));
    }
}
