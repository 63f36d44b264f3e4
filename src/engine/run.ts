/**
 * @module
 * The engine: runs plays in order; each task runs on all of a play's hosts in
 * parallel (up to `forks`), like Ansible's linear strategy. Failed or
 * unreachable hosts drop out and the others go on; handlers run when
 * notified by a change, once, at the end of each section or at
 * `meta: flush_handlers`. It emits events and prints nothing.
 */
import { BecomeError, type Connection, UnreachableError } from "../core/connection.ts";
import { DroverError, type SourcePos } from "../core/errors.ts";
import { type Emit, emptyStats, type HostStats, type Status } from "../core/events.ts";
import {
  HostModel,
  type Module,
  type ModuleContext,
  ModuleFailure,
  type ModuleResult,
  type ReadRequest,
} from "../core/module.ts";
import type { Block, Include, Item, Play, Task } from "../core/types.ts";
import {
  becomeProbeOf,
  emptyFacts,
  type Facts,
  FACTS_SCRIPT,
  factVars,
  parseFacts,
} from "../facts/mod.ts";
import type { Inventory, InventoryHost } from "../inventory/mod.ts";
import { findModule } from "../modules/registry.ts";
import { type LoadedPlaybook, loadTaskFile } from "../playbook/load.ts";
import type { LoadedRole } from "../playbook/roles.ts";
import { parseArgs } from "../playbook/validate.ts";
import { Templar, truthy, type Vars } from "../template/mod.ts";
import { mergeVars, SECRET_NAME } from "./vars.ts";
import { Redactor } from "./redact.ts";
import { readYaml, toJS } from "../core/yaml.ts";
import { isAbsolute, join } from "../core/path.ts";
import { DROVER_VERSION } from "../version.ts";
import { batchScript, MAX_BATCHED_SCRIPT, newNonce, parseBatch, ReadCache } from "./reads.ts";
import { z } from "zod";
import type { Become, ExecOptions, ExecResult } from "../core/connection.ts";

/** Options of a run. */
export interface RunOptions {
  readonly check: boolean;
  readonly diff: boolean;
  readonly forks: number;
  readonly tags: readonly string[];
  readonly skipTags: readonly string[];
  readonly limit?: string;
  readonly extraVars: Vars;
  readonly args: readonly string[];
  /** Opens a connection to a host (local or ssh, from its variables). */
  readonly connect: (host: InventoryHost, vars: Vars) => Connection;
}

/** What a finished run reports. */
export interface RunSummary {
  readonly exitCode: number;
  readonly stats: Record<string, HostStats>;
  readonly interrupted: boolean;
}

const OMIT = "__drover_omit_place_holder__";
const NO_LOG_MSG =
  "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

interface HostState {
  readonly name: string;
  readonly inv: InventoryHost;
  conn?: Connection;
  facts: Facts;
  factVars: Vars;
  readonly hostVars: Record<string, unknown>;
  failed: boolean;
  unreachable: boolean;
  ended: boolean;
  readonly model: HostModel;
  readonly notified: Set<string>;
  readonly stats: HostStats;
  /** The last task that failed here, for `ansible_failed_result` in a rescue. */
  lastFailure?: { result: Record<string, unknown>; task: string };
  varsFiles: Vars;
  /** Reads batched ahead of the tasks that need them (see reads.ts). */
  readonly reads: ReadCache;
  /** Index in the play's task plan of the task running on this host. */
  cursor: number;
}

/** A task of the play in the order the engine runs it, for read-ahead. */
interface PlanEntry {
  readonly task: Task;
  readonly inh: Inherited;
  readonly use?: Play["roles"][number];
}

interface Inherited {
  readonly when: readonly unknown[];
  readonly tags: readonly string[];
  readonly become?: boolean;
  readonly becomeUser?: string;
  readonly vars: readonly Vars[];
  readonly environment?: unknown;
  readonly ignoreErrors?: boolean;
  readonly checkMode?: boolean;
  readonly noLog?: boolean;
  readonly role?: LoadedRole;
  readonly roleVars: Vars;
}

/** Runs a loaded playbook against an inventory. */
export class Engine {
  readonly templar = new Templar();
  readonly redactor = new Redactor();
  readonly #hosts = new Map<string, HostState>();
  #interrupted = false;
  #play?: Play;
  #playHosts: HostState[] = [];
  #roleDefaults: Vars = {};
  /** vars/main.yml of every role in the play, visible play-wide as in Ansible. */
  #roleVarsAll: Vars = {};
  /** Each role's variables (params included) per host, for its handlers. */
  readonly #handlerRoleVars = new Map<string, Map<string, Vars>>();

  constructor(
    private readonly inventory: Inventory,
    private readonly playbook: LoadedPlaybook,
    private readonly opts: RunOptions,
    private readonly emitRaw: Emit,
  ) {
    for (const [k, v] of Object.entries(opts.extraVars)) {
      if (SECRET_NAME.test(k)) this.redactor.add(v);
    }
    for (const h of inventory.hosts()) {
      for (const [k, v] of Object.entries(h.vars)) if (SECRET_NAME.test(k)) this.redactor.add(v);
    }
  }

  /** Redact, then hand the event to reporters. */
  emit: Emit = (e) => this.emitRaw(this.redactor.scrub(e));

  /** Ask the run to stop after the tasks in flight (SIGINT). */
  interrupt(): void {
    this.#interrupted = true;
  }

