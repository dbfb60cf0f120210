/**
 * One plugin run with Bun.spawn: the runtime RawExec uses inside the weft binary. node:child_process
 * under Bun is a stream layer over the same spawn, which costs several times what this path does
 * per plugin exec. Loaded only when `globalThis.Bun` exists (raw-exec.ts), so Node (the unit
 * tests) never evaluates it; libcni/testing/bun-exec-driver.ts covers it under Bun.
 */
import type { ExecRequest } from "./exec.ts";
import type { RunOutcome } from "./spawn-node.ts";

/** Read a pipe to its end, keeping what arrived if the read is cancelled. */
function collect(stream: ReadableStream<Uint8Array>): { chunks: Uint8Array[]; done: Promise<void>; cancel(): void } {
  const chunks: Uint8Array[] = [];
  const reader = stream.getReader();
  const done = (async () => {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      chunks.push(r.value);
    }
  })().catch(() => undefined);
  return { chunks, done, cancel: () => void reader.cancel().catch(() => undefined) };
}

const text = (chunks: readonly Uint8Array[]): string => Buffer.concat(chunks).toString("utf8");

/** Spawn once. Rejects only when the process cannot be started (error.code = errno name). */
export async function runOnce(req: ExecRequest, timeoutMs: number): Promise<RunOutcome> {
  const proc = Bun.spawn([req.path], {
    env: { ...req.env },
    stdin: Buffer.from(req.stdin, "utf8"),
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = collect(proc.stdout);
  const err = collect(proc.stderr);
  let timedOut = false;
  let expire = (): void => undefined;
  const expired = new Promise<void>((resolve) => (expire = resolve));
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
    expire();
  }, timeoutMs);
  try {
    await proc.exited;
    if (!timedOut) await Promise.race([Promise.all([out.done, err.done]), expired]);
    if (timedOut) {
      // A grandchild may hold the pipes open; once our child is gone, do not wait for them.
      out.cancel();
      err.cancel();
    }
  } finally {
    clearTimeout(timer);
  }
  const signal = proc.signalCode === null ? null : String(proc.signalCode);
  return {
    stdout: text(out.chunks),
    stderr: text(err.chunks),
    exitCode: signal === null ? proc.exitCode : null,
    signal,
    timedOut,
  };
}
