/**
 * /proc/sys reads and writes, synchronous on purpose: inside `withNetns` the calling thread is
 * in the pod's netns, and /proc/sys/net shows the netns of the thread that opens the file.
 * Pure node:fs (no FFI), with the `Sysctl` interface (linux/testing/memory-sysctl.ts is its fake).
 */
import { readFileSync, writeFileSync } from "node:fs";

/** Read and write kernel parameters by key. */
export interface Sysctl {
  get(key: string): string;
  set(key: string, value: string | number): void;
}

/**
 * `/proc/sys/<path>` for a key. Keys with a `/` are paths (`net/ipv6/conf/flannel.1/accept_ra`:
 * use this form when an interface name has dots); otherwise dots separate the parts
 * (`net.ipv4.ip_forward`).
 */
export function sysctlPath(key: string, root = "/proc/sys"): string {
  const rel = key.includes("/") ? key.replace(/^\/+/, "") : key.replaceAll(".", "/");
  if (rel.split("/").some((p) => p === ".." || p === "")) throw new TypeError(`invalid sysctl key "${key}"`);
  return `${root}/${rel}`;
}

/** The kernel's /proc/sys, or another directory laid out like it (tests). */
export class ProcSysctl implements Sysctl {
  constructor(private readonly root = "/proc/sys") {}
  get(key: string): string {
    return readFileSync(sysctlPath(key, this.root), "utf8").trim();
  }
  set(key: string, value: string | number): void {
    writeFileSync(sysctlPath(key, this.root), `${value}\n`, { flag: "w" });
  }
}

/** The default, process-wide /proc/sys. */
export const procSysctl: Sysctl = new ProcSysctl();

/** Write `value` only when the current value differs; returns whether it wrote. */
export function ensureSysctl(sys: Sysctl, key: string, value: string | number): boolean {
  if (sys.get(key) === String(value)) return false;
  sys.set(key, value);
  return true;
}