  /** Run every play. */
  async run(): Promise<RunSummary> {
    const start = Date.now();
    this.emit({
      type: "run_start",
      version: DROVER_VERSION,
      playbook: this.playbook.file,
      check: this.opts.check,
      diff: this.opts.diff,
      args: this.opts.args,
    });
    const limit = this.opts.limit
      ? new Set(this.inventory.match(this.opts.limit).map((h) => h.name))
      : undefined;
    if (limit && limit.size === 0) {
      throw new DroverError(`--limit '${this.opts.limit}' matches no host in the inventory`, {
        exitCode: 5,
        hint: `hosts are: ${this.inventory.hosts().map((h) => h.name).join(", ") || "(none)"}`,
      });
    }
    this.#validateRoles();
    try {
      for (const play of this.playbook.plays) {
        if (this.#interrupted) break;
        const hosts = this.inventory.match(play.hosts, play.pos).filter((h) =>
          !limit || limit.has(h.name)
        );
        await this.#runPlay(play, hosts);
      }
    } finally {
      await Promise.all([...this.#hosts.values()].map((h) => h.conn?.close().catch(() => {})));
    }
    const stats = Object.fromEntries([...this.#hosts.values()].map((h) => [h.name, h.stats]));
    this.emit({ type: "recap", hosts: stats });
    const exitCode = this.#interrupted ? 99 : exitCodeOf(Object.values(stats));
    this.emit({
      type: "run_end",
      exitCode,
      durationMs: Date.now() - start,
      interrupted: this.#interrupted,
    });
    return { exitCode, stats, interrupted: this.#interrupted };
  }

  #host(inv: InventoryHost): HostState {
    let h = this.#hosts.get(inv.name);
    if (!h) {
      const facts = emptyFacts();
      h = {
        name: inv.name,
        inv,
        facts,
        factVars: {},
        hostVars: {},
        failed: false,
        unreachable: false,
        ended: false,
        model: new HostModel(),
        notified: new Set(),
        stats: emptyStats(),
        varsFiles: {},
        reads: new ReadCache(),
        cursor: 0,
      };
      this.#hosts.set(inv.name, h);
    }
    return h;
  }

  /** Role variables checked against their schemas before anything runs (what can be known without facts). */
  #validateRoles(): void {
    for (const play of this.playbook.plays) {
      for (const use of play.roles) {
        const role = this.playbook.roles.get(use.name)!;
        if (!role.schema) continue;
        const known = new Set(Object.keys(role.schema.shape));
        for (const k of Object.keys(use.params)) {
          if (!known.has(k)) {
            throw new DroverError(`role '${role.name}' has no variable '${k}'`, {
              pos: use.pos,
              expected: `one of: ${[...known].join(", ")}`,
            });
          }
        }
        for (const h of this.inventory.match(play.hosts, play.pos)) {
          const vars = {
            ...role.defaults,
            ...h.vars,
            ...play.vars,
            ...use.params,
            ...this.opts.extraVars,
            inventory_hostname: h.name,
          };
          this.#checkRoleVars(role, vars, use.pos, true);
        }
      }
    }
  }

  /** Validate a role's variables for one host; returns the coerced values. */
  #checkRoleVars(role: LoadedRole, vars: Vars, pos: SourcePos, lenient: boolean): Vars {
    const out: Vars = {};
    const scope = this.templar.scope(vars);
    for (const [k, schema] of Object.entries(role.schema!.shape)) {
      let v: unknown;
      try {
        v = scope[k];
      } catch (e) {
        if (lenient) continue;
        throw e instanceof DroverError
          ? new DroverError(`role '${role.name}' variable '${k}': ${e.message}`, {
            pos,
            hint: e.hint,
          })
          : e;
      }
      const r = (schema as import("zod").ZodType).safeParse(v);
      if (!r.success) {
        const issue = r.error.issues[0];
        throw new DroverError(
          `role '${role.name}' variable '${k}'${
            issue.path.length ? `.${issue.path.join(".")}` : ""
          } is invalid: ${issue.message.replace(/^Invalid input: /, "")}`,
          {
            pos,
            expected: (schema as { description?: string }).description,
            hint: v === undefined
              ? `set it with -e ${k}=... or in the inventory`
              : `got ${JSON.stringify(v)?.slice(0, 60)}`,
          },
        );
      }
      out[k] = r.data;
    }
    return out;
  }

  async #runPlay(play: Play, invHosts: InventoryHost[]): Promise<void> {
    this.#play = play;
    this.emit({
      type: "play_start",
      name: play.name,
      hosts: invHosts.map((h) => h.name),
      warning: invHosts.length === 0
        ? `no hosts matched '${play.hosts}', skipping this play`
        : undefined,
    });
    if (invHosts.length === 0) return;
    // Role defaults of every role in the play are visible play-wide (Ansible's default).
    this.#roleDefaults = {};
    const roleOrder = this.#roleOrder(play);
    for (const r of roleOrder) Object.assign(this.#roleDefaults, r.role.defaults);
    this.#roleVarsAll = {};
    for (const r of roleOrder) Object.assign(this.#roleVarsAll, r.role.vars);
    const batches = serialBatches(invHosts, play.serial);
    for (const batch of batches) {
      const hosts = batch.map((h) => this.#host(h)).filter((h) => !h.unreachable && !h.failed);
      for (const h of hosts) h.ended = false;
      this.#playHosts = hosts;
      for (const h of hosts) this.#loadVarsFiles(play, h);
      const base: Inherited = {
        when: [],
        tags: play.tags,
        become: play.become,
        becomeUser: play.becomeUser,
        vars: [],
        environment: play.environment,
        checkMode: play.checkMode,
        noLog: play.noLog,
        roleVars: {},
      };
      this.#setPlan(play, roleOrder, base);
      for (const h of hosts) h.cursor = 0;
      // Ansible tags the facts task 'always', or with the play's tags when it has some.
      const factTags = play.tags.length ? play.tags : ["always"];
      if (play.gatherFacts && !this.#interrupted && this.#selected(factTags)) {
        await this.#gatherFacts(hosts);
      }
      await this.#runSection(play.preTasks, hosts, base);
      for (const r of roleOrder) {
        if (this.#interrupted) break;
        await this.#runRole(r.role, r.use, hosts, base);
      }
      await this.#runItems(play.tasks, hosts, base);
      await this.#flushHandlers(hosts, base);
      await this.#runSection(play.postTasks, hosts, base);
    }
  }

  #roleOrder(play: Play): { role: LoadedRole; use: Play["roles"][number] }[] {
    const out: { role: LoadedRole; use: Play["roles"][number] }[] = [];
    const seen = new Set<string>();
    const add = (name: string, use: Play["roles"][number]) => {
      const role = this.playbook.roles.get(name);
      if (!role) throw new DroverError(`role '${name}' is not loaded`, { pos: use.pos });
      for (const dep of role.dependencies) {
        const params = role.dependencyParams?.[dep] ?? {};
        if (!seen.has(dep) || Object.keys(params).length) add(dep, { ...use, name: dep, params });
      }
      if (seen.has(name) && Object.keys(use.params).length === 0) return;
      seen.add(name);
      out.push({ role, use });
    };
    for (const use of play.roles) add(use.name, use);
    return out;
  }

  async #runSection(items: readonly Item[], hosts: HostState[], inh: Inherited): Promise<void> {
    if (items.length === 0) return;
    await this.#runItems(items, hosts, inh);
    await this.#flushHandlers(hosts, inh);
  }

  async #runRole(
    role: LoadedRole,
    use: Play["roles"][number],
    hosts: HostState[],
    base: Inherited,
  ): Promise<void> {
    const alive = hosts.filter((h) => this.#alive(h));
    const roleVarsByHost = new Map<string, Vars>();
    for (const h of alive) {
      const vars = { ...role.vars, ...use.params };
      if (role.schema) {
        try {
          const all = this.#vars(h, { ...base, role, roleVars: vars }, {});
          Object.assign(vars, this.#checkRoleVars(role, all, use.pos, false));
        } catch (e) {
          if (!(e instanceof DroverError)) throw e;
          this.#result(h, `${role.name} : (role variables)`, {
            status: "failed",
            changed: false,
            msg: e.format(),
          }, 0);
          continue;
        }
      }
      roleVarsByHost.set(h.name, vars);
    }
    const inh: Inherited = {
      ...base,
      role,
      tags: [...base.tags, ...use.tags],
      when: use.when === undefined ? base.when : [...base.when, use.when],
      roleVars: {},
    };
    this.#roleVarsByHost = roleVarsByHost;
    this.#handlerRoleVars.set(role.name, roleVarsByHost);
    this.#currentUse = use;
    await this.#runItems(role.tasks, alive.filter((h) => roleVarsByHost.has(h.name)), inh);
    this.#roleVarsByHost = undefined;
    this.#currentUse = undefined;
  }

  #roleVarsByHost?: Map<string, Vars>;
  #currentUse?: Play["roles"][number];

  #loadVarsFiles(play: Play, h: HostState): void {
    h.varsFiles = {};
    for (const vf of play.varsFiles) {
      const path = String(
        this.templar.renderString(
          vf.path,
          this.#vars(h, { when: [], tags: [], vars: [], roleVars: {} }, {}),
        ),
      );
      const full = isAbsolute(path) ? path : join(play.baseDir, path);
      const y = readYaml(full, vf.pos);
      Object.assign(h.varsFiles, (toJS(y, y.doc.contents as never) ?? {}) as Vars);
    }
  }

  #alive(h: HostState, allowFailed?: Set<HostState>): boolean {
    return !h.unreachable && !h.ended && (!h.failed || (allowFailed?.has(h) ?? false));
  }

  #connection(h: HostState): Connection {
    if (!h.conn) {
      const vars = this.templar.render({
        ...h.inv.vars,
        ...this.opts.extraVars,
        inventory_hostname: h.name,
      }, {}) as Vars;
      h.conn = this.opts.connect(h.inv, vars);
    }
    return h.conn;
  }

