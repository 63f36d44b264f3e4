# shellcheck shell=bash
# Lab hosts: layers, overlay mounts, the per-host supervisor loop around
# systemd-nspawn, stopping and cleaning up. Sourced by lab.sh.
#
# Per host NAME:
#   $HOSTS_DIR/NAME/layer   host identity (ssh host keys, machine-id): lowest-
#                           but-one writable only by lab.sh, kept until reset
#   $HOSTS_DIR/NAME/upper   overlay upper dir: exactly what changed on the host
#   $HOSTS_DIR/NAME/work    overlay work dir
#   $HOSTS_DIR/NAME/root    the merged tree the container boots from
#   $HOSTS_DIR/NAME/console.log   console output of every boot
#   $RUN_DIR/NAME.sup       pid file of the supervising loop
#   $RUN_DIR/NAME.nspawn    pid file of the current systemd-nspawn
#   $RUN_DIR/NAME.cgroups   the cgroup dirs the container runs in
#   $RUN_DIR/NAME.stop      present while the host is being stopped
#   $RUN_DIR/NAME.boots     number of boots since the host was started

DOCKER_HOOK=$LAB_DIR/docker/layer.sh

host_dir() { printf '%s/%s' "$HOSTS_DIR" "$1"; }

host_running() { pidfile_alive "$RUN_DIR/$1.sup" >/dev/null; }

known_host_names() { # every host that has state, sorted by number
  local d
  for d in "$HOSTS_DIR"/lab*; do
    [[ -d $d ]] && valid_host "${d##*/}" && printf '%s\n' "${d##*/}"
  done | sort -V
}

# --- docker hook -----------------------------------------------------------------

# Hosts that get docker: DROVER_LAB_DOCKER_HOSTS="lab1 lab3" (or lab1,lab3),
# "all" (the default) or "none". Exported so the hook sees the same list.
export DROVER_LAB_DOCKER_HOSTS=${DROVER_LAB_DOCKER_HOSTS:-all}

docker_hook_applies() { # NAME
  [[ -f $DOCKER_HOOK ]] || return 1
  local list=" ${DROVER_LAB_DOCKER_HOSTS//,/ } "
  [[ $list == *" all "* || $list == *" $1 "* ]]
}

# The hook's extra lower layer, asked once per lab.sh run.
DOCKER_LOWER=unset
docker_lowerdir() {
  if [[ $DOCKER_LOWER == unset ]]; then
    DOCKER_LOWER=$(bash "$DOCKER_HOOK" lowerdir 9>&-) || die "$DOCKER_HOOK lowerdir failed"
    if [[ -n $DOCKER_LOWER && ! -d $DOCKER_LOWER ]]; then
      die "$DOCKER_HOOK lowerdir printed '$DOCKER_LOWER', which is not a directory"
    fi
  fi
  printf '%s' "$DOCKER_LOWER"
}

# --- guest layer -------------------------------------------------------------------
# Built from test/lab/guest/ plus generated files into a directory named after
# a hash of its content, so running hosts keep the one they were mounted with.

guest_layer_build() { # prints the layer dir
  local src=$LAB_DIR/guest hash dir tmp pub
  pub=$(cat "$SSH_KEY.pub")
  hash=$(
    {
      echo "max_hosts=$MAX_HOSTS rootfs=$ROOTFS_VERSION $pub"
      cd "$src" && find . \( -type f -o -type l \) -print0 | sort -z |
        while IFS= read -r -d '' f; do
          if [[ -L $f ]]; then echo "$f -> $(readlink "$f")"; else echo "$f $(stat -c %a "$f") $(sha256sum <"$f")"; fi
        done
    } | sha256sum | cut -c1-16
  )
  dir=$LAYERS_DIR/guest-$hash
  if [[ ! -d $dir ]]; then
    tmp=$dir.tmp.$$
    mkdir -p "$tmp"
    cp -a "$src/." "$tmp/"
    chown -R -h root:root "$tmp"
    chmod -R go-w "$tmp"
    # /etc/hosts: the repo plus every possible lab host.
    local i
    for ((i = 1; i <= MAX_HOSTS; i++)); do
      printf '%s\tlab%d\n' "$(host_addr "lab$i")" "$i"
    done >>"$tmp/etc/hosts"
    # ssh: the lab key may log in as root, dev and devpw.
    local u home uid
    for u in root dev devpw; do
      case $u in root) home=root uid=0 ;; dev) home=home/dev uid=1000 ;; devpw) home=home/devpw uid=1001 ;; esac
      mkdir -p "$tmp/$home/.ssh"
      printf '%s\n' "$pub" >"$tmp/$home/.ssh/authorized_keys"
      chown -R "$uid:$uid" "$tmp/$home/.ssh"
      chmod 700 "$tmp/$home/.ssh"
      chmod 600 "$tmp/$home/.ssh/authorized_keys"
    done
    [[ -d $tmp/etc/sudoers.d ]] && find "$tmp/etc/sudoers.d" -type f -exec chmod 0440 {} +
    # A directory in an upper layer hides the attributes of the one below it:
    # give every directory that also exists in the rootfs the rootfs's owner/mode.
    local d
    while IFS= read -r -d '' d; do
      [[ -d $ROOTFS/$d && ! -L $ROOTFS/$d ]] || continue
      chown --reference="$ROOTFS/$d" "$tmp/$d"
      chmod --reference="$ROOTFS/$d" "$tmp/$d"
    done < <(cd "$tmp" && find . -mindepth 1 -type d -print0)
    mv "$tmp" "$dir"
  fi
  printf '%s' "$dir"
}

