/**
 * @module
 * switch: stops the compose stack (not in parallel mode), enables and
 * starts alloy, waits for /-/ready, and checks the app's metrics endpoint
 * (a warning, not a failure, if the app is not running).
 */
import { defineRole, task, z } from "../../src/role.ts";
import { pick } from "../_shared/vars.ts";

/** The switch role. */
export const role = defineRole({
  name: "switch",
  description: "Stops the Docker stack, starts alloy and checks it is ready.",
  vars: z.object(
    pick(
      "migration_mode",
      "docker_compose_project_dir",
      "docker_compose_file",
      "app_metrics_target",
    ),
  ),
  tasks: [
    task("Stop the Docker observability stack", "docker_compose", {
      project_src: "{{ docker_compose_project_dir }}",
      files: ["{{ docker_compose_file }}"],
      state: "absent",
    }, { when: ["compose_stack_present | bool", "migration_mode == 'switch'"] }),
    task("Nothing to stop", "debug", {
      msg: "no compose stack on this host: fresh install, the switch had nothing to stop",
    }, {
      when: "not (compose_stack_present | bool)",
    }),
    task("Parallel mode", "debug", {
      msg:
        "parallel mode: the Docker stack keeps running; alloy receives OTLP on {{ alloy_otlp_grpc_port }}/{{ alloy_otlp_http_port }}",
    }, { when: "migration_mode == 'parallel'" }),
    task("alloy enabled and started", "systemd_service", {
      name: "alloy",
      enabled: true,
      state: "started",
    }),
    task("alloy is ready", "wait_for", {
      url: "http://{{ alloy_http_listen }}/-/ready",
      status_code: 200,
      timeout: 60,
    }),
    task("The app exports metrics on {{ app_metrics_target }}", "uri", {
      url: "http://{{ app_metrics_target }}/metrics",
      status_code: [200],
      timeout: 5,
    }, { register: "app_metrics", failedWhen: false }),
    task("Warn when the app is not running", "debug", {
      msg:
        "WARNING: the app's metrics endpoint http://{{ app_metrics_target }}/metrics did not answer ({{ app_metrics.msg | default('') }}); alloy will scrape it once the app runs",
    }, { when: "app_metrics.status | default(0) != 200" }),
  ],
});
