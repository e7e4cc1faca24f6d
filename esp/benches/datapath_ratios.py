#!/usr/bin/env python3
"""Ratios from the last `cargo bench -p esp --bench datapath` run (criterion's estimates).

For each suite and size: ESP encap+decap against the same provider's raw seal+open
(raw time / ESP time: 1.00 means no overhead), each provider's raw cipher against RustCrypto's,
and the fastest ESP against the fastest raw AEAD of the run. Only figures from one run compare.

Usage: esp/benches/datapath_ratios.py [target/criterion]
"""
import json
import os
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
SUITES = ["aes128gcm16", "aes256gcm16", "chacha20poly1305", "aes128cbc-sha256", "null-sha256", "3des-sha256"]
PROVIDERS = ["rust-crypto", "ring", "aws-lc-rs", "fastest"]
SIZES = [64, 512, 1400, 9000]


def mean_ns(suite, provider, kind, size):
    path = f"{ROOT}/{suite}/{provider}_{kind}/{size}/new/estimates.json"
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["mean"]["point_estimate"]


for suite in SUITES:
    lines = []
    for size in SIZES:
        base = mean_ns(suite, "rust-crypto", "raw", size)
        cells = []
        for p in PROVIDERS:
            esp, raw = mean_ns(suite, p, "esp", size), mean_ns(suite, p, "raw", size)
            if esp is None or raw is None:
                continue
            vs = f", raw x{base / raw:.2f} of rust-crypto" if base else ""
            cells.append(f"{p}: esp/raw {raw / esp:.2f}{vs}")
        if cells:
            lines.append(f"  {size:5}  " + " | ".join(cells))
    if lines:
        print(suite)
        print("\n".join(lines))
    esp = [(mean_ns(suite, p, "esp", 1400), p) for p in PROVIDERS]
    raw = [(mean_ns(suite, p, "raw", 1400), p) for p in PROVIDERS]
    esp, raw = [x for x in esp if x[0]], [x for x in raw if x[0]]
    if esp and raw:
        (e, ep), (r, rp) = min(esp), min(raw)
        print(f"  1400: fastest ESP ({ep}) at {r / e:.2f} of the fastest raw ({rp})")
