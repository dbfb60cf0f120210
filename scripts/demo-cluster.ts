// The main job: a local multi-node Weft cluster in network namespaces.
// 3 nodes on a 192.0.2.0/24 underlay, a store in the underlay netns (Debian's etcd where it is
// installed, else the embedded etcd of netns-fixtures/etcd/embedded-etcd.ts), our flanneld on every node,
// two pods per node added by our cnitool through flannel -> bridge -> host-local, then a table of
// nodes, subnets, pods and a TCP reachability matrix. Everything is torn down at the end.
// Usage: bun scripts/demo-cluster.ts [--nodes N] [--pods P] [--backend TYPE] [--store etcd|embedded] [--keep]
//   --backend: any type of daemon/config.ts SUPPORTED_BACKENDS (default vxlan). extension runs
//     host-gw-like `ip route` commands; alloc programs no routes, so only pods on one node reach
//     each other; ipip needs the kernel's ipip module (without it flanneld stops and says so)
//   --store: default etcd when /usr/bin/etcd exists, else embedded ($WEFT_DEMO_STORE overrides the default)
import { table } from "../bench/stats.ts";
import { SUPPORTED_BACKENDS, type BackendType } from "../daemon/config.ts";
import { run } from "../netns-fixtures/topology/sh.ts";
import { defaultStore, subnetOf, WeftCluster, type StoreKind } from "../netns-fixtures/topology/cluster.ts";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}
const NODES = Number(arg("nodes", "3"));
const PODS = Number(arg("pods", "2"));
const BACKEND_ARG = arg("backend", "vxlan");
const BACKEND = SUPPORTED_BACKENDS.find((b) => b === BACKEND_ARG) ?? "vxlan";
/** Backend keys beyond Type: the extension backend's commands (routes like host-gw, with iproute2). */
const BACKEND_CONFIG: Partial<Record<BackendType, Record<string, unknown>>> = {
  extension: {
    SubnetAddCommand: 'ip route replace "$SUBNET" via "$PUBLIC_IP"',
    SubnetRemoveCommand: 'ip route del "$SUBNET" via "$PUBLIC_IP"',
  },
};
/** alloc leases subnets and programs nothing: pods on different nodes are not expected to reach each other. */
const CROSS_NODE = BACKEND !== "alloc";
const KEEP = process.argv.includes("--keep");
const STORE_ARG = arg("store", "");
const say = (s: string) => process.stdout.write(`${s}\n`);

const STORE_NAMES: Record<StoreKind, string> = {
  etcd: "etcd (Debian's /usr/bin/etcd)",
  embedded: "embedded etcd (netns-fixtures/etcd/embedded-etcd.ts, in memory)",
};

async function main(): Promise<number> {
  if (STORE_ARG !== "" && STORE_ARG !== "etcd" && STORE_ARG !== "embedded") {
    process.stderr.write(`--store ${STORE_ARG}: use etcd or embedded\n`);
    return 2;
  }
  if (BACKEND !== BACKEND_ARG) {
    process.stderr.write(`--backend ${BACKEND_ARG}: use one of ${SUPPORTED_BACKENDS.join(", ")}\n`);
    return 2;
  }
  const store: StoreKind = STORE_ARG === "etcd" || STORE_ARG === "embedded" ? STORE_ARG : defaultStore();
  const extra = BACKEND_CONFIG[BACKEND];
  const c = new WeftCluster({ nodes: NODES, backend: BACKEND, store, ...(extra ? { backendConfig: extra } : {}) });
  try {
    say(
      `weft demo: ${NODES} nodes, ${PODS} pods each, backend ${BACKEND}, store ${store}, run prefix ${c.topo.prefix}`,
    );
    const t0 = performance.now();
    await c.start();
    say(
      `store: ${STORE_NAMES[store]} at ${c.etcd?.endpoint} in ` +
        `${c.topo.name("ul")}; network config ${JSON.stringify(c.netConf)}`,
    );
    say(`flanneld up on ${NODES} nodes in ${Math.round(performance.now() - t0)} ms`);
    await c.addPods(PODS);
    if (CROSS_NODE) await c.waitMesh();

    say("\nNodes");
    const rows = [];
    for (const n of c.nodes) {
      const own = n.subnet ? subnetOf(n.subnet) : "";
      const peers = (await c.routedSubnets(n)).filter((s) => s !== own);
      rows.push([n.name, n.ns, n.ip, n.subnet ?? "-", n.mtu ?? "-", peers.join(" ")]);
    }
    say(table(["node", "netns", "underlay IP", "FLANNEL_SUBNET", "MTU", "routes to peer subnets"], rows));
    say("\nPods");
    say(
      table(
        ["pod", "node", "netns", "IP"],
        c.pods.map((p) => [p.name, p.node.name, p.ns, p.ip]),
      ),
    );
    say("\nReachability (TCP echo, row -> column)");
    const m = await c.matrix();
    const cell = new Map(m.map(([a, b, r]) => [`${a.name}>${b.name}`, r]));
    const grid = c.pods.map((a) => [
      a.name,
      ...c.pods.map((b) =>
        a === b ? "-" : cell.get(`${a.name}>${b.name}`) === "ok" ? "ok" : `FAIL(${cell.get(`${a.name}>${b.name}`)})`,
      ),
    ]);
    say(table(["from \\ to", ...c.pods.map((p) => p.name)], grid));
    const ok = m.filter(([, , r]) => r === "ok").length;
    const cross = m.filter(([a, b]) => a.node !== b.node);
    say(
      `\n${ok}/${m.length} pod pairs reachable (${cross.filter(([, , r]) => r === "ok").length}/${cross.length} ` +
        `across nodes), ${c.pods.length} pods on ${c.nodes.length} nodes, backend ${BACKEND}, store ${store}`,
    );
    const local = m.filter(([a, b]) => a.node === b.node);
    if (!CROSS_NODE) say("alloc programs no data plane: only pods on the same node are expected to reach each other");
    if (KEEP) {
      say(`--keep: leaving the cluster up (prefix ${c.topo.prefix}); Ctrl-C to tear it down`);
      await new Promise<void>((res) => process.once("SIGINT", () => res()));
    }
    const wanted = CROSS_NODE ? m : local;
    return wanted.every(([, , r]) => r === "ok") ? 0 : 1;
  } finally {
    await c.teardown();
    const left = (await run("ip", ["netns", "list"])).stdout.split("\n").filter((l) => l.startsWith(c.topo.prefix));
    say(
      left.length === 0 ? "torn down: no namespaces, daemons or etcd left behind" : `left behind: ${left.join(", ")}`,
    );
  }
}

process.exitCode = await main().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
  return 1;
});
