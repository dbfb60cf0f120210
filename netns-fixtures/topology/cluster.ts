// A whole Weft cluster in namespaces, used by the demo and the end-to-end tests: an underlay with N
// nodes, a store in the underlay netns (192.0.2.1:2379: Debian's etcd, or the embedded etcd of
// embedded-etcd.ts when etcd is not installed or asked for), our flanneld on every node, pods added
// by our cnitool through flannel -> bridge -> host-local, and TCP probes between them.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, openSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { CniScratch, cnitool, type CniRuntimeSpec } from "./cni.ts";
import { EmbeddedEtcd } from "../etcd/embedded-etcd.ts";
import { ETCD_BIN, startEtcd } from "../etcd/etcd.ts";
import { REFERENCE_PLUGIN_DIR, WEFT_PLUGIN_DIR, requireBuilt } from "../oracles/reference.ts";
import { ipJson, run, type RunResult, waitFor } from "./sh.ts";
import { EchoServer, tcpProbe } from "./tcp.ts";
import type { BackendType } from "../../daemon/config.ts";
import { formatCidr, maskNet, parseCidr } from "../../net/prefix.ts";
import { Topology, sweepStale, type NodeSpec } from "./topology.ts";

export interface ClusterOptions {
  readonly nodes: number;
  readonly backend: BackendType;
  readonly directRouting?: boolean;
  /** More keys of the network config's Backend object (e.g. the extension backend's commands). */
  readonly backendConfig?: Readonly<Record<string, unknown>>;
  /** extra flanneld flags */
  readonly flags?: readonly string[];
  /** extra flanneld environment; a function gives each node its own */
  readonly env?: Record<string, string> | ((n: ClusterNode) => Record<string, string>);
  /** Key-value store for flanneld. @default {@link defaultStore}() */
  readonly store?: StoreKind;
  /**
   * Dual stack: underlay addresses 2001:db8:0:1::<10+i>/64 too, and the network config adds
   * EnableIPv6 with {@link POD_IPV6_NETWORK} (ULA) in /64s, so pods get an IPv4 and an IPv6 address.
   */
  readonly dualStack?: boolean;
}

/** The pods' IPv6 cluster network in dual-stack clusters: unique local (fd00::/8), never routable. */
export const POD_IPV6_NETWORK = "fd00:10:244::/56";

export type StoreKind = "etcd" | "embedded";

/** The cluster's store, real or embedded, behind one interface. */
export interface ClusterStore {
  readonly kind: StoreKind;
  /** client URL flanneld is given, e.g. http://192.0.2.1:2379 */
  readonly endpoint: string;
  /**
   * etcdctl-like, from the underlay netns: `put KEY VALUE` prints OK, `del KEY` the count,
   * `get [--prefix] KEY` key and value lines (the embedded store serves just these).
   */
  ctl(args: readonly string[]): Promise<RunResult>;
  put(key: string, value: string): Promise<void>;
  /** Delete one key; returns how many were deleted. */
  del(key: string): Promise<number>;
  stop(): void;
}

/** $WEFT_DEMO_STORE (etcd|embedded) if set, else etcd when /usr/bin/etcd exists, else embedded. */
export function defaultStore(env: NodeJS.ProcessEnv = process.env, etcdBin = ETCD_BIN): StoreKind {
  const want = env["WEFT_DEMO_STORE"];
  if (want === "etcd" || want === "embedded") return want;
  if (want)
    throw new Error(
      `WEFT_DEMO_STORE=${want}: use etcd (Debian's /usr/bin/etcd) or embedded (netns-fixtures/embedded-etcd.ts)`,
    );
  return existsSync(etcdBin) ? "etcd" : "embedded";
}

/** Start the store on `host`:2379 inside netns `ns`. */
export async function startStore(kind: StoreKind, ns: string, host: string): Promise<ClusterStore> {
  if (kind === "embedded") {
    const e = await EmbeddedEtcd.start({ ns, host });
    return {
      kind,
      endpoint: e.endpoint,
      ctl: (a) => e.ctl(a),
      put: (k, v) => e.put(k, v),
      del: (k) => e.del(k),
      stop: () => e.stop(),
    };
  }
  if (!existsSync(ETCD_BIN))
    throw new Error(
      `${ETCD_BIN} is missing: install Debian's etcd-server, or use ` +
        "the embedded store (--store embedded, WEFT_DEMO_STORE=embedded)",
    );
  const e = await startEtcd(1, { ns, host });
  const ctl = (a: readonly string[]) => e.ctl(a);
  const ok = async (a: readonly string[]) => {
    const r = await ctl(a);
    if (r.exitCode !== 0) throw new Error(`etcdctl ${a[0]} failed: ${r.stderr}`);
    return r;
  };
  return {
    kind,
    endpoint: e.endpoint,
    ctl,
    put: async (k, v) => void (await ok(["put", k, v])),
    del: async (k) => Number((await ok(["del", k])).stdout.trim()),
    stop: () => e.stop(),
  };
}

