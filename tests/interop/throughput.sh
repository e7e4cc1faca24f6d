#!/usr/bin/env bash
# Tunnel throughput, measured in one run on one machine: iperf3 between the LAN ends of the
# interop namespaces (10.1.0.1 in ipsec-us -> 10.2.0.1 in ipsec-sw) through each VPN in turn.
#
#   tests/interop/throughput.sh            (as root; tests/interop/setup.sh installs iperf3;
#                                          KEEP=1 keeps the logs under /tmp/ipsec-throughput.*)
#
# VPNs: our daemon on both ends (raw ESP, and ESP in UDP), our daemon against strongSwan,
# strongSwan on both ends (kernel-libipsec, ESP in UDP), and boringtun and gotatun on both ends
# when `boringtun-cli`, `gotatun` and `wg` are on PATH (`cargo install boringtun-cli --version
# 0.7.0`, `cargo install gotatun-cli --version 0.10.2`, `apt-get install wireguard-tools`). Every
# IPsec tunnel uses AES-128-GCM. For each: a single stream, 4 parallel streams (-P 4) and the
# reverse direction (-R), T seconds each (default 5), receiver-side Mbit/s. Prints a markdown
# table with the ratio of each row to strongSwan on both ends and to boringtun on both ends,
# measured in the same run (the machine is shared: absolute figures vary, ratios less).
#
# DAEMON_BIN=PATH measures that build of ipsec-gateway instead of building the worktree's;
# BASE_BIN=PATH[:PATH...] adds rows for other builds (earlier commits, say), so that builds
# compare in one run; ONLY=REGEX keeps the rows whose name matches (strongSwan and boringtun on both ends
# are always measured: they are the baselines).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=run.sh
. "$HERE/run.sh"
T="${T:-5}"
export DAEMON_LOG=warn
WORKDIR="$(mktemp -d /tmp/ipsec-throughput.XXXXXX)"

[ "$(id -u)" -eq 0 ] || { echo "throughput.sh: must run as root" >&2; exit 2; }
command -v iperf3 >/dev/null || { echo "throughput.sh: iperf3 missing (tests/interop/setup.sh)" >&2; exit 2; }

BUILD="commit $(git -C "$ROOT" rev-parse --short HEAD)"
[ -n "${DAEMON_BIN:-}" ] && BUILD="ipsec-gateway $DAEMON_BIN"
[ -n "${BASE_BIN:-}" ] && BUILD="$BUILD, BASE_BIN $BASE_BIN"
if [ -z "${DAEMON_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --quiet --release -p ipsec-examples --bin ipsec-gateway)
  DAEMON_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/ipsec-gateway"
fi

exec 9>"${LOCK:-/tmp/ipsec-interop.lock}"
flock -w 1200 9 || { echo "throughput.sh: gave up waiting for the interop lock" >&2; exit 2; }
HAVE_LOCK=1
LOAD0="$(cut -d' ' -f1 /proc/loadavg)"

# iperf NAME FLAGS...: receiver Mbit/s of one client run from US_NS to the server in SW_NS
# (the [SUM] line's with -P: the last receiver line).
iperf() {
  local out="$DIR/iperf-$1.txt"
  shift
  ip netns exec "$US_NS" iperf3 -c "$SW_INNER" -B "$US_INNER" -t "$T" -f m "$@" 9>&- \
    >"$out" 2>&1 || { echo "-"; return 0; }
  awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") v = $i } END { print v ? v : "-" }' "$out"
}

ROWS=()
# wanted NAME: whether ONLY lets row NAME be measured (the baselines always are).
wanted() {
  case "$1" in "strongSwan both ends"* | "boringtun both ends"*) return 0 ;; esac
  [[ "$1" =~ ${ONLY:-.} ]]
}

measure() { # measure NAME: the three runs through whatever tunnel is up
  ip netns exec "$SW_NS" iperf3 -s -B "$SW_INNER" -D --pidfile "$DIR/iperf3.pid" 9>&-
  sleep 0.3
  local one four rev
  one="$(iperf one)"
  four="$(iperf four -P 4)"
  rev="$(iperf reverse -R)"
  kill "$(cat "$DIR/iperf3.pid")" 2>/dev/null || true
  ROWS+=("$1|$one|$four|$rev")
  printf '%-40s %10s %10s %10s\n' "$1" "$one" "$four" "$rev" >&2
}

fresh() { # fresh NAME: a new network for the next VPN
  scenario_cleanup
  DIR="$WORKDIR/$1"
  mkdir -p "$DIR/us/swanctl" "$DIR/sw/swanctl"
  "$HERE/netns.sh" up >"$DIR/netns.txt"
}

ours_both() { # ours_both NAME [DAEMON ARGS...]
  local name="$1"
  shift
  wanted "$name" || return 0
  fresh "$name"
  daemon_start b "$SW_NS" "$HERE/configs/daemon-b.toml" "$@"
  daemon_start a "$US_NS" "$HERE/configs/daemon-a.toml" "$@"
  daemon_wait_children a 1 >&2
  OUR_PIDS+=("$(cat "$DIR/a.daemon.pid")" "$(cat "$DIR/b.daemon.pid")")
  measure "$name"
}

