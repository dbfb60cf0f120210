// Pod setup latency, ours vs the reference, interleaved in one run.
//  - chain: weft flannel -> bridge -> host-local (one process) vs the reference bridge -> host-local
//    (what the reference flannel hands to; Debian ships no flannel plugin, so the reference figure
//    leaves out the reference flannel's own exec: that favours the reference).
//  - two ways in: a direct exec of the first plugin, and through a cnitool (ours vs Go libcni).
//  - concurrency: batches of 20 and 50 ADDs at once, wall time and p99, duplicate-IP and leak checks.
// Usage: bun bench/cni-latency.ts [pods=200]
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GO_CNITOOL, REFERENCE_PLUGIN_DIR, WEFT_PLUGIN_DIR, requireBuilt } from "../netns-fixtures/reference.ts";
import { Topology, sweepStale } from "../netns-fixtures/topology.ts";
import { fmtMs, ratio, summary, table } from "./stats.ts";

const PODS = Number(process.argv[2] ?? 200);

interface Side {
  readonly label: string;
  readonly node: string;
  readonly dir: string;
  readonly plugin: string;
  readonly conf: Record<string, unknown>;
  readonly cnitool: string;
  readonly path: string;
}

/** Run one command in a netns with env + stdin; resolve with wall ms and stdout. */
function timed(ns: string, cmd: string, args: readonly string[], env: Record<string, string>, input: string): Promise<{ ms: number; code: number; out: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn("ip", ["netns", "exec", ns, cmd, ...args], { env: { PATH: process.env["PATH"] ?? "", ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("close", (code) => resolve({ ms: performance.now() - t0, code: code ?? -1, out }));
    child.stdin.end(input);
  });
}

function direct(s: Side, command: string, pod: string, cid: string) {
  return timed(s.node, s.plugin, [], { CNI_COMMAND: command, CNI_CONTAINERID: cid, CNI_NETNS: `/run/netns/${pod}`, CNI_IFNAME: "eth0", CNI_PATH: s.path }, JSON.stringify(s.conf));
}

function viaTool(s: Side, command: string, pod: string) {
  return timed(s.node, s.cnitool, [command, "cbr0", `/run/netns/${pod}`], { NETCONFPATH: join(s.dir, "net.d"), CNI_PATH: s.path, CNI_CACHE_DIR: join(s.dir, "cache") }, "");
}

function ipCount(dir: string): number {
  try {
    return readdirSync(join(dir, "ipam", "cbr0")).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).length;
  } catch {
    return 0;
  }
}

async function makeSide(topo: Topology, label: string, ours: boolean, idx: number): Promise<Side> {
  const node = await topo.netns(`${label}node`);
  const dir = mkdtempSync(join(tmpdir(), `${topo.prefix}-${label}-`));
  writeFileSync(join(dir, "subnet.env"), `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.${idx}.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`);
  const conf: Record<string, unknown> = ours
    ? { cniVersion: "1.0.0", name: "cbr0", type: "flannel", subnetFile: join(dir, "subnet.env"), dataDir: join(dir, "flannel"), ipam: { dataDir: join(dir, "ipam") }, delegate: { hairpinMode: true, isDefaultGateway: true } }
    : { cniVersion: "1.0.0", name: "cbr0", type: "bridge", bridge: "cni0", isGateway: true, isDefaultGateway: true, hairpinMode: true, ipMasq: false, mtu: 1450, ipam: { type: "host-local", ranges: [[{ subnet: `10.244.${idx}.0/24` }]], routes: [{ dst: "10.244.0.0/16" }], dataDir: join(dir, "ipam") } };
  const { cniVersion, name, ...plugin } = conf;
  mkdirSync(join(dir, "net.d"));
  writeFileSync(join(dir, "net.d", "10-cbr0.conflist"), JSON.stringify({ cniVersion, name, plugins: [plugin] }));
  return {
    label,
    node,
    dir,
    conf,
    plugin: join(ours ? WEFT_PLUGIN_DIR : REFERENCE_PLUGIN_DIR, ours ? "flannel" : "bridge"),
    cnitool: ours ? join(WEFT_PLUGIN_DIR, "cnitool") : GO_CNITOOL,
    path: ours ? WEFT_PLUGIN_DIR : REFERENCE_PLUGIN_DIR,
  };
}

