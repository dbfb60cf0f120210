// Where the reference implementations live on this machine (Debian packages), and our build.
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";

export const REPO_ROOT = join(import.meta.dirname, "..", "..");
/** Debian's containernetworking-plugins (v1.1.1; spec up to 1.0.0). */
export const REFERENCE_PLUGIN_DIR = "/usr/lib/cni";
/** Our multi-call binary and its role links. */
export const WEFT_BIN = join(REPO_ROOT, "dist", "weft");
export const WEFT_PLUGIN_DIR = join(REPO_ROOT, "dist", "bin");
/** A cnitool built from Debian's Go libcni (golang-github-appc-cni-dev) by scripts/build-go-cnitool.sh. */
export const GO_CNITOOL = join(REPO_ROOT, "dist", "ref", "go-cnitool");

export function requireBuilt(path = WEFT_BIN): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` (npm test does it first)`);
  return path;
}

export function referencePlugin(name: string): string {
  const p = join(REFERENCE_PLUGIN_DIR, name);
  if (!existsSync(p) || !statSync(p).isFile()) {
    throw new Error(`${p} is missing: run scripts/install-deps.sh (Debian package containernetworking-plugins)`);
  }
  return p;
}
