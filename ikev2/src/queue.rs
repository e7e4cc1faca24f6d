//! Message IDs, retransmission, the response cache and the queued work of one IKE SA (RFC 7296
//! sections 2.1-2.3).
//!
//! We keep a window of one outstanding request; work waits in the queue until the window is
//! free, and the request on the wire keeps its task, which its response is handed back with. A request is retransmitted with exponential
//! back-off until its response arrives or the tries run out; the peer's requests must come in
//! message-ID order, and a retransmitted request is answered from the cached response, never
//! processed twice.
//!
//! A retransmission is recognised by the whole datagram, not by its message ID alone (RFC 7296
//! section 2.1): the cache keeps a digest of the request it answers, and only a datagram with the
//! same digest gets the cached response again. Otherwise anyone who saw the SPIs and the message
//! ID could make us send the response, many times larger than a bare header, at will.

use crate::config::RetransmitPolicy;
use crate::wire::ExchangeType;
use ipsec_core::time::Instant;
use sha1::{Digest as _, Sha1};
use std::collections::VecDeque;

/// What identifies a request datagram: its SHA-1 digest (as strongSwan keeps it).
pub(crate) type RequestDigest = [u8; 20];

/// The digest of a request datagram.
pub(crate) fn request_digest(datagram: &[u8]) -> RequestDigest {
    Sha1::digest(datagram).into()
}

/// The request we are waiting on, with its task (none for the handshake's requests, whose
/// state is the SA's phase).
struct Outstanding<T> {
    id: u32,
    /// Its exchange type: a response of another type does not answer it.
    exchange: ExchangeType,
    datagrams: Vec<Vec<u8>>,
    sent: u32,
    deadline: Instant,
    task: Option<T>,
}

/// What to do with an incoming request, by its message ID.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RequestClass<'a> {
    /// The next request: process it.
    New,
    /// A retransmission of the last request: send these cached response datagrams again.
    Retransmit(&'a [Vec<u8>]),
    /// Out of the window (old, or skipping ahead), or the last request's ID on a datagram that
    /// is not that request: drop it.
    Invalid,
}

/// What a retransmission deadline asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RetransmitAction<T> {
    /// Send these datagrams again.
    Resend(Vec<Vec<u8>>),
    /// The tries ran out: the peer is unreachable or dead. The task that was waiting.
    GiveUp(Option<T>),
}

/// Message IDs, the queued work, the outstanding request and the response cache.
pub(crate) struct RequestQueue<T> {
    next_id: u32,
    queued: VecDeque<T>,
    // Boxed: most of the time nothing is outstanding.
    outstanding: Option<Box<Outstanding<T>>>,
    peer_next: u32,
    /// The digest of the peer's request being answered, once it authenticated.
    answering: Option<RequestDigest>,
    /// Our last response: its message ID, the digest of the request it answers, its datagrams.
    cached: Option<(u32, Option<RequestDigest>, Vec<Vec<u8>>)>,
    policy: RetransmitPolicy,
    /// Requests dropped because their message ID was out of the window.
    pub(crate) dropped_out_of_window: u64,
    /// Requests answered again from the response cache.
    pub(crate) retransmits_answered: u64,
    /// Our requests retransmitted.
    pub(crate) retransmits_sent: u64,
}

impl<T> RequestQueue<T> {
    /// A queue starting at message ID 0 on both sides.
    pub(crate) fn new(policy: RetransmitPolicy) -> Self {
        RequestQueue {
            next_id: 0,
            queued: VecDeque::new(),
            outstanding: None,
            peer_next: 0,
            answering: None,
            cached: None,
            policy,
            dropped_out_of_window: 0,
            retransmits_answered: 0,
            retransmits_sent: 0,
        }
    }

    /// True while a request of ours awaits its response.
    pub(crate) fn busy(&self) -> bool {
        self.outstanding.is_some()
    }

