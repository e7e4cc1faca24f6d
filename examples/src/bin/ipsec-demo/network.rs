//! The in-memory network and the simulated clock between the two firewalls.
//!
//! Datagrams take a fixed one-way latency. Time only moves when nothing is left to do now: to
//! the next arrival, or to the next deadline an endpoint asked for with `poll_timeout`, so
//! retransmissions and liveness checks run as they would on a real network.

use crate::firewall::Firewall;
use core::time::Duration;
use ipsec_core::time::Instant;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// One-way latency of the simulated link.
const LATENCY: Duration = Duration::from_millis(5);

/// A datagram on the wire.
struct InFlight {
    arrives: Instant,
    source: SocketAddr,
    destination: SocketAddr,
    bytes: Vec<u8>,
}

/// The wire and the clock.
pub(crate) struct Network {
    /// The simulated time.
    pub(crate) now: Instant,
    wire: VecDeque<InFlight>,
    /// Datagrams carried, and their bytes.
    pub(crate) datagrams: u64,
    pub(crate) bytes: u64,
    /// Datagrams to addresses no firewall has.
    pub(crate) undeliverable: u64,
}

/// Why driving stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The goal was reached.
    Done,
    /// A firewall reported a failure, and what was in flight was delivered.
    Failed,
    /// Simulated time ran past the limit with the goal not reached.
    TimedOut,
}

impl Network {
    /// An empty network at `now`.
    pub(crate) fn new(now: Instant) -> Network {
        Network {
            now,
            wire: VecDeque::new(),
            datagrams: 0,
            bytes: 0,
            undeliverable: 0,
        }
    }

    /// Puts a datagram on the wire.
    pub(crate) fn send(&mut self, source: SocketAddr, destination: SocketAddr, bytes: Vec<u8>) {
        self.datagrams += 1;
        self.bytes += bytes.len() as u64;
        self.wire.push_back(InFlight {
            arrives: self.now.saturating_add(LATENCY),
            source,
            destination,
            bytes,
        });
    }

    /// Runs both firewalls until `goal` holds, a failure was reported (then until the wire is
    /// empty, so the peer hears about it too), or `limit` of simulated time has passed.
    pub(crate) fn drive(
        &mut self,
        fws: &mut [Firewall; 2],
        limit: Duration,
        goal: impl Fn(&[Firewall; 2]) -> bool,
    ) -> Result<Stop, String> {
        let end = self.now.saturating_add(limit);
        let mut buf = vec![0u8; 65_535];
        loop {
            for fw in fws.iter_mut() {
                while let Some(t) = fw.endpoint.poll_transmit(&mut buf) {
                    let bytes = buf.get(..t.len).unwrap_or_default().to_vec();
                    self.send(t.local, t.remote, bytes);
                }
                fw.poll_events(self.now)?;
            }
            let failed = fws.iter().any(|f| !f.failures.is_empty());
            if !failed && goal(fws) {
                return Ok(Stop::Done);
            }
            let arrival = self.wire.front().map(|d| d.arrives);
            if failed && arrival.is_none() {
                return Ok(Stop::Failed);
            }
            let timers = fws.iter().filter_map(|f| f.endpoint.poll_timeout());
            let next = match (arrival, failed) {
                // After a failure only the wire is drained; no new exchanges are started.
                (a, true) => a,
                (a, false) => a.into_iter().chain(timers).min(),
            };
            let Some(next) = next else {
                return Ok(Stop::TimedOut);
            };
            if next > end {
                self.now = end;
                return Ok(Stop::TimedOut);
            }
            self.now = self.now.max(next);
            self.deliver_due(fws);
            if !failed {
                for fw in fws.iter_mut() {
                    if fw.endpoint.poll_timeout().is_some_and(|t| t <= self.now) {
                        fw.endpoint.handle_timeout(self.now);
                    }
                }
            }
        }
    }

    /// Hands every datagram due by now to the firewall that owns its destination address.
    fn deliver_due(&mut self, fws: &mut [Firewall; 2]) {
        while self.wire.front().is_some_and(|d| d.arrives <= self.now) {
            let Some(mut d) = self.wire.pop_front() else {
                break;
            };
            match fws
                .iter_mut()
                .find(|f| f.address() == Some(d.destination.ip()))
            {
                Some(fw) => fw.receive(self.now, d.destination, d.source, &mut d.bytes),
                None => self.undeliverable += 1,
            }
        }
    }
}
