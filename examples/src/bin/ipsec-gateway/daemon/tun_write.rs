//! The thread that writes decapsulated packets to the TUN devices.
//!
//! Writing a packet to a TUN device is where the host takes it in: the kernel runs its receive
//! path in the writer's context (for TCP, the stream's reassembly, its acknowledgement and the
//! wakeup of the reading application), a quarter of the receiving daemon's time in a TCP test
//! through the tunnel. So the datapath hands each receive batch, decapsulated in place and
//! coalesced ([`Coalescer`]), to this thread together with the batch's buffer, takes a spare
//! buffer for the next `recvmmsg`, and reads and decapsulates the next batch while the thread
//! writes: the two halves of the inbound path run on two cores. Batches go through one queue and
//! are written in the order they were received, so the packets of a flow keep their order; a
//! device's own writes ([`Tun::flush`](super::tun::Tun::flush)) do not go through the thread,
//! but they carry no packet of a flow that the batches carry (those are written here whenever
//! the device has offloads, there when it has none).
//!
//! The thread is an [`Ordered`] stage: small batches are written by the datapath itself when
//! the thread has nothing pending.

use super::gro::Coalescer;
use super::ordered::{Ordered, HAND_OVER, IN_FLIGHT};
use std::os::fd::OwnedFd;
use std::sync::Arc;

/// A TUN device as the thread writes to it: its own descriptor (the device stays until every
/// descriptor is closed, so a job holds it only while it is queued).
pub(crate) struct WriteFd {
    pub(crate) fd: OwnedFd,
    pub(crate) ifname: String,
}

/// What one device gets from one batch.
struct Write {
    /// `None` once written (the device is not held between batches).
    device: Option<Arc<WriteFd>>,
    gro: Coalescer,
}

/// One receive batch to write: its buffer, and per device the packets in it.
struct Job {
    buf: Vec<u8>,
    writes: Vec<Write>,
}

impl Job {
    fn write(&mut self) {
        for w in &mut self.writes {
            if let Some(d) = w.device.take() {
                w.gro.write(&d.fd, &mut self.buf, &d.ifname);
            }
        }
    }
}

/// The datapath's end of the thread, with what comes back from it for reuse.
pub(crate) struct TunWriter {
    thread: Ordered<Job>,
    /// Batch buffers back from the thread (a buffer is swapped for one of the same length).
    buffers: Vec<Vec<u8>>,
    /// Coalescers back from the thread, emptied.
    coalescers: Vec<Coalescer>,
    /// Jobs back from the thread, for their `writes` vectors.
    jobs: Vec<Vec<Write>>,
}

/// A batch about to be handed over: [`TunWriter::begin`] starts it, the devices add their
/// packets ([`add`](Self::add)), [`TunWriter::hand_over`] sends it.
pub(crate) struct Handing {
    writes: Vec<Write>,
}

impl Handing {
    /// Adds `gro`, a device's packets of the batch, to be written to `device`.
    pub(crate) fn add(&mut self, device: &Arc<WriteFd>, gro: Coalescer) {
        self.writes.push(Write {
            device: Some(device.clone()),
            gro,
        });
    }
}

impl TunWriter {
    /// Starts the thread.
    pub(crate) fn spawn() -> std::io::Result<TunWriter> {
        Ok(TunWriter {
            thread: Ordered::spawn("tun-write", || |job: &mut Job| job.write())?,
            buffers: Vec::with_capacity(IN_FLIGHT),
            coalescers: Vec::new(),
            jobs: Vec::with_capacity(IN_FLIGHT),
        })
    }

    /// Takes back what the thread has written.
    fn reclaim(&mut self) {
        while let Some(job) = self.thread.try_done() {
            self.put_back(job);
        }
    }

    fn put_back(&mut self, mut job: Job) {
        self.buffers.push(job.buf);
        self.coalescers.extend(job.writes.drain(..).map(|w| w.gro));
        self.jobs.push(job.writes);
    }

    /// Whether a batch of `packets` packets should go to the thread: only when it is large
    /// enough to be worth a wakeup, or when the thread still has batches ahead of it (they
    /// must be written first).
    pub(crate) fn wants(&mut self, packets: usize) -> bool {
        self.reclaim();
        packets >= HAND_OVER || self.thread.in_flight() > 0
    }

