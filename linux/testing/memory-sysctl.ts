/** A Sysctl fake for unit tests, keyed like /proc/sys. */
import { sysctlPath, type Sysctl } from "../sysctl.ts";

const ROOT = "/proc/sys/";

/**
 * In-memory fake: unknown keys throw like a missing /proc/sys file; `writes` records every set.
 * `add` and `remove` create and drop keys the way the kernel does when an interface appears or goes.
 */
export class MemorySysctl implements Sysctl {
  readonly writes: { key: string; value: string }[] = [];
  private readonly values = new Map<string, string>();
  constructor(initial: Readonly<Record<string, string | number>> = {}) {
    for (const [k, v] of Object.entries(initial)) this.add(k, v);
  }
  get(key: string): string {
    const v = this.values.get(sysctlPath(key));
    if (v === undefined)
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${sysctlPath(key)}'`), {
        code: "ENOENT",
      });
    return v;
  }
  set(key: string, value: string | number): void {
    this.get(key);
    this.values.set(sysctlPath(key), String(value));
    this.writes.push({ key, value: String(value) });
  }
  /** Create a key (or give it a new value) without recording a write. */
  add(key: string, value: string | number): void {
    this.values.set(sysctlPath(key), String(value));
  }
  remove(key: string): void {
    this.values.delete(sysctlPath(key));
  }
  /** Every key under `dir` (e.g. "net/ipv6/conf/default"), as a slash path relative to /proc/sys. */
  keysUnder(dir: string): string[] {
    const prefix = `${sysctlPath(dir)}/`;
    return [...this.values.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(ROOT.length));
  }
}
