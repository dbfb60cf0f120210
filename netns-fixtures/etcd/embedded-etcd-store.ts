// The in-memory MVCC store behind the embedded etcd (embedded-etcd.ts): one global revision
// counter (1 when empty, +1 per write transaction), create/mod revision and version per key, an
// event history kept back to the compaction revision (watches from an old revision replay it;
// reads at an old revision undo it), and leases with real TTL expiry that delete their keys in one
// revision. Keys are byte strings held as latin1 JS strings, so string order is etcd's byte order;
// values stay base64 as on the wire. Single member, no persistence, no auth.

/** An etcd error: gRPC code and etcd's message. */
export class StoreError extends Error {
  override readonly name = "StoreError";
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

export const Code = {
  InvalidArgument: 3,
  NotFound: 5,
  FailedPrecondition: 9,
  OutOfRange: 11,
  Unimplemented: 12,
} as const;

export const ERR_COMPACTED = "etcdserver: mvcc: required revision has been compacted";
export const ERR_FUTURE_REV = "etcdserver: mvcc: required revision is a future revision";
export const ERR_LEASE_NOT_FOUND = "etcdserver: requested lease not found";

export interface Kv {
  readonly key: string;
  /** base64, as on the wire */
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  /** decimal lease ID; "0" without lease */
  readonly lease: string;
}

/** One change; a delete's `kv` carries only key and modRevision (the revision of the delete). */
export interface StoreEvent {
  readonly type: "put" | "delete";
  readonly kv: Kv;
  readonly prevKv: Kv | undefined;
}

interface Lease {
  readonly id: string;
  readonly ttl: number;
  expiresAt: number;
  readonly keys: Set<string>;
}

export interface RangeOptions {
  /** exclusive end; "" = the key alone, "\0" = every key from `key` on */
  readonly rangeEnd?: string;
  /** read at this revision (0 = current) */
  readonly revision?: number;
  readonly limit?: number;
}

export interface StoreOptions {
  /** Grants below this TTL get it (etcd 3.4 with default timing: 2 s). @default 2 */
  readonly minTtlSeconds?: number;
  /** How often expired leases are revoked. @default 100 */
  readonly expiryCheckMs?: number;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
}

const MAX_TTL = 9_000_000_000;

/** Does `key` fall in [start, end) with etcd's conventions for an empty or "\0" end? */
export function inRange(key: string, start: string, end: string | undefined): boolean {
  if (end === undefined || end === "") return key === start;
  if (end === "\0") return key >= start;
  return key >= start && key < end;
}

/** The write half of a transaction: every change gets the same (next) revision. */
export class WriteBatch {
  readonly events: StoreEvent[] = [];
  constructor(
    readonly store: MvccStore,
    readonly revision: number,
  ) {}

  put(key: string, value: string, lease: string): Kv | undefined {
    return this.store.applyPut(this, key, value, lease);
  }

  deleteRange(key: string, rangeEnd: string | undefined): Kv[] {
    return this.store.applyDelete(this, key, rangeEnd);
  }
}

export class MvccStore {
  private rev = 1;
  private compacted = 0;
  private readonly kvs = new Map<string, Kv>();
  /** events with revision > compacted - 1, oldest first */
  private history: StoreEvent[] = [];
  private readonly leases = new Map<string, Lease>();
  private readonly listeners = new Set<(events: readonly StoreEvent[]) => void>();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly now: () => number;
  private readonly minTtl: number;

  constructor(o: StoreOptions = {}) {
    this.now = o.now ?? Date.now;
    this.minTtl = o.minTtlSeconds ?? 2;
    this.timer = setInterval(() => this.expireLeases(), o.expiryCheckMs ?? 100);
    this.timer.unref?.();
  }

  get revision(): number {
    return this.rev;
  }

  get compactRevision(): number {
    return this.compacted;
  }

  close(): void {
    clearInterval(this.timer);
    this.listeners.clear();
  }

