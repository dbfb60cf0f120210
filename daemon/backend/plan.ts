// Pure: from the set of peer leases to the kernel state a backend wants (routes, neighbours, FDB),
// and the diff between wanted and actual. No kernel calls here.
import { containsNet, formatCidr, formatIp, parseCidr, sameNet, type IpNet } from "../../net/prefix.ts";
import type { Lease } from "../lease.ts";
import type { KFdb, KNeigh, KRoute } from "./netops.ts";

export interface Desired {
  readonly routes: KRoute[];
  readonly neighs: KNeigh[];
  readonly fdb: KFdb[];
}

export interface VxlanContext {
  readonly kind: "vxlan";
  /**
   * which of a lease's halves this context programs: subnet/PublicIP/BackendData or subnetV6/PublicIPv6/BackendV6Data
   */
  readonly family: 4 | 6;
  readonly vxlanIndex: number;
  readonly underlayIndex: number;
  readonly directRouting: boolean;
  /** kernel route lookup, for DirectRouting: a peer on our L2 has a route with no gateway */
  readonly routeGet: (ip: string) => { readonly gw?: string; readonly ifindex: number } | undefined;
}

export interface HostGwContext {
  readonly kind: "host-gw";
  readonly family: 4 | 6;
  readonly underlayIndex: number;
}

/** flannel.ipip: every peer's subnet via its PublicIP, onlink, through the one tunnel (IPv4 only). */
export interface IpipContext {
  readonly kind: "ipip";
  readonly family: 4;
  readonly ipipIndex: number;
  readonly underlayIndex: number;
  readonly directRouting: boolean;
  readonly routeGet: (ip: string) => { readonly gw?: string; readonly ifindex: number } | undefined;
}

export type PlanContext = VxlanContext | HostGwContext | IpipContext;

/** The lease's subnet of one family (IPv4 `subnet`, IPv6 `subnetV6`). */
export function leaseSubnet(l: Lease, family: 4 | 6): IpNet | undefined {
  return family === 4 ? l.subnet : l.subnetV6;
}

/** The peer's underlay address of one family (PublicIP, PublicIPv6); "0.0.0.0" counts as none. */
export function leasePublicIp(l: Lease, family: 4 | 6): string | undefined {
  const ip = family === 4 ? l.attrs.PublicIP : l.attrs.PublicIPv6;
  return ip && ip !== "0.0.0.0" ? ip : undefined;
}

/** VtepMAC from BackendData (IPv4 device) or BackendV6Data (IPv6 device), key case-insensitive. */
export function vtepMac(l: Lease, family: 4 | 6 = 4): string | undefined {
  const d = family === 4 ? l.attrs.BackendData : l.attrs.BackendV6Data;
  if (typeof d !== "object" || d === null) return undefined;
  const rec = d as Record<string, unknown>;
  const k = Object.keys(rec).find((x) => x.toLowerCase() === "vtepmac");
  const v = k === undefined ? undefined : rec[k];
  return typeof v === "string" ? v.toLowerCase() : undefined;
}

/** What one peer needs in the data plane (vxlan: route + neighbour + FDB entry; host-gw: a route). */
export interface PeerPlan {
  readonly route: KRoute;
  readonly neigh?: KNeigh;
  readonly fdb?: KFdb;
}

/**
 * One peer's entries for the context's family; undefined for a lease of another backend type, or
 * without a subnet or public address of that family (or, vxlan without DirectRouting, a VtepMAC).
 */
export function peerPlan(l: Lease, ctx: PlanContext): PeerPlan | undefined {
  const subnet = leaseSubnet(l, ctx.family);
  const pub = leasePublicIp(l, ctx.family);
  if (!subnet || !pub || (l.attrs.BackendType ?? ctx.kind) !== ctx.kind) return undefined;
  const dst = formatCidr(subnet);
  if (ctx.kind === "host-gw") return { route: { dst, gw: pub, ifindex: ctx.underlayIndex } };
  if (ctx.kind === "ipip") {
    // DirectRouting: a peer on our L2 (no gateway on the way) gets the same route on the underlay, as flannel
    const via = ctx.directRouting ? ctx.routeGet(pub) : undefined;
    const direct = via !== undefined && via.gw === undefined;
    return { route: { dst, gw: pub, ifindex: direct ? ctx.underlayIndex : ctx.ipipIndex, onlink: true } };
  }
  if (ctx.directRouting) {
    const via = ctx.routeGet(pub);
    if (via && via.gw === undefined) return { route: { dst, gw: pub, ifindex: via.ifindex } };
  }
  const mac = vtepMac(l, ctx.family);
  if (!mac) return undefined;
  const gw = formatIp(ctx.family, subnet.ip);
  return {
    neigh: { ifindex: ctx.vxlanIndex, ip: gw, mac },
    fdb: { ifindex: ctx.vxlanIndex, mac, dst: pub },
    route: { dst, gw, ifindex: ctx.vxlanIndex, onlink: true },
  };
}

/** Gather peer plans into the Desired lists (in peer order). */
export function collectPlans(plans: Iterable<PeerPlan | undefined>): Desired {
  const out: Desired = { routes: [], neighs: [], fdb: [] };
  for (const p of plans) {
    if (!p) continue;
    if (p.neigh) out.neighs.push(p.neigh);
    if (p.fdb) out.fdb.push(p.fdb);
    out.routes.push(p.route);
  }
  return out;
}

/**
 * What the data plane should hold for these peers, for the context's family. Leases of another
 * backend type, and leases without a subnet or public address of that family, are skipped.
 */
export function desiredState(peers: Iterable<Lease>, ctx: PlanContext): Desired {
  const plans: (PeerPlan | undefined)[] = [];
  for (const l of peers) plans.push(peerPlan(l, ctx));
  return collectPlans(plans);
}

export interface Diff {
  readonly routes: { readonly put: KRoute[]; readonly del: KRoute[] };
  readonly neighs: { readonly put: KNeigh[]; readonly del: KNeigh[] };
  readonly fdb: { readonly put: KFdb[]; readonly del: KFdb[] };
}

/**
 * Which of the actual routes are ours to manage: inside the cluster network, not our own subnet,
 * and on our device (vxlan) or via a gateway on the underlay (host-gw / DirectRouting).
 */
export function isManagedRoute(
  r: KRoute,
  o: { readonly network: IpNet; readonly own?: IpNet; readonly ctx: PlanContext },
): boolean {
  const dst = parseCidr(r.dst);
  if (!dst || dst.family !== o.network.family || !containsNet(o.network, dst)) return false;
  if (o.own && sameNet(dst, o.own)) return false;
  if (o.ctx.kind === "vxlan" && r.ifindex === o.ctx.vxlanIndex) return true;
  if (o.ctx.kind === "ipip" && r.ifindex === o.ctx.ipipIndex) return true;
  return r.gw !== undefined && r.ifindex === o.ctx.underlayIndex;
}

export function diffSize(d: Diff): number {
  return (
    d.routes.put.length +
    d.routes.del.length +
    d.neighs.put.length +
    d.neighs.del.length +
    d.fdb.put.length +
    d.fdb.del.length
  );
}
