# Rekey collisions against strongSwan, sourced by run.sh: both peers ask for a rekey while one
# side's IKE packets are held back by nftables, so that the two CREATE_CHILD_SA requests cross
# (RFC 7296 sections 2.8.1 and 2.8.2; 2.25 for an IKE rekey crossing a Child SA rekey), and the
# case of our CREATE_CHILD_SA response lost once. ike-peer sends 100 echo requests per second
# through the Child SA the whole time; charon's kernel answers them, so ESP flows both ways.
#
# Each scenario asserts: at the end both sides have exactly one IKE SA and one Child SA pair,
# with the same SPIs (our events against `swanctl --list-sas`); the rekeys happened (new SPIs);
# and no echo was lost: only IKE packets are held, never ESP.

# How long ike-peer serves (COLLIDE_SECS, seconds) and its echo requests, 10 ms apart: they end
# about 3 s before ike-peer does, so every reply is in (or counted lost) by then. The mixed
# cases run longer: the side refused with TEMPORARY_FAILURE retries its Child SA rekey after
# 5-15 s (charon) or sends it on the new IKE SA, which the peer may not know yet (ours: then the
# next retransmission, 11 s after the first, gets through).
COLLIDE_SECS=13
collide_pings() { echo $(((COLLIDE_SECS - 4) * 100)); }
# How long the held side's IKE packets are dropped: longer than the first retransmission of
# charon (2 s here, strongswan.sh) and shorter than ours (4 s): both requests cross, and both get
# through once the hold ends.
COLLIDE_HOLD="${COLLIDE_HOLD:-3}"

# An IKE message over UDP 4500 starts with the non-ESP marker (four zero bytes, RFC 3948
# section 2.2) where ESP has its SPI. nft matches on the UDP payload: @th,64,32 is the marker;
# the IKE header follows, its exchange type at byte 18 (@th,240,8) and flags at byte 19.
NFT_IKE='udp dport 4500 @th,64,32 0'
NFT_CREATE_CHILD_RESPONSE='udp sport 4500 @th,64,32 0 @th,240,8 36 @th,248,8 & 0x20 == 0x20'

# The messages are dropped where they arrive (the other namespace's input hook), so the sender
# sees nothing: its send succeeds, the datagram is lost on the way.
# hold SIDE (us|sw): drop every IKE message SIDE sends (ESP still flows); unhold SIDE ends it.
hold_ns() { if [ "$1" = us ]; then echo "$SW_NS"; else echo "$US_NS"; fi; }
hold_from() { if [ "$1" = us ]; then echo "$US_IP"; else echo "$SW_IP"; fi; }
hold() {
  ip netns exec "$(hold_ns "$1")" nft -f - <<NFT
table inet ikehold {
  chain in {
    type filter hook input priority 0; policy accept;
    ip saddr $(hold_from "$1") $NFT_IKE counter drop
  }
}
NFT
}
unhold() { ip netns exec "$(hold_ns "$1")" nft delete table inet ikehold; }
# held SIDE: how many of SIDE's IKE messages were dropped.
held() {
  ip netns exec "$(hold_ns "$1")" nft list table inet ikehold 2>/dev/null |
    awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}

# drop_one_answer SIDE: drop the first CREATE_CHILD_SA response SIDE sends; its retransmitted
# answers pass (a dynamic set remembers that one was dropped).
drop_one_answer() {
  ip netns exec "$(hold_ns "$1")" nft -f - <<NFT
table inet ikehold {
  set answered { type ipv4_addr; flags dynamic; }
  chain in {
    type filter hook input priority 0; policy accept;
    ip saddr $(hold_from "$1") $NFT_CREATE_CHILD_RESPONSE ip saddr @answered accept
    ip saddr $(hold_from "$1") $NFT_CREATE_CHILD_RESPONSE add @answered { ip saddr } counter drop
  }
}
NFT
}

# The SAs charon lists, one line each: `ike SPI_I SPI_R STATE` and `child STATE SPI_IN SPI_OUT`.
sw_sas() {
  sw_in "$DIR/sw" "$SW_NS" swanctl --list-sas 2>/dev/null | awk '
    /^[^ ].*: #[0-9]+, / { i = ""; r = ""
                           for (k = 1; k <= NF; k++) {
                             if ($k ~ /_i\*?$/) { i = $k; sub(/_i\*?$/, "", i) }
                             if ($k ~ /_r\*?$/) { r = $k; sub(/_r\*?$/, "", r) } }
                           st = $3; sub(/,$/, "", st); print "ike", i, r, st; next }
    /^  [^ ].*: #[0-9]+, reqid/ { st = $5; sub(/,$/, "", st); child = st; next }
    child != "" && $1 == "in" { in_spi = $2; sub(/,$/, "", in_spi); next }
    child != "" && $1 == "out" { out_spi = $2; sub(/,$/, "", out_spi)
                                 print "child", child, in_spi, out_spi; child = ""; next }'
}