# Removes guest layers that no running host uses (keeps KEEP).
guest_layers_prune() { # KEEP
  local d f used=()
  for f in "$RUN_DIR"/*.lower; do [[ -f $f ]] && used+=("$(cat "$f")"); done
  for d in "$LAYERS_DIR"/guest-*; do
    [[ -d $d && $d != "$1" ]] || continue
    [[ " ${used[*]} " == *"$d"* ]] && continue
    safe_rm_rf "$d"
  done
}

# --- host layer (identity) ---------------------------------------------------------

host_layer_ensure() { # NAME
  local layer
  layer=$(host_dir "$1")/layer
  [[ -f $layer/.complete ]] && return 0
  safe_rm_rf "$layer"
  mkdir -p "$layer/etc/ssh"
  local t
  for t in ed25519 ecdsa rsa; do
    ssh-keygen -q -t "$t" -N '' -C "root@$1" -f "$layer/etc/ssh/ssh_host_${t}_key"
  done
  # systemd-id128 would be nicer; this is the same format (32 hex chars).
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$layer/etc/machine-id"
  echo >>"$layer/etc/machine-id"
  chmod 444 "$layer/etc/machine-id"
  touch "$layer/.complete"
}

# --- cgroups ---------------------------------------------------------------------
# systemd in the container needs a cgroup subtree of its own in every v1
# hierarchy (incl. name=systemd) AND in the cgroup2 "unified" hierarchy of the
# hybrid setup: systemd-nspawn takes its own cgroup from the unified one and
# creates payload/ and supervisor/ below it, in name=systemd too. Left at the
# unified root, all containers would share /payload, and systemd in each would
# wait forever for cgroups that other containers keep busy (logins hang once
# a user@.service is stopped). We nest below the cgroup the supervisor runs
# in, so whatever accounts for the caller still accounts for the lab.

cgroup_mounts() { # prints "MOUNTPOINT<TAB>KEY" per hierarchy; KEY as in /proc/self/cgroup
  awk '$3 == "cgroup2" { print $2 "\t"; next }
    $3 == "cgroup" {
    n = split($4, o, ","); key = ""
    for (i = 1; i <= n; i++) {
      if (o[i] ~ /^(rw|ro|relatime|noatime|nosuid|nodev|noexec|clone_children|xattr|noprefix|cpuset_v2_mode)$/ || o[i] ~ /^release_agent=/) continue
      key = key (key == "" ? "" : ",") o[i]
    }
    print $2 "\t" key }' /proc/self/mounts
}

# Moves the calling shell ($BASHPID) into drover-lab/NAME in every v1 hierarchy.
cgroup_join() { # NAME
  local name=$1 mnt key cur dir list=()
  while IFS=$'\t' read -r mnt key; do
    cur=$(awk -F: -v k="$key" '$2 == k { print $3; exit }' /proc/self/cgroup)
    [[ -n $cur ]] || continue
    cur=${cur%/}
    # Never nest inside our own subtree (e.g. when run from inside a lab cgroup).
    cur=${cur%%/drover-lab/*}
    dir=$mnt$cur/drover-lab/$name
    mkdir -p "$dir"
    if [[ $key == *cpuset* ]]; then
      local p
      for p in "$mnt$cur/drover-lab" "$dir"; do
        [[ -s $p/cpuset.cpus ]] || cat "${p%/*}/cpuset.cpus" >"$p/cpuset.cpus"
        [[ -s $p/cpuset.mems ]] || cat "${p%/*}/cpuset.mems" >"$p/cpuset.mems"
      done
    fi
    echo "$BASHPID" >"$dir/cgroup.procs"
    list+=("$dir")
  done < <(cgroup_mounts)
  printf '%s\n' "${list[@]}" >"$RUN_DIR/$name.cgroups"
}

cgroup_pids() { # NAME: every process left in the host's cgroups
  local f dir
  [[ -f $RUN_DIR/$1.cgroups ]] || return 0
  while read -r dir; do
    [[ -d $dir ]] || continue
    find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null
  done <"$RUN_DIR/$1.cgroups" | sort -un
}

cgroup_kill_all() { # NAME
  local i pids
  for ((i = 0; i < 50; i++)); do
    pids=$(cgroup_pids "$1")
    [[ -n $pids ]] || return 0
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  log "warning: processes still in the cgroups of $1: $(cgroup_pids "$1" | tr '\n' ' ')"
}

cgroup_remove() { # NAME
  local dir
  [[ -f $RUN_DIR/$1.cgroups ]] || return 0
  while read -r dir; do
    [[ -d $dir ]] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
    rmdir "${dir%/*}" 2>/dev/null || true # drover-lab/, once empty
  done <"$RUN_DIR/$1.cgroups"
  rm -f "$RUN_DIR/$1.cgroups"
}

# --- start ---------------------------------------------------------------------------

host_mount() { # NAME GUEST_LAYER
  local name=$1 d lower extra
  d=$(host_dir "$name")
  mkdir -p "$d/upper" "$d/work" "$d/root"
  lower=$d/layer:$2:$ROOTFS
  if docker_hook_applies "$name"; then
    docker_lowerdir >/dev/null # sets DOCKER_LOWER in this shell (dies on error)
    extra=$DOCKER_LOWER
    [[ -z $extra ]] || lower=$extra:$lower
  fi
  is_mounted "$d/root" && umount "$d/root"
  # The work dir must be empty-ish and on the same fs as upper; wipe leftovers.
  rm -rf --one-file-system "${d:?}/work"
  mkdir -p "$d/work"
  mount -t overlay "drover-lab-$name" -o "lowerdir=$lower,upperdir=$d/upper,workdir=$d/work" "$d/root" ||
    die "mounting the overlay for $name failed (lowerdir=$lower)"
  printf '%s\n' "$2" >"$RUN_DIR/$name.lower"
}

host_start() { # NAME GUEST_LAYER
  local name=$1 d
  d=$(host_dir "$name")
  host_running "$name" && return 0
  host_cleanup "$name"
  host_layer_ensure "$name"
  local id
  id=$(rootfs_id)
  if [[ -d $d/upper && $(cat "$d/rootfs.id" 2>/dev/null) != "$id" ]]; then
    log "$name: the rootfs was rebuilt since its state was made; starting it fresh"
    safe_rm_rf "$d/upper" "$d/work"
  fi
  mkdir -p "$d"
  printf '%s\n' "$id" >"$d/rootfs.id"
  host_mount "$name" "$2"
  rm -f "$RUN_DIR/$name.stop"
  echo 0 >"$RUN_DIR/$name.boots"
  [[ -f $d/console.log ]] && mv -f "$d/console.log" "$d/console.log.old"
  # The supervisor must not inherit the lock (fd 9) or the caller's stdio.
  setsid bash "$LAB_DIR/lab.sh" _supervise "$name" </dev/null >>"$d/console.log" 2>&1 9>&- &
  local i
  for ((i = 0; i < 100; i++)); do
    host_running "$name" && return 0
    sleep 0.05
  done
  die "the supervisor of $name did not start (see $d/console.log)"
}

# The loop that keeps one host running: a fresh network namespace, the docker
# pre-boot hook, then systemd-nspawn; exit status 133 (reboot) boots again.
host_supervise() { # NAME (runs detached, output goes to console.log)
  local name=$1 d ns rc nspawn_pid fast=0 t_boot extra_args=()
  d=$(host_dir "$name")
  ns=$(netns_name "$name")
  write_pidfile "$RUN_DIR/$name.sup" "$BASHPID"
  trap '' HUP
  trap 'p=$(pidfile_alive "$RUN_DIR/$name.nspawn") && kill -TERM "$p"; touch "$RUN_DIR/$name.stop"' TERM INT
  while [[ ! -e $RUN_DIR/$name.stop ]]; do
    net_ns_fresh "$name" "$(host_addr "$name")"
    extra_args=()
    if docker_hook_applies "$name"; then
      bash "$DOCKER_HOOK" pre-boot "$name" "$ns" || log "warning: $DOCKER_HOOK pre-boot $name $ns failed"
      mapfile -t extra_args < <(bash "$DOCKER_HOOK" nspawn-args "$name" | grep -v '^[[:space:]]*$' || true)
    fi
    echo $(($(cat "$RUN_DIR/$name.boots" 2>/dev/null || echo 0) + 1)) >"$RUN_DIR/$name.boots"
    printf '\n=== drover-lab: boot of %s at %s\n' "$name" "$(date -u +%FT%TZ)"
    t_boot=$(date +%s)
    (
      cgroup_join "$name"
      # /proc/sys/net writable (it is the host's own netns), as on a real host.
      export SYSTEMD_NSPAWN_API_VFS_WRITABLE=network
      exec systemd-nspawn --quiet --boot --register=no --keep-unit \
        --machine="$name" --hostname="$name" --directory="$d/root" \
        --network-namespace-path="/run/netns/$ns" --capability=CAP_NET_ADMIN \
        --resolv-conf=off --timezone=off --link-journal=no \
        --kill-signal=SIGRTMIN+4 --console=read-only \
        "${extra_args[@]}"
    ) &
    nspawn_pid=$!
    write_pidfile "$RUN_DIR/$name.nspawn" "$nspawn_pid" || true
    rc=0
    while :; do
      wait "$nspawn_pid" && rc=0 || rc=$?
      # wait returns >128 when a trapped signal interrupts it; the child goes on.
      kill -0 "$nspawn_pid" 2>/dev/null || break
    done
    rm -f "$RUN_DIR/$name.nspawn"
    printf '=== drover-lab: systemd-nspawn for %s exited with %s\n' "$name" "$rc"
    [[ $rc == 133 ]] || break
    # Guard against a tight crash loop.
    if (($(date +%s) - t_boot < 3)); then fast=$((fast + 1)); else fast=0; fi
    if ((fast >= 5)); then
      echo "=== drover-lab: $name rebooted 5 times within seconds, giving up"
      break
    fi
  done
  rm -f "$RUN_DIR/$name.sup"
}

# --- stop / cleanup -------------------------------------------------------------------

# Asks each host to power off, waits, then forces what is left. Parallel.
hosts_stop() { # NAME...
  local name pid
  for name in "$@"; do
    touch "$RUN_DIR/$name.stop"
    pid=$(pidfile_alive "$RUN_DIR/$name.nspawn") && kill -TERM "$pid" 2>/dev/null || true
  done
  for name in "$@"; do
    if ! wait_pidfile_gone "$RUN_DIR/$name.sup" "$STOP_TIMEOUT"; then
      log "$name did not power off within ${STOP_TIMEOUT}s, killing it"
      pid=$(pidfile_alive "$RUN_DIR/$name.nspawn") && kill -KILL "$pid" 2>/dev/null || true
      cgroup_kill_all "$name"
      wait_pidfile_gone "$RUN_DIR/$name.sup" 5 ||
        { pid=$(pidfile_alive "$RUN_DIR/$name.sup") && kill -KILL "$pid" 2>/dev/null || true; }
    fi
    host_cleanup "$name"
  done
}

# Removes what a stopped (or crashed) host leaves behind: stray processes in its
# cgroups, its mount, cgroups, network namespace and run files. Keeps its state.
host_cleanup() { # NAME
  local name=$1 pid
  if host_running "$name"; then
    # A supervisor without its container (it crashed between boots): end it.
    pid=$(pidfile_alive "$RUN_DIR/$name.sup") && kill -KILL "$pid" 2>/dev/null || true
  fi
  pid=$(pidfile_alive "$RUN_DIR/$name.nspawn") && kill -KILL "$pid" 2>/dev/null || true
  cgroup_kill_all "$name"
  umount_below "$(host_dir "$name")/root"
  cgroup_remove "$name"
  net_ns_del "$name"
  rm -f "$RUN_DIR/$name".{sup,nspawn,stop,lower,boots}
}
