// Start-up of each role with CNI_COMMAND=VERSION (no stdin read), ours vs the reference Go plugin
// where one exists, interleaved run by run so machine noise hits both alike.
// Usage: bun bench/startup.ts [runs]   (needs `npm run build`)
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fmtMs, ratio, summary, table } from "./stats.ts";

const root = join(import.meta.dir, "..");
const runs = Number(process.argv[2] ?? 200);
const ROLES = ["bridge", "host-local", "loopback", "flannel", "cnitool", "flanneld"] as const;
const REF = "/usr/lib/cni";

function once(path: string, env: Record<string, string>, args: string[] = []): number {
  const t0 = performance.now();
  const r = spawnSync(path, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const dt = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${path} exited ${r.status}: ${r.stderr}`);
  return dt;
}

/** A role that fails its VERSION probe (not built yet, broken) is reported, not measured. */
function works(path: string, env: Record<string, string>, args: string[]): boolean {
  return spawnSync(path, args, { env, stdio: "ignore" }).status === 0;
}

export function measureStartup(n = runs): string[][] {
  const rows: string[][] = [];
  for (const role of ROLES) {
    const ours = join(root, "dist", "bin", role);
    const ref = join(REF, role);
    const hasRef = existsSync(ref) && role !== "flannel";
    // flanneld and cnitool: --version is their cheapest start; plugins: CNI_COMMAND=VERSION.
    const isPlugin = role !== "cnitool" && role !== "flanneld";
    const env = isPlugin ? { CNI_COMMAND: "VERSION", PATH: process.env["PATH"] ?? "" } : { PATH: process.env["PATH"] ?? "" };
    const args = isPlugin ? [] : ["--version"];
    if (!works(ours, env, args)) {
      rows.push([role, isPlugin ? "VERSION" : "--version", "fails", "-", "-", "-"]);
      continue;
    }
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < 5; i++) once(ours, env, args);
    for (let i = 0; i < n; i++) {
      a.push(once(ours, env, args));
      if (hasRef) b.push(once(ref, env));
    }
    const sa = summary(a);
    const sb = summary(b);
    rows.push([role, isPlugin ? "VERSION" : "--version", fmtMs(sa.p50), fmtMs(sa.p90), hasRef ? fmtMs(sb.p50) : "-", hasRef ? ratio(sa.p50, sb.p50) : "-"]);
  }
  return rows;
}

if (import.meta.main) {
  const rows = measureStartup();
  console.log(`start-up, ${runs} runs each (spawn to exit, wall time)`);
  console.log(table(["role", "command", "weft p50", "weft p90", "reference p50", "ratio"], rows));
}