export interface ClusterNode extends NodeSpec {
  readonly name: string;
  readonly scratch: CniScratch;
  daemon?: ChildProcess | undefined;
  /** when the current daemon was started (ms since the epoch) */
  startedAt?: number | undefined;
  /** FLANNEL_SUBNET as written, e.g. 10.244.3.1/24 */
  subnet?: string | undefined;
  /** FLANNEL_IPV6_SUBNET as written (dual stack), e.g. fd00:10:244:3::1/64 */
  subnetV6?: string | undefined;
  mtu?: string | undefined;
}

export interface Pod {
  readonly name: string;
  readonly node: ClusterNode;
  readonly ns: string;
  readonly ip: string;
  /** the pod's IPv6 address (dual stack) */
  readonly ip6?: string;
}

const RUNTIME: CniRuntimeSpec = {
  cnitool: join(WEFT_PLUGIN_DIR, "cnitool"),
  pluginPath: [WEFT_PLUGIN_DIR, REFERENCE_PLUGIN_DIR],
};

export { waitFor } from "./sh.ts";

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

/** fd00:10:244:3::1/64 -> fd00:10:244:3::/64 */
export function subnetOfV6(flannelSubnet: string): string {
  const n = parseCidr(flannelSubnet);
  if (!n) throw new Error(`not a CIDR: ${flannelSubnet}`);
  return formatCidr(maskNet(n));
}

export interface WgShowPeer {
  readonly publicKey: string;
  /** "(none)" when unset */
  readonly presharedKey: string;
  readonly endpoint: string;
  readonly allowedIps: string[];
  readonly latestHandshake: number;
  readonly rx: number;
  readonly tx: number;
  /** "off" or seconds */
  readonly keepalive: string;
}

export interface WgShowDevice {
  readonly name: string;
  readonly publicKey: string;
  readonly listenPort: number;
  readonly peers: WgShowPeer[];
}

/** Parse `wg show all dump` (tab-separated: a device line of 5 fields, then 9-field peer lines). */
export function parseWgDump(text: string): WgShowDevice[] {
  const devs: WgShowDevice[] = [];
  for (const line of text.split("\n")) {
    const f = line.split("\t");
    if (f.length === 5) devs.push({ name: f[0] ?? "", publicKey: f[2] ?? "", listenPort: Number(f[3]), peers: [] });
    else if (f.length === 9) {
      devs
        .find((d) => d.name === f[0])
        ?.peers.push({
          publicKey: f[1] ?? "",
          presharedKey: f[2] ?? "",
          endpoint: f[3] ?? "",
          allowedIps: (f[4] ?? "").split(",").filter((x) => x !== "" && x !== "(none)"),
          latestHandshake: Number(f[5]),
          rx: Number(f[6]),
          tx: Number(f[7]),
          keepalive: f[8] ?? "",
        });
    }
  }
  return devs;
}

/** Processes started by `pid` (from /proc/<pid>/task/<tid>/children); none when it is gone. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim();
      if (text) out.push(...text.split(" ").map(Number));
    }
  } catch {
    /* exited meanwhile */
  }
  return out;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* already gone */
  }
}

/**
 * A command prefix (for `ip netns exec <ns> ...`) that gives the command its own /var/run/wireguard:
 * wireguard-go puts its UAPI socket there (/var/run/wireguard/flannel-wg.sock, compiled in, not per
 * network namespace), so nodes sharing this machine would collide. It mounts a private tmpfs on it
 * inside the mount namespace `ip netns exec` already gives the process (its mounts do not propagate
 * back), then execs the command. Inspect such a node with `nsenter -t <pid> -m -n wg show`.
 */
export const PRIVATE_WIREGUARD_RUN: readonly string[] = [
  "sh",
  "-c",
  'mkdir -p /run/wireguard && mount -t tmpfs -o mode=0755 weft-wg /run/wireguard && exec "$@"',
  "sh",
];

/**
 * What a wireguard node needs to share one machine with other nodes, without changing flanneld's
 * paths: its own /var/run/wireguard ({@link PRIVATE_WIREGUARD_RUN}) and its own key file
 * (WIREGUARD_KEY_FILE, as flanneld documents).
 */
export function wireguardNode(n: Pick<ClusterNode, "scratch">): {
  readonly wrap: readonly string[];
  readonly env: Record<string, string>;
} {
  return { wrap: PRIVATE_WIREGUARD_RUN, env: { WIREGUARD_KEY_FILE: join(n.scratch.root, "wgkey") } };
}

