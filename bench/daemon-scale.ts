// flanneld at scale: N remote vxlan leases already in a real etcd -> time until every route,
// neighbour and FDB entry is programmed, and the daemon's RSS; then the latency of single new
// leases (etcd put -> route in the kernel, seen by `ip monitor`). Absolute figures: Debian ships
// no flanneld to run beside it; the targets are in BENCHMARKS.md.
// Usage: bun bench/daemon-scale.ts [sizes=100,1000,5000] [events=100]
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEtcd, type EtcdCluster } from "../netns-fixtures/etcd/etcd.ts";
import { REPO_ROOT, WEFT_PLUGIN_DIR, requireBuilt } from "../netns-fixtures/oracles/reference.ts";
import { run } from "../netns-fixtures/topology/sh.ts";
import { Topology, sweepStale } from "../netns-fixtures/topology/topology.ts";
import { fmtMs, summary, table } from "./stats.ts";

const SIZES = (process.argv[2] ?? "100,1000,5000").split(",").map(Number);
const EVENTS = Number(process.argv[3] ?? 100);
const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const SEED = join(REPO_ROOT, "bench", "daemon-seed.ts");

async function count(ns: string, args: string[]): Promise<number> {
  const r = await run("ip", ["-n", ns, ...args], { allowFail: true });
  return r.stdout.split("\n").filter((l) => l.trim()).length;
}

/** RSS split: anonymous memory is what a memory limit cannot reclaim; file-backed is the binary's pages. */
function rssMiB(pid: number): { rss: number; hwm: number; anon: number; file: number } {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(/\d+/.exec(s.split("\n").find((l) => l.startsWith(k)) ?? "")?.[0] ?? 0);
  return {
    rss: kb("VmRSS:") / 1024,
    hwm: kb("VmHWM:") / 1024,
    anon: kb("RssAnon:") / 1024,
    file: kb("RssFile:") / 1024,
  };
}

async function one(n: number, measureEvents: boolean): Promise<{ row: string[]; events?: number[] }> {
  const topo = new Topology();
  const dir = mkdtempSync(join(tmpdir(), "weft-scale-"));
  let etcd: EtcdCluster | undefined;
  let pid = 0;
  try {
    const [node] = await topo.underlay(1);
    if (!node) throw new Error("no node");
    etcd = await startEtcd(1, { ns: node.ns });
    await etcd.ctl([
      "put",
      "/coreos.com/network/config",
      JSON.stringify({ Network: "10.244.0.0/16", SubnetLen: 29, Backend: { Type: "vxlan" } }),
    ]);
    await run("ip", ["netns", "exec", node.ns, BUN, SEED, etcd.endpoint, "0", String(n)], { timeoutMs: 300_000 });
    const log = openSync(join(dir, "flanneld.log"), "a");
    const t0 = performance.now();
    const d = spawn(
      "ip",
      [
        "netns",
        "exec",
        node.ns,
        join(WEFT_PLUGIN_DIR, "flanneld"),
        "--etcd-endpoints",
        etcd.endpoint,
        "--iface",
        "eth0",
        "--subnet-file",
        join(dir, "subnet.env"),
      ],
      { stdio: ["ignore", log, log] },
    );
    pid = d.pid ?? 0;
    let routes = 0;
    let neigh = 0;
    let fdb = 0;
    for (;;) {
      if (d.exitCode !== null)
        throw new Error(
          `flanneld exited ${d.exitCode}: ${readFileSync(join(dir, "flanneld.log"), "utf8").slice(-2000)}`,
        );
      routes = await count(node.ns, ["route", "show", "dev", "flannel.1"]);
      if (routes >= n) {
        neigh = await count(node.ns, ["neigh", "show", "dev", "flannel.1"]);
        fdb = (await run("bridge", ["-n", node.ns, "fdb", "show", "dev", "flannel.1"])).stdout
          .split("\n")
          .filter((l) => l.includes(" dst ")).length;
        if (neigh >= n && fdb >= n) break;
      }
      if (performance.now() - t0 > 120_000) throw new Error(`only ${routes}/${n} routes after 120 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const programmed = performance.now() - t0;
    // Settle: the daemon releases startup garbage once the first batch is applied.
    await new Promise((r) => setTimeout(r, 3000));
    const mem = rssMiB(pid);
    let events: number[] | undefined;
    if (measureEvents) {
      events = [];
      const mon = spawn("ip", ["-n", node.ns, "monitor", "route"], { stdio: ["ignore", "pipe", "ignore"] });
      const seen = new Map<string, number>();
      let buf = "";
      mon.stdout.on("data", (b: Buffer) => {
        const now = performance.timeOrigin + performance.now();
        buf += b.toString();
        const lines = buf.split("\n");
        buf = lines.pop() ?? "";
        for (const l of lines) {
          const m = /^(10\.244\.\d+\.\d+\/29) via/.exec(l);
          if (m?.[1] && !seen.has(m[1])) seen.set(m[1], now);
        }
      });
      await new Promise((r) => setTimeout(r, 300));
      // New leases from index n+200 on: flanneld picks its own subnet among the first 100 free ones
      // (n..n+99), and a bench lease must never overwrite the daemon's own key.
      for (let i = 0; i < EVENTS; i++) {
        const out = (
          await run("ip", ["netns", "exec", node.ns, BUN, SEED, etcd.endpoint, String(n + 200 + i), "1"])
        ).stdout.trim();
        const { subnet, t } = JSON.parse(out) as { subnet: string; t: number };
        const end = Date.now() + 2000;
        while (!seen.has(subnet) && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
        const at = seen.get(subnet);
        if (at !== undefined) events.push(at - t);
      }
      mon.kill();
    }
    d.kill("SIGTERM");
    return {
      row: [
        String(n),
        fmtMs(programmed),
        `${routes}/${neigh}/${fdb}`,
        `${mem.rss.toFixed(1)} MiB`,
        `${mem.anon.toFixed(1)} MiB`,
        `${mem.file.toFixed(1)} MiB`,
        `${mem.hwm.toFixed(1)} MiB`,
      ],
      ...(events ? { events } : {}),
    };
  } finally {
    if (pid) await run("kill", ["-9", String(pid)], { allowFail: true });
    etcd?.stop();
    await topo.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function measureDaemon(): Promise<string> {
  requireBuilt();
  await sweepStale();
  const rows: string[][] = [];
  let events: number[] = [];
  for (const n of SIZES) {
    const r = await one(n, n === SIZES[SIZES.length - 1]);
    rows.push(r.row);
    if (r.events) events = r.events;
  }
  const s = summary(events);
  return [
    "flanneld scale (vxlan, leases present in etcd before start; time from spawn to all programmed)",
    table(["leases", "programmed in", "routes/neigh/fdb", "RSS (3 s later)", "anon", "file-backed", "peak RSS"], rows),
    "",
    `new-lease latency (etcd put -> route in the kernel), ${s.n} events with ${SIZES[SIZES.length - 1]} ` +
      `leases present: p50 ${fmtMs(s.p50)}, p90 ${fmtMs(s.p90)}, p99 ${fmtMs(s.p99)}`,
  ].join("\n");
}

if (import.meta.main) console.log(await measureDaemon());
