/**
 * Start-up and phase timestamps for profiling one exec: with WEFT_TRACE=1 in the environment,
 * `trace("label")` writes `weft-trace <pid> <epoch ms> <ms since runtime start> <label>` to stderr.
 * The epoch column lets a parent that noted its spawn time (performance.timeOrigin + now()) see the
 * runtime's own start-up, which no in-process clock covers. Off (the default) it costs one boolean test.
 */
import { writeSync } from "node:fs";

const enabled = process.env["WEFT_TRACE"] === "1";

export function trace(label: string): void {
  if (!enabled) return;
  const now = performance.now();
  try {
    writeSync(2, `weft-trace ${process.pid} ${(performance.timeOrigin + now).toFixed(3)} ${now.toFixed(3)} ${label}\n`);
  } catch {
    // Tracing never fails the command.
  }
}
