/**
 * @module
 * docker-cleanup: only when asked (--tags cleanup or -e docker_cleanup=true):
 * `rmi` of exactly the stack's images and pruning only that compose
 * project's volumes (never another project's).
 */
import { defineRole, task, z } from "../../src/role.ts";
import { pick } from "../_shared/vars.ts";

const asked = "docker_cleanup | bool or 'cleanup' in ansible_run_tags";

/** The docker-cleanup role. */
export const role = defineRole({
  name: "docker-cleanup",
  description: "Removes the Docker stack's images and its project's volumes, only when asked.",
  vars: z.object(pick("docker_cleanup", "docker_stack_images")),
  tasks: [
    task("Remove the stack's images", "docker_image", {
      name: "{{ item }}",
      state: "absent",
      cli: "{{ container_cli }}",
    }, {
      loop: "{{ docker_stack_images }}",
      when: [asked, "container_cli != ''"],
      tags: ["cleanup"],
    }),
    task("Remove the stack's volumes (this compose project only)", "docker_volume", {
      prune_project:
        "{{ docker_compose_project_dir | basename | lower | regex_replace('[^a-z0-9_-]', '') }}",
    }, { when: [asked, "container_cli != ''"], tags: ["cleanup"], register: "volume_prune" }),
    task("What 'docker volume prune -f' would also have deleted", "debug", {
      msg:
        "kept {{ volume_prune.others | default([]) | length }} volume(s) of other projects that 'docker volume prune -f' would have deleted: {{ volume_prune.others | default([]) | join(', ') }}",
    }, { when: [asked, "container_cli != ''"], tags: ["cleanup"] }),
  ],
});