  async #gatherFacts(hosts: HostState[]): Promise<void> {
    this.emit({
      type: "task_start",
      name: "Gathering Facts",
      handler: false,
      pos: "",
      hosts: hosts.map((h) => h.name),
    });
    await this.#parallel(hosts.filter((h) => this.#alive(h)), async (h) => {
      const t0 = Date.now();
      try {
        const conn = this.#connection(h);
        const r = await conn.exec(FACTS_SCRIPT, { timeoutMs: 60_000 });
        conn.primeBecome?.(becomeProbeOf(r.stdout));
        h.facts = parseFacts(r.stdout);
        h.factVars = factVars(h.facts);
        this.#result(h, "Gathering Facts", { status: "ok", changed: false }, Date.now() - t0);
      } catch (e) {
        this.#hostError(h, "Gathering Facts", e, Date.now() - t0);
      }
    });
  }

  #vars(
    h: HostState,
    inh: Inherited,
    taskVars: Vars,
    over?: { hostVars: Record<string, unknown>; roleVars?: Vars },
  ): Vars {
    const roleVars = inh.role
      ? { ...(over?.roleVars ?? this.#roleVarsByHost?.get(h.name) ?? {}), ...inh.roleVars }
      : inh.roleVars;
    const play = this.#play!;
    return mergeVars({
      roleDefaults: this.#roleDefaults,
      inventory: h.inv.vars,
      facts: h.factVars,
      magic: {
        inventory_hostname: h.name,
        inventory_hostname_short: h.name.split(".")[0],
        group_names: h.inv.groups.filter((g) => g !== "all" && g !== "ungrouped"),
        groups: Object.fromEntries(
          [...this.inventory.groups.keys()].map((
            g,
          ) => [g, [...(this.inventory.groupHosts(g) ?? [])]]),
        ),
        hostvars: this.#hostvars(),
        ansible_play_hosts: this.#playHosts.filter((x) => this.#alive(x)).map((x) => x.name),
        ansible_play_hosts_all: this.#playHosts.map((x) => x.name),
        ansible_check_mode: this.opts.check,
        ansible_run_tags: this.opts.tags.length ? [...this.opts.tags] : ["all"],
        ansible_skip_tags: [...this.opts.skipTags],
        ansible_diff_mode: this.opts.diff,
        playbook_dir: play.baseDir,
        role_path: inh.role?.dir,
        role_name: inh.role?.name,
        omit: OMIT,
        drover_version: DROVER_VERSION,
      },
      play: play.vars,
      varsFiles: h.varsFiles,
      role: { ...this.#roleVarsAll, ...roleVars },
      blocks: inh.vars,
      task: taskVars,
      host: over?.hostVars ?? h.hostVars,
      extra: this.opts.extraVars,
    });
  }

  #hostvars(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const h of this.#hosts.values()) {
      out[h.name] = { ...h.inv.vars, ...h.factVars, ...h.hostVars, inventory_hostname: h.name };
    }
    return out;
  }

  async #runItems(
    items: readonly Item[],
    hosts: HostState[],
    inh: Inherited,
    allowFailed?: Set<HostState>,
  ): Promise<void> {
    for (const item of items) {
      if (this.#interrupted) return;
      const active = hosts.filter((h) => this.#alive(h, allowFailed));
      if (active.length === 0) return;
      if (item.kind === "task") await this.#runTask(item, active, inh, false);
      else if (item.kind === "block") await this.#runBlock(item, active, inh, allowFailed);
      else await this.#runInclude(item, active, inh);
      if (this.#play?.anyErrorsFatal || item.anyErrorsFatal) {
        if (active.some((h) => h.failed && !allowFailed?.has(h))) {
          for (const h of this.#playHosts) {
            h.ended = true;
          }
        }
      }
    }
  }

  #inherit(inh: Inherited, kw: Item): Inherited {
    return {
      ...inh,
      when: kw.when === undefined ? inh.when : [...inh.when, kw.when],
      tags: [...inh.tags, ...kw.tags],
      become: kw.become ?? inh.become,
      becomeUser: kw.becomeUser ?? inh.becomeUser,
      vars: kw.vars ? [...inh.vars, kw.vars] : inh.vars,
      environment: kw.environment ?? inh.environment,
      ignoreErrors: kw.ignoreErrors ?? inh.ignoreErrors,
      checkMode: kw.checkMode ?? inh.checkMode,
      noLog: kw.noLog ?? inh.noLog,
    };
  }

  async #runBlock(
    b: Block,
    hosts: HostState[],
    inh: Inherited,
    allowFailed?: Set<HostState>,
  ): Promise<void> {
    const sub = this.#inherit(inh, b);
    const failedBefore = new Set(hosts.filter((h) => h.failed));
    await this.#runItems(b.block, hosts, sub, allowFailed);
    const failedHere = hosts.filter((h) => h.failed && !failedBefore.has(h) && !h.unreachable);
    if (b.rescue.length && failedHere.length) {
      for (const h of failedHere) {
        h.failed = false;
        h.stats.failed--;
        h.stats.rescued++;
        if (h.lastFailure) {
          h.hostVars.ansible_failed_result = h.lastFailure.result;
          h.hostVars.ansible_failed_task = { name: h.lastFailure.task };
        }
      }
      await this.#runItems(b.rescue, failedHere, sub, allowFailed);
    }
    if (b.always.length) {
      const stillFailed = new Set([...hosts.filter((h) => h.failed), ...(allowFailed ?? [])]);
      await this.#runItems(b.always, hosts, sub, stillFailed);
    }
  }

  async #runInclude(inc: Include, hosts: HostState[], inh: Inherited): Promise<void> {
    const sub = this.#inherit(inh, inc);
    const groups = new Map<string, { hosts: HostState[]; item?: unknown }[]>();
    // The include is a task of its own in Ansible: ok once per file it includes, or skipped.
    const name = `${inh.role ? `${inh.role.name} : ` : ""}${inc.name ?? "include_tasks"}`;
    this.emit({
      type: "task_start",
      name,
      handler: false,
      pos: `${inc.pos.file}:${inc.pos.line}:${inc.pos.col}`,
      hosts: hosts.map((h) => h.name),
      module: "include_tasks",
    });
    for (const h of hosts) {
      try {
        const vars = this.#vars(h, sub, {});
        if (!sub.when.every((w) => this.templar.isTrue(w, vars))) {
          this.#result(h, name, { status: "skipped", changed: false }, 0);
          continue;
        }
        const loopItems = inc.loop === undefined
          ? [undefined]
          : (this.templar.render(inc.loop, vars) as unknown[]);
        for (const item of loopItems) {
          const file = String(
            this.templar.renderString(
              inc.file,
              item === undefined ? vars : { ...vars, [inc.loopVar ?? "item"]: item },
            ),
          );
          const key = `${file}\0${JSON.stringify(item ?? null)}`;
          if (!groups.has(key)) groups.set(key, [{ hosts: [], item }]);
          groups.get(key)![0].hosts.push(h);
        }
      } catch (e) {
        this.#includeFailed(h, name, e, inc.pos, !!sub.ignoreErrors);
      }
    }
    // Each file is read before the include reports: a file that cannot be
    // read is the include's failure (ignored with ignore_errors), not an ok.
    const loaded = new Map<string, Item[] | { error: unknown }>();
    for (const [key, [g]] of groups) {
      const file = key.split("\0")[0];
      const path = isAbsolute(file) ? file : join(inc.baseDir, file);
      try {
        loaded.set(key, loadTaskFile(path, inc.pos, inh.role?.name));
      } catch (e) {
        loaded.set(key, { error: e });
      }
      const got = loaded.get(key)!;
      for (const h of g.hosts) {
        if ("error" in got) this.#includeFailed(h, name, got.error, inc.pos, !!sub.ignoreErrors);
        else this.#result(h, name, { status: "ok", changed: false, module: "include_tasks" }, 0);
      }
    }
    for (const [key, [g]] of groups) {
      const items = loaded.get(key)!;
      if ("error" in items) continue;
      const withItem = g.item === undefined
        ? sub
        : { ...sub, vars: [...sub.vars, { [inc.loopVar ?? "item"]: g.item }] };
      await this.#runItems(items, g.hosts, { ...withItem, when: [] });
    }
  }

  #selected(tags: readonly string[]): boolean {
    const want = this.opts.tags;
    const skip = this.opts.skipTags;
    const set = new Set(tags);
    if (
      skip.length &&
      (skip.includes("all") ? !set.has("always") : [...set].some((t) => skip.includes(t)))
    ) return false;
    if (
      set.has("never") && !tags.some((t) => t !== "never" && want.includes(t)) &&
      !want.includes("never")
    ) return false;
    if (want.length === 0 || want.includes("all")) return true;
    if (set.has("always")) return true;
    if (want.includes("tagged") && set.size > 0) return true;
    if (want.includes("untagged") && set.size === 0) return true;
    return tags.some((t) => want.includes(t));
  }

  #taskName(t: Task, inh: Inherited, h?: HostState): string {
    let name = t.name ?? t.module;
    if (t.name && name.includes("{{") && h) {
      try {
        name = String(this.templar.renderString(name, this.#vars(h, inh, t.vars ?? {})));
      } catch { /* keep the raw name */ }
    }
    return t.role ? `${t.role} : ${name}` : name;
  }

  async #runTask(t: Task, hosts: HostState[], inh: Inherited, handler: boolean): Promise<void> {
    const tags = [...inh.tags, ...t.tags];
    if (!handler && !this.#selected(tags)) return;
    const name = this.#taskName(t, inh, hosts[0]);
    this.emit({
      type: "task_start",
      name,
      handler,
      pos: `${t.pos.file}:${t.pos.line}:${t.pos.col}`,
      hosts: hosts.map((h) => h.name),
      module: t.module,
    });
    const runOn = t.runOnce ? hosts.slice(0, 1) : hosts;
    let meta: string | undefined;
    await this.#parallel(runOn, async (h) => {
      const m = await this.#runTaskOnHost(t, h, inh, name);
      meta ??= m;
    });
    if (meta === "flush_handlers") await this.#flushHandlers(hosts, inh);
    if (meta === "end_play") { for (const h of this.#playHosts) h.ended = true; }
  }

  async #parallel<T>(items: T[], fn: (x: T) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const x = items[next++];
        await fn(x);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.forks, items.length) }, worker));
  }

  /** Run one task on one host: when, loop, module, changed_when/failed_when, register, notify. */
  async #runTaskOnHost(
    t: Task,
    h: HostState,
    inh: Inherited,
    name: string,
  ): Promise<string | undefined> {
    const t0 = Date.now();
    const at = this.#planIndex.get(t)?.find((i) => i >= h.cursor);
    if (at !== undefined) h.cursor = at;
    const noLog = t.noLog ?? inh.noLog ?? false;
    let vars: Vars;
    try {
      vars = this.#vars(h, inh, t.vars ?? {});
      this.#collectSecrets(vars);
      if (
        t.loop === undefined &&
        !this.#cond([...inh.when, ...(t.when === undefined ? [] : [t.when])], vars)
      ) {
        this.#result(h, name, { status: "skipped", changed: false }, Date.now() - t0);
        if (t.register) {
          h.hostVars[t.register] = {
            changed: false,
            skipped: true,
            skip_reason: "Conditional result was False",
          };
        }
        return;
      }
      if (!inh.when.every((w) => this.templar.isTrue(w, vars))) {
        this.#result(h, name, { status: "skipped", changed: false }, Date.now() - t0);
        return;
      }
    } catch (e) {
      this.#hostError(h, name, e, Date.now() - t0, t.pos);
      return;
    }
    const loopVar = t.loopVar ?? "item";
    let loopItems: unknown[] | undefined;
    if (t.loop !== undefined) {
      try {
        const l = this.templar.render(t.loop, vars);
        if (!Array.isArray(l)) {
          throw new DroverError(`loop must be a list, got ${typeof l}`, {
            pos: t.pos,
            hint: "use '| list', or dict2items for a mapping",
          });
        }
        loopItems = l;
      } catch (e) {
        this.#hostError(h, name, e, Date.now() - t0, t.pos);
        return;
      }
    }
    const results: Record<string, unknown>[] = [];
    let anyChanged = false;
    let anyFailed = false;
    let meta: string | undefined;
    let lastMsg: string | undefined;
    for (const [index, item] of (loopItems ?? [undefined]).entries()) {
      const iv = loopItems
        ? { ...vars, [loopVar]: item, ...(t.loopIndexVar ? { [t.loopIndexVar]: index } : {}) }
        : vars;
      const label = loopItems ? this.#label(t, iv, item) : undefined;
      const ti = Date.now();
      if (loopItems && t.when !== undefined && !this.#safeCond(t.when, iv, h, name, t)) {
        results.push({ [loopVar]: item, skipped: true, changed: false });
        this.#emitItem(
          h,
          name,
          label,
          { status: "skipped", changed: false },
          Date.now() - ti,
          noLog,
        );
        continue;
      }
      const r = await this.#runModule(t, h, inh, iv, noLog);
      if (r === "unreachable") return;
      meta ??= r.data?._meta as string | undefined;
      const reg: Record<string, unknown> = {
        ...(r.data ?? {}),
        changed: r.changed,
        failed: !!r.failed,
        ...(r.msg !== undefined ? { msg: r.msg } : {}),
        ...(r.skipped ? { skipped: true } : {}),
      };
      if (r.diff && this.opts.diff) reg.diff = r.diff;
      // changed_when / failed_when see the result under the register name (and as `result`).
      const condVars = { ...iv, ...(t.register ? { [t.register]: reg } : {}), result: reg };
      // As in Ansible, a result the module skipped (a command in check mode) is not evaluated.
      if (!r.skipped) {
        try {
          if (t.changedWhen !== undefined) {
            reg.changed = this.#cond(asList(t.changedWhen), condVars);
          }
          if (t.failedWhen !== undefined) {
            reg.failed = this.#cond(asList(t.failedWhen), condVars, true);
          }
          if (t.until !== undefined && !reg.failed) {
            reg.failed = !this.#cond(asList(t.until), condVars);
          }
        } catch (e) {
          reg.failed = true;
          reg.msg = e instanceof DroverError ? e.message : String(e);
        }
      }
      if (r.data?.ansible_facts && !reg.failed) {
        Object.assign(h.hostVars, r.data.ansible_facts as Vars);
      }
      if (loopItems) {
        results.push({ ...reg, [loopVar]: item });
        const st: Status = reg.failed
          ? "failed"
          : reg.skipped
          ? "skipped"
          : reg.changed
          ? "changed"
          : "ok";
        this.#emitItem(
          h,
          name,
          label,
          {
            status: st,
            changed: !!reg.changed,
            msg: reg.msg as string,
            diff: r.diff,
            result: reg,
            warnings: r.warnings,
            module: t.module,
            ignored: !!reg.failed && !!(t.ignoreErrors ?? inh.ignoreErrors),
          },
          Date.now() - ti,
          noLog,
        );
      } else results.push(reg);
      anyChanged ||= !!reg.changed;
      anyFailed ||= !!reg.failed;
      lastMsg = reg.msg as string | undefined;
      if (!loopItems) {
        const st: Status = reg.failed
          ? "failed"
          : reg.skipped
          ? "skipped"
          : reg.changed
          ? "changed"
          : "ok";
        const ignored = !!reg.failed && !!(t.ignoreErrors ?? inh.ignoreErrors);
        if (reg.failed && !ignored) h.lastFailure = { result: reg, task: name };
        // A meta task that worked is not a result in Ansible (not shown, not counted).
        if (t.module !== "meta" || reg.failed) {
          this.#result(
            h,
            name,
            {
              status: st,
              changed: !!reg.changed,
              msg: lastMsg,
              diff: r.diff,
              result: reg,
              ignored,
              warnings: r.warnings,
              module: t.module,
            },
            Date.now() - t0,
            noLog,
            true,
          );
        }
      }
    }
    const registered = loopItems
      ? {
        changed: anyChanged,
        failed: anyFailed,
        results,
        msg: anyFailed ? "One or more items failed" : "All items completed",
        // An empty loop is a skip in Ansible ("No items in the list").
        skipped: results.every((x) => x.skipped),
      }
      : results[0];
    if (t.register) h.hostVars[t.register] = registered;
    if (loopItems) {
      const ignored = anyFailed && !!(t.ignoreErrors ?? inh.ignoreErrors);
      const allSkipped = results.every((x) => x.skipped);
      const st: Status = anyFailed
        ? "failed"
        : anyChanged
        ? "changed"
        : allSkipped
        ? "skipped"
        : "ok";
      this.#count(h, st, ignored, anyChanged);
    }
    if (anyChanged && !anyFailed) {
      for (const n of t.notify) h.notified.add(this.#renderName(n, vars));
    }
    return meta;
  }

  #renderName(n: string, vars: Vars): string {
    try {
      return String(this.templar.renderString(n, vars));
    } catch {
      return n;
    }
  }

  #label(t: Task, vars: Vars, item: unknown): string {
    if (t.loopLabel) {
      try {
        return String(this.templar.renderString(t.loopLabel, vars));
      } catch { /* fall through */ }
    }
    return typeof item === "string" ? item : JSON.stringify(item);
  }

  #safeCond(when: unknown, vars: Vars, h: HostState, name: string, t: Task): boolean {
    try {
      return this.#cond(asList(when), vars);
    } catch (e) {
      this.#hostError(h, name, e, 0, t.pos);
      return false;
    }
  }

  #cond(conds: readonly unknown[], vars: Vars, any = false): boolean {
    const vals = conds.map((c) => this.templar.isTrue(c, vars));
    return any ? vals.some(Boolean) : vals.every(Boolean);
  }

  #collectSecrets(vars: Vars): void {
    for (const k of Object.keys(vars)) {
      if (!SECRET_NAME.test(k)) continue;
      try {
        this.redactor.add(vars[k]);
      } catch { /* an unrenderable secret is not shown either */ }
    }
  }

  async #runModule(
    t: Task,
    h: HostState,
    inh: Inherited,
    vars: Vars,
    noLog: boolean,
  ): Promise<ModuleResult | "unreachable"> {
    const mod = findModule(t.module)!;
    const check = (t.checkMode ?? inh.checkMode) === undefined
      ? this.opts.check
      : (t.checkMode ?? inh.checkMode)!;
    const attempts = t.until !== undefined ? (t.retries ?? 3) + 1 : 1;
    for (let attempt = 1;; attempt++) {
      try {
        const rendered = this.templar.render(t.args, vars) as Record<string, unknown>;
        for (const [k, v] of Object.entries(rendered)) if (v === OMIT) delete rendered[k];
        const args = parseArgs(mod, rendered, { pos: t.pos, argPos: t.argPos });
        const env = t.environment ?? inh.environment;
        const envVars = env === undefined ? undefined : Object.fromEntries(
          Object.entries(this.templar.render(env, vars) as Vars).map(([k, v]) => [k, String(v)]),
        );
        const become = this.#become(t, inh, vars);
        const raw = this.#connection(h);
        // Anything that is not a read may change the host: batched reads are dropped.
        const conn: Connection = {
          host: raw.host,
          exec: (script, o) => {
            h.reads.clear();
            return this.#execThenRead(h, raw, script, o);
          },
          close: () => raw.close(),
        };
        const role = inh.role;
        const ctx: ModuleContext = {
          host: h.name,
          conn,
          check,
          diff: this.opts.diff,
          become,
          env: envVars,
          facts: h.facts,
          model: h.model,
          vars,
          templar: this.templar,
          searchPaths: [
            ...(role ? [role.dir] : []),
            this.#play!.baseDir,
            join(this.#play!.baseDir, ".."),
          ],
          secret: (v) => this.redactor.add(v),
          sh: (script, o) =>
            conn.exec(script, { become, env: envVars, timeoutMs: o?.timeoutMs, more: o?.more }),
          read: (script, o) => this.#read(h, raw, become, envVars, script, o),
          peek: (script) => h.reads.get(ReadCache.key(readGroup(become, envVars), script)),
          readOnly: declaredReadOnly(t, inh),
        };
        if (noLog) {
          for (const v of Object.values(rendered)) {
            if (typeof v === "string") this.redactor.add(v);
          }
        }
        const r = await mod.run(ctx, args);
        if (t.until !== undefined && attempt < attempts) {
          const reg = { ...(r.data ?? {}), changed: r.changed, failed: !!r.failed };
          if (
            !this.#cond(asList(t.until), {
              ...vars,
              ...(t.register ? { [t.register]: reg } : {}),
              result: reg,
            })
          ) {
            await new Promise((res) => setTimeout(res, (t.delay ?? 5) * 1000));
            continue;
          }
        }
        return r;
      } catch (e) {
        if (e instanceof UnreachableError && this.#interrupted) {
          // Ctrl-C reached drover's ssh clients too: the host was not lost, the run was stopped.
          return {
            changed: false,
            failed: true,
            msg:
              `interrupted (Ctrl-C) while this task ran on ${h.name}; its command may have finished on the host`,
          };
        }
        if (e instanceof UnreachableError) {
          this.#hostError(h, this.#taskName(t, inh), e, 0, t.pos);
          return "unreachable";
        }
        if (e instanceof ModuleFailure) {
          return { changed: false, failed: true, msg: e.message, data: e.data };
        }
        if (e instanceof BecomeError) return { changed: false, failed: true, msg: e.message };
        if (e instanceof DroverError) {
          return { changed: false, failed: true, msg: e.at(t.pos).format() };
        }
        throw e;
      }
    }
  }

  #become(t: Task, inh: Inherited, vars: Vars): Become | undefined {
    return (t.become ?? inh.become ?? toBoolVar(vars.ansible_become))
      ? { user: String(t.becomeUser ?? inh.becomeUser ?? vars.ansible_become_user ?? "root") }
      : undefined;
  }

  /** DROVER_READ_AHEAD=0 turns batching off: every read is its own round trip (to compare). */
  readonly #readAhead = Deno.env.get("DROVER_READ_AHEAD") !== "0";
  #plan: PlanEntry[] = [];
  #planIndex = new Map<Task, number[]>();

  /** The play's tasks in running order (includes and handlers are not known ahead). */
  #setPlan(
    play: Play,
    roleOrder: { role: LoadedRole; use: Play["roles"][number] }[],
    base: Inherited,
  ): void {
    const plan: PlanEntry[] = [];
    const walk = (items: readonly Item[], inh: Inherited, use?: Play["roles"][number]) => {
      for (const it of items) {
        if (it.kind === "task") plan.push({ task: it, inh, use });
        else if (it.kind === "block") {
          const sub = this.#inherit(inh, it);
          walk(it.block, sub, use);
          walk(it.always, sub, use);
        }
      }
    };
    walk(play.preTasks, base);
    for (const { role, use } of roleOrder) {
      walk(role.tasks, {
        ...base,
        role,
        tags: [...base.tags, ...use.tags],
        when: use.when === undefined ? base.when : [...base.when, use.when],
        roleVars: {},
      }, use);
    }
    walk(play.tasks, base);
    walk(play.postTasks, base);
    this.#plan = plan;
    this.#planIndex = new Map();
    plan.forEach((e, i) => {
      const l = this.#planIndex.get(e.task);
      if (l) l.push(i);
      else this.#planIndex.set(e.task, [i]);
    });
  }

  /**
   * A read for a module: from the host's batch when nothing changed since,
   * else one round trip that also fetches the reads of the tasks ahead.
   */
  async #read(
    h: HostState,
    conn: Connection,
    become: Become | undefined,
    env: Readonly<Record<string, string>> | undefined,
    script: string,
    o?: { timeoutMs?: number; fresh?: boolean },
  ): Promise<ExecResult> {
    const exec = (s: string, timeoutMs?: number) => conn.exec(s, { become, env, timeoutMs });
    if (o?.fresh || !this.#readAhead) return await exec(script, o?.timeoutMs);
    const group = readGroup(become, env);
    const key = ReadCache.key(group, script);
    const hit = h.reads.get(key);
    if (hit) return hit;
    const want: ReadRequest[] = [{ script, timeoutMs: o?.timeoutMs }];
    h.reads.missed();
    if (script.length <= MAX_BATCHED_SCRIPT) want.push(...this.#readsAhead(h, group, false, key));
    if (want.length === 1) {
      h.reads.singles++;
      const r = await exec(script, o?.timeoutMs);
      h.reads.set(key, r);
      return r;
    }
    h.reads.batches++;
    const nonce = newNonce();
    const timeoutMs = want.every((r) => r.timeoutMs)
      ? want.reduce((a, r) => a + r.timeoutMs!, 0)
      : undefined;
    const gate = gateOf(want);
    const out = await exec(batchScript(want.map((r) => r.script), nonce, gate), timeoutMs);
    const results = parseBatch(out.stdout, want.length, nonce);
    this.#keepReads(h, group, want, results, 1, gate);
    if (results[0]) return results[0];
    const r = await exec(script, o?.timeoutMs);
    h.reads.set(key, r);
    return r;
  }

  /** The reads ahead not fetched yet, each once (`asked`: the key of a read already asked for). */
  #readsAhead(h: HostState, group: string, afterApply: boolean, asked?: string): ReadRequest[] {
    const out: ReadRequest[] = [];
    const keys = new Set(asked ? [asked] : []);
    for (const r of this.#lookahead(h, group, afterApply)) {
      const k = ReadCache.key(group, r.script);
      if (keys.has(k) || h.reads.has(k) || r.script.length > MAX_BATCHED_SCRIPT) continue;
      keys.add(k);
      out.push(r);
    }
    return out;
  }

  /**
   * Keep a batch's results; those from `from` on were fetched ahead of their
   * tasks. A `gate` that printed nothing kept the reads after it from running.
   */
  #keepReads(
    h: HostState,
    group: string,
    want: readonly ReadRequest[],
    results: readonly (ExecResult | undefined)[],
    from: number,
    gate: number | undefined,
  ): void {
    want.forEach((r, i) => {
      const res = results[i];
      if (res) h.reads.set(ReadCache.key(group, r.script), res, i >= from);
    });
    if (gate !== undefined && gate < want.length - 1 && results[gate]?.stdout === "") {
      h.reads.gated();
    }
  }

  /**
   * A command that may change the host, with the reads of the tasks ahead
   * run right after it in the same round trip (their results stand until
   * the next such command, like a batch's). The command runs as it would
   * alone, in a subshell; its stdout ends at a marker the reads' output
   * follows, its exit code is the command's. A command with a time limit
   * runs alone, and reads with a time limit are left for a batch.
   */
  async #execThenRead(
    h: HostState,
    raw: Connection,
    script: string,
    o?: ExecOptions,
  ): Promise<ExecResult> {
    const group = readGroup(o?.become, o?.env);
    // Reads with a time limit of their own go in a batch that has one; none
    // after a command that another of the same task follows.
    const want = this.#readAhead && o?.timeoutMs === undefined && !o?.more
      ? this.#readsAhead(h, group, true).filter((r) => r.timeoutMs === undefined)
      : [];
    if (want.length === 0) return await raw.exec(script, o);
    h.reads.batches++;
    const nonce = newNonce();
    const gate = gateOf(want);
    const body = script.endsWith("\n") ? script : script + "\n";
    const out = await raw.exec(
      `(\n${body})\ndrover_ar=$?\nprintf '\\n@@${nonce}:applied\\n'\n(\n${
        batchScript(want.map((r) => r.script), nonce, gate)
      }) 2>/dev/null\nexit "$drover_ar"\n`,
      { ...o, shown: `${body}# then ${want.length} read(s) of the tasks ahead\n` },
    );
    const mark = `\n@@${nonce}:applied\n`;
    const at = out.stdout.indexOf(mark);
    if (at < 0) return out;
    const results = parseBatch(out.stdout.slice(at), want.length, nonce);
    this.#keepReads(h, group, want, results, 0, gate);
    return { rc: out.rc, stdout: out.stdout.slice(0, at), stderr: out.stderr };
  }

  /**
   * The reads the tasks ahead of this host's cursor will make, as far as
   * they can be known now: set_fact is followed, a condition or argument
   * that cannot be rendered yet counts as unknown. Only a guess: a wrong one
   * costs host time, never a wrong result.
   */
  #lookahead(h: HostState, group: string, afterApply = false): ReadRequest[] {
    const out: ReadRequest[] = [];
    const sim: Record<string, unknown> = { ...h.hostVars };
    // Variables that tasks ahead will set to what cannot be known yet (register, set_fact).
    const unknown = new Set<string>();
    const forget = (name: string) => {
      delete sim[name];
      unknown.add(name);
    };
    const roleVars = new Map<Play["roles"][number], Vars | null>();
    // The window counts tasks that have reads to fetch (not skipped tasks, debug, set_fact).
    let withReads = 0;
    let mark = 0;
    for (let i = h.cursor; i < this.#plan.length; i++) {
      if (out.length > mark) [withReads, mark] = [withReads + 1, out.length];
      if (withReads >= h.reads.window) break;
      const { task: t, inh, use } = this.#plan[i];
      if (!this.#selected([...inh.tags, ...t.tags])) continue;
      // After a change, the task that made it is done, unless it loops over more items.
      if (afterApply && i === h.cursor && t.loop === undefined) {
        if (t.register) forget(t.register);
        continue;
      }
      const mod = findModule(t.module);
      if (!mod || (!mod.reads && mod.name !== "set_fact")) {
        if (t.register) forget(t.register);
        continue;
      }
      let rv: Vars | undefined;
      if (inh.role && use) {
        if (!roleVars.has(use)) roleVars.set(use, this.#lookaheadRoleVars(h, inh, use, sim));
        rv = roleVars.get(use) ?? undefined;
        if (!rv) continue;
      }
      try {
        const vars = this.#vars(h, inh, t.vars ?? {}, { hostVars: sim, roleVars: rv });
        const conds = [
          ...inh.when,
          ...(t.loop === undefined && t.when !== undefined ? [t.when] : []),
        ];
        if (
          conds.some((c) => !mentions(c, unknown) && maybeFalse(() => this.templar.isTrue(c, vars)))
        ) {
          continue;
        }
        let items: unknown[] = [undefined];
        if (t.loop !== undefined) {
          const l = this.templar.render(t.loop, vars);
          if (!Array.isArray(l)) continue;
          items = l;
        }
        for (const item of items) {
          const iv = t.loop === undefined ? vars : { ...vars, [t.loopVar ?? "item"]: item };
          if (
            t.loop !== undefined && t.when !== undefined && !mentions(t.when, unknown) &&
            maybeFalse(() => this.#cond(asList(t.when), iv))
          ) continue;
          const rendered = this.#renderLenient(t.args, iv);
          if (mod.name === "set_fact") {
            for (const k of Object.keys(t.args)) {
              if (k in rendered && !mentions(t.args[k], unknown)) {
                sim[k] = rendered[k];
                unknown.delete(k);
              } else forget(k);
            }
            continue;
          }
          let env: Record<string, string> | undefined;
          const e = t.environment ?? inh.environment;
          if (e !== undefined) {
            env = Object.fromEntries(
              Object.entries(this.templar.render(e, iv) as Vars).map(([k, v]) => [k, String(v)]),
            );
          }
          if (readGroup(this.#become(t, inh, iv), env) !== group) continue;
          const check = (t.checkMode ?? inh.checkMode) ?? this.opts.check;
          const reads = mod.reads!(partialArgs(mod, rendered, t), {
            facts: h.facts,
            check,
            model: h.model,
            readOnly: declaredReadOnly(t, inh),
          });
          // A costly read is fetched ahead only while nothing has thrown reads away;
          // its own task's read runs as it is.
          for (const r of reads) {
            if ((i === h.cursor && !afterApply) || !r.costly || h.reads.window === Infinity) {
              out.push(r);
            }
          }
        }
      } catch {
        // Not knowable yet (a variable set by an earlier task): no guess for this task.
      } finally {
        if (t.register) forget(t.register);
      }
    }
    return out;
  }

  #lookaheadRoleVars(
    h: HostState,
    inh: Inherited,
    use: Play["roles"][number],
    sim: Record<string, unknown>,
  ): Vars | null {
    const role = inh.role!;
    const current = this.#roleVarsByHost?.get(h.name);
    if (current && this.#currentUse === use) return current;
    const vars = { ...role.vars, ...use.params };
    if (!role.schema) return vars;
    try {
      const all = this.#vars(h, { ...inh, roleVars: vars }, {}, { hostVars: sim, roleVars: {} });
      return { ...vars, ...this.#checkRoleVars(role, all, use.pos, false) };
    } catch {
      return null;
    }
  }

  /** Render each argument on its own; the ones that cannot be rendered yet are left out. */
  #renderLenient(args: Readonly<Record<string, unknown>>, vars: Vars): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(args)) {
      try {
        const r = this.templar.render(v, vars);
        if (r !== OMIT) out[k] = r;
      } catch { /* unknown yet */ }
    }
    return out;
  }

  #emitItem(
    h: HostState,
    task: string,
    item: string | undefined,
    r: {
      status: Status;
      changed: boolean;
      msg?: string;
      diff?: ModuleResult["diff"];
      result?: Record<string, unknown>;
      warnings?: readonly string[];
      module?: string;
      ignored?: boolean;
    },
    ms: number,
    noLog: boolean,
  ): void {
    this.emit({
      type: "host_result",
      host: h.name,
      task,
      module: r.module,
      item: noLog ? "(censored due to no_log)" : item,
      ignored: r.ignored,
      status: r.status,
      changed: r.changed,
      msg: noLog ? (r.status === "failed" ? NO_LOG_MSG : undefined) : r.msg,
      diff: noLog ? undefined : r.diff,
      result: noLog ? { censored: NO_LOG_MSG } : r.result,
      durationMs: ms,
      warnings: r.warnings,
    });
  }

  #count(h: HostState, status: Status, ignored: boolean, changed = false): void {
    if (status === "ok") h.stats.ok++;
    if (status === "changed") {
      h.stats.ok++;
      h.stats.changed++;
    }
    if (status === "skipped") h.stats.skipped++;
    if (status === "failed") {
      if (ignored) {
        h.stats.ignored++;
        h.stats.ok++;
        // Ansible counts the change of an ignored failure (a failed command changed).
        if (changed) h.stats.changed++;
      } else {
        h.stats.failed++;
        h.failed = true;
      }
    }
    if (status === "unreachable") {
      h.stats.unreachable++;
      h.unreachable = true;
    }
  }

  #result(
    h: HostState,
    task: string,
    r: {
      status: Status;
      changed: boolean;
      msg?: string;
      diff?: ModuleResult["diff"];
      result?: Record<string, unknown>;
      ignored?: boolean;
      warnings?: readonly string[];
      hint?: string;
      module?: string;
    },
    ms: number,
    noLog = false,
    count = true,
  ): void {
    if (count) this.#count(h, r.status, !!r.ignored, r.changed);
    this.emit({
      type: "host_result",
      host: h.name,
      task,
      module: r.module,
      status: r.status,
      changed: r.changed,
      msg: noLog ? (r.status === "failed" ? NO_LOG_MSG : undefined) : r.msg,
      diff: noLog ? undefined : r.diff,
      result: noLog ? { censored: NO_LOG_MSG } : r.result,
      ignored: r.ignored,
      durationMs: ms,
      warnings: r.warnings,
      hint: r.hint,
    });
  }

  /** An include that could not be expanded for a host: failed, or ignored with ignore_errors. */
  #includeFailed(h: HostState, task: string, e: unknown, pos: SourcePos, ignore: boolean): void {
    if (!ignore || !(e instanceof DroverError)) return this.#hostError(h, task, e, 0, pos);
    this.#result(h, task, {
      status: "failed",
      changed: false,
      msg: e.at(pos).format(),
      ignored: true,
      module: "include_tasks",
    }, 0);
  }

  #hostError(h: HostState, task: string, e: unknown, ms: number, pos?: SourcePos): void {
    if (e instanceof UnreachableError) {
      this.#result(h, task, { status: "unreachable", changed: false, msg: e.message }, ms);
    } else if (e instanceof DroverError) {
      this.#result(h, task, { status: "failed", changed: false, msg: e.at(pos).format() }, ms);
    } else if (e instanceof BecomeError || e instanceof ModuleFailure) {
      this.#result(h, task, { status: "failed", changed: false, msg: e.message }, ms);
    } else throw e;
  }

  async #flushHandlers(hosts: HostState[], inh: Inherited): Promise<void> {
    const play = this.#play!;
    const handlers = [...play.handlers, ...this.#roleOrder(play).flatMap((r) => r.role.handlers)];
    // A notification is used up only after every handler has looked at it:
    // all the handlers that `listen` to one topic run (Ansible's semantics).
    const used = new Map<HostState, Set<string>>();
    for (const hd of handlers) {
      const names = [hd.name ?? "", ...hd.listen];
      const keys = names.flatMap((n) => hd.role ? [n, `${hd.role} : ${n}`] : [n]);
      const heard = (h: HostState) => keys.filter((k) => h.notified.has(k));
      const targets = hosts.filter((h) => this.#alive(h) && heard(h).length > 0);
      if (targets.length === 0) continue;
      for (const h of targets) {
        const u = used.get(h) ?? new Set<string>();
        for (const n of heard(h)) u.add(n);
        used.set(h, u);
      }
      const role = hd.role ? this.playbook.roles.get(hd.role) : undefined;
      // A role's handler sees the role's variables and parameters.
      const saved = this.#roleVarsByHost;
      if (role) this.#roleVarsByHost = this.#handlerRoleVars.get(role.name);
      await this.#runTask(hd, targets, { ...inh, role, when: [] }, true);
      this.#roleVarsByHost = saved;
    }
    for (const [h, names] of used) {
      for (const n of names) h.notified.delete(n);
    }
  }
}

