/**
 * @module
 * configure: renders /etc/alloy/config.alloy from typed variables (metrics,
 * logs, traces; each can be switched off), validated by alloy before it goes
 * live, and the environment file (root:root 0600) holding the token. A
 * config change reloads alloy; an env-file change restarts it.
 */
import { defineRole, handler, task, z } from "../../src/role.ts";
import { GRAFANA_CLOUD_SETTINGS, pick } from "../_shared/vars.ts";

/** Touched when the reload handler ran: alloy has read its config since (gone at reboot). */
const RELOADED = "/run/drover-alloy.reloaded";

/**
 * Prints `stale` when alloy runs but its config or env file is newer than
 * its start and its last reload by drover: a run that was interrupted (or
 * lost its host) after writing them never ran the handler. One systemctl,
 * one stat and one date: each process costs the host a few milliseconds.
 */
const LOADED_CHECK = `pid=; ts=
while IFS== read -r k v; do case $k in MainPID) pid=$v ;; ExecMainStartTimestamp) ts=$v ;; esac; done <<EOF
$(systemctl show -p MainPID -p ExecMainStartTimestamp alloy 2>/dev/null)
EOF
[ "\${pid:-0}" -gt 0 ] 2>/dev/null || exit 0
t=$(date -d "$ts" +%s 2>/dev/null) || exit 0
r=0; c=0
while read -r y n; do [ -n "$y" ] || continue; if [ "$n" = ${RELOADED} ]; then r=$y; elif [ "$y" -gt "$c" ]; then c=$y; fi; done <<EOF
$(stat -c '%Y %n' -- ${RELOADED} /etc/alloy/config.alloy {{ alloy_env_file | quote }} 2>/dev/null)
EOF
[ "$r" -gt "$t" ] && t=$r
if [ "$c" -gt "$t" ]; then echo stale; else echo current; fi`;

/** The configure role. */
export const role = defineRole({
  name: "configure",
  description:
    "Writes alloy's configuration and environment file; secrets only in the 0600 env file.",
  vars: z.object(pick(
    ...GRAFANA_CLOUD_SETTINGS,
    "alloy_metrics_enabled",
    "alloy_logs_enabled",
    "alloy_traces_enabled",
    "otlp_external",
    "app_metrics_target",
    "app_metrics_job",
    "alloy_http_listen",
  )),
  tasks: [
    task("Which alloy is installed", "shell", {
      // The package database first: `alloy --version` starts the whole binary
      // (about 0.1 s of CPU), dpkg-query 0.01 s. A binary installed by hand answers itself.
      cmd: "v=$(dpkg-query -W -f='${db:Status-Status} ${Version}' alloy 2>/dev/null) && " +
        'case "$v" in installed\\ *) echo "${v#installed }"; exit 0 ;; esac; ' +
        "v=$(rpm -q --qf '%{VERSION}' alloy 2>/dev/null) && { echo \"$v\"; exit 0; }; " +
        "alloy --version 2>/dev/null | head -1 || true",
    }, {
      register: "alloy_version_out",
      changedWhen: false,
      checkMode: false,
    }),
    task(
      "Is alloy running now",
      "shell",
      { cmd: "systemctl is-active alloy 2>/dev/null || true" },
      {
        register: "alloy_active_out",
        changedWhen: false,
        checkMode: false,
      },
    ),
    task("alloy runs the configuration on disk (an interrupted run may have written it)", "shell", {
      cmd: LOADED_CHECK,
    }, {
      register: "alloy_loaded_out",
      changedWhen: false,
      checkMode: false,
    }),
    // A read-only check above (batched with the other reads), and the restart
    // it calls for notified here, so a converged run stays one batch of reads.
    task("alloy runs an older configuration than the one on disk: restart it", "debug", {
      msg: "alloy was started before the configuration on disk was written; restarting it",
    }, {
      when: "alloy_loaded_out.stdout == 'stale'",
      changedWhen: true,
      notify: "restart alloy",
    }),
    task("Choose the validator and the auth syntax for this alloy version", "set_fact", {
      alloy_was_active: "{{ alloy_active_out.stdout == 'active' }}",
      alloy_installed_version:
        "{{ alloy_version_out.stdout | regex_search('v?[0-9]+\\\\.[0-9]+\\\\.[0-9]+') | default('', true) | regex_replace('^v', '') }}",
      otlp_bind: "{{ '0.0.0.0' if otlp_external | bool else '127.0.0.1' }}",
    }),
    task("Validator command", "set_fact", {
      alloy_validate_cmd:
        "{{ 'alloy validate %s' if (alloy_installed_version == '' or alloy_installed_version is version('1.9.0', '>=')) else 'alloy fmt %s' }}",
      alloy_client_auth_block:
        "{{ alloy_installed_version == '' or alloy_installed_version is version('1.13.0', '>=') }}",
    }),
    task("Alloy configuration (validated before it goes live)", "template", {
      src: "config.alloy.njk",
      dest: "/etc/alloy/config.alloy",
      mode: "0644",
      owner: "root",
      group: "root",
      validate: "{{ alloy_validate_cmd }}",
    }, { notify: ["reload alloy", "note when alloy reloaded"] }),
    task("Alloy environment file with the token (0600 root)", "template", {
      src: "alloy.env.njk",
      dest: "{{ alloy_env_file }}",
      mode: "0600",
      owner: "root",
      group: "root",
    }, { notify: "restart alloy" }),
  ],
  handlers: [
    handler("reload alloy", "systemd_service", { name: "alloy", state: "reloaded" }, {
      when: "alloy_was_active | default(false) | bool",
    }),
    handler("note when alloy reloaded", "file", { path: RELOADED, state: "touch" }, {
      when: "alloy_was_active | default(false) | bool",
      changedWhen: false,
    }),
    handler("restart alloy", "systemd_service", { name: "alloy", state: "restarted" }, {
      when: "alloy_was_active | default(false) | bool",
    }),
  ],
});
