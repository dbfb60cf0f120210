// `npm run bench`: every benchmark in one run, each printing its ratios against the reference.
// Usage: bun bench/run.ts [--quick]   (--quick: fewer pods/leases/seconds, for a smoke run)
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const quick = process.argv.includes("--quick");
const root = join(import.meta.dir, "..");
const bun = process.execPath;
const steps: [string, string[]][] = [
  ["startup", [join(root, "bench", "startup.ts"), quick ? "30" : "200"]],
  ["cni-latency", [join(root, "bench", "cni-latency.ts"), quick ? "30" : "200"]],
  ["cni-daemon", [join(root, "bench", "cni-daemon.ts"), quick ? "30" : "80"]],
  ["full-range", [join(root, "bench", "full-range.ts"), quick ? "10" : "40"]],
  [
    "daemon-scale",
    [join(root, "bench", "daemon-scale.ts"), quick ? "100,1000" : "100,1000,5000", quick ? "20" : "100"],
  ],
  ["dataplane", [join(root, "bench", "dataplane.ts"), quick ? "2" : "5"]],
];
let failed = 0;
for (const [name, args] of steps) {
  console.log(`\n=== ${name} ===`);
  const r = spawnSync(bun, args, { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exitCode = failed === 0 ? 0 : 1;
