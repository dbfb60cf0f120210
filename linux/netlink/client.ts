/**
 * `NetlinkClient`: the verbs plugins and the daemon use, one interface with two
 * implementations: `RtnetlinkClient` here (requests over a `NetlinkSocket`; `openNetlink()` in
 * open.ts wires it to the kernel) and the in-memory `RecordingNetlink` fake. Everything is
 * synchronous: a client talks to the netns its socket was opened in, for its whole life.
 */
import { LinkNotFoundError, NetlinkError } from "../errors.ts";
import { Errno } from "../errno.ts";
import {
  addAddrRequest,
  decodeAddress,
  deleteAddrRequest,
  dumpAddrsRequest,
  type Address,
  type AddrOptions,
} from "./addr.ts";
import type { Family, PrefixText } from "../../net/ip.ts";
import {
  createBridgeRequest,
  createDummyRequest,
  createWireguardRequest,
  createVethRequest,
  createVxlanRequest,
  createIpipRequest,
  decodeLink,
  deleteLinkRequest,
  dumpLinksRequest,
  getLinkRequest,
  setBridgePortRequest,
  setLinkRequest,
  type BridgeOptions,
  type BridgePortChange,
  type Link,
  type LinkChange,
  type LinkCommonOptions,
  type LinkRef,
  type VethOptions,
  type VxlanOptions,
  type IpipOptions,
} from "./link.ts";
import { bridgeVlanDumpRequest, bridgeVlanRequest, decodeBridgeVlans, type BridgeVlan } from "./bridge-vlan.ts";
import {
  decodeNeigh,
  dumpNeighsRequest,
  fdbRequest,
  neighRequest,
  type FdbSpec,
  type Neigh,
  type NeighSpec,
} from "./neigh.ts";
import {
  decodeRoute,
  dumpRoutesRequest,
  getRouteToRequest,
  isCloned,
  routeRequest,
  type Route,
  type RouteGetOptions,
  type RouteSpec,
} from "./route.ts";
import { RT_TABLE_MAIN } from "./constants.ts";
import type { NetlinkSocket } from "./socket.ts";
import { LinkVerbs } from "./verbs.ts";

/** A route to program; `dev` (name or index) is resolved to `oif`. */
export type RouteInput = RouteSpec & { readonly dev?: LinkRef };
/** A neighbour entry on `dev`. */
export type NeighInput = Omit<NeighSpec, "index"> & { readonly dev: LinkRef };
/** An FDB entry on `dev`. */
export type FdbInput = Omit<FdbSpec, "index"> & { readonly dev: LinkRef };
/** Route listing filter. */
export interface RouteFilter {
  readonly family?: Family;
  /** Table number or "all". @default 254 (main) */
  readonly table?: number | "all";
  /** Only routes whose output link is this one. */
  readonly dev?: LinkRef;
}

export interface NetlinkClient {
  listLinks(): Link[];
  /** Throws LinkNotFoundError (code ENODEV) when absent. */
  getLink(ref: LinkRef): Link;
  findLink(ref: LinkRef): Link | undefined;
  /** veth pair; `peer.netnsFd` creates the peer directly in another netns. */
  createVeth(o: VethOptions): void;
  createBridge(o: BridgeOptions): void;
  createVxlan(o: VxlanOptions): void;
  /** ipip tunnel; EOPNOTSUPP when the kernel has no ipip support (module ipip). */
  createIpip(o: IpipOptions): void;
  createDummy(o: LinkCommonOptions): void;
  /** Kernel WireGuard device; EOPNOTSUPP when the kernel has no WireGuard. */
  createWireguard(o: LinkCommonOptions): void;
  /** Change several link properties in one request. */
  setLink(ref: LinkRef, change: LinkChange): void;
  setLinkUp(ref: LinkRef): void;
  setLinkDown(ref: LinkRef): void;
  setMtu(ref: LinkRef, mtu: number): void;
  setMac(ref: LinkRef, mac: string): void;
  /** Enslave to a bridge, or release with `null`. */
  setMaster(ref: LinkRef, master: LinkRef | null): void;
  setPromisc(ref: LinkRef, on: boolean): void;
  /** Move the link to the netns open at `netnsFd`. */
  setNetns(ref: LinkRef, netnsFd: number): void;
  /** Rename (the link must be down). */
  rename(ref: LinkRef, name: string): void;
  setBridgePort(ref: LinkRef, change: BridgePortChange): void;
  setHairpin(ref: LinkRef, on: boolean): void;
  deleteLink(ref: LinkRef): void;
  /** VLANs of a bridge port (`bridge vlan show dev <port>`). */
  listBridgeVlans(port: LinkRef): BridgeVlan[];
  /** `bridge vlan add dev <port> vid <vid> [pvid] [untagged] master`. */
  addBridgeVlan(port: LinkRef, v: BridgeVlan): void;
  /** `bridge vlan del dev <port> vid <vid> master`. */
  deleteBridgeVlan(port: LinkRef, vid: number): void;