export class WeftCluster {
  readonly topo = new Topology();
  readonly nodes: ClusterNode[] = [];
  readonly pods: Pod[] = [];
  private readonly servers: EchoServer[] = [];
  /** The store (real etcd or embedded), once started. */
  etcd: ClusterStore | undefined;
  readonly storeKind: StoreKind;

  constructor(readonly o: ClusterOptions) {
    this.storeKind = o.store ?? defaultStore();
  }

  get netConf(): Record<string, unknown> {
    return {
      Network: "10.244.0.0/16",
      SubnetLen: 24,
      ...(this.o.dualStack ? { EnableIPv6: true, IPv6Network: POD_IPV6_NETWORK, IPv6SubnetLen: 64 } : {}),
      Backend: {
        Type: this.o.backend,
        ...(this.o.directRouting ? { DirectRouting: true } : {}),
        ...this.o.backendConfig,
      },
    };
  }

  async start(): Promise<void> {
    requireBuilt();
    await sweepStale();
    const under = await this.topo.underlay(this.o.nodes, { ipv6: this.o.dualStack ?? false });
    const ul = this.topo.name("ul");
    await run("ip", ["-n", ul, "addr", "add", "192.0.2.1/24", "dev", "br0"]);
    this.etcd = await startStore(this.storeKind, ul, "192.0.2.1");
    await this.etcd.put("/coreos.com/network/config", JSON.stringify(this.netConf));
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
    n.startedAt = Date.now();
    const log = openSync(this.logOf(n), "a");
    const args = [
      "--etcd-endpoints",
      this.etcd?.endpoint ?? "",
      "--iface",
      n.dev,
      "--ip-masq",
      "--subnet-file",
      join(n.scratch.root, "subnet.env"),
      ...(this.o.flags ?? []),
    ];
    const wg = this.o.backend === "wireguard" ? wireguardNode(n) : { wrap: [], env: {} };
    n.daemon = spawn("ip", ["netns", "exec", n.ns, ...wg.wrap, join(WEFT_PLUGIN_DIR, "flanneld"), ...args], {
      stdio: ["ignore", log, log],
      env: {
        ...process.env,
        WEFT_RECONCILE_MS: "1000",
        ...wg.env,
        ...(typeof this.o.env === "function" ? this.o.env(n) : this.o.env),
      },
    });
  }

