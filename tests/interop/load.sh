#!/usr/bin/env bash
# IKE load: strongSwan's load-tester (load/load-tester.sh, built by load/build-load-tester.sh from
# the strongSwan release Debian ships) opens COUNT IKE SAs (default 2000), each with one Child SA,
# its own identity and its own address (198.18.0.0/16, routed through 192.0.2.1), from ipsec-us
# at our daemon in ipsec-sw: a responder with a dynamic peer and a wildcard peer-id
# (configs/daemon-load.toml).
#
#   tests/interop/load.sh            (as root; the first run builds the load-tester, ~5 min;
#                                     KEEP=1 keeps the logs of a passing run)
#
# Passes when the load-tester established every IKE SA; our daemon showed all COUNT established
# (`show vpn ike-sa`) while the load-tester held them, and its log agrees; none went down before
# the load-tester deleted them, and every one was deleted by the peer. Prints the rate.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=run.sh
. "$HERE/run.sh"
COUNT="${COUNT:-2000}"
# Each IKE SA from its own address of this pool (as branches of a hub); ADDRS= sends them all
# from 192.0.2.1.
ADDRS="${ADDRS-198.18.0.0/16}"
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
[ -z "$ADDRS" ] || ip netns exec "$SW_NS" ip route add "$ADDRS" via "$US_IP"

DAEMON_IFACE="" DAEMON_LOG=info daemon_start b "$SW_NS" "$HERE/configs/daemon-load.toml"
OUR_PIDS+=("$(cat "$DIR/b.daemon.pid")")

rc=0
# While the load-tester holds every IKE SA up, our daemon is asked how many it has established.
LT_NS="$US_NS" RESPONDER_IP="$SW_IP" INITIATOR_IP="$US_IP" RESPONDER_ID=right.ike.test \
  COUNT="$COUNT" TIMEOUT="${TIMEOUT:-$((120 + COUNT / 25))}" OUT="$DIR/lt" ADDRS="$ADDRS" \
  HOLD_CMD="'$DAEMON_BIN' --control '$DIR/b.sock' show vpn ike-sa >'$DIR/held.txt'" \
  bash "$HERE/load/load-tester.sh" 9>&- >"$DIR/lt.txt" 2>&1 || rc=$?
# Until our daemon has handled the Deletes (at most 10 s).
for _ in $(seq 1 100); do
  [ "$(grep -c 'IKE SA .* deleted: ' "$DIR/b.log" || true)" -ge "$COUNT" ] && break
  sleep 0.1
done
result="$(grep '^lt_result' "$DIR/lt.txt" || true)"
held="$(grep -c ' Established ' "$DIR/held.txt" 2>/dev/null || true)"
up="$(grep -c 'phase-1 negotiation is succeeded' "$DIR/b.log" || true)"
# Up at once by the daemon's own event log: +1 per IKE SA established, -1 per IKE SA deleted.
peak="$(awk '/IKE phase-1 negotiation is succeeded/ { n++; if (n > m) m = n }
             /IKE SA .* deleted: / { n-- } END { print m + 0 }' "$DIR/b.log")"
deleted="$(grep -c 'IKE SA .* deleted: deleted by peer' "$DIR/b.log" || true)"
early="$(grep 'IKE SA .* deleted: ' "$DIR/b.log" | grep -vc 'deleted by peer' || true)"
echo "load-tester: ${result:-no result (rc=$rc)}"
echo "ipsec-gateway: $up IKE SAs established, $held shown established while the load-tester held" \
  "them, $peak up at once by its log, $deleted deleted by the peer, $early went down otherwise"
fail=0
[ "$(word established "$result" || echo 0)" = "$COUNT" ] || { echo "FAIL: the load-tester did not establish $COUNT IKE SAs"; fail=1; }
[ "$held" = "$COUNT" ] || { echo "FAIL: our daemon did not show all $COUNT IKE SAs established at once"; fail=1; }
[ "$peak" -ge "$COUNT" ] || { echo "FAIL: our daemon's log never had all $COUNT IKE SAs up at once"; fail=1; }
[ "$early" = 0 ] || { echo "FAIL: IKE SAs went down before the load-tester deleted them"; fail=1; }
[ "$deleted" = "$COUNT" ] || { echo "FAIL: $deleted of $COUNT IKE SAs were deleted by the peer"; fail=1; }
[ -d "/proc/$(cat "$DIR/b.daemon.pid")" ] || { echo "FAIL: our daemon died"; fail=1; }
scenario_cleanup
if [ "$fail" = 0 ]; then
  echo "1 passed, 0 failed"
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORKDIR"
else
  echo "0 passed, 1 failed (logs: $WORKDIR)"
  exit 1
fi
