/**
 * @module
 * record: before migrate changes anything, keep what it will replace (files
 * byte for byte, unit states, the compose stack's state) under
 * /var/lib/drover/migrate, for rollback. The first record is kept.
 */
import { defineRole, task, z } from "../../src/role.ts";
import { pick } from "../_shared/vars.ts";
import { shq } from "../../src/connection/quote.ts";
import { apiPath, DOCKER_API_FN } from "../../src/facts/docker_api.ts";

/** Sum the MEM USAGE column of `docker stats` / `podman stats` into MiB. */
const SUM_MEMORY_MB = String
  .raw`NR > 1 { v = $4; n = v + 0; u = v; sub(/^[0-9.]+/, "", u); f = 1 / 1048576
  if (u == "KiB" || u == "kB") f = 1 / 1024; else if (u == "MiB" || u == "MB") f = 1
  else if (u == "GiB" || u == "GB") f = 1024; t += n * f } END { printf "%.1f\n", t }`;

/**
 * Sum Docker Engine API stats (one JSON object a line) the way `docker stats`
 * computes MEM USAGE (usage less inactive file cache), into MiB.
 */
const SUM_API_MEMORY_MB = String.raw`function num(s, k,   i) { i = index(s, k); if (!i) return -1
  s = substr(s, i + length(k)); if (!match(s, /^[0-9]+/)) return -1; return substr(s, 1, RLENGTH) + 0 }
{ i = index($0, "\"memory_stats\":"); if (!i) next; s = substr($0, i); u = num(s, "\"usage\":"); if (u < 0) next
  f = num(s, "\"total_inactive_file\":"); if (f < 0) f = num(s, "\"inactive_file\":"); if (f < 0 || f > u) f = 0
  t += (u - f) / 1048576 } END { printf "%.1f\n", t }`;

/**
 * One-shot stats of every container at once from dockerd's socket (about 1 s
 * in all; `docker stats --no-stream` samples twice, one container after the
 * other: 2.5 s for the seed's five), through `drover_dapi` (only where the
 * docker CLI would use that socket). Exits non-zero unless every container
 * answered, so the caller falls back to the CLI.
 */
const API_STATS = String.raw`d=$(mktemp -d) && {
for i in $ids; do drover_dapi "/containers/$i/stats?stream=false&one-shot=true" 10 >"$d/$i" </dev/null & done; wait
ok=1; for i in $ids; do if [ -s "$d/$i" ]; then cat "$d/$i"; echo; else ok=; fi; done >"$d/all"
[ -n "$ok" ] && awk ${shq(SUM_API_MEMORY_MB)} "$d/all"; r=$?; rm -rf "$d"; [ "$r" = 0 ]; }`;

/**
 * The same figure read straight from each container's memory cgroup (the
 * files dockerd's stats read), with no wait: dockerd answers a stats request
 * only at its collector's next tick, up to a second later. cgroup v2
 * (memory.current less inactive_file) and v1 (memory.usage_in_bytes less
 * total_inactive_file), with the cgroupfs or the systemd driver. Fails, so
 * the caller asks dockerd, when any container's cgroup is not found there
 * (a stopped container, rootless docker, another layout).
 */
export function cgroupMemoryScript(root = "/sys/fs/cgroup"): string {
  const r = shq(root);
  return String.raw`if [ -f ${r}/cgroup.controllers ]; then m=${r} u=memory.current k=inactive_file
elif [ -d ${r}/memory ]; then m=${r}/memory u=memory.usage_in_bytes k=total_inactive_file
else false; fi && {
set --; ok=1
for i in $ids; do d=
  for c in "$m"/system.slice/docker-"$i"*.scope "$m"/docker/"$i"*; do
    if [ -r "$c/$u" ] && [ -r "$c/memory.stat" ]; then d=$c; break; fi
  done
  if [ -z "$d" ]; then ok=; break; fi
  set -- "$@" "$d/$u" "$d/memory.stat"
done
[ -n "$ok" ] && awk -v k="$k" ${
    shq(String.raw`function add() { if (n) t += (f >= 0 && f < u) ? u - f : u }
FNR == 1 && FILENAME !~ /memory\.stat$/ { add(); u = $1 + 0; f = -1; n++; next }
$1 == k { f = $2 + 0 }
END { add(); printf "%.1f\n", t / 1048576 }`)
  } "$@"; }`;
}

