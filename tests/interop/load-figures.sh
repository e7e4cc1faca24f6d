#!/usr/bin/env bash
# IKE load figures: IKE SAs completed per responder CPU-second, our daemon beside charon, from one
# run. For each DH group and size, strongSwan's load-tester (load/load-tester.sh) in ipsec-us opens
# COUNT IKE SAs (PSK, one Child SA each, each with its own identity and its own address of ADDRS,
# 198.18.0.0/16; ADDRS= sends all from 192.0.2.1) at a responder in ipsec-sw:
#
#   ipsec-rs  `ipsec-gateway run` (release build), configs/daemon-load.toml: a dynamic peer with a
#             wildcard peer-id;
#   charon    the Debian charon (kernel-libipsec, as in the interop scenarios) with the same
#             proposals, `remote_addrs = %any`, `remote.id = *.ike.test`, audit-level logging,
#             our half-open limits (see below) and a 4096-bucket IKE SA table
#             (`ikesa_table_size`; its default of 1 bucket makes every lookup a walk over all
#             SAs). CHARON_TABLE=1 measures charon's default table instead.
#
#   tests/interop/load-figures.sh                           (as root)
#   SIZES="2000 20000" DH="x25519 modp2048" RESPONDERS="ipsec-rs charon" tests/interop/load-figures.sh
#
# The responder's CPU time is the sum over its threads of the scheduler's run time in nanoseconds
# (/proc/PID/task/*/schedstat; the same for both responders) from just before the load-tester
# starts until 2 s after it exits (so it includes the peer's Deletes); utime + stime of
# /proc/PID/stat (10 ms ticks) when a thread exited meanwhile. Our daemon must
# pass load.sh's bar at every size: every IKE SA established, all of them up at once (counted from
# its log), none down before the load-tester deleted it. Prints a markdown table with the commit
# and the load average at the end of each measurement (the machine may be shared: compare the
# ratio, which comes from the same run, rather than the absolute figures).
#
# DAEMON_BIN=PATH measures that build of ipsec-gateway instead of building the worktree's (two
# builds compare by alternating runs with RESPONDERS=ipsec-rs).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=run.sh
. "$HERE/run.sh"
SIZES="${SIZES:-2000}"
DH="${DH:-x25519 modp2048}"
CHARON_TABLE="${CHARON_TABLE:-4096}"
RESPONDERS="${RESPONDERS:-ipsec-rs charon}"
ADDRS="${ADDRS-198.18.0.0/16}"
WORKDIR="$(mktemp -d /tmp/ipsec-load-figures.XXXXXX)"
HZ="$(getconf CLK_TCK)"

[ "$(id -u)" -eq 0 ] || { echo "load-figures.sh: must run as root" >&2; exit 2; }
bash "$HERE/load/build-load-tester.sh" >"$WORKDIR/build.txt" 2>&1 ||
  { tail -5 "$WORKDIR/build.txt"; echo "load-figures.sh: cannot build the load-tester" >&2; exit 2; }
BUILD="commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- . 2>/dev/null || echo +)"
if [ -n "${DAEMON_BIN:-}" ]; then
  BUILD="ipsec-gateway $DAEMON_BIN"
else
  (cd "$ROOT" && cargo build --quiet --release -p ipsec-examples --bin ipsec-gateway)
  DAEMON_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/ipsec-gateway"
fi

exec 9>"${LOCK:-/tmp/ipsec-interop.lock}"
flock -w 1200 9 || { echo "load-figures.sh: gave up waiting for the interop lock" >&2; exit 2; }
HAVE_LOCK=1

cpu_s() { # cpu_s PID: user + system CPU seconds of that process, all its threads, in ticks
  awk -v hz="$HZ" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}
