#!/usr/bin/env bash
# strongSwan interop scenarios, each in a fresh pair of network namespaces (see netns.sh).
#
#   tests/interop/run.sh [SCENARIO...]     all scenarios when none is named
#   tests/interop/run.sh --list
#
# Prints one line per scenario (PASS/FAIL, name, seconds, reason) and a final `N passed, N failed`
# line; exits 1 when any scenario failed. Namespaces and processes are cleaned up on every exit
# path. Each scenario is bounded by SCENARIO_TIMEOUT seconds (default 30). Logs of each scenario
# are kept under $WORKDIR/<scenario>/ (WORKDIR defaults to a new directory under /tmp; KEEP=1 keeps it,
# by default it is deleted when every scenario passed).
#
# Must run as root on Linux with `ip netns`; tests/interop/setup.sh installs strongSwan.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export US_NS="${US_NS:-ipsec-us}" SW_NS="${SW_NS:-ipsec-sw}" NAT_NS="${NAT_NS:-ipsec-nat}"
export US_IP=192.0.2.1 SW_IP=192.0.2.2 US_INNER=10.1.0.1 SW_INNER=10.2.0.1
export US_IP6=2001:db8:1::1 SW_IP6=2001:db8:1::2
SCENARIO_TIMEOUT="${SCENARIO_TIMEOUT:-30}"
WORKDIR="${WORKDIR:-$(mktemp -d /tmp/ipsec-interop.XXXXXX)}"
KEEP="${KEEP:-0}"
PSK="interop-test-psk-0123456789"
US_ID=us.ike.test
SW_ID=sw.ike.test

# ---------------------------------------------------------------------------------------------
# Plumbing

# Processes this script started (the driver), killed by pid on cleanup.
OUR_PIDS=()
# charon instance directories started by the current scenario.
CHARONS=()

sw_in() { # sw_in DIR NS strongswan.sh-args...
  local dir="$1" ns="$2"
  shift 2
  # 9>&-: a charon (or ike-peer, below) must not inherit the run's lock.
  SW_DIR="$dir" SW_NS="$ns" "$HERE/strongswan.sh" "$@" 9>&-
}

# Set once this run holds the interop lock: before that, the namespaces may be another run's.
HAVE_LOCK=0

scenario_cleanup() {
  [ "$HAVE_LOCK" = 1 ] || return 0
  local p d
  for p in "${OUR_PIDS[@]}"; do
    if [ -d "/proc/$p" ]; then kill "$p" 2>/dev/null || true; fi
  done
  for p in "${OUR_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  OUR_PIDS=()
  for d in "${CHARONS[@]}"; do
    sw_in "${d%%|*}" "${d##*|}" stop >/dev/null 2>&1 || true
  done
  CHARONS=()
  "$HERE/netns.sh" down >/dev/null 2>&1 || true
}
trap scenario_cleanup EXIT
trap 'exit 130' INT TERM

start_charon() { # start_charon DIR NS
  mkdir -p "$1"
  CHARONS+=("$1|$2")
  sw_in "$1" "$2" start >"$1/start.txt" 2>&1 || { cat "$1/start.txt"; return 1; }
}

# swanctl.conf for one charon.
# swanctl_conf LOCAL_ADDR REMOTE_ADDRS IKE_PROP ESP_PROP LOCAL_ID REMOTE_ID LOCAL_TS REMOTE_TS PSK
#              [ENCAP (default yes)]
swanctl_conf() {
  cat <<CONF
connections {
  gw {
    version = 2
    local_addrs = $1
    remote_addrs = $2
    proposals = $3
    # kernel-libipsec only sends ESP through charon's UDP socket: force UDP encapsulation
    # (no only where a real NAT makes both sides encapsulate anyway).
    encap = ${10:-yes}
    dpd_delay = ${SW_DPD:-0}
    rekey_time = 4h
    local {
      auth = psk
      id = $5
    }
    remote {
      auth = psk
      id = $6
    }
    children {
      net {
        local_ts = $7
        remote_ts = $8
        esp_proposals = $4
        mode = tunnel
        start_action = none
        rekey_time = 1h
      }
    }
  }
}
secrets {
  ike-gw {
    id-l = $5
    id-r = $6
    secret = "$9"
  }
}
CONF
}

# The SAs of one charon as `key=value` words on one line:
# `ike=AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519 ike_spi_i=.. ike_spi_r=.. child=INSTALLED
#  esp=AES_GCM_16-128 in=2f214d5a out=2418309d ts_local=10.2.0.0/24 ts_remote=10.1.0.0/24`; empty
# when there is no IKE SA. Child fields describe the first INSTALLED Child SA (a rekeyed one
# being deleted is skipped); selectors: the first of each side.
sas_summary() { # sas_summary DIR NS
  sw_in "$1" "$2" swanctl --list-sas 2>/dev/null | awk '
    /^[^ ].*: #[0-9]+, / { for (i = 1; i <= NF; i++) {
                             if ($i ~ /_i\*?$/) { s = $i; sub(/_i\*?$/, "", s); out = out " ike_spi_i=" s }
                             if ($i ~ /_r\*?$/) { s = $i; sub(/_r\*?$/, "", s); out = out " ike_spi_r=" s } }
                           st = $3; sub(/,$/, "", st); out = out " ike_state=" st; ike = 1; next }
    ike == 1 && /^  [A-Z0-9_]+-?[0-9]*\// && !algs { out = out " ike=" $1; algs = 1; next }
    /^  remote .* @ / { out = out " ike_remote=" $NF; next }
    /^  [^ ].*: #[0-9]+, reqid/ { st = $5; sub(/,$/, "", st); inst = (st == "INSTALLED" && !seen)
                                  if (!inst) next
                                  seen = 1; out = out " child=" st
                                  for (i = 1; i <= NF; i++) if ($i ~ /^ESP:/) { e = $i; sub(/^ESP:/, "", e); out = out " esp=" e } next }
    !inst { next }
    /^    local  / { out = out " ts_local=" $2; next }
    /^    remote / { out = out " ts_remote=" $2; next }
    $1 == "in" { s = $2; sub(/,$/, "", s); out = out " in=" s " in_packets=" $5; next }
    $1 == "out" { s = $2; sub(/,$/, "", s); out = out " out=" s " out_packets=" $5; next }
    END { sub(/^ /, "", out); print out }'
}

word() { # word KEY LINE: the value of KEY=VALUE in LINE
  local k="$1" w
  for w in $2; do
    case "$w" in "$k="*) echo "${w#*=}"; return 0 ;; esac
  done
  return 1
}

# charon logs each message it generates and parses with its payloads, notifies in short form:
# `generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]`, `parsed IKE_AUTH response 1 [ IDr AUTH
# N(TS_UNACCEPT) ... ]`.
charon_sent() { grep -Eq "generating [A-Z_]+ (request|response) [0-9]+ \[.*N\($2\)" "$1/charon.log"; }
charon_received() { grep -Eq "parsed [A-Z_]+ (request|response) [0-9]+ \[.*N\($2\)" "$1/charon.log"; }

no_child() { # no_child DIR NS: no INSTALLED Child SA in that charon
  local s
  s="$(sas_summary "$1" "$2")"
  if [ "$(word child "$s" || true)" = INSTALLED ]; then
    echo "charon in $2 has an INSTALLED CHILD_SA: $s"
    return 1
  fi
}

# ---------------------------------------------------------------------------------------------
# Scenarios. Each runs in $DIR, prints nothing on success and a one-line reason on failure
# (last line of its output), and returns non-zero on failure. They run inside `if`, where bash
# ignores `set -e`: every step that can fail is checked explicitly.

