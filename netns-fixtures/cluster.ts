// A whole Weft cluster in namespaces, used by the demo and the end-to-end tests: an underlay with N
// nodes, a real etcd in the underlay netns (192.0.2.1), our flanneld on every node, pods added by our
// cnitool through flannel -> bridge -> host-local, and TCP probes between them.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CniScratch, cnitool, type CniRuntimeSpec } from "./cni.ts";
import { Etcd } from "./etcd.ts";
import { REFERENCE_PLUGIN_DIR, WEFT_PLUGIN_DIR, requireBuilt } from "./reference.ts";
import { ipJson, run } from "./sh.ts";
import { EchoServer, tcpProbe } from "./tcp.ts";
import { Topology, sweepStale, type NodeSpec } from "./topology.ts";

export interface ClusterOptions {
  readonly nodes: number;
  readonly backend: "vxlan" | "host-gw";
  readonly directRouting?: boolean;
  /** extra flanneld flags */
  readonly flags?: readonly string[];
  readonly env?: Record<string, string>;
}

export interface ClusterNode extends NodeSpec {
  readonly name: string;
  readonly scratch: CniScratch;
  daemon?: ChildProcess | undefined;
  /** FLANNEL_SUBNET as written, e.g. 10.244.3.1/24 */
  subnet?: string | undefined;
  mtu?: string | undefined;
}

export interface Pod {
  readonly name: string;
  readonly node: ClusterNode;
  readonly ns: string;
  readonly ip: string;
}

const RUNTIME: CniRuntimeSpec = { cnitool: join(WEFT_PLUGIN_DIR, "cnitool"), pluginPath: [WEFT_PLUGIN_DIR, REFERENCE_PLUGIN_DIR] };

