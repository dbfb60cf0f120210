// The implementations the conformance suite runs against. PLUGIN_DIR (and CNITOOL) select one;
// by default both ours (dist/bin) and the reference (Debian's /usr/lib/cni) run.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REFERENCE_PLUGIN_DIR, WEFT_PLUGIN_DIR } from "../netns-fixtures/oracles/reference.ts";

export interface Impl {
  /** "weft" | "reference" | a custom label */
  readonly label: string;
  readonly pluginDir: string;
  /** the highest spec version its plugins support */
  readonly maxVersion: string;
  readonly isOurs: boolean;
}

export const WEFT: Impl = { label: "weft", pluginDir: WEFT_PLUGIN_DIR, maxVersion: "1.1.0", isOurs: true };
/** Debian's containernetworking-plugins 1.1.1: spec up to 1.0.0, no GC/STATUS, no flannel plugin. */
export const REFERENCE: Impl = {
  label: "reference",
  pluginDir: REFERENCE_PLUGIN_DIR,
  maxVersion: "1.0.0",
  isOurs: false,
};

export function implsUnderTest(): Impl[] {
  const dir = process.env["PLUGIN_DIR"];
  if (dir) {
    if (dir === REFERENCE_PLUGIN_DIR) return [REFERENCE];
    const isOurs = existsSync(join(dir, "weft")) || dir === WEFT_PLUGIN_DIR;
    return [isOurs ? { ...WEFT, pluginDir: dir } : { ...REFERENCE, label: `custom:${dir}`, pluginDir: dir }];
  }
  return [WEFT, REFERENCE];
}

export const ALL_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;

function cmp(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

export function versionsOf(impl: Impl): string[] {
  return ALL_VERSIONS.filter((v) => cmp(v, impl.maxVersion) <= 0);
}

export function atLeast(v: string, min: string): boolean {
  return cmp(v, min) >= 0;
}

/**
 * Where the implementations differ on purpose. The suite asserts each side's own expectation and
 * prints these so a reader sees why.
 */
export const DIFFERENCES = {
  errorCodes:
    "reference plugins return 999 for most plugin-level failures (they never build a typed CNI " +
    "error); weft returns the spec's code (7 bad config, 11 try again, 3 unknown container, 5 I/O)",
  failedAddLeak:
    "when bridge ADD fails after creating the veth pair, the reference " +
    "releases the IP but leaves the veth pair; weft unwinds everything it made",
  txqueuelen:
    "the pod veth's transmit queue length is 0 with Debian's bridge 1.1.1 (an " +
    "old Go netlink default, fixed upstream in plugins v1.6.0) and 1000 with ours",
  version110: "Debian's reference (1.1.1) predates spec 1.1.0: no GC/STATUS and VERSION tops out at 1.0.0",
  // The next three are exercised by plugins/bridge/bridge-differential.root.test.ts (its tables).
  sharedMasqChainDel:
    "two interfaces of one container share a masquerade chain; the reference's " +
    "DEL of one flushes the chain, then fails to delete it, and fails every retry; " +
    "weft removes only that interface's jumps and keeps the chain for the other",
  gonePodNetnsDel:
    "DEL after the pod netns is gone: the reference leaves the " +
    "masquerade chain and the spoof-check rules behind; weft removes them",
  gatewaylessRouteCheck:
    "CHECK of an attachment whose IPAM route has no gateway: the " +
    "reference's CHECK fails against its own ADD result; weft's passes",
} as const;
