//! A pool of threads whose jobs come back in the order they were handed over: how the daemon
//! runs its ciphers on several cores without reordering packets.
//!
//! Jobs go to the threads in turn, each an [`Ordered`] stage, and are taken back from them in
//! the same turn, so the oldest job out is always the next to come back. A thread tells the
//! datapath of each job it sends back (a tokio `Notify`), so that the datapath need not wait
//! for one: it goes on with other work and finishes the job when it is woken.
//!
//! The datapath's own core works too ([`Workers::share`]): while every thread has [`FED`] jobs
//! (one being done, one waiting), the next job is done by the caller at once and kept in line
//! behind those handed over before it; it comes back in its turn. So with one thread two cores
//! share the ciphers, and a thread never queues so much that the caller idles while it works.

use super::ordered::{Ordered, IN_FLIGHT};
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

/// Jobs a thread holds before [`Workers::share`] does the next one on the caller's thread.
pub(crate) const FED: usize = 2;

/// Work to do on a pool thread.
pub(crate) trait Job: Send + 'static {
    /// Does the work (on the thread).
    fn run(&mut self);
}

/// The datapath's end of the pool.
pub(crate) struct Workers<J> {
    threads: Vec<Ordered<J>>,
    /// The thread the next job goes to.
    next_out: usize,
    /// The thread the next job comes back from: the oldest one out.
    next_back: usize,
    /// Every job not taken back, in the order handed over: `None` while a thread holds it,
    /// the job once done by the caller ([`share`](Self::share)).
    line: VecDeque<Option<J>>,
    /// A thread died.
    failed: bool,
}

