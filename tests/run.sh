#!/usr/bin/env bash
# The project's test command (see README): unit, property, known-answer and integration tests of
# every crate, then the strongSwan interop scenarios when this machine can run them.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets
cargo test --workspace --doc

# strongSwan interop (tests/interop/): needs root, Linux and `ip netns`; installs strongSwan from
# Debian packages on first use. Set SKIP_INTEROP=1 to leave it out.
interop_skip_reason() {
  if [ "${SKIP_INTEROP:-0}" = 1 ]; then echo "SKIP_INTEROP=1"
  elif [ "$(uname -s)" != Linux ]; then echo "not Linux"
  elif [ "$(id -u)" -ne 0 ]; then echo "not running as root (network namespaces need it)"
  elif ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then echo "'ip netns' unavailable"
  elif ! command -v apt-get >/dev/null 2>&1 && ! [ -x /usr/lib/ipsec/charon ]; then
    echo "strongSwan not installed and no apt-get to install it"
  fi
}
reason="$(interop_skip_reason)"
if [ -n "$reason" ]; then
  echo "=== interop: SKIPPED ($reason)"
else
  echo "=== interop: strongSwan scenarios (tests/interop/run.sh)"
  tests/interop/setup.sh
  tests/interop/run.sh
  # The certificate samples with certificates fresh from their script (strongSwan's pki, which
  # setup.sh installs), in a scratch copy so a checkout's own certs/ stays as it is.
  echo "=== certificate demo: examples/configs/make-certs.sh, ipsec-demo hq-cert.toml branch-cert.toml"
  demo_dir="$(mktemp -d)"
  cp examples/configs/hq-cert.toml examples/configs/branch-cert.toml "$demo_dir/"
  examples/configs/make-certs.sh "$demo_dir/certs"
  cargo run --quiet -p ipsec-examples --bin ipsec-demo -- \
    "$demo_dir/hq-cert.toml" "$demo_dir/branch-cert.toml" | tail -1
  rm -rf "$demo_dir"
fi