# strongSwan on both sides: proves the namespaces, charon start-up and the SA checks work here.
scenario_swan_to_swan() {
  local prop=aes256gcm16-prfsha256-curve25519 esp=aes128gcm16
  swanctl_conf "$US_IP" "$SW_IP" "$prop" "$esp" "$US_ID" "$SW_ID" 10.1.0.0/24 10.2.0.0/24 "$PSK" \
    >"$DIR/us/swanctl/swanctl.conf"
  swanctl_conf "$SW_IP" %any "$prop" "$esp" "$SW_ID" "$US_ID" 10.2.0.0/24 10.1.0.0/24 "$PSK" \
    >"$DIR/sw/swanctl/swanctl.conf"
  start_charon "$DIR/sw" "$SW_NS" || return 1
  start_charon "$DIR/us" "$US_NS" || return 1
  sw_in "$DIR/us" "$US_NS" swanctl --initiate --child net --timeout 15 >"$DIR/initiate.txt" 2>&1 ||
    { echo "swanctl --initiate failed (see $DIR/initiate.txt)"; return 1; }
  local a b
  a="$(sas_summary "$DIR/us" "$US_NS")"
  b="$(sas_summary "$DIR/sw" "$SW_NS")"
  printf 'us: %s\nsw: %s\n' "$a" "$b" >"$DIR/sas.txt"
  [ "$(word child "$a")" = INSTALLED ] || { echo "initiator has no INSTALLED CHILD_SA: $a"; return 1; }
  [ "$(word child "$b")" = INSTALLED ] || { echo "responder has no INSTALLED CHILD_SA: $b"; return 1; }
  [ "$(word in "$a")" = "$(word out "$b")" ] && [ "$(word out "$a")" = "$(word in "$b")" ] ||
    { echo "SPIs disagree: $a | $b"; return 1; }
  [ "$(word esp "$a")" = AES_GCM_16-128 ] && [ "$(word esp "$b")" = AES_GCM_16-128 ] ||
    { echo "unexpected ESP algorithms: $a | $b"; return 1; }
  [ "$(word ike "$a")" = AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519 ] ||
    { echo "unexpected IKE algorithms: $a"; return 1; }
  # Traffic through both userspace datapaths (ESP in UDP 4500).
  ip netns exec "$US_NS" ping -c 2 -i 0.2 -W 2 -I "$US_INNER" "$SW_INNER" >"$DIR/ping.txt" 2>&1 ||
    { echo "no ping through the tunnel"; return 1; }
}

# Failure cases between two charons: they prove that the log checks used against our endpoint
# recognise what charon writes for each notify.
swan_failure() { # swan_failure SW_PSK SW_REMOTE_TS NOTIFY(short form as charon logs it)
  local prop=aes256gcm16-prfsha256-curve25519 esp=aes128gcm16
  swanctl_conf "$US_IP" "$SW_IP" "$prop" "$esp" "$US_ID" "$SW_ID" 10.1.0.0/24 10.2.0.0/24 "$PSK" \
    >"$DIR/us/swanctl/swanctl.conf"
  swanctl_conf "$SW_IP" %any "$prop" "$esp" "$SW_ID" "$US_ID" 10.2.0.0/24 "$2" "$1" \
    >"$DIR/sw/swanctl/swanctl.conf"
  start_charon "$DIR/sw" "$SW_NS" || return 1
  start_charon "$DIR/us" "$US_NS" || return 1
  if sw_in "$DIR/us" "$US_NS" swanctl --initiate --child net --timeout 15 >"$DIR/initiate.txt" 2>&1; then
    echo "swanctl --initiate succeeded; expected $3"
    return 1
  fi
  charon_sent "$DIR/sw" "$3" || { echo "responder charon did not send $3"; return 1; }
  charon_received "$DIR/us" "$3" || { echo "initiator charon did not receive $3"; return 1; }
  no_child "$DIR/us" "$US_NS" && no_child "$DIR/sw" "$SW_NS"
}
scenario_swan_wrong_psk() { swan_failure "not-the-$PSK" 10.1.0.0/24 AUTH_FAILED; }
scenario_swan_ts_mismatch() { swan_failure "$PSK" 10.9.0.0/24 TS_UNACCEPT; }

# ---------------------------------------------------------------------------------------------
# Our endpoint (examples/src/bin/ike-peer.rs) in US_NS against charon in SW_NS.

# IKE and ESP proposals of each configuration under configs/ (strongSwan notation); CONF-v6 is
# CONF over IPv6, CONF-nat CONF through the NAT namespace (netns.sh, NAT=1).
proposal_ike() {
  case "${1%-*}" in
    x25519) echo aes256gcm16-prfsha256-curve25519 ;;
    modp2048) echo aes128-sha256-modp2048 ;;
    ecp384) echo aes256-sha384-ecp384 ;;
  esac
}
proposal_esp() {
  case "${1%-*}" in
    x25519) echo aes128gcm16 ;;
    modp2048) echo aes128-sha256 ;;
    ecp384) echo aes256-sha384 ;;
  esac
}

# charon's algorithm list (`AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048`) in the
# IANA names our events print: `enc=ENCR_AES_CBC-128 integ=AUTH_HMAC_SHA2_256_128
# prf=PRF_HMAC_SHA2_256 dh=MODP_2048` (integ=NONE for AEADs).
sw_algs() {
  echo "$1" | tr '/' '\n' | awk '
    /^(AES|CHACHA|CAMELLIA|3DES|NULL)/ { enc = "ENCR_" $0; next }
    /^HMAC_|^AES_XCBC|^AES_CMAC/ { integ = "AUTH_" $0; next }
    /^PRF_/ { prf = $0; next }
    /^CURVE_/ { sub(/_/, ""); dh = $0; next }
    /^(MODP|ECP)_/ { dh = $0; next }
    END { printf "enc=%s integ=%s", enc, (integ == "" ? "NONE" : integ)
          if (prf != "") printf " prf=%s", prf
          if (dh != "") printf " dh=%s", dh
          print "" }'
}

IKE_PEER="${IKE_PEER:-}"
build_peer() {
  [ -n "$IKE_PEER" ] && return 0
  (cd "$ROOT" && cargo build --quiet -p ipsec-examples --bin ike-peer) || return 1
  IKE_PEER="${CARGO_TARGET_DIR:-$ROOT/target}/debug/ike-peer"
}

# peer ARGS...: runs ike-peer in US_NS in the foreground; output in $DIR/peer.out, peer.err. It
# binds the local address of the configuration's gateway.
peer() {
  ip netns exec "$US_NS" "$IKE_PEER" "$@" >"$DIR/peer.out" 2>"$DIR/peer.err" 9>&-
}
# peer_bg ARGS...: the same in the background; returns once its sockets are bound.
peer_bg() {
  ip netns exec "$US_NS" "$IKE_PEER" "$@" >"$DIR/peer.out" 2>"$DIR/peer.err" 9>&- &
  echo $! >"$DIR/peer.pid"
  local i
  for i in $(seq 1 50); do
    grep -q '^READY' "$DIR/peer.out" 2>/dev/null && return 0
    [ -d "/proc/$(cat "$DIR/peer.pid")" ] || break
    sleep 0.1
  done
  echo "ike-peer did not start: $(tail -1 "$DIR/peer.err")"
  return 1
}
peer_wait() { # peer_wait: exit status of the background ike-peer
  local rc=0
  wait "$(cat "$DIR/peer.pid")" || rc=$?
  rm -f "$DIR/peer.pid"
  return "$rc"
}

