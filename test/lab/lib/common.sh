# shellcheck shell=bash
# Shared settings and small helpers for test/lab/lab.sh. Sourced, not run.

LAB_DIR=${LAB_DIR:?LAB_DIR must be set by lab.sh}

# Caches survive `lab down`; state under /var/lib and /run does not.
CACHE_DIR=/var/cache/drover-lab
ROOTFS=$CACHE_DIR/rootfs-bookworm
ROOTFS_STAMP=$CACHE_DIR/rootfs-bookworm.stamp
REPO_DIR=$CACHE_DIR/repo
SSH_KEY=$CACHE_DIR/ssh/id_ed25519

STATE_DIR=/var/lib/drover-lab
HOSTS_DIR=$STATE_DIR/hosts
LAYERS_DIR=$STATE_DIR/layers
INVENTORY=$STATE_DIR/inventory.yml
SSH_CONFIG=$STATE_DIR/ssh_config
KNOWN_HOSTS=$STATE_DIR/known_hosts

RUN_DIR=/run/drover-lab

MIRROR=${DROVER_LAB_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm

BRIDGE=drlab0
BRIDGE_ADDR=10.87.0.1
NET_PREFIX=10.87.0
REPO_NETNS=drlab-repo
REPO_ADDR=10.87.0.2
REPO_PORT=8080
REPO_URL=http://packages.lab:$REPO_PORT
MAX_HOSTS=50
BOOT_TIMEOUT=${DROVER_LAB_BOOT_TIMEOUT:-180}
STOP_TIMEOUT=${DROVER_LAB_STOP_TIMEOUT:-30}

log() { printf 'lab: %s\n' "$*" >&2; }
die() {
  printf 'lab: error: %s\n' "$*" >&2
  exit 1
}

# Milliseconds since the epoch (for timings).
now_ms() { date +%s%3N; }
secs_since() { # T0_MS -> "12.3"
  local d=$(($(now_ms) - $1))
  printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}

host_addr() { # lab3 -> 10.87.0.13
  local n=${1#lab}
  printf '%s.%d' "$NET_PREFIX" $((10 + n))
}

valid_host() { [[ $1 =~ ^lab([1-9][0-9]?)$ ]] && ((${1#lab} <= MAX_HOSTS)); }

need_host() {
  valid_host "$1" || die "unknown host '$1' (hosts are lab1..lab$MAX_HOSTS)"
}

require_root() {
  [[ $(id -u) == 0 ]] || die "the lab needs root (it mounts, makes network namespaces, runs systemd-nspawn)"
}

require_tools() {
  local t missing=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  ((${#missing[@]} == 0)) ||
    die "missing tools: ${missing[*]} — install the packages in test/lab/packages.txt: apt-get install -y \$(cat test/lab/packages.txt)"
}

# --- PID files that are safe against PID reuse -------------------------------
# A pid file holds "PID STARTTIME" (field 22 of /proc/PID/stat). A process only
# counts as ours while both match, so we never signal an unrelated process.

proc_starttime() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) } # drop "pid (comm) " — comm may contain spaces
  # shellcheck disable=SC2086
  set -- $stat
  [[ $1 != Z && $1 != X ]] || return 1 # a zombie is as good as gone
  printf '%s' "${20}"
}

write_pidfile() { # FILE PID
  local st
  st=$(proc_starttime "$2") || return 1
  printf '%s %s\n' "$2" "$st" >"$1.tmp" && mv -f "$1.tmp" "$1"
}

# Prints the PID if the pid file names a live process that is still the same one.
pidfile_alive() {
  local pid st cur
  [[ -s $1 ]] || return 1
  read -r pid st <"$1" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cur=$(proc_starttime "$pid") || return 1
  [[ $cur == "$st" ]] || return 1
  printf '%s' "$pid"
}

# Waits until the process in the pid file is gone; returns 1 on timeout.
wait_pidfile_gone() { # FILE TIMEOUT_S
  local deadline=$(($(date +%s) + $2))
  while pidfile_alive "$1" >/dev/null; do
    (($(date +%s) < deadline)) || return 1
    sleep 0.1
  done
}

# --- mounts ---------------------------------------------------------------------

is_mounted() { mountpoint -q "$1" 2>/dev/null; }

# Unmounts everything at or below DIR, deepest first.
umount_below() {
  local dir=$1 m
  [[ -d $dir ]] || return 0
  dir=$(realpath -e "$dir")
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done < <(awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r)
}

# rm -rf that never crosses into a mount and refuses obviously wrong targets.
safe_rm_rf() {
  local p
  for p in "$@"; do
    [[ -e $p || -L $p ]] || continue
    case $p in
    "$CACHE_DIR"/* | "$STATE_DIR"/* | "$RUN_DIR"/*) ;;
    *) die "refusing to delete '$p' (outside the lab's directories)" ;;
    esac
    umount_below "$p"
    rm -rf --one-file-system -- "$p"
  done
}

# --- locking --------------------------------------------------------------------
# One lab command that changes state at a time.
take_lock() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/lock"
  flock -w 900 9 || die "another 'lab' command holds $RUN_DIR/lock for too long"
}