  listAddrs(filter?: { readonly dev?: LinkRef; readonly family?: Family }): Address[];
  /** Add; EEXIST when present. A string is a CIDR. */
  addAddr(dev: LinkRef, addr: AddrOptions | string): void;
  /** Add or update. */
  replaceAddr(dev: LinkRef, addr: AddrOptions | string): void;
  deleteAddr(dev: LinkRef, cidr: string | PrefixText): void;

  listRoutes(filter?: RouteFilter): Route[];
  addRoute(r: RouteInput): void;
  replaceRoute(r: RouteInput): void;
  /** Another route for the same destination (`ip route append`; ECMP next hop for IPv6). */
  appendRoute(r: RouteInput): void;
  deleteRoute(r: RouteInput): void;
  /** The route the kernel would use to reach `ip` (`ip route get`). */
  getRouteTo(ip: string, o?: RouteGetOptions): Route;

  listNeighs(filter?: { readonly dev?: LinkRef; readonly family?: 4 | 6 }): Neigh[];
  addNeigh(n: NeighInput): void;
  replaceNeigh(n: NeighInput): void;
  deleteNeigh(n: Omit<NeighInput, "mac" | "state">): void;
  listFdb(filter?: { readonly dev?: LinkRef }): Neigh[];
  appendFdb(e: FdbInput): void;
  replaceFdb(e: FdbInput): void;
  deleteFdb(e: FdbInput): void;

  close(): void;
}

function label(ref: LinkRef): string {
  return typeof ref === "number" ? `index ${ref}` : ref;
}

/** NetlinkClient over a NetlinkSocket (the kernel in production, a fake transport in tests). */
export class RtnetlinkClient extends LinkVerbs implements NetlinkClient {
  constructor(private readonly sock: NetlinkSocket) {
    super();
  }

