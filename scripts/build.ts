// Build dist/weft (bun build --compile) and the role links in dist/bin.
// Usage: bun scripts/build.ts
import { $ } from "bun";
import { mkdirSync, rmSync, symlinkSync, existsSync } from "node:fs";
import { join } from "node:path";
import { ROLES } from "../bin/roles.ts";

const root = join(import.meta.dir, "..");
const dist = join(root, "dist");
mkdirSync(join(dist, "bin"), { recursive: true });

const gen = join(root, "scripts", "gen-validators.ts");
if (existsSync(gen)) await $`bun ${gen}`.cwd(root);

const t0 = performance.now();
// --bytecode: precompiled bytecode (CJS), so an exec does not parse the source. No .env / bunfig.toml /
// tsconfig.json / package.json autoload (the last two are off by default; said anyway): a file in the
// kubelet's working directory must never change what a plugin does.
// --compile-jit-policy=10: JIT tier-up thresholds x10. A CNI exec is a short burst of run-once code;
// compiling it on the JIT threads costs more CPU than it saves. bin/weft.ts restores the normal policy
// for flanneld, which runs for days.
// --format=esm --splitting: each role (a dynamic import in bin/roles.ts) becomes its own chunk, so an
// exec loads the bytecode of its role only, not the daemon's and cnitool's. Node builtins imported by
// a chunk load with that chunk.
// BENCHMARKS.md has what each of these saves.
const flags = [
  "--compile",
  "--bytecode",
  "--format=esm",
  "--splitting",
  "--minify",
  "--sourcemap=none",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  "--no-compile-autoload-tsconfig",
  "--no-compile-autoload-package-json",
  "--compile-jit-policy=10",
];
// Worker threads are entry points of their own in a compiled binary, named by their path from --root
// (daemon/cni-server/server.ts starts its worker by that name).
const workers = [join(root, "daemon", "cni-server", "worker.ts")];
await $`bun build ${flags} --root ${root} ${join(root, "bin", "weft.ts")} ${workers} --outfile ${join(dist, "weft")}`
  .cwd(root)
  .quiet();
for (const role of Object.keys(ROLES)) {
  const link = join(dist, "bin", role);
  rmSync(link, { force: true });
  symlinkSync("../weft", link);
}
console.log(
  `built dist/weft and dist/bin/{${Object.keys(ROLES).join(",")}} in ${Math.round(performance.now() - t0)} ms`,
);
