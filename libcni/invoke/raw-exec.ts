/**
 * RawExec runs a plugin binary as a child process (node:child_process, so it works under Node and
 * Bun alike): config on stdin, result on stdout, logs on stderr.
 */
import { spawn } from "node:child_process";
import { CniError, ErrorCode } from "../types/error.ts";
import { exitText, findInPath, pluginFailure, type ExecRequest, type PluginExec, type PluginOutcome } from "./exec.ts";

export interface StderrSink {
  write(chunk: string): unknown;
}

export interface RawExecOptions {
  /** Where a plugin's stderr is copied. @default process.stderr */
  readonly stderr?: StderrSink;
  /** Kill (SIGKILL) a plugin still running after this many milliseconds. @default 60000 */
  readonly timeoutMs?: number;
  /** Retries when the binary is being written ("text file busy"). @default 5 */
  readonly busyRetries?: number;
  /** Pause between those retries. @default 1000 */
  readonly busyDelayMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 60_000;

interface RunOutcome extends PluginOutcome {
  readonly timedOut: boolean;
}

export class RawExec implements PluginExec {
  private readonly stderr: StderrSink;
  private readonly timeoutMs: number;
  private readonly busyRetries: number;
  private readonly busyDelayMs: number;

  constructor(opts: RawExecOptions = {}) {
    this.stderr = opts.stderr ?? process.stderr;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.busyRetries = opts.busyRetries ?? 5;
    this.busyDelayMs = opts.busyDelayMs ?? 1000;
  }

  findInPath(name: string, paths: readonly string[]): string {
    return findInPath(name, paths);
  }

  async execPlugin(req: ExecRequest): Promise<string> {
    const timeoutMs = req.timeoutMs ?? this.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      let out: RunOutcome;
      try {
        out = await runOnce(req, timeoutMs);
      } catch (e) {
        if (errnoOf(e) === "ETXTBSY" && attempt < this.busyRetries) {
          await new Promise((r) => setTimeout(r, this.busyDelayMs));
          continue;
        }
        throw spawnFailure(req.path, e);
      }
      if (out.timedOut) throw timeoutFailure(req.path, timeoutMs, out);
      if (out.exitCode === 0) {
        if (out.stderr) this.stderr.write(out.stderr);
        return out.stdout;
      }
      // stderr is part of the message only when stdout is empty; otherwise pass it on.
      if (out.stdout && out.stderr) this.stderr.write(out.stderr);
      throw pluginFailure(out);
    }
  }
}

function errnoOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function spawnFailure(path: string, e: unknown): CniError {
  const code = errnoOf(e);
  const why =
    code === "EACCES" ? "permission denied (make the plugin executable: chmod +x)"
    : code === "ENOENT" ? "no such file or directory (a missing binary, or a missing interpreter in its #! line)"
    : code === "ENOEXEC" ? "exec format error (not a binary for this machine, or a script without #!)"
    : e instanceof Error ? e.message : String(e);
  return new CniError(ErrorCode.Unknown, `netplugin failed with no error message: fork/exec ${path}: ${why}`);
}

function timeoutFailure(path: string, timeoutMs: number, out: RunOutcome): CniError {
  const secs = timeoutMs >= 1000 ? `${timeoutMs / 1000}s` : `${timeoutMs}ms`;
  const tail = out.stderr ? `; its stderr: ${out.stderr.trim().slice(-500)}` : "";
  return new CniError(
    ErrorCode.Unknown,
    `netplugin failed with no error message: ${exitText({ exitCode: null, signal: "SIGKILL" })}`,
    `plugin ${path} was still running after ${secs} and was killed (SIGKILL); raise the exec timeout if it legitimately needs longer${tail}`,
  );
}

/** Spawn once. Rejects only when the process cannot be started (so ETXTBSY can be retried). */
function runOnce(req: ExecRequest, timeoutMs: number): Promise<RunOutcome> {
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
