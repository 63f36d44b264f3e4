/**
 * @module
 * The migration's variables, with fixed names so inventories, docs and
 * tests can rely on them. Each role picks the ones it uses.
 */
import { z } from "../../src/role.ts";
import { bool, int, list, str } from "../../src/core/args.ts";

const url = (d: string) => str().default("").describe(d);

/** Every migration variable: type, default and description. */
export const V = {
  grafana_cloud_prometheus_url: url(
    "Grafana Cloud metrics push URL (https://prometheus-prod-NN-prod-REGION.grafana.net/api/prom/push)",
  ),
  grafana_cloud_prometheus_username: url(
    "Grafana Cloud Prometheus instance ID (the metrics username)",
  ),
  grafana_cloud_loki_url: url(
    "Grafana Cloud logs push URL (https://logs-prod-NNN.grafana.net/loki/api/v1/push)",
  ),
  grafana_cloud_loki_username: url("Grafana Cloud Loki instance ID (the logs username)"),
  grafana_cloud_tempo_endpoint: url(
    "Grafana Cloud traces OTLP gRPC endpoint (tempo-prod-NN-prod-REGION.grafana.net:443)",
  ),
  grafana_cloud_tempo_username: url("Grafana Cloud Tempo instance ID (the traces username)"),
  grafana_cloud_token: str().default(
    "{{ lookup('env', 'GRAFANA_CLOUD_API_KEY') or lookup('envfile', grafana_cloud_env_file, 'GRAFANA_CLOUD_API_KEY') }}",
  ).describe(
    "Grafana Cloud access-policy token (glc_…); else $GRAFANA_CLOUD_API_KEY, else GRAFANA_CLOUD_API_KEY= in grafana_cloud_env_file",
  ),
  grafana_cloud_env_file: str().default("~/.env.tta-dev").describe(
    "Env file on the control machine holding GRAFANA_CLOUD_API_KEY=",
  ),
  alloy_apt_repo_url: str().default("https://apt.grafana.com").describe(
    "apt repository of the alloy package",
  ),
  alloy_apt_repo_suite: str().default("stable").describe("apt suite"),
  alloy_apt_repo_component: str().default("main").describe("apt component"),
  alloy_apt_key_url: str().default("https://apt.grafana.com/gpg.key").describe(
    "Armored signing key of the apt repository",
  ),
  alloy_rpm_repo_url: str().default("https://rpm.grafana.com").describe(
    "yum/dnf repository of the alloy package",
  ),
  alloy_rpm_key_url: str().default("https://rpm.grafana.com/gpg.key").describe(
    "Signing key of the rpm repository",
  ),
  alloy_version: str().default("").describe("Pin this alloy version (empty: the newest)"),
  alloy_package_file: str().default("").describe(
    "Install this local package file on the host instead of using a repository (offline)",
  ),
  docker_compose_project_dir: str().default("{{ ansible_user_dir }}/repos/TTA.dev").describe(
    "Directory of the Docker observability stack's compose project",
  ),
  docker_compose_file: str().default("docker-compose.integration.yml").describe(
    "Compose file inside docker_compose_project_dir",
  ),
  docker_stack_images: list(str()).default([
    "jaegertracing/all-in-one:1.52",
    "prom/prometheus:v2.48.1",
    "grafana/grafana:10.2.3",
    "otel/opentelemetry-collector-contrib:0.91.0",
    "prom/pushgateway:v1.6.2",
  ]).describe("Images the cleanup removes (exactly these)"),
  migration_mode: z.enum(["switch", "parallel"]).default("switch").describe(
    "switch: stop the compose stack; parallel: run alloy beside it on other OTLP ports",
  ),
  otlp_external: bool().default(false).describe(
    "Listen for OTLP on 0.0.0.0 and open 4317/4318 in the firewall",
  ),
  docker_cleanup: bool().default(false).describe(
    "Remove the stack's images and volumes (also: --tags cleanup)",
  ),
  remove_alloy: bool().default(false).describe("Rollback: also purge the alloy package"),
  install_local_prometheus: bool().default(false).describe(
    "Also install Debian's prometheus scraping the app (offline dev)",
  ),
  install_local_grafana: bool().default(false).describe(
    "Also install Grafana from Grafana's repository (offline dev)",
  ),
  alloy_metrics_enabled: bool().default(true).describe(
    "Ship metrics (app + alloy) to Grafana Cloud",
  ),
  alloy_logs_enabled: bool().default(true).describe(
    "Ship the systemd journal to Grafana Cloud Loki",
  ),
  alloy_traces_enabled: bool().default(true).describe(
    "Receive OTLP traces and ship them to Grafana Cloud Tempo",
  ),
  otlp_grpc_port: int().default(4317).describe("OTLP gRPC port"),
  otlp_http_port: int().default(4318).describe("OTLP HTTP port"),
  otlp_parallel_grpc_port: int().default(14317).describe(
    "OTLP gRPC port in parallel mode (the collector container holds 4317)",
  ),
  otlp_parallel_http_port: int().default(14318).describe("OTLP HTTP port in parallel mode"),
  app_metrics_target: str().default("localhost:9464").describe(
    "The app's Prometheus metrics endpoint",
  ),
  app_metrics_job: str().default("tta-dev-app").describe("Job label of the app's metrics"),
  alloy_http_listen: str().default("127.0.0.1:12345").describe(
    "Alloy's UI/API address (ready and metrics endpoints)",
  ),
  drover_state_dir: str().default("/var/lib/drover").describe(
    "Where migrate records the pre-migration state for rollback",
  ),
} as const;

/** The seven Grafana Cloud settings; preflight checks every one is non-empty. */
export const GRAFANA_CLOUD_SETTINGS = [
  "grafana_cloud_prometheus_url",
  "grafana_cloud_prometheus_username",
  "grafana_cloud_loki_url",
  "grafana_cloud_loki_username",
  "grafana_cloud_tempo_endpoint",
  "grafana_cloud_tempo_username",
  "grafana_cloud_token",
] as const satisfies readonly (keyof typeof V)[];

/** Pick some variables for a role's schema. */
export function pick<K extends keyof typeof V>(...keys: K[]): { [P in K]: (typeof V)[P] } {
  return Object.fromEntries(keys.map((k) => [k, V[k]])) as { [P in K]: (typeof V)[P] };
}
