/**
 * Subnet leases, pure: the etcd key format (`10.5.34.0-24`, dual-stack `10.5.34.0-24&fc00:0:0:22::-64`),
 * the LeaseAttrs JSON exactly as flannel writes it, the subnet allocator, and the LeaseWatcher
 * that turns snapshots and watch events into Added/Removed batches for the backends.
 */
import type { NetworkConfig } from "./config.ts";
import {
  blockSize,
  formatCidr,
  formatIp,
  maskNet,
  overlaps,
  parseIp,
  sameNet,
  type Family,
  type IpNet,
} from "../net/prefix.ts";

/** What a node publishes with its lease. Field names are flannel's JSON names. */
export interface LeaseAttrs {
  readonly PublicIP: string;
  readonly PublicIPv6?: string;
  readonly BackendType?: string;
  /** Backend specific JSON, e.g. {"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"} for vxlan. */
  readonly BackendData?: unknown;
  readonly BackendV6Data?: unknown;
}

export interface Lease {
  /** IPv4 subnet (network address). Absent only for an IPv6-only lease. */
  readonly subnet?: IpNet;
  readonly subnetV6?: IpNet;
  readonly attrs: LeaseAttrs;
  /** When the lease ends; undefined = no expiry (a reservation, or the kube manager). */
  readonly expiration?: Date;
}

export type LeaseEventType = "added" | "removed";

export interface LeaseEvent {
  readonly type: LeaseEventType;
  readonly lease: Lease;
}

// ---- key format ----

