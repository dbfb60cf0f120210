/**
 * The real HostNet / PodNet over linux/'s netlink client. The kernel access itself (netlink
 * clients, opening a netns, entering it, /proc/sys) is a parameter, wired by the plugin definition
 * (plugin.ts); this file imports no FFI. The pod side keeps a netlink socket opened inside the pod
 * netns, so its calls never enter the namespace; only sysctl writes do, synchronously.
 */
import { errnoOf } from "./errors.ts";
import type {
  AddrInfo,
  Family,
  HostNet,
  LinkInfo,
  NetCommon,
  PodNet,
  RouteInfo,
  RouteSpec,
  VethRequest,
  VlanEntry,
} from "./kernel.ts";
import type { NetlinkClient } from "../../linux/netlink/client.ts";
import type { Link, LinkRef } from "../../linux/netlink/link.ts";
import { NetlinkError } from "../../linux/errors.ts";
import { Errno } from "../../linux/errno.ts";
import type { RouteScope } from "../../linux/netlink/route.ts";
import { RT_SCOPE } from "../../linux/netlink/constants.ts";
import type { NetnsHandle, Sync } from "../../linux/netns.ts";
import type { Sysctl } from "../../linux/sysctl.ts";

/** The kernel as the bridge reaches it. */
export interface KernelAccess {
  /** A netlink client in this process's netns, or (given `ns`) one whose socket lives in `ns`. */
  readonly netlink: (ns?: NetnsHandle) => NetlinkClient;
  /** Open a netns path; ENOENT (NetnsNotFoundError) when missing. */
  readonly openNetns: (path: string) => NetnsHandle;
  /** Run `fn` synchronously with the thread inside `ns`. */
  readonly inNetns: <T>(ns: NetnsHandle, fn: () => Sync<T>) => T;
  /** /proc/sys of the netns the thread is in. */
  readonly sysctl: Sysctl;
}

function toLinkInfo(l: Link): LinkInfo {
  return {
    index: l.index,
    name: l.name,
    mac: l.mac,
    kind: l.kind,
    mtu: l.mtu,
    up: l.up,
    promisc: l.promisc,
    operState: l.operState,
    ...(l.masterIndex !== undefined && l.masterIndex !== 0 ? { masterIndex: l.masterIndex } : {}),
    ...(l.parentIndex !== undefined ? { peerIndex: l.parentIndex } : {}),
    ...(l.bridgePort ? { hairpin: l.bridgePort.hairpin } : {}),
  };
}

function readSysctl(sysctl: Sysctl, path: string): string | undefined {
  try {
    return sysctl.get(path);
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return undefined;
    throw e;
  }
}

/**
 * Calls common to both sides; `inNs` runs a sync function in the right netns (for /proc/sys).
 *
 * Links are addressed by the ifindex seen in this command's last lookup of the name, as the
 * reference does with its netlink.Link values: a name costs an RTM_GETLINK round trip before every
 * request. A cached index that no longer exists (ENODEV: the link was deleted or recreated since)
 * is dropped and the request is retried by name, and kernel errors name the link as before.
 */
class NetlinkCommon implements NetCommon {
  private readonly indexes = new Map<string, number>();
  constructor(
    protected readonly nl: NetlinkClient,
    private readonly inNs: <T>(fn: () => Sync<T>) => T,
    private readonly sysctl: Sysctl,
  ) {}
  /** Run `fn` with the link's cached ifindex when there is one, else with its name. */
  protected onLink<T>(name: string, fn: (ref: LinkRef) => T): T {
    const index = this.indexes.get(name);
    if (index === undefined) return fn(name);
    try {
      return fn(index);
    } catch (e) {
      if (!(e instanceof NetlinkError)) throw e;
      this.indexes.delete(name);
      if (e.errno === Errno.ENODEV) return fn(name);
      throw new NetlinkError(e.errno, e.op.replace(`index ${index}`, name), e.extack);
    }
  }
  /** The link's ifindex (cached, or looked up). */
  protected indexOf(name: string): number {
    return this.indexes.get(name) ?? this.remember(this.nl.getLink(name)).index;
  }
  private remember(l: Link): Link {
    this.indexes.set(l.name, l.index);
    return l;
  }
  linkByName(name: string): LinkInfo | undefined {
    const l = this.nl.findLink(name);
    if (!l) {
      this.indexes.delete(name);
      return undefined;
    }
    return toLinkInfo(this.remember(l));
  }
  linkByIndex(index: number): LinkInfo | undefined {
    const l = this.nl.findLink(index);
    return l ? toLinkInfo(this.remember(l)) : undefined;
  }
  links(): LinkInfo[] {
    return this.nl.listLinks().map(toLinkInfo);
  }
  setUp(name: string): void {
    this.onLink(name, (l) => this.nl.setLinkUp(l));
  }
  deleteLink(name: string): void {
    this.onLink(name, (l) => this.nl.deleteLink(l));
    this.indexes.delete(name);
  }
  addrList(name: string, family: Family): AddrInfo[] {
    return this.onLink(name, (l) => this.nl.listAddrs({ dev: l, family })).map((a) => ({
      family: a.family,
      cidr: `${a.ip}/${a.prefixLen}`,
      scope: a.scope,
      tentative: a.tentative,
    }));
  }
  addrAdd(name: string, cidr: string): void {
    try {
      this.onLink(name, (l) => this.nl.addAddr(l, cidr));
    } catch (e) {
      if (errnoOf(e) !== "EEXIST") throw e;
    }
  }
  addrDel(name: string, cidr: string): void {
    this.onLink(name, (l) => this.nl.deleteAddr(l, cidr));
  }
  sysctlSet(path: string, value: string): void {
    this.inNs(() => this.sysctl.set(path, value));
  }
  sysctlGet(path: string): string | undefined {
    return this.inNs(() => readSysctl(this.sysctl, path));
  }
}

