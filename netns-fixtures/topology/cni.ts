// Driving CNI from tests: a runtime (our cnitool or the Go-libcni oracle) against a plugin directory,
// from inside a node netns, with its own config dir, cache dir and IPAM data dir.
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  existsSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runIn, type RunResult } from "./sh.ts";

export interface CniRuntimeSpec {
  /** cnitool-compatible executable: dist/bin/cnitool or dist/ref/go-cnitool */
  readonly cnitool: string;
  /** directories searched for plugins, in order */
  readonly pluginPath: readonly string[];
}

/** A scratch area: conf dir, cache dir, IPAM data dir. Removed by dispose(). */
export class CniScratch {
  readonly root: string;
  readonly confDir: string;
  readonly cacheDir: string;
  readonly dataDir: string;
  constructor(prefix: string) {
    this.root = mkdtempSync(join(tmpdir(), `${prefix}-cni-`));
    this.confDir = join(this.root, "net.d");
    this.cacheDir = join(this.root, "cache");
    this.dataDir = join(this.root, "ipam");
    for (const d of [this.confDir, this.cacheDir, this.dataDir]) mkdirSync(d, { recursive: true });
  }
  writeConf(file: string, conf: unknown): void {
    writeFileSync(join(this.confDir, file), JSON.stringify(conf, null, 2));
  }
  dispose(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

export function cnitool(
  rt: CniRuntimeSpec,
  scratch: CniScratch,
  opts: {
    readonly node: string;
    readonly cmd: string;
    readonly net: string;
    readonly netnsPath: string;
    readonly env?: Record<string, string>;
  },
): Promise<RunResult> {
  return runIn(opts.node, rt.cnitool, [opts.cmd, opts.net, opts.netnsPath], {
    allowFail: true,
    env: {
      NETCONFPATH: scratch.confDir,
      CNI_PATH: rt.pluginPath.join(":"),
      CNI_CACHE_DIR: scratch.cacheDir,
      ...opts.env,
    },
  });
}

/** Every file under dir (relative path -> content), for byte-level comparison of on-disk state. */
export function snapshotFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      if (statSync(p).isDirectory()) walk(p, r);
      else out[r] = readFileSync(p, "utf8");
    }
  };
  walk(dir, "");
  return out;
}
