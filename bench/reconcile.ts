// Measures the periodic full reconcile at scale (run as root with bun, not under vitest):
//   bun bench/reconcile.ts [peers=5000] [passes=10] [gap ms=0]
// Builds a throwaway netns (veth underlay + the vxlan device RouteNetwork creates), programs N vxlan
// peers through RouteNetwork, then runs full reconcile passes and prints per pass: duration, CPU,
// RssAnon right after the pass (its garbage not yet collected), the peak RSS during the pass
// (VmHWM reset through clear_refs before it), and the JS heap (bun:jsc) after it.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { openNetlink } from "../linux/netlink/open.ts";
import { parseCidr, type IpNet } from "../net/prefix.ts";
import type { Lease } from "../daemon/lease.ts";
import { KernelNetOps } from "../daemon/backend/kernel-netops.ts";
import { RouteNetwork } from "../daemon/backend/route-network.ts";

const N = Number(process.argv[2] ?? 5000);
const PASSES = Number(process.argv[3] ?? 10);
/** idle time before each pass, as the daemon idles between passes (lets the allocator give pages back) */
const GAP_MS = Number(process.argv[4] ?? 0);
const ns = `wtrb${Math.floor(Math.random() * 0xffff).toString(16)}`;
const ip = (...a: string[]) => execFileSync("ip", ["-n", ns, ...a], { stdio: ["ignore", "ignore", "inherit"] });

function net(s: string): IpNet {
  const n = parseCidr(s);
  if (!n) throw new Error(`bad cidr ${s}`);
  return n;
}

function status(): { anon: number; hwm: number } {
  const s = readFileSync("/proc/self/status", "utf8");
  const kb = (k: string) => Number(/\d+/.exec(s.split("\n").find((l) => l.startsWith(k)) ?? "")?.[0] ?? 0);
  return { anon: kb("RssAnon:") / 1024, hwm: kb("VmHWM:") / 1024 };
}

async function heapMiB(): Promise<number> {
  const jsc = (await import("bun:jsc")) as { heapStats(): { heapSize: number } };
  return jsc.heapStats().heapSize / 2 ** 20;
}

function mac(i: number): string {
  const hex = (b: number) => b.toString(16).padStart(2, "0");
  return `0e:00:00:${hex((i >> 16) & 0xff)}:${hex((i >> 8) & 0xff)}:${hex(i & 0xff)}`;
}

execFileSync("ip", ["netns", "add", ns]);
try {
  ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth1");
  ip("addr", "add", "192.0.2.1/24", "dev", "eth0");
  ip("link", "set", "eth0", "up");
  ip("link", "set", "eth1", "up");
  const nl = openNetlink({ netns: `/run/netns/${ns}` });
  const dp = new KernelNetOps(nl);
  const under = nl.getLink("eth0");
  // /16 network: one /24 per peer does not fit 5,000 peers, so the cluster is 10.0.0.0/8 and peers get /24s in it
  const rn = new RouteNetwork({
    dp,
    kind: "vxlan",
    network: net("10.0.0.0/8"),
    underlay: { index: under.index, ip: "192.0.2.1", mtu: under.mtu },
    vxlan: { vni: 1, port: 0, gbp: false, learning: false, directRouting: false },
  });
  const prep = rn.prepare();
  const lease = (i: number): Lease => ({
    subnet: net(`10.${(i >> 8) & 0xff}.${i & 0xff}.0/24`),
    attrs: { PublicIP: `192.0.2.${(i % 250) + 2}`, BackendType: "vxlan", BackendData: { VNI: 1, VtepMAC: mac(i) } },
  });
  rn.start({
    subnet: net("10.255.255.0/24"),
    attrs: { PublicIP: "192.0.2.1", BackendType: "vxlan", BackendData: prep.backendData },
  });
  rn.handle(Array.from({ length: N }, (_, i) => ({ type: "added" as const, lease: lease(i + 1) })));
  const t0 = performance.now();
  const writes = rn.flush();
  process.stdout.write(`programmed ${N} peers (${writes} writes) in ${(performance.now() - t0).toFixed(0)} ms\n`);
  Bun.gc(true);
  const base = status();
  process.stdout.write(`settled: RssAnon ${base.anon.toFixed(1)} MiB, heap ${(await heapMiB()).toFixed(1)} MiB\n`);
  const rows: { before: number; ms: number; cpu: number; anon: number; hwm: number; heap: number }[] = [];
  for (let p = 0; p < PASSES; p++) {
    Bun.gc(true);
    if (GAP_MS > 0) await Bun.sleep(GAP_MS);
    writeFileSync("/proc/self/clear_refs", "5");
    const before = status().anon;
    const c0 = process.cpuUsage();
    const s = performance.now();
    const st = rn.reconcile();
    const ms = performance.now() - s;
    const c = process.cpuUsage(c0);
    const after = status();
    const heap = await heapMiB();
    if (st.changes !== 0) throw new Error(`pass ${p} changed ${st.changes}`);
    rows.push({ before, ms, cpu: (c.user + c.system) / 1000, anon: after.anon, hwm: after.hwm, heap });
  }
  for (const r of rows)
    process.stdout.write(
      `pass ${r.ms.toFixed(0)} ms, cpu ${r.cpu.toFixed(0)} ms, RssAnon ${r.before.toFixed(1)} -> ` +
        `${r.anon.toFixed(1)} MiB, VmHWM ${r.hwm.toFixed(1)} MiB, heap ${r.heap.toFixed(1)} MiB\n`,
    );
  const med = (k: "before" | "ms" | "cpu" | "anon" | "hwm" | "heap") =>
    [...rows.map((r) => r[k])].sort((a, b) => a - b)[Math.floor(rows.length / 2)] ?? 0;
  process.stdout.write(
    `MEDIAN pass ${med("ms").toFixed(0)} ms, cpu ${med("cpu").toFixed(0)} ms, RssAnon ` +
      `${med("anon").toFixed(1)} MiB (before ${med("before").toFixed(1)}, settled ` +
      `${base.anon.toFixed(1)}), VmHWM ${med("hwm").toFixed(1)} MiB, heap ${med("heap").toFixed(1)} MiB\n`,
  );
  nl.close();
} finally {
  execFileSync("ip", ["netns", "del", ns]);
}