    /// Queues `task` behind the others.
    pub(crate) fn push(&mut self, task: T) {
        self.queued.push_back(task);
    }

    /// Queues `task` ahead of the others.
    pub(crate) fn push_front(&mut self, task: T) {
        self.queued.push_front(task);
    }

    /// The next queued task, when the window is free.
    pub(crate) fn next_task(&mut self) -> Option<T> {
        if self.busy() {
            return None;
        }
        self.queued.pop_front()
    }

    /// The queued tasks, then the one in flight.
    pub(crate) fn tasks(&self) -> impl Iterator<Item = &T> {
        self.queued
            .iter()
            .chain(self.outstanding.as_ref().and_then(|o| o.task.as_ref()))
    }

    /// The task whose request is in flight.
    pub(crate) fn in_flight(&self) -> Option<&T> {
        self.outstanding.as_ref().and_then(|o| o.task.as_ref())
    }

    /// Takes the in-flight task out when it satisfies `f`; the request stays outstanding (its
    /// retransmissions go on, and its response is consumed without a task).
    pub(crate) fn take_in_flight(&mut self, f: impl Fn(&T) -> bool) -> Option<T> {
        let o = self.outstanding.as_mut()?;
        if o.task.as_ref().is_some_and(f) {
            o.task.take()
        } else {
            None
        }
    }

    /// True when a queued task satisfies `f`.
    pub(crate) fn is_queued(&self, f: impl Fn(&T) -> bool) -> bool {
        self.queued.iter().any(f)
    }

    /// Keeps only the queued tasks that satisfy `f`.
    pub(crate) fn retain(&mut self, f: impl FnMut(&T) -> bool) {
        self.queued.retain(f);
    }

    /// Takes every queued task out.
    pub(crate) fn take_queued(&mut self) -> VecDeque<T> {
        core::mem::take(&mut self.queued)
    }

    /// The message ID our next request gets.
    pub(crate) fn next_id(&self) -> u32 {
        self.next_id
    }

    /// Records a request of `exchange` just sent (its datagrams kept for retransmission, its
    /// task for the response) and consumes the ID.
    pub(crate) fn sent_request(
        &mut self,
        now: Instant,
        (id, exchange): (u32, ExchangeType),
        datagrams: Vec<Vec<u8>>,
        task: Option<T>,
    ) {
        self.outstanding = Some(Box::new(Outstanding {
            id,
            exchange,
            datagrams,
            sent: 0,
            deadline: now + self.policy.wait(0),
            task,
        }));
        self.next_id = id.wrapping_add(1);
    }

    /// Resets the outstanding request's message ID use, for IKE_SA_INIT restarts (cookie,
    /// INVALID_KE): the new request reuses message ID 0 (RFC 7296 section 2.6).
    pub(crate) fn restart_init(&mut self) {
        self.outstanding = None;
        self.next_id = 0;
    }

    /// Matches a response: when it answers the outstanding request, that request is done and
    /// its task (if any) is handed back.
    pub(crate) fn take_response(&mut self, id: u32) -> Option<Option<T>> {
        match &self.outstanding {
            Some(o) if o.id == id => self.outstanding.take().map(|o| o.task),
            _ => None,
        }
    }

    /// True when a response with message ID `id` of `exchange` answers the outstanding request
    /// (checked before decrypting). A response of another exchange type answers nothing: taking
    /// it would end the request with nothing to carry on the exchange (RFC 7296 section 2.2).
    pub(crate) fn expects_response(&self, id: u32, exchange: ExchangeType) -> bool {
        self.outstanding
            .as_ref()
            .is_some_and(|o| o.id == id && o.exchange == exchange)
    }

