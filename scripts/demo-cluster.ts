// The main job: a local multi-node Weft cluster in network namespaces.
// 3 nodes on a 192.0.2.0/24 underlay, a real etcd in the underlay netns, our flanneld on every node,
// two pods per node added by our cnitool through flannel -> bridge -> host-local, then a table of
// nodes, subnets, pods and a TCP reachability matrix. Everything is torn down at the end.
// Usage: bun scripts/demo-cluster.ts [--nodes N] [--pods P] [--backend vxlan|host-gw] [--keep]
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { table } from "../bench/stats.ts";
import { CniScratch, cnitool } from "../netns-fixtures/cni.ts";
import { Etcd } from "../netns-fixtures/etcd.ts";
import { REFERENCE_PLUGIN_DIR, WEFT_PLUGIN_DIR, requireBuilt } from "../netns-fixtures/reference.ts";
import { ipJson, run } from "../netns-fixtures/sh.ts";
import { EchoServer, tcpProbe } from "../netns-fixtures/tcp.ts";
import { Topology, sweepStale, type NodeSpec } from "../netns-fixtures/topology.ts";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}
const NODES = Number(arg("nodes", "3"));
const PODS = Number(arg("pods", "2"));
const BACKEND = arg("backend", "vxlan");
const KEEP = process.argv.includes("--keep");

interface DemoNode extends NodeSpec {
  readonly name: string;
  readonly scratch: CniScratch;
  daemon?: ChildProcess;
  subnet?: string | undefined;
  mtu?: string | undefined;
}
interface Pod {
  readonly name: string;
  readonly node: DemoNode;
  readonly ns: string;
  ip: string;
}

const say = (s: string) => process.stdout.write(`${s}\n`);

