//! Threads that decrypt received ESP: how the inbound ciphers leave the datapath's thread.
//!
//! The gateway splits a received ESP packet in three ([`gateway::Gateway::prepare_esp`],
//! [`esp::Opening::open`], [`gateway::Gateway::finish_esp`]): finding its SA and checking it
//! against the replay window, which needs the gateway; verifying its ICV and decrypting it,
//! which needs only the SA's keys; and checking the window again, moving it and forwarding the
//! packet, which needs the gateway again. The datapath does the first and last steps for a
//! whole receive batch ([`Batch`]) and the middle one goes to a worker: the datapath hands the
//! batch over with its buffer ([`Opener::hand_over`]), takes a spare buffer, and goes on (the
//! next batch, the other sockets, the TUN devices) while the worker decrypts. The worker
//! wakes the runtime when it sends a batch back, and the datapath finishes it then
//! ([`Daemon::collect`]), or earlier when it finds it back after another batch.
//!
//! Order: batches go to the workers in turn and come back in the order they were handed over
//! ([`Opener::ready`], [`Opener::wait`]), and the datapath finishes them in that order; a batch
//! it handles itself (IKE among the ESP, or a few packets when no worker is busy) waits for
//! those before it ([`Daemon::settle`]). So the packets of a flow leave in the order they
//! arrived. The replay window is checked at both ends and moved only at the finish (`esp`
//! property-tests that); a packet whose SA went away meanwhile (a Delete, a lifetime's end, a
//! reload) is dropped at the finish.

use super::io::Outer;
use super::ordered::{Ordered, HAND_OVER, IN_FLIGHT};
use super::udp::RecvBatch;
use super::Daemon;
use esp::{Opened, Opening};
use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;

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

/// The ESP packets of one receive batch on their way through the stage, with the buffer they
/// lie in once it is handed over.
pub(crate) struct Batch {
    buf: Vec<u8>,
    items: Vec<Item>,
}

impl Batch {
    /// Adds the packet at `at` of the batch buffer from `from`, checked by the gateway.
    pub(crate) fn push(&mut self, at: Range<usize>, from: SocketAddr, opening: Opening) {
        self.items.push(Item {
            at,
            from,
            step: Step::Checked(opening),
        });
    }

