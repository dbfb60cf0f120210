// Pod setup latency, ours vs the reference, interleaved in one run.
//  - chain: weft flannel -> bridge -> host-local (one process) vs the reference bridge -> host-local
//    (what the reference flannel hands to; Debian ships no flannel plugin, so the reference figure
//    leaves out the reference flannel's own exec: that favours the reference).
//  - two ways in: a direct exec of the first plugin, and through a cnitool (ours vs Go libcni).
//  - concurrency: batches of 20 and 50 ADDs at once, wall time and p99, duplicate-IP and leak checks.
//  - CPU: user+system time of the exec'd process tree (rusage of the `ip netns exec` child, which
//    execs the plugin or cnitool and includes what they waited for). On a machine shared with other
//    work the CPU columns move much less than the wall-clock ones; both sides pay `ip netns exec`.
// Usage: bun bench/cni-latency.ts [pods=200] [--only=direct,cnitool,concurrent]
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  GO_CNITOOL,
  REFERENCE_PLUGIN_DIR,
  WEFT_PLUGIN_DIR,
  requireBuilt,
} from "../netns-fixtures/oracles/reference.ts";
import { Topology, sweepStale } from "../netns-fixtures/topology/topology.ts";
import { fmtMs, ratio, summary, table } from "./stats.ts";

const PODS = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 200);
const ONLY = new Set(
  (process.argv.find((a) => a.startsWith("--only="))?.slice(7) ?? "direct,cnitool,concurrent,rss").split(","),
);

interface Side {
  readonly label: string;
  readonly node: string;
  readonly dir: string;
  readonly plugin: string;
  readonly conf: Record<string, unknown>;
  readonly cnitool: string;
  readonly path: string;
}

/** Run one command in a netns with env + stdin; resolve with wall ms, CPU ms (user+sys) and output. */
async function timed(
  ns: string,
  cmd: string,
  args: readonly string[],
  env: Record<string, string>,
  input: string,
): Promise<{ ms: number; cpu: number; code: number; out: string }> {
  const t0 = performance.now();
  const child = Bun.spawn(["ip", "netns", "exec", ns, cmd, ...args], {
    env: { PATH: process.env["PATH"] ?? "", ...env },
    stdin: Buffer.from(input),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  const ms = performance.now() - t0;
  const cpu = child.resourceUsage()?.cpuTime;
  return { ms, cpu: cpu ? Number(cpu.user + cpu.system) / 1000 : Number.NaN, code, out: out + err };
}

function direct(s: Side, command: string, pod: string, cid: string) {
  return timed(
    s.node,
    s.plugin,
    [],
    {
      CNI_COMMAND: command,
      CNI_CONTAINERID: cid,
      CNI_NETNS: `/run/netns/${pod}`,
      CNI_IFNAME: "eth0",
      CNI_PATH: s.path,
    },
    JSON.stringify(s.conf),
  );
}

function viaTool(s: Side, command: string, pod: string) {
  return timed(
    s.node,
    s.cnitool,
    [command, "cbr0", `/run/netns/${pod}`],
    { NETCONFPATH: join(s.dir, "net.d"), CNI_PATH: s.path, CNI_CACHE_DIR: join(s.dir, "cache") },
    "",
  );
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
  writeFileSync(
    join(dir, "subnet.env"),
    `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.${idx}.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`,
  );
  const conf: Record<string, unknown> = ours
    ? {
        cniVersion: "1.0.0",
        name: "cbr0",
        type: "flannel",
        subnetFile: join(dir, "subnet.env"),
        dataDir: join(dir, "flannel"),
        ipam: { dataDir: join(dir, "ipam") },
        delegate: { hairpinMode: true, isDefaultGateway: true },
      }
    : {
        cniVersion: "1.0.0",
        name: "cbr0",
        type: "bridge",
        bridge: "cni0",
        isGateway: true,
        isDefaultGateway: true,
        hairpinMode: true,
        ipMasq: false,
        mtu: 1450,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: `10.244.${idx}.0/24` }]],
          routes: [{ dst: "10.244.0.0/16" }],
          dataDir: join(dir, "ipam"),
        },
      };
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
  const sides = [
    await makeSide(topo, `w${way[0]}`, true, way === "direct" ? 11 : 13),
    await makeSide(topo, `r${way[0]}`, false, way === "direct" ? 12 : 14),
  ];
  const pods: string[][] = [[], []];
  const add: number[][] = [[], []];
  const del: number[][] = [[], []];
  const addCpu: number[][] = [[], []];
  const delCpu: number[][] = [[], []];
  for (let i = 0; i < PODS; i++) {
    for (const [k, s] of sides.entries()) {
      const pod = await topo.netns(`${s.label}${i}`);
      pods[k]?.push(pod);
      const r = way === "direct" ? await direct(s, "ADD", pod, `c${i}`) : await viaTool(s, "add", pod);
      if (r.code !== 0) throw new Error(`${s.label} ADD ${i} failed: ${r.out}`);
      add[k]?.push(r.ms);
      addCpu[k]?.push(r.cpu);
    }
  }
  for (let i = 0; i < PODS; i++) {
    for (const [k, s] of sides.entries()) {
      const pod = pods[k]?.[i] ?? "";
      const r = way === "direct" ? await direct(s, "DEL", pod, `c${i}`) : await viaTool(s, "del", pod);
      if (r.code !== 0) throw new Error(`${s.label} DEL ${i} failed: ${r.out}`);
      del[k]?.push(r.ms);
      delCpu[k]?.push(r.cpu);
    }
  }
  const rows: string[][] = [];
  for (const [name, xs, cs] of [
    ["ADD", add, addCpu],
    ["DEL", del, delCpu],
  ] as const) {
    const w = summary(xs[0] ?? []);
    const r = summary(xs[1] ?? []);
    const wc = summary(cs[0] ?? []);
    const rc = summary(cs[1] ?? []);
    rows.push([
      `${name} (${way})`,
      fmtMs(w.p50),
      fmtMs(w.p90),
      fmtMs(w.p99),
      fmtMs(r.p50),
      fmtMs(r.p90),
      fmtMs(r.p99),
      ratio(w.p50, r.p50),
      ratio(w.p99, r.p99),
      fmtMs(wc.p50),
      fmtMs(rc.p50),
      ratio(wc.p50, rc.p50),
    ]);
  }
  for (const s of sides) {
    const left = ipCount(s.dir);
    if (left !== 0) rows.push([`LEAK ${s.label}`, `${left} IPs left`]);
    rmSync(s.dir, { recursive: true, force: true });
  }
  return rows;
}