    /// Classifies a peer's request datagram by message ID and, for the last one answered, by
    /// its digest.
    pub(crate) fn classify_request(&mut self, id: u32, digest: &RequestDigest) -> RequestClass<'_> {
        if id == self.peer_next {
            return RequestClass::New;
        }
        match &self.cached {
            Some((cid, Some(d), datagrams)) if *cid == id && d == digest => {
                self.retransmits_answered += 1;
                RequestClass::Retransmit(datagrams)
            }
            _ => {
                self.dropped_out_of_window += 1;
                RequestClass::Invalid
            }
        }
    }

    /// Notes the digest of the peer's request datagram that is being answered, once it passed
    /// its integrity check: the next [`sent_response`](Self::sent_response) is cached for it.
    /// For a fragmented request, the fragment that completed it.
    pub(crate) fn answering(&mut self, digest: RequestDigest) {
        self.answering = Some(digest);
    }

    /// Records our response to the peer's request `id` (cached for its retransmissions).
    pub(crate) fn sent_response(&mut self, id: u32, datagrams: Vec<Vec<u8>>) {
        self.cached = Some((id, self.answering.take(), datagrams));
        self.peer_next = id.wrapping_add(1);
    }

    /// The message ID of the peer's request we answered last.
    #[cfg(feature = "testing")]
    pub(crate) fn last_answered(&self) -> Option<u32> {
        self.cached.as_ref().map(|(id, _, _)| *id)
    }

    /// The retransmission deadline, if a request is outstanding.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.outstanding.as_ref().map(|o| o.deadline)
    }

    /// Called when the deadline passed.
    pub(crate) fn on_timeout(&mut self, now: Instant) -> Option<RetransmitAction<T>> {
        let o = self.outstanding.as_mut()?;
        if o.deadline > now {
            return None;
        }
        if o.sent >= self.policy.retries {
            let task = self.outstanding.take().and_then(|o| o.task);
            return Some(RetransmitAction::GiveUp(task));
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
    use core::time::Duration;

    #[test]
    fn retransmits_then_gives_up() {
        let mut q = RequestQueue::<u8>::new(RetransmitPolicy {
            timeout: Duration::from_secs(1),
            backoff_percent: 200,
            retries: 2,
        });
        q.sent_request(
            Instant::ZERO,
            (0, ExchangeType::INFORMATIONAL),
            vec![vec![1]],
            Some(7),
        );
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
            Some(RetransmitAction::GiveUp(Some(7)))
        );
        assert!(!q.busy());
    }

    #[test]
    fn duplicate_requests_hit_the_cache_and_old_ones_drop() {
        let mut q = RequestQueue::<()>::new(RetransmitPolicy::default());
        let (req, other) = (request_digest(b"request"), request_digest(b"header"));
        assert_eq!(q.classify_request(0, &req), RequestClass::New);
        q.answering(req);
        q.sent_response(0, vec![vec![9]]);
        assert_eq!(
            q.classify_request(0, &req),
            RequestClass::Retransmit(&[vec![9]])
        );
        assert_eq!(q.classify_request(0, &other), RequestClass::Invalid);
        assert_eq!(q.classify_request(1, &other), RequestClass::New);
        assert_eq!(q.classify_request(5, &req), RequestClass::Invalid);
        assert_eq!(q.dropped_out_of_window, 2);
        assert_eq!(q.retransmits_answered, 1);
    }

    #[test]
    fn responses_match_only_the_outstanding_id() {
        let mut q = RequestQueue::new(RetransmitPolicy::default());
        q.push(1u8);
        q.push(2);
        let first = q.next_task();
        q.sent_request(Instant::ZERO, (0, ExchangeType::IKE_AUTH), vec![], first);
        assert_eq!(q.next_task(), None, "one request at a time");
        assert!(q.expects_response(0, ExchangeType::IKE_AUTH));
        assert!(!q.expects_response(0, ExchangeType::INFORMATIONAL));
        assert!(!q.expects_response(1, ExchangeType::IKE_AUTH));
        assert_eq!(q.take_response(1), None);
        assert_eq!(q.take_response(0), Some(Some(1)));
        assert_eq!(q.take_response(0), None);
        assert_eq!(q.next_task(), Some(2));
    }
}
