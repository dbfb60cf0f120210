// Where the time of one pod ADD/DEL goes: runs our chain with WEFT_TRACE=1 (libcni/trace.ts) and
// prints, per trace point, the median time since the runtime spawned the process and the median
// step from the previous point. Direct exec of flannel (delegating in-process to bridge and
// host-local) and through our cnitool. The first point is the runtime's own start-up; the last step
// ("exit seen") is output flush plus process teardown.
// Usage: bun bench/cni-phases.ts [pods=20]   (needs `npm run build`; root)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WEFT_PLUGIN_DIR, requireBuilt } from "../netns-fixtures/oracles/reference.ts";
import { Topology, sweepStale } from "../netns-fixtures/topology/topology.ts";
import { fmtMs, summary, table } from "./stats.ts";

const PODS = Number(process.argv[2] ?? 20);

interface Point {
  readonly label: string;
  readonly at: number;
}

/** Spawn in a netns with tracing on; the trace points relative to our spawn time, then "exit seen". */
async function traced(
  ns: string,
  argv: readonly string[],
  env: Record<string, string>,
  input: string,
): Promise<Point[]> {
  const t0 = performance.timeOrigin + performance.now();
  const child = Bun.spawn(["ip", "netns", "exec", ns, ...argv], {
    env: { PATH: process.env["PATH"] ?? "", WEFT_TRACE: "1", ...env },
    stdin: Buffer.from(input),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  const end = performance.timeOrigin + performance.now();
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${out}${err}`);
  const pids: string[] = [];
  const seen = new Map<string, number>();
  const points: Point[] = [];
  for (const line of err.split("\n")) {
    const m = /^weft-trace (\d+) ([\d.]+) [\d.]+ (.*)$/.exec(line);
    if (!m) continue;
    const [, pid = "", epoch = "", what = ""] = m;
    if (!pids.includes(pid)) pids.push(pid);
    const who = pids.length > 1 ? (pids.indexOf(pid) === 0 ? "tool " : "plugin ") : "";
    const base = `${who}${what.replace(/\/\S*\//g, "").replace(/exit(ed)? \S+$/, "exit")}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    points.push({ label: n > 1 ? `${base} #${n}` : base, at: Number(epoch) - t0 });
  }
  points.push({ label: "exit seen", at: end - t0 });
  return points;
}

/** Median per label, in time order, with the step from the previous label's median. */
function breakdown(runs: readonly Point[][]): string[][] {
  const labels = [...new Set(runs.flatMap((r) => r.map((p) => p.label)))];
  const medians = labels.map((label) => ({
    label,
    p50: summary(runs.map((r) => r.find((p) => p.label === label)?.at).filter((x): x is number => x !== undefined)).p50,
  }));
  medians.sort((a, b) => a.p50 - b.p50);
  return medians.map((m, i) => [m.label, fmtMs(m.p50), fmtMs(m.p50 - (medians[i - 1]?.p50 ?? 0))]);
}

async function main(): Promise<void> {
  requireBuilt();
  await sweepStale();
  const topo = new Topology();
  const dir = mkdtempSync(join(tmpdir(), `${topo.prefix}-phases-`));
  try {
    const node = await topo.netns("phnode");
    writeFileSync(
      join(dir, "subnet.env"),
      "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.17.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
    const plugin = {
      type: "flannel",
      subnetFile: join(dir, "subnet.env"),
      dataDir: join(dir, "flannel"),
      ipam: { dataDir: join(dir, "ipam") },
      delegate: { hairpinMode: true, isDefaultGateway: true },
    };
    const conf = JSON.stringify({ cniVersion: "1.0.0", name: "cbr0", ...plugin });
    mkdirSync(join(dir, "net.d"));
    writeFileSync(
      join(dir, "net.d", "10-cbr0.conflist"),
      JSON.stringify({ cniVersion: "1.0.0", name: "cbr0", plugins: [plugin] }),
    );
    const flannel = [join(WEFT_PLUGIN_DIR, "flannel")];
    const cnitool = join(WEFT_PLUGIN_DIR, "cnitool");
    const toolEnv = { NETCONFPATH: join(dir, "net.d"), CNI_PATH: WEFT_PLUGIN_DIR, CNI_CACHE_DIR: join(dir, "cache") };
    const runs: Record<string, Point[][]> = {
      "ADD direct": [],
      "DEL direct": [],
      "ADD cnitool": [],
      "DEL cnitool": [],
    };
    const pods = await Promise.all(Array.from({ length: PODS }, (_, i) => topo.netns(`ph${i}`)));
    const env = (cmd: string, i: number) => ({
      CNI_COMMAND: cmd,
      CNI_CONTAINERID: `ph${i}`,
      CNI_NETNS: `/run/netns/${pods[i] ?? ""}`,
      CNI_IFNAME: "eth0",
      CNI_PATH: WEFT_PLUGIN_DIR,
    });
    for (let i = 0; i < PODS; i++) runs["ADD direct"]?.push(await traced(node, flannel, env("ADD", i), conf));
    for (let i = 0; i < PODS; i++) runs["DEL direct"]?.push(await traced(node, flannel, env("DEL", i), conf));
    for (const p of pods)
      runs["ADD cnitool"]?.push(await traced(node, [cnitool, "add", "cbr0", `/run/netns/${p}`], toolEnv, ""));
    for (const p of pods)
      runs["DEL cnitool"]?.push(await traced(node, [cnitool, "del", "cbr0", `/run/netns/${p}`], toolEnv, ""));
    console.log(
      `Phases of one exec, median of ${PODS} (ms since spawn, ` +
        `including \`ip netns exec\`; step = from the previous point)`,
    );
    for (const [name, rs] of Object.entries(runs))
      console.log(`\n${name}\n${table(["point", "at p50", "step"], breakdown(rs))}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await topo.cleanup();
  }
}

if (import.meta.main) await main();
