/**
 * Node-side helper for root tests: run daemon/testing/cni-server-driver.ts (under bun) inside a
 * netns, wait until it listens, collect what it prints, stop it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const BUN = fileURLToPath(new URL("../../node_modules/.bin/bun", import.meta.url));
const DRIVER = fileURLToPath(new URL("./cni-server-driver.ts", import.meta.url));

export type DriverMode = "serve" | "silent" | "drop-after-go" | "refuse";

export class CniServerProcess {
  private out = "";
  private err = "";
  private constructor(private readonly child: ChildProcess) {
    child.stdout?.on("data", (b: Buffer) => void (this.out += b.toString()));
    child.stderr?.on("data", (b: Buffer) => void (this.err += b.toString()));
  }

  /** Start the driver in `netns` (a name under /run/netns; "" for this process's own) serving `socket`. */
  static async start(
    netns: string,
    socket: string,
    mode: DriverMode = "serve",
    opts: { readMs?: number; goMs?: number; callMs?: number; stallMs?: number } = {},
  ): Promise<CniServerProcess> {
    const args = [DRIVER, socket, mode];
    if (opts.readMs !== undefined) args.push("--read-ms", String(opts.readMs));
    if (opts.goMs !== undefined) args.push("--go-ms", String(opts.goMs));
    if (opts.callMs !== undefined) args.push("--call-ms", String(opts.callMs));
    if (opts.stallMs !== undefined) args.push("--stall-ms", String(opts.stallMs));
    const child =
      netns === ""
        ? spawn(BUN, args, { stdio: ["ignore", "pipe", "pipe"] })
        : spawn("ip", ["netns", "exec", netns, BUN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const p = new CniServerProcess(child);
    const t0 = Date.now();
    while (!p.out.includes("listening")) {
      if (child.exitCode !== null) throw new Error(`CNI server driver exited ${child.exitCode}: ${p.err}`);
      if (Date.now() - t0 > 15_000) throw new Error(`CNI server driver did not listen within 15 s: ${p.err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return p;
  }

  /** The calls the real server answered, as `COMMAND exitcode` lines. */
  get calls(): string[] {
    return this.out
      .split("\n")
      .filter((l) => l.startsWith("call "))
      .map((l) => l.slice(5));
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** SIGTERM (the real server removes its socket) or SIGKILL; resolves once it has exited. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once("exit", () => r()));
    // `ip netns exec` execs bun in place, so the child is the driver itself
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
}
