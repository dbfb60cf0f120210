/**
 * The reference host-local on-disk store, byte for byte, so Weft and the Go plugin can share a
 * dataDir (and an upgrade in either direction keeps every reservation):
 *
 *   <dataDir>/<network>/                 directory, 0755
 *   <dataDir>/<network>/lock             flock(LOCK_EX) around every operation (opened O_CREAT|O_RDONLY, 0750)
 *   <dataDir>/<network>/<ip>             one per reservation, created exclusively, 0600: `<trimmed id>\r\n<ifname>`
 *   <dataDir>/<network>/last_reserved_ip.<N>  0600, the IP text, no newline
 *
 * Differences from the reference, all invisible to it:
 * - Files appear complete or not at all (the injected FileWriter: O_TMPFILE + linkat in the binary):
 *   a reservation is written before its name exists, and linkat fails on an existing name like the
 *   reference's O_EXCL create, so the two stay exclusive against each other. A host-local killed at
 *   any point leaves neither a truncated file nor a temporary one.
 * - An empty or unreadable reservation found under the lock can only be the orphan of a writer killed
 *   between creating and writing it (every writer holds the lock while it writes; the reference can
 *   leave one): it is removed, and logged, so its IP is not lost for good.
 * - Nothing is fsync'd, like the reference: a reservation protects an address of a running pod, and
 *   a power cut ends every pod it could protect; page-cache writes already survive a killed process.
 * - Only regular files named like an IP are reservations (the Go plugin also reads `lock`,
 *   `last_reserved_ip.*` and strays when matching a container ID), read O_NONBLOCK and capped.
 * - The directory is read once per locked operation: an allocation skips the addresses listed there
 *   instead of trying to create each one (a nearly full range costs one directory read).
 *
 * The lock is taken through the injected `Locker` (linux/locker.ts): the binary passes the real flock, unit tests
 * an in-process one, so this module never touches bun:ffi.
 */
import { closeSync, constants, mkdirSync, openSync, readSync, readdirSync, unlinkSync, accessSync } from "node:fs";
import { join } from "node:path";
import { type FileWriter, isTempName, namedTempWriter } from "../../net/file-writer.ts";
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
  /** How files get their content: unnamedFileWriter in the binary. @default namedTempWriter */
  readonly files?: FileWriter;
  /** Where reclaimed orphans are reported (stderr in the binary). @default nowhere */
  readonly log?: (msg: string) => void;
}

/** The most of a reservation read: a record is a container ID and an interface name. */
const RECORD_MAX_BYTES = 4096;
const recordBuf = Buffer.allocUnsafe(RECORD_MAX_BYTES);

/** A small file's first RECORD_MAX_BYTES as text; O_NONBLOCK, so a FIFO swapped in reads as empty. */
function readSmall(path: string): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    let n = 0;
    for (;;) {
      const got = readSync(fd, recordBuf, n, RECORD_MAX_BYTES - n, null);
      if (got === 0 || (n += got) === RECORD_MAX_BYTES) break;
    }
    return recordBuf.toString("utf8", 0, n);
  } finally {
    closeSync(fd);
  }
}

function errno(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : undefined;
}

/** A record with nothing in it but white space or NULs: what a writer killed before writing leaves. */
const EMPTY_RECORD = /^[\s\0]*$/;

/**
 * The reservations in one network directory (files named like an IP), read without the lock, for
 * reports (metrics, doctor): nothing is reclaimed or swept here, an empty record is skipped.
 */
export function readReservations(dir: string): Allocation[] {
  const out: Allocation[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile() || parseIP(entry.name) === undefined) continue;
    let text: string;
    try {
      text = readSmall(join(dir, entry.name));
    } catch {
      continue; // released between readdir and read: not ours to report
    }
    if (EMPTY_RECORD.test(text)) continue;
    out.push(parseOwnerRecord(entry.name, text));
  }
  return out;
}

export class DiskStore extends StoreBase {
  /** `<dataDir>/<network>`. */
  readonly dir: string;
  readonly #locker: Locker;
  readonly #files: FileWriter;
  readonly #log: (msg: string) => void;
  readonly #network: string;

  /** Creates the network directory (0755, with parents) like the reference's New(). */
  constructor(o: DiskStoreOptions) {
    super();
    this.dir = join(o.dataDir || DEFAULT_DATA_DIR, o.network);
    this.#network = o.network;
    this.#locker = o.locker;
    this.#files = o.files ?? namedTempWriter;
    this.#log = o.log ?? (() => undefined);
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
  }

  /** Run `fn` under the network's lock. */
  withLock<T>(fn: () => T): Promise<T> {
    return this.#locker.withLock(join(this.dir, LOCK_FILE), fn);
  }

  reserve(ip: string, containerID: string, ifname: string): boolean {
    return this.#files.create(join(this.dir, ip), ownerRecord(containerID, ifname), 0o600);
  }

  lastReserved(rangeID: string): string | undefined {
    try {
      return readSmall(join(this.dir, LAST_RESERVED_PREFIX + rangeID));
    } catch {
      return undefined;
    }
  }

  setLastReserved(rangeID: string, ip: string): void {
    this.#files.replace(join(this.dir, LAST_RESERVED_PREFIX + rangeID), ip, 0o600);
  }

  /**
   * Every reservation, read once. Under the lock nobody is writing, so an empty or unreadable
   * reservation is a killed writer's orphan (removed and logged), and a named writer's temp file
   * is a killed writer's leftover (removed).
   */
  list(): Allocation[] {
    const out: Allocation[] = [];
    for (const entry of readdirSync(this.dir, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const name = entry.name;
      if (isTempName(name)) {
        this.#unlink(name);
        continue;
      }
      if (parseIP(name) === undefined) continue;
      let text: string;
      try {
        text = readSmall(join(this.dir, name));
      } catch (e) {
        if (errno(e) === "ENOENT") continue;
        this.#reclaim(name, `it cannot be read (${errno(e) ?? String(e)})`);
        continue;
      }
      if (EMPTY_RECORD.test(text)) {
        this.#reclaim(name, "it was empty, left by a host-local killed between creating and writing it");
        continue;
      }
      out.push(parseOwnerRecord(name, text));
    }
    return out;
  }

  #reclaim(ip: string, why: string): void {
    if (this.#unlink(ip)) this.#log(`reclaimed ${ip} of network ${this.#network}: ${why}`);
  }

  #unlink(name: string): boolean {
    try {
      unlinkSync(join(this.dir, name));
      return true;
    } catch (e) {
      if (errno(e) === "ENOENT") return false;
      throw e;
    }
  }

  probe(): void {
    accessSync(this.dir, constants.W_OK);
  }

  release(ip: string): boolean {
    return this.#unlink(ip);
  }
}
