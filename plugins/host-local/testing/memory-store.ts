/**
 * In-memory IpamStore for unit tests and dry runs. It keeps the same records the disk store writes
 * (`<id>\r\n<ifname>` per IP), so the ownership rules of `StoreBase` see identical input, and it
 * serialises `withLock` callers like the flock does.
 */
import { type Allocation, type IpamStore, StoreBase, ownerRecord, parseOwnerRecord } from "../store.ts";

export class MemoryStore extends StoreBase {
  /** IP -> record text, exactly what the disk store would put in the file. */
  readonly records = new Map<string, string>();
  /** range-set index -> last reserved IP. */
  readonly last = new Map<string, string>();
  /** How many times the lock was taken (tests check operations are locked). */
  lockCount = 0;
  /** When set, probe() throws it (a store that cannot take reservations). */
  unusable: Error | undefined;
  #held = false;
  #queue: Promise<unknown> = Promise.resolve();

  async withLock<T>(fn: () => T): Promise<T> {
    const run = this.#queue.then(() => {
      this.lockCount++;
      this.#held = true;
      try {
        return fn();
      } finally {
        this.#held = false;
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** True while a `withLock` callback runs; stores assert on it to catch unlocked access. */
  get held(): boolean {
    return this.#held;
  }

  #mustHold(op: string): void {
    if (!this.#held) throw new Error(`MemoryStore.${op} called without the lock`);
  }

  reserve(ip: string, containerID: string, ifname: string): boolean {
    this.#mustHold("reserve");
    if (this.records.has(ip)) return false;
    this.records.set(ip, ownerRecord(containerID, ifname));
    return true;
  }

  lastReserved(rangeID: string): string | undefined {
    this.#mustHold("lastReserved");
    return this.last.get(rangeID);
  }

  setLastReserved(rangeID: string, ip: string): void {
    this.#mustHold("setLastReserved");
    this.last.set(rangeID, ip);
  }

  list(): Allocation[] {
    this.#mustHold("list");
    return [...this.records].map(([ip, text]) => parseOwnerRecord(ip, text));
  }

  probe(): void {
    if (this.unusable) throw this.unusable;
  }

  release(ip: string): boolean {
    this.#mustHold("release");
    return this.records.delete(ip);
  }
}

// Compile-time check that the fake keeps up with the interface.
const _check: IpamStore = new MemoryStore();
void _check;
