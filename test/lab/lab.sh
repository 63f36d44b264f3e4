#!/usr/bin/env bash
# drover test lab: N Debian bookworm hosts with real systemd, each in its own
# systemd-nspawn container and network namespace, reachable over ssh.
#
#   lab.sh up [N|HOST...]  start lab1..labN (default 3) or the named hosts,
#                          wait until booted; other running hosts are kept
#   lab.sh down            remove everything the lab made (caches are kept)
#   lab.sh status          one line per host
#   lab.sh ssh HOST [cmd]  ssh into a host (HOST may be user@labN)
#   lab.sh reset HOST...|--all  fresh state for hosts (empty upper dir, new keys)
#   lab.sh inventory [HOST...]  print the path of the inventory of all hosts,
#                          or print an inventory of just the named hosts
#
# See test/lab/README.md.
set -euo pipefail
umask 022

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DROVER_LAB_DOCKER_HOSTS_GIVEN=${DROVER_LAB_DOCKER_HOSTS+yes}
# shellcheck source=lib/common.sh
source "$LAB_DIR/lib/common.sh"
# shellcheck source=lib/rootfs.sh
source "$LAB_DIR/lib/rootfs.sh"
# shellcheck source=lib/net.sh
source "$LAB_DIR/lib/net.sh"
# shellcheck source=lib/host.sh
source "$LAB_DIR/lib/host.sh"
# shellcheck source=lib/ssh.sh
source "$LAB_DIR/lib/ssh.sh"
# shellcheck source=lib/repo.sh
source "$LAB_DIR/lib/repo.sh"

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