# Our SAs as the endpoint shows them when ike-peer ends (its `SA ...` lines), the same way.
our_sas() {
  awk '
    function w(k,   i) { for (i = 3; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2) }
    $1 == "SA" && $2 == "ike" { print "ike", w("spi_i"), w("spi_r"), (w("established") == "true" ? "ESTABLISHED" : "CONNECTING") }
    $1 == "SA" && $2 == "child" { print "child", "INSTALLED", w("spi_in"), w("spi_out") }' "$DIR/peer.out" | sort
}
# The Child SAs our events leave installed (installed and not deleted), as `SPI_IN SPI_OUT`.
event_children() {
  awk '
    function w(k,   i) { for (i = 3; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2) }
    $1 == "EVENT" && $2 == "child-sa-installed" { child[w("spi_in")] = w("spi_out") }
    $1 == "EVENT" && $2 == "child-sa-deleted" { delete child[w("spi_in")] }
    END { for (k in child) print k, child[k] }' "$DIR/peer.out" | sort
}
# The first IKE SA's SPIs and the first Child SA's inbound SPI, from the events.
first_ike() { grep -m1 '^EVENT ike-sa-up ' "$DIR/peer.out" | tr ' ' '\n' | sed -n 's/^spi_[ir]=//p' | paste -sd' '; }
first_child() { grep -m1 '^EVENT child-sa-installed ' "$DIR/peer.out" | tr ' ' '\n' | sed -n 's/^spi_in=//p'; }

# Both sides end with one IKE SA and one Child SA pair, the same SPIs; our events agree with
# what the endpoint shows. charon's list is read
# until it settles (a rekeyed SA it still deletes), at most 3 s.
check_one_pair() {
  local sw ours i
  for i in $(seq 1 30); do
    sw="$(sw_sas | sort)"
    [ "$(echo "$sw" | grep -c '^ike ')" -eq 1 ] && [ "$(echo "$sw" | grep -c '^child ')" -eq 1 ] && break
    sleep 0.1
  done
  ours="$(our_sas)"
  printf 'sw:\n%s\nours:\n%s\n' "$sw" "$ours" >"$DIR/sas.txt"
  [ "$(echo "$sw" | grep -c '^ike ')" -eq 1 ] ||
    { echo "charon has $(echo "$sw" | grep -c '^ike ') IKE SAs: $(echo "$sw" | tr '\n' ';')"; return 1; }
  [ "$(echo "$sw" | grep -c '^child INSTALLED ')" -eq 1 ] && [ "$(echo "$sw" | grep -c '^child ')" -eq 1 ] ||
    { echo "charon has Child SAs $(echo "$sw" | grep '^child ' | tr '\n' ';') (one INSTALLED expected)"; return 1; }
  # Crossing IKE rekeys (RFC 7296 section 2.8.2) leave the redundant SA that the peer's exchange
  # made with us until the peer deletes it or, when the peer never completed that exchange
  # (charon gives up its own rekey when our Delete of the old SA comes first), until the
  # half-open timeout: not established, no Child SAs (`SA ike ... established=false
  # children=0`). strongSwan keeps such an SA the same way when it wins a collision.
  if echo "$ours" | grep '^ike ' | grep -vq ' ESTABLISHED$'; then
    grep '^SA ike .* established=false' "$DIR/peer.out" | grep -vq ' children=0$' &&
      { echo "an IKE SA being set up holds Child SAs: $(grep '^SA ike ' "$DIR/peer.out" | tr '\n' ';')"; return 1; }
    echo "$ours" | grep '^ike ' | grep -v ' ESTABLISHED$' >"$DIR/redundant.txt"
    ours="$(echo "$ours" | grep -v '^ike .* CONNECTING$')"
  fi
  [ "$(echo "$ours" | grep -c '^ike ')" -eq 1 ] ||
    { echo "we have $(echo "$ours" | grep -c '^ike ') IKE SAs: $(echo "$ours" | tr '\n' ';')"; return 1; }
  [ "$(echo "$ours" | grep -c '^child ')" -eq 1 ] ||
    { echo "we have $(echo "$ours" | grep -c '^child ') Child SAs: $(echo "$ours" | tr '\n' ';')"; return 1; }
  local s_ike o_ike s_child o_child
  s_ike="$(echo "$sw" | grep '^ike ' | cut -d' ' -f2-3)"
  o_ike="$(echo "$ours" | grep '^ike ' | cut -d' ' -f2-3)"
  [ "$s_ike" = "$o_ike" ] || { echo "IKE SPIs disagree: charon $s_ike, ours $o_ike"; return 1; }
  # charon's inbound is our outbound.
  s_child="$(echo "$sw" | grep '^child ' | awk '{ print $4, $3 }')"
  o_child="$(echo "$ours" | grep '^child ' | cut -d' ' -f3-4)"
  [ "$s_child" = "$o_child" ] || { echo "Child SA SPIs disagree: charon out/in $s_child, ours in/out $o_child"; return 1; }
  [ "$(event_children)" = "$o_child" ] ||
    { echo "our events leave Child SAs $(event_children | tr '\n' ';') installed, the endpoint shows $o_child"; return 1; }
  echo "$s_ike" >"$DIR/final-ike.txt"
  echo "$o_child" >"$DIR/final-child.txt"
}

