//! A thread that does jobs in the order they are handed to it: how the daemon puts a stage of
//! its datapath on another core without reordering packets.
//!
//! The datapath hands a job over ([`Ordered::hand_over`]) and goes on with the next batch; the
//! thread does the job and sends it back, so a job's buffers are reused instead of allocated
//! per batch. At most [`IN_FLIGHT`] jobs are out at once: a datapath that far ahead waits for
//! the thread ([`Ordered::wait_done`]), which is the stage's backpressure. Jobs of fewer than
//! [`HAND_OVER`] packets are better done by the datapath itself when nothing is out: waking the
//! thread costs more than a few packets' work, and the order holds since nothing is ahead of
//! them.
//!
//! Two stages use it: raw ESP's sends (`udp::SendThread`) and the writes of decapsulated
//! packets to the TUN devices (`tun_write::TunWriter`).

use std::io;
use std::sync::mpsc;

/// Jobs handed to the thread and not yet back, at most: one being done, the others waiting.
pub(crate) const IN_FLIGHT: usize = 4;
/// Jobs of fewer packets are done by the datapath itself when nothing is out.
pub(crate) const HAND_OVER: usize = 8;

/// The datapath's end of the thread.
pub(crate) struct Ordered<J> {
    to_do: mpsc::SyncSender<J>,
    done: mpsc::Receiver<J>,
    /// Jobs handed over and not back.
    in_flight: usize,
}

impl<J: Send + 'static> Ordered<J> {
    /// Starts thread `name`. `worker` runs on the thread and returns what does each job there
    /// (so that what the work needs, such as system call headers, is made on the thread).
    pub(crate) fn spawn<W, F>(name: &str, worker: W) -> io::Result<Ordered<J>>
    where
        W: FnOnce() -> F + Send + 'static,
        F: FnMut(&mut J),
    {
        Ordered::spawn_telling(name, worker, || {})
    }

    /// [`spawn`](Self::spawn), and the thread calls `back` after each job it sends back (to
    /// wake a datapath that does not wait for it).
    pub(crate) fn spawn_telling<W, F>(
        name: &str,
        worker: W,
        back: impl Fn() + Send + 'static,
    ) -> io::Result<Ordered<J>>
    where
        W: FnOnce() -> F + Send + 'static,
        F: FnMut(&mut J),
    {
        let (to_do, jobs) = mpsc::sync_channel::<J>(IN_FLIGHT);
        let (finished, done) = mpsc::sync_channel::<J>(IN_FLIGHT);
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut work = worker();
                // Ends when the datapath drops its end, after the jobs still queued.
                while let Ok(mut job) = jobs.recv() {
                    work(&mut job);
                    if finished.send(job).is_err() {
                        break;
                    }
                    back();
                }
            })?;
        Ok(Ordered {
            to_do,
            done,
            in_flight: 0,
        })
    }

    /// Jobs handed over and not back yet.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// A job the thread has done, if one is back (without waiting).
    pub(crate) fn try_done(&mut self) -> Option<J> {
        let job = self.done.try_recv().ok()?;
        self.in_flight = self.in_flight.saturating_sub(1);
        Some(job)
    }

    /// Waits for the next job the thread does; `None` when none is out (or the thread is gone,
    /// with the jobs it held).
    pub(crate) fn wait_done(&mut self) -> Option<J> {
        if self.in_flight == 0 {
            return None;
        }
        match self.done.recv() {
            Ok(job) => {
                self.in_flight -= 1;
                Some(job)
            }
            Err(_) => {
                self.in_flight = 0;
                None
            }
        }
    }

    /// Hands `job` over, after every job handed over before it. The caller keeps at most
    /// [`IN_FLIGHT`] out ([`wait_done`](Self::wait_done) first). `Err(job)` when the thread is
    /// gone: the caller does the job itself.
    pub(crate) fn hand_over(&mut self, job: J) -> Result<(), J> {
        match self.to_do.send(job) {
            Ok(()) => {
                self.in_flight += 1;
                Ok(())
            }
            Err(mpsc::SendError(job)) => Err(job),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn jobs_are_done_in_order_and_come_back_for_reuse() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = log.clone();
        let mut w = Ordered::spawn("test", move || {
            // State made on the thread, kept across jobs.
            let mut count = 0u32;
            move |job: &mut (u32, u32)| {
                count += 1;
                job.1 = count;
                seen.lock().unwrap().push(job.0);
            }
        })
        .unwrap();
        assert_eq!(w.wait_done(), None, "nothing out: no wait");
        let mut back = Vec::new();
        for i in 0..20 {
            if w.in_flight() == IN_FLIGHT {
                back.extend(w.wait_done());
            }
            assert!(w.hand_over((i, 0)).is_ok());
            back.extend(w.try_done());
            assert!(w.in_flight() <= IN_FLIGHT);
        }
        while let Some(job) = w.wait_done() {
            back.push(job);
        }
        assert_eq!(w.in_flight(), 0);
        assert_eq!(*log.lock().unwrap(), (0..20).collect::<Vec<_>>());
        // Back in the order handed over, each done once, by the thread's own count.
        assert_eq!(back, (0..20).map(|i| (i, i + 1)).collect::<Vec<_>>());
    }

    #[test]
    fn the_thread_tells_of_each_job_it_sends_back() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let told = Arc::new(AtomicUsize::new(0));
        let count = told.clone();
        let mut w = Ordered::spawn_telling(
            "test",
            || |job: &mut u32| *job += 1,
            move || {
                count.fetch_add(1, Ordering::SeqCst);
            },
        )
        .unwrap();
        for i in 0..3 {
            assert!(w.hand_over(i).is_ok());
        }
        let back: Vec<u32> = std::iter::from_fn(|| w.wait_done()).collect();
        assert_eq!(back, [1, 2, 3]);
        // Told after each job was sent back: the last one may still be on its way.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while told.load(Ordering::SeqCst) < 3 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(told.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_thread_gone_is_not_waited_for() {
        let mut w = Ordered::spawn("test", || {
            |job: &mut u32| {
                if *job == 1 {
                    panic!("the worker fails on job 1");
                }
            }
        })
        .unwrap();
        assert!(w.hand_over(0).is_ok());
        assert_eq!(w.wait_done(), Some(0));
        assert!(w.hand_over(1).is_ok());
        assert_eq!(w.wait_done(), None, "the thread is gone with job 1");
        assert_eq!(w.in_flight(), 0);
    }
}