# The charon side of a scenario: CONF (x25519|modp2048|ecp384|x25519-v6|x25519-nat), PSK, and
# charon's remote TS (default: our LAN, 10.1.0.0/24 or fd00:1::/64). SW_IKE / SW_ESP override
# charon's proposals.
sw_setup() {
  local lip="$SW_IP" rip="$US_IP" lts=10.2.0.0/24 rts=10.1.0.0/24 encap=yes
  case "$1" in
    *-v6) lip="$SW_IP6" rip="$US_IP6" lts=fd00:2::/64 rts=fd00:1::/64 ;;
    *-nat) lip=198.51.100.2 rip=%any encap=no ;;
  esac
  swanctl_conf "$lip" "$rip" "${SW_IKE:-$(proposal_ike "$1")}" "${SW_ESP:-$(proposal_esp "$1")}" \
    "$SW_ID" "$US_ID" "$lts" "${3:-$rts}" "$2" "$encap" >"$DIR/sw/swanctl/swanctl.conf"
  start_charon "$DIR/sw" "$SW_NS"
}

# Both sides agree: our events against `swanctl --list-sas`, SPIs and algorithms.
check_agreement() {
  local sw ours_child ours_ike want
  sw="$(sas_summary "$DIR/sw" "$SW_NS")"
  echo "sw: $sw" >"$DIR/sas.txt"
  ours_child="$(grep -m1 '^EVENT child-sa-installed ' "$DIR/peer.out" || true)"
  ours_ike="$(grep -m1 '^EVENT ike-sa-up ' "$DIR/peer.out" || true)"
  [ -n "$ours_child" ] || { echo "no child-sa-installed event from ike-peer"; return 1; }
  [ "$(word child "$sw")" = INSTALLED ] || { echo "charon has no INSTALLED CHILD_SA: $sw"; return 1; }
  [ "$(word spi_in "$ours_child")" = "$(word out "$sw")" ] &&
    [ "$(word spi_out "$ours_child")" = "$(word in "$sw")" ] ||
    { echo "Child SA SPIs disagree: ours $(word spi_in "$ours_child")/$(word spi_out "$ours_child"), charon in/out $(word in "$sw")/$(word out "$sw")"; return 1; }
  [ "$(word local_ts "$ours_child")" = "$(word ts_remote "$sw")" ] &&
    [ "$(word remote_ts "$ours_child")" = "$(word ts_local "$sw")" ] ||
    { echo "traffic selectors disagree: ours $ours_child, charon $sw"; return 1; }
  for want in $(sw_algs "$(word esp "$sw")"); do
    [ "$(word "${want%%=*}" "$ours_child")" = "${want#*=}" ] ||
      { echo "ESP algorithm disagrees: charon $want, ours: $ours_child"; return 1; }
  done
  [ -n "$ours_ike" ] || { echo "no ike-sa-up event from ike-peer"; return 1; }
  [ "$(word spi_i "$ours_ike")" = "$(word ike_spi_i "$sw")" ] &&
    [ "$(word spi_r "$ours_ike")" = "$(word ike_spi_r "$sw")" ] ||
    { echo "IKE SPIs disagree: ours $ours_ike, charon $sw"; return 1; }
  for want in $(sw_algs "$(word ike "$sw")"); do
    [ "$(word "${want%%=*}" "$ours_ike")" = "${want#*=}" ] ||
      { echo "IKE algorithm disagrees: charon $want, ours: $ours_ike"; return 1; }
  done
}

# Over IPv4, ike-peer pings charon's inner address through the Child SA (ESP in UDP) and waits
# for the reply: the keys agree too, not only SPIs and algorithms. IPv6: Child SA only.
until_args() {
  case "$1" in
    *-v6) echo "--until child-up" ;;
    *) echo "--ping $US_INNER,$SW_INNER --until echo-reply" ;;
  esac
}
check_traffic() {
  case "$1" in *-v6) return 0 ;; esac
  local sw
  sw="$(sas_summary "$DIR/sw" "$SW_NS")"
  grep -q '^EVENT esp-echo-reply ' "$DIR/peer.out" || { echo "no ESP echo reply"; return 1; }
  [ "$(word in_packets "$sw")" -ge 1 ] && [ "$(word out_packets "$sw")" -ge 1 ] ||
    { echo "charon counted no ESP packets both ways: $sw"; return 1; }
}

# We initiate a tunnel with configuration $1; charon responds.
us_initiate() {
  sw_setup "$1" "$PSK" || return 1
  # shellcheck disable=SC2046 # until_args prints separate words
  peer --config "$HERE/configs/$1.toml" --initiate to-strongswan $(until_args "$1") \
    --timeout 20s --linger 500ms ||
    { echo "ike-peer: no Child SA or no echo reply: $(tail -1 "$DIR/peer.err")"; return 1; }
  check_agreement && check_traffic "$1"
}

# charon initiates; we respond with configuration $1.
sw_initiate() {
  sw_setup "$1" "$PSK" || return 1
  # shellcheck disable=SC2046
  peer_bg --config "$HERE/configs/$1.toml" $(until_args "$1") --timeout 20s --linger 500ms ||
    return 1
  sw_in "$DIR/sw" "$SW_NS" swanctl --initiate --child net --timeout 15 >"$DIR/initiate.txt" 2>&1 ||
    { echo "swanctl --initiate failed: $(grep -m1 -i fail "$DIR/initiate.txt")"; return 1; }
  peer_wait ||
    { echo "ike-peer: no Child SA or no echo reply: $(tail -1 "$DIR/peer.err")"; return 1; }
  check_agreement && check_traffic "$1"
}

# INFORMATIONAL deletes, RFC 7296 section 1.4.1. We bring the tunnel up (echo included), then we
# delete the IKE SA (`us`) or charon does (`sw`); both sides must end with no SA.
delete_ike() {
  sw_setup x25519 "$PSK" || return 1
  local cfg="$HERE/configs/x25519.toml" ev reason
  if [ "$1" = us ]; then
    reason=deleted-locally
    peer --config "$cfg" --initiate to-strongswan --ping "$US_INNER,$SW_INNER" --then delete-ike \
      --until ike-down --timeout 20s ||
      { echo "ike-peer: no ike-sa-down after --then delete-ike: $(tail -1 "$DIR/peer.err")"; return 1; }
    grep -q 'received DELETE for IKE_SA' "$DIR/sw/charon.log" ||
      { echo "charon did not receive our Delete"; return 1; }
  else
    reason=deleted-by-peer
    peer_bg --config "$cfg" --initiate to-strongswan --ping "$US_INNER,$SW_INNER" \
      --until ike-down --timeout 20s || return 1
    local i
    for i in $(seq 1 50); do
      grep -q '^EVENT esp-echo-reply ' "$DIR/peer.out" && break
      sleep 0.1
    done
    sw_in "$DIR/sw" "$SW_NS" swanctl --terminate --ike gw --timeout 10 >"$DIR/terminate.txt" 2>&1 ||
      { echo "swanctl --terminate failed: $(tail -1 "$DIR/terminate.txt")"; return 1; }
    peer_wait || { echo "ike-peer: no ike-sa-down: $(tail -1 "$DIR/peer.err")"; return 1; }
    grep -Eq 'parsed INFORMATIONAL response [0-9]+ \[ \]' "$DIR/sw/charon.log" ||
      { echo "charon got no answer to its Delete"; return 1; }
  fi
  grep -q '^EVENT esp-echo-reply ' "$DIR/peer.out" || { echo "no ESP echo reply before the delete"; return 1; }
  ev="$(grep -m1 '^EVENT ike-sa-down ' "$DIR/peer.out" || true)"
  [ "$(word reason "$ev")" = "$reason" ] || { echo "expected ike-sa-down reason=$reason, got: $ev"; return 1; }
  grep -q '^EVENT child-sa-deleted ' "$DIR/peer.out" || { echo "no child-sa-deleted event"; return 1; }
  local left
  left="$(sas_summary "$DIR/sw" "$SW_NS")"
  [ -z "$left" ] || { echo "charon still has an SA: $left"; return 1; }
}
scenario_us_delete_ike() { delete_ike us; }

