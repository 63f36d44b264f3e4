/**
 * @module
 * install-alloy: Grafana's apt repository (key in /etc/apt/keyrings,
 * signed-by) or the yum/dnf repo for the RHEL family, or a local package
 * file; then the alloy user in adm and systemd-journal.
 */
import { defineRole, task, z } from "../../src/role.ts";
import { pick } from "../_shared/vars.ts";

const fromRepo = "alloy_package_file == ''";

/** The install-alloy role. */
export const role = defineRole({
  name: "install-alloy",
  description:
    "Installs the alloy package from Grafana's repository (apt or dnf) or a local package file.",
  vars: z.object(pick(
    "alloy_apt_repo_url",
    "alloy_apt_repo_suite",
    "alloy_apt_repo_component",
    "alloy_apt_key_url",
    "alloy_rpm_repo_url",
    "alloy_rpm_key_url",
    "alloy_version",
    "alloy_package_file",
  )),
  tasks: [
    task("Keyring directory", "file", {
      path: "/etc/apt/keyrings",
      state: "directory",
      mode: "0755",
    }, {
      when: ["alloy_family == 'apt'", fromRepo],
    }),
    task("Grafana apt repository and its signing key", "apt_repository", {
      repo:
        "deb [signed-by=/etc/apt/keyrings/grafana.asc] {{ alloy_apt_repo_url }} {{ alloy_apt_repo_suite }} {{ alloy_apt_repo_component }}",
      filename: "grafana",
      key_url: "{{ alloy_apt_key_url }}",
      keyring: "/etc/apt/keyrings/grafana.asc",
      state: "present",
    }, { when: ["alloy_family == 'apt'", fromRepo] }),
    task(
      "Grafana rpm signing key",
      "rpm_key",
      { key: "{{ alloy_rpm_key_url }}", state: "present" },
      {
        when: ["alloy_family == 'rpm'", fromRepo],
      },
    ),
    task("Grafana yum/dnf repository", "yum_repository", {
      name: "grafana",
      description: "Grafana",
      baseurl: "{{ alloy_rpm_repo_url }}",
      gpgcheck: true,
      repo_gpgcheck: true,
      gpgkey: "{{ alloy_rpm_key_url }}",
      enabled: true,
      file: "grafana",
    }, { when: ["alloy_family == 'rpm'", fromRepo] }),
    task("alloy package", "package", {
      name:
        "{{ 'alloy' ~ (('=' if alloy_family == 'apt' else '-') ~ alloy_version if alloy_version else '') }}",
      state: "present",
    }, { when: fromRepo }),
    task("alloy package from a local file", "package", {
      deb: "{{ alloy_package_file }}",
      state: "present",
    }, {
      when: "alloy_package_file != ''",
    }),
    task("alloy may read the journal (adm, systemd-journal)", "user", {
      name: "alloy",
      groups: ["adm", "systemd-journal"],
      append: true,
      // Grafana's Debian package (and the lab's stand-in rpm) creates the user
      // in these groups; --check uses it to predict this task exactly.
      package_groups: ["adm", "systemd-journal"],
    }),
  ],
});
