/**
 * @module
 * `user`: ensure a user's supplementary groups (the part of Ansible's `user`
 * module the migration needs: alloy must be in adm and systemd-journal, or
 * journald collection silently gets nothing).
 *
 * @example
 * ```yaml
 * - user: { name: alloy, groups: [adm, systemd-journal], append: true }
 * ```
 */
import { z } from "zod";
import { defineModule, ModuleFailure, readHost } from "../core/module.ts";
import { bool, list, str } from "../core/args.ts";
import { shq } from "../connection/quote.ts";

/** Groups to add (append) or the full new list (replace). Pure. */
export function planGroups(
  current: readonly string[],
  want: readonly string[],
  append: boolean,
): string[] | undefined {
  if (append) {
    const missing = want.filter((g) => !current.includes(g));
    return missing.length ? [...current, ...missing] : undefined;
  }
  const same = want.length === current.length && want.every((g) => current.includes(g));
  return same ? undefined : [...want];
}

/** One `id` (what `id -gn` and `id -nG` would say, in one process). */
function idScript(name: string): string {
  return `if v=$(LC_ALL=C id -- ${
    shq(name)
  } 2>/dev/null); then echo yes; printf '%s\\n' "$v"; else echo no; fi\n`;
}

/**
 * A user's primary group and all its groups (primary first, as `id -nG`)
 * from `id NAME`'s line: `uid=999(alloy) gid=999(alloy) groups=999(alloy),4(adm)`.
 * A group without a name is its number. Pure.
 */
export function parseIdLine(line: string): { primary: string; all: string[] } {
  const name = (f: string) => /^\d+\((.*)\)$/.exec(f)?.[1] ?? f;
  const gid = /(?:^|\s)gid=(\d+(?:\([^)]*\))?)/.exec(line)?.[1] ?? "";
  const groups = /(?:^|\s)groups=(\S.*)$/.exec(line.trim())?.[1] ?? "";
  return {
    primary: name(gid),
    all: groups.split(/,(?=\d)/).filter(Boolean).map(name),
  };
}

/** The `user` module (groups only). */
export const user = defineModule({
  name: "user",
  doc: "Ensure a user is in the given supplementary groups.",
  args: z.object({
    name: str(),
    groups: list(str()),
    append: bool().default(true),
    state: z.enum(["present"]).default("present"),
    /**
     * The groups the package that creates this user (installed earlier in the
     * same run) puts it in. Only `--check` uses it, to predict exactly what the
     * real run will find when the user does not exist yet.
     */
    package_groups: list(str()).optional(),
  }).strict(),
  reads: (a) => typeof a.name === "string" ? [{ script: idScript(a.name) }] : [],
  async run(ctx, a) {
    const r = await readHost(ctx, idScript(a.name));
    const [exists, line] = r.stdout.split("\n");
    const { primary, all } = parseIdLine(line ?? "");
    if (exists !== "yes") {
      const pending = ctx.check &&
        (ctx.model.flag<readonly string[]>("pkg:pending")?.length ?? 0) > 0;
      if (pending) {
        const after = a.package_groups ?? [];
        const next = planGroups(after, a.groups, a.append);
        return {
          changed: next !== undefined,
          msg: `user ${a.name} will be created by a package installed earlier in this run${
            after.length ? ` (in ${after.join(", ")})` : ""
          }${next ? `, then put in ${next.join(", ")}` : ""}`,
        };
      }
      throw new ModuleFailure(`user ${a.name} does not exist`);
    }
    const current = all.filter((g) => g !== primary);
    // The primary group is never among the supplementary ones `id` lists: wanting it is a no-op.
    const next = planGroups(current, a.groups.filter((g) => g !== primary), a.append);
    if (!next) return { changed: false, data: { name: a.name, groups: current } };
    const diff = [{
      target: `user ${a.name}`,
      before: `groups: ${current.join(",")}\n`,
      after: `groups: ${next.join(",")}\n`,
    }];
    if (!ctx.check) {
      const u = await ctx.sh(`usermod -G ${shq(next.join(","))} ${shq(a.name)}\n`);
      if (u.rc !== 0) throw new ModuleFailure(`usermod failed: ${u.stderr.trim()}`);
    }
    return {
      changed: true,
      diff,
      msg: `groups of ${a.name}: ${next.join(", ")}`,
      data: { name: a.name, groups: next },
    };
  },
});
