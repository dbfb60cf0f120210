#!/usr/bin/env bun
// Entry of the multi-call binary: pick a role, run it, exit with its code. Nothing else lives here.
import { writeSync } from "node:fs";
import { trace } from "../libcni/trace.ts";
import { CURRENT_VERSION, SPEC_VERSIONS } from "../libcni/version.ts";
import { CNI_PLUGIN_ROLES, ROLES, selectRole } from "./roles.ts";
import { VERSION } from "./version.ts";

/**
 * What every plugin of ours answers to CNI_COMMAND=VERSION (each definition lists SPEC_VERSIONS):
 * printed here, before a role's code is loaded, as the skel would print it.
 */
const VERSION_ANSWER = `${JSON.stringify({ cniVersion: CURRENT_VERSION, supportedVersions: SPEC_VERSIONS })}\n`;

function usage(): string {
  const width = Math.max(...Object.keys(ROLES).map((n) => n.length));
  const lines = Object.entries(ROLES).map(([name, r]) => `  ${name.padEnd(width)} ${r.about}`);
  return [
    `weft ${VERSION}: Flannel for Kubernetes in one binary.`,
    "",
    "Run as a link named after a role (/opt/cni/bin/bridge -> weft), or as `weft <role> [args]`.",
    "Roles:",
    ...lines,
    "",
    "  weft --version   print the version",
    "",
  ].join("\n");
}

async function run(): Promise<number> {
  const args = process.argv.slice(2);
  // Under `bun bin/weft.ts` argv0 is "bun"; in the compiled binary it is the invoked name.
  const picked = selectRole(process.argv0, args);
  if (!picked) {
    const a = args[0];
    if (a === "--version" || a === "version") {
      process.stdout.write(`weft ${VERSION}\nroles: ${Object.keys(ROLES).join(", ")}\n`);
      return 0;
    }
    if (a === undefined || a === "--help" || a === "-h" || a === "help") {
      process.stdout.write(usage());
      return 0;
    }
    process.stderr.write(`weft: unknown role "${a}"; expected one of: ${Object.keys(ROLES).join(", ")}\n`);
    return 2;
  }
  trace(`weft: entry, role ${picked.role}`);
  if (CNI_PLUGIN_ROLES.has(picked.role) && process.env["CNI_COMMAND"] === "VERSION") {
    writeSync(1, VERSION_ANSWER);
    return 0;
  }
  // The binary starts with JIT tier-up thresholds scaled up (scripts/build.ts: a CNI exec is
  // run-once code, compiling it costs more CPU than it saves). The daemon runs for days: normal JIT.
  if (picked.role === "flanneld" && typeof Bun !== "undefined") Bun.unsafe.setJITPolicy(1);
  const mod = await ROLES[picked.role].load();
  trace(`weft: role ${picked.role} loaded`);
  const code = await mod.main(picked.rest);
  trace(`weft: role ${picked.role} done, exit ${code}`);
  return code;
}

void run().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`weft: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 70;
  },
);
