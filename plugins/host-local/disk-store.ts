/**
 * The reference host-local on-disk store, byte for byte, so Weft and the Go plugin can share a
 * dataDir (and an upgrade in either direction keeps every reservation):
 *
 *   <dataDir>/<network>/                 directory, 0755
 *   <dataDir>/<network>/lock             flock(LOCK_EX) around every operation (opened O_CREAT|O_RDONLY, 0750)
 *   <dataDir>/<network>/<ip>             one per reservation, created O_EXCL 0600: `<trimmed id>\r\n<ifname>`
 *   <dataDir>/<network>/last_reserved_ip.<N>  0600, the IP text, no newline
 *
 * Differences from the reference, all invisible to it: last_reserved_ip is replaced atomically
 * (temp file, rename) instead of truncated in place, without fsync: it is only the round-robin
 * start, and a lost or empty one after a power cut makes the next ADD start at the range's
 * beginning, nothing worse, and an fsync there would lengthen every ADD; reservation files are fsync'd
 * (after the lock is released, before withLock resolves: see withLock); only
 * files named like an IP are reservations (the Go plugin also reads `lock`, `last_reserved_ip.*`
 * and strays when matching a container ID).
 *
 * The lock is taken through the injected `Locker` (linux/locker.ts): the binary passes the real flock, unit tests
 * an in-process one, so this module never touches bun:ffi.
 */
import {
  accessSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
  constants,
} from "node:fs";
import { join } from "node:path";
import type { Locker } from "../../linux/locker.ts";
import { parseIP } from "./ip.ts";
import { type Allocation, StoreBase, ownerRecord, parseOwnerRecord } from "./store.ts";

export const DEFAULT_DATA_DIR = "/var/lib/cni/networks";
export const LAST_RESERVED_PREFIX = "last_reserved_ip.";
export const LOCK_FILE = "lock";

export interface DiskStoreOptions {
  /** Parent of the per-network directories. @default "/var/lib/cni/networks" */
  readonly dataDir?: string;
  /** The network name: the directory under dataDir. */
  readonly network: string;
  /** Exclusive lock on `<dir>/lock`: flockLocker in the binary, testing/in-process-locker.ts in unit tests. */
  readonly locker: Locker;
}

function syncFile(path: string): void {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function errno(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : undefined;
}

/** The reservations in one network directory (files named like an IP), read without the lock. */
export function readReservations(dir: string): Allocation[] {
  const out: Allocation[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile() || parseIP(entry.name) === undefined) continue;
    let text: string;
    try {
      text = readFileSync(join(dir, entry.name), "utf8");
    } catch {
      continue; // released between readdir and read: not ours to report
    }
    out.push(parseOwnerRecord(entry.name, text));
  }
  return out;
}

export class DiskStore extends StoreBase {
  /** `<dataDir>/<network>`. */
  readonly dir: string;
  readonly #locker: Locker;
  /** Reservation files created under the current lock (path, record), fsync'd once it is released. */
  readonly #unsynced: { readonly path: string; readonly record: string }[] = [];

  /** Creates the network directory (0755, with parents) like the reference's New(). */
  constructor(o: DiskStoreOptions) {
    super();
    this.dir = join(o.dataDir || DEFAULT_DATA_DIR, o.network);
    this.#locker = o.locker;
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
  }

  /**
   * Run `fn` under the network's lock, then make the reservations it created durable. The fsync
   * happens after the flock is released so concurrent ADDs do not queue behind each other's disk
   * flush (inside the lock, every ADD would wait for the journal commits of all before it); the
   * caller still only learns of a reservation, and reports it, once it is on disk. A reservation
   * that cannot be synced is removed again (under the lock, if it still holds our record) and the
   * error thrown.
   */
  async withLock<T>(fn: () => T): Promise<T> {
    const lock = join(this.dir, LOCK_FILE);
    let out: T;
    try {
      out = await this.#locker.withLock(lock, fn);
    } catch (e) {
      this.#unsynced.length = 0;
      throw e;
    }
    const created = this.#unsynced.splice(0);
    try {
      for (const { path } of created) syncFile(path);
    } catch (e) {
      await this.#locker.withLock(lock, () => {
        for (const { path, record } of created) if (readOr(path) === record) rmSync(path, { force: true });
      });
      throw e;
    }
    return out;
  }

  reserve(ip: string, containerID: string, ifname: string): boolean {
    const path = join(this.dir, ip);
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
    } catch (e) {
      if (errno(e) === "EEXIST") return false;
      throw e;
    }
    const record = ownerRecord(containerID, ifname);
    try {
      writeSync(fd, record);
    } catch (e) {
      closeSync(fd);
      rmSync(path, { force: true });
      throw e;
    }
    closeSync(fd);
    this.#unsynced.push({ path, record });
    return true;
  }

  lastReserved(rangeID: string): string | undefined {
    try {
      return readFileSync(join(this.dir, LAST_RESERVED_PREFIX + rangeID), "utf8");
    } catch {
      return undefined;
    }
  }

  setLastReserved(rangeID: string, ip: string): void {
    const final = join(this.dir, LAST_RESERVED_PREFIX + rangeID);
    const temp = join(this.dir, `.${LAST_RESERVED_PREFIX}${rangeID}.${process.pid}.tmp`);
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    try {
      writeSync(fd, ip);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(temp, final);
    } catch (e) {
      rmSync(temp, { force: true });
      throw e;
    }
  }

  list(): Allocation[] {
    return readReservations(this.dir);
  }

  probe(): void {
    accessSync(this.dir, constants.W_OK);
  }

  release(ip: string): boolean {
    try {
      unlinkSync(join(this.dir, ip));
      return true;
    } catch (e) {
      if (errno(e) === "ENOENT") return false;
      throw e;
    }
  }
}
