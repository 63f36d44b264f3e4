# shellcheck shell=bash
# Lab network: bridge drlab0 (10.87.0.1/24) in the root namespace, one network
# namespace per lab host (drlab-labN, 10.87.0.(10+N)) and one for the package
# repository (drlab-repo, 10.87.0.2). No default routes anywhere, no forwarding.
# Sourced by lab.sh.

NFT_TABLE=drover_lab

netns_name() { printf 'drlab-%s' "$1"; }
veth_name() { printf 'vdrl-%s' "$1"; }

# Fixed MACs so that ARP caches stay right when a namespace is recreated at reboot.
mac_for() { # ADDR_LAST_OCTET SIDE(0=guest,1=bridge port)
  printf '02:87:00:00:%02x:%02x' "$2" "$1"
}

net_bridge_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge stp_state 0 forward_delay 0
    echo 1 >"/proc/sys/net/ipv6/conf/$BRIDGE/disable_ipv6"
    ip addr add "$BRIDGE_ADDR/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  net_guard_up
}

# A table in the root namespace that stops lab guests from opening connections
# to this machine (only replies to connections this machine opened get in) and
# from being routed anywhere beyond the bridge, even if a guest adds routes.
net_guard_up() {
  nft list table inet "$NFT_TABLE" >/dev/null 2>&1 && return 0
  nft -f - <<EOF || die "could not install the nftables guard table inet $NFT_TABLE"
table inet $NFT_TABLE {
  chain input {
    type filter hook input priority -10; policy accept;
    iifname "$BRIDGE" ct state established,related accept
    iifname "$BRIDGE" drop
  }
  chain forward {
    type filter hook forward priority -10; policy accept;
    iifname "$BRIDGE" oifname != "$BRIDGE" drop
    oifname "$BRIDGE" iifname != "$BRIDGE" drop
  }
}
EOF
}

# (Re)creates a namespace with a fresh network stack (as after a real reboot:
# no firewall rules, default sysctls) plugged into the bridge.
net_ns_fresh() { # NAME ADDR
  local name=$1 addr=$2 ns veth octet
  ns=$(netns_name "$name")
  veth=$(veth_name "$name")
  octet=${addr##*.}
  net_ns_del "$name"
  ip netns add "$ns"
  ip link add "$veth" address "$(mac_for "$octet" 1)" type veth \
    peer name eth0 address "$(mac_for "$octet" 0)" netns "$ns"
  echo 1 >"/proc/sys/net/ipv6/conf/$veth/disable_ipv6"
  ip link set "$veth" master "$BRIDGE" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
}

net_ns_del() { # NAME
  local ns veth
  ns=$(netns_name "$1")
  veth=$(veth_name "$1")
  ip link del "$veth" 2>/dev/null || true
  if [[ -e /run/netns/$ns ]]; then
    ip netns del "$ns" 2>/dev/null || { umount -l "/run/netns/$ns" 2>/dev/null; rm -f "/run/netns/$ns"; }
  fi
}

# Removes every namespace, veth, the bridge and the guard table the lab made.
net_down() {
  local f l
  for f in /run/netns/drlab-*; do
    [[ -e $f ]] || continue
    net_ns_del "${f#/run/netns/drlab-}"
  done
  while read -r l; do
    ip link del "$l" 2>/dev/null || true
  done < <(ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep '^vdrl-' || true)
  ip link del "$BRIDGE" 2>/dev/null || true
  nft delete table inet "$NFT_TABLE" 2>/dev/null || true
}