# Liveness (RFC 7296 section 2.4): an empty INFORMATIONAL request after an idle interval, answered
# by an empty response. `sw`: charon checks every second (dpd_delay = 1s) and we answer; `us`:
# our gateway checks after its idle interval (PAN-OS default 5 s) and charon answers. The tunnel
# must still be up at the end on both sides.
liveness() {
  local secs="$2"
  SW_DPD="$3" sw_setup x25519 "$PSK" || return 1
  peer --config "$HERE/configs/x25519.toml" --initiate to-strongswan --until never \
    --timeout "${secs}s" || { echo "ike-peer lost the tunnel: $(tail -1 "$DIR/peer.err")"; return 1; }
  grep -q '^EVENT child-sa-installed ' "$DIR/peer.out" || { echo "no Child SA"; return 1; }
  local log="$DIR/sw/charon.log" sw
  if [ "$1" = sw ]; then
    grep -q 'sending DPD request' "$log" || { echo "charon sent no DPD request"; return 1; }
    [ "$(grep -Ec 'parsed INFORMATIONAL response [0-9]+ \[ \]' "$log")" -ge 2 ] ||
      { echo "fewer than 2 of charon's DPD requests answered"; return 1; }
  else
    grep -Eq 'parsed INFORMATIONAL request [0-9]+ \[ \]' "$log" ||
      { echo "charon received no liveness check from us"; return 1; }
    grep -Eq 'generating INFORMATIONAL response [0-9]+ \[ \]' "$log" ||
      { echo "charon did not answer our liveness check"; return 1; }
  fi
  sw="$(sas_summary "$DIR/sw" "$SW_NS")"
  [ "$(word ike_state "$sw")" = ESTABLISHED ] && [ "$(word child "$sw")" = INSTALLED ] ||
    { echo "charon lost the tunnel: $sw"; return 1; }
}
scenario_sw_liveness() { liveness sw 4 1s; }
scenario_us_liveness() { liveness us 7 0; }
scenario_sw_delete_ike() { delete_ike sw; }

# Rekeying with CREATE_CHILD_SA (RFC 7296 sections 1.3.2, 1.3.3), started by us (`ike-peer --then
# rekey-...`) or by charon (`swanctl --rekey`) once the tunnel is up; echo requests keep flowing.
# child: a second Child SA replaces the first (deleted), charon's INSTALLED one is the new one, and
# an echo reply comes back on the new inbound SPI. ike: a second IKE SA with new SPIs replaces the
# first, charon lists its SPIs, the Child SA stays and echo replies keep coming after the rekey.
rekey() {
  sw_setup x25519 "$PSK" || return 1
  local cfg="$HERE/configs/x25519.toml" what="$2"
  if [ "$1" = us ]; then
    peer --config "$cfg" --initiate to-strongswan --ping "$US_INNER,$SW_INNER" \
      --then "rekey-$what" --until never --timeout 5s ||
      { echo "ike-peer lost the tunnel: $(tail -1 "$DIR/peer.err")"; return 1; }
  else
    peer_bg --config "$cfg" --initiate to-strongswan --ping "$US_INNER,$SW_INNER" \
      --until never --timeout 6s || return 1
    local i
    for i in $(seq 1 50); do
      grep -q '^EVENT esp-echo-reply ' "$DIR/peer.out" && break
      sleep 0.1
    done
    local flag=--child target=net
    [ "$what" = ike ] && flag=--ike target=gw
    sw_in "$DIR/sw" "$SW_NS" swanctl --rekey "$flag" "$target" >"$DIR/rekey.txt" 2>&1 ||
      { echo "swanctl --rekey failed: $(tail -1 "$DIR/rekey.txt")"; return 1; }
    peer_wait || { echo "ike-peer lost the tunnel: $(tail -1 "$DIR/peer.err")"; return 1; }
  fi
  local sw first second last_reply
  sw="$(sas_summary "$DIR/sw" "$SW_NS")"
  echo "sw: $sw" >"$DIR/sas.txt"
  [ "$(word child "$sw")" = INSTALLED ] || { echo "charon has no INSTALLED CHILD_SA: $sw"; return 1; }
  if [ "$what" = child ]; then
    first="$(grep '^EVENT child-sa-installed ' "$DIR/peer.out" | sed -n 1p)"
    second="$(grep '^EVENT child-sa-installed ' "$DIR/peer.out" | sed -n 2p)"
    [ -n "$second" ] || { echo "no second child-sa-installed event"; return 1; }
    grep -q "^EVENT child-sa-deleted .*spi_in=$(word spi_in "$first") " "$DIR/peer.out" ||
      { echo "the rekeyed Child SA $(word spi_in "$first") was not deleted"; return 1; }
    [ "$(word replaces "$second")" = "$(word spi_in "$first")" ] ||
      { echo "the new Child SA does not name the one it replaced: $second"; return 1; }
    [ "$(word spi_in "$second")" = "$(word out "$sw")" ] &&
      [ "$(word spi_out "$second")" = "$(word in "$sw")" ] ||
      { echo "new Child SA SPIs disagree: ours $second, charon $sw"; return 1; }
    grep -q "^EVENT esp-echo-reply spi_in=$(word spi_in "$second") " "$DIR/peer.out" ||
      { echo "no echo reply on the new Child SA $(word spi_in "$second")"; return 1; }
  else
    second="$(grep '^EVENT ike-sa-up ' "$DIR/peer.out" | sed -n 2p)"
    [ -n "$second" ] || { echo "no second ike-sa-up event"; return 1; }
    [ "$(word spi_i "$second")" = "$(word ike_spi_i "$sw")" ] &&
      [ "$(word spi_r "$second")" = "$(word ike_spi_r "$sw")" ] ||
      { echo "new IKE SA SPIs disagree: ours $second, charon $sw"; return 1; }
    last_reply="$(grep -n '^EVENT esp-echo-reply ' "$DIR/peer.out" | tail -1 | cut -d: -f1)"
    [ "${last_reply:-0}" -gt "$(grep -n '^EVENT ike-sa-up ' "$DIR/peer.out" | sed -n 2p | cut -d: -f1)" ] ||
      { echo "no echo reply after the IKE rekey"; return 1; }
  fi
}
scenario_us_rekey_child() { rekey us child; }
scenario_sw_rekey_child() { rekey sw child; }
scenario_us_rekey_ike() { rekey us ike; }
scenario_sw_rekey_ike() { rekey sw ike; }

# A failure both sides must see. $1: who initiates (us|sw); $2: charon's PSK; $3: charon's remote
# TS; $4: our event (ike-sa-failed|child-sa-failed); $5: the notify (IANA name, in our event);
# $6: the notify as charon logs it.
failure() {
  sw_setup x25519 "$2" "$3" || return 1
  local cfg="$HERE/configs/x25519.toml" ev role
  if [ "$1" = us ]; then
    role=initiator
    peer --config "$cfg" --initiate to-strongswan --until failure --timeout "${FAIL_WAIT:-20s}" --linger 500ms ||
      { echo "ike-peer did not report a failure: $(tail -1 "$DIR/peer.err")"; return 1; }
    charon_sent "$DIR/sw" "$6" || { echo "charon did not send $6"; return 1; }
  else
    role=responder
    peer_bg --config "$cfg" --until failure --timeout 20s --linger 500ms || return 1
    if sw_in "$DIR/sw" "$SW_NS" swanctl --initiate --child net --timeout 15 >"$DIR/initiate.txt" 2>&1; then
      echo "swanctl --initiate succeeded; expected $6"
      return 1
    fi
    peer_wait || { echo "ike-peer did not report a failure: $(tail -1 "$DIR/peer.err")"; return 1; }
    charon_received "$DIR/sw" "$6" || { echo "charon did not receive $6"; return 1; }
  fi
  ev="$(grep -m1 "^EVENT $4 " "$DIR/peer.out" || true)"
  [ -n "$ev" ] || { echo "no $4 event from ike-peer"; return 1; }
  [ "$(word notify "$ev")" = "$5" ] && [ "$(word role "$ev")" = "$role" ] ||
    { echo "expected $4 as $role with notify=$5, got: $ev"; return 1; }
  if grep -q '^EVENT child-sa-installed ' "$DIR/peer.out"; then
    echo "ike-peer installed a Child SA"
    return 1
  fi
  no_child "$DIR/sw" "$SW_NS"
}

