/**
 * `RecordingNetlink`: an in-memory NetlinkClient for unit tests of plugins and the daemon. It
 * records every call (`calls`) and keeps a small model of one netns (links, addresses with their
 * prefix routes, routes, neighbours, FDB, bridge port VLANs) answering like the kernel: EEXIST,
 * ENODEV (LinkNotFoundError), ESRCH, EADDRNOTAVAIL, EOPNOTSUPP. Several instances form a world: fds
 * passed as `netnsFd` resolve through `world` so veth peers and moved links land in the other fake.
 * Given the netns's MemorySysctl, links get and lose their conf/<name> entries there as in /proc/sys.
 * `failNext` makes one call fail, for the undo paths of callers.
 */
import { LinkNotFoundError, NetlinkError } from "../errors.ts";
import { Errno } from "../errno.ts";
import type { Address, AddrOptions } from "../netlink/addr.ts";
import type { FdbInput, NeighInput, NetlinkClient, RouteFilter, RouteInput } from "../netlink/client.ts";
import { type Family, type PrefixText, bytesText, ipBytes, networkOf, prefixText, textFamily } from "../../net/ip.ts";
import type { BridgeVlan } from "../netlink/bridge-vlan.ts";
import type {
  BridgeOptions,
  BridgePortChange,
  IpipOptions,
  Link,
  LinkChange,
  LinkCommonOptions,
  LinkRef,
  VethOptions,
  VxlanOptions,
} from "../netlink/link.ts";
import type { Neigh } from "../netlink/neigh.ts";
import type { Route, RouteGetOptions } from "../netlink/route.ts";
import { LinkVerbs } from "../netlink/verbs.ts";
import type { MemorySysctl } from "./memory-sysctl.ts";

