// Build dist/weft (bun build --compile) and the role links in dist/bin.
// Usage: bun scripts/build.ts
import { $ } from "bun";
import { mkdirSync, rmSync, symlinkSync, existsSync } from "node:fs";
import { join } from "node:path";
import { ROLES } from "../bin/roles.ts";
import { BUILD_FLAGS as flags } from "./build-flags.ts";

const root = join(import.meta.dir, "..");
const dist = join(root, "dist");
mkdirSync(join(dist, "bin"), { recursive: true });

const gen = join(root, "scripts", "gen-validators.ts");
if (existsSync(gen)) await $`bun ${gen}`.cwd(root);

const t0 = performance.now();
// Worker threads are entry points of their own in a compiled binary, named by their path from --root
// (daemon/cni-server/server.ts and daemon/backend/udp/forwarder.ts start their workers by that name).
const workers = [
  join(root, "daemon", "cni-server", "worker.ts"),
  join(root, "daemon", "backend", "udp", "forwarder-worker.ts"),
];
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
