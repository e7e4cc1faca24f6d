#!/usr/bin/env python3
"""Ratios from `cargo bench -p esp --bench datapath` runs (criterion's estimates).

For each suite and size: ESP encap+decap against the same provider's raw seal+open
(raw time / ESP time: 1.00 means no overhead), each provider's raw cipher against RustCrypto's,
and the fastest ESP against the fastest raw AEAD of the run. Each ratio is taken within one run
(criterion's median time of each benchmark); only figures from one run compare.

On a shared machine one run's ratios swing with the load. Runs saved under names
(`cargo bench -p esp --bench datapath -- --save-baseline r1 ...`, then r2, r3) can be given
together: each ratio is then the median of the runs' ratios, with their range in brackets.

With --low, each time is the 5th percentile of the run's per-iteration sample times instead of
criterion's median: on a shared machine, where other work stretches some samples and not others,
the least disturbed figure of a run (ratios of medians swing by a quarter there, these by a few
percent). The `esp-own-work` group (ESP with the no-security provider's identity AEAD, the
datapath's own work per packet pair) is printed too when present.

Usage: esp/benches/datapath_ratios.py [--root target/criterion] [--low] [BASELINE...]
(default baseline: new)
"""
import json
import os
import statistics
import sys

args = sys.argv[1:]
LOW = "--low" in args
args = [a for a in args if a != "--low"]
ROOT = "target/criterion"
if len(args) >= 2 and args[0] == "--root":
    ROOT, args = args[1], args[2:]
elif len(args) == 1 and os.path.isdir(args[0]):
    # The former usage: the criterion directory alone.
    ROOT, args = args[0], []
RUNS = args or ["new"]
SUITES = ["aes128gcm16", "aes256gcm16", "chacha20poly1305", "aes128cbc-sha256", "null-sha256", "3des-sha256"]
PROVIDERS = ["rust-crypto", "ring", "aws-lc-rs", "fastest"]
SIZES = [64, 512, 1400, 9000]


def sample_time_ns(path):
    """Criterion's median, or with --low the 5th percentile of the per-iteration samples."""
    if not LOW:
        with open(f"{path}/estimates.json") as f:
            return json.load(f)["median"]["point_estimate"]
    with open(f"{path}/sample.json") as f:
        d = json.load(f)
    xs = sorted(t / i for t, i in zip(d["times"], d["iters"]))
    return xs[len(xs) // 20]


def time_ns(run, suite, provider, kind, size):
    path = f"{ROOT}/{suite}/{provider}_{kind}/{size}/{run}"
    if not os.path.exists(f"{path}/estimates.json"):
        return None
    return sample_time_ns(path)


def ratio(f):
    """The median over the runs of f(run) (None where a run lacks it), with the range."""
    xs = [x for x in (f(run) for run in RUNS) if x is not None]
    if not xs:
        return None
    m = statistics.median(xs)
    return f"{m:.2f}" if len(xs) == 1 else f"{m:.2f} [{min(xs):.2f}-{max(xs):.2f}]"


def share(suite, p, size):
    def f(run):
        esp, raw = time_ns(run, suite, p, "esp", size), time_ns(run, suite, p, "raw", size)
        return raw / esp if esp and raw else None
    return ratio(f)


def vs_rust_crypto(suite, p, size):
    def f(run):
        base, raw = time_ns(run, suite, "rust-crypto", "raw", size), time_ns(run, suite, p, "raw", size)
        return base / raw if base and raw else None
    return ratio(f)


def fastest(suite, size):
    def f(run):
        esp = [x for x in (time_ns(run, suite, p, "esp", size) for p in PROVIDERS) if x]
        raw = [x for x in (time_ns(run, suite, p, "raw", size) for p in PROVIDERS) if x]
        return min(raw) / min(esp) if esp and raw else None
    return ratio(f)


if len(RUNS) > 1:
    print(f"median over runs {', '.join(RUNS)} [range]")
for suite in SUITES:
    lines = []
    for size in SIZES:
        cells = []
        for p in PROVIDERS:
            s = share(suite, p, size)
            if s is None:
                continue
            v = vs_rust_crypto(suite, p, size)
            cells.append(f"{p}: esp/raw {s}" + (f", raw x{v} of rust-crypto" if v else ""))
        if cells:
            lines.append(f"  {size:5}  " + " | ".join(cells))
    if lines:
        print(suite)
        print("\n".join(lines))
        f = fastest(suite, 1400)
        if f:
            print(f"  1400: fastest ESP at {f} of the fastest raw")

own = []
for size in SIZES:
    xs = [sample_time_ns(f"{ROOT}/esp-own-work/{size}/{run}") for run in RUNS
          if os.path.exists(f"{ROOT}/esp-own-work/{size}/{run}/estimates.json")]
    if xs:
        m = statistics.median(xs)
        own.append(f"{size}: {m:.0f} ns" + (f" [{min(xs):.0f}-{max(xs):.0f}]" if len(xs) > 1 else ""))
if own:
    print("esp-own-work (encap+decap with the identity AEAD)")
    print("  " + " | ".join(own))