export async function waitFor(what: string, ms: number, fn: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function readEnvFile(path: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

/** 10.244.3.1/24 -> 10.244.3.0/24 */
export function subnetOf(flannelSubnet: string): string {
  const [ip, len] = flannelSubnet.split("/");
  const p = (ip ?? "").split(".");
  p[3] = "0";
  return `${p.join(".")}/${len}`;
}

export class WeftCluster {
  readonly topo = new Topology();
  readonly nodes: ClusterNode[] = [];
  readonly pods: Pod[] = [];
  private readonly servers: EchoServer[] = [];
  etcd: Etcd | undefined;

  constructor(readonly o: ClusterOptions) {}

  get netConf(): Record<string, unknown> {
    return { Network: "10.244.0.0/16", SubnetLen: 24, Backend: { Type: this.o.backend, ...(this.o.directRouting ? { DirectRouting: true } : {}) } };
  }

  async start(): Promise<void> {
    requireBuilt();
    await sweepStale();
    const under = await this.topo.underlay(this.o.nodes);
    const ul = this.topo.name("ul");
    await run("ip", ["-n", ul, "addr", "add", "192.0.2.1/24", "dev", "br0"]);
    this.etcd = await Etcd.start({ ns: ul, host: "192.0.2.1" });
    const put = await this.etcd.ctl(["put", "/coreos.com/network/config", JSON.stringify(this.netConf)]);
    if (put.exitCode !== 0) throw new Error(`etcdctl put failed: ${put.stderr}`);
    for (const [i, u] of under.entries()) {
      this.nodes.push({ ...u, name: `node${i + 1}`, scratch: new CniScratch(this.topo.name(`n${i + 1}`)) });
    }
    for (const n of this.nodes) this.startDaemon(n);
    for (const n of this.nodes) await this.waitReady(n);
  }

  logOf(n: ClusterNode): string {
    return join(n.scratch.root, "flanneld.log");
  }

  startDaemon(n: ClusterNode): void {
    const log = openSync(this.logOf(n), "a");
    const args = ["--etcd-endpoints", this.etcd?.endpoint ?? "", "--iface", n.dev, "--ip-masq", "--subnet-file", join(n.scratch.root, "subnet.env"), ...(this.o.flags ?? [])];
    n.daemon = spawn("ip", ["netns", "exec", n.ns, join(WEFT_PLUGIN_DIR, "flanneld"), ...args], { stdio: ["ignore", log, log], env: { ...process.env, WEFT_RECONCILE_MS: "1000", ...this.o.env } });
  }

  async waitReady(n: ClusterNode): Promise<void> {
    const file = join(n.scratch.root, "subnet.env");
    await waitFor(`${n.name}'s flanneld to write ${file} (log: ${this.logOf(n)})`, 30_000, () => {
      if (n.daemon?.exitCode != null) throw new Error(`flanneld on ${n.name} exited ${n.daemon.exitCode}:\n${readFileSync(this.logOf(n), "utf8")}`);
      return existsSync(file);
    });
    const env = readEnvFile(file);
    n.subnet = env["FLANNEL_SUBNET"];
    n.mtu = env["FLANNEL_MTU"];
  }

  /** SIGTERM the daemon and wait for it to exit; returns its exit code. */
  async stopDaemon(n: ClusterNode): Promise<number | null> {
    const d = n.daemon;
    if (!d || d.exitCode !== null) return d?.exitCode ?? null;
    const done = new Promise<number | null>((res) => d.once("exit", (code) => res(code)));
    d.kill("SIGTERM");
    const code = await done;
    n.daemon = undefined;
    return code;
  }

  async addPods(perNode: number): Promise<Pod[]> {
    const made: Pod[] = [];
    for (const n of this.nodes) {
      n.scratch.writeConf("10-flannel.conflist", {
        name: "cbr0",
        cniVersion: "1.0.0",
        plugins: [
          { type: "flannel", subnetFile: join(n.scratch.root, "subnet.env"), dataDir: join(n.scratch.root, "flannel"), ipam: { dataDir: n.scratch.dataDir }, delegate: { hairpinMode: true, isDefaultGateway: true } },
          { type: "portmap", capabilities: { portMappings: true } },
        ],
      });
      const have = this.pods.filter((p) => p.node === n).length;
      for (let p = have; p < have + perNode; p++) {
        const name = `${n.name}-pod${p + 1}`;
        const ns = await this.topo.netns(`${n.name.slice(4)}p${p + 1}`);
        const r = await cnitool(RUNTIME, n.scratch, { node: n.ns, cmd: "add", net: "cbr0", netnsPath: `/run/netns/${ns}` });
        if (r.exitCode !== 0) throw new Error(`cnitool add ${name} failed: ${r.stderr || r.stdout}`);
        const ip = ((JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]?.address ?? "").split("/")[0] ?? "";
        const pod = { name, node: n, ns, ip };
        this.pods.push(pod);
        made.push(pod);
        this.servers.push(await EchoServer.start(ns, ip));
      }
    }
    return made;
  }

  /** Subnets (10.244.x.0/24) a node has routes for inside 10.244.0.0/16. */
  async routedSubnets(n: ClusterNode): Promise<string[]> {
    const routes = await ipJson<{ dst: string }[]>(n.ns, ["route", "show", "root", "10.244.0.0/16"]);
    return routes.map((r) => r.dst);
  }

  async waitMesh(ms = 20_000): Promise<void> {
    await waitFor("every node to route every other node's subnet", ms, async () => {
      for (const n of this.nodes) {
        const have = await this.routedSubnets(n);
        for (const m of this.nodes) if (m !== n && m.subnet && !have.includes(subnetOf(m.subnet))) return false;
      }
      return true;
    });
  }

  /** TCP probe of every ordered pod pair: [from, to, result]. */
  async matrix(): Promise<[Pod, Pod, string][]> {
    const out: [Pod, Pod, string][] = [];
    for (const a of this.pods) for (const b of this.pods) if (a !== b) out.push([a, b, await tcpProbe(a.ns, b.ip)]);
    return out;
  }

  async delPods(): Promise<number> {
    let failed = 0;
    for (const s of this.servers.splice(0)) s.stop();
    for (const p of this.pods.splice(0)) {
      const r = await cnitool(RUNTIME, p.node.scratch, { node: p.node.ns, cmd: "del", net: "cbr0", netnsPath: `/run/netns/${p.ns}` });
      if (r.exitCode !== 0) failed++;
    }
    return failed;
  }

  async teardown(): Promise<void> {
    await this.delPods().catch(() => undefined);
    for (const n of this.nodes) n.daemon?.kill("SIGKILL");
    this.etcd?.stop();
    await this.topo.cleanup();
    for (const n of this.nodes) n.scratch.dispose();
  }
}
