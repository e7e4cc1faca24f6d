#!/usr/bin/env bash
# IKE load: strongSwan's load-tester (load/load-tester.sh, built by load/build-load-tester.sh from
# the strongSwan release Debian ships) opens COUNT IKE SAs (default 2000), each with one Child SA
# and its own identity, from 192.0.2.1 in ipsec-us at our daemon in ipsec-sw: a responder with a
# dynamic peer and a wildcard peer-id (configs/daemon-load.toml).
#
#   tests/interop/load.sh            (as root; the first run builds the load-tester, ~5 min)
#
# Passes when the load-tester established every IKE SA, our daemon had all COUNT up at once, and
# none went down before the load-tester deleted them; prints the rate.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=run.sh
. "$HERE/run.sh"
COUNT="${COUNT:-2000}"
WORKDIR="$(mktemp -d /tmp/ipsec-load.XXXXXX)"

[ "$(id -u)" -eq 0 ] || { echo "load.sh: must run as root" >&2; exit 2; }
bash "$HERE/load/build-load-tester.sh" >"$WORKDIR/build.txt" 2>&1 ||
  { tail -5 "$WORKDIR/build.txt"; echo "load.sh: cannot build the load-tester" >&2; exit 2; }
(cd "$ROOT" && cargo build --quiet --release -p ipsec-examples --bin ipsec-gateway)
DAEMON_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/ipsec-gateway"

exec 9>"${LOCK:-/tmp/ipsec-interop.lock}"
flock -w 1200 9 || { echo "load.sh: gave up waiting for the interop lock" >&2; exit 2; }
HAVE_LOCK=1
DIR="$WORKDIR/load"
mkdir -p "$DIR"
"$HERE/netns.sh" up >"$DIR/netns.txt"

DAEMON_IFACE="" DAEMON_LOG=info daemon_start b "$SW_NS" "$HERE/configs/daemon-load.toml"
OUR_PIDS+=("$(cat "$DIR/b.daemon.pid")")

# The most IKE SAs established at once on our side, sampled every second.
(
  peak=0
  while sleep 1; do
    n="$(ctl b show vpn ike-sa 2>/dev/null | grep -c ' Established ' || true)"
    [ "${n:-0}" -gt "$peak" ] && peak="$n" && echo "$peak" >"$DIR/peak.txt"
  done
) 9>&- &
sampler=$!
OUR_PIDS+=("$sampler")

rc=0
LT_NS="$US_NS" RESPONDER_IP="$SW_IP" INITIATOR_IP="$US_IP" RESPONDER_ID=right.ike.test \
  COUNT="$COUNT" TIMEOUT="${TIMEOUT:-300}" OUT="$DIR/lt" bash "$HERE/load/load-tester.sh" 9>&- \
  >"$DIR/lt.txt" 2>&1 || rc=$?
sleep 1
kill "$sampler" 2>/dev/null || true
result="$(grep '^lt_result' "$DIR/lt.txt" || true)"
peak="$(cat "$DIR/peak.txt" 2>/dev/null || echo 0)"
up="$(grep -c 'phase-1 negotiation is succeeded' "$DIR/b.log" || true)"
early="$(grep 'IKE SA .* deleted: ' "$DIR/b.log" | grep -vc 'deleted by peer' || true)"
echo "load-tester: ${result:-no result (rc=$rc)}"
echo "ipsec-gateway: $up IKE SAs established, at most $peak at once, $early went down not deleted by the peer"
fail=0
[ "$(word established "$result" || echo 0)" = "$COUNT" ] || { echo "FAIL: the load-tester did not establish $COUNT IKE SAs"; fail=1; }
[ "$peak" -ge "$COUNT" ] || { echo "FAIL: our daemon never had all $COUNT IKE SAs up at once"; fail=1; }
[ "$early" = 0 ] || { echo "FAIL: IKE SAs went down before the load-tester deleted them"; fail=1; }
[ -d "/proc/$(cat "$DIR/b.daemon.pid")" ] || { echo "FAIL: our daemon died"; fail=1; }
scenario_cleanup
if [ "$fail" = 0 ]; then
  echo "1 passed, 0 failed"
  rm -rf "$WORKDIR"
else
  echo "0 passed, 1 failed (logs: $WORKDIR)"
  exit 1
fi
