import assert from "node:assert/strict";
import { resolveMode } from "./_files.ts";

Deno.test("resolveMode: symbolic modes apply to the current mode, as chmod does", () => {
  const file = (mode: string) => ({ type: "file" as const, mode });
  assert.equal(resolveMode(file("0644"), "g+w,o-r"), "0660");
  assert.equal(resolveMode(file("0755"), "u=rw,g=r,o="), "0640");
  assert.equal(resolveMode(file("0755"), "u=rw"), "0655");
  assert.equal(resolveMode(file("0640"), "a+X"), "0640");
  assert.equal(resolveMode(file("0750"), "a+X"), "0751");
  assert.equal(resolveMode({ type: "directory", mode: "0700" }, "go+rX"), "0755");
  assert.equal(resolveMode(file("0644"), "u+s,o+t"), "5644");
  // A new file starts from 0644, a new directory from 0755.
  assert.equal(resolveMode({ type: "absent" }, "g+w"), "0664");
  assert.equal(resolveMode({ type: "absent" }, "g+w", "directory"), "0775");
  // Octal modes are kept.
  assert.equal(resolveMode(file("0644"), "0600"), "0600");
  assert.equal(resolveMode(file("0644"), undefined), undefined);
});