async function concurrent(topo: Topology, n: number): Promise<string[][]> {
  const sides = [
    await makeSide(topo, `wc${n}`, true, 20 + (n % 7)),
    await makeSide(topo, `rc${n}`, false, 30 + (n % 7)),
  ];
  const rows: string[][] = [];
  const res: { wall: number; p99: number; cpu: number; dup: number; leak: number }[] = [];
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
    res.push({
      wall,
      p99: summary(outs.map((o) => o.ms)).p99,
      cpu: outs.reduce((a, o) => a + o.cpu, 0),
      dup,
      leak: ipCount(s.dir),
    });
    rmSync(s.dir, { recursive: true, force: true });
  }
  const [w, r] = res;
  if (w && r)
    rows.push([
      `${n} concurrent ADDs`,
      fmtMs(w.wall),
      fmtMs(w.p99),
      fmtMs(r.wall),
      fmtMs(r.p99),
      ratio(w.wall, r.wall),
      ratio(w.p99, r.p99),
      fmtMs(w.cpu),
      fmtMs(r.cpu),
      `${w.dup}/${r.dup}`,
      `${w.leak}/${r.leak}`,
    ]);
  return rows;
}

/**
 * Peak RSS of one direct ADD, ours vs the reference, by GNU time (%M, KiB) around the exec'd
 * plugin: Bun.spawn's rusage counts the forked copy of this (large) process before exec.
 * For the reference the figure is the larger of bridge and the host-local it execs (wait4 rusage
 * takes the maximum over waited-for descendants).
 */
async function peakRss(topo: Topology, runs = 10): Promise<string[][]> {
  const sides = [await makeSide(topo, "wm", true, 41), await makeSide(topo, "rm", false, 42)];
  const kib: number[][] = [[], []];
  for (let i = 0; i < runs; i++) {
    for (const [k, s] of sides.entries()) {
      const pod = await topo.netns(`${s.label}${i}`);
      const env = {
        CNI_COMMAND: "ADD",
        CNI_CONTAINERID: `m${i}`,
        CNI_NETNS: `/run/netns/${pod}`,
        CNI_IFNAME: "eth0",
        CNI_PATH: s.path,
      };
      const r = await timed(s.node, "/usr/bin/time", ["-f", "maxrss=%M", s.plugin], env, JSON.stringify(s.conf));
      const m = /maxrss=(\d+)/.exec(r.out);
      if (r.code !== 0 || !m) throw new Error(`${s.label} ADD under /usr/bin/time failed: ${r.out}`);
      kib[k]?.push(Number(m[1]));
      await direct(s, "DEL", pod, `m${i}`);
    }
  }
  for (const s of sides) rmSync(s.dir, { recursive: true, force: true });
  const [w, r] = [summary(kib[0] ?? []).p50 / 1024, summary(kib[1] ?? []).p50 / 1024];
  return [["peak RSS of one ADD (p50)", `${w.toFixed(1)} MiB`, `${r.toFixed(1)} MiB`, ratio(w, r)]];
}

export async function measureCni(): Promise<string> {
  requireBuilt();
  requireBuilt(GO_CNITOOL);
  await sweepStale();
  const topo = new Topology();
  try {
    const seq = [
      ...(ONLY.has("direct") ? await sequential(topo, "direct") : []),
      ...(ONLY.has("cnitool") ? await sequential(topo, "cnitool") : []),
    ];
    const conc = ONLY.has("concurrent") ? [...(await concurrent(topo, 20)), ...(await concurrent(topo, 50))] : [];
    const rss = ONLY.has("rss") ? await peakRss(topo) : [];
    const out = [
      `CNI latency, ${PODS} pods per side, interleaved (weft = ` +
        "flannel->bridge->host-local in one process; reference = bridge->host-local)",
    ];
    if (seq.length > 0)
      out.push(
        table(
          [
            "op",
            "weft p50",
            "weft p90",
            "weft p99",
            "ref p50",
            "ref p90",
            "ref p99",
            "p50 ratio",
            "p99 ratio",
            "weft CPU p50",
            "ref CPU p50",
            "CPU ratio",
          ],
          seq,
        ),
      );
    if (conc.length > 0)
      out.push(
        "",
        table(
          [
            "batch",
            "weft wall",
            "weft p99",
            "ref wall",
            "ref p99",
            "wall ratio",
            "p99 ratio",
            "weft CPU sum",
            "ref CPU sum",
            "dup IPs w/r",
            "leaked w/r",
          ],
          conc,
        ),
      );
    if (rss.length > 0) out.push("", table(["memory", "weft", "reference", "ratio"], rss));
    return out.join("\n");
  } finally {
    await topo.cleanup();
  }
}

if (import.meta.main) console.log(await measureCni());