impl<J: Job> Workers<J> {
    /// Starts `n` threads (at least one) named `name-0`, `name-1`...; each tells `back` of
    /// every job it sends back.
    pub(crate) fn spawn(name: &str, n: usize, back: &Arc<tokio::sync::Notify>) -> io::Result<Self> {
        let threads = (0..n.max(1))
            .map(|i| {
                let back = back.clone();
                Ordered::spawn_telling(
                    &format!("{name}-{i}"),
                    || |job: &mut J| job.run(),
                    move || back.notify_one(),
                )
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Workers {
            threads,
            next_out: 0,
            next_back: 0,
            line: VecDeque::new(),
            failed: false,
        })
    }

    /// Jobs handed over and not taken back (done or not).
    pub(crate) fn out(&self) -> usize {
        self.line.len()
    }

    /// Whether the next hand-over would have to wait: for its thread, or behind as many jobs
    /// as the pool holds. The caller first takes back ([`wait`](Self::wait)) and finishes the
    /// oldest job.
    pub(crate) fn is_full(&self) -> bool {
        self.line.len() >= self.capacity()
            || self
                .threads
                .get(self.next_out)
                .is_some_and(|w| w.in_flight() >= IN_FLIGHT)
    }

    /// Hands `job` over, after every job handed over before it. `Err` gives it back when its
    /// thread is gone: the caller does it itself, and the pool has [`failed`](Self::failed).
    pub(crate) fn hand_over(&mut self, job: J) -> Result<(), J> {
        let handed = match self.threads.get_mut(self.next_out) {
            Some(w) if !self.failed => w.hand_over(job),
            _ => Err(job),
        };
        match handed {
            Ok(()) => {
                self.line.push_back(None);
                self.next_out = (self.next_out + 1) % self.threads.len();
                Ok(())
            }
            Err(job) => {
                self.lost();
                Err(job)
            }
        }
    }

    /// Hands `job` over as [`hand_over`](Self::hand_over) does, unless every thread already
    /// holds [`FED`] jobs: then does it here, now, and keeps it in line (it comes back after the
    /// jobs handed over before it).
    pub(crate) fn share(&mut self, mut job: J) -> Result<(), J> {
        let at_threads: usize = self.threads.iter().map(Ordered::in_flight).sum();
        if self.failed || at_threads < FED * self.threads.len() {
            return self.hand_over(job);
        }
        job.run();
        self.line.push_back(Some(job));
        Ok(())
    }

    /// Whether a thread died (a panic): the jobs the threads held are lost (their packets
    /// dropped, as the network might), those done here still come back, and the caller does
    /// the work on its own thread from then on.
    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    /// The oldest job out, if it is done.
    pub(crate) fn ready(&mut self) -> Option<J> {
        self.take_back(false)
    }

    /// The oldest job out, waiting for its thread; `None` when none is out.
    pub(crate) fn wait(&mut self) -> Option<J> {
        self.take_back(true)
    }

    fn take_back(&mut self, wait: bool) -> Option<J> {
        match self.line.front_mut()? {
            Some(_) => return self.line.pop_front().flatten(),
            None if self.failed => return None,
            None => {}
        }
        let w = self.threads.get_mut(self.next_back)?;
        let back = if wait { w.wait_done() } else { w.try_done() };
        match back {
            Some(job) => {
                self.line.pop_front();
                self.next_back = (self.next_back + 1) % self.threads.len();
                Some(job)
            }
            None if wait => {
                // Nothing came back from a thread that held a job: it is gone.
                self.lost();
                self.take_back(false)
            }
            None => None,
        }
    }

    /// A thread is gone: what the threads held is lost, what was done here stays in line.
    fn lost(&mut self) {
        self.failed = true;
        self.line.retain(Option::is_some);
    }

    /// Jobs the pool can hold at once.
    pub(crate) fn capacity(&self) -> usize {
        IN_FLIGHT * self.threads.len()
    }
}

/// Whether `back` is told within five seconds (a thread tells it just after it sends a job
/// back, so a job taken back may come before its telling).
#[cfg(test)]
pub(crate) fn told_within(back: &tokio::sync::Notify) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(5), back.notified())
            .await
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job that records which thread did it.
    struct Tagged(u32, Option<String>);

    impl Job for Tagged {
        fn run(&mut self) {
            if self.0 == 113 {
                panic!("job 113 fails");
            }
            self.1 = std::thread::current().name().map(str::to_owned);
        }
    }

    #[test]
    fn jobs_come_back_in_order_from_every_thread() {
        let back = Arc::new(tokio::sync::Notify::new());
        let mut w = Workers::spawn("pool", 3, &back).unwrap();
        assert_eq!(w.capacity(), 3 * IN_FLIGHT);
        let mut done = Vec::new();
        for i in 0..40 {
            while w.is_full() {
                done.push(w.wait().unwrap());
            }
            assert!(w.hand_over(Tagged(i, None)).is_ok());
            if i % 5 == 0 {
                done.extend(w.ready());
            }
        }
        while let Some(j) = w.wait() {
            done.push(j);
        }
        assert_eq!(w.out(), 0);
        let order: Vec<u32> = done.iter().map(|j| j.0).collect();
        assert_eq!(order, (0..40).collect::<Vec<_>>());
        let mut names: Vec<String> = done.iter().filter_map(|j| j.1.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names, ["pool-0", "pool-1", "pool-2"], "every thread worked");
        assert!(told_within(&back), "the threads woke the datapath");
    }

    #[test]
    fn the_caller_shares_the_jobs_and_they_come_back_in_order() {
        let back = Arc::new(tokio::sync::Notify::new());
        let mut w = Workers::spawn("pool", 1, &back).unwrap();
        let me = std::thread::current().name().map(str::to_owned);
        let mut done = Vec::new();
        for i in 0..30 {
            while w.is_full() {
                done.push(w.wait().unwrap());
            }
            assert!(w.share(Tagged(i, None)).is_ok());
            if i % 7 == 0 {
                done.extend(w.ready());
            }
        }
        while let Some(j) = w.wait() {
            done.push(j);
        }
        assert_eq!(w.out(), 0);
        let order: Vec<u32> = done.iter().map(|j| j.0).collect();
        assert_eq!(order, (0..30).collect::<Vec<_>>(), "in the order shared");
        let by = |name: &Option<String>| done.iter().filter(|j| &j.1 == name).count();
        let (there, here) = (by(&Some("pool-0".into())), by(&me));
        assert_eq!(there + here, 30);
        assert!(
            there >= FED && here > 0,
            "both threads worked: {there} / {here}"
        );
        assert_eq!(
            done[..FED].iter().map(|j| j.1.clone()).collect::<Vec<_>>(),
            [Some("pool-0".to_owned()), Some("pool-0".to_owned())],
            "the thread is fed first"
        );
    }

    #[test]
    fn a_dead_thread_loses_its_jobs_but_not_those_done_here() {
        let back = Arc::new(tokio::sync::Notify::new());
        let mut w = Workers::spawn("pool", 1, &back).unwrap();
        // 112 and 113 go to the thread, which dies on 113; 114 and 115 are done here.
        for i in 112..116 {
            assert!(w.share(Tagged(i, None)).is_ok());
        }
        let mut back_again = Vec::new();
        while let Some(j) = w.wait() {
            back_again.push(j.0);
        }
        assert!(w.failed());
        assert_eq!(
            back_again,
            [112, 114, 115],
            "in order, 113 lost with its thread"
        );
        assert!(
            w.share(Tagged(20, None)).is_err(),
            "then the caller does it all"
        );
    }

    #[test]
    fn a_thread_that_dies_fails_the_pool_without_a_hang() {
        let back = Arc::new(tokio::sync::Notify::new());
        let mut w = Workers::spawn("pool", 2, &back).unwrap();
        for i in 110..116 {
            if w.hand_over(Tagged(i, None)).is_err() {
                break;
            }
        }
        let mut back_again = Vec::new();
        while let Some(j) = w.wait() {
            back_again.push(j.0);
        }
        assert!(w.failed(), "the thread of job 113 died");
        assert_eq!(
            back_again,
            [110, 111, 112],
            "the jobs before it came back in order"
        );
        assert_eq!((w.out(), w.ready().is_none()), (0, true));
        assert!(
            w.hand_over(Tagged(20, None)).is_err(),
            "a failed pool takes no job"
        );
    }
}
