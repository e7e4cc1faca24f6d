//! Writes the seed corpora of the fuzz targets that cannot use captured bytes as they are.
//!
//! `cargo run --release --example make_seeds` (in `fuzz/`) rewrites `seeds/responder`,
//! `seeds/initiator`, `seeds/lifecycle`, `seeds/config_text`, `seeds/narrowing`, `seeds/replay`
//! and the harness messages in `seeds/ike_message` (`9_*`, `10_*`).
//!
//! The endpoint seeds come from one recorded run of the two-peer harness on the no-security
//! provider, with the fuzz targets' configurations and seeded random sources: the left peer
//! connects both tunnels (three Child SAs), then each side rekeys Child SAs, the left rekeys the
//! IKE SA, the right checks liveness, the left deletes a tunnel's Child SA and the right deletes
//! the IKE SA. Each side's seed is what it received and was told, in order, in the input format
//! of `common/endpoint.rs`; before writing it, the seed is replayed through the target's own
//! driver and must produce the same Child SAs as the recorded run (so it really reaches the end).

use ikev2::testing::{Pair, Side, Verdict};
use ikev2::Event;
use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

#[path = "../common/no_security.rs"]
mod no_security;

#[path = "../common/endpoint.rs"]
mod endpoint;

/// What happened, in order: a datagram to a side, or a command to a side.
enum Record {
    Datagram(Side, Vec<u8>),
    Command(Side, u8, u8),
}

fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(name);
    fs::create_dir_all(&d).expect("seed directory");
    d
}

fn write(name: &str, file: &str, bytes: &[u8]) {
    fs::write(dir(name).join(file), bytes).expect("write seed");
}

fn other(s: Side) -> Side {
    s.other()
}

/// Runs the scripted exchange; returns the records and the pair at the end.
fn record() -> (Vec<Record>, Pair) {
    let log: Rc<RefCell<Vec<Record>>> = Rc::default();
    let mut p = Pair::with_provider(
        endpoint::config(true),
        endpoint::config(false),
        endpoint::SEED,
        endpoint::provider(),
    );
    let tap = log.clone();
    p.tamper = Some(Box::new(move |from, _to, bytes| {
        tap.borrow_mut()
            .push(Record::Datagram(other(from), bytes.clone()));
        Verdict::Deliver
    }));
    // (side, command, argument) in the encoding of `common/endpoint.rs`.
    let script: &[(Side, u8, u8)] = &[
        (Side::Left, 0, 0),
        (Side::Left, 0, 1),
        (Side::Left, 1, 0),
        (Side::Right, 1, 1),
        (Side::Left, 3, 0),
        (Side::Right, 5, 0),
        (Side::Left, 2, 1),
        (Side::Right, 4, 0),
    ];
    for &(s, c, arg) in script {
        log.borrow_mut().push(Record::Command(s, c, arg));
        let tunnel = if arg % 2 == 0 { "t0" } else { "t1" };
        let now = p.now;
        let ep = p.endpoint(s);
        let r = match c {
            0 => ep.connect(now, tunnel),
            1 => ep.rekey_child(now, tunnel),
            2 => ep.delete_child(now, tunnel),
            3 => ep.rekey_ike(now, "gw"),
            4 => ep.delete_ike(now, "gw"),
            _ => ep.liveness_check(now, "gw"),
        };
        r.expect("scripted command");
        assert!(p.drive(), "the scripted run settles");
    }
    let records = log.take();
    (records, p)
}

/// One side's seed: what it received and was told. The initiator target connects `t0`
/// itself, so its first command is left out.
fn seed_of(records: &[Record], side: Side) -> Vec<u8> {
    let mut out = Vec::new();
    let mut skipped_connect = side == Side::Right;
    for r in records {
        match r {
            Record::Datagram(to, b) if *to == side => {
                endpoint::encode_datagram(&mut out, false, 0, b)
            }
            Record::Command(s, c, arg) if *s == side => {
                if !skipped_connect {
                    skipped_connect = true;
                    continue;
                }
                endpoint::encode_command(&mut out, *c, *arg);
            }
            _ => {}
        }
    }
    out
}

fn child_spis(events: &[Event]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaUp { child, .. } => Some(child.inbound.spi),
            _ => None,
        })
        .collect()
}

/// Replays a side's seed through the fuzz target's driver: it must bring up the same Child
/// SAs (same inbound SPIs, in order) as the recorded run.
fn replay(seed: &[u8], side: Side, want: &[u32]) {
    let mut d = endpoint::Driven::new(side == Side::Left);
    d.keep = true;
    if side == Side::Left {
        d.step(&endpoint::Step::Command(0, 0));
    }
    for s in endpoint::steps(seed) {
        d.step(&s);
    }
    let got = child_spis(&d.kept);
    assert_eq!(
        got, want,
        "{side:?}: the seed does not replay the recorded run"
    );
}

