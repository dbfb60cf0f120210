// Start-up of each role with CNI_COMMAND=VERSION (no stdin read), ours vs the reference Go plugin
// where one exists, interleaved run by run so machine noise hits both alike. Wall time (spawn to
// exit) and CPU time (user+sys from the child's rusage, all its threads), which a loaded machine
// disturbs much less.
// Usage: bun bench/startup.ts [runs]   (needs `npm run build`)
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { BUILD_FLAGS } from "../scripts/build-flags.ts";
import { join } from "node:path";
import { fmtMs, ratio, summary, table } from "./stats.ts";

const root = join(import.meta.dir, "..");
const runs = Number(process.argv[2] ?? 200);
const ROLES = ["bridge", "host-local", "loopback", "flannel", "cnitool", "flanneld"] as const;
const REF = "/usr/lib/cni";

function once(path: string, env: Record<string, string>, args: string[] = []): { wall: number; cpu: number } {
  const t0 = performance.now();
  const r = Bun.spawnSync([path, ...args], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const wall = performance.now() - t0;
  if (r.exitCode !== 0) throw new Error(`${path} exited ${r.exitCode}: ${r.stderr.toString()}`);
  const cpu = r.resourceUsage?.cpuTime;
  return { wall, cpu: cpu ? Number(cpu.user + cpu.system) / 1000 : Number.NaN };
}

/** A role that fails its VERSION probe (not built yet, broken) is reported, not measured. */
function works(path: string, env: Record<string, string>, args: string[]): boolean {
  return Bun.spawnSync([path, ...args], { env, stdin: "ignore", stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}

export function measureStartup(n = runs): string[][] {
  const rows: string[][] = [];
  for (const role of ROLES) {
    const ours = join(root, "dist", "bin", role);
    const ref = join(REF, role);
    const hasRef = existsSync(ref) && role !== "flannel";
    // Plugins: CNI_COMMAND=VERSION; flanneld: --version; cnitool (no --version, like the
    // reference): --help. Each is that role's cheapest complete start.
    const isPlugin = role !== "cnitool" && role !== "flanneld";
    const env = isPlugin
      ? { CNI_COMMAND: "VERSION", PATH: process.env["PATH"] ?? "" }
      : { PATH: process.env["PATH"] ?? "" };
    const args = isPlugin ? [] : [role === "cnitool" ? "--help" : "--version"];
    const what = isPlugin ? "VERSION" : (args[0] ?? "");
    if (!works(ours, env, args)) {
      rows.push([role, what, "fails", "-", "-", "-", "-", "-", "-"]);
      continue;
    }
    const a: number[] = [];
    const b: number[] = [];
    const ac: number[] = [];
    const bc: number[] = [];
    for (let i = 0; i < 5; i++) once(ours, env, args);
    for (let i = 0; i < n; i++) {
      const x = once(ours, env, args);
      a.push(x.wall);
      ac.push(x.cpu);
      if (hasRef) {
        const y = once(ref, env);
        b.push(y.wall);
        bc.push(y.cpu);
      }
    }
    const [sa, sb, sac, sbc] = [summary(a), summary(b), summary(ac), summary(bc)];
    const refCol = (x: number): string => (hasRef ? fmtMs(x) : "-");
    rows.push([
      role,
      what,
      fmtMs(sa.p50),
      fmtMs(sa.p90),
      refCol(sb.p50),
      hasRef ? ratio(sa.p50, sb.p50) : "-",
      fmtMs(sac.p50),
      refCol(sbc.p50),
      hasRef ? ratio(sac.p50, sbc.p50) : "-",
    ]);
  }
  return rows;
}

/**
 * `bridge` answering VERSION next to a minimal compiled Bun program doing the same I/O (read stdin,
 * print the same line), built with our build flags: how much of a plugin exec is Bun's own start.
 */
export function versionVsMinimalBun(n = runs): string[][] {
  const dir = mkdtempSync(join(tmpdir(), "weft-minbun-"));
  try {
    const src = join(dir, "min.ts");
    const versions = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];
    const answer = `${JSON.stringify({ cniVersion: "1.1.0", supportedVersions: versions })}\n`;
    writeFileSync(
      src,
      `import { readSync, writeSync } from "node:fs";\n` +
        `try { readSync(0, Buffer.alloc(4096), 0, 4096, null); } catch {}\n` +
        `writeSync(1, ${JSON.stringify(answer)});\n`,
    );
    const bin = join(dir, "min");
    const b = Bun.spawnSync([process.execPath, "build", ...BUILD_FLAGS, src, "--outfile", bin], { stdout: "ignore" });
    if (b.exitCode !== 0) throw new Error(`building the minimal Bun program failed: ${b.stderr.toString()}`);
    const bridge = join(root, "dist", "bin", "bridge");
    const env = { CNI_COMMAND: "VERSION", PATH: process.env["PATH"] ?? "" };
    const ours: number[] = [];
    const min: number[] = [];
    for (let i = 0; i < 5; i++) once(bridge, env), once(bin, env);
    for (let i = 0; i < n; i++) {
      ours.push(once(bridge, env).wall);
      min.push(once(bin, env).wall);
    }
    const [a, m] = [summary(ours), summary(min)];
    return [["bridge VERSION vs a minimal compiled Bun program", fmtMs(a.p50), fmtMs(m.p50), ratio(a.p50, m.p50)]];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const rows = measureStartup();
  console.log(`start-up, ${runs} runs each (wall: spawn to exit; CPU: user+sys of the child, all threads)`);
  console.log(
    table(
      ["role", "command", "weft p50", "weft p90", "reference p50", "ratio", "weft CPU p50", "ref CPU p50", "CPU ratio"],
      rows,
    ),
  );
  console.log("");
  console.log(table(["start-up", "bridge p50", "minimal Bun p50", "ratio"], versionVsMinimalBun()));
}
