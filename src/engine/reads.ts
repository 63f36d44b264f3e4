/**
 * @module
 * Batched reads: many tasks' read-only probes in one script, one round trip.
 * The engine keeps the results per host until something may have changed
 * the host (any non-read command), so a converged run costs a fact probe plus
 * one batch per host, whatever the number of tasks.
 */
import type { ExecResult } from "../core/connection.ts";
import { heredocTag } from "../connection/quote.ts";

/** Scripts longer than this are not batched. */
export const MAX_BATCHED_SCRIPT = 256 * 1024;

/**
 * One script that runs each read as `sh -s` with the read's script on stdin
 * (a here-document: as it would run alone, and nothing in argv). The reads
 * run at once, each in the background with its output in a private
 * directory (memory-backed `/dev/shm` where there is one, removed on exit):
 * they only read, so the batch costs the host the slowest read, not the sum.
 * Then each read's stdout, exit code and stderr are printed in order between
 * markers carrying `nonce`, by one `cat`: besides the reads themselves the
 * batch starts three processes (mktemp, cat, rm), because on a host every
 * process costs a few milliseconds of CPU. If the batch is killed, nothing
 * is printed.
 *
 * `gate`: the index of a read whose empty output means its task will change
 * the host (a missing record). The reads after it start only once it has
 * printed something; when it printed nothing they do not run and are missing
 * from the output, since the change would throw their results away. Pure.
 */
export function batchScript(reads: readonly string[], nonce: string, gate?: number): string {
  const gated = gate !== undefined && gate >= 0 && gate < reads.length - 1;
  let out = `drover_d=$(mktemp -d /dev/shm/drover-rd.XXXXXX 2>/dev/null || mktemp -d) || exit 1
trap 'rm -rf "$drover_d"' EXIT
trap 'exit 1' HUP INT TERM
`;
  const files = (from: number, to: number) =>
    reads.slice(from, to).flatMap((_r, j) =>
      ["h", "o", "m", "e", "z"].map((x) => `"$drover_d/${from + j}.${x}"`)
    ).join(" ");
  const start = (from: number, to: number) =>
    reads.slice(from, to).map((r, j) => {
      const i = from + j;
      const body = r.endsWith("\n") ? r : r + "\n";
      const tag = heredocTag(body);
      return `sh -s >"$drover_d/${i}.o" 2>"$drover_d/${i}.e" <<'${tag}' &
${body}${tag}
drover_p${i}=$!
`;
    }).join("");
  // The exit code of a read the gate already waited for is kept: a second wait may not know it.
  const collect = (from: number, to: number) =>
    reads.slice(from, to).map((_r, j) => {
      const i = from + j;
      const wait = gated && i === gate
        ? "drover_r=$drover_rg"
        : `wait "$drover_p${i}"; drover_r=$?`;
      return `${wait}; printf '\\n@@${nonce}:${i}:out\\n' >"$drover_d/${i}.h"; \
printf '\\n@@${nonce}:${i}:rc\\n%s\\n@@${nonce}:${i}:err\\n' "$drover_r" >"$drover_d/${i}.m"; \
printf '\\n@@${nonce}:${i}:end\\n' >"$drover_d/${i}.z"
`;
    }).join("");
  if (!gated) {
    return out + start(0, reads.length) + collect(0, reads.length) +
      `cat ${files(0, reads.length)}\n`;
  }
  const g = gate! + 1;
  out += start(0, g) + `wait "$drover_p${gate}"; drover_rg=$?
set -- ${files(0, g)}
if [ -s "$drover_d/${gate}.o" ]; then
${start(g, reads.length)}fi
${collect(0, g)}if [ -s "$drover_d/${gate}.o" ]; then
${collect(g, reads.length)}set -- "$@" ${files(g, reads.length)}
fi
cat "$@"
`;
  return out;
}

/**
 * Split {@linkcode batchScript}'s output into one result per read; a read
 * whose markers are incomplete (the batch died) is undefined. Pure.
 */
