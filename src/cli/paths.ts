/**
 * @module
 * Where drover's own files are (the project root holding inventory/, roles/).
 */
import { dirname, resolve } from "../core/path.ts";
import { fileURLToPath } from "node:url";

/** Path of a file URL. */
export function fromFileUrl(url: string | URL): string {
  return fileURLToPath(url);
}

/** The directory holding main.ts. */
export function projectRoot(): string {
  return resolve(dirname(fromFileUrl(import.meta.url)), "..", "..");
}
