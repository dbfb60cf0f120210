/**
 * A small etcd v3 client over the gRPC-gateway JSON API (etcd ≥ 3.4 serves /v3/...): KV range,
 * put, compare-and-create txn, delete, compaction; leases (grant, revoke, time-to-live,
 * keep-alive once); watch streams; username/password authentication. Keys and values are
 * strings (base64 on the wire); revisions are numbers, lease IDs decimal strings (int64).
 */
import { onAbort } from "../time.ts";
import { EtcdError, EtcdTransport, GrpcCode, type EtcdTls } from "./transport.ts";

export { EtcdError, GrpcCode } from "./transport.ts";

export interface EtcdClientOptions {
  readonly endpoints: readonly string[];
  readonly tls?: EtcdTls;
  readonly username?: string;
  readonly password?: string;
  /** Per unary request. @default 5000 */
  readonly timeoutMs?: number;
  /**
   * Called between the pages of {@link EtcdClient.list}, once a page is decoded. flanneld runs a
   * full garbage collection here, so a large listing's peak of anonymous memory stays near one
   * page's worth instead of growing with every page until the end.
   */
  readonly betweenPages?: () => void;
}

export interface KeyValue {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  /** "0" when the key has no lease. */
  readonly lease: string;
}

export interface WatchEvent {
  readonly type: "put" | "delete";
  readonly kv: KeyValue;
}

/** One message of a watch stream. */
export interface WatchResponse {
  readonly revision: number;
  readonly created: boolean;
  readonly canceled: boolean;
  /** Non-zero when the requested start revision was compacted away. */
  readonly compactRevision: number;
  readonly cancelReason: string;
  readonly events: readonly WatchEvent[];
}

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");
/**
 * Base64 to text. ASCII (every flannel key and lease JSON) decodes with atob into a plain string;
 * only text with bytes ≥ 0x80 goes through a Buffer for UTF-8. A snapshot decodes two strings per
 * lease, and the Buffer path leaves short-lived native memory behind for each of them.
 */
const unb64 = (s: unknown): string => {
  if (typeof s !== "string" || s === "") return "";
  const bin = atob(s);
  return NON_ASCII.test(bin) ? Buffer.from(s, "base64").toString("utf8") : bin;
};
const NON_ASCII = /[^\x00-\x7f]/;
const num = (v: unknown): number => (typeof v === "string" || typeof v === "number" ? Number(v) : 0);
const str = (v: unknown): string => (typeof v === "string" ? v : typeof v === "number" ? String(v) : "0");
const obj = (v: unknown): Record<string, unknown> =>
  typeof v === "object" && v !== null ? (v as Record<string, unknown>) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function toKv(v: unknown): KeyValue {
  const o = obj(v);
  return {
    key: unb64(o["key"]),
    value: unb64(o["value"]),
    createRevision: num(o["create_revision"]),
    modRevision: num(o["mod_revision"]),
    version: num(o["version"]),
    lease: str(o["lease"] ?? "0"),
  };
}

function headerRevision(o: Record<string, unknown>): number {
  return num(obj(o["header"])["revision"]);
}

/** End of the key range covering every key that starts with `prefix`. */
export function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, "utf8");
  for (let i = bytes.length - 1; i >= 0; i--) {
    if ((bytes[i] as number) < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1));
      end[i] = (end[i] as number) + 1;
      return end.toString("base64");
    }
  }
  return Buffer.from([0]).toString("base64");
}

/** Keys per range request of {@link EtcdClient.list}. */
export const LIST_PAGE = 500;

export class EtcdClient {
  private readonly t: EtcdTransport;
  private authing: Promise<void> | undefined;

  constructor(private readonly opts: EtcdClientOptions) {
    this.t = new EtcdTransport({
      endpoints: opts.endpoints,
      ...(opts.tls ? { tls: opts.tls } : {}),
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    });
  }

  /** The endpoint currently used. */
  get endpoint(): string {
    return this.t.endpoint;
  }

  close(): void {
    this.t.close();
  }

  private async authenticate(signal?: AbortSignal): Promise<void> {
    if (!this.opts.username) return;
    this.authing ??= (async () => {
      this.t.token = undefined;
      try {
        const r = await this.t.call(
          "/v3/auth/authenticate",
          { name: this.opts.username, password: this.opts.password ?? "" },
          signal,
        );
        if (typeof r["token"] !== "string")
          throw new EtcdError("etcd authentication answered without a token", GrpcCode.Unauthenticated);
        this.t.token = r["token"];
      } finally {
        this.authing = undefined;
      }
    })();
    return this.authing;
  }

