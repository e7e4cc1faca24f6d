#!/usr/bin/env bash
# The interop test network: two network namespaces joined by a veth pair.
#
#   US (our endpoint)                       SW (strongSwan)
#   192.0.2.1/24 veth-us <==== veth ====> veth-sw 192.0.2.2/24
#   2001:db8:1::1/64                        2001:db8:1::2/64
#   10.1.0.1/32, fd00:1::1/128 on lo       10.2.0.1/32, fd00:2::1/128 on lo
#   (protected LAN ends; charon needs an address inside its local selector to route through TUN)
#
# The inner addresses live on `lo` because the test machines' kernels have no `dummy` links.
#
# With NAT=1 a third namespace translates between the two (nftables masquerade, UDP source ports
# remapped into 20000-29999, as a home router's NAPT would), and strongSwan's side moves:
#
#   US 192.0.2.1/24 --- 192.0.2.254 [NAT_NS] 198.51.100.254 --- 198.51.100.2/24 SW
#
# SW has no route back to 192.0.2.0/24: only translated traffic reaches US.
#
#   netns.sh up      create (idempotent: an existing, complete network is kept)
#   netns.sh down    delete the namespaces (processes inside must be stopped first)
#   netns.sh show    addresses and routes
#
# Environment (defaults): NAT=0 US_NS=ipsec-us SW_NS=ipsec-sw NAT_NS=ipsec-nat
#                         US_IP=192.0.2.1 SW_IP=192.0.2.2 (198.51.100.2 with NAT=1)
#                         US_IP6=2001:db8:1::1 SW_IP6=2001:db8:1::2
#                         US_INNER=10.1.0.1 SW_INNER=10.2.0.1 US_INNER6=fd00:1::1 SW_INNER6=fd00:2::1
set -euo pipefail

NAT="${NAT:-0}"
US_NS="${US_NS:-ipsec-us}"
SW_NS="${SW_NS:-ipsec-sw}"
NAT_NS="${NAT_NS:-ipsec-nat}"
US_IP="${US_IP:-192.0.2.1}"
SW_IP="${SW_IP:-192.0.2.2}"
US_IP6="${US_IP6:-2001:db8:1::1}"
SW_IP6="${SW_IP6:-2001:db8:1::2}"
US_INNER="${US_INNER:-10.1.0.1}"
SW_INNER="${SW_INNER:-10.2.0.1}"
US_INNER6="${US_INNER6:-fd00:1::1}"
SW_INNER6="${SW_INNER6:-fd00:2::1}"

nsx() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }
ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

complete() {
  [ "$NAT" != 1 ] && ns_exists "$US_NS" && ns_exists "$SW_NS" && ! ns_exists "$NAT_NS" &&
    nsx "$US_NS" ip -br addr show dev veth-us 2>/dev/null | grep -q "$US_IP/" &&
    nsx "$SW_NS" ip -br addr show dev veth-sw 2>/dev/null | grep -q "$SW_IP/"
}

up() {
  if complete; then
    echo "netns: $US_NS and $SW_NS already up"
    return 0
  fi
  down >/dev/null
  if [ "$NAT" = 1 ]; then
    up_nat
    return
  fi
  ip netns add "$US_NS"
  ip netns add "$SW_NS"
  nsx "$US_NS" ip link set lo up
  nsx "$SW_NS" ip link set lo up
  ip link add veth-us netns "$US_NS" type veth peer name veth-sw netns "$SW_NS"
  nsx "$US_NS" ip addr add "$US_IP/24" dev veth-us
  nsx "$SW_NS" ip addr add "$SW_IP/24" dev veth-sw
  # nodad: usable at once, without duplicate address detection's delay.
  nsx "$US_NS" ip -6 addr add "$US_IP6/64" dev veth-us nodad
  nsx "$SW_NS" ip -6 addr add "$SW_IP6/64" dev veth-sw nodad
  nsx "$US_NS" ip link set veth-us up
  nsx "$SW_NS" ip link set veth-sw up
  nsx "$US_NS" ip addr add "$US_INNER/32" dev lo
  nsx "$SW_NS" ip addr add "$SW_INNER/32" dev lo
  nsx "$US_NS" ip -6 addr add "$US_INNER6/128" dev lo nodad
  nsx "$SW_NS" ip -6 addr add "$SW_INNER6/128" dev lo nodad
  # Bounded check of the outer path: at most about 2 s.
  local ip
  for ip in "$SW_IP" "$SW_IP6"; do
    nsx "$US_NS" ping -c 2 -W 1 -i 0.2 "$ip" >/dev/null ||
      { echo "netns: $US_NS cannot reach $ip over the veth pair" >&2; exit 1; }
  done
  echo "netns: up: $US_NS ($US_IP, $US_IP6) <-> $SW_NS ($SW_IP, $SW_IP6)"
}

# US behind a NAPT; IPv4 only.
up_nat() {
  local sw_ip="${SW_IP_NAT:-198.51.100.2}"
  ip netns add "$US_NS"
  ip netns add "$NAT_NS"
  ip netns add "$SW_NS"
  local ns
  for ns in "$US_NS" "$NAT_NS" "$SW_NS"; do nsx "$ns" ip link set lo up; done
  ip link add veth-us netns "$US_NS" type veth peer name veth-in netns "$NAT_NS"
  ip link add veth-out netns "$NAT_NS" type veth peer name veth-sw netns "$SW_NS"
  nsx "$US_NS" ip addr add "$US_IP/24" dev veth-us
  nsx "$NAT_NS" ip addr add 192.0.2.254/24 dev veth-in
  nsx "$NAT_NS" ip addr add 198.51.100.254/24 dev veth-out
  nsx "$SW_NS" ip addr add "$sw_ip/24" dev veth-sw
  nsx "$US_NS" ip link set veth-us up
  nsx "$NAT_NS" ip link set veth-in up
  nsx "$NAT_NS" ip link set veth-out up
  nsx "$SW_NS" ip link set veth-sw up
  nsx "$US_NS" ip route add default via 192.0.2.254
  nsx "$NAT_NS" sysctl -qw net.ipv4.ip_forward=1
  nsx "$NAT_NS" nft -f - <<'NFT'
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "veth-out" ip protocol udp masquerade to :20000-29999 random
    oifname "veth-out" masquerade
  }
}
NFT
  nsx "$US_NS" ip addr add "$US_INNER/32" dev lo
  nsx "$SW_NS" ip addr add "$SW_INNER/32" dev lo
  nsx "$US_NS" ping -c 2 -W 1 -i 0.2 "$sw_ip" >/dev/null ||
    { echo "netns: $US_NS cannot reach $sw_ip through $NAT_NS" >&2; exit 1; }
  echo "netns: up: $US_NS ($US_IP) -> NAT $NAT_NS -> $SW_NS ($sw_ip)"
}

down() {
  for ns in "$US_NS" "$SW_NS" "$NAT_NS"; do
    ns_exists "$ns" || continue
    pids="$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ' || true)"
    [ -z "$pids" ] || echo "netns: $ns still has processes: $pids" >&2
    ip netns del "$ns"
    echo "netns: deleted $ns"
  done
}

show() {
  for ns in "$US_NS" "$NAT_NS" "$SW_NS"; do
    ns_exists "$ns" || continue
    echo "=== $ns"
    nsx "$ns" ip -br addr
    nsx "$ns" ip route
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  show) show ;;
  *) echo "usage: [NAT=1] $0 up|down|show" >&2; exit 2 ;;
esac
