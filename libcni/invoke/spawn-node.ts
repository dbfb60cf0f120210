/**
 * One plugin run with node:child_process: RawExec's runner outside Bun (the unit tests run on Node).
 */
import { spawn } from "node:child_process";
import type { ExecRequest, PluginOutcome } from "./exec.ts";

export interface RunOutcome extends PluginOutcome {
  readonly timedOut: boolean;
}

/** Spawn once. Rejects only when the process cannot be started (so ETXTBSY can be retried). */
export function runOnce(req: ExecRequest, timeoutMs: number): Promise<RunOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(req.path, [], { env: { ...req.env }, stdio: ["pipe", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let settled = false;
    let timedOut = false;
    let exited = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } = { code: null, signal: null };

    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
        exitCode: exit.code,
        signal: exit.signal,
        timedOut,
      });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
      // A grandchild may hold the pipes open; once our child is gone, do not wait for them.
      if (exited) {
        child.stdout.destroy();
        child.stderr.destroy();
        finish();
      }
    }, timeoutMs);

    child.stdout.on("data", (b: Buffer) => stdout.push(b));
    child.stderr.on("data", (b: Buffer) => stderr.push(b));
    child.stdin.on("error", () => {
      // The plugin may exit without reading stdin (e.g. VERSION); its exit status tells the story.
    });
    child.on("error", (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(e);
    });
    child.on("exit", (code, signal) => {
      exited = true;
      exit = { code, signal };
      if (timedOut) {
        child.stdout.destroy();
        child.stderr.destroy();
        finish();
      }
    });
    child.on("close", (code, signal) => {
      exit = { code, signal };
      finish();
    });
    child.stdin.end(req.stdin);
  });
}
