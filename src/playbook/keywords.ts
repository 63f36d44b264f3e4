/**
 * @module
 * The keywords a play, a task and a block accept, for validation and hints.
 */

/** Keys of a play. */
export const PLAY_KEYS = [
  "name",
  "hosts",
  "become",
  "become_user",
  "become_method",
  "vars",
  "vars_files",
  "gather_facts",
  "roles",
  "pre_tasks",
  "tasks",
  "post_tasks",
  "handlers",
  "serial",
  "any_errors_fatal",
  "tags",
  "check_mode",
  "no_log",
  "environment",
  "remote_user",
  "connection",
  "strategy",
  "gather_subset",
  "ignore_errors",
  "max_fail_percentage",
  "module_defaults",
  "collections",
] as const;

/** Keys of a task besides its module. */
export const TASK_KEYS = [
  "name",
  "when",
  "loop",
  "loop_control",
  "with_items",
  "with_list",
  "register",
  "notify",
  "tags",
  "become",
  "become_user",
  "become_method",
  "no_log",
  "changed_when",
  "failed_when",
  "ignore_errors",
  "check_mode",
  "environment",
  "vars",
  "args",
  "listen",
  "delegate_to",
  "run_once",
  "retries",
  "until",
  "delay",
  "any_errors_fatal",
  "diff",
] as const;

/** Keys of a block. */
export const BLOCK_KEYS = [
  "name",
  "block",
  "rescue",
  "always",
  "when",
  "tags",
  "become",
  "become_user",
  "become_method",
  "vars",
  "environment",
  "ignore_errors",
  "check_mode",
  "no_log",
  "any_errors_fatal",
] as const;

/** Keys of a role entry in `roles:`. */
export const ROLE_KEYS = ["role", "name", "vars", "tags", "when", "become", "become_user"] as const;

/** Collections whose module names map onto drover's own. */
export const FQCN_PREFIXES = [
  "ansible.builtin.",
  "ansible.legacy.",
  "ansible.posix.",
  "community.general.",
  "community.docker.",
];
