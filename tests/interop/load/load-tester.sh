#!/usr/bin/env bash
# load-tester.sh - fire N IKEv2 SAs (IKE_SA_INIT + IKE_AUTH with PSK, one
# CHILD_SA each) from strongSwan's load-tester plugin at ANY responder.
#
# The initiator is the privately built charon from build-load-tester.sh
# (build/lt-prefix/libexec/ipsec/charon).  It runs in namespace LT_NS, in the
# foreground, bounded by TIMEOUT, in its own session (setsid) because the
# plugin ends the test with kill(0, SIGTERM) = "signal my whole process group".
# CHILD_SAs are installed into the plugin's fake kernel (fake_kernel = yes),
# so the initiator needs no ESP support and measures IKE only.
#
# Aiming it at a responder:
#   RESPONDER_IP   IKE peer address; the plugin always uses UDP port 500 on the
#                  responder (remote port is hard-coded; only dynamic_port
#                  switches to 4500 - not used here).  The responder must
#                  answer on 500 (and on 4500 if it signals NAT / encap).
#   INITIATOR_IP   local address in LT_NS to send from (must exist there).
#   ADDRS          optional address pool (CIDR), e.g. 198.18.0.0/16: each IKE_SA then comes
#                  from its own address of the pool, which the plugin adds (as /32) to
#                  ADDRS_IFACE in LT_NS while its IKE_SA lives; the responder needs a route to
#                  the pool through INITIATOR_IP. Without it every IKE_SA comes from INITIATOR_IP.
#   PSK            pre-shared key (used for every IKE_SA, any identity)
#   RESPONDER_ID   responder's IDr (FQDN) the initiator expects
#   INITIATOR_ID   printf pattern with two %d (SA number, random) -> IDi
#   PROPOSAL       IKE proposal, e.g. aes256gcm16-prfsha256-curve25519,
#                  aes128-sha256-modp2048
#   ESP            ESP proposal for the CHILD_SA (aes128gcm16)
#   TSI / TSR      traffic selectors proposed (initiator / responder side)
#   COUNT          total IKE_SAs (= INITIATORS * ITERATIONS, rounded down)
#   INITIATORS     parallel initiator threads (each does ITERATIONS SAs)
#   INIT_LIMIT     max half-open IKE_SAs before an initiator thread waits
#   DELAY          ms each initiator thread sleeps between initiations (1)
#   TIMEOUT        hard limit in seconds for the whole run
#   LT_NS          namespace to run in;  OUT  directory for conf + log
#   LT_CPUS        optional CPU list to pin the initiator to (taskset -c)
#   LT_IKE_LOG     ike/net log level of the initiator (0; use 1-2 for debugging)
#   HOLD_CMD       optional shell command run once every IKE_SA is established, while all of
#                  them are still up (e.g. ask the responder how many it holds); when it
#                  returns, charon is stopped and deletes them. Without it charon stops as soon
#                  as the last IKE_SA is established. A run where some IKE_SA fails waits until
#                  no IKE_SA came up for STALL seconds (30) before running HOLD_CMD.
#
# Output: "lt_result count=... established=... wall_s=... rate=..." on stdout.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"

LT_CHARON="${LT_CHARON:-${LT_BUILD:-/var/tmp/ipsec-rs-load-tester}/lt-prefix/libexec/ipsec/charon}"
LT_NS="${LT_NS:-ike-left}"
RESPONDER_IP="${RESPONDER_IP:-192.0.2.2}"
INITIATOR_IP="${INITIATOR_IP:-192.0.2.1}"
PSK="${PSK:-interop-test-psk-0123456789}"
RESPONDER_ID="${RESPONDER_ID:-right.ike.test}"
INITIATOR_ID="${INITIATOR_ID:-lt%d-%d.ike.test}"
PROPOSAL="${PROPOSAL:-aes256gcm16-prfsha256-curve25519}"
ESP="${ESP:-aes128gcm16}"
TSI="${TSI:-10.1.0.0/24}"
TSR="${TSR:-10.2.0.0/24}"
COUNT="${COUNT:-2000}"
INITIATORS="${INITIATORS:-20}"
INIT_LIMIT="${INIT_LIMIT:-64}"
DELAY="${DELAY:-1}"
TIMEOUT="${TIMEOUT:-180}"
LT_IKE_LOG="${LT_IKE_LOG:-0}"     # 1 or 2 to debug a failing run (slows it down)
OUT="${OUT:-/tmp/ipsec-load-tester}"
ITERATIONS=$((COUNT / INITIATORS))
COUNT=$((ITERATIONS * INITIATORS))

[ -x "$LT_CHARON" ] || { echo "no $LT_CHARON; run ./build-load-tester.sh" >&2; exit 1; }
mkdir -p "$OUT"
# compiled-in piddir of the private build: pid file + load-tester control socket
# go there; charon exits with 66 (SS_RC_INITIALIZATION_FAILED) if it is missing
mkdir -p "$(dirname "$(dirname "$(dirname "$LT_CHARON")")")/run"
CONF="$OUT/lt-strongswan.conf"; LOG="$OUT/lt-charon.log"

