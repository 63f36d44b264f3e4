/**
 * @module
 * `-vv` and `-vvv`: a {@linkcode Connection} wrapper that reports each
 * command it sends (as a `command` event) and how the host is reached (a
 * `connection` event). Events go through the engine's redacting emit, and
 * data a command carries (heredoc bodies, long base64 runs: file contents
 * that may hold a secret in encoded form) is hidden before that.
 */
import type { Connection, ExecOptions, ExecResult } from "../core/connection.ts";
import type { Emit, EventOf } from "../core/events.ts";

/**
 * A script with its data hidden: heredoc bodies become a size note, and
 * base64 runs of 64 characters or more become `<base64 data hidden>`.
 *
 * @example
 * ```ts
 * import { hideScriptData } from "./trace.ts";
 * hideScriptData("base64 -d > f <<'EOF'\naGVsbG8=\nEOF\n");
 * // "base64 -d > f <<'EOF'\n<heredoc data hidden: 1 line, 8 bytes>\nEOF\n"
 * ```
 */
export function hideScriptData(script: string): string {
  return script
    .replace(
      /(<<-?[ \t]*(['"]?)([A-Za-z_][\w-]*)\2[^\n]*\n)([\s\S]*?)(\n[ \t]*\3(?:\n|$))/g,
      (_m, head: string, _q: string, _tag: string, body: string, tail: string) => {
        const n = body.split("\n").length;
        return `${head}<heredoc data hidden: ${n} line${n === 1 ? "" : "s"}, ${
          new TextEncoder().encode(body).length
        } bytes>${tail}`;
      },
    )
    .replace(/[A-Za-z0-9+/]{64,}={0,2}/g, "<base64 data hidden>");
}

/** Wrap `conn` so each exec is reported through `emit` (a `command` event) first. */
export function traceConnection(
  conn: Connection,
  emit: Emit,
  connection?: Omit<EventOf<"connection">, "type" | "host">,
): Connection {
  let announced = connection === undefined;
  return {
    host: conn.host,
    exec(script: string, options: ExecOptions = {}): Promise<ExecResult> {
      if (!announced) {
        announced = true;
        emit({ type: "connection", host: conn.host, ...connection! });
      }
      emit({
        type: "command",
        host: conn.host,
        script: hideScriptData(options.shown ?? script),
        become: options.become?.user,
        env: options.env ? Object.keys(options.env) : undefined,
      });
      return conn.exec(script, options);
    },
    primeBecome: (probeOutput: string) => conn.primeBecome?.(probeOutput),
    close: () => conn.close(),
  };
}
