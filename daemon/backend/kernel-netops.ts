// NetOps on a linux/ NetlinkClient: what the vxlan and host-gw backends program, in the netns the
// client's socket was opened in. The client is injected (the daemon opens it; tests may pass a fake).
import type { NetlinkClient } from "../../linux/netlink/client.ts";
import type { Link } from "../../linux/netlink/link.ts";
import { containsNet, parseCidr } from "../../net/prefix.ts";
import { NetlinkError } from "../../linux/errors.ts";
import type { IpipSpec, NetOps, KFdb, KNeigh, KRoute, VxlanSpec } from "./netops.ts";

const RT_TABLE_MAIN = 254;

/** A random locally administered unicast MAC, as flanneld picks one for its VTEP. */
export function randomVtepMac(
  rand: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n)),
): string {
  const b = rand(6);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

function compatible(l: Link, s: VxlanSpec): boolean {
  const v = l.vxlan;
  if (l.kind !== "vxlan" || !v) return false;
  return (
    v.vni === s.vni &&
    v.local === s.localIp &&
    v.underlayIndex === s.underlayIndex &&
    (v.port || 8472) === (s.port || 8472) &&
    v.gbp === s.gbp &&
    v.learning === s.learning &&
    v.group === undefined
  );
}

export class KernelNetOps implements NetOps {
  constructor(private readonly nl: NetlinkClient) {}

  ensureVxlan(s: VxlanSpec): { index: number; mac: string; created: boolean; mtu: number } {
    const existing = this.nl.findLink(s.name);
    if (existing && compatible(existing, s) && (!s.mac || existing.mac === s.mac)) {
      if (existing.mtu !== s.mtu) this.nl.setMtu(existing.index, s.mtu);
      this.nl.setLinkUp(existing.index);
      return { index: existing.index, mac: existing.mac, created: false, mtu: this.nl.getLink(s.name).mtu };
    }
    if (existing) this.nl.deleteLink(existing.index);
    this.nl.createVxlan({
      name: s.name,
      vni: s.vni,
      local: s.localIp,
      underlayIndex: s.underlayIndex,
      port: s.port,
      learning: s.learning,
      gbp: s.gbp,
      mtu: s.mtu,
      mac: s.mac ?? randomVtepMac(),
    });
    const made = this.nl.getLink(s.name);
    this.nl.setLinkUp(made.index);
    return { index: made.index, mac: made.mac, created: true, mtu: made.mtu };
  }

  ensureIpip(s: IpipSpec): { index: number; created: boolean; recreated: boolean; mtu: number } {
    const existing = this.nl.findLink(s.name);
    if (existing && existing.kind !== "ipip") {
      throw new Error(
        `${s.name} exists but is not an ipip device (kind "${existing.kind || "none"}"): ` +
          `remove it (ip link del ${s.name}) and restart flanneld`,
      );
    }
    if (existing && existing.ipip?.local === s.localIp && existing.ipip.remote === undefined) {
      if (existing.mtu !== s.mtu) this.nl.setMtu(existing.index, s.mtu);
      return { index: existing.index, created: false, recreated: false, mtu: this.nl.getLink(s.name).mtu };
    }
    if (existing) this.nl.deleteLink(existing.index);
    try {
      // flannel's attributes: ttl and tos inherited, no path MTU discovery, any remote
      this.nl.createIpip({ name: s.name, local: s.localIp, ttl: 0, tos: 0, pmtudisc: false, mtu: s.mtu });
    } catch (e) {
      if (e instanceof NetlinkError && e.code === "EOPNOTSUPP") {
        throw new Error(
          `cannot create ${s.name}: this kernel has no ipip tunnel support (module ipip, CONFIG_NET_IPIP): ` +
            `load it with \`modprobe ipip\` or choose another Backend.Type (${e.message})`,
        );
      }
      throw e;
    }
    const made = this.nl.getLink(s.name);
    return { index: made.index, created: true, recreated: existing !== undefined, mtu: made.mtu };
  }

  linkIndex(name: string): number | undefined {
    return this.nl.findLink(name)?.index;
  }

  ensureAddress(ifindex: number, cidr: string, within: string): void {
    const inside = parseCidr(within);
    const want = parseCidr(cidr);
    let present = false;
    for (const a of this.nl.listAddrs({ dev: ifindex })) {
      const have = parseCidr(`${a.ip}/${a.prefixLen}`);
      if (!have || !want) continue;
      if (have.ip === want.ip && have.prefix === want.prefix && have.family === want.family) present = true;
      else if (
        inside &&
        have.family === inside.family &&
        containsNet(inside, { ...have, prefix: Math.max(have.prefix, inside.prefix) })
      )
        this.nl.deleteAddr(ifindex, `${a.ip}/${a.prefixLen}`);
    }
    // IPv6: no duplicate address detection (the address is ours by lease, usable at once) and no
    // prefix route (an IPv4 /32 gets none either; the kernel would add one for the /128).
    if (!present) this.nl.addAddr(ifindex, want?.family === 6 ? { cidr, noDad: true, noPrefixRoute: true } : cidr);
    this.nl.setLinkUp(ifindex);
  }

  listRoutes(family: 4 | 6): KRoute[] {
    const out: KRoute[] = [];
    for (const r of this.nl.listRoutes({ family, table: RT_TABLE_MAIN })) {
      if (r.type !== "unicast" || r.oif === undefined) continue;
      // one object per route, no spread temporaries (5,000 routes every pass)
      const k: { dst: string; ifindex: number; gw?: string; onlink?: boolean } = { dst: r.dst, ifindex: r.oif };
      if (r.gateway) k.gw = r.gateway;
      if (r.onlink) k.onlink = true;
      out.push(k);
    }
    return out;
  }

  replaceRoute(r: KRoute): void {
    this.nl.replaceRoute({
      dst: r.dst,
      oif: r.ifindex,
      ...(r.gw ? { gateway: r.gw } : {}),
      ...(r.onlink ? { onlink: true } : {}),
    });
  }

  deleteRoute(r: KRoute): void {
    this.nl.deleteRoute({ dst: r.dst, oif: r.ifindex, ...(r.gw ? { gateway: r.gw } : {}) });
  }

  listNeighs(ifindex: number, family: 4 | 6): KNeigh[] {
    const out: KNeigh[] = [];
    for (const n of this.nl.listNeighs({ dev: ifindex, family })) {
      if (n.permanent && n.ip !== undefined && n.mac !== undefined)
        out.push({ ifindex, ip: n.ip, mac: n.mac.toLowerCase() });
    }
    return out;
  }

  replaceNeigh(n: KNeigh): void {
    this.nl.replaceNeigh({ dev: n.ifindex, ip: n.ip, mac: n.mac, state: "permanent" });
  }

  deleteNeigh(n: KNeigh): void {
    this.nl.deleteNeigh({ dev: n.ifindex, ip: n.ip });
  }

  listFdb(ifindex: number): KFdb[] {
    const out: KFdb[] = [];
    for (const f of this.nl.listFdb({ dev: ifindex })) {
      if (f.index === ifindex && f.ip !== undefined && f.mac !== undefined && f.mac !== "00:00:00:00:00:00")
        out.push({ ifindex, mac: f.mac.toLowerCase(), dst: f.ip });
    }
    return out;
  }

  replaceFdb(f: KFdb): void {
    this.nl.replaceFdb({ dev: f.ifindex, mac: f.mac, dst: f.dst });
  }

  deleteFdb(f: KFdb): void {
    this.nl.deleteFdb({ dev: f.ifindex, mac: f.mac, dst: f.dst });
  }

  routeGet(ip: string): { gw?: string; ifindex: number } | undefined {
    try {
      const r = this.nl.getRouteTo(ip);
      return r.oif === undefined ? undefined : { ifindex: r.oif, ...(r.gateway ? { gw: r.gateway } : {}) };
    } catch {
      return undefined;
    }
  }
}
