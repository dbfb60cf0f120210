// A backend reacts to lease events and nothing else: it owns the data plane for every peer.
// Beyond flanneld: events are coalesced into one pass per tick, a full reconcile runs at start and
// periodically (repairs deleted routes, neighbours and FDB entries, removes stale flannel routes),
// and a recreated vxlan (or ipip) device gets every peer replayed. One RouteNetwork per address family.
import { formatCidr, formatIp, type IpNet } from "../../net/prefix.ts";
import { describeLease, type Lease, type LeaseEvent } from "../lease.ts";
import type { NetOps, KRoute } from "./netops.ts";
import { DesiredIndex } from "./desired-index.ts";
import { onAbort } from "../time.ts";
import { IPIP_OVERHEAD, VXLAN_OVERHEAD_V4, VXLAN_OVERHEAD_V6 } from "./overhead.ts";
import {
  collectPlans,
  desiredState,
  diffSize,
  isManagedRoute,
  leaseSubnet,
  peerPlan,
  type Desired,
  type Diff,
  type PeerPlan,
  type PlanContext,
} from "./plan.ts";

export interface BackendLog {
  (
    level: "debug" | "info" | "warn" | "error",
    msg: string,
    fields?: Record<string, string | number | boolean | undefined>,
  ): void;
}

export interface VxlanSettings {
  readonly vni: number;
  readonly port: number;
  readonly gbp: boolean;
  readonly learning: boolean;
  readonly directRouting: boolean;
  /** VtepMAC to keep across restarts (from our previous lease), if any */
  readonly mac?: string;
}

export interface RouteNetworkOptions {
  readonly dp: NetOps;
  /** ipip: IPv4 only, device flannel.ipip, `vxlan.directRouting` is its DirectRouting */
  readonly kind: "vxlan" | "host-gw" | "ipip";
  /**
   * The address family this network programs: 4 = lease `subnet`, PublicIP, BackendData and device
   * `flannel.<VNI>`; 6 = `subnetV6`, PublicIPv6, BackendV6Data and `flannel-v6.<VNI>`. Dual stack
   * runs one RouteNetwork per family. @default 4
   */
  readonly family?: 4 | 6;
  /** cluster network of that family (Network or IPv6Network) */
  readonly network: IpNet;
  /** the external interface; `ip` is its address of this network's family (the VTEP's local address) */
  readonly underlay: { readonly index: number; readonly ip: string; readonly mtu: number };
  readonly vxlan?: VxlanSettings;
  /** the MTU in net-conf Backend.MTU (underlay MTU when 0) */
  readonly backendMtu?: number;
  readonly log?: BackendLog;
}

export interface ReconcileStats {
  readonly changes: number;
  readonly peers: number;
  readonly replayed: boolean;
}

/** flannel's ipip device name. */
export const IPIP_DEVICE = "flannel.ipip";

export class RouteNetwork {
  private readonly peers = new Map<string, Lease>();
  /**
   * Each peer's entries, computed once per lease instead of on every full pass (formatting
   * addresses is most of desiredState's cost). Dropped for a peer whose lease changes, and all at
   * once when the device is (re)created; not used with DirectRouting, whose answer depends on the
   * kernel's routes at the time.
   */
  private readonly plans = new Map<string, PeerPlan | undefined>();
  /** The desired state as lookup tables for full passes; rebuilt after peers or the device change. */
  private index: DesiredIndex | undefined;
  private own: IpNet | undefined;
  /** ifindex of our device (vxlan or ipip) */
  private devIndex = -1;
  private vtepMac = "";
  private pending: LeaseEvent[] = [];
  private scheduled = false;
  /** False until the first batch of lease events (the store's snapshot of peers) has been applied. */
  private synced = false;
  private readonly log: BackendLog;
  /** The device's MTU when the kernel set another one than asked for (it clamps what does not fit). */
  private deviceMtu: number | undefined;
  /**
   * What the periodic passes found out of place and rewrote, by kind (`route_added`, `route_removed`,
   * `neighbor_added`, `neighbor_removed`, `fdb_added`, `fdb_removed`, `device_recreated`); the first
   * pass, which adopts what a previous daemon left, is not counted. Read by flanneld's /metrics.
   */
  readonly repairs = new Map<string, number>();