scenario_us_init_x25519() { us_initiate x25519; }
scenario_sw_init_x25519() { sw_initiate x25519; }
scenario_us_init_modp2048() { us_initiate modp2048; }
scenario_sw_init_modp2048() { sw_initiate modp2048; }
scenario_us_init_ecp384() { us_initiate ecp384; }
scenario_sw_init_ecp384() { sw_initiate ecp384; }
scenario_us_init_ipv6() { us_initiate x25519-v6; }
scenario_sw_init_ipv6() { sw_initiate x25519-v6; }
# Through a real NAPT: both sides must detect the NAT themselves (charon does not force it here)
# and float to 4500; charon sees us at the NAT's address and a remapped port.
scenario_us_init_nat() {
  us_initiate x25519-nat || return 1
  local sw ike
  sw="$(sas_summary "$DIR/sw" "$SW_NS")"
  ike="$(grep -m1 '^EVENT ike-sa-up ' "$DIR/peer.out")"
  [ "$(word nat "$ike")" = true ] || { echo "we did not detect the NAT: $ike"; return 1; }
  grep -q 'remote host is behind NAT' "$DIR/sw/charon.log" ||
    { echo "charon did not detect the NAT"; return 1; }
  case "$(word ike_remote "$sw")" in
    198.51.100.254\[4500\] | 198.51.100.254\[500\] | 192.0.2.1*)
      echo "charon sees us untranslated: $(word ike_remote "$sw")"; return 1 ;;
    198.51.100.254\[*) ;;
    *) echo "charon sees us at an unexpected address: $(word ike_remote "$sw")"; return 1 ;;
  esac
}
scenario_us_init_wrong_psk() {
  failure us "not-the-$PSK" 10.1.0.0/24 ike-sa-failed AUTHENTICATION_FAILED AUTH_FAILED
}
scenario_sw_init_wrong_psk() {
  failure sw "not-the-$PSK" 10.1.0.0/24 ike-sa-failed AUTHENTICATION_FAILED AUTH_FAILED
}
# Our x25519 configuration against charon offering only MODP-2048 for IKE, or only
# AES-256-CBC/HMAC-SHA2-512 for ESP. NO_PROPOSAL_CHOSEN in IKE_SA_INIT is unauthenticated: we
# report it once our retransmissions end (165 s), in case it was forged (RFC 7296 2.21.1).
scenario_us_init_no_ike_proposal() {
  SW_IKE=aes128-sha256-modp2048 FAIL_WAIT=200s \
    failure us "$PSK" 10.1.0.0/24 ike-sa-failed NO_PROPOSAL_CHOSEN NO_PROP
}
scenario_sw_init_no_ike_proposal() {
  SW_IKE=aes128-sha256-modp2048 failure sw "$PSK" 10.1.0.0/24 ike-sa-failed NO_PROPOSAL_CHOSEN NO_PROP
}
scenario_us_init_no_esp_proposal() {
  SW_ESP=aes256-sha512 failure us "$PSK" 10.1.0.0/24 child-sa-failed NO_PROPOSAL_CHOSEN NO_PROP
}
scenario_sw_init_no_esp_proposal() {
  SW_ESP=aes256-sha512 failure sw "$PSK" 10.1.0.0/24 child-sa-failed NO_PROPOSAL_CHOSEN NO_PROP
}
scenario_us_init_ts_mismatch() {
  failure us "$PSK" 10.9.0.0/24 child-sa-failed TS_UNACCEPTABLE TS_UNACCEPT
}
scenario_sw_init_ts_mismatch() {
  failure sw "$PSK" 10.9.0.0/24 child-sa-failed TS_UNACCEPTABLE TS_UNACCEPT
}

# ---------------------------------------------------------------------------------------------
# Certificate authentication (RFC 7296 section 2.15, RFC 7427), with the test PKI of
# testdata/pki (made by strongSwan's `pki`, testdata/pki/make-certs.sh). We are hq (issued by the
# intermediate CA: our CERT payloads carry hq and the intermediate), charon is branch (issued by
# the root); each side trusts the root only. KIND: rsa (3072), ecdsa-p256, ecdsa-p384, ecdsa-p521,
# ed25519.

PKI="$ROOT/testdata/pki"
CERT_US_ID=hq.example.net
CERT_SW_ID=branch.example.net
# The ID type both sides use (our configuration's names: fqdn, ufqdn, ipaddr, dn); see cert_ids.
CERT_ID_TYPE=fqdn

# Our configuration: x25519.toml with certificate authentication, written next to its files in
# $DIR/us (git does not keep file modes, so the key is copied and made 0600 here).
# cert_us KIND CERT ID PEER_ID: CERT is our end entity in the PKI (hq, branch, wrong-ca, ...).
cert_us() {
  local kind="$1" cert="$2" dir="$DIR/us"
  cat "$PKI/$kind/$cert.crt" >"$dir/us.crt"
  # hq is issued by the intermediate CA: the file carries the chain, sent as CERT payloads.
  [ "$cert" = hq ] && cat "$PKI/$kind/intermediate-ca.crt" >>"$dir/us.crt"
  install -m 0600 "$PKI/$kind/$cert.key" "$dir/us.key"
  cp "$PKI/$kind/root-ca.crt" "$dir/ca.crt"
  sed -e '/^local-id = /d' -e '/^peer-id = /d' \
    -e "s|^authentication = { pre-shared-key.*|authentication = { certificate = { local-certificate = \"us\", certificate-profile = \"test-pki\" } }\nlocal-id = { type = \"$CERT_ID_TYPE\", id = \"$3\" }\npeer-id = { type = \"$CERT_ID_TYPE\", id = \"$4\" }|" \
    "$HERE/configs/x25519.toml" >"$dir/cert.toml"
  cat >>"$dir/cert.toml" <<TOML

[[certificate]]
name = "us"
certificate-file = "us.crt"
private-key-file = "us.key"

[[certificate]]
name = "root-ca"
certificate-file = "ca.crt"

[[certificate-profile]]
name = "test-pki"
ca = ["root-ca"]
TOML
}

# charon's side: CERT (its end entity) with ID, expecting PEER_ID; trusts the root CA.
# cert_sw KIND CERT ID PEER_ID
cert_sw() {
  local kind="$1" sw="$DIR/sw/swanctl"
  mkdir -p "$sw/x509" "$sw/x509ca" "$sw/private"
  cp "$PKI/$kind/$2.crt" "$sw/x509/sw.crt"
  install -m 0600 "$PKI/$kind/$2.key" "$sw/private/sw.key"
  cp "$PKI/$kind/root-ca.crt" "$sw/x509ca/root-ca.crt"
  # charon sends the issuer of its certificate only when it holds it: hq's is the intermediate.
  [ "$2" = hq ] && cp "$PKI/$kind/intermediate-ca.crt" "$sw/x509ca/intermediate-ca.crt"
  cat >"$sw/swanctl.conf" <<CONF
connections {
  gw {
    version = 2
    local_addrs = $SW_IP
    remote_addrs = $US_IP
    proposals = $(proposal_ike x25519)
    encap = yes
    dpd_delay = 0
    rekey_time = 4h
    send_certreq = yes
    local {
      auth = ${SW_AUTH:-pubkey}
      certs = sw.crt
      id = "$3"
    }
    remote {
      auth = pubkey
      id = "$4"
    }
    children {
      net {
        local_ts = 10.2.0.0/24
        remote_ts = 10.1.0.0/24
        esp_proposals = $(proposal_esp x25519)
        mode = tunnel
        start_action = none
        rekey_time = 1h
      }
    }
  }
}
CONF
  start_charon "$DIR/sw" "$SW_NS"
}