# threads_ns PID: "TID NS" for every live thread of PID, its CPU time in nanoseconds (the
# scheduler's own count, the first field of schedstat; stat's ticks are 10 ms).
threads_ns() {
  local t
  for t in /proc/"$1"/task/*; do
    [ -r "$t/schedstat" ] && echo "${t##*/} $(cut -d' ' -f1 "$t/schedstat" 2>/dev/null || echo 0)"
  done
}
# cpu_between BEFORE AFTER TICKS: CPU seconds between two threads_ns snapshots: the growth of
# every thread alive at the end (one born meanwhile from zero). When a thread of the first
# snapshot has gone, its last nanoseconds are lost: TICKS (from cpu_s) is used instead.
cpu_between() {
  awk -v ticks="$3" 'FNR == NR { before[$1] = $2; next }
    { ns += $2 - ($1 in before ? before[$1] : 0); seen[$1] = 1 }
    END { for (t in before) if (!(t in seen)) { printf "%.2f", ticks; exit }
          printf "%.3f", ns / 1e9 }' "$1" "$2"
}
loadavg() { cut -d' ' -f1 /proc/loadavg; }

fresh() { # fresh NAME: a new network for the next responder
  scenario_cleanup
  DIR="$WORKDIR/$1"
  mkdir -p "$DIR/sw/swanctl"
  "$HERE/netns.sh" up >"$DIR/netns.txt"
  [ -z "$ADDRS" ] || ip netns exec "$SW_NS" ip route add "$ADDRS" via "$US_IP"
}

# drive PID COUNT PROPOSAL: the load-tester against the responder whose process is PID; sets
# RESULT (the load-tester's lt_result line), CPU (the responder's CPU seconds) and LOAD.
drive() {
  local pid="$1" count="$2" proposal="$3" c0 c1 rc=0
  c0="$(cpu_s "$pid")"
  threads_ns "$pid" >"$DIR/cpu0.txt"
  LT_NS="$US_NS" RESPONDER_IP="$SW_IP" INITIATOR_IP="$US_IP" RESPONDER_ID=right.ike.test \
    COUNT="$count" PROPOSAL="$proposal" TIMEOUT="${TIMEOUT:-$((120 + count / 25))}" \
    OUT="$DIR/lt" ADDRS="$ADDRS" bash "$HERE/load/load-tester.sh" 9>&- >"$DIR/lt.txt" 2>&1 || rc=$?
  sleep 2
  c1="$(cpu_s "$pid")"
  threads_ns "$pid" >"$DIR/cpu1.txt"
  LOAD="$(loadavg)"
  RESULT="$(grep '^lt_result' "$DIR/lt.txt" || echo "lt_result established=0 rc=$rc")"
  CPU="$(cpu_between "$DIR/cpu0.txt" "$DIR/cpu1.txt" \
    "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')")"
}

rate() { awk -v n="$1" -v c="$2" 'BEGIN { if (c > 0) printf "%.0f", n / c; else print "-" }'; }
# cell ESTABLISHED COUNT CPU: "rate|(CPU s)", saying how many came up when not all did
cell() {
  local note="$3 s"
  [ "$1" = "$2" ] || note="$note, only $1 of $2 up"
  echo "$(rate "$1" "$3")|($note)"
}

