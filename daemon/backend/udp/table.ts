// The udp forwarder's routing table: which peer's public IPv4 address carries a packet for a given
// destination, from the peers' leases. Addresses are unsigned 32-bit numbers (host order) so the
// forwarder looks a packet up without making strings. Pure (no kernel), shared by the daemon,
// which builds the entries, and the forwarder worker, which looks packets up.
import { formatIp, parseCidr, parseIp } from "../../../net/prefix.ts";
import { describeLease, type Lease } from "../../lease.ts";

/** One peer subnet and the public address of the node holding it. */
export interface PeerRoute {
  /** subnet network address (host order) */
  readonly net: number;
  readonly prefix: number;
  /** the peer's PublicIP (host order) */
  readonly ip: number;
}

/** Subnet mask of a prefix length, as an unsigned 32-bit number. */
export function maskOf(prefix: number): number {
  return prefix <= 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function ipv4ToU32(text: string): number | undefined {
  const a = parseIp(text);
  return a && a.family === 4 ? Number(a.ip) : undefined;
}

export function u32ToIpv4(ip: number): string {
  return formatIp(4, BigInt(ip >>> 0));
}

/** Whether a lease of BackendType `t` is one the udp backend forwards to (flannel's udp leases carry none). */
export function isUdpLease(t: string | undefined): boolean {
  return t === undefined || t === "" || t === "udp";
}

/**
 * The route a peer's lease gives, or a reason it gives none: no IPv4 subnet, no usable PublicIP, or
 * another backend's lease.
 */
export function peerRoute(l: Lease): PeerRoute | string {
  if (!isUdpLease(l.attrs.BackendType)) return `backend type is "${l.attrs.BackendType}", not udp`;
  if (!l.subnet || l.subnet.family !== 4) return "no IPv4 subnet";
  const ip = ipv4ToU32(l.attrs.PublicIP);
  if (ip === undefined || ip === 0) return `PublicIP "${l.attrs.PublicIP}" is not a usable IPv4 address`;
  const prefix = l.subnet.prefix;
  return { net: Number(l.subnet.ip) & maskOf(prefix), prefix, ip };
}

/** Peer routes of a set of leases, skipping the ones that give none (their reasons go to `skipped`). */
export function peerRoutes(leases: Iterable<Lease>, skipped?: (lease: string, reason: string) => void): PeerRoute[] {
  const out: PeerRoute[] = [];
  for (const l of leases) {
    const r = peerRoute(l);
    if (typeof r === "string") skipped?.(describeLease(l), r);
    else out.push(r);
  }
  return out;
}

/** "10.244.1.0/24 -> 192.0.2.2" for logs. */
export function describeRoute(r: PeerRoute): string {
  return `${u32ToIpv4(r.net)}/${r.prefix} -> ${u32ToIpv4(r.ip)}`;
}

/** Parse "a.b.c.d/n" into a network and prefix (host order); undefined when it is not IPv4. */
export function parseIpv4Net(cidr: string): { net: number; prefix: number } | undefined {
  const n = parseCidr(cidr);
  if (!n || n.family !== 4) return undefined;
  return { net: Number(n.ip) & maskOf(n.prefix), prefix: n.prefix };
}

/**
 * Longest-prefix lookup of a destination among peer subnets. Leases of one network normally share
 * one prefix length, so a lookup is one Map probe per distinct length; the last answer is cached
 * because packets come in bursts to one destination.
 */
export class RouteTable {
  /** index per prefix length, longest first: masked network -> slot */
  private levels: { readonly mask: number; readonly map: Map<number, number> }[] = [];
  private cacheDst = -1;
  private cacheSlot = -1;
  private entries: readonly PeerRoute[] = [];

  constructor(routes: readonly PeerRoute[] = []) {
    this.set(routes);
  }

  /** Replace every route. The slot of a route is its index in `routes`. */
  set(routes: readonly PeerRoute[]): void {
    const byLen = new Map<number, Map<number, number>>();
    routes.forEach((r, i) => {
      let m = byLen.get(r.prefix);
      if (!m) byLen.set(r.prefix, (m = new Map()));
      // a later duplicate of the same subnet replaces the earlier one, as a lease update does
      m.set((r.net & maskOf(r.prefix)) >>> 0, i);
    });
    this.levels = [...byLen.entries()].sort((a, b) => b[0] - a[0]).map(([len, map]) => ({ mask: maskOf(len), map }));
    this.entries = routes;
    this.cacheDst = -1;
    this.cacheSlot = -1;
  }

  get size(): number {
    return this.entries.length;
  }

  /** Slot of the route covering `dst` (host order), -1 when no lease covers it. */
  lookup(dst: number): number {
    if (dst === this.cacheDst) return this.cacheSlot;
    let slot = -1;
    for (const l of this.levels) {
      const s = l.map.get((dst & l.mask) >>> 0);
      if (s !== undefined) {
        slot = s;
        break;
      }
    }
    this.cacheDst = dst;
    this.cacheSlot = slot;
    return slot;
  }

  route(slot: number): PeerRoute | undefined {
    return this.entries[slot];
  }
}
