/**
 * @module
 * `--list-tasks` and `--list-hosts`.
 */
import type { Item } from "../core/types.ts";
import type { Inventory } from "../inventory/mod.ts";
import type { LoadedPlaybook } from "../playbook/load.ts";

/** Lines of `--list-hosts`. */
export function listHosts(pb: LoadedPlaybook, inv: Inventory, limit?: string): string[] {
  const out = [`\nplaybook: ${pb.file}`];
  const lim = limit ? new Set(inv.match(limit).map((h) => h.name)) : undefined;
  for (const [i, play] of pb.plays.entries()) {
    const hosts = inv.match(play.hosts, play.pos).filter((h) => !lim || lim.has(h.name));
    out.push(
      `\n  play #${i + 1} (${play.hosts}): ${play.name}\tTAGS: [${play.tags.join(",")}]`,
      `    pattern: ['${play.hosts}']`,
      `    hosts (${hosts.length}):`,
    );
    for (const h of hosts) out.push(`      ${h.name}`);
  }
  return out;
}

/** Lines of `--list-tasks` (honouring --tags/--skip-tags). */
export function listTasks(
  pb: LoadedPlaybook,
  tags: readonly string[],
  skip: readonly string[],
): string[] {
  const out = [`\nplaybook: ${pb.file}`];
  const selected = (t: readonly string[]) => {
    if (skip.some((s) => t.includes(s))) return false;
    if (t.includes("never") && !tags.some((x) => t.includes(x))) return false;
    return tags.length === 0 || t.includes("always") || tags.some((x) => t.includes(x));
  };
  const walk = (items: readonly Item[], inherited: readonly string[], role?: string) => {
    for (const it of items) {
      const t = [...inherited, ...it.tags];
      if (it.kind === "block") walk([...it.block, ...it.rescue, ...it.always], t, role);
      else if (it.kind === "include") {
        out.push(`      include_tasks ${it.file}\tTAGS: [${[...new Set(t)].join(", ")}]`);
      } else if (selected(t)) {
        out.push(
          `      ${role ?? it.role ? `${role ?? it.role} : ` : ""}${it.name ?? it.module}\tTAGS: [${
            [...new Set(t)].join(", ")
          }]`,
        );
      }
    }
  };
  for (const [i, play] of pb.plays.entries()) {
    out.push(
      `\n  play #${i + 1} (${play.hosts}): ${play.name}\tTAGS: [${play.tags.join(",")}]`,
      "    tasks:",
    );
    walk(play.preTasks, play.tags);
    for (const r of play.roles) {
      walk(pb.roles.get(r.name)!.tasks, [...play.tags, ...r.tags], r.name);
    }
    walk(play.tasks, play.tags);
    walk(play.postTasks, play.tags);
  }
  return out;
}
