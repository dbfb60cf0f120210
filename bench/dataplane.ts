// Data plane throughput: iperf3 pod -> pod across nodes over vxlan, host-gw, wireguard (here
// wireguard-go: this kernel has no WireGuard) and udp (the userspace forwarder, with its offloads
// and without), beside node -> node over the underlay, in the same run, with udp's ratio to vxlan.
// Veths on one machine: CPU-bound figures, good for ratios.
// Usage: bun bench/dataplane.ts [seconds=5]
import { spawn, type ChildProcess } from "node:child_process";
import { PRIVATE_WIREGUARD_RUN, WeftCluster } from "../netns-fixtures/topology/cluster.ts";
import { run, waitFor } from "../netns-fixtures/topology/sh.ts";
import { Topology } from "../netns-fixtures/topology/topology.ts";
import { ratio, table } from "./stats.ts";

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

/**
 * The wireguard row's reference: the same wireguard-go between two nodes set up by hand with wg(8)
 * (no flanneld), tunnel address to tunnel address, MTU 1420.
 */
async function wireguardByHand(): Promise<{ underlay: number; tunnel: number }> {
  const topo = new Topology();
  const procs: ChildProcess[] = [];
  try {
    const nodes = await topo.underlay(2);
    const keys = await Promise.all(nodes.map(async () => (await run("wg", ["genkey"])).stdout.trim()));
    const pubs = await Promise.all(keys.map(async (k) => (await run("wg", ["pubkey"], { input: k })).stdout.trim()));
    for (const [i, n] of nodes.entries()) {
      const p = spawn("ip", ["netns", "exec", n.ns, ...PRIVATE_WIREGUARD_RUN, "wireguard-go", "-f", "wg0"], {
        stdio: "ignore",
        env: { ...process.env, WG_PROCESS_FOREGROUND: "1" },
      });
      procs.push(p);
      const inNode = (cmd: string, args: string[], input?: string) =>
        run("nsenter", ["-t", String(p.pid), "-m", "-n", cmd, ...args], input === undefined ? {} : { input });
      await waitFor(
        `wireguard-go in ${n.ns}`,
        5000,
        async () =>
          (await run("nsenter", ["-t", String(p.pid), "-m", "-n", "wg", "show", "wg0"], { allowFail: true }))
            .exitCode === 0,
      );
      const peer = nodes[1 - i];
      await inNode(
        "sh",
        [
          "-c",
          "umask 077; cat > /run/wireguard/key; wg set wg0 private-key /run/wireguard/key listen-port 51820 " +
            `peer ${pubs[1 - i]} endpoint ${peer?.ip}:51820 allowed-ips 10.244.201.${2 - i}/32`,
        ],
        keys[i],
      );
      await run("ip", ["-n", n.ns, "addr", "add", `10.244.201.${i + 1}/24`, "dev", "wg0"]);
      await run("ip", ["-n", n.ns, "link", "set", "wg0", "mtu", "1420", "up"]);
    }
    const [a, b] = nodes;
    if (!a || !b) throw new Error("nodes missing");
    return { underlay: await iperf(b.ns, a.ns, b.ip), tunnel: await iperf(b.ns, a.ns, "10.244.201.2") };
  } finally {
    for (const p of procs) p.kill("SIGKILL");
    await topo.cleanup();
  }
}

export async function measureDataplane(): Promise<string> {
  const rows: string[][] = [];
  const pod: Record<string, number> = {};
  const runs = [
    { name: "vxlan", backend: "vxlan" },
    { name: "host-gw", backend: "host-gw" },
    { name: "wireguard", backend: "wireguard" },
    { name: "udp", backend: "udp" },
    { name: "udp, no offloads", backend: "udp", env: { WEFT_UDP_OFFLOAD: "off" } },
  ] as const;
  for (const r of runs) {
    const c = new WeftCluster({ nodes: 2, backend: r.backend, ...("env" in r ? { env: r.env } : {}) });
    try {
      await c.start();
      await c.addPods(1);
      await c.waitMesh();
      const [n1, n2] = c.nodes;
      const [p1, p2] = c.pods;
      if (!n1 || !n2 || !p1 || !p2) throw new Error("cluster incomplete");
      const underlay = await iperf(n2.ns, n1.ns, n2.ip);
      const pods = await iperf(p2.ns, p1.ns, p2.ip);
      pod[r.name] = pods;
      rows.push([
        r.name,
        `${underlay.toFixed(2)} Gbit/s`,
        `${pods.toFixed(2)} Gbit/s`,
        `${((pods / underlay) * 100).toFixed(0)}%`,
        n1.mtu ?? "-",
      ]);
    } finally {
      await c.teardown();
    }
  }
  const byHand = await wireguardByHand();
  rows.push([
    "wireguard-go by hand (wg, no flanneld)",
    `${byHand.underlay.toFixed(2)} Gbit/s`,
    `${byHand.tunnel.toFixed(2)} Gbit/s (tunnel)`,
    `${((byHand.tunnel / byHand.underlay) * 100).toFixed(0)}%`,
    "1420",
  ]);
  const udpRatios = ["udp", "udp, no offloads"].map(
    (n) => `${n} / vxlan pod->pod: ${ratio(pod[n] ?? Number.NaN, pod["vxlan"] ?? Number.NaN)}`,
  );
  return [
    `data plane, iperf3 TCP ${SECONDS} s, one stream (pod MTU from subnet.env)`,
    table(["backend", "node->node underlay", "pod->pod across nodes", "pod/underlay", "pod MTU"], rows),
    ...udpRatios,
  ].join("\n");
}

if (import.meta.main) console.log(await measureDataplane());
