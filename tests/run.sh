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
fi