# charon logs the method of each AUTH it checks or makes: "authentication of 'hq.example.net'
# with ECDSA_WITH_SHA256_DER successful" (RFC 7427: the signature scheme), "... with ECDSA-256
# signature successful" (classic: the auth method); "(myself)" for its own.
charon_auth() { # charon_auth ID: the method charon logs for ID's AUTH ("myself" for its own)
  local who="'$1' with"
  [ "$1" = myself ] && who="'$CERT_SW_ID' (myself) with"
  grep -m1 -o "authentication of $who .* successful" "$DIR/sw/charon.log" |
    sed -e "s/^authentication of $who //" -e 's/ successful$//'
}

# A tunnel with certificates. $1: who initiates (us|sw); $2: KIND; $3: the method charon must log
# for our AUTH; $4: the method charon must log for its own (a grep -E pattern each). SW_CHARON_OPTS
# (e.g. signature_authentication = no: charon announces no RFC 7427 and both use the classic
# methods) and SW_AUTH (charon's local auth, e.g. rsa/pss-sha256) vary charon's side.
cert_tunnel() {
  local kind="$2" theirs ours
  export SW_CHARON_OPTS
  cert_us "$kind" hq "$CERT_US_ID" "$CERT_SW_ID"
  cert_sw "$kind" branch "$CERT_SW_ID" "$CERT_US_ID" || return 1
  if [ "$1" = us ]; then
    peer --config "$DIR/us/cert.toml" --initiate to-strongswan $(until_args x25519) \
      --timeout 20s --linger 500ms ||
      { echo "ike-peer: no Child SA or no echo reply: $(tail -1 "$DIR/peer.err")"; return 1; }
  else
    # shellcheck disable=SC2046
    peer_bg --config "$DIR/us/cert.toml" $(until_args x25519) --timeout 20s --linger 500ms ||
      return 1
    sw_in "$DIR/sw" "$SW_NS" swanctl --initiate --child net --timeout 15 >"$DIR/initiate.txt" 2>&1 ||
      { echo "swanctl --initiate failed: $(grep -m1 -i fail "$DIR/initiate.txt")"; return 1; }
    peer_wait ||
      { echo "ike-peer: no Child SA or no echo reply: $(tail -1 "$DIR/peer.err")"; return 1; }
  fi
  check_agreement && check_traffic x25519 || return 1
  # Our CERT payloads: hq and the intermediate CA; charon verified the chain to its root.
  grep -Eq "parsed IKE_AUTH (request|response) 1 \[ IDr? CERT CERT " "$DIR/sw/charon.log" ||
    grep -Eq "parsed IKE_AUTH (request|response) 1 \[ IDi CERT CERT " "$DIR/sw/charon.log" ||
    { echo "charon did not receive our two CERT payloads"; return 1; }
  grep -q 'reached self-signed root ca with a path length of 1' "$DIR/sw/charon.log" ||
    { echo "charon did not build the path hq -> intermediate -> root"; return 1; }
  theirs="$(charon_auth "$CERT_US_ID")"
  ours="$(charon_auth myself)"
  echo "our AUTH: $theirs; charon's AUTH: $ours" >"$DIR/auth.txt"
  echo "$theirs" | grep -Eqx "$3" || { echo "charon checked our AUTH as '$theirs', expected $3"; return 1; }
  echo "$ours" | grep -Eqx "$4" || { echo "charon signed its AUTH as '$ours', expected $4"; return 1; }
}

# RFC 7427 (method 14): we sign with RSASSA-PSS for RSA (our preference), charon with PKCS#1 v1.5
# (its default without rsa_pss = yes); ECDSA and Ed25519 with the curve's hash.
PSS='RSA_EMSA_PSS_SHA2_(256|384|512)_SALT_(32|48|64)'
scenario_us_cert_rsa() { cert_tunnel us rsa "$PSS" 'RSA_EMSA_PKCS1_SHA2_(256|384|512)'; }
scenario_sw_cert_rsa() { cert_tunnel sw rsa "$PSS" 'RSA_EMSA_PKCS1_SHA2_(256|384|512)'; }
scenario_us_cert_rsa_pss() { SW_CHARON_OPTS="rsa_pss = yes" cert_tunnel us rsa "$PSS" "$PSS"; }
scenario_sw_cert_rsa_pss() { SW_CHARON_OPTS="rsa_pss = yes" cert_tunnel sw rsa "$PSS" "$PSS"; }
scenario_us_cert_p256() { cert_tunnel us ecdsa-p256 'ECDSA_WITH_SHA256_DER' 'ECDSA_WITH_SHA256_DER'; }
scenario_sw_cert_p256() { cert_tunnel sw ecdsa-p256 'ECDSA_WITH_SHA256_DER' 'ECDSA_WITH_SHA256_DER'; }
scenario_us_cert_p384() { cert_tunnel us ecdsa-p384 'ECDSA_WITH_SHA384_DER' 'ECDSA_WITH_SHA384_DER'; }
scenario_sw_cert_p384() { cert_tunnel sw ecdsa-p384 'ECDSA_WITH_SHA384_DER' 'ECDSA_WITH_SHA384_DER'; }
scenario_us_cert_p521() { cert_tunnel us ecdsa-p521 'ECDSA_WITH_SHA512_DER' 'ECDSA_WITH_SHA512_DER'; }
scenario_sw_cert_p521() { cert_tunnel sw ecdsa-p521 'ECDSA_WITH_SHA512_DER' 'ECDSA_WITH_SHA512_DER'; }
scenario_us_cert_ed25519() { cert_tunnel us ed25519 'ED25519' 'ED25519'; }
scenario_sw_cert_ed25519() { cert_tunnel sw ed25519 'ED25519' 'ED25519'; }
# The classic methods: charon without RFC 7427 sends no SIGNATURE_HASH_ALGORITHMS, so both sides
# use RSA PKCS#1 v1.5 with SHA-1 (method 1) or ECDSA with the curve's hash (methods 9-11).
classic() { SW_CHARON_OPTS="signature_authentication = no" cert_tunnel "$1" "$2" "$3" "$3"; }
scenario_us_cert_classic_rsa() { classic us rsa 'RSA signature'; }
scenario_sw_cert_classic_rsa() { classic sw rsa 'RSA signature'; }
scenario_us_cert_classic_p256() { classic us ecdsa-p256 'ECDSA-256 signature'; }
scenario_sw_cert_classic_p256() { classic sw ecdsa-p256 'ECDSA-256 signature'; }
scenario_us_cert_classic_p384() { classic us ecdsa-p384 'ECDSA-384 signature'; }
scenario_sw_cert_classic_p384() { classic sw ecdsa-p384 'ECDSA-384 signature'; }
scenario_us_cert_classic_p521() { classic us ecdsa-p521 'ECDSA-521 signature'; }
scenario_sw_cert_classic_p521() { classic sw ecdsa-p521 'ECDSA-521 signature'; }

# The tunnel of scenario_us_cert_p256 with IDs of another type, each of which the certificates
# name: ID_RFC822_ADDR and ID_IPV4_ADDR in the subjectAltName, ID_DER_ASN1_DN the subject (DER on
# the wire, RFC 7296 section 3.5; charon writes it as text in its log).
cert_ids() { # cert_ids us|sw TYPE
  CERT_ID_TYPE="$2"
  case "$2" in
    ufqdn) CERT_US_ID=hq@example.net CERT_SW_ID=branch@example.net ;;
    ipaddr) CERT_US_ID="$US_IP" CERT_SW_ID="$SW_IP" ;;
    dn) CERT_US_ID="C=CH, O=ipsec-rs test, CN=hq.example.net"
      CERT_SW_ID="C=CH, O=ipsec-rs test, CN=branch.example.net" ;;
  esac
  cert_tunnel "$1" ecdsa-p256 'ECDSA_WITH_SHA256_DER' 'ECDSA_WITH_SHA256_DER'
}
scenario_us_cert_id_dn() { cert_ids us dn; }
scenario_sw_cert_id_dn() { cert_ids sw dn; }
scenario_us_cert_id_email() { cert_ids us ufqdn; }
scenario_sw_cert_id_ip() { cert_ids sw ipaddr; }

