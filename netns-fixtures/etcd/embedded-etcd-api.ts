// The etcd v3 gRPC-gateway JSON shapes of the embedded etcd (embedded-etcd.ts): request parsing
// (base64 keys and values, int64 as strings or numbers, proto3 defaults for absent fields) and
// the unary KV and lease calls over MvccStore, answering like etcd 3.4's gateway: zero values
// omitted, int64 as decimal strings, errors as {"error","message","code"} with etcd's messages.
import { Code, StoreError, type Kv, type MvccStore, type StoreEvent, type WriteBatch } from "./embedded-etcd-store.ts";

export type Json = Record<string, unknown>;

export const obj = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** base64 on the wire -> latin1 byte string (so JS string order is byte order). */
export function bytes(v: unknown): string {
  return typeof v === "string" ? Buffer.from(v, "base64").toString("latin1") : "";
}

export const b64 = (s: string): string => Buffer.from(s, "latin1").toString("base64");

/** int64 field (string or number) -> number; absent = 0. */
export function int(v: unknown, field: string): number {
  if (v === undefined || v === null) return 0;
  const n = typeof v === "number" ? v : typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isFinite(n))
    throw new StoreError(`${field}: ${JSON.stringify(v)} is not an integer`, Code.InvalidArgument);
  return n;
}

/** int64 lease ID -> canonical decimal string ("0" = none). */
export function leaseId(v: unknown): string {
  if (v === undefined || v === null) return "0";
  if ((typeof v === "string" && /^-?\d+$/.test(v)) || (typeof v === "number" && Number.isInteger(v)))
    return BigInt(v).toString();
  throw new StoreError(`ID: ${JSON.stringify(v)} is not an integer`, Code.InvalidArgument);
}

/** Drop proto3 default values, as the gateway's marshaler does. */
function compact(o: Json): Json {
  return Object.fromEntries(
    Object.entries(o).filter(
      ([, v]) =>
        v !== undefined && v !== 0 && v !== "0" && v !== "" && v !== false && !(Array.isArray(v) && v.length === 0),
    ),
  );
}

export function kvJson(kv: Kv, keysOnly = false): Json {
  return compact({
    key: b64(kv.key),
    create_revision: String(kv.createRevision),
    mod_revision: String(kv.modRevision),
    version: String(kv.version),
    value: keysOnly ? "" : kv.value,
    lease: kv.lease,
  });
}

export function eventJson(e: StoreEvent, withPrev: boolean): Json {
  return compact({
    type: e.type === "delete" ? "DELETE" : undefined,
    kv: kvJson(e.kv),
    prev_kv: withPrev && e.prevKv ? kvJson(e.prevKv) : undefined,
  });
}

/** Response header of this member; `revision` 0 is omitted (etcd does so on compacted watches). */
export class Member {
  readonly clusterId = BigInt.asUintN(64, BigInt(Math.floor(Math.random() * 2 ** 53)) << 11n).toString();
  readonly memberId = BigInt.asUintN(64, BigInt(Math.floor(Math.random() * 2 ** 53)) << 11n).toString();
  constructor(readonly store: MvccStore) {}

  header(revision = this.store.revision): Json {
    return compact({
      cluster_id: this.clusterId,
      member_id: this.memberId,
      revision: String(revision),
      raft_term: "1",
    });
  }
}

function requireKey(r: Json): string {
  const key = bytes(r["key"]);
  if (key === "") throw new StoreError("etcdserver: key is not provided", Code.InvalidArgument);
  return key;
}

function rangeEnd(r: Json): string | undefined {
  return r["range_end"] === undefined ? undefined : bytes(r["range_end"]);
}

const SORT_FIELD: Record<string, (kv: Kv) => string | number> = {
  KEY: (kv) => kv.key,
  VERSION: (kv) => kv.version,
  CREATE: (kv) => kv.createRevision,
  MOD: (kv) => kv.modRevision,
  VALUE: (kv) => Buffer.from(kv.value, "base64").toString("latin1"),
};