async function waitFor(what: string, ms: number, fn: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function readEnv(path: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

async function main(): Promise<number> {
  requireBuilt();
  await sweepStale();
  const topo = new Topology();
  const nodes: DemoNode[] = [];
  const pods: Pod[] = [];
  const servers: EchoServer[] = [];
  let etcd: Etcd | undefined;
  try {
    say(`weft demo: ${NODES} nodes, ${PODS} pods each, backend ${BACKEND}, run prefix ${topo.prefix}`);
    const under = await topo.underlay(NODES);
    const ul = topo.name("ul");
    await run("ip", ["-n", ul, "addr", "add", "192.0.2.1/24", "dev", "br0"]);
    etcd = await Etcd.start({ ns: ul, host: "192.0.2.1" });
    const netConf = { Network: "10.244.0.0/16", SubnetLen: 24, Backend: { Type: BACKEND } };
    const put = await etcd.ctl(["put", "/coreos.com/network/config", JSON.stringify(netConf)]);
    if (put.exitCode !== 0) throw new Error(`etcdctl put failed: ${put.stderr}`);
    say(`etcd ${etcd.endpoint} (in ${ul}), network config ${JSON.stringify(netConf)}`);

    for (const [i, u] of under.entries()) {
      const scratch = new CniScratch(topo.name(`n${i + 1}`));
      const node: DemoNode = { ...u, name: `node${i + 1}`, scratch };
      nodes.push(node);
      const log = openSync(join(scratch.root, "flanneld.log"), "a");
      node.daemon = spawn(
        "ip",
        ["netns", "exec", u.ns, join(WEFT_PLUGIN_DIR, "flanneld"), "--etcd-endpoints", etcd.endpoint, "--iface", u.dev, "--ip-masq", "--subnet-file", join(scratch.root, "subnet.env")],
        { stdio: ["ignore", log, log] },
      );
    }
    for (const n of nodes) {
      const file = join(n.scratch.root, "subnet.env");
      await waitFor(`${n.name}'s flanneld to write ${file} (log: ${join(n.scratch.root, "flanneld.log")})`, 20_000, () => {
        if (n.daemon?.exitCode != null) throw new Error(`flanneld on ${n.name} exited ${n.daemon.exitCode}:\n${readFileSync(join(n.scratch.root, "flanneld.log"), "utf8")}`);
        return existsSync(file);
      });
      const env = readEnv(file);
      n.subnet = env["FLANNEL_SUBNET"];
      n.mtu = env["FLANNEL_MTU"];
    }

    for (const n of nodes) {
      n.scratch.writeConf("10-flannel.conflist", {
        name: "cbr0",
        cniVersion: "1.0.0",
        plugins: [
          { type: "flannel", subnetFile: join(n.scratch.root, "subnet.env"), dataDir: join(n.scratch.root, "flannel"), ipam: { dataDir: n.scratch.dataDir }, delegate: { hairpinMode: true, isDefaultGateway: true } },
          { type: "portmap", capabilities: { portMappings: true } },
        ],
      });
      for (let p = 0; p < PODS; p++) {
        const name = `${n.name}-pod${p + 1}`;
        const ns = await topo.netns(`${n.name.slice(4)}p${p + 1}`);
        const r = await cnitool({ cnitool: join(WEFT_PLUGIN_DIR, "cnitool"), pluginPath: [WEFT_PLUGIN_DIR, REFERENCE_PLUGIN_DIR] }, n.scratch, { node: n.ns, cmd: "add", net: "cbr0", netnsPath: `/run/netns/${ns}` });
        if (r.exitCode !== 0) throw new Error(`cnitool add ${name} failed: ${r.stderr || r.stdout}`);
        const ip = ((JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]?.address ?? "").split("/")[0] ?? "";
        pods.push({ name, node: n, ns, ip });
      }
    }
    // Let every daemon see every lease (routes programmed) before measuring.
    await waitFor("every node to have a route to every other node's subnet", 20_000, async () => {
      for (const n of nodes) {
        const routes = await ipJson<{ dst: string }[]>(n.ns, ["route", "show"]);
        for (const m of nodes) if (m !== n && !routes.some((r) => m.subnet && r.dst === m.subnet.replace(/\.1\//, ".0/"))) return false;
      }
      return true;
    });
    for (const p of pods) servers.push(await EchoServer.start(p.ns, p.ip));

    say("\nNodes");
    say(table(["node", "netns", "underlay", "pod subnet (FLANNEL_SUBNET)", "MTU"], nodes.map((n) => [n.name, n.ns, n.ip, n.subnet ?? "-", n.mtu ?? "-"])));
    say("\nPods");
    say(table(["pod", "node", "netns", "IP"], pods.map((p) => [p.name, p.node.name, p.ns, p.ip])));
    say("\nReachability (TCP echo, row -> column)");
    let failures = 0;
    const rows: string[][] = [];
    for (const a of pods) {
      const row = [a.name];
      for (const b of pods) {
        if (a === b) {
          row.push("-");
          continue;
        }
        const r = await tcpProbe(a.ns, b.ip);
        if (r !== "ok") failures++;
        row.push(r === "ok" ? "ok" : `FAIL(${r})`);
      }
      rows.push(row);
    }
    say(table(["from \\ to", ...pods.map((p) => p.name)], rows));
    const pairs = pods.length * (pods.length - 1);
    say(`\n${pairs - failures}/${pairs} pod pairs reachable (${pods.length} pods on ${nodes.length} nodes, backend ${BACKEND})`);
    if (KEEP) {
      say(`--keep: leaving the cluster up (prefix ${topo.prefix}); Ctrl-C to tear it down`);
      await new Promise<void>((res) => process.once("SIGINT", () => res()));
    }
    return failures === 0 ? 0 : 1;
  } finally {
    for (const s of servers) s.stop();
    for (const p of pods) {
      await cnitool({ cnitool: join(WEFT_PLUGIN_DIR, "cnitool"), pluginPath: [WEFT_PLUGIN_DIR, REFERENCE_PLUGIN_DIR] }, p.node.scratch, { node: p.node.ns, cmd: "del", net: "cbr0", netnsPath: `/run/netns/${p.ns}` }).catch(() => undefined);
    }
    for (const n of nodes) n.daemon?.kill("SIGTERM");
    etcd?.stop();
    await topo.cleanup();
    for (const n of nodes) n.scratch.dispose();
    const left = (await run("ip", ["netns", "list"])).stdout.split("\n").filter((l) => l.startsWith(topo.prefix));
    say(left.length === 0 ? "torn down: no namespaces, links, files or processes left behind" : `left behind: ${left.join(", ")}`);
    mkdirSync("/run/weft-test", { recursive: true });
    rmSync(join("/run/weft-test", topo.prefix), { force: true });
  }
}

process.exitCode = await main().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
  return 1;
});
