/**
 * @module
 * The modules drover knows, by name and alias.
 */
import type { Module } from "../core/module.ts";
import { command, shell } from "./command.ts";
import { assertModule, debug, fail, meta, setFact } from "./logic.ts";
import { copy, file, lineinfile, stat, template } from "./files.ts";
import { user } from "./user.ts";
import { droverPorts, droverRecord, droverRestore } from "./migration.ts";
import { packageModule } from "./package.ts";
import { aptRepository } from "./apt_repository.ts";
import { rpmKey, yumRepository } from "./yum_repository.ts";
import { systemdService } from "./systemd_service.ts";
import { ufw } from "./ufw.ts";
import { firewalld } from "./firewalld.ts";
import { dockerCompose } from "./docker_compose.ts";
import { dockerImage } from "./docker_image.ts";
import { dockerVolume } from "./docker_volume.ts";
import { waitFor } from "./wait_for.ts";
import { uri } from "./uri.ts";

const ALL: Module[] = [
  command,
  shell,
  debug,
  setFact,
  assertModule,
  fail,
  meta,
  copy,
  file,
  template,
  stat,
  lineinfile,
  user,
  droverPorts,
  droverRecord,
  droverRestore,
  packageModule,
  aptRepository,
  yumRepository,
  rpmKey,
  systemdService,
  ufw,
  firewalld,
  dockerCompose,
  dockerImage,
  dockerVolume,
  waitFor,
  uri,
] as Module[];

const byName = new Map<string, Module>();

/** Add modules to the registry (used by the module index). */
export function registerModules(mods: readonly Module[]): void {
  for (const m of mods) {
    byName.set(m.name, m);
    for (const a of m.aliases ?? []) byName.set(a, m);
  }
}

registerModules(ALL);

/** A module by name or alias. */
export function findModule(name: string): Module | undefined {
  return byName.get(name);
}

/** All primary module names, sorted. */
export function moduleNames(): string[] {
  return [...new Set([...byName.values()].map((m) => m.name))].sort();
}
