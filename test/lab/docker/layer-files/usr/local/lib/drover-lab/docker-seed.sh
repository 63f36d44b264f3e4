#!/bin/sh
# drover test lab (guest side), first boot only: import the five stand-in
# images and bring the TTA.dev observability stack up, as the developer did
# with `docker-compose -f docker-compose.integration.yml up -d`. Also leave
# one volume of ANOTHER compose project (otherproj_data) that a migration
# must not delete.
#   docker-seed.sh          first boot (skips if already seeded)
#   docker-seed.sh --force  put the developer's state back (tests that ran a
#                           migration and want to start over without a reboot)
set -eu
share=/usr/local/share/drover-lab/docker
stamp=/var/lib/drover-lab/docker-seeded
project_dir=/home/dev/TTA.dev
if [ "${1:-}" != --force ] && [ -e "$stamp" ]; then exit 0; fi

grep -v '^#' "$share/images.list" | while read -r tag name ports; do
  [ -n "$tag" ] || continue
  if docker image inspect "$tag" >/dev/null 2>&1; then continue; fi
  cmd="[\"/bin/sh\",\"/standin.sh\",\"$name\""
  expose=""
  for p in $ports; do cmd="$cmd,\"$p\""; expose="$expose $p/tcp"; done
  cmd="$cmd]"
  docker import \
    --change "CMD $cmd" \
    --change "EXPOSE$expose" \
    --change "LABEL org.drover-lab.standin=true org.drover-lab.standin-for=$tag" \
    --message "drover lab stand-in for $tag (busybox)" \
    "$share/standin-rootfs.tar" "$tag" >/dev/null
  echo "imported stand-in $tag"
done

mkdir -p "$project_dir"
if [ "${1:-}" = --force ] || [ ! -e "$project_dir/docker-compose.integration.yml" ]; then
  cp "$share/docker-compose.integration.yml" "$project_dir/"
fi
if id dev >/dev/null 2>&1; then
  chown -R dev: "$project_dir"
  usermod -aG docker dev
fi

docker volume inspect otherproj_data >/dev/null 2>&1 ||
  docker volume create \
    --label com.docker.compose.project=otherproj \
    --label com.docker.compose.volume=data \
    --label com.docker.compose.version=1.29.2 \
    otherproj_data >/dev/null

cd "$project_dir"
docker-compose -f docker-compose.integration.yml up -d
mkdir -p "${stamp%/*}"
date -u +%FT%TZ > "$stamp"