  listLinks(): Link[] {
    return this.sock.dump(dumpLinksRequest()).map(decodeLink);
  }
  getLink(ref: LinkRef): Link {
    try {
      return decodeLink(this.sock.get(getLinkRequest(ref)));
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === Errno.ENODEV) throw new LinkNotFoundError(ref);
      throw e;
    }
  }
  findLink(ref: LinkRef): Link | undefined {
    try {
      return this.getLink(ref);
    } catch (e) {
      if (e instanceof LinkNotFoundError) return undefined;
      throw e;
    }
  }
  protected linkIndex(ref: LinkRef): number {
    return typeof ref === "number" ? ref : this.getLink(ref).index;
  }

  createVeth(o: VethOptions): void {
    this.sock.ack(createVethRequest(o));
  }
  createBridge(o: BridgeOptions): void {
    this.sock.ack(createBridgeRequest(o));
  }
  createVxlan(o: VxlanOptions): void {
    this.sock.ack(createVxlanRequest(o));
  }
  createIpip(o: IpipOptions): void {
    this.sock.ack(createIpipRequest(o));
  }
  createDummy(o: LinkCommonOptions): void {
    this.sock.ack(createDummyRequest(o));
  }
  createWireguard(o: LinkCommonOptions): void {
    this.sock.ack(createWireguardRequest(o));
  }
  setLink(ref: LinkRef, change: LinkChange): void {
    this.sock.ack(setLinkRequest(this.linkIndex(ref), change, label(ref)));
  }
  setBridgePort(ref: LinkRef, change: BridgePortChange): void {
    this.sock.ack(setBridgePortRequest(this.linkIndex(ref), change, label(ref)));
  }
  deleteLink(ref: LinkRef): void {
    this.sock.ack(deleteLinkRequest(this.linkIndex(ref), label(ref)));
  }
  listBridgeVlans(port: LinkRef): BridgeVlan[] {
    return decodeBridgeVlans(this.sock.dump(bridgeVlanDumpRequest()), this.linkIndex(port));
  }
  addBridgeVlan(port: LinkRef, v: BridgeVlan): void {
    this.sock.ack(bridgeVlanRequest("add", this.linkIndex(port), v, label(port)));
  }
  deleteBridgeVlan(port: LinkRef, vid: number): void {
    this.sock.ack(bridgeVlanRequest("del", this.linkIndex(port), { vid, pvid: false, untagged: false }, label(port)));
  }

  listAddrs(filter: { readonly dev?: LinkRef; readonly family?: Family } = {}): Address[] {
    const idx = filter.dev === undefined ? undefined : this.linkIndex(filter.dev);
    return this.sock
      .dump(dumpAddrsRequest(filter.family))
      .map(decodeAddress)
      .filter(
        (a) => (idx === undefined || a.index === idx) && (filter.family === undefined || a.family === filter.family),
      );
  }
  addAddr(dev: LinkRef, addr: AddrOptions | string): void {
    this.sock.ack(
      addAddrRequest(this.linkIndex(dev), typeof addr === "string" ? { cidr: addr } : addr, false, label(dev)),
    );
  }
  replaceAddr(dev: LinkRef, addr: AddrOptions | string): void {
    this.sock.ack(
      addAddrRequest(this.linkIndex(dev), typeof addr === "string" ? { cidr: addr } : addr, true, label(dev)),
    );
  }
  deleteAddr(dev: LinkRef, cidr: string | PrefixText): void {
    this.sock.ack(deleteAddrRequest(this.linkIndex(dev), cidr, label(dev)));
  }

  listRoutes(filter: RouteFilter = {}): Route[] {
    const table = filter.table ?? RT_TABLE_MAIN;
    const oif = filter.dev === undefined ? undefined : this.linkIndex(filter.dev);
    return this.sock.dumpEach(dumpRoutesRequest(filter.family), (m) => {
      const r = decodeRoute(m);
      const keep =
        !isCloned(r) &&
        (table === "all" || r.table === table) &&
        (oif === undefined || r.oif === oif) &&
        (filter.family === undefined || r.family === filter.family);
      return keep ? r : undefined;
    });
  }
  private routeSpec(r: RouteInput): RouteSpec {
    if (r.dev === undefined) return r;
    const { dev, ...rest } = r;
    return { ...rest, oif: this.linkIndex(dev) };
  }
  addRoute(r: RouteInput): void {
    this.sock.ack(routeRequest(this.routeSpec(r), "add"));
  }
  replaceRoute(r: RouteInput): void {
    this.sock.ack(routeRequest(this.routeSpec(r), "replace"));
  }
  appendRoute(r: RouteInput): void {
    this.sock.ack(routeRequest(this.routeSpec(r), "append"));
  }
  deleteRoute(r: RouteInput): void {
    this.sock.ack(routeRequest(this.routeSpec(r), "delete"));
  }
  getRouteTo(ip: string, o: RouteGetOptions = {}): Route {
    return decodeRoute(this.sock.get(getRouteToRequest(ip, o)));
  }

  listNeighs(filter: { readonly dev?: LinkRef; readonly family?: 4 | 6 } = {}): Neigh[] {
    const idx = filter.dev === undefined ? undefined : this.linkIndex(filter.dev);
    return this.sock.dumpEach(dumpNeighsRequest(filter.family, idx), (m) => {
      const n = decodeNeigh(m);
      return n.family !== "bridge" &&
        (idx === undefined || n.index === idx) &&
        (filter.family === undefined || n.family === filter.family)
        ? n
        : undefined;
    });
  }
  addNeigh(n: NeighInput): void {
    this.sock.ack(neighRequest({ ...n, index: this.linkIndex(n.dev) }, "add", label(n.dev)));
  }
  replaceNeigh(n: NeighInput): void {
    this.sock.ack(neighRequest({ ...n, index: this.linkIndex(n.dev) }, "replace", label(n.dev)));
  }
  deleteNeigh(n: Omit<NeighInput, "mac" | "state">): void {
    this.sock.ack(neighRequest({ ...n, index: this.linkIndex(n.dev) }, "delete", label(n.dev)));
  }
  listFdb(filter: { readonly dev?: LinkRef } = {}): Neigh[] {
    const idx = filter.dev === undefined ? undefined : this.linkIndex(filter.dev);
    return this.sock.dumpEach(dumpNeighsRequest("bridge", idx), (m) => {
      const n = decodeNeigh(m);
      return idx === undefined || n.index === idx ? n : undefined;
    });
  }
  appendFdb(e: FdbInput): void {
    this.sock.ack(fdbRequest({ ...e, index: this.linkIndex(e.dev) }, "append", label(e.dev)));
  }
  replaceFdb(e: FdbInput): void {
    this.sock.ack(fdbRequest({ ...e, index: this.linkIndex(e.dev) }, "replace", label(e.dev)));
  }
  deleteFdb(e: FdbInput): void {
    this.sock.ack(fdbRequest({ ...e, index: this.linkIndex(e.dev) }, "delete", label(e.dev)));
  }

  close(): void {
    this.sock.close();
  }
}
