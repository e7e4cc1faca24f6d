//! Received ESP decrypted on the crypto threads.
//!
//! The gateway splits a received ESP packet in three ([`gateway::Gateway::prepare_esp`],
//! [`esp::Opening::open`], [`gateway::Gateway::finish_esp`]): finding its SA and checking it
//! against the replay window, which needs the gateway; verifying its ICV and decrypting it,
//! which needs only the SA's keys; and checking the window again, moving it and forwarding the
//! packet, which needs the gateway again. The datapath does the first and last steps for a
//! whole receive batch ([`Batch`]) and the middle one goes to a crypto thread with the batch's
//! buffer (the receive batch takes a spare one), while the datapath goes on (the next batch,
//! the other sockets, the TUN devices). The batches are finished in the order they were
//! received (`crypto` says how), so the packets of a flow leave in the order they arrived.
//! The replay window is checked at both ends and moved only at the finish (`esp`
//! property-tests that); a packet whose SA went away meanwhile (a Delete, a lifetime's end, a
//! reload) is dropped at the finish.

use super::io::Outer;
use super::ordered::HAND_OVER;
use super::udp::RecvBatch;
use super::workers::Job;
use super::Daemon;
use esp::{Opened, Opening};
use std::net::SocketAddr;
use std::ops::Range;

/// Where one packet of a batch stands.
enum Step {
    /// Checked by the datapath; to be decrypted.
    Checked(Opening),
    /// Decrypted (or its ICV refused it); to be finished.
    Opened(Opened),
    /// Between the two, or lost to a range outside the buffer (dropped).
    Gone,
}

/// One ESP packet of a batch.
struct Item {
    /// The packet in the batch buffer.
    at: Range<usize>,
    /// Its sender.
    from: SocketAddr,
    step: Step,
}

/// The ESP packets of one receive batch on their way through a crypto thread, with the buffer
/// they lie in once it is handed over.
#[derive(Default)]
pub(crate) struct Batch {
    buf: Vec<u8>,
    items: Vec<Item>,
}

impl Batch {
    /// Adds the packet at `at` of the batch buffer from `from`, checked by the gateway.
    fn push(&mut self, at: Range<usize>, from: SocketAddr, opening: Opening) {
        self.items.push(Item {
            at,
            from,
            step: Step::Checked(opening),
        });
    }

    /// Decrypts every packet in `buf`, the batch buffer.
    fn open_in(&mut self, buf: &mut [u8]) {
        for item in &mut self.items {
            if let Step::Checked(o) = std::mem::replace(&mut item.step, Step::Gone) {
                if let Some(packet) = buf.get_mut(item.at.clone()) {
                    item.step = Step::Opened(o.open(packet));
                }
            }
        }
    }

    /// Calls `f` with each decrypted packet in arrival order: the batch buffer, where the
    /// packet lies in it, its sender and what [`esp::Opening::open`] made of it.
    fn finish_in(
        &mut self,
        buf: &mut Vec<u8>,
        mut f: impl FnMut(&mut Vec<u8>, Range<usize>, SocketAddr, Opened),
    ) {
        for item in self.items.drain(..) {
            if let Step::Opened(o) = item.step {
                f(buf, item.at, item.from, o);
            }
        }
    }

    /// Takes `buf`, the buffer the batch's packets lie in, and leaves the batch's own (a
    /// buffer of the same length) in its place.
    fn swap_buffer(&mut self, buf: &mut Vec<u8>) {
        if self.buf.len() != buf.len() {
            self.buf = vec![0u8; buf.len()];
        }
        std::mem::swap(&mut self.buf, buf);
    }
}

impl Job for Batch {
    fn run(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        self.open_in(&mut buf);
        self.buf = buf;
    }
}

