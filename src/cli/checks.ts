/**
 * @module
 * The check tasks a playbook holds (assert, uri, wait_for, fail), in order,
 * so that the HTML report of a verify run lists every criterion, also those
 * that did not run because the host stopped at an earlier failure.
 */
import type { Item } from "../core/types.ts";
import type { LoadedPlaybook } from "../playbook/load.ts";
import { CHECK_MODULES, type PlannedCheck } from "../report/html.ts";

/** Every check task of `pb`'s plays (roles and blocks included; not handlers, not includes). */
export function plannedChecks(pb: LoadedPlaybook): PlannedCheck[] {
  const out: PlannedCheck[] = [];
  const walk = (items: readonly Item[], role?: string) => {
    for (const it of items) {
      if (it.kind === "block") walk([...it.block, ...it.rescue, ...it.always], role);
      else if (it.kind === "task" && CHECK_MODULES.has(it.module)) {
        const name = it.name ?? it.module;
        const r = role ?? it.role;
        out.push({
          name: r ? `${r} : ${name}` : name,
          module: it.module,
          pos: `${it.pos.file}:${it.pos.line}:${it.pos.col}`,
        });
      }
    }
  };
  for (const play of pb.plays) {
    walk(play.preTasks);
    for (const r of play.roles) walk(pb.roles.get(r.name)?.tasks ?? [], r.name);
    walk(play.tasks);
    walk(play.postTasks);
  }
  return out;
}
