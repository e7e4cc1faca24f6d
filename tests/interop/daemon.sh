# Scenarios of the VPN daemon (`ipsec-gateway run`), sourced by run.sh: real traffic through TUN
# devices and kernel routes, our daemon on both ends or against strongSwan.
#
# The daemon maps ethernet1/2 to `lo`, where netns.sh puts the protected LAN ends (10.1.0.1 and
# 10.2.0.1, and 10.1.1.1 / 10.2.1.1 for the second proxy ID), so pings between those addresses
# cross the tunnel: kernel route -> TUN -> our ESP -> veth -> the peer.

DAEMON_BIN=""

build_daemon() {
  [ -n "$DAEMON_BIN" ] && return 0
  (cd "$ROOT" && cargo build --quiet -p ipsec-examples --bin ipsec-gateway) || return 1
  DAEMON_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/ipsec-gateway"
}

# daemon_start NAME NS CONFIG [ARGS...]: our daemon in NS, log in $DIR/NAME.log, control socket
# $DIR/NAME.sock; returns once the control socket answers.
daemon_start() {
  local name="$1" ns="$2" cfg="$3"
  shift 3
  ip netns exec "$ns" "$DAEMON_BIN" run --config "$cfg" --control "$DIR/$name.sock" \
    --interface ethernet1/2=lo --log-level debug "$@" >"$DIR/$name.log" 2>&1 9>&- &
  echo $! >"$DIR/$name.daemon.pid"
  local i
  for i in $(seq 1 50); do
    [ -S "$DIR/$name.sock" ] && return 0
    [ -d "/proc/$(cat "$DIR/$name.daemon.pid")" ] || break
    sleep 0.1
  done
  echo "daemon $name did not start: $(tail -1 "$DIR/$name.log")"
  return 1
}

# ctl NAME ARGS...: an operational command to daemon NAME.
ctl() {
  local name="$1"
  shift
  "$DAEMON_BIN" --control "$DIR/$name.sock" "$@"
}

# daemon_wait_children NAME N: until daemon NAME has N installed Child SAs (at most 15 s).
daemon_wait_children() {
  local i n
  for i in $(seq 1 150); do
    n="$(ctl "$1" --json show vpn ipsec-sa 2>/dev/null | grep -c '"spi_in"' || true)"
    [ "${n:-0}" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "daemon $1 has ${n:-0} Child SAs, expected $2: $(grep -m1 -E 'failed|error' "$DIR/$1.log" || tail -1 "$DIR/$1.log")"
  return 1
}

# daemon_stop NAME NS: SIGTERM; it must exit 0 within 5 s and leave no TUN device or route.
daemon_stop() {
  local pid rc=0 i
  pid="$(cat "$DIR/$1.daemon.pid")"
  kill -TERM "$pid"
  for i in $(seq 1 50); do
    [ -d "/proc/$pid" ] || break
    sleep 0.1
  done
  [ -d "/proc/$pid" ] && { echo "daemon $1 still runs 5 s after SIGTERM"; return 1; }
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || { echo "daemon $1 exited $rc after SIGTERM: $(tail -1 "$DIR/$1.log")"; return 1; }
  if ip netns exec "$2" ip link show tunnel.1 >/dev/null 2>&1; then
    echo "daemon $1 left TUN device tunnel.1 behind"
    return 1
  fi
  if [ -n "$(ip netns exec "$2" ip route show proto 199)" ]; then
    echo "daemon $1 left routes behind: $(ip netns exec "$2" ip route show proto 199 | head -1)"
    return 1
  fi
}

# ping_ok NS FROM TO [PING ARGS...]: three echoes, all answered.
ping_ok() {
  local ns="$1" from="$2" to="$3"
  shift 3
  ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 -I "$from" "$@" "$to" >>"$DIR/ping.txt" 2>&1 ||
    { echo "ping $from -> $to $* failed in $ns"; return 1; }
}

# The second LAN ends, for the second proxy ID.
add_second_lan() {
  ip netns exec "$US_NS" ip addr add 10.1.1.1/32 dev lo
  ip netns exec "$SW_NS" ip addr add 10.2.1.1/32 dev lo
}

# ---------------------------------------------------------------------------------------------

# Our daemon on both ends: ping and a 1400-byte don't-fragment ping both ways over raw ESP; the
# show commands see the traffic; SIGTERM deletes the IKE SA (the peer logs it) and removes the
# TUN device and the routes.
scenario_daemon_both_ends() {
  daemon_start b "$SW_NS" "$HERE/configs/daemon-b.toml" || return 1
  daemon_start a "$US_NS" "$HERE/configs/daemon-a.toml" || return 1
  daemon_wait_children a 1 && daemon_wait_children b 1 || return 1
  ping_ok "$US_NS" 10.1.0.1 10.2.0.1 || return 1
  ping_ok "$SW_NS" 10.2.0.1 10.1.0.1 || return 1
  # 1400 bytes of IP: 1372 of ICMP payload; fits the tunnel interface's MTU of 1400.
  ping_ok "$US_NS" 10.1.0.1 10.2.0.1 -M do -s 1372 || return 1
  ping_ok "$SW_NS" 10.2.0.1 10.1.0.1 -M do -s 1372 || return 1
  local sa
  sa="$(ctl a show vpn ipsec-sa)"
  echo "$sa" >"$DIR/show-ipsec-sa.txt"
  echo "$sa" | grep -q 'ESP/aes-128-gcm' || { echo "not raw ESP: $sa"; return 1; }
  ctl a --json show vpn ipsec-sa | grep -q '"packets_out": 12' ||
    { echo "show vpn ipsec-sa does not count 12 packets out: $(ctl a --json show vpn ipsec-sa | grep packets)"; return 1; }
  ctl b show vpn flow | grep -Eq '^1 +to-a +active' || { echo "show vpn flow: $(ctl b show vpn flow)"; return 1; }
  ctl a show routing route | grep -q '10.2.0.0/24.*tunnel.1' || { echo "show routing route lacks the static route"; return 1; }
  daemon_stop a "$US_NS" || return 1
  grep -q 'deleted by peer' "$DIR/b.log" || { echo "daemon b was not told of the delete"; return 1; }
  daemon_stop b "$SW_NS"
}

DAEMON_SCENARIOS=(daemon-both-ends)