impl Daemon {
    /// Hands a receive batch of `outer` to the gateway.
    ///
    /// A batch of ESP alone is checked here and decrypted by a worker, unless it has too few
    /// packets to be worth a worker's wakeup and no worker is busy; its packets are forwarded
    /// when it comes back, after every job before it. A batch with anything else (IKE,
    /// keepalives) is handled here packet by packet after what the workers hold, as is every
    /// batch when the daemon has no workers.
    pub(crate) fn receive(&mut self, batch: &mut RecvBatch, outer: Outer) {
        let now = self.now();
        let defer = self.crypto_busy().is_some_and(|busy| {
            let (mut esp, mut packets) = (true, 0);
            batch.for_each_in(|buf, at, _| {
                esp &= outer.esp(buf, at).is_some();
                packets += 1;
            });
            esp && (packets >= HAND_OVER || busy)
        });
        if !defer {
            self.settle();
            batch.for_each_in(|buf, at, from| {
                let at = outer.payload(buf, at);
                let Some(payload) = buf.get_mut(at.clone()) else {
                    return;
                };
                let action = match outer {
                    Outer::Udp(bound) => self.gw.handle_datagram(now, bound, from, payload),
                    Outer::Raw { .. } => self.gw.handle_esp(now, from.ip(), payload),
                };
                self.act_in(action, buf, at);
            });
            self.write_batch(batch.buffer());
            return;
        }
        let mut job = self.spare_batch();
        batch.for_each_in(|buf, at, from| {
            let at = outer.payload(buf, at);
            let Some(packet) = buf.get(at.clone()) else {
                return;
            };
            match self.gw.prepare_esp(now, from.ip(), packet) {
                Ok(opening) => job.push(at, from, opening),
                Err(refused) => self.act_in(refused, buf, at),
            }
        });
        job.swap_buffer(batch.buffer());
        self.open_elsewhere(job);
    }

    /// Finishes a batch back from a crypto thread, in its buffer, and leaves it empty for
    /// reuse.
    pub(crate) fn finish_batch(&mut self, done: &mut Batch) {
        let mut buf = std::mem::take(&mut done.buf);
        self.finish_in(done, &mut buf);
        done.buf = buf;
    }

