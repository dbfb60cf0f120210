// In-memory NetOps for unit tests: keeps routes/neighbours/FDB per link and records every write.
import type { IpipSpec, NetOps, KFdb, KNeigh, KRoute, VxlanSpec } from "../backend/netops.ts";

const rkey = (r: KRoute) => r.dst;
const nkey = (n: KNeigh) => `${n.ifindex}|${n.ip}`;
const fkey = (f: KFdb) => `${f.ifindex}|${f.mac}|${f.dst}`;

export class FakeNetOps implements NetOps {
  readonly links = new Map<
    string,
    { index: number; mac: string; spec?: VxlanSpec; ipip?: IpipSpec; addrs: string[] }
  >();
  /** Thrown by ensureIpip when set (a kernel without ipip). */
  ipipUnsupported: Error | undefined;
  /** When set, devices get at most this MTU, as the kernel clamps a vxlan device to its underlay. */
  maxMtu: number | undefined;
  readonly routes = new Map<string, KRoute>();
  readonly neighs = new Map<string, KNeigh>();
  readonly fdb = new Map<string, KFdb>();
  readonly writes: string[] = [];
  /** routeGet answers: ip -> result */
  readonly lookups = new Map<string, { gw?: string; ifindex: number }>();
  private next = 10;

  addLink(name: string): number {
    const index = this.next++;
    this.links.set(name, { index, mac: `02:00:00:00:00:${index.toString(16).padStart(2, "0")}`, addrs: [] });
    return index;
  }
  deleteLink(name: string): void {
    const l = this.links.get(name);
    if (!l) return;
    this.links.delete(name);
    for (const [k, r] of this.routes) if (r.ifindex === l.index) this.routes.delete(k);
    for (const [k, n] of this.neighs) if (n.ifindex === l.index) this.neighs.delete(k);
    for (const [k, f] of this.fdb) if (f.ifindex === l.index) this.fdb.delete(k);
  }

  ensureVxlan(spec: VxlanSpec): { index: number; mac: string; created: boolean; mtu: number } {
    const mtu = Math.min(spec.mtu, this.maxMtu ?? spec.mtu);
    const l = this.links.get(spec.name);
    if (l) return { index: l.index, mac: l.mac, created: false, mtu };
    const index = this.next++;
    const mac = spec.mac ?? `0e:00:00:00:00:${index.toString(16).padStart(2, "0")}`;
    this.links.set(spec.name, { index, mac, spec, addrs: [] });
    this.writes.push(`link add ${spec.name}`);
    return { index, mac, created: true, mtu };
  }
  ensureIpip(spec: IpipSpec): { index: number; created: boolean; recreated: boolean } {
    if (this.ipipUnsupported) throw this.ipipUnsupported;
    const l = this.links.get(spec.name);
    if (l?.ipip && l.ipip.localIp === spec.localIp) {
      l.ipip = spec;
      return { index: l.index, created: false, recreated: false };
    }
    if (l) this.deleteLink(spec.name);
    const index = this.next++;
    this.links.set(spec.name, { index, mac: "", ipip: spec, addrs: [] });
    this.writes.push(`link add ${spec.name} type ipip local ${spec.localIp} mtu ${spec.mtu}`);
    return { index, created: true, recreated: l !== undefined };
  }
  linkIndex(name: string): number | undefined {
    return this.links.get(name)?.index;
  }
  ensureAddress(ifindex: number, cidr: string): void {
    for (const l of this.links.values()) if (l.index === ifindex) l.addrs = [cidr];
  }
  listRoutes(family: 4 | 6): KRoute[] {
    return [...this.routes.values()].filter((r) => r.dst.includes(":") === (family === 6));
  }
  replaceRoute(r: KRoute): void {
    this.writes.push(`route replace ${r.dst} via ${r.gw ?? "-"} dev ${r.ifindex}${r.onlink ? " onlink" : ""}`);
    this.routes.set(rkey(r), r);
  }
  deleteRoute(r: KRoute): void {
    this.writes.push(`route del ${r.dst}`);
    this.routes.delete(rkey(r));
  }
  listNeighs(ifindex: number, family: 4 | 6): KNeigh[] {
    return [...this.neighs.values()].filter((n) => n.ifindex === ifindex && n.ip.includes(":") === (family === 6));
  }
  replaceNeigh(n: KNeigh): void {
    this.writes.push(`neigh replace ${n.ip} ${n.mac} dev ${n.ifindex}`);
    this.neighs.set(nkey(n), n);
  }
  deleteNeigh(n: KNeigh): void {
    this.writes.push(`neigh del ${n.ip} dev ${n.ifindex}`);
    this.neighs.delete(nkey(n));
  }
  listFdb(ifindex: number): KFdb[] {
    return [...this.fdb.values()].filter((f) => f.ifindex === ifindex);
  }
  replaceFdb(f: KFdb): void {
    this.writes.push(`fdb replace ${f.mac} dst ${f.dst} dev ${f.ifindex}`);
    this.fdb.set(fkey(f), f);
  }
  deleteFdb(f: KFdb): void {
    this.writes.push(`fdb del ${f.mac} dst ${f.dst} dev ${f.ifindex}`);
    this.fdb.delete(fkey(f));
  }
  routeGet(ip: string): { gw?: string; ifindex: number } | undefined {
    return this.lookups.get(ip);
  }
}

const _check: NetOps = new FakeNetOps();
void _check;