  constructor(private readonly o: RouteNetworkOptions) {
    this.log = o.log ?? (() => undefined);
  }

  get family(): 4 | 6 {
    return this.o.family ?? 4;
  }

  get deviceName(): string {
    if (this.o.kind === "ipip") return IPIP_DEVICE;
    return `${this.family === 6 ? "flannel-v6" : "flannel"}.${this.o.vxlan?.vni ?? 1}`;
  }

  /** The MTU of this family's overlay (the vxlan or ipip device's MTU; the underlay's for host-gw). */
  get mtu(): number {
    return this.deviceMtu ?? this.wantedMtu;
  }

  private get wantedMtu(): number {
    // ipip: the external interface's MTU - 20, as flannel (Backend.MTU is not read)
    if (this.o.kind === "ipip") return this.o.underlay.mtu - IPIP_OVERHEAD;
    const base = this.o.backendMtu && this.o.backendMtu > 0 ? this.o.backendMtu : this.o.underlay.mtu;
    if (this.o.kind !== "vxlan") return base;
    return base - (this.family === 6 ? VXLAN_OVERHEAD_V6 : VXLAN_OVERHEAD_V4);
  }

  /** Create / adopt the device before leasing; returns the lease's BackendData (vxlan) or undefined (host-gw, ipip). */
  prepare(): { readonly backendData: unknown } {
    if (this.o.kind === "host-gw") return { backendData: undefined };
    this.deviceMtu = undefined;
    if (this.o.kind === "ipip") {
      if (this.mtu <= 0) throw new Error(`MTU ${this.o.underlay.mtu} of the external interface is too small for ipip`);
      const dev = this.o.dp.ensureIpip({ name: IPIP_DEVICE, localIp: this.o.underlay.ip, mtu: this.mtu });
      this.checkDeviceMtu(dev.mtu);
      this.devIndex = dev.index;
      this.plans.clear();
      this.index = undefined;
      const what = dev.recreated
        ? "recreated ipip device (its local or remote address was not ours)"
        : dev.created
          ? "created ipip device"
          : "reusing ipip device";
      const fields = { dev: IPIP_DEVICE, index: dev.index, local: this.o.underlay.ip, mtu: this.mtu };
      this.log(dev.recreated ? "warn" : "info", what, fields);
      return { backendData: undefined };
    }
    const v = this.o.vxlan;
    if (!v) throw new Error("vxlan backend needs its settings");
    const dev = this.o.dp.ensureVxlan({
      name: this.deviceName,
      vni: v.vni,
      port: v.port,
      localIp: this.o.underlay.ip,
      underlayIndex: this.o.underlay.index,
      mtu: this.mtu,
      gbp: v.gbp,
      learning: v.learning,
      // a recreated device keeps the MAC our lease publishes, else peers' neighbour entries go stale
      ...(this.vtepMac || v.mac ? { mac: this.vtepMac || v.mac } : {}),
    });
    this.checkDeviceMtu(dev.mtu);
    this.devIndex = dev.index;
    this.vtepMac = dev.mac;
    this.plans.clear();
    this.index = undefined;
    this.log("info", dev.created ? "created vxlan device" : "reusing vxlan device", {
      dev: this.deviceName,
      index: dev.index,
      mac: dev.mac,
    });
    return { backendData: { VNI: v.vni, VtepMAC: dev.mac } };
  }

  /**
   * The kernel gives a vxlan device at most the underlay's MTU minus the encapsulation, silently: the
   * overlay's MTU (FLANNEL_MTU) is then the device's, so pods never send what the device cannot carry.
   */
  private checkDeviceMtu(actual: number | undefined): void {
    if (actual === undefined || actual === this.wantedMtu) return;
    this.deviceMtu = actual;
    this.log(
      "warn",
      `the kernel set ${this.deviceName}'s MTU to ${actual}, not ${this.wantedMtu}: pods get ${actual}`,
      {
        dev: this.deviceName,
        wanted: this.wantedMtu,
        mtu: actual,
        underlay_mtu: this.o.underlay.mtu,
      },
    );
  }

