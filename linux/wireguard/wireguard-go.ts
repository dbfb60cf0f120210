/**
 * Running a userspace WireGuard implementation (Debian's `wireguard-go`) for one device, the way
 * wg-quick falls back to it: `wireguard-go -f <dev>` creates the TUN device `<dev>` in the
 * caller's network namespace and serves the UAPI socket /var/run/wireguard/<dev>.sock. It stays a
 * child process in the foreground (WG_PROCESS_FOREGROUND=1, which also silences its banner), so
 * its exit is seen at once; its output is handed to `onLine`. execa is loaded on first use.
 */
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
    done: Promise<{ exitCode?: number | undefined; signal?: string | undefined; failed: boolean; originalMessage?: string | undefined }>,
    command: string,
  ) {
    this.exited = done.then((r) => {
      if (r.failed && r.exitCode === undefined && r.signal === undefined) this.note(`${command}: ${r.originalMessage ?? "could not be started"}`);
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
    const { execa } = await import("execa");
    const command = o.command ?? "wireguard-go";
    const child = execa(command, ["-f", dev], {
      reject: false,
      stdin: "ignore",
      buffer: false,
      // not execa's exit-time cleanup: its signal handler re-raises SIGTERM once the daemon's own
      // one-shot handler has run, killing the daemon before it removes its devices; stop() ends it
      cleanup: false,
      env: { WG_PROCESS_FOREGROUND: "1", LOG_LEVEL: "error", ...o.env },
    });
    const wg = new WireguardGo(dev, uapiSocketPath(dev, o.socketDir ?? UAPI_SOCKET_DIR), child, child, command);
    const onData = (chunk: Buffer | string) => {
      for (const line of String(chunk).split("\n")) {
        if (line.trim() === "") continue;
        wg.note(line);
        o.onLine?.(line);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    const deadline = Date.now() + (o.startTimeoutMs ?? 5000);
    for (;;) {
      if (!wg.running) {
        const e = await wg.exited;
        throw new Error(`${command} ${dev} exited during start-up (${describeExit(e)})${e.output ? `: ${e.output}` : ""}`);
      }
      const ok = await uapiExchange(wg.socketPath, GET_REQUEST, 1000).then(
        () => true,
        () => false,
      );
      if (ok) return wg;
      if (Date.now() > deadline) {
        const e = await wg.stop();
        throw new Error(`${command} ${dev} did not answer on ${wg.socketPath} within ${o.startTimeoutMs ?? 5000} ms${e.output ? `: ${e.output}` : ""}`);
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
