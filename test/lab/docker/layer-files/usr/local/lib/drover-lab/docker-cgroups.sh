#!/bin/sh
# drover test lab (guest side): give dockerd writable cgroup v1 controllers.
# nspawn shows the guest read-only controller hierarchies; the control
# machine bind-mounts a writable per-host subtree of each controller at
# /run/drover-cgroup/NAME (see test/lab/docker/layer.sh nspawn-args), and we
# mount it over /sys/fs/cgroup/NAME before containerd and dockerd start.
set -eu
src=/run/drover-cgroup
[ -d "$src" ] || { echo "no $src: dockerd will have no writable cgroups" >&2; exit 0; }
for d in "$src"/*; do
  c=${d##*/}
  t=/sys/fs/cgroup/$c
  if [ ! -d "$t" ]; then
    echo "skip $c: $t missing" >&2
    continue
  fi
  # nspawn's own mount there (the same subtree, thanks to the cgroup
  # namespace) is read-only; ours is not. Skip if already writable.
  [ -w "$t" ] && continue
  mount --bind "$d" "$t"
done