  /** Called with the events of every committed write revision. Returns an unsubscribe. */
  subscribe(fn: (events: readonly StoreEvent[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private checkRevision(rev: number): void {
    if (rev > this.rev) throw new StoreError(ERR_FUTURE_REV, Code.OutOfRange);
    if (rev > 0 && rev < this.compacted) throw new StoreError(ERR_COMPACTED, Code.OutOfRange);
  }

  /** Keys in the range, key order, with the total count (before `limit`). */
  range(key: string, o: RangeOptions = {}): { kvs: Kv[]; count: number } {
    const at = o.revision ?? 0;
    this.checkRevision(at);
    const source = at > 0 && at < this.rev ? this.snapshotAt(at) : this.kvs;
    const kvs = [...source.values()]
      .filter((kv) => inRange(kv.key, key, o.rangeEnd))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { kvs: o.limit ? kvs.slice(0, o.limit) : kvs, count: kvs.length };
  }

  /** The key space as it was at `rev`: undo the newer events, newest first. */
  private snapshotAt(rev: number): Map<string, Kv> {
    const m = new Map(this.kvs);
    for (let i = this.history.length - 1; i >= 0; i--) {
      const e = this.history[i] as StoreEvent;
      if (e.kv.modRevision <= rev) break;
      if (e.prevKv) m.set(e.kv.key, e.prevKv);
      else m.delete(e.kv.key);
    }
    return m;
  }

  /** Run `fn` as one transaction: its writes share one new revision, committed when it returns. */
  write<T>(fn: (b: WriteBatch) => T): T {
    const b = new WriteBatch(this, this.rev + 1);
    const out = fn(b);
    if (b.events.length > 0) {
      this.rev = b.revision;
      this.history.push(...b.events);
      for (const l of [...this.listeners]) l(b.events);
    }
    return out;
  }

  /** @internal via WriteBatch */
  applyPut(b: WriteBatch, key: string, value: string, lease: string): Kv | undefined {
    if (lease !== "0" && !this.leases.has(lease)) throw new StoreError(ERR_LEASE_NOT_FOUND, Code.NotFound);
    const prev = this.kvs.get(key);
    const kv: Kv = {
      key,
      value,
      createRevision: prev?.createRevision ?? b.revision,
      modRevision: b.revision,
      version: (prev?.version ?? 0) + 1,
      lease,
    };
    if (prev && prev.lease !== "0") this.leases.get(prev.lease)?.keys.delete(key);
    if (lease !== "0") this.leases.get(lease)?.keys.add(key);
    this.kvs.set(key, kv);
    b.events.push({ type: "put", kv, prevKv: prev });
    return prev;
  }

  /** @internal via WriteBatch */
  applyDelete(b: WriteBatch, key: string, rangeEnd: string | undefined): Kv[] {
    const gone = this.range(key, rangeEnd === undefined ? {} : { rangeEnd }).kvs;
    for (const prev of gone) {
      this.kvs.delete(prev.key);
      if (prev.lease !== "0") this.leases.get(prev.lease)?.keys.delete(prev.key);
      b.events.push({
        type: "delete",
        kv: { key: prev.key, value: "", createRevision: 0, modRevision: b.revision, version: 0, lease: "0" },
        prevKv: prev,
      });
    }
    return gone;
  }

  /** Forget history before `rev`; watches and reads from an older revision fail from now on. */
  compact(rev: number): void {
    if (rev <= this.compacted) throw new StoreError(ERR_COMPACTED, Code.OutOfRange);
    if (rev > this.rev) throw new StoreError(ERR_FUTURE_REV, Code.OutOfRange);
    this.compacted = rev;
    this.history = this.history.filter((e) => e.kv.modRevision >= rev);
  }

  /** Events from `startRevision` on (for a new watch); StoreError when compacted. */
  eventsSince(startRevision: number): StoreEvent[] {
    if (startRevision < this.compacted) throw new StoreError(ERR_COMPACTED, Code.OutOfRange);
    return this.history.filter((e) => e.kv.modRevision >= startRevision);
  }

  // ---- leases ----

  grant(ttlSeconds: number, wantedId = "0"): { id: string; ttl: number } {
    if (ttlSeconds > MAX_TTL) throw new StoreError("etcdserver: too large lease TTL", Code.OutOfRange);
    if (wantedId !== "0" && this.leases.has(wantedId))
      throw new StoreError("etcdserver: lease already exists", Code.FailedPrecondition);
    const id = wantedId !== "0" ? wantedId : this.newLeaseId();
    const ttl = Math.max(ttlSeconds, this.minTtl);
    this.leases.set(id, { id, ttl, expiresAt: this.now() + ttl * 1000, keys: new Set() });
    return { id, ttl };
  }

  private newLeaseId(): string {
    for (;;) {
      const hi = BigInt(Math.floor(Math.random() * 0x7fffffff));
      const lo = BigInt(Math.floor(Math.random() * 0x100000000));
      const id = ((hi << 32n) | lo).toString();
      if (id !== "0" && !this.leases.has(id)) return id;
    }
  }

  /** Delete the lease and, in one revision, every key attached to it. */
  revoke(id: string): void {
    const l = this.leases.get(id);
    if (!l) throw new StoreError(ERR_LEASE_NOT_FOUND, Code.NotFound);
    this.leases.delete(id);
    const keys = [...l.keys].sort();
    this.write((b) => {
      for (const k of keys) b.deleteRange(k, undefined);
    });
  }

  /** New TTL after a refresh; 0 when the lease does not exist (as etcd's keep-alive answers). */
  keepAlive(id: string): number {
    const l = this.leases.get(id);
    if (!l || l.expiresAt <= this.now()) return 0;
    l.expiresAt = this.now() + l.ttl * 1000;
    return l.ttl;
  }

  /** Remaining whole seconds, granted TTL and keys; TTL -1 when the lease does not exist. */
  timeToLive(id: string): { ttl: number; grantedTtl: number; keys: string[] } {
    const l = this.leases.get(id);
    if (!l) return { ttl: -1, grantedTtl: 0, keys: [] };
    return {
      ttl: Math.max(0, Math.floor((l.expiresAt - this.now()) / 1000)),
      grantedTtl: l.ttl,
      keys: [...l.keys].sort(),
    };
  }

  leaseIds(): string[] {
    return [...this.leases.keys()];
  }

  /** Revoke every lease whose time is up (also run by the timer). */
  expireLeases(): void {
    const now = this.now();
    for (const l of [...this.leases.values()]) if (l.expiresAt <= now) this.revoke(l.id);
  }
}