  private isAuthError(e: unknown): boolean {
    return (
      e instanceof EtcdError &&
      (e.code === GrpcCode.Unauthenticated || /invalid auth token|user name is empty/.test(e.message))
    );
  }

  /** A unary call with authentication (and one re-authentication when the token expired). */
  private async call(path: string, body: unknown, signal?: AbortSignal): Promise<Record<string, unknown>> {
    if (this.opts.username && !this.t.token) await this.authenticate(signal);
    try {
      return await this.t.call(path, body, signal);
    } catch (e) {
      if (!this.opts.username || !this.isAuthError(e)) throw e;
      await this.authenticate(signal);
      return this.t.call(path, body, signal);
    }
  }

  async get(key: string, signal?: AbortSignal): Promise<{ kv: KeyValue | undefined; revision: number }> {
    const r = await this.call("/v3/kv/range", { key: b64(key) }, signal);
    return { kv: arr(r["kvs"]).map(toKv)[0], revision: headerRevision(r) };
  }

  /**
   * All keys under `prefix`, with the store revision of the read. Read in pages of `pageSize`
   * keys, every page at the revision of the first one (one consistent snapshot), so no single
   * answer holds every lease: with thousands of leases one answer would be megabytes of JSON, and
   * decoding it whole the largest allocation of flanneld's startup. A page whose revision was
   * compacted away in between restarts the read.
   */
  async list(
    prefix: string,
    opts: { signal?: AbortSignal; pageSize?: number } = {},
  ): Promise<{ kvs: KeyValue[]; revision: number }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.listPages(prefix, opts.pageSize ?? LIST_PAGE, opts.signal);
      } catch (e) {
        if (!(e instanceof EtcdError && e.code === GrpcCode.OutOfRange) || attempt >= 2) throw e;
      }
    }
  }

  private async listPages(
    prefix: string,
    pageSize: number,
    signal: AbortSignal | undefined,
  ): Promise<{ kvs: KeyValue[]; revision: number }> {
    const end = prefixEnd(prefix);
    const kvs: KeyValue[] = [];
    let from = b64(prefix);
    let revision = 0;
    for (;;) {
      const r = await this.call(
        "/v3/kv/range",
        { key: from, range_end: end, limit: String(pageSize), ...(revision ? { revision: String(revision) } : {}) },
        signal,
      );
      revision ||= headerRevision(r);
      const page = arr(r["kvs"]);
      for (const kv of page) kvs.push(toKv(kv));
      const last = kvs[kvs.length - 1];
      if (r["more"] !== true || page.length === 0 || !last) return { kvs, revision };
      from = b64(`${last.key}\u0000`);
      this.opts.betweenPages?.();
    }
  }

  async put(key: string, value: string, opts: { lease?: string; signal?: AbortSignal } = {}): Promise<number> {
    const r = await this.call(
      "/v3/kv/put",
      { key: b64(key), value: b64(value), ...(opts.lease ? { lease: opts.lease } : {}) },
      opts.signal,
    );
    return headerRevision(r);
  }

  /** Put only if the key does not exist (Txn If version(key)==0). True when created. */
  async create(key: string, value: string, opts: { lease?: string; signal?: AbortSignal } = {}): Promise<boolean> {
    const r = await this.call(
      "/v3/kv/txn",
      {
        compare: [{ key: b64(key), result: "EQUAL", target: "VERSION", version: "0" }],
        success: [{ request_put: { key: b64(key), value: b64(value), ...(opts.lease ? { lease: opts.lease } : {}) } }],
      },
      opts.signal,
    );
    return r["succeeded"] === true;
  }

  /** Put only if the key's mod revision is still `modRevision`. True when written. */
  async putIfUnchanged(
    key: string,
    value: string,
    modRevision: number,
    opts: { lease?: string; signal?: AbortSignal } = {},
  ): Promise<boolean> {
    const r = await this.call(
      "/v3/kv/txn",
      {
        compare: [{ key: b64(key), result: "EQUAL", target: "MOD", mod_revision: String(modRevision) }],
        success: [{ request_put: { key: b64(key), value: b64(value), ...(opts.lease ? { lease: opts.lease } : {}) } }],
      },
      opts.signal,
    );
    return r["succeeded"] === true;
  }

  /** Delete one key (or every key under it with `prefix`). Returns how many were deleted. */
  async delete(key: string, opts: { prefix?: boolean; signal?: AbortSignal } = {}): Promise<number> {
    const r = await this.call(
      "/v3/kv/deleterange",
      { key: b64(key), ...(opts.prefix ? { range_end: prefixEnd(key) } : {}) },
      opts.signal,
    );
    return num(r["deleted"]);
  }

  async compact(revision: number, signal?: AbortSignal): Promise<void> {
    await this.call("/v3/kv/compaction", { revision: String(revision), physical: true }, signal);
  }

  async leaseGrant(ttlSeconds: number, signal?: AbortSignal): Promise<{ id: string; ttl: number }> {
    const r = await this.call("/v3/lease/grant", { TTL: String(ttlSeconds) }, signal);
    if (typeof r["error"] === "string" && r["error"] !== "") throw new EtcdError(`lease grant: ${r["error"]}`, 2);
    return { id: str(r["ID"]), ttl: num(r["TTL"]) };
  }

  async leaseRevoke(id: string, signal?: AbortSignal): Promise<void> {
    await this.call("/v3/lease/revoke", { ID: id }, signal);
  }

  /** Remaining TTL in seconds; -1 when the lease does not exist (expired or revoked). */
  async leaseTimeToLive(id: string, signal?: AbortSignal): Promise<number> {
    const r = await this.call("/v3/lease/timetolive", { ID: id }, signal);
    return num(r["TTL"]);
  }

  /** Refresh a lease once (one message on the keep-alive stream); returns the new TTL, 0 when gone. */
  async leaseKeepAliveOnce(id: string, signal?: AbortSignal): Promise<number> {
    if (this.opts.username && !this.t.token) await this.authenticate(signal);
    const ac = new AbortController();
    const unlink = onAbort(signal, () => ac.abort());
    try {
      const first = new Promise<number>((resolve, reject) => {
        void this.t
          .stream(
            "/v3/lease/keepalive",
            { ID: id },
            (o) => {
              if (o["error"] !== undefined)
                reject(
                  new EtcdError(
                    `lease keepalive: ${JSON.stringify(o["error"])}`,
                    num(obj(o["error"])["grpc_code"]) || 2,
                  ),
                );
              else resolve(num(obj(o["result"])["TTL"]));
            },
            { signal: ac.signal },
          )
          .then(
            (s) =>
              s.done.then(
                () => reject(new EtcdError("lease keepalive: stream ended without an answer", GrpcCode.Unavailable)),
                reject,
              ),
            reject,
          );
      });
      return await first;
    } finally {
      unlink();
      ac.abort();
    }
  }

  /**
   * Watch `key` (every key under it with `prefix`) from `startRevision`. `onResponse` gets every
   * message; the promise settles when the stream ends (resolves on abort, rejects on a broken
   * connection). The server cancels the watch with `compactRevision` set when `startRevision`
   * was compacted.
   */
  async watch(
    key: string,
    opts: { prefix?: boolean; startRevision?: number; signal: AbortSignal; progressNotify?: boolean },
    onResponse: (r: WatchResponse) => void,
  ): Promise<void> {
    if (this.opts.username && !this.t.token) await this.authenticate(opts.signal);
    const req = {
      create_request: {
        key: b64(key),
        ...(opts.prefix ? { range_end: prefixEnd(key) } : {}),
        ...(opts.startRevision ? { start_revision: String(opts.startRevision) } : {}),
        ...(opts.progressNotify ? { progress_notify: true } : {}),
      },
    };
    const s = await this.t.stream(
      "/v3/watch",
      req,
      (line) => {
        if (line["error"] !== undefined) throw new EtcdError(`watch: ${JSON.stringify(line["error"])}`, 2);
        const r = obj(line["result"]);
        onResponse({
          revision: headerRevision(r),
          created: r["created"] === true,
          canceled: r["canceled"] === true,
          compactRevision: num(r["compact_revision"]),
          cancelReason: typeof r["cancel_reason"] === "string" ? r["cancel_reason"] : "",
          events: arr(r["events"]).map((e) => ({
            type: obj(e)["type"] === "DELETE" ? "delete" : "put",
            kv: toKv(obj(e)["kv"]),
          })),
        });
      },
      // Like clientv3.WithRequireLeader: the member cancels the watch when it loses its leader.
      { signal: opts.signal, headers: { "grpc-metadata-hasleader": "true" } },
    );
    await s.done;
  }
}
