//! ESP over two cores, in the same run, for the same packets. Received:
//! - `one-thread`: `InboundSa::decapsulate` of each packet;
//! - `split-one-thread`: the deferred opening on one thread, a batch of 64 packets at a time
//!   (`InboundSa::prepare_open` of the batch, `Opening::open` of each, `InboundSa::finish` of
//!   each): what staging a batch costs by itself;
//! - `two-threads`: the deferred opening as a datapath with one crypto thread runs it (this
//!   thread prepares a batch and hands it over, a second thread opens it, this thread finishes
//!   it while the second opens the next, up to four batches out);
//! - `shared`: the same two threads both opening: this thread hands a batch over while the
//!   second has fewer than [`FED`] out, opens it itself otherwise, and finishes every batch in
//!   the order it came (one opened here waits for those handed over before it).
//!
//! Sent (tunnel mode, inner packets laid in buffers with room for ESP beforehand, as a TUN
//! read is):
//! - `seal-one-thread`: `OutboundSa::encapsulate` of each packet;
//! - `seal-shared`: `OutboundSa::prepare` of each packet of a batch on this thread (sequence
//!   numbers in order), `Sealing::seal` on the second thread or here as in `shared`, every
//!   batch "sent" (its ranges taken) in order.
//!
//! Two suites from the fastest provider: AES-128-GCM, whose cipher costs about what the
//! datapath's own work does, and AES-128-CBC with HMAC-SHA-256 (the kind of suite PAN-OS's
//! default IPsec crypto profile offers), whose cipher costs several times more. Inner packets
//! of 64 and 1400 bytes, 4,096 packets per iteration (sealed beforehand by this thread, as a
//! receive batch is written by the thread that reads the socket; untimed). `two-threads` and
//! `shared` over `one-thread` are what a second core adds to a datapath whose own work (the
//! checks, the replay window, the parsing) stays on one, less what moving each packet between
//! the cores costs. Run: `cargo bench -p esp --bench cores -- --warm-up-time 1
//! --measurement-time 3` (on a machine with two idle cores).

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::measurement::WallTime;
use criterion::{criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use esp::{InboundSa, Opened, Opening, OutboundSa, Sealing};
use ipsec_core::child_sa::ChildSa;
use ipsec_core::crypto::{fastest_provider, EncrId, Encryption, IntegId};
use ipsec_core::time::Instant;
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::mpsc;
use std::time::Duration;

const BATCH: usize = 64;
const BATCHES: usize = 64;
/// Batches handed to the second thread and not back, at most.
const IN_FLIGHT: usize = 4;
const NOW: Instant = Instant::ZERO;
/// In `shared`, batches kept out at the second thread (one being opened, one waiting).
const FED: usize = 2;

/// The suites measured: a name and one SA of the suite, its two halves keyed alike.
fn suites() -> [(&'static str, ChildSa); 2] {
    let gcm = Encryption::new(EncrId::ENCR_AES_GCM_16, 128);
    let cbc = Encryption::new(EncrId::ENCR_AES_CBC, 128);
    [
        (
            "aes128gcm16",
            common::child(gcm, IntegId::NONE, &[0x42; 20], &[], 0x0100_0001),
        ),
        (
            "aes128cbc-sha256",
            common::child(
                cbc,
                IntegId::AUTH_HMAC_SHA2_256_128,
                &[0x42; 16],
                &[0x24; 32],
                0x0100_0002,
            ),
        ),
    ]
}

/// The next [`BATCHES`] batches of [`BATCH`] packets `tx` sends.
fn sealed(tx: &mut OutboundSa, size: usize) -> Vec<Vec<Vec<u8>>> {
    let inner = common::udp4(size);
    (0..BATCHES)
        .map(|_| (0..BATCH).map(|_| common::seal(tx, NOW, &inner)).collect())
        .collect()
}

/// Times `run` over fresh input from `make`, `iters` times; what it returns (the packets) is
/// dropped after the timing.
fn timed<B, R>(iters: u64, mut make: impl FnMut() -> B, mut run: impl FnMut(B) -> R) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        let input = make();
        let start = std::time::Instant::now();
        let kept = run(input);
        spent += start.elapsed();
        drop(kept);
    }
    spent
}