ROWS=()
FAIL=0
for dh in $DH; do
  case "$dh" in
    x25519) group=group31 sw=curve25519 ;;
    modp2048) group=group14 sw=modp2048 ;;
    *) echo "load-figures.sh: unknown DH $dh (x25519, modp2048)" >&2; exit 2 ;;
  esac
  proposal="aes256gcm16-prfsha256-$sw"
  for count in $SIZES; do
    ours="-|-|-" theirs="-|-|-"
    if [[ " $RESPONDERS " == *" ipsec-rs "* ]]; then
      fresh "ours-$dh-$count"
      sed "s/\"group31\"/\"$group\"/" "$HERE/configs/daemon-load.toml" >"$DIR/daemon-load.toml"
      DAEMON_IFACE="" DAEMON_LOG=info daemon_start b "$SW_NS" "$DIR/daemon-load.toml"
      pid="$(cat "$DIR/b.daemon.pid")"
      OUR_PIDS+=("$pid")
      drive "$pid" "$count" "$proposal"
      est="$(word established "$RESULT" || echo 0)"
      ours="$(cell "$est" "$count" "$CPU")|$LOAD"
      # Up at once: +1 per IKE SA established, -1 per IKE SA deleted, in log order.
      peak="$(awk '/IKE phase-1 negotiation is succeeded/ { n++; if (n > m) m = n }
                   /IKE SA .* deleted: / { n-- } END { print m + 0 }' "$DIR/b.log")"
      early="$(grep 'IKE SA .* deleted: ' "$DIR/b.log" | grep -vc 'deleted by peer' || true)"
      echo "ipsec-rs $dh $count: $RESULT; responder CPU ${CPU}s; $peak up at once, $early down early; load $LOAD" >&2
      if [ "$est" != "$count" ] || [ "$peak" -lt "$count" ] || [ "$early" != 0 ] || [ ! -d "/proc/$pid" ]; then
        echo "FAIL: ipsec-rs $dh $count (logs: $WORKDIR)" >&2
        FAIL=1
      fi
    fi
    if [[ " $RESPONDERS " == *" charon "* ]]; then
      fresh "charon-$dh-$count"
      cat >"$DIR/sw/swanctl/swanctl.conf" <<CONF
connections {
  load {
    version = 2
    local_addrs = $SW_IP
    remote_addrs = %any
    proposals = $proposal
    rekey_time = 8h
    local {
      auth = psk
      id = right.ike.test
    }
    remote {
      auth = psk
      id = *.ike.test
    }
    children {
      lan {
        local_ts = 10.2.0.0/24
        remote_ts = 10.1.0.0/24
        esp_proposals = aes128gcm16
        mode = tunnel
        rekey_time = 1h
      }
    }
  }
}
secrets {
  ike-load {
    id-l = right.ike.test
    secret = "$PSK"
  }
}
CONF
      # Cookies above 64 half-open IKE SAs, as ours. charon's limits per peer address
      # (block_threshold 5, cookie_threshold_ip 3) are lifted: with ADDRS= every IKE_SA_INIT
      # comes from one address, and they would drop it into 4 s retransmissions.
      SW_LOG_LEVEL=0 SW_CHARON_OPTS="  ikesa_table_size = $CHARON_TABLE
  ikesa_table_segments = $((CHARON_TABLE < 16 ? CHARON_TABLE : 16))
  cookie_threshold = 64
  cookie_threshold_ip = 1000000
  block_threshold = 1000000" start_charon "$DIR/sw" "$SW_NS"
      pid="$(cat "$DIR/sw/charon.pid")"
      drive "$pid" "$count" "$proposal"
      est="$(word established "$RESULT" || echo 0)"
      echo "charon $dh $count: $RESULT; responder CPU ${CPU}s; load $LOAD" >&2
      [ "$est" = "$count" ] || { echo "FAIL: charon did not complete $count (logs: $WORKDIR)" >&2; FAIL=1; }
      theirs="$(cell "$est" "$count" "$CPU")|$LOAD"
    fi
    ROWS+=("$dh|$count|$ours|$theirs")
  done
done
scenario_cleanup

echo
echo "IKE SAs per responder CPU-second (PSK, one Child SA each), $BUILD, $(nproc) CPUs;"
echo "charon 5.9.8 with ikesa_table_size = $CHARON_TABLE"
echo
echo "| DH | SAs | ipsec-rs | charon | ratio | load average |"
echo "| --- | ---: | ---: | ---: | ---: | --- |"
for r in "${ROWS[@]}"; do
  IFS='|' read -r dh count our ocpu oload their tcpu tload <<<"$r"
  ratio="$(awk -v a="$our" -v b="$their" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.1fx", a / b }')"
  echo "| $dh | $count | $our $ocpu | $their $tcpu | $ratio | $oload / $tload |"
done
if [ "$FAIL" = 0 ]; then
  rm -rf "$WORKDIR"
else
  echo "some runs failed (logs: $WORKDIR)"
  exit 1
fi