const KEY_RE = /(\d+\.\d+\.\d+\.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$/;

/** The key of a lease under `<prefix>/subnets/`. */
export function subnetKey(subnet: IpNet, subnetV6?: IpNet): string {
  const v4 = `${formatIp(4, subnet.ip)}-${subnet.prefix}`;
  return subnetV6 ? `${v4}&${formatIp(6, subnetV6.ip)}-${subnetV6.prefix}` : v4;
}

/** Parse a subnet key (the last path element, or a full key ending in it). */
export function parseSubnetKey(key: string): { subnet: IpNet; subnetV6?: IpNet } | undefined {
  const m = KEY_RE.exec(key);
  if (!m) return undefined;
  const a = parseIp(m[1] ?? "");
  const len = Number(m[2]);
  if (!a || a.family !== 4 || len > 32) return undefined;
  const subnet: IpNet = { family: 4, ip: a.ip, prefix: len };
  if (m[3] === undefined) return { subnet };
  const b = parseIp(m[3]);
  const len6 = Number(m[4]);
  if (!b || b.family !== 6 || len6 > 128) return undefined;
  return { subnet, subnetV6: { family: 6, ip: b.ip, prefix: len6 } };
}

// ---- attrs JSON ----

/** Serialize attrs as flannel does: PublicIP, PublicIPv6 (null when absent), then omitempty fields. */
export function formatLeaseAttrs(a: LeaseAttrs): string {
  const o: Record<string, unknown> = { PublicIP: a.PublicIP || "0.0.0.0", PublicIPv6: a.PublicIPv6 ?? null };
  if (a.BackendType) o["BackendType"] = a.BackendType;
  if (a.BackendData !== undefined && a.BackendData !== null) o["BackendData"] = a.BackendData;
  if (a.BackendV6Data !== undefined && a.BackendV6Data !== null) o["BackendV6Data"] = a.BackendV6Data;
  return JSON.stringify(o);
}

/** Parse attrs JSON (case-insensitive keys like Go); throws with a message naming the bad field. */
export function parseLeaseAttrs(text: string): LeaseAttrs {
  const doc: unknown = JSON.parse(text);
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    throw new Error("lease attributes must be a JSON object");
  const get = (k: string): unknown => {
    const rec = doc as Record<string, unknown>;
    const hit = Object.keys(rec).find((x) => x.toLowerCase() === k.toLowerCase());
    return hit === undefined ? undefined : rec[hit];
  };
  const ipField = (k: string, fam: Family): string | undefined => {
    const v = get(k);
    if (v === undefined || v === null || v === "") return undefined;
    const a = typeof v === "string" ? parseIp(v) : undefined;
    if (!a || a.family !== fam)
      throw new Error(`lease attribute ${k} is not an IPv${fam} address: ${JSON.stringify(v)}`);
    return v as string;
  };
  const bt = get("BackendType");
  if (bt !== undefined && bt !== null && typeof bt !== "string")
    throw new Error("lease attribute BackendType must be a string");
  const v6 = ipField("PublicIPv6", 6);
  const bd = get("BackendData");
  const bd6 = get("BackendV6Data");
  return {
    PublicIP: ipField("PublicIP", 4) ?? "0.0.0.0",
    ...(v6 !== undefined ? { PublicIPv6: v6 } : {}),
    ...(typeof bt === "string" && bt !== "" ? { BackendType: bt } : {}),
    ...(bd !== undefined && bd !== null ? { BackendData: bd } : {}),
    ...(bd6 !== undefined && bd6 !== null ? { BackendV6Data: bd6 } : {}),
  };
}

export function sameAttrs(a: LeaseAttrs, b: LeaseAttrs): boolean {
  return formatLeaseAttrs(a) === formatLeaseAttrs(b);
}

/** Both families' subnets equal (absent = absent). */
export function sameSubnets(a: Pick<Lease, "subnet" | "subnetV6">, b: Pick<Lease, "subnet" | "subnetV6">): boolean {
  const eq = (x?: IpNet, y?: IpNet) => (x && y ? sameNet(x, y) : x === y);
  return eq(a.subnet, b.subnet) && eq(a.subnetV6, b.subnetV6);
}

export function describeLease(l: Pick<Lease, "subnet" | "subnetV6">): string {
  return [l.subnet, l.subnetV6]
    .filter((x): x is IpNet => x !== undefined)
    .map(formatCidr)
    .join(",");
}

// ---- allocation ----

/** How many free candidates the allocator collects before picking one at random (flannel: 100). */
export const MAX_CANDIDATES = 100;

function freeSubnets(family: Family, len: number, lo: bigint, hi: bigint, taken: readonly IpNet[]): IpNet[] {
  const out: IpNet[] = [];
  const step = blockSize(family, len);
  // Same-size leases (the usual case) are looked up by address; others need an overlap test.
  const same = new Set<bigint>();
  const other: IpNet[] = [];
  for (const t of taken) {
    if (t.prefix === len) same.add(maskNet(t).ip);
    else other.push(t);
  }
  for (let ip = lo; ip <= hi && out.length < MAX_CANDIDATES; ip += step) {
    const cand: IpNet = { family, ip, prefix: len };
    if (!same.has(ip) && !other.some((t) => overlaps(t, cand))) out.push(cand);
  }
  return out;
}

/**
 * Pick a free subnet (and a free IPv6 subnet when enabled): walk SubnetMin..SubnetMax in SubnetLen
 * steps, keep the first {@link MAX_CANDIDATES} that overlap no existing lease, pick one with `rng`
 * (returns [0,1)). `cfg` must have passed checkNetworkConfig. Undefined when a family is full.
 */
export function allocateSubnet(
  cfg: NetworkConfig,
  existing: readonly Pick<Lease, "subnet" | "subnetV6">[],
  rng: () => number = Math.random,
): { subnet?: IpNet; subnetV6?: IpNet } | undefined {
  const pick = <T>(xs: T[]): T | undefined => xs[Math.min(xs.length - 1, Math.floor(rng() * xs.length))];
  let subnet: IpNet | undefined;
  let subnetV6: IpNet | undefined;
  if (cfg.enableIPv4) {
    if (cfg.subnetMin === undefined || cfg.subnetMax === undefined)
      throw new Error("allocateSubnet: config not checked (SubnetMin/Max unset)");
    const taken = existing.flatMap((l) => (l.subnet ? [l.subnet] : []));
    subnet = pick(freeSubnets(4, cfg.subnetLen, cfg.subnetMin, cfg.subnetMax, taken));
    if (!subnet) return undefined;
  }
  if (cfg.enableIPv6) {
    if (cfg.ipv6SubnetMin === undefined || cfg.ipv6SubnetMax === undefined)
      throw new Error("allocateSubnet: config not checked (IPv6SubnetMin/Max unset)");
    const taken = existing.flatMap((l) => (l.subnetV6 ? [l.subnetV6] : []));
    subnetV6 = pick(freeSubnets(6, cfg.ipv6SubnetLen, cfg.ipv6SubnetMin, cfg.ipv6SubnetMax, taken));
    if (!subnetV6) return undefined;
  }
  return { ...(subnet ? { subnet } : {}), ...(subnetV6 ? { subnetV6 } : {}) };
}

/** True when `s` is a SubnetLen-sized subnet within SubnetMin..SubnetMax of `cfg` (per family). */
export function fitsConfig(cfg: NetworkConfig, l: Pick<Lease, "subnet" | "subnetV6">): boolean {
  if (cfg.enableIPv4) {
    const s = l.subnet;
    if (!s || s.prefix !== cfg.subnetLen || cfg.subnetMin === undefined || cfg.subnetMax === undefined) return false;
    if (maskNet(s).ip !== s.ip || s.ip < cfg.subnetMin || s.ip > cfg.subnetMax) return false;
  }
  if (cfg.enableIPv6) {
    const s = l.subnetV6;
    if (!s || s.prefix !== cfg.ipv6SubnetLen || cfg.ipv6SubnetMin === undefined || cfg.ipv6SubnetMax === undefined)
      return false;
    if (maskNet(s).ip !== s.ip || s.ip < cfg.ipv6SubnetMin || s.ip > cfg.ipv6SubnetMax) return false;
  }
  return true;
}

// ---- watcher ----

/**
 * Keeps the set of peer leases and turns snapshots (reset) and incremental events (update) into
 * the batches backends apply. The node's own lease is never reported.
 * Better than the reference: a snapshot entry whose attrs changed (e.g. a new VtepMAC) is
 * reported as Added again, so a resync after compaction cannot miss an update.
 */
export class LeaseWatcher {
  private leases = new Map<string, Lease>();
  private readonly ownKey: string | undefined;
  constructor(own: Pick<Lease, "subnet" | "subnetV6"> | undefined) {
    this.ownKey = own ? leaseKey(own) : undefined;
  }

  /** Peers currently known. */
  get current(): readonly Lease[] {
    return [...this.leases.values()];
  }

  /** The known peer holding these subnets, if any. */
  find(l: Pick<Lease, "subnet" | "subnetV6">): Lease | undefined {
    return this.leases.get(leaseKey(l));
  }

  /** Replace the set with a full snapshot; returns what changed. */
  reset(snapshot: readonly Lease[]): LeaseEvent[] {
    const batch: LeaseEvent[] = [];
    const next = new Map<string, Lease>();
    for (const n of snapshot) {
      const k = leaseKey(n);
      if (k === this.ownKey) continue;
      next.set(k, n);
      const old = this.leases.get(k);
      if (!old || !sameAttrs(old.attrs, n.attrs)) batch.push({ type: "added", lease: n });
    }
    for (const [k, o] of this.leases) if (!next.has(k)) batch.push({ type: "removed", lease: o });
    this.leases = next;
    return batch;
  }

  /** Apply incremental events; returns the ones that concern peers. */
  update(events: readonly LeaseEvent[]): LeaseEvent[] {
    const batch: LeaseEvent[] = [];
    for (const e of events) {
      const k = leaseKey(e.lease);
      if (k === this.ownKey) continue;
      if (e.type === "added") this.leases.set(k, e.lease);
      else this.leases.delete(k);
      batch.push(e);
    }
    return batch;
  }
}

/** Identity of a lease: its (masked) subnets. */
function leaseKey(l: Pick<Lease, "subnet" | "subnetV6">): string {
  const one = (n?: IpNet) => (n ? `${maskNet(n).ip.toString(16)}/${n.prefix}` : "-");
  return `${one(l.subnet)}&${one(l.subnetV6)}`;
}