/// Adds benchmark `id` to `group`: [`timed`] runs of `run` over input from `make`.
fn bench<B, R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    mut make: impl FnMut() -> B,
    mut run: impl FnMut(B) -> R,
) {
    group.bench_function(id, |b| {
        b.iter_custom(|iters| timed(iters, &mut make, &mut run))
    });
}

/// The next [`BATCHES`] batches of [`BATCH`] inner packets laid out for `tx` to encapsulate,
/// each in its own buffer with room for ESP around it.
fn laid_out(tx: &OutboundSa, size: usize) -> Vec<Vec<Vec<u8>>> {
    let inner = common::udp4(size);
    let head = tx.headroom();
    let mut buf = vec![0u8; head + size + tx.max_tailroom()];
    buf[head..head + size].copy_from_slice(&inner);
    vec![vec![buf; BATCH]; BATCHES]
}

/// A second thread that does `work` on each job it is handed and sends it back, in order.
fn second_thread<J: Send + 'static>(work: fn(&mut J)) -> (mpsc::SyncSender<J>, mpsc::Receiver<J>) {
    let (to_do, jobs) = mpsc::sync_channel::<J>(IN_FLIGHT);
    let (finished, done) = mpsc::sync_channel::<J>(IN_FLIGHT);
    std::thread::spawn(move || {
        while let Ok(mut job) = jobs.recv() {
            work(&mut job);
            if finished.send(job).is_err() {
                break;
            }
        }
    });
    (to_do, done)
}

/// The jobs of `jobs` through two threads as the daemon's runtime and one crypto thread run
/// them: each job's middle (`work`) on the second thread while it holds fewer than [`FED`],
/// here otherwise; `finish` of every job here, in the order of `jobs`.
fn shared<J>(
    jobs: impl IntoIterator<Item = J>,
    (to_do, done): &(mpsc::SyncSender<J>, mpsc::Receiver<J>),
    work: fn(&mut J),
    mut finish: impl FnMut(J),
) {
    // Every job not finished, in order: `None` while at the second thread (they come back in
    // the order handed over), the job once done here.
    let mut pending: VecDeque<Option<J>> = VecDeque::with_capacity(BATCHES);
    let mut out = 0;
    for mut job in jobs {
        if out < FED {
            to_do.send(job).unwrap();
            out += 1;
            pending.push_back(None);
        } else {
            work(&mut job);
            pending.push_back(Some(job));
        }
        // Whatever is back, in order: the jobs handed over before the oldest done here, then
        // it.
        while let Some(front) = pending.front_mut() {
            if front.is_none() {
                match done.try_recv() {
                    Ok(job) => *front = Some(job),
                    Err(_) => break,
                }
                out -= 1;
            }
            finish(pending.pop_front().flatten().unwrap());
        }
    }
    for slot in pending {
        finish(slot.unwrap_or_else(|| done.recv().unwrap()));
    }
}

/// Opens every packet of a received batch.
fn open_all((packets, openings, opened): &mut Job) {
    for (o, p) in openings.drain(..).zip(packets.iter_mut()) {
        opened.push(o.open(p));
    }
}

/// A batch to send: its buffers and each one's sealing.
type Sends = (Vec<Vec<u8>>, Vec<Sealing>);

/// Seals every packet of a batch to send.
fn seal_all((bufs, sealings): &mut Sends) {
    for (s, b) in sealings.iter().zip(bufs.iter_mut()) {
        s.seal(b).unwrap();
    }
}

/// A batch on its way through the second thread.
type Job = (Vec<Vec<u8>>, Vec<Opening>, Vec<Opened>);

/// The first half of receiving a batch: each packet checked by `rx`.
fn prepare(rx: &mut InboundSa, packets: &[Vec<u8>]) -> Vec<Opening> {
    packets
        .iter()
        .map(|p| rx.prepare_open(NOW, p).unwrap())
        .collect()
}

/// The middle: each packet opened on this thread.
fn open_here(openings: Vec<Opening>, packets: &mut [Vec<u8>]) -> Vec<Opened> {
    openings
        .into_iter()
        .zip(packets.iter_mut())
        .map(|(o, p)| o.open(p))
        .collect()
}

/// Finishes a batch back from the second thread; its packets, to be dropped after the timing
/// (as the one-thread loop drops its own).
fn finish(rx: &mut InboundSa, (mut packets, _, opened): Job) -> Vec<Vec<u8>> {
    for (o, p) in opened.into_iter().zip(packets.iter_mut()) {
        let d = rx.finish(NOW, o, p, None).unwrap().unwrap();
        black_box(d);
    }
    packets
}