    /// Decrypts every packet in `buf`, the batch buffer (on a worker, or on the datapath for
    /// the last batch of a turn).
    pub(crate) fn open_in(&mut self, buf: &mut [u8]) {
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
    pub(crate) fn finish_in(
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

    /// The buffer the batch was handed over with (empty for a batch opened by the datapath).
    pub(crate) fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

/// The datapath's end of the workers.
pub(crate) struct Opener {
    workers: Vec<Ordered<Batch>>,
    /// The worker the next batch goes to.
    next_out: usize,
    /// The worker the next batch comes back from: the oldest one out.
    next_back: usize,
    /// Batches out on all workers.
    out: usize,
    /// Batch buffers back (each swapped for one of the same length).
    buffers: Vec<Vec<u8>>,
    /// Item vectors back, emptied.
    items: Vec<Vec<Item>>,
    /// A worker died.
    failed: bool,
}

impl Opener {
    /// Starts `workers` threads (at least one); each tells `back` of every batch it sends
    /// back.
    pub(crate) fn spawn(workers: usize, back: Arc<tokio::sync::Notify>) -> io::Result<Opener> {
        let workers = (0..workers.max(1))
            .map(|i| {
                let back = back.clone();
                Ordered::spawn_telling(
                    &format!("esp-open-{i}"),
                    || {
                        |b: &mut Batch| {
                            let mut buf = std::mem::take(&mut b.buf);
                            b.open_in(&mut buf);
                            b.buf = buf;
                        }
                    },
                    move || back.notify_one(),
                )
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Opener {
            workers,
            next_out: 0,
            next_back: 0,
            out: 0,
            buffers: Vec::new(),
            items: Vec::new(),
            failed: false,
        })
    }

    /// Batches handed over and not back.
    pub(crate) fn out(&self) -> usize {
        self.out
    }

    /// An empty batch.
    pub(crate) fn begin(&mut self) -> Batch {
        Batch {
            buf: Vec::new(),
            items: self.items.pop().unwrap_or_default(),
        }
    }

    /// Whether the next hand-over would have to wait for its worker: the caller first takes
    /// back ([`wait`](Self::wait)) and finishes the oldest batch.
    pub(crate) fn is_full(&self) -> bool {
        self.workers
            .get(self.next_out)
            .is_some_and(|w| w.in_flight() >= IN_FLIGHT)
    }

    /// Hands `batch` over with `buf`, the buffer its packets lie in, and leaves a buffer of the
    /// same length in `buf`'s place. `Err` gives the batch back (with `buf` unchanged) when
    /// its worker is gone: the caller opens it itself, and the stage has
    /// [`failed`](Self::failed).
    pub(crate) fn hand_over(&mut self, mut batch: Batch, buf: &mut Vec<u8>) -> Result<(), Batch> {
        let len = buf.len();
        let spare = match self.buffers.iter().position(|b| b.len() == len) {
            Some(i) => self.buffers.swap_remove(i),
            None => vec![0u8; len],
        };
        batch.buf = std::mem::replace(buf, spare);
        let handed = match self.workers.get_mut(self.next_out) {
            Some(w) if !self.failed => w.hand_over(batch),
            _ => Err(batch),
        };
        match handed {
            Ok(()) => {
                self.out += 1;
                self.next_out = (self.next_out + 1) % self.workers.len();
                Ok(())
            }
            Err(mut batch) => {
                self.failed = true;
                let spare = std::mem::replace(buf, std::mem::take(&mut batch.buf));
                self.buffers.push(spare);
                Err(batch)
            }
        }
    }

    /// Whether a worker died (a panic): the batches out are lost (dropped, as the network
    /// might) and the caller decrypts on its own thread from then on.
    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    /// The oldest batch out, if its worker is done with it.
    pub(crate) fn ready(&mut self) -> Option<Batch> {
        self.take_back(false)
    }

    /// The oldest batch out, waiting for its worker; `None` when none is out.
    pub(crate) fn wait(&mut self) -> Option<Batch> {
        self.take_back(true)
    }

    fn take_back(&mut self, wait: bool) -> Option<Batch> {
        if self.out == 0 || self.failed {
            return None;
        }
        let w = self.workers.get_mut(self.next_back)?;
        let back = if wait { w.wait_done() } else { w.try_done() };
        match back {
            Some(b) => {
                self.out -= 1;
                self.next_back = (self.next_back + 1) % self.workers.len();
                Some(b)
            }
            None => {
                if wait {
                    // Nothing came back from a worker that held a batch: it is gone.
                    self.failed = true;
                    self.out = 0;
                }
                None
            }
        }
    }

    /// Takes back a finished batch's buffer and item vector for reuse.
    pub(crate) fn put_back(&mut self, mut batch: Batch) {
        batch.items.clear();
        self.items.push(batch.items);
        if !batch.buf.is_empty() {
            self.buffers.push(batch.buf);
            // Buffers of other lengths (another socket's batches) are kept, a few.
            let keep = 2 * IN_FLIGHT * self.workers.len().max(1);
            if self.buffers.len() > keep {
                self.buffers.remove(0);
            }
        }
    }
}

impl Daemon {
    /// Hands a receive batch of `outer` to the gateway.
    ///
    /// A batch of ESP alone is checked here and decrypted by a worker, unless it has too few
    /// packets to be worth a worker's wakeup and no worker is busy; its packets are forwarded
    /// when it comes back, after every batch before it. A batch with anything else (IKE,
    /// keepalives) is handled here packet by packet after what the workers hold, as is every
    /// batch when the daemon has no workers.
    pub(crate) fn receive(&mut self, batch: &mut RecvBatch, outer: Outer) {
        let now = self.now();
        let defer = self.opener.as_ref().is_some_and(|o| {
            let (mut esp, mut packets) = (true, 0);
            batch.for_each_in(|buf, at, _| {
                esp &= outer.esp(buf, at).is_some();
                packets += 1;
            });
            esp && (packets >= HAND_OVER || o.out() > 0)
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
        let Some(mut opener) = self.opener.take() else {
            return;
        };
        let mut job = opener.begin();
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
        while opener.is_full() {
            let Some(done) = opener.wait() else { break };
            self.finish_batch(&mut opener, done);
        }
        if let Err(mut job) = opener.hand_over(job, batch.buffer()) {
            // No worker: decrypted here (what the dead worker held is lost).
            job.open_in(batch.buffer());
            self.finish_in(&mut job, batch.buffer());
            opener.put_back(job);
        }
        while let Some(done) = opener.ready() {
            self.finish_batch(&mut opener, done);
        }
        self.keep(opener);
    }

    /// Finishes the batches the workers have sent back; whether there were any.
    pub(crate) fn collect(&mut self) -> bool {
        let Some(mut opener) = self.opener.take() else {
            return false;
        };
        let mut any = false;
        while let Some(done) = opener.ready() {
            self.finish_batch(&mut opener, done);
            any = true;
        }
        self.keep(opener);
        any
    }

    /// Waits for every batch the workers hold and finishes them, in order: before a batch is
    /// handled here, so that it does not overtake them.
    pub(crate) fn settle(&mut self) {
        let Some(mut opener) = self.opener.take() else {
            return;
        };
        while let Some(done) = opener.wait() {
            self.finish_batch(&mut opener, done);
        }
        self.keep(opener);
    }

    /// Puts the workers back, unless one died.
    fn keep(&mut self, opener: Opener) {
        if opener.failed() {
            tracing::error!("an ESP decryption thread died: decrypting on the datapath's thread");
        } else {
            self.opener = Some(opener);
        }
    }

    /// Finishes a batch back from a worker, in the buffer it went with.
    fn finish_batch(&mut self, opener: &mut Opener, mut done: Batch) {
        let mut buf = std::mem::take(done.buffer());
        self.finish_in(&mut done, &mut buf);
        *done.buffer() = buf;
        opener.put_back(done);
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

/// Finishes the batches the workers send back when nothing else on the runtime does first.
pub(crate) async fn collector(daemon: super::Shared, back: Arc<tokio::sync::Notify>) {
    loop {
        back.notified().await;
        let mut d = daemon.borrow_mut();
        if d.collect() {
            d.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esp::{InboundSa, OutboundSa};
    use ipsec_core::child_sa::{ChildSa, DirectionKeys, IpsecProtocol, Lifetimes, Mode};
    use ipsec_core::crypto::{EncrId, Encryption, IntegId, SecretBytes};
    use ipsec_core::time::Instant;

    const NOW: Instant = Instant::ZERO;
    /// Room per packet in a test batch buffer, as a receive batch has per datagram.
    const SLOT: usize = 256;

    fn sas() -> (OutboundSa, InboundSa) {
        let keys = DirectionKeys {
            spi: 0x4242,
            encryption_key: SecretBytes::from_slice(&[7; 20]),
            integrity_key: SecretBytes::from_slice(&[]),
        };
        let child = ChildSa {
            tunnel: "to-branch".into(),
            proxy_id: None,
            protocol: IpsecProtocol::Esp,
            mode: Mode::Tunnel,
            encryption: Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
            integrity: IntegId::NONE,
            esn: false,
            inbound: keys.clone(),
            outbound: keys,
            local_ts: Vec::new(),
            remote_ts: Vec::new(),
            local_addr: "192.0.2.1:4500".parse().unwrap(),
            remote_addr: "192.0.2.2:4500".parse().unwrap(),
            encapsulation: None,
            lifetimes: Lifetimes::default(),
            replay_window: 1024,
            tfc_padding: false,
        };
        let p = ipsec_core::crypto::default_provider();
        (
            OutboundSa::new(&p, &child, NOW).unwrap(),
            InboundSa::new(&p, &child, NOW).unwrap(),
        )
    }

    /// An IPv4 packet whose payload names its batch and place in it.
    fn inner(batch: u8, i: u8) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&40u16.to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 2, 0, 1]);
        p[16..20].copy_from_slice(&[10, 1, 0, 1]);
        p[28] = batch;
        p[29] = i;
        p
    }

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
        let mut opener = Opener::spawn(3, back.clone()).unwrap();
        let from: SocketAddr = "192.0.2.2:4500".parse().unwrap();
        let sizes = [40u8, 1, 17, 40, 40, 3, 40, 40, 40, 40, 9, 40, 2, 40, 5];
        // After these batches the runtime has nothing else to do and the collector finishes
        // what the workers hold.
        let idle_after = [0, 4, 11, 13];
        let mut buf = vec![0u8; 41 * SLOT];
        let (mut expected, mut got, mut refused) = (Vec::new(), Vec::new(), 0);
        let (mut handed, mut here) = (0, 0);
        let finish_one = |rx: &mut InboundSa, opener: &mut Opener, mut b: Batch| {
            let mut back = std::mem::take(b.buffer());
            assert_eq!(back.len(), 41 * SLOT, "the batch's own buffer comes back");
            let (g, r) = finish(rx, &mut b, &mut back);
            *b.buffer() = back;
            opener.put_back(b);
            (g, r)
        };
        for (n, &size) in sizes.iter().enumerate() {
            // Each batch fills the buffer from the start, as a receive batch does: a batch a
            // worker holds must not see the next one's bytes.
            let mut batch = opener.begin();
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
            // As the datapath does: a worker for a batch worth it, or while one is busy.
            if usize::from(size) >= HAND_OVER || opener.out() > 0 {
                while opener.is_full() {
                    let b = opener.wait().unwrap();
                    let (g, r) = finish_one(&mut rx, &mut opener, b);
                    got.extend(g);
                    refused += r;
                }
                assert!(opener.hand_over(batch, &mut buf).is_ok() && !opener.failed());
                assert_eq!(buf.len(), 41 * SLOT, "a spare buffer of the same length");
                handed += 1;
                while let Some(b) = opener.ready() {
                    let (g, r) = finish_one(&mut rx, &mut opener, b);
                    got.extend(g);
                    refused += r;
                }
            } else {
                let mut batch = batch;
                batch.open_in(&mut buf);
                let (g, r) = finish(&mut rx, &mut batch, &mut buf);
                got.extend(g);
                refused += r;
                opener.put_back(batch);
                here += 1;
            }
            if idle_after.contains(&n) {
                while let Some(b) = opener.wait() {
                    let (g, r) = finish_one(&mut rx, &mut opener, b);
                    got.extend(g);
                    refused += r;
                }
                let told = futures_util::FutureExt::now_or_never(back.notified());
                assert!(told.is_some(), "the workers woke the runtime");
            }
        }
        // What the workers still hold is finished when the turn ends.
        while let Some(b) = opener.wait() {
            let (g, r) = finish_one(&mut rx, &mut opener, b);
            got.extend(g);
            refused += r;
        }
        assert_eq!((handed, here), (11, 4));
        assert_eq!(opener.out(), 0);
        assert_eq!(refused, 2, "the replayed copy and the forgery");
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "every packet once, in arrival order");
        assert!(opener.buffers.len() <= 2 * IN_FLIGHT * 3);
    }
}
