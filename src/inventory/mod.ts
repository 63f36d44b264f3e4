/**
 * @module
 * Ansible's YAML inventory: `all:` with `hosts:`, `children:` and `vars:`,
 * plus `group_vars/` and `host_vars/` beside the file. An existing Ansible
 * YAML inventory loads unchanged. Host patterns select hosts for plays and
 * `--limit`.
 */
import { didYouMean, DroverError, type SourcePos } from "../core/errors.ts";
import { entries, type Node, parseYaml, readText, toJS, type YamlFile } from "../core/yaml.ts";
import { dirname, join } from "node:path";
import { existsSync, readdirSync, statSync } from "node:fs";

/** One host and its inventory variables (group vars merged, host vars on top). */
export interface InventoryHost {
  readonly name: string;
  /** Groups the host belongs to, `all` first, parents before children. */
  readonly groups: readonly string[];
  readonly vars: Readonly<Record<string, unknown>>;
}

/** A group with its direct hosts, children and variables. */
interface Group {
  name: string;
  hosts: Set<string>;
  children: Set<string>;
  vars: Record<string, unknown>;
  depth: number;
}

/** A loaded inventory. */
export class Inventory {
  readonly groups = new Map<string, Group>();
  readonly #hostVars = new Map<string, Record<string, unknown>>();
  readonly #order: string[] = [];
  #resolved?: Map<string, InventoryHost>;

  constructor(readonly source: string) {
    this.#group("all");
    this.#group("ungrouped");
  }

  /** Every host, in inventory order. */
  hosts(): InventoryHost[] {
    const r = this.#resolve();
    return this.#order.map((h) => r.get(h)!);
  }

  /** One host by name. */
  host(name: string): InventoryHost | undefined {
    return this.#resolve().get(name);
  }

  /** Hosts matching an Ansible host pattern (`all`, `web`, `a:b`, `a:!b`, `a:&b`, globs). */
  match(pattern: string, at?: SourcePos): InventoryHost[] {
    const names = matchPattern(this, pattern, at);
    const r = this.#resolve();
    return this.#order.filter((h) => names.has(h)).map((h) => r.get(h)!);
  }