/** Reads are batched only with reads that run as the same user with the same environment. */
function readGroup(
  become: Become | undefined,
  env: Readonly<Record<string, string>> | undefined,
): string {
  return JSON.stringify([become?.user ?? null, env ?? null]);
}

/** The first read of a batch that may keep the reads after it from running, if any. */
function gateOf(want: readonly ReadRequest[]): number | undefined {
  const i = want.findIndex((r) => r.changesWhenEmpty);
  return i < 0 ? undefined : i;
}

/** Does a (template) value name one of these variables? */
function mentions(value: unknown, names: ReadonlySet<string>): boolean {
  if (names.size === 0) return false;
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? "";
  for (const m of text.matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)) if (names.has(m[0])) return true;
  return false;
}

/** A condition that is false now; one that cannot be evaluated yet may be true. */
function maybeFalse(cond: () => boolean): boolean {
  try {
    return !cond();
  } catch {
    return false;
  }
}

/**
 * `changed_when: false` plus `check_mode: false`: the author says the command
 * changes nothing (it runs even under --check), so it may be batched as a read.
 */
function declaredReadOnly(t: Task, inh: Inherited): boolean {
  const no = (v: unknown) => v === false || (typeof v === "string" && /^\s*false\s*$/i.test(v));
  return no(t.changedWhen) && (t.checkMode ?? inh.checkMode) === false;
}

