//! The SA table's cost per SA against the number of SAs it holds: one table holding 1,000 and
//! 100,000 Child SAs (AES-128-GCM, each with its own time limits, installed at different
//! instants so that every SA has its own deadline), in the same run:
//!
//! - `poll_timeout/<n>`: the next deadline;
//! - `handle_timeout/<n>`: `handle_timeout` when the earliest SA is due: its soft (or hard)
//!   time limit raised, its event polled, its next deadline filed (each iteration moves time on
//!   to the next deadline, so one SA is due each time);
//! - `churn/<n>`: one Child SA installed beside the `n` held, then removed (key setup included).
//!
//! The ratio of each figure at 100,000 to the same at 1,000 is what matters (1.0 is flat).
//!
//! `cargo bench -p esp --bench timers -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates undocumented functions.
#![allow(missing_docs)]

use core::time::Duration;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use esp::{SaTable, SpiAllocator};
use ipsec_core::child_sa::{ChildSa, DirectionKeys, IpsecProtocol, Lifetimes, Mode};
use ipsec_core::crypto::{fastest_provider, EncrId, Encryption, IntegId, SecretBytes};
use ipsec_core::time::Instant;
use std::hint::black_box;

const SIZES: [usize; 2] = [1_000, 100_000];

/// A Child SA of tunnel `t<n % 16>` with the inbound SPI `spi`, rekeyed after an hour.
fn child(n: usize, spi: u32) -> ChildSa {
    let keys = |spi| DirectionKeys {
        spi,
        encryption_key: SecretBytes::from_slice(&[0x11; 20]),
        integrity_key: SecretBytes::default(),
    };
    ChildSa {
        tunnel: format!("t{}", n % 16),
        proxy_id: None,
        protocol: IpsecProtocol::Esp,
        mode: Mode::Tunnel,
        encryption: Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
        integrity: IntegId::NONE,
        esn: false,
        inbound: keys(spi),
        outbound: keys(0x1000_0000 + n as u32),
        local_ts: vec![],
        remote_ts: vec![],
        local_addr: "192.0.2.1:4500".parse().unwrap(),
        remote_addr: "192.0.2.2:4500".parse().unwrap(),
        encapsulation: None,
        lifetimes: Lifetimes {
            soft_time: Some(Duration::from_secs(3_000)),
            hard_time: Some(Duration::from_secs(3_600)),
            ..Lifetimes::default()
        },
        replay_window: 1024,
        tfc_padding: false,
    }
}

/// A table holding `n` Child SAs, one installed every millisecond from instant zero.
fn table(n: usize) -> SaTable {
    let mut t = SaTable::new(fastest_provider());
    for i in 0..n {
        let spi = t.allocate_spi().unwrap();
        t.install(Instant::from_millis(i as u64), &child(i, spi))
            .unwrap();
    }
    t
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("table");
    for n in SIZES {
        let mut t = table(n);
        g.bench_with_input(BenchmarkId::new("poll_timeout", n), &n, |b, _| {
            b.iter(|| black_box(t.poll_timeout()))
        });
        g.bench_with_input(BenchmarkId::new("handle_timeout", n), &n, |b, _| {
            // Timed call by call: a table whose limits were all raised is built again, untimed.
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let due = match t.poll_timeout() {
                        Some(d) => d,
                        None => {
                            t = table(n);
                            t.poll_timeout().unwrap()
                        }
                    };
                    let start = std::time::Instant::now();
                    // The earliest SA's soft (then hard) limit: raised, polled, refiled.
                    t.handle_timeout(due);
                    black_box(t.poll_event());
                    spent += start.elapsed();
                }
                spent
            })
        });
        let mut i = n;
        g.bench_with_input(BenchmarkId::new("churn", n), &n, |b, _| {
            b.iter(|| {
                let spi = t.allocate_spi().unwrap();
                let h = t
                    .install(Instant::from_millis(i as u64), &child(i, spi))
                    .unwrap();
                i += 1;
                t.remove(black_box(h));
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
