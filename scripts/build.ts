// Build the weft binary (bun build --compile).
//   bun scripts/build.ts                         dist/weft for this machine + the role links in dist/bin (tests)
//   bun scripts/build.ts --target=linux-arm64    dist/linux-arm64/weft (also linux-x64, linux-x64-baseline, all)
// `npm run build -- --target=...` passes the arguments on. scripts/build-targets.ts lists the targets.
import { $ } from "bun";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { ROLES } from "../bin/roles.ts";
import { BUILD_FLAGS as flags } from "./build-flags.ts";
import { parseBuildArgs, runtimeIntegrity, TARGETS, targetOutfile, type TargetName } from "./build-targets.ts";

const root = join(import.meta.dir, "..");
const dist = join(root, "dist");

let request: ReturnType<typeof parseBuildArgs>;
try {
  request = parseBuildArgs(process.argv.slice(2));
} catch (e) {
  console.error((e as Error).message);
  process.exit(2);
}

const gen = join(root, "scripts", "gen-validators.ts");
if (existsSync(gen)) await $`bun ${gen}`.cwd(root);

// Worker threads are entry points of their own in a compiled binary, named by their path from --root
// (daemon/cni-server/server.ts and daemon/backend/udp/forwarder.ts start their workers by that name).
const entries = [
  join(root, "bin", "weft.ts"),
  join(root, "daemon", "cni-server", "worker.ts"),
  join(root, "daemon", "backend", "udp", "forwarder-worker.ts"),
];

async function compile(outfile: string, extra: readonly string[]): Promise<void> {
  mkdirSync(dirname(outfile), { recursive: true });
  await $`bun build ${flags} ${extra} --root ${root} ${entries} --outfile ${outfile}`.cwd(root).quiet();
}

/**
 * The Bun runtime for `target`, same version as the bun running this script: `npm pack` of its
 * @oven package (through npm's cache; `--prefer-offline` skips the registry when it is there),
 * checked against the pinned integrity, unpacked once into node_modules/.cache/weft-bun-runtimes.
 */
async function runtimeFor(target: TargetName): Promise<string> {
  const pkg = TARGETS[target].runtimePackage;
  const version = Bun.version;
  const dir = join(root, "node_modules", ".cache", "weft-bun-runtimes", `${pkg.replace("/", "+")}@${version}`);
  const bun = join(dir, "bun");
  if (existsSync(bun)) return bun;
  const want = runtimeIntegrity(version, target);
  mkdirSync(dir, { recursive: true });
  const packed = await $`npm pack ${pkg}@${version} --pack-destination ${dir} --prefer-offline --json`
    .cwd(dir)
    .quiet()
    .nothrow();
  if (packed.exitCode !== 0)
    throw new Error(`npm pack ${pkg}@${version} failed (is the npm registry reachable?): ${packed.stderr}`);
  const [info] = JSON.parse(packed.stdout.toString()) as { filename: string }[];
  if (!info) throw new Error(`npm pack ${pkg}@${version} printed no file`);
  const tgz = join(dir, info.filename);
  const got = `sha512-${createHash("sha512").update(readFileSync(tgz)).digest("base64")}`;
  if (got !== want) {
    rmSync(tgz, { force: true });
    throw new Error(`${pkg}@${version}: tarball integrity ${got} is not the pinned ${want}`);
  }
  await $`tar -xzf ${tgz} -C ${dir} package/bin/bun`.quiet();
  renameSync(join(dir, "package", "bin", "bun"), bun);
  chmodSync(bun, 0o755);
  rmSync(join(dir, "package"), { recursive: true, force: true });
  rmSync(tgz, { force: true });
  return bun;
}

const t0 = performance.now();
if (request.targets === undefined) {
  mkdirSync(join(dist, "bin"), { recursive: true });
  await compile(join(dist, "weft"), []);
  for (const role of Object.keys(ROLES)) {
    const link = join(dist, "bin", role);
    rmSync(link, { force: true });
    symlinkSync("../weft", link);
  }
  console.log(
    `built dist/weft and dist/bin/{${Object.keys(ROLES).join(",")}} in ${Math.round(performance.now() - t0)} ms`,
  );
} else {
  for (const target of request.targets) {
    const runtime = request.runtimePath ?? (await runtimeFor(target));
    const outfile = join(root, targetOutfile(target));
    await compile(outfile, [`--target=${TARGETS[target].bunTarget}`, `--compile-executable-path=${runtime}`]);
    console.log(`built ${targetOutfile(target)} (${TARGETS[target].bunTarget}, Bun ${Bun.version})`);
  }
  console.log(`in ${Math.round(performance.now() - t0)} ms`);
}
