/**
 * @module
 * local-prometheus (optional, `install_local_prometheus: true`): Debian's
 * prometheus package on this machine, scraping the app's metrics endpoint
 * (app_metrics_target, job app_metrics_job) for offline development. apt
 * family only: other systems get a note. Port 9090: in parallel mode the
 * compose stack's prometheus still holds it, so the role refuses.
 */
import { block, defineRole, handler, task, z } from "../../src/role.ts";
import { str } from "../../src/core/args.ts";
import { pick } from "../_shared/vars.ts";

/** The local-prometheus role. */
export const role = defineRole({
  name: "local-prometheus",
  description:
    "Installs Debian's prometheus scraping the app's metrics (offline dev; Debian and Ubuntu).",
  vars: z.object({
    ...pick("install_local_prometheus", "app_metrics_target", "app_metrics_job", "migration_mode"),
    prometheus_scrape_interval: str().default("15s").describe(
      "How often the local Prometheus scrapes (and evaluates rules)",
    ),
  }),
  tasks: [
    task("Prometheus from Debian's archive needs apt", "debug", {
      msg:
        "install_local_prometheus: Debian's prometheus package is for Debian and Ubuntu; nothing installed on {{ ansible_distribution }}",
    }, { when: "alloy_family != 'apt'" }),
    block("Prometheus on this machine", [
      task("Port 9090 is free", "fail", {
        msg:
          "install_local_prometheus needs port 9090, which the compose stack's prometheus holds in parallel mode: run without -e migration_mode=parallel, or without install_local_prometheus",
      }, { when: ["migration_mode == 'parallel'", "compose_stack_present | bool"] }),
      task("prometheus package (Debian's)", "package", {
        name: "prometheus",
        state: "present",
        install_recommends: false,
        cache_valid_time: 3600,
      }, { register: "prometheus_pkg" }),
      task(
        "Prometheus scrapes the app ({{ app_metrics_job }} at {{ app_metrics_target }})",
        "template",
        {
          src: "prometheus.yml.njk",
          dest: "/etc/prometheus/prometheus.yml",
          owner: "root",
          group: "root",
          mode: "0644",
          validate: "promtool check config %s",
        },
        { notify: "reload prometheus" },
      ),
      // Debian's package enables and starts prometheus when it installs it: in
      // --check a predicted install means this task will find it so.
      task("prometheus enabled and started", "systemd_service", {
        name: "prometheus",
        enabled: true,
        state: "started",
      }, { when: "not (ansible_check_mode and prometheus_pkg.changed)" }),
      task("Apply the new configuration now", "meta", { action: "flush_handlers" }),
      task("prometheus is ready", "wait_for", {
        url: "http://127.0.0.1:9090/-/ready",
        status_code: 200,
        timeout: 60,
      }),
    ], { when: "alloy_family == 'apt'" }),
  ],
  handlers: [
    handler("reload prometheus", "systemd_service", { name: "prometheus", state: "reloaded" }),
  ],
});
