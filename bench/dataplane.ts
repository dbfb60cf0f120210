// Data plane throughput: iperf3 pod -> pod across nodes over vxlan and host-gw, beside node -> node
// over the underlay, in the same run. Veths on one machine: CPU-bound figures, good for ratios.
// Usage: bun bench/dataplane.ts [seconds=5]
import { spawn } from "node:child_process";
import { WeftCluster } from "../netns-fixtures/topology/cluster.ts";
import { run } from "../netns-fixtures/topology/sh.ts";
import { table } from "./stats.ts";

const SECONDS = Number(process.argv[2] ?? 5);

async function iperf(serverNs: string, clientNs: string, ip: string): Promise<number> {
  const server = spawn("ip", ["netns", "exec", serverNs, "iperf3", "-s", "-1", "-B", ip, "-p", "5201"], {
    stdio: "ignore",
  });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const r = await run(
      "ip",
      ["netns", "exec", clientNs, "iperf3", "-c", ip, "-p", "5201", "-t", String(SECONDS), "-J"],
      { timeoutMs: (SECONDS + 20) * 1000 },
    );
    const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    server.kill("SIGKILL");
  }
}

export async function measureDataplane(): Promise<string> {
  const rows: string[][] = [];
  for (const backend of ["vxlan", "host-gw"] as const) {
    const c = new WeftCluster({ nodes: 2, backend });
    try {
      await c.start();
      await c.addPods(1);
      await c.waitMesh();
      const [n1, n2] = c.nodes;
      const [p1, p2] = c.pods;
      if (!n1 || !n2 || !p1 || !p2) throw new Error("cluster incomplete");
      const underlay = await iperf(n2.ns, n1.ns, n2.ip);
      const pods = await iperf(p2.ns, p1.ns, p2.ip);
      rows.push([
        backend,
        `${underlay.toFixed(2)} Gbit/s`,
        `${pods.toFixed(2)} Gbit/s`,
        `${((pods / underlay) * 100).toFixed(0)}%`,
        n1.mtu ?? "-",
      ]);
    } finally {
      await c.teardown();
    }
  }
  return [
    `data plane, iperf3 TCP ${SECONDS} s, one stream (pod MTU from subnet.env)`,
    table(["backend", "node->node underlay", "pod->pod across nodes", "pod/underlay", "pod MTU"], rows),
  ].join("\n");
}

if (import.meta.main) console.log(await measureDataplane());