async function sequential(topo: Topology, way: "direct" | "cnitool"): Promise<string[][]> {
  const sides = [await makeSide(topo, `w${way[0]}`, true, way === "direct" ? 11 : 13), await makeSide(topo, `r${way[0]}`, false, way === "direct" ? 12 : 14)];
  const pods: string[][] = [[], []];
  const add: number[][] = [[], []];
  const del: number[][] = [[], []];
  for (let i = 0; i < PODS; i++) {
    for (const [k, s] of sides.entries()) {
      const pod = await topo.netns(`${s.label}${i}`);
      pods[k]?.push(pod);
      const r = way === "direct" ? await direct(s, "ADD", pod, `c${i}`) : await viaTool(s, "add", pod);
      if (r.code !== 0) throw new Error(`${s.label} ADD ${i} failed: ${r.out}`);
      add[k]?.push(r.ms);
    }
  }
  for (let i = 0; i < PODS; i++) {
    for (const [k, s] of sides.entries()) {
      const pod = pods[k]?.[i] ?? "";
      const r = way === "direct" ? await direct(s, "DEL", pod, `c${i}`) : await viaTool(s, "del", pod);
      if (r.code !== 0) throw new Error(`${s.label} DEL ${i} failed: ${r.out}`);
      del[k]?.push(r.ms);
    }
  }
  const rows: string[][] = [];
  for (const [name, xs] of [["ADD", add], ["DEL", del]] as const) {
    const w = summary(xs[0] ?? []);
    const r = summary(xs[1] ?? []);
    rows.push([`${name} (${way})`, fmtMs(w.p50), fmtMs(w.p90), fmtMs(w.p99), fmtMs(r.p50), fmtMs(r.p90), fmtMs(r.p99), ratio(w.p50, r.p50), ratio(w.p99, r.p99)]);
  }
  for (const s of sides) {
    const left = ipCount(s.dir);
    if (left !== 0) rows.push([`LEAK ${s.label}`, `${left} IPs left`]);
    rmSync(s.dir, { recursive: true, force: true });
  }
  return rows;
}

async function concurrent(topo: Topology, n: number): Promise<string[][]> {
  const sides = [await makeSide(topo, `wc${n}`, true, 20 + (n % 7)), await makeSide(topo, `rc${n}`, false, 30 + (n % 7))];
  const rows: string[][] = [];
  const res: { wall: number; p99: number; dup: number; leak: number }[] = [];
  for (const s of sides) {
    const pods = await Promise.all(Array.from({ length: n }, (_, i) => topo.netns(`${s.label}x${i}`)));
    const t0 = performance.now();
    const outs = await Promise.all(pods.map((p, i) => direct(s, "ADD", p, `k${i}`)));
    const wall = performance.now() - t0;
    const failed = outs.filter((o) => o.code !== 0);
    if (failed.length > 0) throw new Error(`${s.label}: ${failed.length} concurrent ADDs failed: ${failed[0]?.out}`);
    const ips = outs.map((o) => (JSON.parse(o.out) as { ips: { address: string }[] }).ips[0]?.address);
    const dup = ips.length - new Set(ips).size;
    await Promise.all(pods.map((p, i) => direct(s, "DEL", p, `k${i}`)));
    res.push({ wall, p99: summary(outs.map((o) => o.ms)).p99, dup, leak: ipCount(s.dir) });
    rmSync(s.dir, { recursive: true, force: true });
  }
  const [w, r] = res;
  if (w && r) rows.push([`${n} concurrent ADDs`, fmtMs(w.wall), fmtMs(w.p99), fmtMs(r.wall), fmtMs(r.p99), ratio(w.wall, r.wall), ratio(w.p99, r.p99), `${w.dup}/${r.dup}`, `${w.leak}/${r.leak}`]);
  return rows;
}

export async function measureCni(): Promise<string> {
  requireBuilt();
  requireBuilt(GO_CNITOOL);
  await sweepStale();
  const topo = new Topology();
  try {
    const seq = [...(await sequential(topo, "direct")), ...(await sequential(topo, "cnitool"))];
    const conc = [...(await concurrent(topo, 20)), ...(await concurrent(topo, 50))];
    return [
      `CNI latency, ${PODS} pods per side, interleaved (weft = flannel->bridge->host-local in one process; reference = bridge->host-local)`,
      table(["op", "weft p50", "weft p90", "weft p99", "ref p50", "ref p90", "ref p99", "p50 ratio", "p99 ratio"], seq),
      "",
      table(["batch", "weft wall", "weft p99", "ref wall", "ref p99", "wall ratio", "p99 ratio", "dup IPs w/r", "leaked w/r"], conc),
    ].join("\n");
  } finally {
    await topo.cleanup();
  }
}

if (import.meta.main) console.log(await measureCni());