    /// Forwards the decrypted packets of `batch` in `buf` and writes what they delivered.
    fn finish_in(&mut self, batch: &mut Batch, buf: &mut Vec<u8>) {
        let now = self.now();
        batch.finish_in(buf, |buf, at, from, opened| {
            let Some(packet) = buf.get_mut(at.clone()) else {
                return;
            };
            let action = self.gw.finish_esp(now, from.ip(), opened, packet);
            self.act_in(action, buf, at);
        });
        self.write_batch(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::super::crypto::testing::{inner, sas, NOW};
    use super::super::workers::{told_within, Workers};
    use super::*;
    use esp::{InboundSa, OutboundSa};
    use std::sync::Arc;

    /// Room per packet in a test batch buffer, as a receive batch has per datagram.
    const SLOT: usize = 256;

    fn seal(tx: &mut OutboundSa, p: &[u8]) -> Vec<u8> {
        let head = tx.headroom();
        let mut buf = vec![0; head + p.len() + tx.max_tailroom()];
        buf[head..head + p.len()].copy_from_slice(p);
        let r = tx.encapsulate(NOW, &mut buf, head..head + p.len()).unwrap();
        buf[r].to_vec()
    }

    /// Finishes `batch` (its packets in `buf`) on `rx`: the inner packets delivered, and how
    /// many were refused.
    fn finish(rx: &mut InboundSa, batch: &mut Batch, buf: &mut Vec<u8>) -> (Vec<Vec<u8>>, usize) {
        let (mut got, mut refused) = (Vec::new(), 0);
        batch.finish_in(buf, |buf, at, _, opened| {
            match rx.finish(NOW, opened, &mut buf[at.clone()], None) {
                Ok(Some(d)) => got.push(buf[at][d.range].to_vec()),
                _ => refused += 1,
            }
        });
        (got, refused)
    }

    #[test]
    fn batches_are_decrypted_by_the_workers_and_finished_in_arrival_order() {
        let (mut tx, mut rx) = sas();
        let back = Arc::new(tokio::sync::Notify::new());
        let mut pool = Workers::spawn("open", 3, &back).unwrap();
        let from: SocketAddr = "192.0.2.2:4500".parse().unwrap();
        let sizes = [40u8, 1, 17, 40, 40, 3, 40, 40, 40, 40, 9, 40, 2, 40, 5];
        // After these batches the runtime has nothing else to do and the collector finishes
        // what the workers hold.
        let idle_after = [0, 4, 11, 13];
        let mut buf = vec![0u8; 41 * SLOT];
        let (mut expected, mut got, mut refused) = (Vec::new(), Vec::new(), 0);
        let (mut handed, mut here) = (0, 0);
        let mut spare = Vec::new();
        let mut finish_one = |rx: &mut InboundSa, mut b: Batch| {
            let mut back = std::mem::take(&mut b.buf);
            assert_eq!(back.len(), 41 * SLOT, "the batch's own buffer comes back");
            let (g, r) = finish(rx, &mut b, &mut back);
            b.buf = back;
            spare.push(b);
            (g, r)
        };
        for (n, &size) in sizes.iter().enumerate() {
            // Each batch fills the buffer from the start, as a receive batch does: a batch a
            // worker holds must not see the next one's bytes.
            let mut batch = Batch::default();
            let mut sealed = Vec::new();
            for i in 0..size {
                let p = inner(n as u8, i);
                sealed.push(seal(&mut tx, &p));
                expected.push(p);
            }
            // The last packet of batch 3 arrives twice (only the first copy gets through),
            // and one of batch 5 is forged after the datapath checked it.
            if n == 3 {
                sealed.push(sealed[sealed.len() - 1].clone());
            }
            for (i, e) in sealed.iter().enumerate() {
                let at = i * SLOT..i * SLOT + e.len();
                buf[at.clone()].copy_from_slice(e);
                let opening = rx.prepare_open(NOW, &buf[at.clone()]).unwrap();
                batch.push(at, from, opening);
            }
            if n == 5 {
                buf[SLOT + 20] ^= 1;
                expected.remove(expected.len() - 2);
            }
            // As the datapath does: the pool (a worker, or this thread while they have
            // enough) for a batch worth it, or while one is busy.
            if usize::from(size) >= HAND_OVER || pool.out() > 0 {
                while pool.is_full() {
                    let b = pool.wait().unwrap();
                    let (g, r) = finish_one(&mut rx, b);
                    got.extend(g);
                    refused += r;
                }
                batch.swap_buffer(&mut buf);
                assert!(pool.share(batch).is_ok() && !pool.failed());
                assert_eq!(buf.len(), 41 * SLOT, "a spare buffer of the same length");
                handed += 1;
                while let Some(b) = pool.ready() {
                    let (g, r) = finish_one(&mut rx, b);
                    got.extend(g);
                    refused += r;
                }
            } else {
                let mut batch = batch;
                batch.open_in(&mut buf);
                let (g, r) = finish(&mut rx, &mut batch, &mut buf);
                got.extend(g);
                refused += r;
                here += 1;
            }
            if idle_after.contains(&n) {
                while let Some(b) = pool.wait() {
                    let (g, r) = finish_one(&mut rx, b);
                    got.extend(g);
                    refused += r;
                }
                assert!(told_within(&back), "the workers woke the runtime");
            }
        }
        // What the workers still hold is finished when the turn ends.
        while let Some(b) = pool.wait() {
            let (g, r) = finish_one(&mut rx, b);
            got.extend(g);
            refused += r;
        }
        assert_eq!((handed, here), (11, 4));
        assert_eq!(pool.out(), 0);
        assert_eq!(refused, 2, "the replayed copy and the forgery");
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "every packet once, in arrival order");
        assert_eq!(spare.len(), handed, "every batch handed over came back");
    }
}