/** Arguments for {@linkcode Module.reads}: all of them when they parse, else each one that does. */
function partialArgs(mod: Module, rendered: Record<string, unknown>, t: Task): Partial<unknown> {
  try {
    return parseArgs(mod, rendered, { pos: t.pos }) as Partial<unknown>;
  } catch {
    let s = mod.args as unknown;
    for (let i = 0; i < 8 && s instanceof z.ZodPipe; i++) {
      s = s.in instanceof z.ZodTransform ? s.out : s.in;
    }
    if (!(s instanceof z.ZodObject)) return {};
    const out: Record<string, unknown> = {};
    for (const [k, sch] of Object.entries(s.shape as Record<string, z.ZodType>)) {
      const r = sch.safeParse(rendered[k]);
      if (r.success && r.data !== undefined) out[k] = r.data;
    }
    return out;
  }
}

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

function toBoolVar(v: unknown): boolean {
  return v === true || (typeof v === "string" && truthy(v) && /^(yes|true|1|on)$/i.test(v));
}

function serialBatches<T>(hosts: T[], serial: number | string | undefined): T[][] {
  if (serial === undefined) return [hosts];
  const n = typeof serial === "string" && serial.endsWith("%")
    ? Math.max(1, Math.floor((hosts.length * Number(serial.slice(0, -1))) / 100))
    : Math.max(1, Number(serial));
  const out: T[][] = [];
  for (let i = 0; i < hosts.length; i += n) out.push(hosts.slice(i, i + n));
  return out;
}

/** ansible-playbook's exit code for a set of host stats. */
export function exitCodeOf(stats: readonly HostStats[]): number {
  if (stats.some((s) => s.failed > 0)) return 2;
  if (stats.some((s) => s.unreachable > 0)) return 4;
  return 0;
}