export function parseBatch(out: string, count: number, nonce: string): (ExecResult | undefined)[] {
  const res: (ExecResult | undefined)[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const mark = (k: string) => `\n@@${nonce}:${i}:${k}\n`;
    const o = out.indexOf(mark("out"), at);
    const rc = o < 0 ? -1 : out.indexOf(mark("rc"), o);
    const er = rc < 0 ? -1 : out.indexOf(mark("err"), rc);
    const end = er < 0 ? -1 : out.indexOf(mark("end"), er);
    if (end < 0) {
      res.push(undefined);
      continue;
    }
    const stdout = out.slice(o + mark("out").length, rc);
    const code = Number(out.slice(rc + mark("rc").length, er).trim());
    // Trailing newlines dropped, as the shell's "$(...)" does (the stderr of a single read).
    const stderr = out.slice(er + mark("err").length, end).replace(/\n+$/, "");
    res.push({ rc: Number.isInteger(code) ? code : 1, stdout, stderr });
    at = end;
  }
  return res;
}

/** Tasks with reads a batch looks ahead once reads fetched ahead were thrown away by a change. */
export const AFTER_WASTE = 3;

/** A fresh marker for one batch. */
export function newNonce(): string {
  return "R" + crypto.randomUUID().replaceAll("-", "").slice(0, 16);
}

/**
 * Per-host results of reads, keyed by how they run (become user, environment)
 * and their script. Dropped whole when anything may have changed the host.
 */
export class ReadCache {
  readonly #m = new Map<string, ExecResult>();
  /** Reads fetched ahead of the task that needs them and not asked for yet. */
  readonly #ahead = new Set<string>();
  /** How many batches and single reads went to the host. */
  batches = 0;
  singles = 0;
  /**
   * How many tasks with reads the next batch looks ahead. Unbounded while batches are
   * used up (a converged host: one batch for the whole run); small once a
   * change threw away reads fetched ahead (a host being changed: reads
   * fetched ahead of a change are wasted host time).
   */
  window = Infinity;
  /**
   * Dropped since the last miss: no read fetched ahead is left because a
   * change threw them away, not because tasks used them up.
   */
  #cleared = false;
  /** A gate kept reads ahead from running since the last clear (see {@linkcode batchScript}). */
  #gated = false;

  /** The cache key of a script run with this become user and environment. */
  static key(group: string, script: string): string {
    return `${group}\0${script}`;
  }

  get(key: string): ExecResult | undefined {
    this.#ahead.delete(key);
    return this.#m.get(key);
  }

  /** Like {@linkcode get}, without counting the read as used. */
  peek(key: string): ExecResult | undefined {
    return this.#m.get(key);
  }

  has(key: string): boolean {
    return this.#m.has(key);
  }

  /** Keep a result; `ahead`: fetched for a later task, not yet asked for. */
  set(key: string, r: ExecResult, ahead = false): void {
    this.#m.set(key, r);
    if (ahead) this.#ahead.add(key);
  }

  /**
   * A read was not there: if every read fetched ahead has been used, the
   * host is not being changed for now, so the next batch may look further.
   */
  missed(): void {
    if (!this.#cleared && this.#ahead.size === 0 && this.window < Infinity) this.window *= 4;
    this.#cleared = false;
  }

  /**
   * A gate kept the reads ahead from running, because its task is about to
   * change the host: that change adapts {@linkcode window} as one that threw
   * reads away.
   */
  gated(): void {
    this.#gated = true;
  }

  /** Something may have changed the host: forget every read, and adapt {@linkcode window}. */
  clear(): void {
    if (this.#m.size === 0) return;
    this.window = this.#ahead.size > 0 || this.#gated ? AFTER_WASTE : this.window * 2;
    this.#m.clear();
    this.#ahead.clear();
    this.#cleared = true;
    this.#gated = false;
  }
}
