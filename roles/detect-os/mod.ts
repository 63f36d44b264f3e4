/**
 * @module
 * detect-os: is this OS supported, and which package manager, env-file path
 * and firewall does it use. Sets `alloy_env_file`, `alloy_family`.
 */
import { defineRole, task, z } from "../../src/role.ts";

const SUPPORTED = ["Debian", "Ubuntu", "RedHat", "Rocky", "AlmaLinux", "CentOS", "Fedora"];

/** The detect-os role. */
export const role = defineRole({
  name: "detect-os",
  description:
    "Checks the OS is Ubuntu, Debian, RHEL (Rocky/Alma) or Fedora and sets the paths the other roles use.",
  vars: z.object({}),
  tasks: [
    task("Check the OS is supported", "assert", {
      that: [
        `ansible_distribution in ${JSON.stringify(SUPPORTED)}`,
        "ansible_os_family in ['Debian', 'RedHat']",
      ],
      fail_msg:
        "unsupported OS: found {{ ansible_distribution }} {{ ansible_distribution_version }} (family {{ ansible_os_family }}); drover's migration supports Ubuntu, Debian, RHEL/Rocky/Alma and Fedora",
      quiet: true,
    }, { tags: ["always"] }),
    task("Set OS-specific paths", "set_fact", {
      alloy_family: "{{ 'apt' if ansible_os_family == 'Debian' else 'rpm' }}",
      alloy_env_file:
        "{{ '/etc/default/alloy' if ansible_os_family == 'Debian' else '/etc/sysconfig/alloy' }}",
      alloy_firewall: "{{ ansible_firewall }}",
    }, { tags: ["always"] }),
  ],
});
