/**
 * @module
 * local-grafana (optional, `install_local_grafana: true`): Grafana from
 * Grafana's apt repository (the one alloy comes from: same variables, same
 * signed-by source), grafana-server enabled and started, and, with
 * install_local_prometheus, the local Prometheus provisioned as its default
 * datasource. apt family only: other systems get a note. Port 3000: in
 * parallel mode the compose stack's grafana still holds it, so the role
 * refuses.
 */
import { block, defineRole, handler, task, z } from "../../src/role.ts";
import { str } from "../../src/core/args.ts";
import { pick } from "../_shared/vars.ts";

const DATASOURCE = "/etc/grafana/provisioning/datasources/drover-prometheus.yaml";

/** The local-grafana role. */
export const role = defineRole({
  name: "local-grafana",
  description:
    "Installs Grafana from Grafana's apt repository, with the local Prometheus as datasource (offline dev; Debian and Ubuntu).",
  vars: z.object({
    ...pick(
      "install_local_grafana",
      "install_local_prometheus",
      "alloy_apt_repo_url",
      "alloy_apt_repo_suite",
      "alloy_apt_repo_component",
      "alloy_apt_key_url",
      "migration_mode",
    ),
    grafana_version: str().default("").describe("Pin this grafana version (empty: the newest)"),
  }),
  tasks: [
    task("Grafana's apt repository needs apt", "debug", {
      msg:
        "install_local_grafana: this role installs Grafana from Grafana's apt repository on Debian and Ubuntu; nothing installed on {{ ansible_distribution }}",
    }, { when: "alloy_family != 'apt'" }),
    block("Grafana on this machine", [
      task("Port 3000 is free", "fail", {
        msg:
          "install_local_grafana needs port 3000, which the compose stack's grafana holds in parallel mode: run without -e migration_mode=parallel, or without install_local_grafana",
      }, { when: ["migration_mode == 'parallel'", "compose_stack_present | bool"] }),
      task("Keyring directory", "file", {
        path: "/etc/apt/keyrings",
        state: "directory",
        mode: "0755",
      }),
      task("Grafana apt repository and its signing key", "apt_repository", {
        repo:
          "deb [signed-by=/etc/apt/keyrings/grafana.asc] {{ alloy_apt_repo_url }} {{ alloy_apt_repo_suite }} {{ alloy_apt_repo_component }}",
        filename: "grafana",
        key_url: "{{ alloy_apt_key_url }}",
        keyring: "/etc/apt/keyrings/grafana.asc",
        state: "present",
      }),
      task("grafana package", "package", {
        name: "{{ 'grafana' ~ ('=' ~ grafana_version if grafana_version else '') }}",
        state: "present",
      }),
      task("The local Prometheus as Grafana's default datasource", "template", {
        src: "datasource-prometheus.yaml.njk",
        dest: DATASOURCE,
        owner: "root",
        group: "grafana",
        mode: "0640",
      }, { when: "install_local_prometheus | bool", notify: "restart grafana-server" }),
      task("No datasource without the local Prometheus", "file", {
        path: DATASOURCE,
        state: "absent",
      }, { when: "not (install_local_prometheus | bool)", notify: "restart grafana-server" }),
      task("grafana-server enabled and started", "systemd_service", {
        name: "grafana-server",
        enabled: true,
        state: "started",
      }),
      task("Apply the provisioning now", "meta", { action: "flush_handlers" }),
      task("Grafana is ready (/api/health)", "wait_for", {
        url: "http://127.0.0.1:3000/api/health",
        status_code: 200,
        timeout: 60,
      }),
    ], { when: "alloy_family == 'apt'" }),
  ],
  handlers: [
    handler("restart grafana-server", "systemd_service", {
      name: "grafana-server",
      state: "restarted",
    }),
  ],
});
