/**
 * Streamed HTTP bodies of newline-delimited JSON (etcd's watch and keep-alive streams, the
 * Kubernetes watch): split them into lines across chunk boundaries.
 */
import type { IncomingMessage } from "node:http";

/** Feed every non-empty, trimmed line of `res` to `onLine`; once it returns false, feed no more. */
export function forEachLine(res: IncomingMessage, onLine: (line: string) => boolean): void {
  let buf = "";
  let stopped = false;
  res.setEncoding("utf8");
  res.on("data", (chunk: string) => {
    if (stopped) return;
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line === "") continue;
      if (!onLine(line)) {
        stopped = true;
        return;
      }
    }
  });
}