  /**
   * After the lease is known: the vxlan device gets the subnet's network address as /32 (IPv6: /128),
   * so no connected route is created. No reconcile yet: with no peer known, a full pass would take
   * every route a restarted daemon left in place for stale and delete it. The first full pass runs
   * when the first batch of lease events (the store's snapshot) arrives, or at the first periodic pass.
   */
  start(own: Lease): void {
    this.own = leaseSubnet(own, this.family);
    this.addressDevice();
  }

  private addressDevice(): void {
    if (this.o.kind === "host-gw" || !this.own) return;
    const host = this.family === 6 ? 128 : 32;
    this.o.dp.ensureAddress(this.devIndex, `${formatIp(this.family, this.own.ip)}/${host}`, formatCidr(this.o.network));
  }

  private ctx(): PlanContext {
    const family = this.family;
    const underlayIndex = this.o.underlay.index;
    if (this.o.kind === "host-gw") return { kind: "host-gw", family, underlayIndex };
    const directRouting = this.o.vxlan?.directRouting ?? false;
    const routeGet = (ip: string) => this.o.dp.routeGet(ip);
    if (this.o.kind === "ipip")
      return { kind: "ipip", family: 4, ipipIndex: this.devIndex, underlayIndex, directRouting, routeGet };
    return { kind: "vxlan", family, vxlanIndex: this.devIndex, underlayIndex, directRouting, routeGet };
  }

  private key(l: Lease): string {
    return describeLease(l);
  }

  private isOwn(l: Lease): boolean {
    const s = leaseSubnet(l, this.family);
    return this.own !== undefined && s !== undefined && s.ip === this.own.ip && s.prefix === this.own.prefix;
  }

