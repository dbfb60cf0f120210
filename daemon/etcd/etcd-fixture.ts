/**
 * Test fixture: real etcd members (/usr/bin/etcd) on 127.0.0.1 with free ports and temp data
 * dirs, optionally with TLS (certificates made by openssl). Test-only; never imported by shipped code.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EtcdClient } from "./client.ts";

export const ETCD_BIN = "/usr/bin/etcd";
export const ETCDCTL_BIN = "/usr/bin/etcdctl";
export const haveEtcd = existsSync(ETCD_BIN);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface TlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
}

/** A CA, a server cert for 127.0.0.1 and a client cert, made with openssl. */
export function makeTls(dir: string): TlsFiles {
  const p = (f: string) => join(dir, f);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
  ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=weft-test-ca", "-keyout", p("ca.key"), "-out", p("ca.crt"));
  writeFileSync(p("ext.cnf"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  for (const who of ["server", "client"]) {
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=weft-${who}`, "-keyout", p(`${who}.key`), "-out", p(`${who}.csr`));
    ssl("x509", "-req", "-in", p(`${who}.csr`), "-CA", p("ca.crt"), "-CAkey", p("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", p("ext.cnf"), "-out", p(`${who}.crt`));
  }
  return { caFile: p("ca.crt"), certFile: p("server.crt"), keyFile: p("server.key"), clientCertFile: p("client.crt"), clientKeyFile: p("client.key") };
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  proc: ChildProcess | undefined;
  readonly args: readonly string[];
  log: string;
}

export class EtcdCluster {
  constructor(
    readonly members: EtcdMember[],
    readonly dir: string,
    readonly tls: TlsFiles | undefined,
  ) {}

  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /** Kill one member (SIGKILL) and wait for it to exit. */
  async kill(i: number): Promise<void> {
    const m = this.members[i];
    const p = m?.proc;
    if (!m || !p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await exited;
    m.proc = undefined;
  }

  /** etcdctl against the cluster (plain http only). */
  etcdctl(...args: string[]): string {
    return execFileSync(ETCDCTL_BIN, [`--endpoints=${this.endpoints.join(",")}`, ...args], { env: { ...process.env, ETCDCTL_API: "3" }, encoding: "utf8" });
  }

  async stop(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.kill(i);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function launch(m: EtcdMember): void {
  const p = spawn(ETCD_BIN, [...m.args], { stdio: ["ignore", "ignore", "pipe"] });
  p.stderr?.setEncoding("utf8");
  p.stderr?.on("data", (d: string) => {
    m.log = (m.log + d).slice(-20000);
  });
  m.proc = p;
}

/** Start `n` members and wait until the cluster answers a read. */
export async function startEtcd(n = 1, opts: { tls?: boolean; extraArgs?: readonly string[] } = {}): Promise<EtcdCluster> {
  const dir = mkdtempSync(join(tmpdir(), "weft-etcd-"));
  const tls = opts.tls ? makeTls(dir) : undefined;
  const scheme = tls ? "https" : "http";
  const ports: [number, number][] = [];
  for (let i = 0; i < n; i++) ports.push([await freePort(), await freePort()]);
  const token = `weft-${process.pid}-${ports[0]?.[0] ?? 0}`;
  const initial = ports.map(([, peer], i) => `m${i}=http://127.0.0.1:${peer}`).join(",");
  const members: EtcdMember[] = ports.map(([client, peer], i) => {
    const clientUrl = `${scheme}://127.0.0.1:${client}`;
    const peerUrl = `http://127.0.0.1:${peer}`;
    const args = [
      `--name=m${i}`,
      `--data-dir=${join(dir, `m${i}`)}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=${initial}`,
      "--initial-cluster-state=new",
      `--initial-cluster-token=${token}`,
      "--heartbeat-interval=50",
      "--election-timeout=500",
      "--log-level=warn",
      "--logger=zap",
      ...(opts.extraArgs ?? []),
      ...(tls ? [`--cert-file=${tls.certFile}`, `--key-file=${tls.keyFile}`, `--trusted-ca-file=${tls.caFile}`, "--client-cert-auth"] : []),
    ];
    return { name: `m${i}`, clientUrl, peerUrl, proc: undefined, args, log: "" };
  });
  members.forEach(launch);
  const cluster = new EtcdCluster(members, dir, tls);
  const client = new EtcdClient({
    endpoints: cluster.endpoints,
    timeoutMs: 1000,
    ...(tls ? { tls: { caFile: tls.caFile, certFile: tls.clientCertFile, keyFile: tls.clientKeyFile } } : {}),
  });
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await client.put("/weft-fixture/ready", "1");
        break;
      } catch (e) {
        if (Date.now() > deadline) {
          await cluster.stop();
          throw new Error(`etcd did not start: ${(e as Error).message}\n${members.map((m) => m.log.slice(-2000)).join("\n")}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    client.close();
  }
  return cluster;
}
