/**
 * Kernel-layer micro-benchmarks (run as root: `bun bench/netlink.ts [iterations]`). Works in a
 * throwaway netns made with iproute2 (bench code, not shipped) and prints median / p99 in µs for:
 * the first libc use (dlopen), opening a netlink socket, request/ack and get round trips, a link
 * dump, and withNetns enter/exit by path and by open handle.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

const t0 = performance.now();
const { openNetlink } = await import("../linux/netlink/open.ts");
const { withNetns, openNetns } = await import("../linux/netns.ts");
const importMs = performance.now() - t0;

const N = Number(process.argv[2] ?? 2000);
const name = `wlbench${randomBytes(2).toString("hex")}`;
const path = `/run/netns/${name}`;

function stats(label: string, samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => (s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0) * 1000;
  const us = (q: number) => `${at(q).toFixed(1).padStart(7)} µs`;
  return `${label.padEnd(44)} median ${us(0.5)}   p99 ${us(0.99)}   (n=${s.length})`;
}

function measure(n: number, fn: () => void): number[] {
  for (let i = 0; i < Math.min(50, n); i++) fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = performance.now();
    fn();
    out.push(performance.now() - a);
  }
  return out;
}

execFileSync("ip", ["netns", "add", name]);
try {
  const first = performance.now();
  const ns = openNetns(path); // first libc call: dlopen + symbol binding
  const firstMs = performance.now() - first;
  const lines: string[] = [];
  lines.push(
    `import linux/netlink/open.ts + netns.ts: ${importMs.toFixed(2)} ` +
      `ms; first libc call (dlopen): ${firstMs.toFixed(2)} ms`,
  );
  lines.push(
    stats(
      "openNetlink inside the netns (+close)",
      measure(Math.min(N, 500), () => openNetlink({ netns: ns }).close()),
    ),
  );
  const nl = openNetlink({ netns: ns });
  const lo = nl.getLink("lo").index;
  lines.push(
    stats(
      "request/ack: RTM_SETLINK lo up",
      measure(N, () => nl.setLinkUp(lo)),
    ),
  );
  lines.push(
    stats(
      "get: RTM_GETLINK lo by name",
      measure(N, () => nl.getLink("lo")),
    ),
  );
  lines.push(
    stats(
      "addAddr + deleteAddr (2 acks, by index)",
      measure(N, () => {
        nl.addAddr(lo, "10.244.0.1/32");
        nl.deleteAddr(lo, "10.244.0.1/32");
      }),
    ),
  );
  nl.createVeth({ name: "b0", peer: { name: "b1" } });
  lines.push(
    stats(
      "dump: RTM_GETLINK (3 links)",
      measure(N, () => nl.listLinks()),
    ),
  );
  lines.push(
    stats(
      "withNetns(path) enter+exit (open+setns×2+close)",
      measure(N, () => withNetns(path, () => 0)),
    ),
  );
  lines.push(
    stats(
      "withNetns(handle) enter+exit (setns×2)",
      measure(N, () => withNetns(ns, () => 0)),
    ),
  );
  nl.close();
  ns.close();
  process.stdout.write(`${lines.join("\n")}\n`);
} finally {
  execFileSync("ip", ["netns", "del", name]);
}
