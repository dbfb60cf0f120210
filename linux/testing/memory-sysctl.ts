/** A Sysctl fake for unit tests, keyed like /proc/sys. */
import { sysctlPath, type Sysctl } from "../sysctl.ts";

/** In-memory fake: unknown keys throw like a missing /proc/sys file; `writes` records every set. */
export class MemorySysctl implements Sysctl {
  readonly writes: { key: string; value: string }[] = [];
  private readonly values = new Map<string, string>();
  constructor(initial: Readonly<Record<string, string | number>> = {}) {
    for (const [k, v] of Object.entries(initial)) this.values.set(sysctlPath(k), String(v));
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
}
