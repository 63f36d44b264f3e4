#!/usr/bin/env bash
# drover test lab: Docker on the lab's "dev machines".
#
# Contract with test/lab/lab.sh:
#   layer.sh lowerdir              print ONE directory to put on top of the
#                                  overlay lowerdir stack of docker hosts
#                                  (building it once, cached), or nothing
#   layer.sh nspawn-args NAME      extra systemd-nspawn arguments, one a line
#                                  (nothing for a host that has no docker)
#   layer.sh pre-boot NAME NETNS   run before each boot of host NAME
# Extra verbs for people:
#   layer.sh build [--force]       build (or rebuild) the layer now
#   layer.sh is-docker-host NAME   exit 0 if NAME gets docker
#   layer.sh clean-host NAME       remove NAME's docker state and cgroups
#                                  (only while the host is down)
#
# Environment:
#   DROVER_LAB_DOCKER_HOSTS   hosts that get docker: unset, "" or "all" =
#                             every host (as lab.sh); "none" = none; else
#                             names split by spaces or commas (lab1,lab3)
#   DROVER_LAB_COMPOSE_V2_HOSTS  hosts that also get `docker compose` (the v2
#                             CLI plugin shim); same syntax, default all.
#                             The others have only docker-compose v1.
#   DROVER_LAB_CACHE   (/var/cache/drover-lab)  DROVER_LAB_STATE (/var/lib/drover-lab)
#   DROVER_LAB_ROOTFS  ($DROVER_LAB_CACHE/rootfs-bookworm)
#   DROVER_LAB_MIRROR  (http://deb.debian.org/debian) for the layer build only
#
# All output except the contract's goes to stderr.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${DROVER_LAB_CACHE:-/var/cache/drover-lab}
STATE=${DROVER_LAB_STATE:-/var/lib/drover-lab}
ROOTFS=${DROVER_LAB_ROOTFS:-$CACHE/rootfs-bookworm}
ROOTFS_STAMP=${ROOTFS}.stamp
MIRROR=${DROVER_LAB_MIRROR:-http://deb.debian.org/debian}
LAYER=  # $CACHE/docker-layer-<first 16 hex of the key>, set by ensure_layer
IMAGES_TAR=$CACHE/docker-standin-rootfs.tar
STAMP_IN_LAYER=usr/local/share/drover-lab/docker/layer.stamp
SEED_STAMP=var/lib/drover-lab/docker-seeded   # in the guest, by docker-seed.sh
CONTROLLERS=(cpu cpuacct cpuset memory devices freezer blkio pids)
DEB_PACKAGES=(docker.io docker-compose)

log() { printf 'docker-layer: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- host lists
in_list() { # in_list NAME LIST: empty list or "all" = everyone, "none" = nobody
  local list=" ${2//,/ } "
  [[ -z ${list// /} || $list == *" all "* || $list == *" $1 "* ]]
}
is_docker_host() { in_list "$1" "${DROVER_LAB_DOCKER_HOSTS:-}"; }
has_compose_v2() { in_list "$1" "${DROVER_LAB_COMPOSE_V2_HOSTS:-}"; }
any_docker_host() { local l=${DROVER_LAB_DOCKER_HOSTS:-}; [[ " ${l//,/ } " != *" none "* ]]; }
check_name() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || die "bad host name '$1'"; }

# ------------------------------------------------------- stand-in images tar
# One busybox-static rootfs; the guest imports it five times (one per tag)
# with a different CMD/EXPOSE/LABEL each.
build_images_tar() {
  local bb=/bin/busybox tmp
  if [[ -s $IMAGES_TAR && $IMAGES_TAR -nt $bb && $IMAGES_TAR -nt $HERE/standin/standin.sh &&
    $IMAGES_TAR -nt ${BASH_SOURCE[0]} ]]; then
    return 0
  fi
  { [[ -x $bb ]] && "$bb" --list | grep -x httpd >/dev/null; } ||
    die "$bb (Debian package busybox-static) missing: apt-get install busybox-static"
  tmp=$(mktemp -d "$CACHE/.standin.XXXXXX")
  mkdir -p "$tmp/root"/{bin,etc,tmp,www}
  cp "$bb" "$tmp/root/bin/busybox"
  local a
  for a in $("$bb" --list); do
    [[ $a == busybox ]] || ln -s busybox "$tmp/root/bin/$a"
  done
  ln -s bin "$tmp/root/sbin"
  printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$tmp/root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$tmp/root/etc/group"
  chmod 1777 "$tmp/root/tmp"
  install -m 0755 "$HERE/standin/standin.sh" "$tmp/root/standin.sh"
  tar -C "$tmp/root" --numeric-owner --owner=0 --group=0 --sort=name \
    --mtime=@0 -cf "$tmp/images.tar" .
  if [[ -f $IMAGES_TAR ]] && cmp -s "$tmp/images.tar" "$IMAGES_TAR"; then
    rm -rf "$tmp"; touch "$IMAGES_TAR"; return 0
  fi
  mv -f "$tmp/images.tar" "$IMAGES_TAR"   # atomic on one fs
  rm -rf "$tmp"
  log "built $IMAGES_TAR"
}

# -------------------------------------------------------------- layer build
# What the layer depends on: the rootfs's package state, our package list,
# the files we put in it, and the stand-in rootfs.
layer_key() {
  {
    echo "v1 ${DEB_PACKAGES[*]} $MIRROR"
    # the rootfs it was built on (any rebuild of it, users, packages)
    cat "$ROOTFS_STAMP" 2>/dev/null || true
    cat "$ROOTFS/var/lib/dpkg/status" "$ROOTFS/etc/passwd" "$ROOTFS/etc/group" | sha256sum | cut -d' ' -f1
    (cd "$HERE/layer-files" && find . \( -type f -o -type l \) -print0 | sort -z |
      xargs -0 sha256sum)
    sha256sum "$HERE/standin/standin.sh" | cut -d' ' -f1
    sha256sum "$IMAGES_TAR" | cut -d' ' -f1
  } | sha256sum | cut -d' ' -f1
}

layer_fresh() { # layer_fresh KEY
  [[ -f $LAYER/$STAMP_IN_LAYER ]] && [[ $(cat "$LAYER/$STAMP_IN_LAYER") == "$1" ]]
}

# Is DIR a lowerdir of a mounted overlay? (mountinfo keeps the path as mounted,
# which is why layers are never renamed once built)
layer_in_use() {
  grep -qF -e "=$1:" -e ":$1:" -e "=$1," -e ":$1," /proc/self/mountinfo
}

# Unmount everything below $1 (deepest first).
umount_below() {
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
    awk -v p="$1" '$2 == p || index($2, p "/") == 1 {print $2}' /proc/self/mounts | sort -r)
}

build_layer() {
  local key=$1 tmp t0=$SECONDS
  [[ -f $ROOTFS/var/lib/dpkg/status ]] || die "no rootfs at $ROOTFS (lab.sh builds it)"
  tmp=$(mktemp -d "$CACHE/.docker-layer.build.XXXXXX")
  log "building $LAYER (docker.io + docker-compose on top of $ROOTFS) ..."
  # shellcheck disable=SC2064
  trap "umount_below '$tmp/merged'; rm -rf '$tmp'" EXIT
  mkdir -p "$tmp"/{upper,work,merged}
  mount -t overlay overlay \
    -o "lowerdir=$ROOTFS,upperdir=$tmp/upper,workdir=$tmp/work" "$tmp/merged"
  local m=$tmp/merged
  mount -t proc proc "$m/proc"
  mount --bind /dev "$m/dev"
  mount -t tmpfs tmpfs "$m/tmp"
  mount -t tmpfs tmpfs "$m/run"
  # name resolution for apt, without touching the layer's /etc/resolv.conf
  local resolv_created=0
  if [[ -L $m/etc/resolv.conf || ! -e $m/etc/resolv.conf ]]; then
    rm -f "$m/etc/resolv.conf"; : >"$m/etc/resolv.conf"; resolv_created=1
  fi
  mount --bind /etc/resolv.conf "$m/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"$m/usr/sbin/policy-rc.d"
  chmod +x "$m/usr/sbin/policy-rc.d"
  # The lab's rootfs has an empty sources.list (guests reach no archive): use
  # a sources list of our own, in /tmp (a tmpfs, not part of the layer).
  echo "deb $MIRROR bookworm main" >"$m/tmp/sources.list"
  local env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C)
  local apt=(apt-get -q -o Dir::Etc::SourceList=/tmp/sources.list -o Dir::Etc::SourceParts=/nonexistent)
  chroot "$m" "${env[@]}" "${apt[@]}" update >&2
  chroot "$m" "${env[@]}" "${apt[@]}" install -y --no-install-recommends \
    -o Dpkg::Options::=--force-confold "${DEB_PACKAGES[@]}" >&2
  chroot "$m" "${env[@]}" "${apt[@]}" clean
  rm -f "$m/usr/sbin/policy-rc.d"
  # our files
  cp -a --no-preserve=ownership "$HERE/layer-files/." "$m/"
  install -m 0644 "$IMAGES_TAR" "$m/usr/local/share/drover-lab/docker/standin-rootfs.tar"
  # enable units (what `systemctl enable` would do)
  mkdir -p "$m/etc/systemd/system/multi-user.target.wants"
  ln -sf /etc/systemd/system/drover-docker-seed.service \
    "$m/etc/systemd/system/multi-user.target.wants/drover-docker-seed.service"
  [[ -e $m/etc/systemd/system/multi-user.target.wants/docker.service ]] ||
    ln -sf /lib/systemd/system/docker.service \
      "$m/etc/systemd/system/multi-user.target.wants/docker.service"
  # docker.io's postinst created group docker; the guest's dev user joins it
  # on first boot (docker-seed.sh), whoever created that user.
  echo "$key" >"$m/$STAMP_IN_LAYER"
  umount "$m/etc/resolv.conf"
  [[ $resolv_created == 1 ]] && rm -f "$m/etc/resolv.conf"
  umount_below "$m"
  trap - EXIT
  # drop what a guest never needs from the upper dir (these live only there)
  rm -rf "$tmp/upper/var/lib/apt/lists" "$tmp/upper/var/cache/apt" \
    "$tmp/upper/var/cache/debconf/"*-old "$tmp/upper/var/log/apt" \
    "$tmp/upper/proc" "$tmp/upper/dev" "$tmp/upper/tmp" "$tmp/upper/run"
  [[ $resolv_created == 1 ]] && rm -f "$tmp/upper/etc/resolv.conf"
  rm -rf "$tmp/work"
  # This layer lies ABOVE lab.sh's guest and host-identity layers: it must not
  # carry (and so hide) any file of theirs, nor hide a directory (opaque).
  local f bad=()
  for f in etc/resolv.conf etc/hosts etc/hostname etc/machine-id etc/ssh etc/sudoers.d \
    etc/apt/sources.list root/.ssh home/dev/.ssh home/devpw/.ssh; do
    [[ -e $tmp/upper/$f || -L $tmp/upper/$f ]] && bad+=("$f")
  done
  # Overlayfs marks directories it created as opaque; for those new to the
  # rootfs that is meaningless here but would hide the same directory in a
  # lower lab layer: clear it. Directories dpkg really replaced stay opaque,
  # unless lab files live there (then fail).
  f=$(python3 - "$tmp/upper" "$ROOTFS" "$HERE/../guest" <<'PY'
import os, sys
upper, rootfs, guest = sys.argv[1:4]
X = "trusted.overlay.opaque"
for d, _, _ in os.walk(upper):
    rel = os.path.relpath(d, upper)
    try:
        os.getxattr(d, X, follow_symlinks=False)
    except OSError:
        continue
    if not os.path.isdir(os.path.join(rootfs, rel)):
        os.removexattr(d, X, follow_symlinks=False)
    elif os.path.exists(os.path.join(guest, rel)) or rel.split("/")[:2] in (["etc", "ssh"], ["root", ".ssh"]):
        print(rel)
PY
  )
  [[ -z $f ]] || bad+=("opaque: $f")
  ((${#bad[@]} == 0)) || die "the layer would hide lab files: ${bad[*]} (left in $tmp)"
  # atomic: the finished layer appears under its final name in one rename
  mv -T "$tmp/upper" "$LAYER"
  rmdir "$tmp/merged" "$tmp" 2>/dev/null || rm -rf "$tmp"
  log "built $LAYER in $((SECONDS - t0)) s ($(du -sh "$LAYER" | cut -f1))"
}

# Removes other layers (and failed builds) that no mounted overlay uses:
# running hosts keep the layer they were mounted with.
gc_old_layers() {
  local d
  for d in "$CACHE"/docker-layer "$CACHE"/docker-layer-* "$CACHE"/.docker-layer.build.*; do
    [[ -e $d && $d != "$LAYER" ]] || continue
    layer_in_use "$d" && continue
    [[ $d == */.docker-layer.build.* ]] && grep -qF "$d/" /proc/self/mountinfo && continue
    rm -rf --one-file-system "$d"
  done
}

ensure_layer() { # ensure_layer [force]
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.docker-layer.lock"
  flock 9
  build_images_tar
  local key; key=$(layer_key)
  LAYER=$CACHE/docker-layer-${key:0:16}
  if [[ ${1:-} == force && -e $LAYER ]]; then
    layer_in_use "$LAYER" && die "$LAYER is in use by a running host: stop the lab first"
    rm -rf --one-file-system "$LAYER"
  fi
  if ! layer_fresh "$key"; then
    [[ -e $LAYER ]] && rm -rf --one-file-system "$LAYER" # half-made, not in use
    build_layer "$key"
  fi
  gc_old_layers
  exec 9>&-
}

# ------------------------------------------------------------ per-host bits
host_docker_dir() { echo "$STATE/hosts/$1/docker"; }

# The host's own cgroup in each v1 controller hierarchy, computed exactly as
# lab.sh's cgroup_join does (MOUNT + caller's cgroup + /drover-lab/NAME), so
# containers are accounted to, killed with and removed with the lab host.
# Prints "GUEST_DIRNAME<TAB>HOST_DIR" for each controller hierarchy.
host_cgroups() { # NAME
  local name=$1 mnt opts key cur c
  while read -r _ mnt _ opts _; do
    key=""
    for c in ${opts//,/ }; do
      [[ " ${CONTROLLERS[*]} " == *" $c "* ]] && key+=${key:+,}$c
    done
    [[ -n $key ]] || continue
    cur=$(awk -F: -v k="$key" '$2 == k { print $3; exit }' /proc/self/cgroup)
    cur=${cur%/}
    cur=${cur%%/drover-lab/*}
    printf '%s\t%s\n' "${mnt##*/}" "$mnt$cur/drover-lab/$name"
  done < <(awk '$3 == "cgroup"' /proc/self/mounts)
}

ensure_host_dirs() {
  local name=$1 g dir p
  mkdir -p "$(host_docker_dir "$name")"
  chmod 0711 "$(host_docker_dir "$name")"
  while IFS=$'\t' read -r g dir; do
    mkdir -p "$dir"
    if [[ $g == *cpuset* ]]; then # a new cpuset starts with no cpus/mems
      for p in "${dir%/*}" "$dir"; do
        [[ -s $p/cpuset.cpus ]] || cat "${p%/*}/cpuset.cpus" >"$p/cpuset.cpus"
        [[ -s $p/cpuset.mems ]] || cat "${p%/*}/cpuset.mems" >"$p/cpuset.mems"
      done
    fi
  done < <(host_cgroups "$name")
}

# Removes empty cgroups that dockerd of a previous boot left (docker/<id>).
clean_host_cgroups() {
  local name=$1 g dir
  while IFS=$'\t' read -r g dir; do
    [[ -d $dir/docker ]] || continue
    find "$dir/docker" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done < <(host_cgroups "$name")
}

cmd_nspawn_args() {
  local name=$1
  is_docker_host "$name" || return 0
  ensure_host_dirs "$name"
  echo "--capability=all"
  echo "--system-call-filter=@keyring"
  echo "--bind=$(host_docker_dir "$name"):/var/lib/docker"
  local g dir
  while IFS=$'\t' read -r g dir; do
    echo "--bind=$dir:/run/drover-cgroup/$g"
  done < <(host_cgroups "$name")
  has_compose_v2 "$name" || echo "--tmpfs=/usr/libexec/docker/cli-plugins:mode=0755"
}

cmd_pre_boot() {
  local name=$1 netns=$2
  is_docker_host "$name" || return 0
  # A host whose upper dir has no seed stamp is new or was reset (lab.sh
  # reset empties upper/): its docker state must start empty as well, so the
  # first boot seeds it again.
  local dd; dd=$(host_docker_dir "$name")
  if [[ ! -e $STATE/hosts/$name/upper/$SEED_STAMP && -d $dd ]] &&
    [[ -n $(ls -A "$dd" 2>/dev/null) ]]; then
    log "$name: no seed stamp in its upper dir: starting with empty docker state"
    rm -rf --one-file-system "$dd"
  fi
  ensure_host_dirs "$name"
  clean_host_cgroups "$name"
  local ns=$netns
  [[ $ns == /* ]] || ns=/run/netns/$netns
  [[ -e $ns ]] || die "network namespace $ns missing"
  # dockerd needs forwarding; the guest's /proc/sys is read-only
  nsenter --net="$ns" sysctl -q -w net.ipv4.ip_forward=1
}

cmd_clean_host() {
  local name=$1
  clean_host_cgroups "$name"
  rm -rf --one-file-system "$(host_docker_dir "$name")"
}

# ------------------------------------------------------------------- main
verb=${1:-}
case $verb in
  lowerdir)
    any_docker_host || exit 0
    ensure_layer
    echo "$LAYER" ;;
  build)
    ensure_layer "$([[ ${2:-} == --force ]] && echo force)"
    echo "$LAYER" ;;
  nspawn-args)
    [[ $# == 2 ]] || die "usage: $0 nspawn-args NAME"
    check_name "$2"; cmd_nspawn_args "$2" ;;
  pre-boot)
    [[ $# == 3 ]] || die "usage: $0 pre-boot NAME NETNS"
    check_name "$2"; cmd_pre_boot "$2" "$3" ;;
  is-docker-host)
    [[ $# == 2 ]] || die "usage: $0 is-docker-host NAME"
    is_docker_host "$2" ;;
  clean-host)
    [[ $# == 2 ]] || die "usage: $0 clean-host NAME"
    check_name "$2"; cmd_clean_host "$2" ;;
  *)
    sed -n '2,30p' "$0" >&2; exit 2 ;;
esac