function range(m: Member, r: Json, headerRev?: number): Json {
  const key = requireKey(r);
  const end = rangeEnd(r);
  const limit = int(r["limit"], "limit");
  const { kvs: all, count } = m.store.range(key, {
    ...(end !== undefined ? { rangeEnd: end } : {}),
    revision: int(r["revision"], "revision"),
  });
  const order = typeof r["sort_order"] === "string" ? r["sort_order"] : "NONE";
  const field = SORT_FIELD[typeof r["sort_target"] === "string" ? r["sort_target"] : "KEY"] ?? SORT_FIELD["KEY"];
  let kvs = all;
  if (order === "ASCEND" || order === "DESCEND") {
    const f = field as (kv: Kv) => string | number;
    const sign = order === "DESCEND" ? -1 : 1;
    kvs = [...all].sort((a, b) => sign * (f(a) < f(b) ? -1 : f(a) > f(b) ? 1 : 0));
  }
  const page = limit > 0 ? kvs.slice(0, limit) : kvs;
  return compact({
    header: headerRev === undefined ? m.header() : { revision: String(headerRev) },
    kvs: r["count_only"] === true ? [] : page.map((kv) => kvJson(kv, r["keys_only"] === true)),
    more: limit > 0 && count > limit,
    count: String(count),
  });
}

function put(b: WriteBatch, r: Json): Json {
  const key = requireKey(r);
  const prev = b.store.range(key).kvs[0];
  const ignoreValue = r["ignore_value"] === true;
  const ignoreLease = r["ignore_lease"] === true;
  if ((ignoreValue || ignoreLease) && !prev) throw new StoreError("etcdserver: key not found", Code.InvalidArgument);
  const value = ignoreValue ? (prev?.value ?? "") : typeof r["value"] === "string" ? r["value"] : "";
  const old = b.put(key, value, ignoreLease ? (prev?.lease ?? "0") : leaseId(r["lease"]));
  return compact({
    header: { revision: String(b.revision) },
    prev_kv: r["prev_kv"] === true && old ? kvJson(old) : undefined,
  });
}

function deleteRange(b: WriteBatch, r: Json): Json {
  const gone = b.deleteRange(requireKey(r), rangeEnd(r));
  return compact({
    header: { revision: String(gone.length > 0 ? b.revision : b.store.revision) },
    deleted: String(gone.length),
    prev_kvs: r["prev_kv"] === true ? gone.map((kv) => kvJson(kv)) : [],
  });
}

function compareOne(store: MvccStore, c: Json): boolean {
  const target = typeof c["target"] === "string" ? c["target"] : "VERSION";
  const result = typeof c["result"] === "string" ? c["result"] : "EQUAL";
  const end = rangeEnd(c);
  let kvs: readonly Kv[] = store.range(bytes(c["key"]), end !== undefined ? { rangeEnd: end } : {}).kvs;
  if (kvs.length === 0) {
    if (target === "VALUE") return false;
    kvs = [{ key: "", value: "", createRevision: 0, modRevision: 0, version: 0, lease: "0" }];
  }
  return kvs.every((kv) => {
    let d: number;
    if (target === "VALUE")
      d = Buffer.compare(
        Buffer.from(kv.value, "base64"),
        Buffer.from(typeof c["value"] === "string" ? c["value"] : "", "base64"),
      );
    else if (target === "LEASE") d = Math.sign(Number(BigInt(kv.lease) - BigInt(leaseId(c["lease"]))));
    else if (target === "CREATE") d = Math.sign(kv.createRevision - int(c["create_revision"], "create_revision"));
    else if (target === "MOD") d = Math.sign(kv.modRevision - int(c["mod_revision"], "mod_revision"));
    else if (target === "VERSION") d = Math.sign(kv.version - int(c["version"], "version"));
    else
      throw new StoreError(
        `compare target ${JSON.stringify(target)} is not one of VERSION, CREATE, MOD, VALUE, LEASE`,
        Code.InvalidArgument,
      );
    if (result === "EQUAL") return d === 0;
    if (result === "NOT_EQUAL") return d !== 0;
    if (result === "GREATER") return d > 0;
    if (result === "LESS") return d < 0;
    throw new StoreError(
      `compare result ${JSON.stringify(result)} is not one of EQUAL, NOT_EQUAL, GREATER, LESS`,
      Code.InvalidArgument,
    );
  });
}