class KernelHost extends NetlinkCommon implements HostNet {
  constructor(k: KernelAccess) {
    super(k.netlink(), (fn) => fn(), k.sysctl);
  }
  addBridge(name: string, o: { readonly mtu: number; readonly vlanFiltering: boolean }): void {
    this.nl.createBridge({
      name,
      ...(o.mtu ? { mtu: o.mtu } : {}),
      ...(o.vlanFiltering ? { vlanFiltering: true } : {}),
    });
  }
  setPromisc(name: string, on: boolean): void {
    this.onLink(name, (l) => this.nl.setPromisc(l, on));
  }
  setMac(name: string, mac: string): void {
    this.onLink(name, (l) => this.nl.setMac(l, mac));
  }
  setMaster(name: string, masterIndex: number): void {
    this.onLink(name, (l) => this.nl.setMaster(l, masterIndex));
  }
  setPortFlags(name: string, o: { readonly hairpin: boolean; readonly isolated: boolean }): void {
    // isolated is sent only when wanted: kernels before 4.18 do not know the attribute
    this.onLink(name, (l) =>
      this.nl.setBridgePort(l, { hairpin: o.hairpin, ...(o.isolated ? { isolated: true } : {}) }),
    );
  }
  close(): void {
    this.nl.close();
  }
  addHostVeth(name: string, peer: string, mtu: number): void {
    this.nl.createVeth({ name, ...(mtu ? { mtu } : {}), peer: { name: peer } });
  }
  portVlans(name: string): VlanEntry[] {
    return this.onLink(name, (l) => this.nl.listBridgeVlans(l));
  }
  addPortVlan(name: string, v: VlanEntry): void {
    this.onLink(name, (l) => this.nl.addBridgeVlan(l, v));
  }
  delPortVlan(name: string, vid: number): void {
    this.onLink(name, (l) => this.nl.deleteBridgeVlan(l, vid));
  }
  /** The pod end is created directly inside the pod's netns, through the fd the pod was opened with. */
  addVethToPod(pod: PodNet, req: VethRequest): void {
    if (!(pod instanceof KernelPod)) throw new TypeError(`pod ${pod.path} was not opened by this kernel adapter`);
    this.nl.createVeth({
      name: req.hostName,
      ...(req.mtu ? { mtu: req.mtu } : {}),
      peer: { name: req.podName, netnsFd: pod.ns.fd, ...(req.podMac ? { mac: req.podMac } : {}) },
    });
  }
}

const SCOPE_NAMES = new Map<number, RouteScope>(Object.entries(RT_SCOPE).map(([k, v]) => [v, k as RouteScope]));

class KernelPod extends NetlinkCommon implements PodNet {
  constructor(
    readonly path: string,
    readonly ns: NetnsHandle,
    k: KernelAccess,
  ) {
    super(k.netlink(ns), (fn) => k.inNetns(ns, fn), k.sysctl);
  }
  /**
   * Appended (NLM_F_APPEND, no NLM_F_EXCL) like the reference's RouteAddEcmp: a second attachment
   * of the same pod may add the same destination (a default route) through its own interface.
   */
  routeAdd(r: RouteSpec): void {
    const scope = r.scope === undefined ? undefined : SCOPE_NAMES.get(r.scope);
    this.onLink(r.dev, (dev) =>
      this.nl.appendRoute({
        dst: r.dst,
        dev,
        ...(r.gw !== undefined ? { gateway: r.gw } : {}),
        ...(r.priority ? { priority: r.priority } : {}),
        ...(r.table !== undefined ? { table: r.table } : {}),
        ...(scope !== undefined ? { scope } : {}),
      }),
    );
  }
  routeList(family: Family): RouteInfo[] {
    return this.nl.listRoutes({ family }).map((r) => ({
      dst: r.dst,
      ...(r.gateway !== undefined ? { gw: r.gateway } : {}),
      ...(r.oif !== undefined ? { devIndex: r.oif } : {}),
      table: r.table,
    }));
  }
  close(): void {
    this.nl.close();
    this.ns.close();
  }
}

export function kernelHost(k: KernelAccess): HostNet & { close(): void } {
  return new KernelHost(k);
}

/** Open a pod netns: NetnsNotFoundError (code ENOENT) when missing, NotNetnsError when not a netns. */
export function openKernelPod(k: KernelAccess, path: string): PodNet {
  const ns = k.openNetns(path);
  try {
    return new KernelPod(path, ns, k);
  } catch (e) {
    ns.close();
    throw e;
  }
}