  async waitReady(n: ClusterNode): Promise<void> {
    const file = join(n.scratch.root, "subnet.env");
    await waitFor(`${n.name}'s flanneld to write ${file} (log: ${this.logOf(n)})`, 30_000, () => {
      if (n.daemon?.exitCode != null)
        throw new Error(`flanneld on ${n.name} exited ${n.daemon.exitCode}:\n${readFileSync(this.logOf(n), "utf8")}`);
      // written by THIS daemon: a restarted one finds the previous subnet.env still there
      return existsSync(file) && statSync(file).mtimeMs >= (n.startedAt ?? 0);
    });
    const env = readEnvFile(file);
    n.subnet = env["FLANNEL_SUBNET"];
    n.subnetV6 = env["FLANNEL_IPV6_SUBNET"];
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
          {
            type: "flannel",
            subnetFile: join(n.scratch.root, "subnet.env"),
            dataDir: join(n.scratch.root, "flannel"),
            ipam: { dataDir: n.scratch.dataDir },
            delegate: { hairpinMode: true, isDefaultGateway: true },
          },
          { type: "portmap", capabilities: { portMappings: true } },
        ],
      });
      const have = this.pods.filter((p) => p.node === n).length;
      for (let p = have; p < have + perNode; p++) {
        const name = `${n.name}-pod${p + 1}`;
        const ns = await this.topo.netns(`${n.name.slice(4)}p${p + 1}`);
        const r = await cnitool(RUNTIME, n.scratch, {
          node: n.ns,
          cmd: "add",
          net: "cbr0",
          netnsPath: `/run/netns/${ns}`,
        });
        if (r.exitCode !== 0) throw new Error(`cnitool add ${name} failed: ${r.stderr || r.stdout}`);
        const ips = (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips.map(
          (x) => x.address.split("/")[0] ?? "",
        );
        const ip = ips.find((a) => !a.includes(":")) ?? "";
        const ip6 = this.o.dualStack ? ips.find((a) => a.includes(":")) : undefined;
        const pod: Pod = { name, node: n, ns, ip, ...(ip6 ? { ip6 } : {}) };
        this.pods.push(pod);
        made.push(pod);
        this.servers.push(await EchoServer.start(ns, ip));
        if (ip6) this.servers.push(await EchoServer.start(ns, ip6));
      }
    }
    return made;
  }

  /**
   * The node's WireGuard devices as `wg show all dump` prints them, read inside its flanneld's
   * mount namespace (where its /var/run/wireguard is); none when the daemon is not running.
   */
  async wgShow(n: ClusterNode): Promise<WgShowDevice[]> {
    const pid = n.daemon?.exitCode === null ? n.daemon.pid : undefined;
    if (pid === undefined) return [];
    const r = await run("nsenter", ["-t", String(pid), "-m", "-n", "wg", "show", "all", "dump"], { allowFail: true });
    return r.exitCode === 0 ? parseWgDump(r.stdout) : [];
  }

  /** Subnets (10.244.x.0/24) a node has routes for inside 10.244.0.0/16 (wireguard: its peers' allowed IPs). */
  async routedSubnets(n: ClusterNode): Promise<string[]> {
    if (this.o.backend === "wireguard")
      return (await this.wgShow(n))
        .flatMap((d) => d.peers.flatMap((p) => p.allowedIps))
        .filter((c) => !c.includes(":"));
    const routes = await ipJson<{ dst: string }[]>(n.ns, ["route", "show", "root", "10.244.0.0/16"]);
    return routes.map((r) => r.dst);
  }

  /** IPv6 subnets a node has routes for inside {@link POD_IPV6_NETWORK} (dual stack). */
  async routedSubnetsV6(n: ClusterNode): Promise<string[]> {
    if (this.o.backend === "wireguard")
      return (await this.wgShow(n)).flatMap((d) => d.peers.flatMap((p) => p.allowedIps)).filter((c) => c.includes(":"));
    const routes = await ipJson<{ dst: string }[]>(n.ns, ["-6", "route", "show", "root", POD_IPV6_NETWORK]);
    return routes.map((r) => r.dst);
  }

  async waitMesh(ms = 20_000): Promise<void> {
    // udp: one route (the whole network into flannel0); the per-peer table is the forwarder's, so
    // wait until every node reaches every other node's flannel0 address through it
    if (this.o.backend === "udp") return this.waitUdpMesh(ms);
    await waitFor("every node to route every other node's subnet", ms, async () => {
      for (const n of this.nodes) {
        const have = await this.routedSubnets(n);
        for (const m of this.nodes) if (m !== n && m.subnet && !have.includes(subnetOf(m.subnet))) return false;
        if (!this.o.dualStack) continue;
        const have6 = await this.routedSubnetsV6(n);
        for (const m of this.nodes)
          if (m !== n && (!m.subnetV6 || !have6.includes(subnetOfV6(m.subnetV6)))) return false;
      }
      return true;
    });
  }

  private async waitUdpMesh(ms: number): Promise<void> {
    await waitFor("every node to reach every other node's flannel0 address", ms, async () => {
      for (const n of this.nodes) {
        for (const m of this.nodes) {
          if (m === n || !m.subnet) continue;
          const r = await run(
            "ip",
            ["netns", "exec", n.ns, "ping", "-c", "1", "-W", "1", subnetOf(m.subnet).split("/")[0] ?? ""],
            { allowFail: true },
          );
          if (r.exitCode !== 0) return false;
        }
      }
      return true;
    });
  }

  /** TCP probe of every ordered pod pair over IPv4 (or, with family 6, their IPv6 addresses): [from, to, result]. */
  async matrix(family: 4 | 6 = 4): Promise<[Pod, Pod, string][]> {
    const out: [Pod, Pod, string][] = [];
    for (const a of this.pods) {
      for (const b of this.pods) {
        if (a === b) continue;
        const to = family === 4 ? b.ip : b.ip6;
        out.push([a, b, to ? await tcpProbe(a.ns, to) : "no IPv6 address"]);
      }
    }
    return out;
  }

  async delPods(): Promise<number> {
    let failed = 0;
    for (const s of this.servers.splice(0)) s.stop();
    for (const p of this.pods.splice(0)) {
      const r = await cnitool(RUNTIME, p.node.scratch, {
        node: p.node.ns,
        cmd: "del",
        net: "cbr0",
        netnsPath: `/run/netns/${p.ns}`,
      });
      if (r.exitCode !== 0) failed++;
    }
    return failed;
  }

  async teardown(): Promise<void> {
    await this.delPods().catch(() => undefined);
    for (const n of this.nodes) {
      // a daemon's own children (wireguard-go) would outlive it and keep its netns alive
      const kids = n.daemon?.pid !== undefined && n.daemon.exitCode === null ? childPids(n.daemon.pid) : [];
      n.daemon?.kill("SIGKILL");
      for (const k of kids) killQuietly(k);
    }
    this.etcd?.stop();
    await this.topo.cleanup();
    for (const n of this.nodes) n.scratch.dispose();
  }
}
