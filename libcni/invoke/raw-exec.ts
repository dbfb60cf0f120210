/**
 * RawExec runs a plugin binary as a child process: config on stdin, result on stdout, logs on
 * stderr. Under Bun (the weft binary) through Bun.spawn (spawn-bun.ts), elsewhere through
 * node:child_process (spawn-node.ts); each is loaded on first use, so code that never runs a
 * plugin process (an in-process delegate) loads neither.
 */
import { fdSink } from "../stdio.ts";
import { trace } from "../trace.ts";
import { CniError, ErrorCode } from "../types/error.ts";
import { exitText, findInPath, pluginFailure, type ExecRequest, type PluginExec } from "./exec.ts";
import type { RunOutcome } from "./spawn-node.ts";

export interface StderrSink {
  write(chunk: string): unknown;
}

export interface RawExecOptions {
  /** Where a plugin's stderr is copied. @default this process's stderr (fd 2) */
  readonly stderr?: StderrSink;
  /** Kill (SIGKILL) a plugin still running after this many milliseconds. @default 60000 */
  readonly timeoutMs?: number;
  /** Retries when the binary is being written ("text file busy"). @default 5 */
  readonly busyRetries?: number;
  /** Pause between those retries. @default 1000 */
  readonly busyDelayMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 60_000;

type RunOnce = (req: ExecRequest, timeoutMs: number) => Promise<RunOutcome>;

let runner: Promise<RunOnce> | undefined;

function loadRunner(): Promise<RunOnce> {
  runner ??=
    typeof Bun !== "undefined"
      ? import("./spawn-bun.ts").then((m) => m.runOnce)
      : import("./spawn-node.ts").then((m) => m.runOnce);
  return runner;
}

export class RawExec implements PluginExec {
  private readonly stderr: StderrSink;
  private readonly timeoutMs: number;
  private readonly busyRetries: number;
  private readonly busyDelayMs: number;

  constructor(opts: RawExecOptions = {}) {
    this.stderr = opts.stderr ?? fdSink(2);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.busyRetries = opts.busyRetries ?? 5;
    this.busyDelayMs = opts.busyDelayMs ?? 1000;
  }

  findInPath(name: string, paths: readonly string[]): string {
    return findInPath(name, paths);
  }

  async execPlugin(req: ExecRequest): Promise<string> {
    const timeoutMs = req.timeoutMs ?? this.timeoutMs;
    const runOnce = await loadRunner();
    for (let attempt = 0; ; attempt++) {
      let out: RunOutcome;
      try {
        trace(`exec: ${req.path} ${req.env["CNI_COMMAND"] ?? ""} spawn`);
        out = await runOnce(req, timeoutMs);
        trace(`exec: ${req.path} exited ${out.exitCode ?? out.signal}`);
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
    code === "EACCES"
      ? "permission denied (make the plugin executable: chmod +x)"
      : code === "ENOENT"
        ? "no such file or directory (a missing binary, or a missing interpreter in its #! line)"
        : code === "ENOEXEC"
          ? "exec format error (not a binary for this machine, or a script without #!)"
          : e instanceof Error
            ? e.message
            : String(e);
  return new CniError(ErrorCode.Unknown, `netplugin failed with no error message: fork/exec ${path}: ${why}`);
}

function timeoutFailure(path: string, timeoutMs: number, out: RunOutcome): CniError {
  const secs = timeoutMs >= 1000 ? `${timeoutMs / 1000}s` : `${timeoutMs}ms`;
  const tail = out.stderr ? `; its stderr: ${out.stderr.trim().slice(-500)}` : "";
  return new CniError(
    ErrorCode.Unknown,
    `netplugin failed with no error message: ${exitText({ exitCode: null, signal: "SIGKILL" })}`,
    `plugin ${path} was still running after ${secs} and was killed ` +
      `(SIGKILL); raise the exec timeout if it legitimately needs longer${tail}`,
  );
}