export interface RecordedCall {
  readonly method: string;
  readonly args: readonly unknown[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
const ESRCH = Errno.ESRCH;
/** The /proc/sys directories the kernel makes per interface (conf/<name>), filled from conf/default. */
const CONF_DIRS = ["net/ipv4/conf", "net/ipv6/conf"] as const;

export class RecordingNetlink extends LinkVerbs implements NetlinkClient {
  readonly calls: RecordedCall[] = [];
  readonly links = new Map<number, Mutable<Link>>();
  readonly addrs: Address[] = [];
  readonly routes: Route[] = [];
  readonly neighs: Neigh[] = [];
  /** For each veth end here: the fake holding its peer. */
  private readonly peerNs = new Map<number, RecordingNetlink>();
  private static nextIndex = 100;
  private static nextMac = 1;
  private readonly failures: { readonly method: string; readonly errno: number }[] = [];

  /**
   * `world` maps a netns fd to the fake standing for that netns; `sysctl` is that netns's /proc/sys,
   * where links get their conf/<name> entries.
   */
  constructor(
    private readonly world: (fd: number) => RecordingNetlink | undefined = () => undefined,
    private readonly sysctl?: MemorySysctl,
  ) {
    super();
    this.put({ name: "lo", kind: "", type: 772, mtu: 65536, mac: "00:00:00:00:00:00" }, 1);
  }

  /** Make the next call of `method` fail with `errno`, as the kernel refusing that request would. */
  failNext(method: keyof NetlinkClient, errno: number): void {
    this.failures.push({ method, errno });
  }

  /** The link named `name`, for assertions (not recorded as a call). */
  linkNamed(name: string): Link | undefined {
    return [...this.links.values()].find((l) => l.name === name);
  }

  private record(method: string, args: unknown[]): void {
    this.calls.push({ method, args });
    const at = this.failures.findIndex((f) => f.method === method);
    const failure = at >= 0 ? this.failures.splice(at, 1)[0] : undefined;
    if (failure) throw new NetlinkError(failure.errno, `${method} (failure injected by the test)`);
  }

  private addLinkSysctls(name: string): void {
    const s = this.sysctl;
    if (!s) return;
    for (const dir of CONF_DIRS) {
      for (const k of s.keysUnder(`${dir}/default`)) s.add(`${dir}/${name}/${k.slice(dir.length + 9)}`, s.get(k));
    }
  }
  private moveLinkSysctls(from: string, to: string | undefined): void {
    const s = this.sysctl;
    if (!s) return;
    for (const dir of CONF_DIRS) {
      for (const k of s.keysUnder(`${dir}/${from}`)) {
        if (to !== undefined) s.add(`${dir}/${to}/${k.slice(dir.length + from.length + 2)}`, s.get(k));
        s.remove(k);
      }
    }
  }

  /** The other end of a veth, in whichever fake it lives. */
  private peerOf(l: Link): Mutable<Link> | undefined {
    const ns = this.peerNs.get(l.index);
    return ns && l.parentIndex !== undefined ? ns.links.get(l.parentIndex) : undefined;
  }
  /**
   * Operational state as the kernel reports it: down when the link is down; a veth that is up while
   * its peer is down has no carrier (lowerlayerdown); up otherwise. Kept for both ends of a veth.
   */
  private syncOperState(l: Mutable<Link>): void {
    const peer = this.peerOf(l);
    l.operState = !l.up ? "down" : peer && !peer.up ? "lowerlayerdown" : "up";
    if (peer) peer.operState = !peer.up ? "down" : l.up ? "up" : "lowerlayerdown";
  }

  /** Remove a link with what hangs on it: addresses, routes, neighbours, VLANs, its /proc/sys entries. */
  private drop(index: number): void {
    const l = this.links.get(index);
    if (!l) return;
    this.deleteState(index);
    this.links.delete(index);
    this.moveLinkSysctls(l.name, undefined);
  }

  private put(
    o: { name: string; kind: string; type?: number; mtu?: number; mac?: string },
    index = RecordingNetlink.nextIndex++,
  ): Mutable<Link> {
    if ([...this.links.values()].some((l) => l.name === o.name))
      throw new NetlinkError(Errno.EEXIST, `RTM_NEWLINK ${o.kind} ${o.name}`);
    const n = RecordingNetlink.nextMac++;
    const l: Mutable<Link> = {
      index,
      name: o.name,
      kind: o.kind,
      type: o.type ?? 1,
      flags: 0,
      up: false,
      promisc: false,
      operState: "down",
      mtu: o.mtu || 1500,
      mac:
        o.mac ??
        `02:00:00:00:${((n >> 8) & 0xff).toString(16).padStart(2, "0")}:${(n & 0xff).toString(16).padStart(2, "0")}`,
    };
    this.links.set(index, l);
    this.addLinkSysctls(o.name);
    return l;
  }

  private target(fd: number | undefined): RecordingNetlink {
    if (fd === undefined) return this;
    const t = this.world(fd);
    if (!t) throw new NetlinkError(Errno.EBADF, `netns fd ${fd}`);
    return t;
  }

  protected linkIndex(ref: LinkRef): number {
    return this.must(ref).index;
  }

  private must(ref: LinkRef): Mutable<Link> {
    const l = typeof ref === "number" ? this.links.get(ref) : [...this.links.values()].find((x) => x.name === ref);
    if (!l) throw new LinkNotFoundError(ref);
    return l;
  }

  listLinks(): Link[] {
    this.record("listLinks", []);
    return [...this.links.values()].map((l) => ({ ...l }));
  }
  getLink(ref: LinkRef): Link {
    this.record("getLink", [ref]);
    return { ...this.must(ref) };
  }
  findLink(ref: LinkRef): Link | undefined {
    this.record("findLink", [ref]);
    try {
      return { ...this.must(ref) };
    } catch {
      return undefined;
    }
  }
  createVeth(o: VethOptions): void {
    this.record("createVeth", [o]);
    const here = this.target(o.netnsFd);
    const there = this.target(o.peer.netnsFd);
    if (here === there && o.name === o.peer.name) throw new NetlinkError(Errno.EEXIST, `RTM_NEWLINK veth ${o.name}`);
    const a = here.put({
      name: o.name,
      kind: "veth",
      ...(o.mtu ? { mtu: o.mtu } : {}),
      ...(o.mac ? { mac: o.mac } : {}),
    });
    let b: Mutable<Link>;
    try {
      b = there.put({
        name: o.peer.name,
        kind: "veth",
        mtu: o.peer.mtu ?? o.mtu ?? 0,
        ...(o.peer.mac ? { mac: o.peer.mac } : {}),
      });
    } catch (e) {
      here.drop(a.index);
      throw e;
    }
    a.parentIndex = b.index;
    b.parentIndex = a.index;
    here.peerNs.set(a.index, there);
    there.peerNs.set(b.index, here);
  }
  createBridge(o: BridgeOptions): void {
    this.record("createBridge", [o]);
    const l = this.target(o.netnsFd).put({
      name: o.name,
      kind: "bridge",
      ...(o.mtu ? { mtu: o.mtu } : {}),
      ...(o.mac ? { mac: o.mac } : {}),
    });
    l.bridge = { vlanFiltering: o.vlanFiltering ?? false };
  }
  createVxlan(o: VxlanOptions): void {
    this.record("createVxlan", [o]);
    const l = this.target(o.netnsFd).put({
      name: o.name,
      kind: "vxlan",
      ...(o.mtu ? { mtu: o.mtu } : {}),
      ...(o.mac ? { mac: o.mac } : {}),
    });
    l.vxlan = {
      vni: o.vni,
      ...(o.local ? { local: o.local } : {}),
      ...(o.group ? { group: o.group } : {}),
      ...(o.underlayIndex ? { underlayIndex: o.underlayIndex } : {}),
      port: o.port ?? 0,
      learning: o.learning ?? false,
      gbp: o.gbp ?? false,
      ...(o.ttl !== undefined ? { ttl: o.ttl } : {}),
      ...(o.tos !== undefined ? { tos: o.tos } : {}),
      l2miss: o.l2miss ?? false,
      l3miss: o.l3miss ?? false,
    };
  }
  createIpip(o: IpipOptions): void {
    this.record("createIpip", [o]);
    const l = this.target(o.netnsFd).put({ name: o.name, kind: "ipip", ...(o.mtu ? { mtu: o.mtu } : {}) });
    l.ipip = {
      ...(o.local ? { local: o.local } : {}),
      ...(o.remote ? { remote: o.remote } : {}),
      ...(o.underlayIndex ? { underlayIndex: o.underlayIndex } : {}),
      ttl: o.ttl ?? 0,
      tos: o.tos ?? 0,
      pmtudisc: o.pmtudisc ?? true,
    };
  }
  createDummy(o: LinkCommonOptions): void {
    this.record("createDummy", [o]);
    this.target(o.netnsFd).put({
      name: o.name,
      kind: "dummy",
      ...(o.mtu ? { mtu: o.mtu } : {}),
      ...(o.mac ? { mac: o.mac } : {}),
    });
  }
  createWireguard(o: LinkCommonOptions): void {
    this.record("createWireguard", [o]);
    this.target(o.netnsFd).put({ name: o.name, kind: "wireguard", ...(o.mtu ? { mtu: o.mtu } : {}) });
  }
  setLink(ref: LinkRef, c: LinkChange): void {
    this.record("setLink", [ref, c]);
    const l = this.must(ref);
    if (c.up !== undefined) {
      l.up = c.up;
      this.syncOperState(l);
    }
    if (c.promisc !== undefined) l.promisc = c.promisc;
    if (c.mtu !== undefined) l.mtu = c.mtu;
    if (c.mac !== undefined) l.mac = c.mac;
    if (c.masterIndex !== undefined) {
      if (c.masterIndex === 0) {
        delete l.masterIndex;
        delete l.slaveKind;
        delete l.bridgePort;
        this.vlans.delete(l.index);
      } else if (this.must(c.masterIndex).kind !== "bridge") {
        throw new NetlinkError(Errno.EOPNOTSUPP, `RTM_SETLINK ${l.name} master`);
      } else if (l.masterIndex !== c.masterIndex) {
        l.masterIndex = c.masterIndex;
        // a new port gets the bridge's default PVID, VLAN 1, egress untagged
        this.vlans.set(l.index, [{ vid: 1, pvid: true, untagged: true }]);
      }
    }
    if (c.name !== undefined) {
      if (l.up) throw new NetlinkError(Errno.EBUSY, `RTM_SETLINK ${l.name} name`);
      if ([...this.links.values()].some((x) => x.name === c.name))
        throw new NetlinkError(Errno.EEXIST, `RTM_SETLINK ${l.name} name`);
      this.moveLinkSysctls(l.name, c.name);
      l.name = c.name;
    }
    if (c.netnsFd !== undefined) {
      const t = this.target(c.netnsFd);
      const other = this.peerNs.get(l.index);
      this.drop(l.index);
      this.peerNs.delete(l.index);
      const moved: Mutable<Link> = { ...l, up: false };
      delete moved.masterIndex;
      t.links.set(l.index, moved);
      t.addLinkSysctls(l.name);
      if (other && l.parentIndex !== undefined) {
        t.peerNs.set(l.index, other);
        other.peerNs.set(l.parentIndex, t);
      }
      t.syncOperState(moved);
    }
  }
  setBridgePort(ref: LinkRef, c: BridgePortChange): void {
    this.record("setBridgePort", [ref, c]);
    const l = this.must(ref);
    if (l.masterIndex === undefined) throw new NetlinkError(Errno.EOPNOTSUPP, `RTM_SETLINK bridge port ${l.name}`);
    l.slaveKind = "bridge";
    l.bridgePort = { ...(l.bridgePort ?? { hairpin: false }), ...c };
  }
  /** VLANs per bridge port ifindex. */
  readonly vlans = new Map<number, BridgeVlan[]>();
  listBridgeVlans(port: LinkRef): BridgeVlan[] {
    this.record("listBridgeVlans", [port]);
    return [...(this.vlans.get(this.must(port).index) ?? [])];
  }
  /** Adds or updates one VID; a new PVID takes the PVID flag from the port's previous one, which stays. */
  addBridgeVlan(port: LinkRef, v: BridgeVlan): void {
    this.record("addBridgeVlan", [port, v]);
    const l = this.must(port);
    if (l.masterIndex === undefined)
      throw new NetlinkError(Errno.EOPNOTSUPP, `RTM_SETLINK bridge vlan ${v.vid} ${l.name}`);
    const list = (this.vlans.get(l.index) ?? [])
      .filter((x) => x.vid !== v.vid)
      .map((x) => (v.pvid && x.pvid ? { ...x, pvid: false } : x));
    this.vlans.set(l.index, [...list, v]);
  }
  deleteBridgeVlan(port: LinkRef, vid: number): void {
    this.record("deleteBridgeVlan", [port, vid]);
    const l = this.must(port);
    const list = this.vlans.get(l.index) ?? [];
    if (!list.some((x) => x.vid === vid))
      throw new NetlinkError(Errno.ENOENT, `RTM_DELLINK bridge vlan ${vid} ${l.name}`);
    this.vlans.set(
      l.index,
      list.filter((x) => x.vid !== vid),
    );
  }
  private deleteState(index: number): void {
    this.vlans.delete(index);
    const keep = <T>(arr: T[], ok: (x: T) => boolean): void => {
      const kept = arr.filter(ok);
      arr.splice(0, arr.length, ...kept);
    };
    keep(this.addrs, (a) => a.index !== index);
    keep(this.routes, (r) => r.oif !== index);
    keep(this.neighs, (n) => n.index !== index);
  }
  deleteLink(ref: LinkRef): void {
    this.record("deleteLink", [ref]);
    const l = this.must(ref);
    this.drop(l.index);
    const other = this.peerNs.get(l.index);
    this.peerNs.delete(l.index);
    if (other && l.parentIndex !== undefined) {
      other.drop(l.parentIndex);
      other.peerNs.delete(l.parentIndex);
    }
  }

  listAddrs(f: { readonly dev?: LinkRef; readonly family?: Family } = {}): Address[] {
    this.record("listAddrs", [f]);
    const idx = f.dev === undefined ? undefined : this.must(f.dev).index;
    return this.addrs.filter(
      (a) => (idx === undefined || a.index === idx) && (f.family === undefined || a.family === f.family),
    );
  }
  private writeAddr(dev: LinkRef, addr: AddrOptions | string, replace: boolean): void {
    const l = this.must(dev);
    const c = prefixText(
      typeof addr === "string"
        ? addr
        : typeof addr.cidr === "string"
          ? addr.cidr
          : `${addr.cidr.ip}/${addr.cidr.prefixLen}`,
    );
    const at = this.addrs.findIndex((a) => a.index === l.index && a.ip === c.ip && a.prefixLen === c.prefixLen);
    if (at >= 0 && !replace) throw new NetlinkError(Errno.EEXIST, `RTM_NEWADDR ${c.ip}/${c.prefixLen} dev ${l.name}`);
    if (at >= 0) return;
    const family = textFamily(c.ip);
    this.addrs.push({
      index: l.index,
      family,
      ip: c.ip,
      prefixLen: c.prefixLen,
      scope: 0,
      flags: 0x80,
      permanent: true,
      tentative: false,
      dadFailed: false,
    });
    if (c.prefixLen < (family === 4 ? 32 : 128)) {
      const dst = `${bytesText(networkOf(ipBytes(c.ip), c.prefixLen))}/${c.prefixLen}`;
      this.routes.push({
        family,
        dst,
        oif: l.index,
        src: c.ip,
        table: 254,
        protocol: 2,
        scope: 253,
        type: "unicast",
        flags: 0,
        onlink: false,
      });
    }
  }
  addAddr(dev: LinkRef, addr: AddrOptions | string): void {
    this.record("addAddr", [dev, addr]);
    this.writeAddr(dev, addr, false);
  }
  replaceAddr(dev: LinkRef, addr: AddrOptions | string): void {
    this.record("replaceAddr", [dev, addr]);
    this.writeAddr(dev, addr, true);
  }
  deleteAddr(dev: LinkRef, cidr: string | PrefixText): void {
    this.record("deleteAddr", [dev, cidr]);
    const l = this.must(dev);
    const c = typeof cidr === "string" ? prefixText(cidr) : cidr;
    const at = this.addrs.findIndex((a) => a.index === l.index && a.ip === c.ip && a.prefixLen === c.prefixLen);
    if (at < 0) throw new NetlinkError(Errno.EADDRNOTAVAIL, `RTM_DELADDR ${c.ip}/${c.prefixLen} dev ${l.name}`);
    this.addrs.splice(at, 1);
    const ri = this.routes.findIndex((r) => r.oif === l.index && r.protocol === 2 && r.src === c.ip);
    if (ri >= 0) this.routes.splice(ri, 1);
  }

  listRoutes(f: RouteFilter = {}): Route[] {
    this.record("listRoutes", [f]);
    const table = f.table ?? 254;
    const oif = f.dev === undefined ? undefined : this.must(f.dev).index;
    return this.routes.filter(
      (r) =>
        (table === "all" || r.table === table) &&
        (oif === undefined || r.oif === oif) &&
        (f.family === undefined || r.family === f.family),
    );
  }
  private toRoute(r: RouteInput): Route {
    const oif = r.dev !== undefined ? this.must(r.dev).index : r.oif;
    const family = r.dst === "default" ? (r.gateway ? textFamily(r.gateway) : 4) : textFamily(r.dst);
    const c = prefixText(r.dst === "default" ? (family === 4 ? "0.0.0.0/0" : "::/0") : r.dst);
    const type = r.type ?? "unicast";
    return {
      family,
      dst: `${bytesText(networkOf(ipBytes(c.ip), c.prefixLen))}/${c.prefixLen}`,
      ...(r.gateway ? { gateway: r.gateway } : {}),
      ...(oif !== undefined ? { oif } : {}),
      ...(r.src ? { src: r.src } : {}),
      table: r.table ?? 254,
      protocol: typeof r.protocol === "number" ? r.protocol : 3,
      scope: r.gateway || type !== "unicast" ? 0 : 253,
      type,
      flags: r.onlink ? 4 : 0,
      onlink: r.onlink ?? false,
      ...(r.priority !== undefined ? { priority: r.priority } : {}),
      ...(r.mtu !== undefined ? { mtu: r.mtu } : {}),
      ...(r.advmss !== undefined ? { advmss: r.advmss } : {}),
    };
  }
  private routeAt(r: Route): number {
    return this.routes.findIndex(
      (x) => x.dst === r.dst && x.table === r.table && (x.priority ?? 0) === (r.priority ?? 0),
    );
  }
  addRoute(r: RouteInput): void {
    this.record("addRoute", [r]);
    const route = this.toRoute(r);
    if (this.routeAt(route) >= 0) throw new NetlinkError(Errno.EEXIST, `RTM_NEWROUTE ${r.dst}`);
    this.routes.push(route);
  }
  replaceRoute(r: RouteInput): void {
    this.record("replaceRoute", [r]);
    const route = this.toRoute(r);
    const at = this.routeAt(route);
    if (at >= 0) this.routes.splice(at, 1, route);
    else this.routes.push(route);
  }
  appendRoute(r: RouteInput): void {
    this.record("appendRoute", [r]);
    const route = this.toRoute(r);
    if (
      this.routes.some(
        (x) => x.dst === route.dst && x.table === route.table && x.gateway === route.gateway && x.oif === route.oif,
      )
    ) {
      throw new NetlinkError(Errno.EEXIST, `RTM_NEWROUTE append ${r.dst}`);
    }
    this.routes.push(route);
  }
  deleteRoute(r: RouteInput): void {
    this.record("deleteRoute", [r]);
    const want = this.toRoute(r);
    const at = this.routes.findIndex(
      (x) =>
        x.dst === want.dst &&
        x.table === want.table &&
        (!r.gateway || x.gateway === r.gateway) &&
        (want.oif === undefined || x.oif === want.oif),
    );
    if (at < 0) throw new NetlinkError(ESRCH, `RTM_DELROUTE ${r.dst}`);
    this.routes.splice(at, 1);
  }
  getRouteTo(ip: string, o: RouteGetOptions = {}): Route {
    this.record("getRouteTo", [ip, o]);
    const b = ipBytes(ip);
    const best = this.routes
      .filter((r) => r.table === 254 && r.family === (b.byteLength === 4 ? 4 : 6))
      .filter((r) => {
        const c = prefixText(r.dst);
        return bytesText(networkOf(b, c.prefixLen)) === c.ip;
      })
      .sort((x, y) => prefixText(y.dst).prefixLen - prefixText(x.dst).prefixLen)[0];
    if (!best) throw new NetlinkError(Errno.ENETUNREACH, `RTM_GETROUTE to ${ip}`);
    return { ...best, dst: `${ip}/${b.byteLength * 8}` };
  }

  listNeighs(f: { readonly dev?: LinkRef; readonly family?: 4 | 6 } = {}): Neigh[] {
    this.record("listNeighs", [f]);
    const idx = f.dev === undefined ? undefined : this.must(f.dev).index;
    return this.neighs.filter(
      (n) =>
        n.family !== "bridge" &&
        (idx === undefined || n.index === idx) &&
        (f.family === undefined || n.family === f.family),
    );
  }
  private writeNeigh(n: NeighInput, replace: boolean): void {
    const l = this.must(n.dev);
    const at = this.neighs.findIndex((x) => x.family !== "bridge" && x.index === l.index && x.ip === n.ip);
    if (at >= 0 && !replace) throw new NetlinkError(Errno.EEXIST, `RTM_NEWNEIGH ${n.ip} dev ${l.name}`);
    const entry: Neigh = {
      index: l.index,
      family: textFamily(n.ip),
      ip: n.ip,
      ...(n.mac ? { mac: n.mac } : {}),
      state: 0x80,
      states: ["permanent"],
      permanent: true,
      flags: 0,
      self: false,
      master: false,
    };
    if (at >= 0) this.neighs.splice(at, 1, entry);
    else this.neighs.push(entry);
  }
  addNeigh(n: NeighInput): void {
    this.record("addNeigh", [n]);
    this.writeNeigh(n, false);
  }
  replaceNeigh(n: NeighInput): void {
    this.record("replaceNeigh", [n]);
    this.writeNeigh(n, true);
  }
  deleteNeigh(n: Omit<NeighInput, "mac" | "state">): void {
    this.record("deleteNeigh", [n]);
    const l = this.must(n.dev);
    const at = this.neighs.findIndex((x) => x.family !== "bridge" && x.index === l.index && x.ip === n.ip);
    if (at < 0) throw new NetlinkError(Errno.ENOENT, `RTM_DELNEIGH ${n.ip} dev ${l.name}`);
    this.neighs.splice(at, 1);
  }
  listFdb(f: { readonly dev?: LinkRef } = {}): Neigh[] {
    this.record("listFdb", [f]);
    const idx = f.dev === undefined ? undefined : this.must(f.dev).index;
    return this.neighs.filter((n) => n.family === "bridge" && (idx === undefined || n.index === idx));
  }
  private fdbAt(index: number, e: FdbInput, byDst: boolean): number {
    return this.neighs.findIndex(
      (x) => x.family === "bridge" && x.index === index && x.mac === e.mac && (!byDst || x.ip === e.dst),
    );
  }
  private fdbEntry(index: number, e: FdbInput): Neigh {
    return {
      index,
      family: "bridge",
      mac: e.mac,
      ...(e.dst ? { ip: e.dst } : {}),
      state: 0x80,
      states: ["permanent"],
      permanent: true,
      flags: 2,
      self: e.self ?? true,
      master: e.master ?? false,
    };
  }
  appendFdb(e: FdbInput): void {
    this.record("appendFdb", [e]);
    const l = this.must(e.dev);
    if (this.fdbAt(l.index, e, true) >= 0)
      throw new NetlinkError(Errno.EEXIST, `RTM_NEWNEIGH fdb append ${e.mac} dev ${l.name}`);
    this.neighs.push(this.fdbEntry(l.index, e));
  }
  replaceFdb(e: FdbInput): void {
    this.record("replaceFdb", [e]);
    const l = this.must(e.dev);
    const at = this.fdbAt(l.index, e, false);
    if (at >= 0) this.neighs.splice(at, 1, this.fdbEntry(l.index, e));
    else this.neighs.push(this.fdbEntry(l.index, e));
  }
  deleteFdb(e: FdbInput): void {
    this.record("deleteFdb", [e]);
    const l = this.must(e.dev);
    const at = this.fdbAt(l.index, e, e.dst !== undefined);
    if (at < 0) throw new NetlinkError(Errno.ENOENT, `RTM_DELNEIGH fdb ${e.mac} dev ${l.name}`);
    this.neighs.splice(at, 1);
  }

  close(): void {
    this.record("close", []);
  }
}