# The roles of the PKI swapped: charon is hq and sends its intermediate CA after its certificate
# (it holds it in x509ca), we are branch and must build the path hq -> intermediate -> root from
# charon's CERT payloads. $1: who initiates.
cert_peer_chain() {
  local kind=ecdsa-p384
  cert_us "$kind" branch branch.example.net hq.example.net
  cert_sw "$kind" hq hq.example.net branch.example.net || return 1
  if [ "$1" = us ]; then
    peer --config "$DIR/us/cert.toml" --initiate to-strongswan $(until_args x25519) \
      --timeout 20s --linger 500ms ||
      { echo "ike-peer: no Child SA or no echo reply: $(tail -1 "$DIR/peer.err")"; return 1; }
  else
    # shellcheck disable=SC2046
    peer_bg --config "$DIR/us/cert.toml" $(until_args x25519) --timeout 20s --linger 500ms ||
      return 1
    sw_in "$DIR/sw" "$SW_NS" swanctl --initiate --child net --timeout 15 >"$DIR/initiate.txt" 2>&1 ||
      { echo "swanctl --initiate failed: $(grep -m1 -i fail "$DIR/initiate.txt")"; return 1; }
    peer_wait ||
      { echo "ike-peer: no Child SA or no echo reply: $(tail -1 "$DIR/peer.err")"; return 1; }
  fi
  check_agreement && check_traffic x25519 || return 1
  grep -q 'sending issuer cert "C=CH, O=ipsec-rs test, CN=ECDSA P-384 Intermediate CA"' \
    "$DIR/sw/charon.log" || { echo "charon did not send its intermediate CA"; return 1; }
}
scenario_us_cert_peer_chain() { cert_peer_chain us; }
scenario_sw_cert_peer_chain() { cert_peer_chain sw; }

# A certificate refused. $1: who initiates (us|sw); $2: who refuses (us|sw); $3/$4: our
# certificate and ID; $5/$6: charon's. When we refuse, our ike-sa-failed event carries
# AUTHENTICATION_FAILED, its LOG line names the check ($7, a grep -E pattern), and charon receives
# N(AUTH_FAILED) (in our IKE_AUTH response, or in an INFORMATIONAL when we initiated). When charon
# refuses, its log must say why ($7) and it sends N(AUTH_FAILED): we report ike-sa-failed with
# AUTHENTICATION_FAILED, or, when charon initiated, ike-sa-down with it (as responder our IKE SA
# was up once we sent our AUTH; charon's INFORMATIONAL ends it, RFC 7296 section 2.21.2). Neither
# side keeps a Child SA. ECDSA P-256 keys.
cert_refused() {
  local kind=ecdsa-p256 ev role kind_ev=ike-sa-failed until=failure
  export SW_CHARON_OPTS
  cert_us "$kind" "$3" "$4" "$6"
  cert_sw "$kind" "$5" "$6" "$4" || return 1
  if [ "$1" = us ]; then
    role=initiator
    peer --config "$DIR/us/cert.toml" --initiate to-strongswan --until failure --timeout 20s \
      --linger 500ms || { echo "ike-peer did not report a failure: $(tail -1 "$DIR/peer.err")"; return 1; }
  else
    role=responder
    [ "$2" = sw ] && kind_ev=ike-sa-down until=ike-down
    peer_bg --config "$DIR/us/cert.toml" --until "$until" --timeout 20s --linger 500ms || return 1
    if sw_in "$DIR/sw" "$SW_NS" swanctl --initiate --child net --timeout 15 >"$DIR/initiate.txt" 2>&1; then
      echo "swanctl --initiate succeeded; expected AUTH_FAILED"
      return 1
    fi
    peer_wait || { echo "ike-peer did not report a failure: $(tail -1 "$DIR/peer.err")"; return 1; }
  fi
  ev="$(grep -m1 "^EVENT $kind_ev " "$DIR/peer.out" || true)"
  [ "$(word notify "$ev")" = AUTHENTICATION_FAILED ] || { echo "expected $kind_ev with notify=AUTHENTICATION_FAILED, got: $ev"; return 1; }
  if [ "$kind_ev" = ike-sa-failed ] && [ "$(word role "$ev")" != "$role" ]; then
    echo "expected ike-sa-failed as $role, got: $ev"
    return 1
  fi
  if [ "$2" = us ]; then
    grep -A1 "^EVENT ike-sa-failed " "$DIR/peer.out" | grep -Eq "^LOG .*$7" ||
      { echo "our log does not say '$7': $(grep -m1 -A1 '^EVENT ike-sa-failed ' "$DIR/peer.out" | tail -1)"; return 1; }
    charon_received "$DIR/sw" AUTH_FAILED || { echo "charon did not receive AUTH_FAILED"; return 1; }
  else
    grep -Eq "$7" "$DIR/sw/charon.log" || { echo "charon's log does not say '$7'"; return 1; }
    charon_sent "$DIR/sw" AUTH_FAILED || { echo "charon did not send AUTH_FAILED"; return 1; }
  fi
  if [ "$kind_ev" = ike-sa-down ]; then
    # Our Child SA of the IKE_AUTH response went with the IKE SA.
    grep -q '^EVENT child-sa-deleted .*reason=ike-sa-gone' "$DIR/peer.out" ||
      { echo "our Child SA was not deleted with the IKE SA"; return 1; }
  elif grep -q '^EVENT child-sa-installed ' "$DIR/peer.out"; then
    echo "ike-peer installed a Child SA"
    return 1
  fi
  no_child "$DIR/sw" "$SW_NS"
}
# charon's certificate is "branch" issued by a rogue CA with the root's name: the signature on
# it does not verify with the root's key.
scenario_us_cert_peer_wrong_ca() {
  cert_refused us us hq "$CERT_US_ID" wrong-ca "$CERT_SW_ID" 'certificate (issuer|signature) check failed'
}
scenario_sw_cert_peer_wrong_ca() {
  cert_refused sw us hq "$CERT_US_ID" wrong-ca "$CERT_SW_ID" 'certificate (issuer|signature) check failed'
}
# Ours is the one from the rogue CA (we present ourselves as branch, charon as hq).
scenario_us_cert_our_wrong_ca() {
  cert_refused us sw wrong-ca "$CERT_SW_ID" hq "$CERT_US_ID" 'no trusted .* public key found'
}
scenario_sw_cert_our_wrong_ca() {
  cert_refused sw sw wrong-ca "$CERT_SW_ID" hq "$CERT_US_ID" 'no trusted .* public key found'
}
# charon's certificate expired in 2021.
scenario_us_cert_peer_expired() {
  cert_refused us us hq "$CERT_US_ID" expired "$CERT_SW_ID" 'certificate validity check failed: .* expired'
}
scenario_sw_cert_peer_expired() {
  cert_refused sw us hq "$CERT_US_ID" expired "$CERT_SW_ID" 'certificate validity check failed: .* expired'
}
scenario_us_cert_our_expired() {
  cert_refused us sw expired "$CERT_SW_ID" hq "$CERT_US_ID" 'subject certificate invalid \(valid from .* to .* 2021\)'
}
# We send the ID hq.example.net with the certificate of other.example.net: charon refuses it.
scenario_us_cert_our_id_mismatch() {
  cert_refused us sw mismatch "$CERT_US_ID" branch "$CERT_SW_ID" "no trusted .* public key found for '$CERT_US_ID'"
}
scenario_sw_cert_our_id_mismatch() {
  cert_refused sw sw mismatch "$CERT_US_ID" branch "$CERT_SW_ID" "no trusted .* public key found for '$CERT_US_ID'"
}
# charon sends the ID branch.example.net with other.example.net's certificate: we refuse it.
scenario_us_cert_peer_id_mismatch() {
  cert_refused us us hq "$CERT_US_ID" mismatch "$CERT_SW_ID" 'certificate identity check failed: peer ID fqdn:branch.example.net is not in certificate'
}
scenario_sw_cert_peer_id_mismatch() {
  cert_refused sw us hq "$CERT_US_ID" mismatch "$CERT_SW_ID" 'certificate identity check failed: peer ID fqdn:branch.example.net is not in certificate'
}

