//! Received ESP over two cores, in the same run, for the same packets:
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
//! Two suites from the fastest provider: AES-128-GCM, whose cipher costs about what the
//! datapath's own work does, and AES-128-CBC with HMAC-SHA-256 (the kind of suite PAN-OS's
//! default IPsec crypto profile offers), whose cipher costs several times more. Inner packets
//! of 64 and 1400 bytes, 4,096 packets per iteration (sealed beforehand by this thread, as a
//! receive batch is written by the thread that reads the socket; untimed). `two-threads` over
//! `one-thread` is what a second core adds to a receiving datapath whose own work (the checks,
//! the replay window, the parsing) stays on one: at best the cipher's share taken off the first
//! core, less what moving each packet between the cores costs. Run: `cargo bench -p esp --bench
//! cores -- --warm-up-time 1 --measurement-time 3` (on a machine with two idle cores).

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use esp::{InboundSa, Opened, Opening, OutboundSa};
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

/// Times `receive` over fresh batches from `tx`, `iters` times; what it returns (the packets)
/// is dropped after the timing.
fn timed<R>(
    iters: u64,
    tx: &mut OutboundSa,
    size: usize,
    mut receive: impl FnMut(Vec<Vec<Vec<u8>>>) -> R,
) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        let batches = sealed(tx, size);
        let start = std::time::Instant::now();
        let kept = receive(batches);
        spent += start.elapsed();
        drop(kept);
    }
    spent
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
    // The second thread: opens each batch it is handed and sends it back.
    let (to_do, jobs) = mpsc::sync_channel::<Job>(IN_FLIGHT);
    let (finished, done) = mpsc::sync_channel::<Job>(IN_FLIGHT);
    std::thread::spawn(move || {
        while let Ok((mut packets, mut openings, mut opened)) = jobs.recv() {
            for (o, p) in openings.drain(..).zip(packets.iter_mut()) {
                opened.push(o.open(p));
            }
            if finished.send((packets, openings, opened)).is_err() {
                break;
            }
        }
    });
    for ((suite, child), size) in suites()
        .into_iter()
        .flat_map(|s| [(s.clone(), 64), (s, 1400)])
    {
        group.throughput(Throughput::Bytes((size * BATCH * BATCHES) as u64));
        let mut tx = OutboundSa::new(&provider, &child, NOW).unwrap();
        let mut rx = InboundSa::new(&provider, &child, NOW).unwrap();
        let id = |how: &str| BenchmarkId::new(format!("{suite}/{how}"), size);
        group.bench_with_input(id("one-thread"), &size, |b, &size| {
            b.iter_custom(|iters| {
                timed(iters, &mut tx, size, |mut batches| {
                    for p in batches.iter_mut().flatten() {
                        let d = rx.decapsulate(NOW, p).unwrap().unwrap();
                        black_box(d);
                    }
                    batches
                })
            })
        });
        group.bench_with_input(id("split-one-thread"), &size, |b, &size| {
            b.iter_custom(|iters| {
                timed(iters, &mut tx, size, |batches| {
                    let mut kept = Vec::with_capacity(BATCHES);
                    for mut packets in batches {
                        let opened = open_here(prepare(&mut rx, &packets), &mut packets);
                        kept.push(finish(&mut rx, (packets, Vec::new(), opened)));
                    }
                    kept
                })
            })
        });
        group.bench_with_input(id("two-threads"), &size, |b, &size| {
            b.iter_custom(|iters| {
                timed(iters, &mut tx, size, |batches| {
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
                })
            })
        });
        group.bench_with_input(id("shared"), &size, |b, &size| {
            b.iter_custom(|iters| {
                timed(iters, &mut tx, size, |batches| {
                    let mut kept = Vec::with_capacity(BATCHES);
                    // Every batch not finished, in arrival order: `None` while at the second
                    // thread (they come back in the order handed over), the job once here.
                    let mut pending: VecDeque<Option<Job>> = VecDeque::with_capacity(BATCHES);
                    let mut out = 0;
                    for mut packets in batches {
                        let openings = prepare(&mut rx, &packets);
                        if out < FED {
                            to_do
                                .send((packets, openings, Vec::with_capacity(BATCH)))
                                .unwrap();
                            out += 1;
                            pending.push_back(None);
                        } else {
                            let opened = open_here(openings, &mut packets);
                            pending.push_back(Some((packets, Vec::new(), opened)));
                        }
                        // Whatever is back, in order: the batches handed over before the
                        // oldest opened here, then it.
                        while let Some(front) = pending.front_mut() {
                            if front.is_none() {
                                match done.try_recv() {
                                    Ok(job) => *front = Some(job),
                                    Err(_) => break,
                                }
                                out -= 1;
                            }
                            let job = pending.pop_front().flatten().unwrap();
                            kept.push(finish(&mut rx, job));
                        }
                    }
                    for slot in pending {
                        let job = match slot {
                            Some(job) => job,
                            None => done.recv().unwrap(),
                        };
                        kept.push(finish(&mut rx, job));
                    }
                    kept
                })
            })
        });
    }
    group.finish();
}

#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::cores);
}

criterion_main!(group::benches);