usage() {
  sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

cmd_up() {
  local n=3 t0 i name started=() running=() layer want=()
  if (($# >= 1)) && ! [[ $1 =~ ^[0-9]+$ ]]; then
    for name in "$@"; do need_host "$name" && want+=("$name"); done
    n=0
  else
    (($# <= 1)) || usage
    n=${1:-3}
    ((n >= 1 && n <= MAX_HOSTS)) || die "up: N must be 1..$MAX_HOSTS, got '$n'"
    for ((i = 1; i <= n; i++)); do want+=("lab$i"); done
  fi
  require_root
  require_tools debootstrap systemd-nspawn ip nft ssh ssh-keygen curl mount flock setsid /usr/bin/python3
  t0=$(now_ms)
  take_lock
  mkdir -p "$RUN_DIR" "$HOSTS_DIR" "$LAYERS_DIR"
  # Every host's systemd takes inotify instances from the machine's per-user
  # limit (128 by default): past a dozen hosts, units fail at boot for want
  # of them. The lab's machine is a test machine: raise it (not persisted).
  if (($(cat /proc/sys/fs/inotify/max_user_instances) < 1024)); then
    log "raising fs.inotify.max_user_instances to 1024 (lab hosts each run systemd)"
    echo 1024 >/proc/sys/fs/inotify/max_user_instances || true
  fi
  # `reset` and hosts started later use the docker host list given to `up`.
  printf '%s\n' "$DROVER_LAB_DOCKER_HOSTS" >"$STATE_DIR/docker_hosts"

  if ! rootfs_ready; then
    # Hosts on an outdated rootfs must not keep running while it is replaced.
    local old=()
    for name in $(known_host_names); do host_running "$name" && old+=("$name"); done
    if ((${#old[@]})); then
      log "the rootfs recipe changed: stopping ${old[*]} to rebuild it"
      hosts_stop "${old[@]}"
    fi
  fi
  rootfs_build
  rootfs_prune_old
  ssh_key_ensure
  repo_build

  # Clean up after a crashed run: hosts with state but no live supervisor, and
  # network leftovers of hosts that are not running.
  for name in $(known_host_names); do
    host_running "$name" || host_cleanup "$name"
  done
  for f in /run/netns/drlab-lab*; do
    [[ -e $f ]] || continue
    name=${f#/run/netns/drlab-}
    host_running "$name" || net_ns_del "$name"
  done

  net_bridge_up
  repo_up

  layer=$(guest_layer_build)
  for name in "${want[@]}"; do
    if host_running "$name"; then
      running+=("$name")
    else
      host_layer_ensure "$name"
      started+=("$name")
    fi
  done
  lab_files_write "${want[@]}"
  for name in "${started[@]}"; do host_start "$name" "$layer"; done
  guest_layers_prune "$layer"
  ((${#started[@]})) && log "started: ${started[*]}"
  ((${#running[@]})) && log "already running: ${running[*]}"

  wait_booted "${want[@]}"
  log "${want[*]} up in $(secs_since "$t0") s; inventory: $INVENTORY, ssh: ssh -F $SSH_CONFIG lab1"
}

cmd_down() {
  require_root
  take_lock
  local names=() name
  for name in $(known_host_names); do
    host_running "$name" && names+=("$name")
  done
  ((${#names[@]})) && hosts_stop "${names[@]}"
  for name in $(known_host_names); do host_cleanup "$name"; done
  # Run files of hosts whose state dir is already gone.
  local f
  for f in "$RUN_DIR"/lab*.sup "$RUN_DIR"/lab*.cgroups; do
    [[ -e $f ]] || continue
    name=${f##*/}
    host_cleanup "${name%.*}"
  done
  repo_down
  net_down
  umount_below "$STATE_DIR"
  [[ -d $STATE_DIR ]] && rm -rf --one-file-system "$STATE_DIR"
  rm -rf --one-file-system "$RUN_DIR"
  log "lab down (cache kept in $CACHE_DIR)"
}

cmd_status() {
  local name state addr size boots any=0
  for name in $(known_host_names); do
    any=1
    addr=$(host_addr "$name")
    if host_running "$name"; then
      state=running
      pidfile_alive "$RUN_DIR/$name.nspawn" >/dev/null || state=rebooting
    else
      state=stopped
    fi
    size=$(du -sh "$(host_dir "$name")/upper" 2>/dev/null | cut -f1)
    boots=$(cat "$RUN_DIR/$name.boots" 2>/dev/null || echo 0)
    printf '%-6s %-9s %-11s upper %-6s boots %s\n' "$name" "$state" "$addr" "${size:-0}" "$boots"
  done
  if pidfile_alive "$REPO_PIDFILE" >/dev/null; then
    printf '%-6s %-9s %-11s %s\n' repo running "$REPO_ADDR" "$REPO_URL/ ($REPO_DIR)"
  else
    printf '%-6s %-9s %-11s %s\n' repo stopped "$REPO_ADDR" "$REPO_URL/"
  fi
  ((any)) || echo "no lab hosts (start them with: bash test/lab/lab.sh up)"
}

cmd_ssh() {
  (($# >= 1)) || die "usage: lab.sh ssh HOST [command...]"
  [[ -f $SSH_CONFIG ]] || die "the lab is not up (no $SSH_CONFIG); run: bash test/lab/lab.sh up"
  need_host "${1#*@}"
  exec ssh -F "$SSH_CONFIG" "$@"
}

cmd_reset() {
  (($# >= 1)) || die "usage: lab.sh reset HOST...|--all"
  require_root
  take_lock
  local names=() name layer
  if [[ $1 == --all ]]; then
    (($# == 1)) || die "usage: lab.sh reset HOST...|--all"
    for name in $(known_host_names); do host_running "$name" && names+=("$name"); done
    ((${#names[@]})) || die "reset --all: no host is running"
  else
    for name in "$@"; do need_host "$name"; done
    names=("$@")
  fi
  [[ -f $ROOTFS_STAMP ]] || die "the lab was never set up; run: bash test/lab/lab.sh up"
  if [[ -z ${DROVER_LAB_DOCKER_HOSTS_GIVEN:-} && -f $STATE_DIR/docker_hosts ]]; then
    DROVER_LAB_DOCKER_HOSTS=$(cat "$STATE_DIR/docker_hosts")
  fi
  local t0
  t0=$(now_ms)
  hosts_stop "${names[@]}"
  for name in "${names[@]}"; do
    safe_rm_rf "$(host_dir "$name")/upper" "$(host_dir "$name")/work" "$(host_dir "$name")/layer"
    host_layer_ensure "$name"
  done
  net_bridge_up
  repo_up
  layer=$(guest_layer_build)
  lab_files_write "${names[@]}"
  for name in "${names[@]}"; do host_start "$name" "$layer"; done
  wait_booted "${names[@]}"
  log "reset ${names[*]} in $(secs_since "$t0") s"
}

cmd_inventory() {
  if (($#)); then
    local name
    for name in "$@"; do need_host "$name"; done
    lab_inventory "$@"
    return
  fi
  [[ -f $INVENTORY ]] || die "the lab is not up (no $INVENTORY); run: bash test/lab/lab.sh up"
  printf '%s\n' "$INVENTORY"
}

main() {
  (($#)) || usage
  local cmd=$1
  shift
  case $cmd in
  up) cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  ssh) cmd_ssh "$@" ;;
  reset) cmd_reset "$@" ;;
  inventory) cmd_inventory "$@" ;;
  _supervise) host_supervise "$1" ;; # internal: the per-host loop
  -h | --help | help) usage ;;
  *) log "unknown command '$cmd'"; usage ;;
  esac
}

main "$@"