cat > "$CONF" <<EOF
charon {
  # load-tester first so its fake kernel-ipsec wins over kernel-netlink's
  load_modular = no
  load = load-tester random nonce openssl sha1 sha2 hmac kdf gmp pem pkcs1 x509 pubkey kernel-netlink socket-default
  install_routes = no
  ikesa_table_size = 4096
  ikesa_table_segments = 16
  # each initiator thread occupies a worker thread for the whole run: keep
  # >= 16 workers free for packet processing or the daemon deadlocks
  threads = $((INITIATORS + 16))
  retransmit_tries = 3
  filelog {
    lt {
      path = $LOG
      append = no
      # HOLD_CMD waits for the established lines: write each at once
      flush_line = $([ -n "${HOLD_CMD:-}" ] && echo yes || echo no)
      time_format = %H:%M:%S
      time_add_ms = yes
      # 0 = audit only ("IKE_SA load-test[n] established" lines, counted
      # below); dmn/lib/cfg 1 so start-up errors are visible
      default = 0
      dmn = 1
      lib = 1
      cfg = 1
      ike = $LT_IKE_LOG
      net = $LT_IKE_LOG
      enc = $LT_IKE_LOG
    }
  }
  syslog {
    daemon {
      default = -1
    }
  }
  plugins {
    load-tester {
      enable = yes
      initiators = $INITIATORS
      iterations = $ITERATIONS
      # ms between initiations per thread; also the back-off sleep while
      # init_limit is reached (delay = 0 makes that wait a busy loop)
      delay = $DELAY
      init_limit = $INIT_LIMIT
      initiator = $INITIATOR_IP
      $([ -n "${ADDRS:-}" ] && printf 'addrs {\n        %s = %s\n      }\n      addrs_prefix = -1\n      # kept until the namespace goes: a Delete must not lose its source address\n      addrs_keep = yes' "${ADDRS_IFACE:-veth-us}" "$ADDRS")
      responder = $RESPONDER_IP
      proposal = $PROPOSAL
      esp = $ESP
      initiator_auth = psk
      responder_auth = psk
      preshared_key = $PSK
      initiator_id = $INITIATOR_ID
      responder_id = $RESPONDER_ID
      initiator_tsi = $TSI
      initiator_tsr = $TSR
      mode = tunnel
      fake_kernel = yes
      ike_rekey = 0
      child_rekey = 0
      delete_after_established = no
      shutdown_when_complete = $([ -n "${HOLD_CMD:-}" ] && echo no || echo yes)
      version = 2
    }
  }
}
EOF

echo "load-tester: $COUNT IKE_SAs ($INITIATORS x $ITERATIONS) $PROPOSAL / $ESP -> $RESPONDER_IP:500 from $INITIATOR_IP in $LT_NS"
t0=$(date +%s.%N)
rc=0
# setsid: own process group, so the plugin's kill(0, SIGTERM) hits only charon.
pin=(); [ -n "${LT_CPUS:-}" ] && pin=(taskset -c "$LT_CPUS")
established() {
  local n
  n="$(grep -c 'IKE_SA load-test\[[0-9]*\] established' "$LOG" 2>/dev/null || true)"
  echo "${n:-0}"
}
if [ -z "${HOLD_CMD:-}" ]; then
  STRONGSWAN_CONF="$CONF" setsid "${pin[@]}" ip netns exec "$LT_NS" \
    timeout -s TERM -k 5 "$TIMEOUT" "$LT_CHARON" >"$OUT/lt-charon.stdout" 2>&1 </dev/null || rc=$?
else
  # Not a process group leader here, so setsid execs: $! is timeout, which passes SIGTERM on.
  STRONGSWAN_CONF="$CONF" setsid "${pin[@]}" ip netns exec "$LT_NS" \
    timeout -s TERM -k 5 "$TIMEOUT" "$LT_CHARON" >"$OUT/lt-charon.stdout" 2>&1 </dev/null &
  lt_pid=$!
  t_held=- t_stop=-
  last=0 since=$(date +%s)
  while [ -d "/proc/$lt_pid" ]; do
    n="$(established)"
    [ "$n" -ge "$COUNT" ] && break
    if [ "$n" != "$last" ]; then last="$n" since=$(date +%s); fi
    [ $(($(date +%s) - since)) -ge "${STALL:-30}" ] && break
    sleep 0.2
  done
  if [ -d "/proc/$lt_pid" ]; then
    t_held="$(date +%T.%N)"
    echo "load-tester: $(established) IKE_SAs established, holding them: $HOLD_CMD"
    bash -c "$HOLD_CMD" || echo "load-tester: HOLD_CMD failed ($?)"
    t_stop="$(date +%T.%N)"
    kill -TERM "$lt_pid" 2>/dev/null || true
  fi
  wait "$lt_pid" || rc=$?
  # Stopped by our SIGTERM (timeout passes it on; charon deletes its IKE_SAs and exits).
  [ "$rc" = 143 ] && rc=0
  [ "$(established)" -ge "$COUNT" ] && echo "load-test complete (held)" >>"$LOG"
  echo "load-tester: held from $t_held to $t_stop, charon stopped at $(date +%T.%N)"
fi
t1=$(date +%s.%N)
wall=$(echo "$t1 - $t0" | bc)
est=$(grep -c 'IKE_SA load-test\[[0-9]*\] established' "$LOG" || true)
complete=$(grep -c 'load-test complete' "$LOG" || true)
rate=$(echo "scale=1; $est / $wall" | bc)
# CPU used by the initiator (children of this script: timeout -> charon)
times > "$OUT/times.txt"    # not in a pipeline: a subshell would report 0
icpu=$(tail -1 "$OUT/times.txt" | awk '{u=$1; s=$2; sub(/m/," ",u); sub(/s$/,"",u); sub(/m/," ",s); sub(/s$/,"",s);
  split(u,a," "); split(s,b," "); printf "%.2f", a[1]*60+a[2]+b[1]*60+b[2]}')
echo "lt_result count=$COUNT established=$est complete=$complete rc=$rc wall_s=$wall rate_per_s=$rate initiator_cpu_s=$icpu"
[ "$complete" -ge 1 ] || { echo "load test did not complete (rc=$rc); tail of $LOG:" >&2; tail -15 "$LOG" >&2; exit 1; }
