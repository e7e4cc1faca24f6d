//! Packets into the tunnels sealed on the crypto threads.
//!
//! A TUN read is routed by the gateway packet by packet ([`gateway::Gateway::prepare_inner`],
//! [`gateway::Gateway::prepare_local`]): a packet into a tunnel is laid out as ESP in its
//! buffer, its sequence number taken and counted, and its [`esp::Sealing`] encrypts it on a
//! crypto thread with the read's buffers (the TUN reader takes spare ones); when the job comes
//! back, in order (`crypto` says how), the packets are sent. Packets the gateway delivers or
//! drops are done with at once.

use super::ordered::HAND_OVER;
use super::tun::TunIn;
use super::workers::Job;
use super::Daemon;
use esp::Sealing;
use gateway::{Forwarded, Transmit};

/// One packet of a TUN read into a tunnel.
struct Item {
    /// Which of the read's buffers it lies in.
    buf: usize,
    transmit: Transmit,
    sealing: Sealing,
    /// Sealed (a buffer too short for it is not).
    sealed: bool,
}

/// The packets into tunnels of one TUN read, with the buffers they lie in.
#[derive(Default)]
pub(crate) struct Sends {
    bufs: Vec<Vec<u8>>,
    items: Vec<Item>,
}

impl Job for Sends {
    fn run(&mut self) {
        for item in &mut self.items {
            item.sealed = self
                .bufs
                .get_mut(item.buf)
                .is_some_and(|b| item.sealing.seal(b).is_ok());
        }
    }
}

impl Sends {
    /// Whether no packet of the read goes into a tunnel.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Takes `bufs`, the read's buffers, and leaves the job's own (as many, as long) in their
    /// place.
    fn swap_buffers(&mut self, bufs: &mut Vec<Vec<u8>>) {
        let same = self.bufs.len() == bufs.len()
            && self
                .bufs
                .iter()
                .zip(bufs.iter())
                .all(|(a, b)| a.len() == b.len());
        if !same {
            self.bufs = bufs.iter().map(|b| vec![0u8; b.len()]).collect();
        }
        std::mem::swap(&mut self.bufs, bufs);
    }
}

impl Daemon {
    /// Hands the packets of the last read of a TUN device to the gateway. Packets into a tunnel
    /// are sealed by a crypto thread, unless the read has too few to be worth its wakeup and
    /// no thread is busy, and sent when the job comes back; the others are done with here.
    pub(crate) fn send_tun(&mut self, input: &mut TunIn) {
        let defer = self
            .crypto_busy()
            .is_some_and(|busy| input.count() >= HAND_OVER || busy);
        if !defer {
            self.settle();
            input.for_each(|_, buf, range| self.handle_tun(buf, range));
            return;
        }
        let now = self.now();
        let mut job = self.spare_sends();
        input.for_each(|i, buf, range| {
            let f = match self.tun_ingress(buf, &range) {
                Some(lan) => self.gw.prepare_inner(now, lan, buf, range),
                None => self.gw.prepare_local(now, buf, range),
            };
            match f {
                Forwarded::Seal(transmit, sealing) => job.items.push(Item {
                    buf: i,
                    transmit,
                    sealing,
                    sealed: false,
                }),
                Forwarded::Done(action) => self.act(action, buf),
            }
        });
        job.swap_buffers(input.buffers());
        self.seal_elsewhere(job);
    }

    /// Sends the packets of a job back from a crypto thread, and leaves it empty for reuse.
    pub(crate) fn finish_sends(&mut self, done: &mut Sends) {
        for item in done.items.drain(..) {
            let bytes = done
                .bufs
                .get(item.buf)
                .and_then(|b| b.get(item.transmit.range.clone()));
            match bytes {
                Some(bytes) if item.sealed => self.sockets.send(&item.transmit, bytes),
                _ => tracing::debug!("a packet into a tunnel could not be sealed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::crypto::testing::{inner, sas, NOW};
    use super::super::workers::Workers;
    use super::*;
    use esp::InboundSa;
    use gateway::{OuterProtocol, HEADROOM, TAILROOM};
    use std::sync::Arc;

    /// Opens what a job sealed, in order, with `rx`: the inner packets.
    fn open_all(rx: &mut InboundSa, job: &mut Sends) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for item in job.items.drain(..) {
            assert!(item.sealed);
            // Raw ESP: the IP payload, the ESP packet.
            let mut esp = job.bufs[item.buf][item.transmit.range.clone()].to_vec();
            let d = rx.decapsulate(NOW, &mut esp).unwrap().unwrap();
            out.push(esp[d.range].to_vec());
        }
        out
    }

    #[test]
    fn reads_are_sealed_by_the_crypto_threads_and_sent_in_order() {
        let (mut tx, mut rx) = sas();
        let back = Arc::new(tokio::sync::Notify::new());
        let mut pool = Workers::spawn("seal", 2, &back).unwrap();
        let mut read: Vec<Vec<u8>> = vec![vec![0u8; HEADROOM + 100 + TAILROOM]; 8];
        let (mut expected, mut got, mut spare) = (Vec::new(), Vec::new(), Vec::new());
        for n in 0..12u8 {
            // Each read fills the same buffers, as a TUN read does: a job a thread holds must
            // not see the next read's bytes.
            let mut job: Sends = spare.pop().unwrap_or_default();
            for (i, buf) in read.iter_mut().enumerate() {
                let p = inner(n, i as u8);
                buf.fill(0);
                buf[HEADROOM..HEADROOM + p.len()].copy_from_slice(&p);
                let sealing = tx.prepare(NOW, buf, HEADROOM..HEADROOM + p.len()).unwrap();
                let transmit = Transmit {
                    source: "192.0.2.1:0".parse().unwrap(),
                    destination: "192.0.2.2:0".parse().unwrap(),
                    range: sealing.range(),
                    protocol: OuterProtocol::Esp,
                };
                job.items.push(Item {
                    buf: i,
                    transmit,
                    sealing,
                    sealed: false,
                });
                expected.push(p);
            }
            job.swap_buffers(&mut read);
            while pool.is_full() {
                let mut done = pool.wait().unwrap();
                got.extend(open_all(&mut rx, &mut done));
                spare.push(done);
            }
            assert!(pool.share(job).is_ok());
            while let Some(mut done) = pool.ready() {
                got.extend(open_all(&mut rx, &mut done));
                spare.push(done);
            }
        }
        while let Some(mut done) = pool.wait() {
            got.extend(open_all(&mut rx, &mut done));
            spare.push(done);
        }
        assert_eq!(got.len(), expected.len());
        assert!(
            got == expected,
            "every packet sealed once, in the order read"
        );
    }

    #[test]
    fn a_job_takes_the_reads_buffers_and_leaves_its_own_alike() {
        let mut read = vec![vec![1u8; 100], vec![2u8; 100], vec![3u8; 60]];
        let mut job = Sends::default();
        job.swap_buffers(&mut read);
        assert_eq!(job.bufs, [vec![1u8; 100], vec![2u8; 100], vec![3u8; 60]]);
        assert_eq!(read, [vec![0u8; 100], vec![0u8; 100], vec![0u8; 60]]);
        // A job back from an earlier read of the same shape keeps its buffers.
        read[0][0] = 9;
        let before = job.bufs[1].as_ptr();
        job.swap_buffers(&mut read);
        assert_eq!(read[1].as_ptr(), before, "the same buffers, not new ones");
        assert_eq!(job.bufs[0][0], 9);
    }
}
