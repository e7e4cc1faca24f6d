//! The crypto threads: where the datapath's ciphers run, off the runtime's thread.
//!
//! Both directions split a packet around its cipher. A received ESP batch is checked by the
//! gateway, decrypted on a crypto thread and finished by the gateway (`open`); a TUN read is
//! routed and laid out as ESP by the gateway, sealed on a crypto thread and sent (`seal`). The
//! runtime hands a job over with its buffers, takes spare buffers, and goes on with what else
//! waits (the next batch, the other sockets, the other direction) while the thread works.
//!
//! Order: jobs of both kinds go to one pool ([`Workers`]) and come back in the order they were
//! handed over, and the runtime finishes them in that order: when it finds one back after
//! handing another over, or when a thread wakes it ([`collector`]). While every thread has
//! enough, the runtime does the next job itself and keeps it in the same line
//! ([`Workers::share`]): with one crypto thread, two cores share the ciphers. What the runtime
//! handles itself (IKE among the ESP, or a few packets when no thread is busy) first waits for
//! every job out ([`Daemon::settle`]), so a packet never overtakes one of its flow that
//! arrived before it, in either direction, and packets of one SA leave in the order of their
//! sequence numbers. A job is never finished half: between the halves the runtime runs other tasks
//! (the timers, a reload), which the gateway's second halves allow for (a packet whose SA went
//! meanwhile is dropped).

use super::open::Batch;
use super::seal::Sends;
use super::workers::{Job, Workers};
use super::Daemon;
use std::io;
use std::sync::Arc;

/// A job for a crypto thread.
pub(crate) enum Crypt {
    /// A receive batch to decrypt.
    Open(Batch),
    /// A TUN read to seal.
    Seal(Sends),
}

impl Job for Crypt {
    fn run(&mut self) {
        match self {
            Crypt::Open(b) => b.run(),
            Crypt::Seal(s) => s.run(),
        }
    }
}

/// The runtime's end of the crypto threads, with the jobs back from them kept for their
/// buffers.
pub(crate) struct Crypto {
    workers: Workers<Crypt>,
    batches: Vec<Batch>,
    sends: Vec<Sends>,
}

impl Crypto {
    /// Starts `n` crypto threads; each tells `back` of every job it sends back.
    pub(crate) fn spawn(n: usize, back: &Arc<tokio::sync::Notify>) -> io::Result<Crypto> {
        Ok(Crypto {
            workers: Workers::spawn("crypto", n, back)?,
            batches: Vec::new(),
            sends: Vec::new(),
        })
    }

    /// Whether a thread holds a job (what the runtime handles itself would wait for it).
    fn busy(&self) -> bool {
        self.workers.out() > 0
    }

    /// An empty receive batch, with the buffer of an earlier one.
    fn batch(&mut self) -> Batch {
        self.batches.pop().unwrap_or_default()
    }

    /// An empty TUN job, with the buffers of an earlier one.
    fn sends(&mut self) -> Sends {
        self.sends.pop().unwrap_or_default()
    }

    /// Keeps a finished receive batch for its buffer.
    fn put_back_batch(&mut self, b: Batch) {
        if self.batches.len() <= self.workers.capacity() {
            self.batches.push(b);
        }
    }

    /// Keeps a finished TUN job for its buffers.
    fn put_back_sends(&mut self, s: Sends) {
        if self.sends.len() <= self.workers.capacity() {
            self.sends.push(s);
        }
    }
}

impl Daemon {
    /// `None` without crypto threads; otherwise whether one holds a job.
    pub(crate) fn crypto_busy(&self) -> Option<bool> {
        self.crypto.as_ref().map(Crypto::busy)
    }

    /// An empty receive batch, with the buffer of an earlier one.
    pub(crate) fn spare_batch(&mut self) -> Batch {
        self.crypto.as_mut().map(Crypto::batch).unwrap_or_default()
    }

    /// An empty TUN job, with the buffers of an earlier one.
    pub(crate) fn spare_sends(&mut self) -> Sends {
        self.crypto.as_mut().map(Crypto::sends).unwrap_or_default()
    }

