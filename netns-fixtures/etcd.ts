// A real etcd (Debian's etcd-server) for tests and the demo, in a netns of ours or on loopback,
// with a throwaway data dir. stop() kills it and removes the data.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./sh.ts";

export const ETCD_BIN = "/usr/bin/etcd";
export const ETCDCTL_BIN = "/usr/bin/etcdctl";

export interface EtcdOptions {
  /** run inside this netns; default: the root netns (then host must be on loopback) */
  readonly ns?: string;
  readonly host: string;
  readonly clientPort?: number;
  readonly peerPort?: number;
  readonly name?: string;
}

export class Etcd {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dataDir: string,
    readonly endpoint: string,
    private readonly ns: string | undefined,
  ) {}

  static async start(o: EtcdOptions): Promise<Etcd> {
    const name = o.name ?? "weft";
    const client = `http://${o.host}:${o.clientPort ?? 2379}`;
    const peer = `http://${o.host}:${o.peerPort ?? 2380}`;
    const dataDir = mkdtempSync(join(tmpdir(), "weft-etcd-"));
    const args = [
      "--name", name, "--data-dir", dataDir,
      "--listen-client-urls", client, "--advertise-client-urls", client,
      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
      "--initial-cluster", `${name}=${peer}`, "--initial-cluster-state", "new",
      "--log-level", "error", "--logger", "zap",
    ];
    const child = o.ns ? spawn("ip", ["netns", "exec", o.ns, ETCD_BIN, ...args], { stdio: "ignore" }) : spawn(ETCD_BIN, args, { stdio: "ignore" });
    const etcd = new Etcd(child, dataDir, client, o.ns);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await etcd.ctl(["endpoint", "health"]).catch((e: unknown) => ({ exitCode: 1, stdout: "", stderr: String(e) }));
      if (r.exitCode === 0) return etcd;
      if (child.exitCode !== null || Date.now() > deadline) {
        etcd.stop();
        throw new Error(`etcd at ${client} did not become healthy: ${r.stderr.trim()}`);
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  /** etcdctl (v3 API) against this member, from its netns. */
  ctl(args: readonly string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const full = ["--endpoints", this.endpoint, "--dial-timeout", "1s", "--command-timeout", "3s", ...args];
    return this.ns ? run("ip", ["netns", "exec", this.ns, ETCDCTL_BIN, ...full], { allowFail: true, env: { ETCDCTL_API: "3" } }) : run(ETCDCTL_BIN, full, { allowFail: true, env: { ETCDCTL_API: "3" } });
  }

  stop(): void {
    this.child.kill("SIGKILL");
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
