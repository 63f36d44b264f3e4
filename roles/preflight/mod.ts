/**
 * @module
 * preflight: changes nothing. systemd is PID 1 (or the WSL fix), sudo works,
 * credentials are present, the ports are free or held by the stack this run
 * stops, and which container tool and compose command there are.
 */
import { defineRole, task, z } from "../../src/role.ts";
import { GRAFANA_CLOUD_SETTINGS, pick } from "../_shared/vars.ts";

/** The preflight role. */
export const role = defineRole({
  name: "preflight",
  description: "Checks everything the migration needs before anything changes.",
  vars: z.object(pick(
    ...GRAFANA_CLOUD_SETTINGS,
    "grafana_cloud_env_file",
    "migration_mode",
    "docker_compose_project_dir",
    "docker_compose_file",
    "otlp_grpc_port",
    "otlp_http_port",
    "otlp_parallel_grpc_port",
    "otlp_parallel_http_port",
    "alloy_http_listen",
  )),
  tasks: [
    task("systemd must be PID 1 (WSL: enable it in /etc/wsl.conf)", "fail", {
      msg:
        "systemd is not running on this WSL distribution. Add these lines to /etc/wsl.conf:\n[boot]\nsystemd=true\nthen run 'wsl.exe --shutdown' in Windows and open the distribution again.",
    }, { when: ["not systemd_running", "is_wsl"], tags: ["always"] }),
    task("systemd must be PID 1", "fail", {
      msg:
        "systemd is not PID 1 here (PID 1 is '{{ ansible_pid1 }}'): alloy runs as a systemd service, so this host cannot be migrated as it is.",
    }, { when: ["not systemd_running", "not is_wsl"], tags: ["always"] }),
    task("sudo works without a prompt", "command", { cmd: "true" }, {
      changedWhen: false,
      checkMode: false,
      tags: ["always"],
    }),
    task("Grafana Cloud credentials are present", "assert", {
      that: "vars[item] | string | length > 0",
      fail_msg:
        "{{ item }} is empty: set it with -e {{ item }}=... or in the inventory{{ ' (the token may also come from $GRAFANA_CLOUD_API_KEY or GRAFANA_CLOUD_API_KEY= in ' ~ grafana_cloud_env_file ~ ')' if item == 'grafana_cloud_token' else '' }}",
      quiet: true,
    }, { loop: [...GRAFANA_CLOUD_SETTINGS], tags: ["always"] }),
    task("Find the compose project", "stat", {
      path: "{{ docker_compose_project_dir }}/{{ docker_compose_file }}",
    }, { register: "compose_file", tags: ["always"] }),
    task("Decide the container tool and compose command", "set_fact", {
      compose_command:
        "{{ ansible_compose_commands[0] if ansible_compose_commands | length > 0 else '' }}",
      container_cli:
        "{{ 'docker' if ansible_docker.present else ('podman' if ansible_podman.present else '') }}",
      compose_stack_present:
        "{{ compose_file.stat.exists and (ansible_docker.present or ansible_podman.present) }}",
      alloy_otlp_grpc_port:
        "{{ otlp_parallel_grpc_port if migration_mode == 'parallel' else otlp_grpc_port }}",
      alloy_otlp_http_port:
        "{{ otlp_parallel_http_port if migration_mode == 'parallel' else otlp_http_port }}",
    }, { tags: ["always"] }),
    task("Say what the switch will find", "debug", {
      msg:
        "{{ ('compose project ' ~ docker_compose_project_dir ~ '/' ~ docker_compose_file ~ ' found; ' ~ ('it keeps running (parallel mode)' if migration_mode == 'parallel' else (compose_command or 'no compose command') ~ ' will stop it')) if compose_stack_present else 'no Docker compose project at ' ~ docker_compose_project_dir ~ '/' ~ docker_compose_file ~ ': a fresh install, the switch has nothing to stop' }}{{ '; parallel mode: alloy listens for OTLP on ' ~ alloy_otlp_grpc_port ~ '/' ~ alloy_otlp_http_port ~ ' beside the collector' if migration_mode == 'parallel' else '' }}",
    }, { tags: ["always"] }),
    task("OTLP and alloy ports are free or held by the stack this run stops", "drover_ports", {
      ports: [
        "{{ alloy_otlp_grpc_port | int }}",
        "{{ alloy_otlp_http_port | int }}",
        "{{ alloy_http_listen.split(':')[1] | int }}",
      ],
      allow_processes: ["alloy", "docker-proxy"],
      allow_containers: [],
    }, { tags: ["always"] }),
  ],
});
