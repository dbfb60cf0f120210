/**
 * An in-memory model of the host netns and pod netns for unit tests of the bridge commands: links
 * (bridge, veth pairs across namespaces), addresses, routes, sysctls. Every mutating call is
 * recorded as a short string ("host addBridge cni0", "pod:/x addrAdd eth0 10.1.2.2/24") so tests
 * can assert order, and `failOn` makes any call throw to exercise the undo paths.
 */
import { parseCidr, formatCidr, maskNet } from "../../../net/prefix.ts";
import type {
  AddrInfo,
  Family,
  HostNet,
  LinkInfo,
  PodNet,
  RouteInfo,
  RouteSpec,
  VethRequest,
  VlanEntry,
} from "../kernel.ts";

class ErrnoError extends Error {
  constructor(
    readonly code: string,
    msg: string,
  ) {
    super(`${msg}: ${code}`);
  }
}

interface FakeLink {
  index: number;
  name: string;
  mac: string;
  kind: string;
  mtu: number;
  up: boolean;
  promisc: boolean;
  master?: number;
  peer?: { ns: FakeNs; index: number };
  hairpin: boolean;
  isolated: boolean;
  addrs: AddrInfo[];
  vlans: VlanEntry[];
}

export class FakeNs {
  readonly links = new Map<string, FakeLink>();
  readonly routes: (RouteInfo & { readonly spec: RouteSpec })[] = [];
  readonly sysctls = new Map<string, string>();
  constructor(readonly label: string) {}
}

export class FakeWorld {
  readonly calls: string[] = [];
  readonly host = new FakeNs("host");
  readonly pods = new Map<string, FakeNs>();
  private nextIndex = 2;
  private nextMac = 1;
  /** Throw from the first call whose record starts with this text. */
  failOn: { prefix: string; error: Error } | undefined;

  addPod(path: string): FakeNs {
    const ns = new FakeNs(`pod:${path}`);
    this.pods.set(path, ns);
    return ns;
  }

  record(ns: FakeNs, what: string): void {
    const line = `${ns.label} ${what}`;
    this.calls.push(line);
    if (this.failOn && line.startsWith(this.failOn.prefix)) throw this.failOn.error;
  }

  newLink(ns: FakeNs, name: string, kind: string, mtu: number, mac?: string): FakeLink {
    if (ns.links.has(name)) throw new ErrnoError("EEXIST", `link ${name} exists`);
    const hex = (this.nextMac++).toString(16).padStart(2, "0");
    const l: FakeLink = {
      index: this.nextIndex++,
      name,
      kind,
      mtu: mtu || 1500,
      up: false,
      promisc: false,
      hairpin: false,
      isolated: false,
      addrs: [],
      vlans: [],
      mac: mac ?? `02:00:00:00:00:${hex}`,
    };
    ns.links.set(name, l);
    return l;
  }

  hostNet(): HostNet & { world: FakeWorld } {
    return new FakeHost(this, this.host);
  }

  opener(): (path: string) => PodNet {
    return (path) => {
      const ns = this.pods.get(path);
      if (!ns) throw new ErrnoError("ENOENT", `netns ${path}`);
      return new FakePod(this, ns, path);
    };
  }
}

function must(ns: FakeNs, name: string): FakeLink {
  const l = ns.links.get(name);
  if (!l) throw new ErrnoError("ENODEV", `link ${name}`);
  return l;
}

class FakeCommon {
  constructor(
    readonly world: FakeWorld,
    readonly ns: FakeNs,
  ) {}
  linkByName(name: string): LinkInfo | undefined {
    const l = this.ns.links.get(name);
    if (!l) return undefined;
    const peerUp = l.peer ? ([...l.peer.ns.links.values()].find((p) => p.index === l.peer?.index)?.up ?? false) : true;
    return {
      index: l.index,
      name: l.name,
      mac: l.mac,
      kind: l.kind,
      mtu: l.mtu,
      up: l.up,
      promisc: l.promisc,
      operState: l.up && peerUp ? "up" : "down",
      ...(l.master !== undefined ? { masterIndex: l.master } : {}),
      ...(l.peer ? { peerIndex: l.peer.index } : {}),
      hairpin: l.hairpin,
    };
  }
  setUp(name: string): void {
    this.world.record(this.ns, `setUp ${name}`);
    must(this.ns, name).up = true;
  }
  deleteLink(name: string): void {
    this.world.record(this.ns, `deleteLink ${name}`);
    const l = must(this.ns, name);
    this.ns.links.delete(name);
    if (l.peer) {
      for (const [n, p] of l.peer.ns.links) if (p.index === l.peer.index) l.peer.ns.links.delete(n);
    }
  }
  addrList(name: string, family: Family): AddrInfo[] {
    return must(this.ns, name).addrs.filter((a) => a.family === family);
  }
  addrAdd(name: string, cidr: string): void {
    this.world.record(this.ns, `addrAdd ${name} ${cidr}`);
    const l = must(this.ns, name);
    const n = parseCidr(cidr);
    if (!n) throw new Error(`bad cidr ${cidr}`);
    if (l.addrs.some((a) => a.cidr === cidr)) throw new ErrnoError("EEXIST", `addr ${cidr}`);
    l.addrs.push({ family: n.family, cidr, scope: 0 });
    this.ns.routes.push({
      dst: formatCidr(maskNet(n)),
      devIndex: l.index,
      table: 254,
      spec: { dst: formatCidr(maskNet(n)), dev: name },
    });
  }
  addrDel(name: string, cidr: string): void {
    this.world.record(this.ns, `addrDel ${name} ${cidr}`);
    const l = must(this.ns, name);
    l.addrs = l.addrs.filter((a) => a.cidr !== cidr);
  }
  sysctlSet(path: string, value: string): void {
    this.world.record(this.ns, `sysctl ${path}=${value}`);
    this.ns.sysctls.set(path, value);
  }
  sysctlGet(path: string): string | undefined {
    return this.ns.sysctls.get(path);
  }
}

