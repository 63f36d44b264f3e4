/**
 * @module
 * Path helpers (node:path plus file URL conversion).
 */
export { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** A file URL for an absolute or relative path. */
export function toFileUrl(path: string): URL {
  return pathToFileURL(path);
}