fn main() {
    let (records, p) = record();
    for (side, target) in [(Side::Right, "responder"), (Side::Left, "initiator")] {
        let seed = seed_of(&records, side);
        replay(&seed, side, &child_spis(p.events(side)));
        write(target, "full_run", &seed);
        // The first exchanges alone, so the fuzzer also starts from a short input.
        let short: Vec<u8> = {
            let steps = endpoint::steps(&seed).len().min(3);
            let mut out = Vec::new();
            let mut n = 0;
            for r in &records {
                if let Record::Datagram(to, b) = r {
                    if *to == side && n < steps {
                        endpoint::encode_datagram(&mut out, false, 0, b);
                        n += 1;
                    }
                }
            }
            out
        };
        write(target, "handshake", &short);
        println!(
            "{target}: {} bytes, {} steps",
            seed.len(),
            endpoint::steps(&seed).len()
        );
    }

    // Harness messages for the message parser: the first IKE_AUTH and CREATE_CHILD_SA requests,
    // protected with the no-security AEAD.
    let mut wrote = 0;
    for r in &records {
        if let Record::Datagram(Side::Right, b) = r {
            let name = match b.get(18) {
                Some(35) if wrote == 0 => "9_harness_ike_auth_request.bin",
                Some(36) if wrote == 1 => "10_harness_create_child_sa_request.bin",
                _ => continue,
            };
            write("ike_message", name, b);
            wrote += 1;
        }
    }

    // Lifecycle: (op, arg) pairs, see fuzz_targets/lifecycle.rs.
    let lifecycles: &[(&str, &[u8])] = &[
        ("connect_settle", &[0, 0, 0, 2, 6, 50, 11, 0]),
        ("both_connect", &[0, 0, 0, 1, 0, 2, 0, 3, 6, 100, 11, 0]),
        (
            "rekey_both_sides",
            &[0, 0, 6, 50, 1, 0, 1, 1, 3, 0, 3, 1, 6, 100, 11, 0],
        ),
        ("lossy_lifetimes", &[8, 0x15, 0, 0, 0, 2, 7, 120, 11, 0]),
        (
            "delete_and_back",
            &[0, 0, 6, 50, 4, 1, 6, 10, 0, 0, 2, 2, 6, 50, 11, 0],
        ),
        (
            "inject",
            &[
                0, 0, 6, 50, 9, 8, 0, 0, 0, 0, 0, 0, 0, 0, 10, 18, 1, 42, 0, 0, 0, 4, 11, 0,
            ],
        ),
    ];
    for (name, ops) in lifecycles {
        write("lifecycle", name, ops);
    }

    // Configuration text: the sample pair's first file and two variants.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (src, name) in [
        ("examples/configs/hq.toml", "hq.toml"),
        (
            "testdata/configs/pairs/branch-proxy-ids.toml",
            "branch-proxy-ids.toml",
        ),
        (
            "testdata/configs/broken/many-errors.toml",
            "many-errors.toml",
        ),
    ] {
        let text = fs::read(root.join(src)).expect("config file");
        write("config_text", name, &text);
    }

    // Narrowing: family byte, then lists (count byte, 11-byte selectors).
    let ts = |lo: u16, hi: u16, proto: u8, ports: u8| -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&lo.to_be_bytes());
        v.extend_from_slice(&hi.to_be_bytes());
        v.extend_from_slice(&[proto, 0, ports, 0, 10, 0, 40]);
        v
    };
    let list = |items: &[Vec<u8>]| -> Vec<u8> {
        let mut v = vec![(items.len() as u8).saturating_sub(1)];
        for i in items {
            v.extend_from_slice(i);
        }
        v
    };
    let mut n = vec![0u8];
    n.extend(list(&[ts(0, 255, 0, 0)]));
    n.extend(list(&[ts(16, 31, 0, 0), ts(64, 127, 3, 4)]));
    n.extend(list(&[ts(0, 100, 0, 0)]));
    n.extend(list(&[ts(200, 300, 0, 0)]));
    n.extend(list(&[ts(200, 255, 0, 0)]));
    n.extend(list(&[ts(0, 63, 0, 0)]));
    n.extend(list(&[ts(256, 511, 6, 5)]));
    n.extend(list(&[ts(50, 60, 0, 3)]));
    write("narrowing", "two_policies", &n);
    let mut v6 = n.clone();
    v6[0] = 1;
    write("narrowing", "two_policies_v6", &v6);

    // Replay: configuration byte, then (i16 move, flags) steps.
    let step = |d: i16, flags: u8| -> Vec<u8> {
        let mut v = d.to_be_bytes().to_vec();
        v.push(flags);
        v
    };
    let mut r = vec![2u8];
    for (d, f) in [
        (0, 0),
        (1, 0),
        (5, 0),
        (-3, 0),
        (-3, 0),
        (2, 2),
        (-200, 0),
        (100, 1),
    ] {
        r.extend(step(d, f));
    }
    write("replay", "window_1024", &r);
    let mut e = vec![0x31u8];
    for (d, f) in [
        (0, 0),
        (3, 0),
        (200, 0),
        (-100, 0),
        (-32000, 1),
        (10, 2),
        (1, 0),
    ] {
        e.extend(step(d, f));
    }
    write("replay", "esn_across_2_pow_32", &e);
}
