/**
 * Structured logs: one logfmt line per event on stderr (`time=… level=info msg="…" key=value`).
 * flanneld logs always go to stderr; `-v` raises the verbosity of debug lines.
 */

export type Level = "debug" | "info" | "warn" | "error";
export type Fields = Readonly<Record<string, string | number | boolean | bigint | null | undefined>>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger that adds `fields` to every line. */
  with(fields: Fields): Logger;
}

function quote(v: string): string {
  return /^[A-Za-z0-9_.:/@+,\-[\]]+$/.test(v) ? v : JSON.stringify(v);
}

/** Render one logfmt line (without the newline). Exported for tests. */
export function formatLine(time: Date, level: Level, msg: string, fields: Fields): string {
  const parts = [`time=${time.toISOString()}`, `level=${level}`, `msg=${quote(msg)}`];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    parts.push(`${k}=${quote(String(v))}`);
  }
  return parts.join(" ");
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Where lines go. @default process.stderr.write */
  readonly write?: (line: string) => void;
  /** klog-style verbosity; debug lines are printed when ≥ 1. @default 0 */
  readonly verbosity?: number;
  readonly now?: () => Date;
}

export function createLogger(opts: LoggerOptions = {}, base: Fields = {}): Logger {
  const write = opts.write ?? ((l: string) => void process.stderr.write(l));
  const now = opts.now ?? (() => new Date());
  const verbosity = opts.verbosity ?? 0;
  const emit = (level: Level, msg: string, fields: Fields = {}): void => {
    if (level === "debug" && verbosity < 1) return;
    write(`${formatLine(now(), level, msg, { ...base, ...fields })}\n`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    with: (f) => createLogger(opts, { ...base, ...f }),
  };
}

/** Message of an unknown thrown value, never a stack. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