  /** Names of hosts in `group` (recursively), or undefined if no such group. */
  groupHosts(group: string): Set<string> | undefined {
    const g = this.groups.get(group);
    if (!g) return undefined;
    if (group === "all") return new Set(this.#order);
    const out = new Set<string>();
    const seen = new Set<string>();
    const walk = (n: string) => {
      if (seen.has(n)) return;
      seen.add(n);
      const gg = this.groups.get(n)!;
      gg.hosts.forEach((h) => out.add(h));
      gg.children.forEach(walk);
    };
    walk(group);
    return out;
  }

  /** Add a host (used by loaders). */
  addHost(name: string, group: string, vars: Record<string, unknown> = {}): void {
    if (!this.#hostVars.has(name)) {
      this.#hostVars.set(name, {});
      this.#order.push(name);
    }
    Object.assign(this.#hostVars.get(name)!, vars);
    this.#group(group).hosts.add(name);
    this.#resolved = undefined;
  }

  /** Declare `child` a child group of `parent`. */
  addChild(parent: string, child: string): void {
    this.#group(parent).children.add(child);
    this.#group(child);
    this.#resolved = undefined;
  }

  /** Merge variables into a group. */
  addGroupVars(group: string, vars: Record<string, unknown>): void {
    Object.assign(this.#group(group).vars, vars);
    this.#resolved = undefined;
  }

  /** Merge variables into a host (host_vars/). */
  addHostVars(host: string, vars: Record<string, unknown>): void {
    if (!this.#hostVars.has(host)) return;
    Object.assign(this.#hostVars.get(host)!, vars);
    this.#resolved = undefined;
  }

  #group(name: string): Group {
    let g = this.groups.get(name);
    if (!g) {
      g = { name, hosts: new Set(), children: new Set(), vars: {}, depth: 0 };
      this.groups.set(name, g);
    }
    return g;
  }

  #resolve(): Map<string, InventoryHost> {
    if (this.#resolved) return this.#resolved;
    // Depth of each group from 'all' decides var precedence: children override parents.
    for (const g of this.groups.values()) g.depth = g.name === "all" ? 0 : 1;
    for (let changed = true, n = 0; changed && n < 100; n++) {
      changed = false;
      for (const g of this.groups.values()) {
        for (const c of g.children) {
          const cg = this.groups.get(c)!;
          if (cg.depth < g.depth + 1) {
            cg.depth = g.depth + 1;
            changed = true;
          }
        }
      }
    }
    const out = new Map<string, InventoryHost>();
    for (const h of this.#order) {
      const groups = [...this.groups.values()].filter((g) =>
        g.name === "all" || this.groupHosts(g.name)!.has(h)
      )
        .sort((a, b) => a.depth - b.depth || a.name.localeCompare(b.name));
      const vars: Record<string, unknown> = {};
      for (const g of groups) Object.assign(vars, g.vars);
      Object.assign(vars, this.#hostVars.get(h));
      out.set(h, { name: h, groups: groups.map((g) => g.name), vars });
    }
    this.#resolved = out;
    return out;
  }
}

const HOST_KEYS = new Set(["hosts", "children", "vars"]);

/**
 * Load an inventory from a YAML file, or from a comma-separated host list
 * (`host1,host2,` as with ansible-playbook -i).
 */
export function loadInventory(source: string): Inventory {
  const inv = new Inventory(source);
  if (source.includes(",") && !existsSync(source)) {
    for (const h of source.split(",").map((s) => s.trim()).filter(Boolean)) {
      checkName(h, "host", undefined);
      inv.addHost(h, "ungrouped", h === "localhost" ? { ansible_connection: "local" } : {});
    }
    return inv;
  }
  if (!existsSync(source)) {
    throw new DroverError(`inventory ${source} not found`, {
      exitCode: 5,
      expected: "a YAML inventory file (all: hosts: ...) or a comma-separated host list",
      hint: "pass -i inventory/dev.yml, or omit -i to use inventory/localhost.yml",
    });
  }
  const y = parseYaml(source, readText(source));
  const root = y.doc.contents as Node | null;
  if (root === null) return inv;
  for (const e of entries(y, root, "the inventory")) loadGroup(y, inv, e.key, e.node, e.keyPos);
  const dir = dirname(source);
  loadVarsDir(
    join(dir, "group_vars"),
    (name, vars) => inv.groups.has(name) && inv.addGroupVars(name, vars),
  );
  loadVarsDir(join(dir, "host_vars"), (name, vars) => inv.addHostVars(name, vars));
  return inv;
}

function loadGroup(
  y: YamlFile,
  inv: Inventory,
  name: string,
  node: Node | null,
  at: SourcePos,
): void {
  checkName(name, "group", at);
  if (node === null) {
    inv.addChild("all", name);
    return;
  }
  if (name !== "all") inv.addChild("all", name);
  for (const e of entries(y, node, `group '${name}'`, at)) {
    if (!HOST_KEYS.has(e.key)) {
      const guess = didYouMean(e.key, HOST_KEYS);
      throw new DroverError(`unknown key '${e.key}' in group '${name}'`, {
        pos: e.keyPos,
        expected: "'hosts', 'children' or 'vars'",
        hint: guess ? `did you mean '${guess}'?` : "a group holds hosts:, children: and vars:",
      });
    }
    if (e.node === null) continue;
    if (e.key === "vars") inv.addGroupVars(name, varsOf(y, e.node, `vars of group '${name}'`));
    if (e.key === "hosts") {
      for (const h of entries(y, e.node, `hosts of group '${name}'`, e.pos)) {
        checkName(h.key, "host", h.keyPos);
        const vars = h.node === null ? {} : varsOf(y, h.node, `variables of host '${h.key}'`);
        inv.addHost(h.key, name === "all" ? "ungrouped" : name, vars);
      }
    }
    if (e.key === "children") {
      for (const c of entries(y, e.node, `children of group '${name}'`, e.pos)) {
        inv.addChild(name, c.key);
        loadGroup(y, inv, c.key, c.node, c.keyPos);
      }
    }
  }
}

function varsOf(y: YamlFile, node: Node, what: string): Record<string, unknown> {
  entries(y, node, what);
  return toJS(y, node) as Record<string, unknown>;
}

function checkName(name: string, what: string, pos: SourcePos | undefined): void {
  if (!/^[A-Za-z0-9_.\-:\[\]]+$/.test(name)) {
    throw new DroverError(`invalid ${what} name ${JSON.stringify(name)}`, {
      pos,
      expected: `a ${what} name of letters, digits, '.', '-' and '_'`,
      // Without a position it is the -i option that is wrong.
      exitCode: pos ? 4 : 5,
    });
  }
}

function loadVarsDir(
  dir: string,
  add: (name: string, vars: Record<string, unknown>) => unknown,
): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    const name = entry.replace(/\.(ya?ml|json)$/, "");
    const files = statSync(path).isDirectory()
      ? readdirSync(path).filter((f) => /\.(ya?ml|json)$/.test(f)).sort().map((f) => join(path, f))
      : [path];
    for (const f of files) {
      const y = parseYaml(f, readText(f));
      const root = y.doc.contents as Node | null;
      if (root === null) continue;
      add(name, varsOf(y, root, `variables in ${f}`));
    }
  }
}

/** Resolve an Ansible host pattern to host names. */
export function matchPattern(inv: Inventory, pattern: string, at?: SourcePos): Set<string> {
  const all = inv.groupHosts("all")!;
  const parts = pattern.split(/[:,]/).map((p) => p.trim()).filter((p) => p !== "");
  if (parts.length === 0) {
    throw new DroverError(`empty host pattern`, {
      pos: at,
      expected: "a host, a group, 'all', or 'a:b', 'a:!b', 'a:&b'",
      exitCode: at ? 4 : 5,
    });
  }
  let result = new Set<string>();
  let first = true;
  for (const raw of parts) {
    const op = raw.startsWith("!") ? "!" : raw.startsWith("&") ? "&" : "+";
    const term = op === "+" ? raw : raw.slice(1);
    // A '~regex' term may use '|' and '$'; nothing else has a use for shell-ish characters.
    if (term === "" || (term.startsWith("~") ? /[\s;`]/ : /[\s;|$`]/).test(term)) {
      throw new DroverError(`invalid host pattern ${JSON.stringify(pattern)}`, {
        pos: at,
        expected: "names of hosts or groups joined by ':', '!' or '&'",
        exitCode: at ? 4 : 5,
      });
    }
    const set = termHosts(inv, term, all, at);
    if (op === "+") set.forEach((h) => result.add(h));
    else if (op === "!") {
      if (first) result = new Set(all);
      set.forEach((h) => result.delete(h));
    } else result = new Set([...result].filter((h) => set.has(h)));
    first = false;
  }
  return result;
}

function termHosts(
  inv: Inventory,
  term: string,
  all: Set<string>,
  at?: SourcePos,
): Set<string> {
  if (term === "all" || term === "*") return new Set(all);
  const g = inv.groupHosts(term);
  if (g) return g;
  if (all.has(term)) return new Set([term]);
  if (term.startsWith("~")) {
    let re: RegExp;
    try {
      re = new RegExp(term.slice(1));
    } catch (e) {
      throw new DroverError(`invalid regular expression in host pattern '${term}'`, {
        pos: at,
        expected: "'~' followed by a valid regular expression",
        hint: (e as Error).message,
        exitCode: at ? 4 : 5,
      });
    }
    return new Set([...all].filter((h) => re.test(h)));
  }
  if (/[*?]/.test(term)) {
    const re = new RegExp(
      "^" + term.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".") +
        "$",
    );
    const out = new Set<string>();
    for (const h of all) if (re.test(h)) out.add(h);
    for (const [name] of inv.groups) {
      if (re.test(name)) inv.groupHosts(name)!.forEach((h) => out.add(h));
    }
    return out;
  }
  return new Set();
}
