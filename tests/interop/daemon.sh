# Scenarios of the VPN daemon (`ipsec-gateway run`), sourced by run.sh: real traffic through TUN
# devices and kernel routes, our daemon on both ends or against strongSwan.
#
# The daemon maps ethernet1/2 to `lo`, where netns.sh puts the protected LAN ends (10.1.0.1 and
# 10.2.0.1, and 10.1.1.1 / 10.2.1.1 for the second proxy ID), so pings between those addresses
# cross the tunnel: kernel route -> TUN -> our ESP -> veth -> the peer.

DAEMON_BIN="${DAEMON_BIN:-}"

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
    ${DAEMON_IFACE---interface ethernet1/2=lo} --log-level "${DAEMON_LOG:-debug}" "$@" >"$DIR/$name.log" 2>&1 9>&- &
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

# crypto_ticks NAME: the crypto threads of daemon NAME and the CPU time they used
# (clock ticks), as "THREADS TICKS".
crypto_ticks() {
  local pid
  pid="$(cat "$DIR/$1.daemon.pid")"
  cat /proc/"$pid"/task/*/stat 2>/dev/null |
    awk '$2 ~ /^\(crypto-/ { n++; t += $14 + $15 } END { print n + 0, t + 0 }'
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

# charon in SW_NS for the daemon's configurations: x25519 for IKE, AES-GCM-128 for ESP, the
# Child SA's selectors LOCAL_TS REMOTE_TS (charon's side).
daemon_charon() {
  swanctl_conf "$SW_IP" "$US_IP" aes256gcm16-prfsha256-curve25519 aes128gcm16 "$SW_ID" "$US_ID" \
    "$1" "$2" "$PSK" >"$DIR/sw/swanctl/swanctl.conf"
  start_charon "$DIR/sw" "$SW_NS"
}

# Traffic both ways between LAN ends, plain and 1400 bytes with don't-fragment.
daemon_traffic() { # daemon_traffic OUR_LAN_END THEIR_LAN_END
  ping_ok "$US_NS" "$1" "$2" || return 1
  ping_ok "$SW_NS" "$2" "$1" || return 1
  ping_ok "$US_NS" "$1" "$2" -M do -s 1372 || return 1
  ping_ok "$SW_NS" "$2" "$1" -M do -s 1372
}

# charon counts ESP both ways on its INSTALLED Child SA, with our SPIs.
daemon_charon_agrees() {
  local sw spi
  sw="$(sas_summary "$DIR/sw" "$SW_NS")"
  echo "sw: $sw" >>"$DIR/sas.txt"
  [ "$(word child "$sw")" = INSTALLED ] || { echo "charon has no INSTALLED Child SA: $sw"; return 1; }
  [ "$(word in_packets "$sw")" -gt 0 ] && [ "$(word out_packets "$sw")" -gt 0 ] ||
    { echo "charon counts no ESP both ways: $sw"; return 1; }
  spi="$(word in "$sw")"
  ctl a show vpn ipsec-sa | grep -qi " $spi " || { echo "charon's inbound SPI $spi is not our outbound"; return 1; }
}

# Our daemon initiates to charon: traffic through our TUN device and charon's kernel-libipsec.
scenario_daemon_us_init() {
  daemon_charon 10.2.0.0/24 10.1.0.0/24 || return 1
  daemon_start a "$US_NS" "$HERE/configs/daemon-a.toml" || return 1
  daemon_wait_children a 1 || return 1
  daemon_traffic 10.1.0.1 10.2.0.1 || return 1
  ctl a show vpn ipsec-sa | grep -q 'ESP-UDP/aes-128-gcm' || { echo "not ESP in UDP: $(ctl a show vpn ipsec-sa)"; return 1; }
  daemon_charon_agrees || return 1
  daemon_stop a "$US_NS" || return 1
  [ -z "$(sas_summary "$DIR/sw" "$SW_NS")" ] || { echo "charon still has the IKE SA after our shutdown"; return 1; }
}

# charon initiates to our passive daemon.
scenario_daemon_sw_init() {
  sed 's/^ike-crypto-profile = "ike"$/&\npassive-mode = true/' "$HERE/configs/daemon-a.toml" \
    >"$DIR/passive.toml"
  daemon_charon 10.2.0.0/24 10.1.0.0/24 || return 1
  daemon_start a "$US_NS" "$DIR/passive.toml" || return 1
  sw_in "$DIR/sw" "$SW_NS" swanctl --initiate --child net --timeout 15 >"$DIR/initiate.txt" 2>&1 ||
    { echo "swanctl --initiate failed: $(tail -1 "$DIR/initiate.txt")"; return 1; }
  daemon_wait_children a 1 || return 1
  ctl a show vpn ike-sa | grep -q ' Resp Established ' || { echo "not responder: $(ctl a show vpn ike-sa)"; return 1; }
  daemon_traffic 10.1.0.1 10.2.0.1 || return 1
  daemon_charon_agrees || return 1
  daemon_stop a "$US_NS"
}

# Two proxy IDs, two Child SAs, traffic on each, counted on each.
scenario_daemon_two_proxy_ids() {
  add_second_lan
  daemon_charon 10.2.0.0/24,10.2.1.0/24 10.1.0.0/24,10.1.1.0/24 || return 1
  daemon_start a "$US_NS" "$HERE/configs/daemon-two-lans.toml" || return 1
  daemon_wait_children a 2 || return 1
  daemon_traffic 10.1.0.1 10.2.0.1 || return 1
  daemon_traffic 10.1.1.1 10.2.1.1 || return 1
  local json
  json="$(ctl a --json show vpn ipsec-sa)"
  echo "$json" >"$DIR/ipsec-sa.json"
  [ "$(echo "$json" | grep -c '"packets_in": 12')" -eq 2 ] ||
    { echo "each Child SA should have 12 packets in: $(echo "$json" | grep -E '"(name|packets_in)"' | tr -d ' \n')"; return 1; }
  daemon_stop a "$US_NS"
}

# iperf3 (TCP) for 10 s through our daemon and charon, the ciphers on two crypto threads of ours.
scenario_daemon_iperf3() {
  daemon_charon 10.2.0.0/24 10.1.0.0/24 || return 1
  # Two crypto threads, whatever the machine's cores.
  daemon_start a "$US_NS" "$HERE/configs/daemon-a.toml" --crypto-threads 2 || return 1
  daemon_wait_children a 1 || return 1
  ip netns exec "$SW_NS" iperf3 -s -1 -B 10.2.0.1 >"$DIR/iperf3-server.txt" 2>&1 9>&- &
  sleep 0.3
  ip netns exec "$US_NS" iperf3 -c 10.2.0.1 -B 10.1.0.1 -t 10 -f m >"$DIR/iperf3.txt" 2>&1 9>&- ||
    { echo "iperf3 failed: $(tail -1 "$DIR/iperf3.txt")"; return 1; }
  local mbps
  mbps="$(awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") print $i }' "$DIR/iperf3.txt")"
  awk -v m="${mbps:-0}" 'BEGIN { exit !(m > 1) }' || { echo "iperf3 through the tunnel: ${mbps:-no} Mbit/s"; return 1; }
  echo "iperf3: $mbps Mbit/s" >"$DIR/mbps.txt"
  local threads ticks
  read -r threads ticks <<<"$(crypto_ticks a)"
  [ "$threads" = 2 ] && [ "$ticks" -gt 0 ] ||
    { echo "crypto threads: $threads, $ticks ticks of CPU (expected 2, busy)"; return 1; }
}

# missing_seqs N FILE: the icmp_seq numbers 1..N that ping's output FILE has no reply for.
missing_seqs() {
  awk -v n="$1" '{ for (i = 1; i <= NF; i++) if ($i ~ /^icmp_seq=/) { split($i, a, "="); got[a[2]] = 1 } }
    END { for (s = 1; s <= n; s++) if (!(s in got)) printf "%d ", s }' "$2"
}

# charon rekeys the Child SA under a 100-packet-per-second ping each way: no echo is lost, our
# daemon installs the new Child SA.
scenario_daemon_rekey_under_ping() {
  daemon_charon 10.2.0.0/24 10.1.0.0/24 || return 1
  daemon_start a "$US_NS" "$HERE/configs/daemon-a.toml" || return 1
  daemon_wait_children a 1 || return 1
  local old
  old="$(ctl a --json show vpn ipsec-sa | grep -m1 '"spi_in"')"
  # -w: ping waits for every reply (up to the deadline). With -c alone it waits only twice the
  # longest round trip seen (at least the interval, 10 ms) after its last request, and a reply
  # slower than that on a loaded machine counts as lost.
  ip netns exec "$US_NS" ping -c 400 -i 0.01 -w 12 -I 10.1.0.1 10.2.0.1 >"$DIR/ping-us.txt" 2>&1 9>&- &
  local ping_us=$!
  ip netns exec "$SW_NS" ping -c 400 -i 0.01 -w 12 -I 10.2.0.1 10.1.0.1 >"$DIR/ping-sw.txt" 2>&1 9>&- &
  local ping_sw=$!
  sleep 1
  sw_in "$DIR/sw" "$SW_NS" swanctl --rekey --child net >"$DIR/rekey.txt" 2>&1 ||
    { echo "swanctl --rekey failed: $(tail -1 "$DIR/rekey.txt")"; return 1; }
  local who rc
  for who in us sw; do
    rc=0
    if [ "$who" = us ]; then wait "$ping_us" || rc=$?; else wait "$ping_sw" || rc=$?; fi
    [ "$rc" -eq 0 ] && grep -q ' 0% packet loss' "$DIR/ping-$who.txt" ||
      { echo "echoes from $who lost across the rekey: $(grep -m1 'packet loss' "$DIR/ping-$who.txt"), missing icmp_seq: $(missing_seqs 400 "$DIR/ping-$who.txt")"; return 1; }
  done
  [ "$(grep -c 'phase-2 negotiation is succeeded' "$DIR/a.log")" -ge 2 ] ||
    { echo "our daemon logged no second Child SA"; return 1; }
  ctl a --json show vpn ipsec-sa | grep '"spi_in"' | grep -vq "$old" ||
    { echo "no Child SA with a new inbound SPI"; return 1; }
}

# Our daemon killed with SIGKILL: it can clean nothing up. The kernel takes its TUN device (and
# the routes through it) with its file descriptors; the next start must not trip over what is
# left (the control socket file, a route of ours on another device, charon's IKE SA) and must come
# up: the stale route flushed, a new IKE SA whose INITIAL_CONTACT makes charon drop the old one,
# traffic both ways.
scenario_daemon_kill9() {
  daemon_charon 10.2.0.0/24 10.1.0.0/24 || return 1
  daemon_start a "$US_NS" "$HERE/configs/daemon-a.toml" || return 1
  daemon_wait_children a 1 || return 1
  ping_ok "$US_NS" 10.1.0.1 10.2.0.1 || return 1
  local pid old
  old="$(sas_summary "$DIR/sw" "$SW_NS")"
  pid="$(cat "$DIR/a.daemon.pid")"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  [ -S "$DIR/a.sock" ] || { echo "no stale control socket left to test with"; return 1; }
  if ip netns exec "$US_NS" ip link show tunnel.1 >/dev/null 2>&1; then
    echo "TUN device tunnel.1 outlived the killed daemon"
    return 1
  fi
  # What a crash can leave: a route of ours (protocol 199) on a device that stays.
  ip netns exec "$US_NS" ip route add 10.99.0.0/24 dev lo proto 199
  daemon_start a "$US_NS" "$HERE/configs/daemon-a.toml" || return 1
  daemon_wait_children a 1 || return 1
  grep -q 'removed 1 routes left by an earlier run' "$DIR/a.log" ||
    { echo "the restarted daemon did not report the stale route"; return 1; }
  [ -z "$(ip netns exec "$US_NS" ip route show 10.99.0.0/24)" ] ||
    { echo "the stale route 10.99.0.0/24 is still there"; return 1; }
  daemon_traffic 10.1.0.1 10.2.0.1 || return 1
  local sw
  sw="$(sw_in "$DIR/sw" "$SW_NS" swanctl --list-sas 2>/dev/null | grep -c '^gw: #')"
  [ "$sw" -eq 1 ] || { echo "charon has $sw IKE SAs after our restart (INITIAL_CONTACT should leave one)"; return 1; }
  [ "$(word ike_spi_i "$(sas_summary "$DIR/sw" "$SW_NS")")" != "$(word ike_spi_i "$old")" ] ||
    { echo "charon still has the IKE SA of the killed daemon"; return 1; }
  daemon_charon_agrees || return 1
  daemon_stop a "$US_NS"
}

# charon for the NAT network (netns.sh NAT=1): it is 198.51.100.2 and sees us only through the
# NAPT; no forced encapsulation, so both sides must detect the NAT themselves.
daemon_charon_nat() {
  swanctl_conf 198.51.100.2 %any aes256gcm16-prfsha256-curve25519 aes128gcm16 "$SW_ID" "$US_ID" \
    10.2.0.0/24 10.1.0.0/24 "$PSK" no >"$DIR/sw/swanctl/swanctl.conf"
  start_charon "$DIR/sw" "$SW_NS"
}

# Our daemon behind a masquerading NAT (UDP source ports remapped): NAT detected on both sides,
# IKE and ESP move to UDP 4500 (ESP in UDP, RFC 3948), traffic flows both ways, and our daemon
# sends NAT-keepalives (one 0xFF byte, every 10 s here), counted as they cross the NAT.
scenario_daemon_nat() {
  sed -e 's/^peer-address = { ip = "192.0.2.2" }$/peer-address = { ip = "198.51.100.2" }/' \
    -e 's/keep-alive-interval = 20/keep-alive-interval = 10/' \
    "$HERE/configs/daemon-a.toml" >"$DIR/nat.toml"
  grep -q '198.51.100.2' "$DIR/nat.toml" || { echo "nat.toml: peer address not replaced"; return 1; }
  ip netns exec "$NAT_NS" nft -f - <<'NFT' || { echo "nft: cannot count keepalives in the NAT"; return 1; }
table inet count {
  chain keepalives {
    type filter hook forward priority 0; policy accept;
    iifname "veth-in" udp dport 4500 udp length 9 @th,64,8 0xff counter
  }
}
NFT
  daemon_charon_nat || return 1
  daemon_start a "$US_NS" "$DIR/nat.toml" || return 1
  daemon_wait_children a 1 || return 1
  daemon_traffic 10.1.0.1 10.2.0.1 || return 1
  grep -q 'NAT detected' "$DIR/a.log" || { echo "our daemon did not detect the NAT"; return 1; }
  grep -q 'remote host is behind NAT' "$DIR/sw/charon.log" || { echo "charon did not detect the NAT"; return 1; }
  ctl a show vpn ipsec-sa | grep -q 'ESP-UDP/aes-128-gcm' || { echo "not ESP in UDP: $(ctl a show vpn ipsec-sa)"; return 1; }
  local sw
  sw="$(sas_summary "$DIR/sw" "$SW_NS")"
  case "$(word ike_remote "$sw")" in
    198.51.100.254\[4500\] | 198.51.100.254\[500\]) echo "charon sees our ports untranslated: $(word ike_remote "$sw")"; return 1 ;;
    198.51.100.254\[*) ;;
    *) echo "charon does not see us at the NAT's address: $(word ike_remote "$sw")"; return 1 ;;
  esac
  daemon_charon_agrees || return 1
  # The first keepalive is due 10 s after the IKE SA came up.
  local i n=0
  for i in $(seq 1 120); do
    n="$(ip netns exec "$NAT_NS" nft list table inet count | awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }')"
    [ "${n:-0}" -ge 1 ] && break
    sleep 0.1
  done
  [ "${n:-0}" -ge 1 ] || { echo "no NAT-keepalive from our daemon crossed the NAT in 12 s"; return 1; }
  ping_ok "$SW_NS" 10.2.0.1 10.1.0.1 || return 1
  daemon_stop a "$US_NS"
}

# Our daemon on both ends, ESP in UDP, a bulk TCP stream both ways: the batched datapath's
# UDP GSO runs on one side arrive as UDP GRO runs on the other (veth keeps them whole), each
# cut back into datagrams at the segment size; none may fail its ICV. One end runs its ciphers
# on a crypto thread, the other on its datapath's thread.
scenario_daemon_both_ends_udp_iperf3() {
  daemon_start b "$SW_NS" "$HERE/configs/daemon-b.toml" --encapsulate --crypto-threads 1 || return 1
  daemon_start a "$US_NS" "$HERE/configs/daemon-a.toml" --encapsulate --crypto-threads 0 || return 1
  daemon_wait_children a 1 || return 1
  ip netns exec "$SW_NS" iperf3 -s -1 -B 10.2.0.1 >"$DIR/iperf3-server.txt" 2>&1 9>&- &
  sleep 0.3
  ip netns exec "$US_NS" iperf3 -c 10.2.0.1 -B 10.1.0.1 -t 3 -f m --bidir >"$DIR/iperf3.txt" 2>&1 9>&- ||
    { echo "iperf3 failed: $(tail -1 "$DIR/iperf3.txt")"; return 1; }
  local side bad
  for side in a b; do
    ctl "$side" show counter global >"$DIR/counters-$side.txt"
    bad="$(awk '$1 == "esp_drop_icv_failure" || $1 == "flow_tunnel_decap_err" { print $1 "=" $2 }' "$DIR/counters-$side.txt")"
    [ -z "$bad" ] || { echo "daemon $side: $bad"; return 1; }
  done
  # Both directions carried the stream (receiver lines, Mbit/s).
  awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec" && $i > 10) n++ } END { exit n < 2 }' \
    "$DIR/iperf3.txt" || { echo "iperf3 through the tunnel: $(grep receiver "$DIR/iperf3.txt")"; return 1; }
  local threads ticks
  read -r threads ticks <<<"$(crypto_ticks b)"
  [ "$threads" = 1 ] && [ "$ticks" -gt 0 ] ||
    { echo "daemon b's crypto threads: $threads, $ticks ticks of CPU (expected 1, busy)"; return 1; }
  read -r threads ticks <<<"$(crypto_ticks a)"
  [ "$threads" = 0 ] || { echo "daemon a has $threads crypto threads, expected none"; return 1; }
}

# `reload` while a 100-packet-per-second ping crosses the tunnel: the unchanged tunnel keeps its
# SPIs (ours and charon's) and loses no echo; SIGHUP reloads the same way. A configuration that does not validate is refused
# (exit 2, every error listed) and changes nothing. A second IPsec tunnel on its own tunnel
# interface comes up after `reload` beside the first (its TUN device and kernel route created,
# traffic both ways) and goes with the next one (charon told, device and route removed), the
# first tunnel's Child SA untouched throughout. Last, the tunnel's IPsec crypto profile changes:
# its Child SA is replaced on the same IKE SA.
scenario_daemon_reload() {
  add_second_lan
  daemon_charon 10.2.0.0/24,10.2.1.0/24 10.1.0.0/24,10.1.1.0/24 || return 1
  local cfg="$DIR/reload.toml"
  cp "$HERE/configs/daemon-a.toml" "$cfg"
  daemon_start a "$US_NS" "$cfg" || return 1
  daemon_wait_children a 1 || return 1
  local ours theirs rc
  ours="$(ctl a --json show vpn ipsec-sa | grep -E '"spi_(in|out)"' | tr -d ' \n')"
  theirs="$(word in "$(sas_summary "$DIR/sw" "$SW_NS")")"
  [ -n "$ours" ] && [ -n "$theirs" ] || { echo "no SPIs to compare: ours '$ours', charon's '$theirs'"; return 1; }
  same_sa() { # the first tunnel's Child SA is the one from the start, on both sides
    ctl a --json show vpn ipsec-sa | grep -E '"spi_(in|out)"' | tr -d ' \n' | grep -qF "$ours" ||
      { echo "$1: our Child SA changed: $(ctl a --json show vpn ipsec-sa | grep -E '"spi_(in|out)"' | tr -d ' \n'), was $ours"; return 1; }
    sw_in "$DIR/sw" "$SW_NS" swanctl --list-sas 2>/dev/null | grep -q "$theirs" ||
      { echo "$1: charon no longer has Child SA $theirs"; return 1; }
  }

  # 1. The same configuration (the file touched): nothing changes, no echo is lost.
  ip netns exec "$US_NS" ping -c 300 -i 0.01 -w 10 -I 10.1.0.1 10.2.0.1 >"$DIR/ping-us.txt" 2>&1 9>&- &
  local ping_us=$!
  sleep 1
  echo "# reloaded unchanged" >>"$cfg"
  ctl a reload >"$DIR/reload-1.txt" 2>&1 ||
    { echo "reload of the unchanged configuration failed: $(tail -1 "$DIR/reload-1.txt")"; return 1; }
  grep -q 'committed successfully' "$DIR/reload-1.txt" &&
    grep -q '^ipsec-tunnel: 1 unchanged, 0 changed, 0 added, 0 removed' "$DIR/reload-1.txt" ||
    { echo "reload said: $(tr '\n' '|' <"$DIR/reload-1.txt")"; return 1; }
  rc=0
  wait "$ping_us" || rc=$?
  [ "$rc" -eq 0 ] && grep -q ' 0% packet loss' "$DIR/ping-us.txt" ||
    { echo "echoes lost across reload: $(grep -m1 'packet loss' "$DIR/ping-us.txt"), missing icmp_seq: $(missing_seqs 300 "$DIR/ping-us.txt")"; return 1; }
  same_sa "unchanged reload" || return 1
  # SIGHUP does the same.
  kill -HUP "$(cat "$DIR/a.daemon.pid")"
  local i
  for i in $(seq 1 50); do
    [ "$(grep -c 'commit: Configuration .* committed successfully' "$DIR/a.log")" -ge 2 ] && break
    sleep 0.1
  done
  [ "$(grep -c 'commit: Configuration .* committed successfully' "$DIR/a.log")" -ge 2 ] ||
    { echo "SIGHUP did not reload: $(tail -1 "$DIR/a.log")"; return 1; }
  same_sa "reload by SIGHUP" || return 1

  # 2. Two mistakes: refused with both listed, exit 2; the old configuration runs on.
  sed -e 's/^ike-gateway = "gw-b"$/ike-gateway = "gw-nowhere"/' -e 's/^mtu = 1400$/mtu = 99/' \
    "$HERE/configs/daemon-a.toml" >"$cfg"
  rc=0
  ctl a reload >"$DIR/reload-2.txt" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || { echo "reload of an invalid configuration exited $rc: $(tr '\n' '|' <"$DIR/reload-2.txt")"; return 1; }
  grep -q 'gw-nowhere' "$DIR/reload-2.txt" && grep -q 'mtu' "$DIR/reload-2.txt" ||
    { echo "reload did not list both errors: $(tr '\n' '|' <"$DIR/reload-2.txt")"; return 1; }
  grep -q 'configuration is unchanged' "$DIR/reload-2.txt" || { echo "reload: $(tail -1 "$DIR/reload-2.txt")"; return 1; }
  ping_ok "$US_NS" 10.1.0.1 10.2.0.1 || return 1
  same_sa "refused reload" || return 1

  # 3. A second tunnel on tunnel.2: created, routed, negotiated; the first left alone.
  cp "$HERE/configs/daemon-a-two-tunnels.toml" "$cfg"
  ctl a reload >"$DIR/reload-3.txt" 2>&1 || { echo "reload adding a tunnel failed: $(tail -1 "$DIR/reload-3.txt")"; return 1; }
  grep -q '^ipsec-tunnel: 1 unchanged, 0 changed, 1 added, 0 removed (added to-b-2)' "$DIR/reload-3.txt" ||
    { echo "reload said: $(tr '\n' '|' <"$DIR/reload-3.txt")"; return 1; }
  daemon_wait_children a 2 || return 1
  ip netns exec "$US_NS" ip link show tunnel.2 >/dev/null 2>&1 || { echo "no TUN device tunnel.2 after reload"; return 1; }
  ip netns exec "$US_NS" ip route show proto 199 | grep -q '^10.2.1.0/24 dev tunnel.2' ||
    { echo "no kernel route to 10.2.1.0/24 via tunnel.2: $(ip netns exec "$US_NS" ip route show proto 199 | tr '\n' '|')"; return 1; }
  daemon_traffic 10.1.1.1 10.2.1.1 || return 1
  ping_ok "$US_NS" 10.1.0.1 10.2.0.1 || return 1
  same_sa "reload adding a tunnel" || return 1

  # 4. Back to one tunnel: the second is deleted (charon told), its device and route go.
  cp "$HERE/configs/daemon-a.toml" "$cfg"
  ctl a reload >"$DIR/reload-4.txt" 2>&1 || { echo "reload removing a tunnel failed: $(tail -1 "$DIR/reload-4.txt")"; return 1; }
  grep -q '^ipsec-tunnel: 1 unchanged, 0 changed, 0 added, 1 removed (removed to-b-2)' "$DIR/reload-4.txt" ||
    { echo "reload said: $(tr '\n' '|' <"$DIR/reload-4.txt")"; return 1; }
  for i in $(seq 1 50); do
    grep -q 'received DELETE for ESP CHILD_SA' "$DIR/sw/charon.log" && break
    sleep 0.1
  done
  grep -q 'received DELETE for ESP CHILD_SA' "$DIR/sw/charon.log" || { echo "charon was not told of the removed tunnel"; return 1; }
  ! ip netns exec "$US_NS" ip link show tunnel.2 >/dev/null 2>&1 || { echo "TUN device tunnel.2 outlived its removal"; return 1; }
  [ -z "$(ip netns exec "$US_NS" ip route show 10.2.1.0/24)" ] || { echo "the route to 10.2.1.0/24 outlived its removal"; return 1; }
  ping_ok "$US_NS" 10.1.0.1 10.2.0.1 || return 1
  same_sa "reload removing a tunnel" || return 1

  # 5. The tunnel's IPsec crypto profile changes (its lifetime): its Child SA is deleted and
  # negotiated again on the same IKE SA, with new SPIs.
  local ike
  ike="$(word ike_spi_i "$(sas_summary "$DIR/sw" "$SW_NS")")"
  sed 's/^lifetime = { hours = 1 }$/lifetime = { hours = 2 }/' "$HERE/configs/daemon-a.toml" >"$cfg"
  grep -q 'hours = 2' "$cfg" || { echo "the IPsec lifetime was not changed"; return 1; }
  ctl a reload >"$DIR/reload-5.txt" 2>&1 || { echo "reload changing the tunnel failed: $(tail -1 "$DIR/reload-5.txt")"; return 1; }
  grep -q '^ike-gateway: 1 unchanged' "$DIR/reload-5.txt" &&
    grep -q '^ipsec-tunnel: 0 unchanged, 1 changed, 0 added, 0 removed (changed to-b)' "$DIR/reload-5.txt" ||
    { echo "reload said: $(tr '\n' '|' <"$DIR/reload-5.txt")"; return 1; }
  for i in $(seq 1 50); do
    ctl a --json show vpn ipsec-sa | grep -E '"spi_(in|out)"' | tr -d ' \n' | grep -qF "$ours" || break
    sleep 0.1
  done
  daemon_wait_children a 1 || return 1
  ! ctl a --json show vpn ipsec-sa | grep -E '"spi_(in|out)"' | tr -d ' \n' | grep -qF "$ours" ||
    { echo "the changed tunnel kept its Child SA"; return 1; }
  daemon_traffic 10.1.0.1 10.2.0.1 || return 1
  [ "$(word ike_spi_i "$(sas_summary "$DIR/sw" "$SW_NS")")" = "$ike" ] ||
    { echo "the IKE SA changed with the tunnel"; return 1; }
  daemon_charon_agrees || return 1
  grep -q 'commit: Configuration .* committed successfully' "$DIR/a.log" || { echo "no commit line in the daemon's log"; return 1; }
  daemon_stop a "$US_NS"
}

DAEMON_SCENARIOS=(
  daemon-both-ends daemon-us-init daemon-sw-init daemon-two-proxy-ids daemon-iperf3
  daemon-rekey-under-ping daemon-kill9 daemon-nat daemon-both-ends-udp-iperf3 daemon-reload
)