    /// Waits until the thread has written everything handed to it, so that the datapath may
    /// write at once without overtaking it.
    pub(crate) fn wait_idle(&mut self) {
        while let Some(job) = self.thread.wait_done() {
            self.put_back(job);
        }
    }

    /// An empty coalescer, to take a device's place while its packets are handed over.
    pub(crate) fn coalescer(&mut self) -> Coalescer {
        self.coalescers.pop().unwrap_or_else(Coalescer::new)
    }

    /// Starts a batch to hand over.
    pub(crate) fn begin(&mut self) -> Handing {
        Handing {
            writes: self.jobs.pop().unwrap_or_default(),
        }
    }

    /// Hands the batch over with `buf`, the batch buffer the packets lie in, and returns a
    /// buffer of the same length for the next batch. Waits when [`IN_FLIGHT`] batches are
    /// already queued. Should the thread be gone, writes here.
    pub(crate) fn hand_over(&mut self, batch: Handing, buf: &mut Vec<u8>) {
        let len = buf.len();
        let spare = loop {
            if let Some(i) = self.buffers.iter().position(|b| b.len() == len) {
                break self.buffers.swap_remove(i);
            }
            if self.thread.in_flight() < IN_FLIGHT {
                break vec![0u8; len];
            }
            // The thread is behind: wait for a buffer.
            match self.thread.wait_done() {
                Some(job) => self.put_back(job),
                None => break vec![0u8; len],
            }
        };
        // Buffers of other lengths (another socket's batches) are kept for that socket, a few.
        self.buffers.truncate(2 * IN_FLIGHT);
        let job = Job {
            buf: std::mem::replace(buf, spare),
            writes: batch.writes,
        };
        if let Err(mut job) = self.thread.hand_over(job) {
            job.write();
            self.put_back(job);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;
    use tun_rs::VIRTIO_NET_HDR_LEN;

    /// An IPv4 UDP packet whose payload names its batch and place in it.
    fn packet(batch: u8, i: u8) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&28u16.to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 2, 0, 1]);
        p[16..20].copy_from_slice(&[10, 1, 0, 1]);
        p[20] = batch;
        p[21] = i;
        p
    }

    #[test]
    fn batches_keep_their_order_whether_handed_over_or_written_here() {
        let sizes = [1u8, 20, 3, 9, 2, 64, 1, 1, 30, 7];
        let total: usize = sizes.iter().map(|&n| usize::from(n)).sum();
        let (ours, theirs) = UnixDatagram::pair().unwrap();
        let device = Arc::new(WriteFd {
            fd: OwnedFd::from(ours),
            ifname: "tunnel.1".into(),
        });
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut d = [0u8; 256];
            for _ in 0..total {
                let n = theirs.recv(&mut d).unwrap();
                assert_eq!(d[..VIRTIO_NET_HDR_LEN], [0; VIRTIO_NET_HDR_LEN]);
                got.push(d[VIRTIO_NET_HDR_LEN..n].to_vec());
            }
            got
        });
        let mut w = TunWriter::spawn().unwrap();
        let mut gro = Coalescer::new();
        let mut buf = vec![0u8; 64 * 64];
        let (mut expected, mut handed, mut here) = (Vec::new(), 0, 0);
        for (b, &n) in sizes.iter().enumerate() {
            // Each batch fills the buffer from the start, as a receive batch does: a batch
            // still queued must not see the next one's bytes.
            for i in 0..n {
                let p = packet(b as u8, i);
                let at = usize::from(i) * 64..usize::from(i) * 64 + p.len();
                buf[at.clone()].copy_from_slice(&p);
                gro.push(at, &p);
                expected.push(p);
            }
            assert_eq!(gro.taken(), usize::from(n));
            if w.wants(gro.taken()) {
                let mut batch = w.begin();
                batch.add(&device, std::mem::replace(&mut gro, w.coalescer()));
                w.hand_over(batch, &mut buf);
                assert_eq!(buf.len(), 64 * 64, "a spare buffer of the same length");
                handed += 1;
            } else {
                gro.write(&device.fd, &mut buf, "tunnel.1");
                here += 1;
            }
        }
        assert!(
            handed > 0 && here > 0,
            "{handed} handed over, {here} written here"
        );
        w.wait_idle();
        assert_eq!(Arc::strong_count(&device), 1, "no batch holds the device");
        assert_eq!(reader.join().unwrap(), expected);
        assert!(w.buffers.len() <= IN_FLIGHT && !w.coalescers.is_empty());
    }
}
