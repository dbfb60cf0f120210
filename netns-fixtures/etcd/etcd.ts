/**
 * Test fixture: real etcd members (Debian's /usr/bin/etcd) with throwaway data dirs, either on
 * 127.0.0.1 in the root netns with free ports (optionally TLS, certificates made by openssl; the
 * daemon's etcd tests) or inside a netns of ours on a fixed address (the cluster fixture, the demo,
 * the scale bench). Test-only; never imported by shipped code.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EtcdClient } from "../../daemon/etcd/client.ts";
import { run, type RunResult } from "../topology/sh.ts";

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
  ssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=weft-test-ca",
    "-keyout",
    p("ca.key"),
    "-out",
    p("ca.crt"),
  );
  writeFileSync(p("ext.cnf"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  for (const who of ["server", "client"]) {
    ssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      `/CN=weft-${who}`,
      "-keyout",
      p(`${who}.key`),
      "-out",
      p(`${who}.csr`),
    );
    ssl(
      "x509",
      "-req",
      "-in",
      p(`${who}.csr`),
      "-CA",
      p("ca.crt"),
      "-CAkey",
      p("ca.key"),
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      p("ext.cnf"),
      "-out",
      p(`${who}.crt`),
    );
  }
  return {
    caFile: p("ca.crt"),
    certFile: p("server.crt"),
    keyFile: p("server.key"),
    clientCertFile: p("client.crt"),
    clientKeyFile: p("client.key"),
  };
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  proc: ChildProcess | undefined;
  readonly args: readonly string[];
  log: string;
}

export interface EtcdOptions {
  /** Serve TLS with client-certificate auth (root netns only). */
  readonly tls?: boolean;
  readonly extraArgs?: readonly string[];
  /** Run inside this netns; then ports are fixed (clientPort, peerPort) and `host` must live there. */
  readonly ns?: string;
  /** @default "127.0.0.1" */
  readonly host?: string;
  /** With `ns`: member i listens on clientPort + 2i and peerPort + 2i. @default 2379, 2380 */
  readonly clientPort?: number;
  readonly peerPort?: number;
}

export class EtcdCluster {
  constructor(
    readonly members: EtcdMember[],
    readonly dir: string,
    readonly tls: TlsFiles | undefined,
    readonly ns: string | undefined,
  ) {}

  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }
  /** The first member's client URL. */
  get endpoint(): string {
    return this.members[0]?.clientUrl ?? "";
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

  /** etcdctl (v3 API, plain http) against the cluster, from its netns; never rejects. */
  ctl(args: readonly string[]): Promise<RunResult> {
    const full = [`--endpoints=${this.endpoints.join(",")}`, "--dial-timeout=1s", "--command-timeout=3s", ...args];
    const env = { ETCDCTL_API: "3" };
    return this.ns
      ? run("ip", ["netns", "exec", this.ns, ETCDCTL_BIN, ...full], { allowFail: true, env })
      : run(ETCDCTL_BIN, full, { allowFail: true, env });
  }

  /** etcdctl in the root netns, synchronously; throws on failure (plain http only). */
  etcdctl(...args: string[]): string {
    return execFileSync(ETCDCTL_BIN, [`--endpoints=${this.endpoints.join(",")}`, ...args], {
      env: { ...process.env, ETCDCTL_API: "3" },
      encoding: "utf8",
    });
  }

  /** SIGKILL every member and remove the data. */
  stop(): void {
    for (const m of this.members) {
      if (m.proc && m.proc.exitCode === null) m.proc.kill("SIGKILL");
      m.proc = undefined;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function launch(m: EtcdMember, ns: string | undefined): void {
  const p = ns
    ? spawn("ip", ["netns", "exec", ns, ETCD_BIN, ...m.args], { stdio: ["ignore", "ignore", "pipe"] })
    : spawn(ETCD_BIN, [...m.args], { stdio: ["ignore", "ignore", "pipe"] });
  p.stderr?.setEncoding("utf8");
  p.stderr?.on("data", (d: string) => {
    m.log = (m.log + d).slice(-20000);
  });
  m.proc = p;
}

async function memberPorts(n: number, o: EtcdOptions): Promise<[number, number][]> {
  const ports: [number, number][] = [];
  for (let i = 0; i < n; i++)
    ports.push(
      o.ns ? [(o.clientPort ?? 2379) + 2 * i, (o.peerPort ?? 2380) + 2 * i] : [await freePort(), await freePort()],
    );
  return ports;
}

/** Start `n` members and wait until the cluster answers. */
export async function startEtcd(n = 1, opts: EtcdOptions = {}): Promise<EtcdCluster> {
  if (opts.ns && opts.tls) throw new Error("startEtcd: TLS is only set up for the root netns");
  const dir = mkdtempSync(join(tmpdir(), "weft-etcd-"));
  const tls = opts.tls ? makeTls(dir) : undefined;
  const scheme = tls ? "https" : "http";
  const host = opts.host ?? "127.0.0.1";
  const ports = await memberPorts(n, opts);
  const token = `weft-${process.pid}-${ports[0]?.[0] ?? 0}-${Date.now()}`;
  const initial = ports.map(([, peer], i) => `m${i}=http://${host}:${peer}`).join(",");
  const members: EtcdMember[] = ports.map(([client, peer], i) => {
    const clientUrl = `${scheme}://${host}:${client}`;
    const peerUrl = `http://${host}:${peer}`;
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
      ...(tls
        ? [
            `--cert-file=${tls.certFile}`,
            `--key-file=${tls.keyFile}`,
            `--trusted-ca-file=${tls.caFile}`,
            "--client-cert-auth",
          ]
        : []),
    ];
    return { name: `m${i}`, clientUrl, peerUrl, proc: undefined, args, log: "" };
  });
  members.forEach((m) => launch(m, opts.ns));
  const cluster = new EtcdCluster(members, dir, tls, opts.ns);
  try {
    await (opts.ns ? untilHealthy(cluster) : untilWritable(cluster));
  } catch (e) {
    cluster.stop();
    throw new Error(
      `etcd at ${cluster.endpoints.join(",")} did not start: ${(e as Error).message}\n` +
        `${members.map((m) => m.log.slice(-2000)).join("\n")}`,
    );
  }
  return cluster;
}

const within = async (what: () => Promise<void>, cluster: EtcdCluster): Promise<void> => {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await what();
    } catch (e) {
      if (Date.now() > deadline || cluster.members.every((m) => m.proc?.exitCode !== null)) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
};

/** Root netns: one write through our client (TLS-aware), which the etcd tests expect to find. */
async function untilWritable(cluster: EtcdCluster): Promise<void> {
  const tls = cluster.tls;
  const client = new EtcdClient({
    endpoints: cluster.endpoints,
    timeoutMs: 1000,
    ...(tls ? { tls: { caFile: tls.caFile, certFile: tls.clientCertFile, keyFile: tls.clientKeyFile } } : {}),
  });
  try {
    await within(async () => void (await client.put("/weft-fixture/ready", "1")), cluster);
  } finally {
    client.close();
  }
}

/** Inside a netns (unreachable from here): `etcdctl endpoint health` from that netns. */
async function untilHealthy(cluster: EtcdCluster): Promise<void> {
  await within(async () => {
    const r = await cluster.ctl(["endpoint", "health"]);
    if (r.exitCode !== 0) throw new Error(r.stderr.trim());
  }, cluster);
}