# Every echo request answered: only IKE was held.
check_no_loss() {
  local stats
  stats="$(grep '^STATS ' "$DIR/peer.out" || true)"
  [ -n "$stats" ] || { echo "ike-peer printed no STATS"; return 1; }
  echo "$stats" >"$DIR/stats.txt"
  [ "$(word pings_sent "$stats")" -eq "$(collide_pings)" ] ||
    { echo "only $(word pings_sent "$stats") of $(collide_pings) echo requests sent: $stats"; return 1; }
  [ "$(word echo_lost "$stats")" -eq 0 ] && [ "$(word echo_in_flight "$stats")" -eq 0 ] &&
    [ "$(word echo_replies "$stats")" -eq "$(collide_pings)" ] ||
    { echo "echoes lost: $(word echo_lost "$stats") lost, $(word echo_in_flight "$stats") unanswered of $(word pings_sent "$stats"): $stats"; return 1; }
}

# ike-peer with the tunnel up and the echo requests flowing; commands go to fd 7.
collide_peer() {
  mkfifo "$DIR/commands"
  exec 7<>"$DIR/commands"
  # Started here rather than by peer_bg: a background command's standard input is /dev/null
  # unless redirected on the command itself.
  ip netns exec "$US_NS" "$IKE_PEER" --config "$HERE/configs/x25519.toml" --initiate to-strongswan \
    --ping "$US_INNER,$SW_INNER" --ping-interval 10ms --ping-count "$(collide_pings)" \
    --until never --timeout "${COLLIDE_SECS}s" --commands \
    <"$DIR/commands" >"$DIR/peer.out" 2>"$DIR/peer.err" 9>&- &
  echo $! >"$DIR/peer.pid"
  local i
  for i in $(seq 1 50); do
    grep -q '^EVENT esp-echo-reply ' "$DIR/peer.out" && return 0
    sleep 0.1
  done
  echo "no echo reply through the first Child SA: $(tail -1 "$DIR/peer.err")"
  return 1
}

# Our rekey command (child|ike) to ike-peer; charon's (child|ike) with swanctl, in the background
# (it returns when charon's exchange ends, which the hold delays).
us_rekey() { echo "rekey-$1" >&7; }
sw_rekey() {
  local flag=--child target=net
  [ "$1" = ike ] && flag=--ike target=gw
  sw_in "$DIR/sw" "$SW_NS" swanctl --rekey "$flag" "$target" >"$DIR/sw-rekey.txt" 2>&1 &
}