/**
 * Print the full ids of the running containers that Compose made from file
 * `$1` in the current directory, from dockerd's list (`drover_dapi`, no
 * Compose start: Python Compose takes a third of a second for `ps -q`).
 * Compose labels each container with its project's working directory and
 * its files: v1 keeps the file as given, v2 makes it absolute (on the logical
 * or the physical path). Prints nothing, so the caller asks Compose, when a
 * path has characters that JSON or the match would need to escape.
 */
export const COMPOSE_IDS_FN = String.raw`drover_compose_ids() { l=$PWD p=$(pwd -P) f=$1
case "$l$p$f" in *[!A-Za-z0-9._/@+-]*) return 0 ;; esac
drover_dapi ${
  shq(apiPath("/containers/json", { label: ["com.docker.compose.project.working_dir"] }))
} </dev/null | awk -v l="$l" -v p="$p" -v f="$f" ${
  shq(String.raw`{ gsub(/\{"Id":"/, "\n"); n = split($0, a, "\n")
  w = "\"com.docker.compose.project.working_dir\":\""; c = "\"com.docker.compose.project.config_files\":\""
  for (i = 2; i <= n; i++) { s = a[i]; id = substr(s, 1, 64)
    if (id !~ /^[0-9a-f]+$/ || length(id) != 64) continue
    if (!index(s, w l "\"") && !index(s, w p "\"")) continue
    if (index(s, c f "\"") || index(s, c l "/" f "\"") || index(s, c p "/" f "\"")) print id } }`)
}; }
`;

/** The compose stack's memory right before migrate stops it (verify compares alloy's with it). */
export const STACK_MEMORY_COMMAND =
  `{% if compose_stack_present | bool and compose_command %}{% if container_cli == 'docker' %}${DOCKER_API_FN}${COMPOSE_IDS_FN}{% endif %}` +
  "cd {{ docker_compose_project_dir | quote }} && ids= && " +
  "{% if container_cli == 'docker' %}ids=$(drover_compose_ids {{ docker_compose_file | quote }}) && {% endif %}" +
  '{ [ -n "$ids" ] || ids=$({{ compose_command }} -f {{ docker_compose_file | quote }} ps -q); } && [ -n "$ids" ] && ' +
  `{ {% if container_cli == 'docker' %}{ ${cgroupMemoryScript()}; } || { ${API_STATS}; } || {% endif %}` +
  `{{ container_cli }} stats --no-stream $ids | awk ${
    shq(SUM_MEMORY_MB)
  }; }{% else %}true{% endif %}`;

/** Paths migrate may change. Account files matter when rollback purges alloy (its user goes too). */
export const RECORDED_PATHS = [
  "/etc/alloy/config.alloy",
  "/etc/default/alloy",
  "/etc/sysconfig/alloy",
  "/etc/apt/sources.list.d/grafana.list",
  "/etc/apt/keyrings/grafana.asc",
  "/etc/yum.repos.d/grafana.repo",
  "/etc/ufw/user.rules",
  "/etc/ufw/user6.rules",
  // firewalld's saved zone (the default zone: public on RHEL/Rocky/Alma, Fedora's own on Fedora).
  "/etc/firewalld/zones/public.xml",
  "/etc/firewalld/zones/public.xml.old",
  "/etc/firewalld/zones/FedoraWorkstation.xml",
  "/etc/firewalld/zones/FedoraWorkstation.xml.old",
  "/etc/firewalld/zones/FedoraServer.xml",
  "/etc/firewalld/zones/FedoraServer.xml.old",
  "/etc/passwd",
  "/etc/passwd-",
  "/etc/group",
  "/etc/group-",
  "/etc/shadow",
  "/etc/shadow-",
  "/etc/gshadow",
  "/etc/gshadow-",
];

/** The record role. */
export const role = defineRole({
  name: "record",
  description: "Records the pre-migration state under drover_state_dir for rollback (once).",
  vars: z.object(pick("drover_state_dir")),
  tasks: [
    task("Record the pre-migration state for rollback", "drover_record", {
      dir: "{{ drover_state_dir }}/migrate",
      paths: RECORDED_PATHS,
      units: ["alloy"],
      facts: {
        compose_project_dir: "{{ docker_compose_project_dir }}",
        compose_file: "{{ docker_compose_file }}",
        compose_stack_present: "{{ compose_stack_present }}",
        compose_command: "{{ compose_command }}",
        memtotal_mb: "{{ ansible_memtotal_mb }}",
        memfree_mb: "{{ ansible_memfree_mb }}",
      },
      measure: { docker_stack_memory_mb: STACK_MEMORY_COMMAND },
    }),
  ],
});
