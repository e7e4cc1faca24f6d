//! The timers of one IKE SA: a closed enum indexed into a small table (quinn's timer table).

use ipsec_core::time::Instant;

/// What a deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Timer {
    /// Retransmit the outstanding request, or give up on it.
    Retransmit,
    /// The IKE SA has been idle for the liveness interval: send an empty INFORMATIONAL request.
    Liveness,
    /// The negotiation deadline: an IKE SA not authenticated by then ends (a responder's
    /// half-open SA, an initiator's IKE_SA_INIT and IKE_AUTH whatever their retransmissions
    /// do), and so does a superseded SA still waiting for the peer's delete.
    HalfOpen,
    /// The IKE SA's lifetime has run out: delete it (and start over unless passive).
    Lifetime,
    /// A Child SA reached its soft lifetime (rekey) or hard lifetime (delete).
    ChildLifetime,
    /// Send a NAT-keepalive (we are behind a NAT).
    Keepalive,
}

impl Timer {
    const COUNT: usize = 6;

    fn index(self) -> usize {
        match self {
            Timer::Retransmit => 0,
            Timer::Liveness => 1,
            Timer::HalfOpen => 2,
            Timer::Lifetime => 3,
            Timer::ChildLifetime => 4,
            Timer::Keepalive => 5,
        }
    }

    const ALL: [Timer; Timer::COUNT] = [
        Timer::Retransmit,
        Timer::Liveness,
        Timer::HalfOpen,
        Timer::Lifetime,
        Timer::ChildLifetime,
        Timer::Keepalive,
    ];
}

/// One optional deadline per [`Timer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TimerTable {
    data: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    /// Arms `timer` for `at`, replacing any earlier setting.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.data[timer.index()] = Some(at);
    }

    /// The deadline of `timer`, if armed.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.data[timer.index()]
    }

    /// Disarms `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        self.data[timer.index()] = None;
    }

    /// Disarms every timer.
    pub(crate) fn stop_all(&mut self) {
        self.data = Default::default();
    }

    /// The earliest armed deadline.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.data.iter().flatten().min().copied()
    }

    /// Disarms and returns a timer whose deadline is at or before `now`, earliest first.
    pub(crate) fn expire_one(&mut self, now: Instant) -> Option<Timer> {
        let t = Timer::ALL
            .into_iter()
            .filter(|t| self.get(*t).is_some_and(|at| at <= now))
            .min_by_key(|t| self.get(*t))?;
        self.stop(t);
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_deadline_order() {
        let mut t = TimerTable::default();
        t.set(Timer::Liveness, Instant::from_secs(5));
        t.set(Timer::Retransmit, Instant::from_secs(2));
        assert_eq!(t.next_timeout(), Some(Instant::from_secs(2)));
        assert_eq!(t.expire_one(Instant::from_secs(1)), None);
        assert_eq!(t.expire_one(Instant::from_secs(6)), Some(Timer::Retransmit));
        assert_eq!(t.expire_one(Instant::from_secs(6)), Some(Timer::Liveness));
        assert_eq!(t.expire_one(Instant::from_secs(6)), None);
        assert_eq!(t.next_timeout(), None);
    }
}
