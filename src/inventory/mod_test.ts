import assert from "node:assert/strict";
import { DroverError } from "../core/errors.ts";
import { join } from "../core/path.ts";
import { type Inventory, loadInventory } from "./mod.ts";

const INVENTORY = `
all:
  vars:
    level: all
    ntp: pool.ntp.org
  hosts:
    bastion:
  children:
    web:
      vars:
        level: web
        http_port: 80
      hosts:
        web1:
          http_port: 8080
        web2:
      children:
        web_eu:
          vars:
            level: web_eu
          hosts:
            web-eu-1.example.com:
    db:
      vars:
        level: db
      hosts:
        db1:
        web2:
`;

/** Write `files` (path → text) into a temp dir and load its hosts.yml. */
function withInventory(files: Record<string, string>, fn: (inv: Inventory) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "drover-inv-" });
  try {
    for (const [path, text] of Object.entries(files)) {
      Deno.mkdirSync(join(dir, path, ".."), { recursive: true });
      Deno.writeTextFileSync(join(dir, path), text);
    }
    fn(loadInventory(join(dir, "hosts.yml")));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const names = (inv: Inventory, pattern: string) => inv.match(pattern).map((h) => h.name);

Deno.test("inventory: hosts, groups and children, in file order", () => {
  withInventory({ "hosts.yml": INVENTORY }, (inv) => {
    assert.deepEqual(inv.hosts().map((h) => h.name), [
      "bastion",
      "web1",
      "web2",
      "web-eu-1.example.com",
      "db1",
    ]);
    assert.deepEqual([...inv.groupHosts("web")!], ["web1", "web2", "web-eu-1.example.com"]);
    assert.deepEqual(inv.host("web-eu-1.example.com")!.groups, ["all", "web", "web_eu"]);
    assert.deepEqual(inv.host("bastion")!.groups, ["all", "ungrouped"]);
    assert.deepEqual(inv.host("web2")!.groups, ["all", "db", "web"]);
    assert.equal(inv.groupHosts("nope"), undefined);
  });
});

Deno.test("inventory: child group vars override parents, host vars override groups", () => {
  withInventory({ "hosts.yml": INVENTORY }, (inv) => {
    assert.equal(inv.host("bastion")!.vars.level, "all");
    assert.equal(inv.host("web1")!.vars.level, "web");
    assert.equal(inv.host("web-eu-1.example.com")!.vars.level, "web_eu");
    assert.equal(inv.host("web-eu-1.example.com")!.vars.ntp, "pool.ntp.org");
    assert.equal(inv.host("web-eu-1.example.com")!.vars.http_port, 80);
    assert.equal(inv.host("web1")!.vars.http_port, 8080);
  });
});

Deno.test("inventory: group_vars/ and host_vars/ beside the file, files and directories", () => {
  withInventory({
    "hosts.yml": INVENTORY,
    "group_vars/all.yml": "ntp: time.example.com\n",
    "group_vars/web/main.yml": "level: web-from-dir\nweb_only: true\n",
    "group_vars/web/more.yaml": "extra: 1\n",
    "group_vars/unknown_group.yml": "ignored: true\n",
    "host_vars/web1.yml": "http_port: 9090\n",
    "host_vars/db1.json": '{"role": "primary"}',
  }, (inv) => {
    assert.equal(inv.host("bastion")!.vars.ntp, "time.example.com");
    assert.equal(inv.host("web2")!.vars.level, "web-from-dir"); // web sorts after db
    assert.equal(inv.host("web2")!.vars.web_only, true);
    assert.equal(inv.host("web2")!.vars.extra, 1);
    assert.equal(inv.host("web-eu-1.example.com")!.vars.level, "web_eu"); // child still wins
    assert.equal(inv.host("web1")!.vars.http_port, 9090);
    assert.equal(inv.host("db1")!.vars.role, "primary");
    assert.equal(inv.host("bastion")!.vars.ignored, undefined);
  });
});

Deno.test("host patterns: all, group, host, union, difference, intersection", () => {
  withInventory({ "hosts.yml": INVENTORY }, (inv) => {
    assert.equal(names(inv, "all").length, 5);
    assert.equal(names(inv, "*").length, 5);
    assert.deepEqual(names(inv, "db"), ["web2", "db1"]);
    assert.deepEqual(names(inv, "db1"), ["db1"]);
    assert.deepEqual(names(inv, "bastion:db"), ["bastion", "web2", "db1"]);
    assert.deepEqual(names(inv, "web:!db"), ["web1", "web-eu-1.example.com"]);
    assert.deepEqual(names(inv, "web:&db"), ["web2"]);
    assert.deepEqual(names(inv, "all:!web_eu:!bastion"), ["web1", "web2", "db1"]);
    assert.deepEqual(names(inv, "!web"), ["bastion", "db1"]);
    assert.deepEqual(names(inv, "nosuchgroup"), []);
  });
});

Deno.test("host patterns: globs, regexes and comma lists", () => {
  withInventory({ "hosts.yml": INVENTORY }, (inv) => {
    assert.deepEqual(names(inv, "web*"), ["web1", "web2", "web-eu-1.example.com"]);
    assert.deepEqual(names(inv, "web?"), ["web1", "web2"]);
    assert.deepEqual(names(inv, "*.example.com"), ["web-eu-1.example.com"]);
    assert.deepEqual(names(inv, "web_e*"), ["web-eu-1.example.com"]); // a group glob
    assert.deepEqual(names(inv, "~web\\d"), ["web1", "web2"]);
    assert.deepEqual(names(inv, "~(bastion|db1)"), ["bastion", "db1"]);
    assert.deepEqual(names(inv, "web1,db1"), ["web1", "db1"]);
    assert.deepEqual(names(inv, "web,!web2"), ["web1", "web-eu-1.example.com"]);
  });
});

Deno.test("host patterns: bad ones are errors, exit 4 in a playbook and 5 on the command line", () => {
  withInventory({ "hosts.yml": INVENTORY }, (inv) => {
    const pos = { file: "site.yml", line: 2, col: 10 };
    for (const bad of ["", ":", "web;reboot", "a b", "$(id)", "~[", "web:!"]) {
      assert.throws(() => inv.match(bad), (e) => e instanceof DroverError && e.exitCode === 5, bad);
      assert.throws(
        () => inv.match(bad, pos),
        (e) =>
          e instanceof DroverError && e.exitCode === 4 && e.format().startsWith("site.yml:2:10: "),
        bad,
      );
    }
  });
});

Deno.test("a comma-separated host list is an inventory; localhost connects locally", () => {
  const inv = loadInventory("localhost,web1.example.com,");
  assert.deepEqual(inv.hosts().map((h) => h.name), ["localhost", "web1.example.com"]);
  assert.equal(inv.host("localhost")!.vars.ansible_connection, "local");
  assert.equal(inv.host("web1.example.com")!.vars.ansible_connection, undefined);
});

Deno.test("inventory errors name the file, line and column", () => {
  const cases: [string, RegExp][] = [
    [
      "all:\n  hostss:\n    a:\n",
      /hosts\.yml:2:3: unknown key 'hostss' in group 'all'.*did you mean 'hosts'\?/,
    ],
    [
      "all:\n  children:\n    web:\n      hosts: [a]\n",
      /hosts\.yml:4:14: hosts of group 'web' must be a mapping/,
    ],
    ['all:\n  hosts:\n    "a;b":\n', /hosts\.yml:3:5: invalid host name "a;b"/],
    ["all:\n  vars: [1]\n", /hosts\.yml:2:9: vars of group 'all' must be a mapping/],
    ["all:\n  hosts:\n    a: 1\n   b: 2\n", /hosts\.yml:4:4: YAML syntax error/],
    ["- a\n- b\n", /hosts\.yml:1:1: the inventory must be a mapping/],
  ];
  for (const [text, want] of cases) {
    assert.throws(
      () => withInventory({ "hosts.yml": text }, () => {}),
      (e) => e instanceof DroverError && e.exitCode === 4 && want.test(e.format()),
      text,
    );
  }
  assert.throws(
    () => loadInventory("/nonexistent/hosts.yml"),
    (e) => e instanceof DroverError && e.exitCode === 5 && /not found/.test(e.message),
  );
});

Deno.test("a comma-separated host list refuses names a shell would read (exit 5)", () => {
  for (const list of ["web1,$(touch pwned),", "a;reboot,", "web 1,"]) {
    assert.throws(
      () => loadInventory(list),
      (e) => e instanceof DroverError && e.exitCode === 5 && /invalid host name/.test(e.message),
    );
  }
});
