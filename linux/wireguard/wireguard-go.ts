/**
 * Running a userspace WireGuard implementation (Debian's `wireguard-go`) for one device, the way
 * wg-quick falls back to it: `wireguard-go -f <dev>` creates the TUN device `<dev>` in the
 * caller's network namespace and serves the UAPI socket /var/run/wireguard/<dev>.sock. It stays a
 * child process in the foreground (WG_PROCESS_FOREGROUND=1, which also silences its banner), so
 * its exit is seen at once, and it is killed if this process exits first; its output is handed to
 * `onLine`.
 */
import { spawn } from "node:child_process";
import { uapiExchange } from "./uapi-client.ts";
import { GET_REQUEST, UAPI_SOCKET_DIR, uapiSocketPath } from "./uapi.ts";

export interface WireguardGoOptions {
  /** The executable. @default "wireguard-go" (found on PATH) */
  readonly command?: string;
  /** Where the implementation puts its socket (its compiled-in directory). @default /var/run/wireguard */
  readonly socketDir?: string;
  /** Extra environment, e.g. LOG_LEVEL=verbose. LOG_LEVEL defaults to "error". */
  readonly env?: Readonly<Record<string, string>>;
  /** How long the device and its socket may take to appear. @default 5000 */
  readonly startTimeoutMs?: number;
  /** Each line the process prints (stdout and stderr). */
  readonly onLine?: (line: string) => void;
}

/** How a wireguard-go process ended. */
export interface WireguardGoExit {
  readonly code?: number;
  readonly signal?: string;
  /** True when {@link WireguardGo.stop} asked for it. */
  readonly requested: boolean;
  /** Its last lines of output. */
  readonly output: string;
}

const KEEP_LINES = 20;

export class WireguardGo {
  private stopping = false;
  private readonly lines: string[] = [];
  private ended: WireguardGoExit | undefined;
  /** Settles when the process is gone, however it ended. */
  readonly exited: Promise<WireguardGoExit>;

  private constructor(
    readonly dev: string,
    readonly socketPath: string,
    private readonly child: { readonly pid?: number | undefined; kill(signal?: NodeJS.Signals): boolean },
    done: Promise<{
      exitCode?: number | undefined;
      signal?: string | undefined;
      failed: boolean;
      originalMessage?: string | undefined;
    }>,
    command: string,
  ) {
    this.exited = done.then((r) => {
      if (r.failed && r.exitCode === undefined && r.signal === undefined)
        this.note(`${command}: ${r.originalMessage ?? "could not be started"}`);
      this.ended = {
        ...(r.exitCode !== undefined ? { code: r.exitCode } : {}),
        ...(r.signal !== undefined ? { signal: r.signal } : {}),
        requested: this.stopping,
        output: this.lines.join("\n"),
      };
      return this.ended;
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True until the process exits. */
  get running(): boolean {
    return this.ended === undefined;
  }

  private note(line: string): void {
    this.lines.push(line);
    if (this.lines.length > KEEP_LINES) this.lines.shift();
  }

  /**
   * Start `wireguard-go -f dev` and wait until its UAPI socket answers. Throws, with the
   * process's own words, when it exits or does not answer in time (the process is then stopped).
   */
  static async start(dev: string, o: WireguardGoOptions = {}): Promise<WireguardGo> {
    const command = o.command ?? "wireguard-go";
    // node:child_process rather than execa: the child must not keep this process alive (unref),
    // which execa's subprocess cannot do under Bun, and execa's exit-time cleanup re-raises
    // SIGTERM once the daemon's own one-shot handler has run, killing it before it removes its
    // devices. The exit handler below does that cleanup instead.
    const child = spawn(command, ["-f", dev], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WG_PROCESS_FOREGROUND: "1", LOG_LEVEL: "error", ...o.env },
    });
    const done = new Promise<{ exitCode?: number; signal?: string; failed: boolean; originalMessage?: string }>(
      (resolve) => {
        child.once("error", (e) => resolve({ failed: true, originalMessage: e.message }));
        child.once("exit", (code, signal) =>
          resolve({
            failed: code !== 0,
            ...(code !== null ? { exitCode: code } : {}),
            ...(signal !== null ? { signal } : {}),
          }),
        );
      },
    );
    const wg = new WireguardGo(dev, uapiSocketPath(dev, o.socketDir ?? UAPI_SOCKET_DIR), child, done, command);
    const onData = (chunk: Buffer | string) => {
      for (const line of String(chunk).split("\n")) {
        if (line.trim() === "") continue;
        wg.note(line);
        o.onLine?.(line);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.unref();
    for (const stream of [child.stdout, child.stderr]) (stream as { unref?: () => void } | null)?.unref?.();
    // If this process exits without stopping it (a failed start-up), the device goes with it: its
    // TUN disappears when the process does.
    const onExit = () => void child.kill("SIGKILL");
    process.once("exit", onExit);
    void wg.exited.then(() => process.off("exit", onExit));
    const deadline = Date.now() + (o.startTimeoutMs ?? 5000);
    for (;;) {
      if (!wg.running) {
        const e = await wg.exited;
        throw new Error(
          `${command} ${dev} exited during start-up (${describeExit(e)})${e.output ? `: ${e.output}` : ""}`,
        );
      }
      const ok = await uapiExchange(wg.socketPath, GET_REQUEST, 1000).then(
        () => true,
        () => false,
      );
      if (ok) return wg;
      if (Date.now() > deadline) {
        const e = await wg.stop();
        throw new Error(
          `${command} ${dev} did not answer on ${wg.socketPath} within ${o.startTimeoutMs ?? 5000} ms` +
            (e.output ? `: ${e.output}` : ""),
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** SIGTERM (the device and its socket go away with the process), SIGKILL after `graceMs`. */
  async stop(graceMs = 3000): Promise<WireguardGoExit> {
    if (this.ended) return this.ended;
    this.stopping = true;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export function describeExit(e: WireguardGoExit): string {
  return e.signal ? `signal ${e.signal}` : `status ${e.code ?? "unknown"}`;
}