# collide US SW HOLD [PATTERN]: we rekey US (child|ike), charon rekeys SW, while the side HOLD
# (us|sw) cannot send IKE; HOLD asks first, the other side while its request is still held.
# PATTERN (grep -E) must be in charon's log: how it saw the collision.
collide() {
  local us="$1" sw="$2" side="$3" pattern="${4:-}"
  sw_setup x25519 "$PSK" || return 1
  collide_peer || return 1
  local first_ike first_child
  first_ike="$(first_ike)"
  first_child="$(first_child)"
  hold "$side" || { echo "nft: cannot hold $side's IKE packets"; return 1; }
  if [ "$side" = us ]; then
    us_rekey "$us"
    sleep 0.2
    sw_rekey "$sw"
  else
    sw_rekey "$sw"
    sleep 0.2
    us_rekey "$us"
  fi
  sleep "$COLLIDE_HOLD"
  echo "$side held $(held "$side") IKE messages" >"$DIR/held.txt"
  unhold "$side" || { echo "nft: cannot end the hold"; return 1; }
  peer_wait || { echo "ike-peer failed: $(tail -1 "$DIR/peer.err")"; return 1; }
  [ "$(awk '{ print $3 }' "$DIR/held.txt")" -ge 2 ] ||
    { echo "the hold dropped fewer than two IKE messages: $(cat "$DIR/held.txt")"; return 1; }
  grep -q "^CMD rekey-$us ok" "$DIR/peer.out" || { echo "our rekey-$us was refused: $(grep '^CMD' "$DIR/peer.out")"; return 1; }
  if [ -n "$pattern" ] && ! grep -Eq "$pattern" "$DIR/sw/charon.log"; then
    echo "charon's log does not show the collision ('$pattern')"
    return 1
  fi
  check_one_pair || return 1
  # New SPIs for what was rekeyed: the Child SA when either side rekeyed it (an IKE rekey
  # alone keeps it), the IKE SA likewise.
  if [ "$us" = child ] || [ "$sw" = child ]; then
    [ "$(cut -d' ' -f1 "$DIR/final-child.txt")" != "$first_child" ] ||
      { echo "the Child SA was not rekeyed (still $first_child)"; return 1; }
  fi
  if [ "$us" = ike ] || [ "$sw" = ike ]; then
    [ "$(cat "$DIR/final-ike.txt")" != "$first_ike" ] ||
      { echo "the IKE SA was not rekeyed (still $first_ike)"; return 1; }
  fi
  check_no_loss
}
scenario_collide_child_child() { collide child child us 'detected CHILD_REKEY collision with CHILD_REKEY'; }
scenario_collide_ike_ike() { collide ike ike us 'detected IKE_REKEY collision with IKE_REKEY'; }
# The same with charon's IKE messages held: charon asks first and we see the collision first.
scenario_collide_child_child_sw() { collide child child sw 'detected CHILD_REKEY collision with CHILD_REKEY'; }
scenario_collide_ike_ike_sw() { collide ike ike sw 'detected IKE_REKEY collision with IKE_REKEY'; }
# Our IKE rekey crosses charon's Child SA rekey: each refuses the other's with TEMPORARY_FAILURE
# (RFC 7296 section 2.25) and retries.
scenario_collide_ike_child() { COLLIDE_SECS=26 collide ike child us 'TEMP_FAIL'; }
# Our Child SA rekey crosses charon's IKE rekey: ours moves to the new IKE SA.
scenario_collide_child_ike() { COLLIDE_SECS=26 collide child ike us; }

# charon rekeys the Child SA; our CREATE_CHILD_SA response is lost once and charon retransmits
# its request 2 s later. Meanwhile we receive on the new SA but keep sending on the old one.
scenario_collide_lost_answer() {
  sw_setup x25519 "$PSK" || return 1
  collide_peer || return 1
  local first_child
  first_child="$(first_child)"
  drop_one_answer us || { echo "nft: cannot drop our answer"; return 1; }
  sw_rekey child
  peer_wait || { echo "ike-peer failed: $(tail -1 "$DIR/peer.err")"; return 1; }
  local dropped
  dropped="$(held us)"
  echo "us: $dropped CREATE_CHILD_SA responses dropped" >"$DIR/held.txt"
  [ "$dropped" -eq 1 ] || { echo "$dropped of our CREATE_CHILD_SA responses dropped, expected 1"; return 1; }
  grep -Eq 'retransmit 1 of request' "$DIR/sw/charon.log" || { echo "charon did not retransmit its request"; return 1; }
  check_one_pair || return 1
  [ "$(cut -d' ' -f1 "$DIR/final-child.txt")" != "$first_child" ] ||
    { echo "the Child SA was not rekeyed (still $first_child)"; return 1; }
  check_no_loss
}

COLLIDE_SCENARIOS=(
  collide-child-child collide-ike-ike collide-child-child-sw collide-ike-ike-sw collide-ike-child
  collide-child-ike collide-lost-answer
)
SCENARIO_LIMIT[collide-ike-child]=45
SCENARIO_LIMIT[collide-child-ike]=45