ours_both "ipsec-rs both ends (ESP)"
ours_both "ipsec-rs both ends (ESP in UDP)" --encapsulate
IFS=: read -ra bases <<<"${BASE_BIN:-}"
for base in "${bases[@]}"; do
  DAEMON_BIN="$base" ours_both "ipsec-rs both ends (ESP), $(basename "$base")"
  DAEMON_BIN="$base" ours_both "ipsec-rs both ends (ESP in UDP), $(basename "$base")" --encapsulate
done

if wanted "ipsec-rs -> strongSwan (ESP in UDP)"; then
  fresh ours-vs-strongswan
  daemon_charon 10.2.0.0/24 10.1.0.0/24 >&2
  daemon_start a "$US_NS" "$HERE/configs/daemon-a.toml"
  OUR_PIDS+=("$(cat "$DIR/a.daemon.pid")")
  daemon_wait_children a 1 >&2
  measure "ipsec-rs -> strongSwan (ESP in UDP)"
fi

fresh strongswan-both
prop=aes256gcm16-prfsha256-curve25519
swanctl_conf "$US_IP" "$SW_IP" "$prop" aes128gcm16 "$US_ID" "$SW_ID" 10.1.0.0/24 10.2.0.0/24 "$PSK" \
  >"$DIR/us/swanctl/swanctl.conf"
swanctl_conf "$SW_IP" %any "$prop" aes128gcm16 "$SW_ID" "$US_ID" 10.2.0.0/24 10.1.0.0/24 "$PSK" \
  >"$DIR/sw/swanctl/swanctl.conf"
start_charon "$DIR/sw" "$SW_NS"
start_charon "$DIR/us" "$US_NS"
sw_in "$DIR/us" "$US_NS" swanctl --initiate --child net --timeout 15 >"$DIR/initiate.txt" 2>&1
measure "strongSwan both ends (ESP in UDP)"

# wireguard NAME BIN: a WireGuard tunnel, userspace daemon BIN on both ends, configured with wg.
wireguard() {
  local name="$1" bin="$2" side ns key peer ip other lan ka kb
  fresh "$bin"
  ka="$(wg genkey)" kb="$(wg genkey)"
  for side in us sw; do
    ns="$US_NS" key="$ka" peer="$(echo "$kb" | wg pubkey)" ip="$US_IP" other="$SW_IP" lan=10.2.0.0/24
    [ "$side" = sw ] && ns="$SW_NS" key="$kb" peer="$(echo "$ka" | wg pubkey)" ip="$SW_IP" other="$US_IP" lan=10.1.0.0/24
    # One name per side: the UAPI socket (/var/run/wireguard/NAME.sock) is not per namespace.
    ip netns exec "$ns" "$bin" "wg-$side" --foreground --disable-drop-privileges \
      >"$DIR/$bin-$side.log" 2>&1 9>&- &
    OUR_PIDS+=("$!")
    sleep 0.5
    echo "$key" >"$DIR/$side.key"
    ip netns exec "$ns" wg set "wg-$side" listen-port 51820 private-key "$DIR/$side.key" \
      peer "$peer" allowed-ips "$lan" endpoint "$other:51820"
    ip netns exec "$ns" ip link set "wg-$side" mtu 1420 up
    ip netns exec "$ns" ip route add "$lan" dev "wg-$side"
  done
  measure "$name"
}

for wgd in "boringtun-cli|boringtun" "gotatun|gotatun"; do
  IFS='|' read -r bin label <<<"$wgd"
  if ! wanted "$label both ends (WireGuard)"; then
    continue
  elif command -v "$bin" >/dev/null && command -v wg >/dev/null; then
    wireguard "$label both ends (WireGuard)" "$bin"
  else
    echo "$bin or wg missing: $label row left out" >&2
  fi
done

scenario_cleanup
base="|-|-|-" bt="|-|-|-"
for r in "${ROWS[@]}"; do
  case "$r" in
    "strongSwan both ends"*) base="$r" ;;
    "boringtun both ends"*) bt="$r" ;;
  esac
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.1fx", a / b }'; }
IFS='|' read -r _ b1 b4 br <<<"$base"
IFS='|' read -r _ w1 w4 wr <<<"$bt"
cell() { echo "$1 ($(ratio "$1" "$2") / $(ratio "$1" "$3"))"; }
echo
echo "iperf3, ${T} s per run, receiver Mbit/s (ratio to strongSwan on both ends / to boringtun on"
echo "both ends), ${BUILD}, $(nproc) CPUs, load average $LOAD0 before, $(cut -d' ' -f1 /proc/loadavg) after"
echo
echo "| VPN | 1 stream | -P 4 | reverse |"
echo "| --- | ---: | ---: | ---: |"
for r in "${ROWS[@]}"; do
  IFS='|' read -r n one four rev <<<"$r"
  echo "| $n | $(cell "$one" "$b1" "$w1") | $(cell "$four" "$b4" "$w4") | $(cell "$rev" "$br" "$wr") |"
done
[ "${KEEP:-0}" = 1 ] || rm -rf "$WORKDIR"
