# shellcheck shell=bash
# Builds the shared, read-only guest root filesystem once into the cache.
# Sourced by lab.sh.

# Bump when the recipe below changes: the next `up` rebuilds the rootfs (hosts
# then start from fresh upper dirs, because old ones would not match).
ROOTFS_VERSION=1

ROOTFS_PACKAGES=(
  systemd systemd-sysv dbus libpam-systemd
  openssh-server sudo
  ufw iptables nftables iproute2 iputils-ping netbase
  curl ca-certificates gnupg
  python3 python3-apt
  procps less cron
)

rootfs_ready() {
  [[ -d $ROOTFS && -f $ROOTFS_STAMP ]] && [[ $(head -n1 "$ROOTFS_STAMP") == "version=$ROOTFS_VERSION" ]]
}

# Removes half-built trees left by a crashed build (and their mounts).
rootfs_clean_tmp() {
  local d
  for d in "$CACHE_DIR"/rootfs-bookworm.tmp.*; do
    [[ -e $d ]] || continue
    local pid=${d##*.}
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
      grep -q 'lab.sh' "/proc/$pid/cmdline" 2>/dev/null; then
      die "a rootfs build is already running (pid $pid)"
    fi
    log "removing unfinished rootfs build $d"
    safe_rm_rf "$d"
  done
}

rootfs_build() {
  rootfs_ready && return 0
  require_tools debootstrap chroot
  mkdir -p "$CACHE_DIR"
  rootfs_clean_tmp
  local tmp=$CACHE_DIR/rootfs-bookworm.tmp.$$ t0
  t0=$(now_ms)
  log "building the guest rootfs (debootstrap $SUITE from $MIRROR, takes 1-3 minutes, done once) ..."
  local inc
  inc=$(
    IFS=,
    echo "${ROOTFS_PACKAGES[*]}"
  )
  if ! debootstrap --variant=minbase --include="$inc" "$SUITE" "$tmp" "$MIRROR" \
    >"$CACHE_DIR/debootstrap.log" 2>&1; then
    tail -n 20 "$CACHE_DIR/debootstrap.log" >&2
    safe_rm_rf "$tmp"
    die "debootstrap failed (full log: $CACHE_DIR/debootstrap.log)"
  fi
  rootfs_customize "$tmp" || {
    safe_rm_rf "$tmp"
    die "customizing the rootfs failed"
  }
  umount_below "$tmp"
  # An old rootfs may still be a lower layer of some overlay: move it aside and
  # delete it once nothing uses it.
  rm -f "$ROOTFS_STAMP"
  [[ -e $ROOTFS ]] && mv "$ROOTFS" "$CACHE_DIR/rootfs-bookworm.old.$$"
  rootfs_prune_old
  mv "$tmp" "$ROOTFS"
  {
    echo "version=$ROOTFS_VERSION"
    echo "built=$(date -u +%FT%TZ)"
    echo "build_ms=$(($(now_ms) - t0))"
    echo "size=$(du -sh "$ROOTFS" | cut -f1)"
  } >"$ROOTFS_STAMP.tmp"
  mv "$ROOTFS_STAMP.tmp" "$ROOTFS_STAMP"
  log "rootfs ready in $((($(now_ms) - t0) / 1000)) s: $ROOTFS"
}

rootfs_prune_old() {
  local d
  for d in "$CACHE_DIR"/rootfs-bookworm.old.*; do
    [[ -d $d ]] || continue
    grep -qF "$d" /proc/self/mountinfo && continue
    safe_rm_rf "$d"
  done
}

# An id of the current rootfs build; a host whose upper dir was made on
# another build starts fresh.
rootfs_id() { sed -n 's/^built=//p' "$ROOTFS_STAMP"; }

# Everything that is the same on every lab host and slow or awkward to do per
# boot. Per-host bits (host keys, machine-id) live in each host's own layer;
# lab-specific config files live in the guest layer (test/lab/guest/).
rootfs_customize() {
  local r=$1
  chroot "$r" /bin/bash -euo pipefail -c '
    useradd --create-home --uid 1000 --user-group --shell /bin/bash --groups sudo dev
    useradd --create-home --uid 1001 --user-group --shell /bin/bash --groups sudo devpw
    echo "devpw:labpass" | chpasswd
    echo "dev:labpass" | chpasswd
  '
  # Per-host identity comes from the host layer; the lab has no outside archive.
  rm -f "$r"/etc/ssh/ssh_host_*_key "$r"/etc/ssh/ssh_host_*_key.pub
  rm -f "$r/etc/hostname"
  : >"$r/etc/machine-id"
  rm -f "$r/var/lib/dbus/machine-id"
  : >"$r/etc/apt/sources.list"
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb
  rm -f "$r/etc/resolv.conf"
  rm -rf "$r"/var/log/journal/* 2>/dev/null || true
}