/** Reject a branch etcd would reject before applying anything: unknown leases, duplicate put keys. */
function checkOps(store: MvccStore, ops: readonly unknown[]): void {
  const seen = new Set<string>();
  for (const op of ops) {
    const p = obj(op)["request_put"];
    if (p === undefined) continue;
    const key = bytes(obj(p)["key"]);
    if (seen.has(key)) throw new StoreError("etcdserver: duplicate key given in txn request", Code.InvalidArgument);
    seen.add(key);
    const lease = leaseId(obj(p)["lease"]);
    if (lease !== "0" && store.timeToLive(lease).ttl < 0)
      throw new StoreError("etcdserver: requested lease not found", Code.NotFound);
  }
}

function txn(m: Member, b: WriteBatch, r: Json): Json {
  const ok = arr(r["compare"]).every((c) => compareOne(m.store, obj(c)));
  const ops = arr(ok ? r["success"] : r["failure"]);
  checkOps(m.store, ops);
  const responses = ops.map((op): Json => {
    const o = obj(op);
    if (o["request_range"] !== undefined)
      return { response_range: range(m, obj(o["request_range"]), b.events.length > 0 ? b.revision : m.store.revision) };
    if (o["request_put"] !== undefined) return { response_put: put(b, obj(o["request_put"])) };
    if (o["request_delete_range"] !== undefined)
      return { response_delete_range: deleteRange(b, obj(o["request_delete_range"])) };
    if (o["request_txn"] !== undefined) return { response_txn: txn(m, b, obj(o["request_txn"])) };
    throw new StoreError(
      `txn operation ${JSON.stringify(op)} has none of request_range, request_put, request_delete_range, request_txn`,
      Code.InvalidArgument,
    );
  });
  return compact({
    header: { revision: String(b.events.length > 0 ? b.revision : m.store.revision) },
    succeeded: ok,
    responses,
  });
}

/** Unary gateway calls by path; each takes the request JSON and returns the response JSON. */
export function unaryHandlers(m: Member): Record<string, (r: Json) => Json> {
  const s = m.store;
  const withHeader = (o: Json): Json => ({ ...o, header: m.header() });
  const revoke = (r: Json): Json => {
    s.revoke(leaseId(r["ID"]));
    return { header: m.header() };
  };
  const timeToLive = (r: Json): Json => {
    const id = leaseId(r["ID"]);
    const t = s.timeToLive(id);
    return compact({
      header: m.header(),
      ID: id,
      TTL: String(t.ttl),
      grantedTTL: String(t.grantedTtl),
      keys: r["keys"] === true ? t.keys.map(b64) : [],
    });
  };
  const leases = (): Json => ({ header: m.header(), leases: s.leaseIds().map((ID) => ({ ID })) });
  return {
    "/v3/kv/range": (r) => range(m, r),
    "/v3/kv/put": (r) => withHeader(s.write((b) => put(b, r))),
    "/v3/kv/deleterange": (r) => withHeader(s.write((b) => deleteRange(b, r))),
    "/v3/kv/txn": (r) => withHeader(s.write((b) => txn(m, b, r))),
    "/v3/kv/compaction": (r) => {
      s.compact(int(r["revision"], "revision"));
      return { header: m.header() };
    },
    "/v3/lease/grant": (r) => {
      const g = s.grant(int(r["TTL"], "TTL"), leaseId(r["ID"]));
      return { header: m.header(), ID: g.id, TTL: String(g.ttl) };
    },
    "/v3/lease/revoke": revoke,
    "/v3/kv/lease/revoke": revoke,
    "/v3/lease/timetolive": timeToLive,
    "/v3/kv/lease/timetolive": timeToLive,
    "/v3/lease/leases": leases,
    "/v3/kv/lease/leases": leases,
    "/v3/auth/authenticate": () => {
      throw new StoreError("etcdserver: authentication is not enabled", Code.FailedPrecondition);
    },
  };
}