  /** Queue a batch of lease events; they are applied together on the next tick. */
  handle(batch: readonly LeaseEvent[]): void {
    this.pending.push(...batch);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Apply queued events now (also used by tests). Returns the number of kernel writes. */
  flush(): number {
    this.scheduled = false;
    const events = this.pending;
    this.pending = [];
    const added = new Map<string, Lease>();
    const removed = new Map<string, Lease>();
    for (const e of events) {
      if (this.isOwn(e.lease)) continue;
      const k = this.key(e.lease);
      this.plans.delete(k);
      this.index = undefined;
      if (e.type === "added") {
        this.peers.set(k, e.lease);
        added.set(k, e.lease);
        removed.delete(k);
      } else {
        this.peers.delete(k);
        removed.set(k, e.lease);
        added.delete(k);
      }
    }
    if (!this.synced) {
      // The first batch is the snapshot of every peer: make the kernel match it in one full pass
      // (existing entries kept, stale ones removed) instead of rewriting every entry.
      const st = this.reconcile();
      this.log("info", "applied the first lease snapshot", { peers: this.peers.size, changes: st.changes });
      return st.changes;
    }
    let writes = 0;
    const ctx = this.ctx();
    for (const l of removed.values()) writes += this.unprogram(desiredState([l], ctx));
    if (added.size > 0) writes += this.program(desiredState(added.values(), ctx));
    if (added.size + removed.size > 0)
      this.log("debug", "applied lease events", { added: added.size, removed: removed.size, writes });
    return writes;
  }

  private program(d: Desired): number {
    let n = 0;
    // neighbour and FDB before the route, so the kernel never has to ARP for the peer's VTEP
    for (const x of d.neighs) n += this.try("neigh replace", x.ip, () => this.o.dp.replaceNeigh(x));
    for (const x of d.fdb) n += this.try("fdb replace", x.dst, () => this.o.dp.replaceFdb(x));
    for (const x of d.routes) n += this.try("route replace", x.dst, () => this.o.dp.replaceRoute(x));
    return n;
  }

  private unprogram(d: Desired): number {
    let n = 0;
    for (const x of d.routes) n += this.try("route del", x.dst, () => this.o.dp.deleteRoute(x));
    for (const x of d.fdb) n += this.try("fdb del", x.dst, () => this.o.dp.deleteFdb(x));
    for (const x of d.neighs) n += this.try("neigh del", x.ip, () => this.o.dp.deleteNeigh(x));
    return n;
  }

  private try(op: string, what: string, fn: () => void): number {
    try {
      fn();
      return 1;
    } catch (e) {
      this.log("warn", `${op} failed (the next reconcile retries)`, {
        target: what,
        error: e instanceof Error ? e.message : String(e),
      });
      return 0;
    }
  }

  /** Full pass: make the kernel match every known peer; recreate the device if it vanished. */
  reconcile(): ReconcileStats {
    const periodic = this.synced;
    this.synced = true;
    let replayed = false;
    if (this.o.kind !== "host-gw" && this.o.dp.linkIndex(this.deviceName) !== this.devIndex) {
      const msg = `${this.o.kind} device missing or recreated; rebuilding it and replaying all peers`;
      this.log("warn", msg, { dev: this.deviceName });
      this.prepare();
      this.addressDevice();
      replayed = true;
    }
    const ctx = this.ctx();
    const direct = ctx.kind !== "host-gw" && ctx.directRouting;
    const index = this.index && !direct ? this.index : new DesiredIndex(this.desired(ctx));
    this.index = index;
    const have = {
      routes: this.o.dp.listRoutes(this.family),
      neighs: ctx.kind === "vxlan" ? this.o.dp.listNeighs(ctx.vxlanIndex, this.family) : [],
      fdb: ctx.kind === "vxlan" ? this.o.dp.listFdb(ctx.vxlanIndex) : [],
    };
    const managed = (r: KRoute) =>
      isManagedRoute(r, { network: this.o.network, ...(this.own ? { own: this.own } : {}), ctx });
    const diff = index.diff(have, managed);
    if (periodic) this.countRepairs(diff, replayed);
    const changes = this.apply(diff);
    if (changes > 0)
      this.log("info", "reconciled data plane", {
        changes,
        peers: this.peers.size,
        routesRemoved: diff.routes.del.length,
      });
    return { changes, peers: this.peers.size, replayed };
  }

  private countRepairs(d: Diff, replayed: boolean): void {
    const add = (kind: string, n: number) => {
      if (n > 0) this.repairs.set(kind, (this.repairs.get(kind) ?? 0) + n);
    };
    add("device_recreated", replayed ? 1 : 0);
    add("route_added", d.routes.put.length);
    add("route_removed", d.routes.del.length);
    add("neighbor_added", d.neighs.put.length);
    add("neighbor_removed", d.neighs.del.length);
    add("fdb_added", d.fdb.put.length);
    add("fdb_removed", d.fdb.del.length);
  }

  /** Peers this network programs (its share of every lease but our own). */
  get peerCount(): number {
    return this.peers.size;
  }

  private desired(ctx: PlanContext): Desired {
    if (ctx.kind !== "host-gw" && ctx.directRouting) return desiredState(this.peers.values(), ctx);
    const plans: (PeerPlan | undefined)[] = [];
    for (const [k, l] of this.peers) {
      let p = this.plans.get(k);
      if (p === undefined && !this.plans.has(k)) {
        p = peerPlan(l, ctx);
        this.plans.set(k, p);
      }
      plans.push(p);
    }
    return collectPlans(plans);
  }

  private apply(d: Diff): number {
    if (diffSize(d) === 0) return 0;
    let n = this.unprogram({ routes: d.routes.del, neighs: d.neighs.del, fdb: d.fdb.del });
    n += this.program({ routes: d.routes.put, neighs: d.neighs.put, fdb: d.fdb.put });
    return n;
  }

  /** Reconcile every `intervalMs` until the signal aborts. */
  run(signal: AbortSignal, intervalMs = 10_000): void {
    const t = setInterval(() => {
      try {
        this.reconcile();
      } catch (e) {
        this.log("error", "reconcile failed", { error: e instanceof Error ? e.message : String(e) });
      }
    }, intervalMs);
    onAbort(signal, () => clearInterval(t));
  }

  get vtep(): string {
    return this.vtepMac;
  }
}