fn cores(c: &mut Criterion) {
    let provider = fastest_provider();
    let mut group = c.benchmark_group("esp-over-cores");
    // The second threads, one for each direction's jobs (one works at a time).
    let opener = second_thread::<Job>(open_all);
    let sealer = second_thread::<Sends>(seal_all);
    for ((suite, child), size) in suites()
        .into_iter()
        .flat_map(|s| [(s.clone(), 64), (s, 1400)])
    {
        group.throughput(Throughput::Bytes((size * BATCH * BATCHES) as u64));
        let mut tx = OutboundSa::new(&provider, &child, NOW).unwrap();
        let mut rx = InboundSa::new(&provider, &child, NOW).unwrap();
        let id = |how: &str| BenchmarkId::new(format!("{suite}/{how}"), size);
        bench(
            &mut group,
            id("one-thread"),
            || sealed(&mut tx, size),
            |mut batches| {
                for p in batches.iter_mut().flatten() {
                    let d = rx.decapsulate(NOW, p).unwrap().unwrap();
                    black_box(d);
                }
                batches
            },
        );
        bench(
            &mut group,
            id("split-one-thread"),
            || sealed(&mut tx, size),
            |batches| {
                let mut kept = Vec::with_capacity(BATCHES);
                for mut packets in batches {
                    let opened = open_here(prepare(&mut rx, &packets), &mut packets);
                    kept.push(finish(&mut rx, (packets, Vec::new(), opened)));
                }
                kept
            },
        );
        let (to_do, done) = &opener;
        bench(
            &mut group,
            id("two-threads"),
            || sealed(&mut tx, size),
            |batches| {
                let mut kept = Vec::with_capacity(BATCHES);
                let mut out = 0;
                for packets in batches {
                    let openings = prepare(&mut rx, &packets);
                    if out == IN_FLIGHT {
                        kept.push(finish(&mut rx, done.recv().unwrap()));
                        out -= 1;
                    }
                    to_do
                        .send((packets, openings, Vec::with_capacity(BATCH)))
                        .unwrap();
                    out += 1;
                    while let Ok(job) = done.try_recv() {
                        kept.push(finish(&mut rx, job));
                        out -= 1;
                    }
                }
                for _ in 0..out {
                    kept.push(finish(&mut rx, done.recv().unwrap()));
                }
                kept
            },
        );
        bench(
            &mut group,
            id("shared"),
            || sealed(&mut tx, size),
            |batches| {
                let mut kept = Vec::with_capacity(BATCHES);
                // Prepared as the batches are handed on (the iterator is lazy), as the datapath
                // prepares each batch it reads.
                let rx = std::cell::RefCell::new(&mut rx);
                let jobs = batches.into_iter().map(|packets| {
                    let openings = prepare(&mut rx.borrow_mut(), &packets);
                    (packets, openings, Vec::with_capacity(BATCH))
                });
                shared(jobs, &opener, open_all, |job| {
                    kept.push(finish(&mut rx.borrow_mut(), job));
                });
                kept
            },
        );
        let reads = laid_out(&tx, size);
        let head = tx.headroom();
        bench(
            &mut group,
            id("seal-one-thread"),
            || reads.clone(),
            |mut batches| {
                for buf in batches.iter_mut().flatten() {
                    let r = tx.encapsulate(NOW, buf, head..head + size).unwrap();
                    black_box(r);
                }
                batches
            },
        );
        bench(
            &mut group,
            id("seal-shared"),
            || reads.clone(),
            |batches| {
                let mut kept = Vec::with_capacity(BATCHES);
                let tx = std::cell::RefCell::new(&mut tx);
                let jobs = batches.into_iter().map(|mut bufs| {
                    let sealings = bufs
                        .iter_mut()
                        .map(|b| tx.borrow_mut().prepare(NOW, b, head..head + size))
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap();
                    (bufs, sealings)
                });
                shared(jobs, &sealer, seal_all, |(bufs, sealings)| {
                    for s in &sealings {
                        black_box(s.range());
                    }
                    kept.push(bufs);
                });
                kept
            },
        );
    }
    group.finish();
}

#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::cores);
}

criterion_main!(group::benches);