class FakeHost extends FakeCommon implements HostNet {
  addBridge(name: string, o: { readonly mtu: number; readonly vlanFiltering: boolean }): void {
    this.world.record(this.ns, `addBridge ${name} mtu=${o.mtu}`);
    this.world.newLink(this.ns, name, "bridge", o.mtu);
  }
  setPromisc(name: string, on: boolean): void {
    this.world.record(this.ns, `setPromisc ${name} ${on}`);
    must(this.ns, name).promisc = on;
  }
  setMac(name: string, mac: string): void {
    this.world.record(this.ns, `setMac ${name} ${mac}`);
    must(this.ns, name).mac = mac;
  }
  setMaster(name: string, masterIndex: number): void {
    this.world.record(this.ns, `setMaster ${name} ${masterIndex}`);
    const l = must(this.ns, name);
    l.master = masterIndex;
    // the kernel gives a new port the bridge's default PVID 1, untagged
    l.vlans = [{ vid: 1, pvid: true, untagged: true }];
  }
  addHostVeth(name: string, peer: string, mtu: number): void {
    this.world.record(this.ns, `addHostVeth ${name} ${peer} mtu=${mtu}`);
    if (this.ns.links.has(name) || this.ns.links.has(peer)) throw new ErrnoError("EEXIST", "veth");
    const a = this.world.newLink(this.ns, name, "veth", mtu);
    const b = this.world.newLink(this.ns, peer, "veth", mtu);
    a.peer = { ns: this.ns, index: b.index };
    b.peer = { ns: this.ns, index: a.index };
  }
  portVlans(name: string): VlanEntry[] {
    return [...must(this.ns, name).vlans];
  }
  addPortVlan(name: string, v: VlanEntry): void {
    this.world.record(this.ns, `addPortVlan ${name} ${v.vid}${v.pvid ? " pvid" : ""}${v.untagged ? " untagged" : ""}`);
    const l = must(this.ns, name);
    l.vlans = [...l.vlans.filter((x) => x.vid !== v.vid).map((x) => (v.pvid ? { ...x, pvid: false } : x)), v];
  }
  delPortVlan(name: string, vid: number): void {
    this.world.record(this.ns, `delPortVlan ${name} ${vid}`);
    const l = must(this.ns, name);
    l.vlans = l.vlans.filter((x) => x.vid !== vid);
  }
  setPortFlags(name: string, o: { readonly hairpin: boolean; readonly isolated: boolean }): void {
    this.world.record(this.ns, `setPortFlags ${name} hairpin=${o.hairpin} isolated=${o.isolated}`);
    const l = must(this.ns, name);
    l.hairpin = o.hairpin;
    l.isolated = o.isolated;
  }
  addVethToPod(podNet: PodNet, req: VethRequest): void {
    this.world.record(
      this.ns,
      `addVeth ${req.hostName} ${req.podName}@${podNet.path} mtu=${req.mtu}${req.podMac ? ` mac=${req.podMac}` : ""}`,
    );
    const pod = this.world.pods.get(podNet.path);
    if (!pod) throw new ErrnoError("ENOENT", `netns ${podNet.path}`);
    if (this.ns.links.has(req.hostName) || pod.links.has(req.podName)) throw new ErrnoError("EEXIST", "veth");
    const h = this.world.newLink(this.ns, req.hostName, "veth", req.mtu);
    const p = this.world.newLink(pod, req.podName, "veth", req.mtu, req.podMac);
    h.peer = { ns: pod, index: p.index };
    p.peer = { ns: this.ns, index: h.index };
  }
}

class FakePod extends FakeCommon implements PodNet {
  closed = false;
  constructor(
    world: FakeWorld,
    ns: FakeNs,
    readonly path: string,
  ) {
    super(world, ns);
  }
  routeAdd(r: RouteSpec): void {
    this.world.record(this.ns, `routeAdd ${r.dst}${r.gw ? ` via ${r.gw}` : ""} dev ${r.dev}`);
    const l = must(this.ns, r.dev);
    const n = parseCidr(r.dst);
    if (!n) throw new Error(`bad route ${r.dst}`);
    this.ns.routes.push({
      dst: formatCidr(maskNet(n)),
      ...(r.gw ? { gw: r.gw } : {}),
      devIndex: l.index,
      table: r.table ?? 254,
      spec: r,
    });
  }
  routeList(family: Family): RouteInfo[] {
    return this.ns.routes.filter((r) => parseCidr(r.dst)?.family === family);
  }
  close(): void {
    this.closed = true;
  }
}
