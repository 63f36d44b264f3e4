/**
 * @module
 * firewall: opens 4317/4318 (ufw on Debian, firewalld on RHEL) only when
 * otlp_external is true, with the seed's comments; never opens 9464 or
 * 12345; no firewall installed = skip with a note.
 */
import { defineRole, task, z } from "../../src/role.ts";
import { pick } from "../_shared/vars.ts";

const RULES = [
  { port: "{{ alloy_otlp_grpc_port }}", comment: "Alloy OTLP gRPC" },
  { port: "{{ alloy_otlp_http_port }}", comment: "Alloy OTLP HTTP" },
];

/** The firewall role. */
export const role = defineRole({
  name: "firewall",
  description: "Opens the OTLP ports in ufw or firewalld only when otlp_external is true.",
  vars: z.object(pick("otlp_external")),
  tasks: [
    task("No firewall installed", "debug", {
      msg: "no ufw or firewalld on this host: nothing to open (OTLP listens on {{ otlp_bind }})",
    }, {
      when: "alloy_firewall == 'none'",
    }),
    task("ufw: OTLP ports {{ 'open' if otlp_external | bool else 'closed' }}", "ufw", {
      rule: "allow",
      port: "{{ item.port }}",
      proto: "tcp",
      comment: "{{ item.comment }}",
      delete: "{{ not (otlp_external | bool) }}",
    }, {
      loop: RULES,
      loopLabel: "{{ item.port }}/tcp {{ item.comment }}",
      when: "alloy_firewall == 'ufw'",
    }),
    task("firewalld: OTLP ports {{ 'open' if otlp_external | bool else 'closed' }}", "firewalld", {
      port: "{{ item.port }}/tcp",
      permanent: true,
      immediate: true,
      state: "{{ 'enabled' if otlp_external | bool else 'disabled' }}",
    }, { loop: RULES, loopLabel: "{{ item.port }}/tcp", when: "alloy_firewall == 'firewalld'" }),
  ],
});