    /// Hands a prepared receive batch (with its buffer) to a crypto thread; opened and
    /// finished here when none can take it.
    pub(crate) fn open_elsewhere(&mut self, job: Batch) {
        if let Err(Crypt::Open(mut job)) = self.hand_over(Crypt::Open(job)) {
            job.run();
            self.finish_batch(&mut job);
        }
    }

    /// Hands a prepared TUN job (with its buffers) to a crypto thread; sealed and sent here
    /// when none can take it.
    pub(crate) fn seal_elsewhere(&mut self, job: Sends) {
        if job.is_empty() {
            // Nothing into a tunnel: kept for its buffers.
            if let Some(c) = self.crypto.as_mut() {
                c.put_back_sends(job);
            }
            return;
        }
        if let Err(Crypt::Seal(mut job)) = self.hand_over(Crypt::Seal(job)) {
            job.run();
            self.finish_sends(&mut job);
        }
    }

    /// Hands `job` to a crypto thread, or does it here when every thread has enough
    /// ([`Workers::share`]), after finishing the oldest jobs when the pool is full, and
    /// finishes the jobs already back. `Err` gives it back when no thread can take it (what a
    /// dead thread held is lost): the caller does it here.
    fn hand_over(&mut self, job: Crypt) -> Result<(), Crypt> {
        let Some(mut c) = self.crypto.take() else {
            return Err(job);
        };
        while c.workers.is_full() {
            let Some(done) = c.workers.wait() else { break };
            self.finish(&mut c, done);
        }
        let r = c.workers.share(job);
        while let Some(done) = c.workers.ready() {
            self.finish(&mut c, done);
        }
        self.keep(c);
        r
    }

    fn finish(&mut self, c: &mut Crypto, job: Crypt) {
        match job {
            Crypt::Open(mut b) => {
                self.finish_batch(&mut b);
                c.put_back_batch(b);
            }
            Crypt::Seal(mut s) => {
                self.finish_sends(&mut s);
                c.put_back_sends(s);
            }
        }
    }

    /// Finishes the jobs the threads have sent back; whether there were any.
    pub(crate) fn collect(&mut self) -> bool {
        let Some(mut c) = self.crypto.take() else {
            return false;
        };
        let mut any = false;
        while let Some(done) = c.workers.ready() {
            self.finish(&mut c, done);
            any = true;
        }
        self.keep(c);
        any
    }

    /// Waits for every job the threads hold and finishes them, in order: before the runtime
    /// handles packets itself, so that they do not overtake them.
    pub(crate) fn settle(&mut self) {
        let Some(mut c) = self.crypto.take() else {
            return;
        };
        while let Some(done) = c.workers.wait() {
            self.finish(&mut c, done);
        }
        self.keep(c);
    }

    /// Puts the threads back, unless one died: then finishes what was done here and drops
    /// them.
    fn keep(&mut self, mut c: Crypto) {
        if c.workers.failed() {
            tracing::error!("a crypto thread died: the ciphers run on the datapath's thread");
            while let Some(done) = c.workers.ready() {
                self.finish(&mut c, done);
            }
        } else {
            self.crypto = Some(c);
        }
    }
}

/// Finishes the jobs the crypto threads send back when nothing else on the runtime did first.
pub(crate) async fn collector(daemon: super::Shared, back: Arc<tokio::sync::Notify>) {
    loop {
        back.notified().await;
        let mut d = daemon.borrow_mut();
        if d.collect() {
            d.flush();
        }
    }
}

/// A Child SA's two halves and inner packets, for the tests of both directions.
#[cfg(test)]
pub(crate) mod testing {
    use esp::{InboundSa, OutboundSa};
    use ipsec_core::child_sa::{ChildSa, DirectionKeys, IpsecProtocol, Lifetimes, Mode};
    use ipsec_core::crypto::{EncrId, Encryption, IntegId, SecretBytes};
    use ipsec_core::time::Instant;

    pub(crate) const NOW: Instant = Instant::ZERO;

    /// The two halves of one Child SA (AES-128-GCM, tunnel mode, raw ESP), so that what one
    /// seals the other opens.
    pub(crate) fn sas() -> (OutboundSa, InboundSa) {
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
    pub(crate) fn inner(batch: u8, i: u8) -> Vec<u8> {
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
}