CERT_SCENARIOS=(
  us-cert-rsa sw-cert-rsa us-cert-rsa-pss sw-cert-rsa-pss us-cert-p256 sw-cert-p256 us-cert-p384 sw-cert-p384
  us-cert-p521 sw-cert-p521 us-cert-ed25519 sw-cert-ed25519
  us-cert-classic-rsa sw-cert-classic-rsa us-cert-classic-p256 sw-cert-classic-p256
  us-cert-classic-p384 sw-cert-classic-p384 us-cert-classic-p521 sw-cert-classic-p521
  us-cert-id-dn sw-cert-id-dn us-cert-id-email sw-cert-id-ip us-cert-peer-chain sw-cert-peer-chain
  us-cert-peer-wrong-ca sw-cert-peer-wrong-ca us-cert-our-wrong-ca sw-cert-our-wrong-ca
  us-cert-peer-expired sw-cert-peer-expired us-cert-our-expired
  us-cert-our-id-mismatch sw-cert-our-id-mismatch us-cert-peer-id-mismatch sw-cert-peer-id-mismatch
)

SMOKE_SCENARIOS=(swan-to-swan swan-wrong-psk swan-ts-mismatch)
OUR_SCENARIOS=(
  us-init-x25519 sw-init-x25519 us-init-modp2048 sw-init-modp2048 us-init-ecp384 sw-init-ecp384
  us-init-ipv6 sw-init-ipv6 us-init-nat us-delete-ike sw-delete-ike us-liveness sw-liveness
  us-rekey-child sw-rekey-child us-rekey-ike sw-rekey-ike
  us-init-wrong-psk sw-init-wrong-psk us-init-ts-mismatch sw-init-ts-mismatch
  us-init-no-ike-proposal sw-init-no-ike-proposal us-init-no-esp-proposal sw-init-no-esp-proposal
  "${CERT_SCENARIOS[@]}"
)
# Scenarios that need more than SCENARIO_TIMEOUT seconds: their own bound.
declare -A SCENARIO_LIMIT=([us-init-no-ike-proposal]=230)
# shellcheck source=daemon.sh
. "$HERE/daemon.sh"
# shellcheck source=collide.sh
. "$HERE/collide.sh"
ALL_SCENARIOS=("${SMOKE_SCENARIOS[@]}" "${OUR_SCENARIOS[@]}" "${COLLIDE_SCENARIOS[@]}" "${DAEMON_SCENARIOS[@]}")

# ---------------------------------------------------------------------------------------------

run_one() { # run_one NAME: in a fresh network, bounded in time; prints its line, fails with it
  local name="$1" fn="scenario_${1//-/_}" t0 t1 rc reason
  DIR="$WORKDIR/$name"
  rm -rf "$DIR"
  mkdir -p "$DIR/us/swanctl" "$DIR/sw/swanctl"
  t0=$(date +%s%N)
  rc=0
  local nat=0
  case "$name" in *-nat) nat=1 ;; esac
  if ! NAT="$nat" "$HERE/netns.sh" up >"$DIR/netns.txt" 2>&1; then
    rc=1
    echo "network setup failed: $(tail -1 "$DIR/netns.txt")" >"$DIR/result.txt"
  else
    # The scenario runs in a subshell with a deadline; its own processes are cleaned up below.
    ("$fn") >"$DIR/result.txt" 2>&1 &
    local pid=$! waited=0 limit="${SCENARIO_LIMIT[$name]:-$SCENARIO_TIMEOUT}"
    while [ -d "/proc/$pid" ] && [ "$waited" -lt $((limit * 10)) ]; do
      sleep 0.1
      waited=$((waited + 1))
    done
    if [ -d "/proc/$pid" ]; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      echo "timed out after ${limit}s" >>"$DIR/result.txt"
      rc=1
    else
      wait "$pid" || rc=$?
    fi
  fi
  # Stop whatever the scenario subshell started (its CHARONS/OUR_PIDS died with it; rebuild them).
  local d
  for d in "$DIR/us" "$DIR/sw"; do
    [ -f "$d/charon.pid" ] && CHARONS+=("$d|x")
  done
  [ -f "$DIR/peer.pid" ] && OUR_PIDS+=("$(cat "$DIR/peer.pid")")
  for d in "$DIR"/*.daemon.pid; do
    [ -f "$d" ] && OUR_PIDS+=("$(cat "$d")")
  done
  scenario_cleanup
  t1=$(date +%s%N)
  reason="$(tail -1 "$DIR/result.txt" 2>/dev/null || true)"
  local secs
  secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
  if [ "$rc" -eq 0 ]; then
    printf 'PASS  %-34s %5ss\n' "$name" "$secs"
  else
    printf 'FAIL  %-34s %5ss  %s  (logs: %s)\n' "$name" "$secs" "$reason" "$DIR"
  fi
  return "$rc"
}

main() {
  if [ "${1:-}" = --list ]; then
    printf '%s\n' "${ALL_SCENARIOS[@]}"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || { echo "run.sh: must run as root (network namespaces)" >&2; return 2; }
  # Scenario names are hyphenated; underscores (as in the function names) are taken too.
  local todo=("${@//_/-}")
  [ "${#todo[@]}" -gt 0 ] || todo=("${ALL_SCENARIOS[@]}")
  local s passed=0 failed=0
  for s in "${todo[@]}"; do
    if ! declare -F "scenario_${s//-/_}" >/dev/null; then
      echo "run.sh: unknown scenario $s (see --list)" >&2
      return 2
    fi
  done
  # Build the driver once, outside the scenarios' time bound.
  for s in "${todo[@]}"; do
    case " ${OUR_SCENARIOS[*]} ${COLLIDE_SCENARIOS[*]} " in
      *" $s "*)
        build_peer || { echo "run.sh: cannot build ike-peer" >&2; return 2; }
        break
        ;;
    esac
  done
  for s in "${todo[@]}"; do
    case " ${DAEMON_SCENARIOS[*]} " in
      *" $s "*)
        build_daemon || { echo "run.sh: cannot build ipsec-gateway" >&2; return 2; }
        break
        ;;
    esac
  done
  # The namespaces, ports and charon instances have fixed names: one run at a time per machine
  # (several engineers or CI jobs may start tests/run.sh together); later runs wait their turn.
  exec 9>"${LOCK:-/tmp/ipsec-interop.lock}"
  if ! flock -n 9; then
    echo "run.sh: another interop run is in progress; waiting (at most 20 min)"
    flock -w 1200 9 || { echo "run.sh: gave up waiting for the interop lock" >&2; return 2; }
  fi
  HAVE_LOCK=1
  "$HERE/netns.sh" down >/dev/null 2>&1 || true
  for s in "${todo[@]}"; do
    if run_one "$s"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done
  echo "$passed passed, $failed failed"
  if [ "$failed" -eq 0 ] && [ "$KEEP" = 0 ]; then rm -rf "$WORKDIR"; fi
  [ "$failed" -eq 0 ]
}

# Sourced (throughput.sh), it only defines the helpers.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
