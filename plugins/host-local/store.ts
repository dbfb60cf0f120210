/**
 * Where host-local keeps its reservations: one record per reserved IP, owned by an attachment
 * (container ID + interface name), plus one "last reserved IP" per range-set index for round-robin.
 * `DiskStore` is the reference on-disk layout; `MemoryStore` (testing/) is the in-process fake. Both extend
 * `StoreBase`, which holds the ownership rules (trimmed container ID, legacy "ID only" records) so
 * they are written and tested once.
 *
 * Every method except `withLock` must be called inside `withLock`: the lock is what makes the
 * read-decide-write steps of an allocation atomic against other host-local processes.
 */

/** One reserved IP and who holds it. */
export interface Allocation {
  /** The IP as Go prints it (also the file name on disk). */
  readonly ip: string;
  /** The holder's container ID, trimmed. */
  readonly containerID: string;
  /** The holder's interface; undefined for a legacy record that stored only the container ID. */
  readonly ifname: string | undefined;
}

export interface IpamStore {
  /** Run `fn` holding the network's exclusive lock (flock on `<dir>/lock` for the disk store). */
  withLock<T>(fn: () => T): Promise<T>;
  /** Reserve `ip` for (containerID, ifname); false when it is already reserved (by anyone). */
  reserve(ip: string, containerID: string, ifname: string): boolean;
  /** The last IP reserved from range set `rangeID` ("0", "1", ...), if recorded and readable. */
  lastReserved(rangeID: string): string | undefined;
  setLastReserved(rangeID: string, ip: string): void;
  /** Every reservation of the network (the bookkeeping files are not reservations). */
  list(): Allocation[];
  /** Drop the reservation of `ip`; false when there was none. */
  release(ip: string): boolean;
  /** IPs held by (containerID, ifname), or by a legacy record of containerID: the duplicate-ADD check. */
  getByID(containerID: string, ifname: string): string[];
  /** IPs held by (containerID, ifname); if none, those of legacy records of containerID (CHECK). */
  findByID(containerID: string, ifname: string): string[];
  /** Throw if new reservations cannot be written (STATUS); needs no lock. */
  probe(): void;
  /** Release what findByID finds (DEL); returns the released IPs. */
  releaseByID(containerID: string, ifname: string): string[];
}

/** The record text the reference writes: `<trimmed id>\r\n<ifname>`, no trailing newline. */
export function ownerRecord(containerID: string, ifname: string): string {
  return `${containerID.trim()}\r\n${ifname}`;
}

/** Read a record back; text without `\r\n` is a legacy record holding only the container ID. */
export function parseOwnerRecord(ip: string, text: string): Allocation {
  const trimmed = text.trim();
  const cut = trimmed.indexOf("\r\n");
  if (cut < 0) return { ip, containerID: trimmed, ifname: undefined };
  return { ip, containerID: trimmed.slice(0, cut), ifname: trimmed.slice(cut + 2) };
}

function isOwnedBy(a: Allocation, containerID: string, ifname: string): boolean {
  return a.ifname === ifname && a.containerID === containerID.trim();
}

function isLegacyOf(a: Allocation, containerID: string): boolean {
  return a.ifname === undefined && a.containerID === containerID.trim();
}

/** Name order (byte order, like Go's sorted directory walk). */
function byName(a: Allocation, b: Allocation): number {
  return a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0;
}

/**
 * The IPs of `all` held by (containerID, ifname) or by a legacy record of containerID, in file-name
 * order: the duplicate-ADD check (see StoreBase.getByID).
 */
export function heldBy(all: readonly Allocation[], containerID: string, ifname: string): string[] {
  return all
    .filter((a) => isOwnedBy(a, containerID, ifname) || isLegacyOf(a, containerID))
    .sort(byName)
    .map((a) => a.ip);
}

/** The ownership rules over the primitive operations; concrete stores supply the primitives. */
export abstract class StoreBase implements IpamStore {
  abstract withLock<T>(fn: () => T): Promise<T>;
  abstract reserve(ip: string, containerID: string, ifname: string): boolean;
  abstract lastReserved(rangeID: string): string | undefined;
  abstract setLastReserved(rangeID: string, ip: string): void;
  abstract list(): Allocation[];
  abstract release(ip: string): boolean;
  abstract probe(): void;

  /**
   * Every reservation in file-name byte order, the order of the reference's directory walk
   * (Go's filepath.Walk sorts names), so "the first address a container holds" is the same IP
   * in both (the duplicate-ADD message names it); readdir and Map order are arbitrary.
   */
  #sorted(): Allocation[] {
    return this.list().sort(byName);
  }

  getByID(containerID: string, ifname: string): string[] {
    return heldBy(this.list(), containerID, ifname);
  }

  findByID(containerID: string, ifname: string): string[] {
    const all = this.#sorted();
    const current = all.filter((a) => isOwnedBy(a, containerID, ifname));
    const found = current.length > 0 ? current : all.filter((a) => isLegacyOf(a, containerID));
    return found.map((a) => a.ip);
  }

  releaseByID(containerID: string, ifname: string): string[] {
    return this.findByID(containerID, ifname).filter((ip) => this.release(ip));
  }
}

/** One attachment the runtime still uses (an entry of `cni.dev/valid-attachments`). */
export interface Attachment {
  readonly containerID: string;
  readonly ifname: string;
}

/**
 * The reservations GC must release: those whose (containerID, ifname) is not a valid attachment.
 * A legacy record (no ifname) is kept while any valid attachment has its container ID.
 */
export function staleAllocations(all: readonly Allocation[], valid: readonly Attachment[]): Allocation[] {
  const pairs = new Set(valid.map((v) => ownerRecord(v.containerID, v.ifname)));
  const ids = new Set(valid.map((v) => v.containerID.trim()));
  return all.filter((a) =>
    a.ifname === undefined ? !ids.has(a.containerID) : !pairs.has(ownerRecord(a.containerID, a.ifname)),
  );
}
