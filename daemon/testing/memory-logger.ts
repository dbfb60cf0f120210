import { createLogger, type Logger } from "../log.ts";

/** A logger that keeps lines in memory (tests). */
export function memoryLogger(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  const l = createLogger({ write: (s) => lines.push(s.trimEnd()), verbosity: 9 });
  return Object.assign(l, { lines });
}
