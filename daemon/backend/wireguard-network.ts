// One WireGuard device of the wireguard backend (flannel-wg or flannel-wg-v6) over WgOps: created
// afresh with the node's key and listen port, given the lease's subnet address (/32, /128) and a
// route for the whole cluster network of each family it carries, then kept in step with the lease
// table: every batch of lease events is one read of the device's peers and one set operation with
// the difference. A periodic pass repairs the address, the route and the peers, and recreates the
// device (all peers replayed) when it vanished, e.g. when its wireguard-go process died.
import type { KRoute } from "./netops.ts";
import type { WgDeviceConfig, WgDeviceState } from "../../linux/wireguard/types.ts";
import { formatCidr, formatIp, type IpNet } from "../../net/prefix.ts";
import { describeLease, type Lease, type LeaseEvent } from "../lease.ts";
import { errorMessage } from "../log.ts";
import type { BackendLog } from "./route-network.ts";
import type { WireguardOptions } from "./wireguard-config.ts";
import { desiredPeers, diffPeers, peerOf, type PeerContext, type WgDeviceSpec } from "./wireguard-plan.ts";

/** What the wireguard backend needs from the system; KernelWgOps (kernel-wgops.ts) is the real one. */
export interface WgOps {
  /**
   * Create the device `name` afresh (a link of that name is removed first, as flanneld does),
   * with `mtu`, not yet up: the kernel's WireGuard when it has one, else a userspace one.
   */
  createDevice(name: string, mtu: number): Promise<{ readonly index: number; readonly impl: "kernel" | "userspace" }>;
  configure(name: string, cfg: WgDeviceConfig): Promise<void>;
  read(name: string): Promise<WgDeviceState>;
  /** Delete the device (and stop its userspace process); nothing to do when it is gone. */
  removeDevice(name: string): Promise<void>;
  /** `cb` runs when a device's userspace process exits without being asked to. */
  onDeviceLost(cb: (name: string, why: string) => void): void;
  linkIndex(name: string): number | undefined;
  /** Make `cidr` the only address of the link inside `within`, and set the link up. */
  ensureAddress(ifindex: number, cidr: string, within: string): void;
  listRoutes(family: 4 | 6): KRoute[];
  replaceRoute(r: KRoute): void;
}

export interface WgDeviceNetworkOptions {
  readonly ops: WgOps;
  readonly spec: WgDeviceSpec;
  /** Device MTU (underlay MTU − 80). */
  readonly mtu: number;
  readonly privateKey: string;
  readonly publicKey: string;
  readonly options: WireguardOptions;
  /** The cluster network of each family the device carries. */
  readonly networks: { readonly 4?: IpNet; readonly 6?: IpNet };
  /** Our public addresses (auto mode picks a peer's address family with them). */
  readonly ownV4?: string;
  readonly ownV6?: string;
  readonly log?: BackendLog;
}

export class WgDeviceNetwork {
  private index = -1;
  private impl: "kernel" | "userspace" | undefined;
  private own: Lease | undefined;
  private readonly leases = new Map<string, Lease>();
  /** Leases changed since the last sync: their peers' endpoints are rewritten even if set. */
  private readonly touched = new Set<string>();
  /** Leases already reported as giving no peer (reported once, again after they change). */
  private readonly reported = new Set<string>();
  /** Serializes every operation on the device. */
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly log: BackendLog;

  constructor(private readonly o: WgDeviceNetworkOptions) {
    this.log = o.log ?? (() => undefined);
  }

  get name(): string {
    return this.o.spec.name;
  }

  get deviceIndex(): number {
    return this.index;
  }

  /** "kernel" or "userspace" once created. */
  get implementation(): "kernel" | "userspace" | undefined {
    return this.impl;
  }

  /** The address family of the device's traffic (IPv4 when it carries both). */
  get family(): 4 | 6 {
    return this.o.networks[4] ? 4 : 6;
  }

  /** Peers currently known from leases (not counting our own). */
  get leaseCount(): number {
    return this.leases.size;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Create the device with the node's private key and listen port, no peers. */
  create(): Promise<void> {
    return this.serial(() => this.createNow());
  }

  private async createNow(): Promise<void> {
    const { index, impl } = await this.o.ops.createDevice(this.name, this.o.mtu);
    this.index = index;
    this.impl = impl;
    await this.o.ops.configure(this.name, {
      privateKey: this.o.privateKey,
      listenPort: this.o.spec.port,
      replacePeers: true,
    });
    this.log("info", `created wireguard device ${this.name}`, {
      dev: this.name,
      index,
      implementation: impl,
      listen_port: this.o.spec.port,
      mtu: this.o.mtu,
      public_key: this.o.publicKey,
    });
  }

  /** After the lease: the subnet addresses and the cluster routes, link up. */
  start(own: Lease): Promise<void> {
    this.own = own;
    return this.serial(async () => this.addressAndRoutes());
  }

  private addressAndRoutes(): void {
    const own = this.own;
    if (!own) return;
    for (const f of this.o.spec.families) {
      const sub = f === 4 ? own.subnet : own.subnetV6;
      const net = this.o.networks[f];
      if (!sub || !net)
        throw new Error(`the lease has no IPv${f} subnet although IPv${f} is enabled: cannot configure ${this.name}`);
      this.o.ops.ensureAddress(this.index, `${formatIp(f, sub.ip)}/${f === 4 ? 32 : 128}`, formatCidr(net));
      const dst = formatCidr(net);
      if (!this.o.ops.listRoutes(f).some((r) => r.dst === dst && r.ifindex === this.index && !r.gw)) {
        this.o.ops.replaceRoute({ dst, ifindex: this.index });
      }
    }
  }

  private isOwn(l: Lease): boolean {
    return this.own !== undefined && describeLease(l) === describeLease(this.own);
  }

  /** Apply one batch of lease events: one read of the device's peers, one set with the difference. */
  handle(batch: readonly LeaseEvent[]): Promise<void> {
    for (const e of batch) {
      if (this.isOwn(e.lease)) continue;
      const k = describeLease(e.lease);
      this.touched.add(k);
      this.reported.delete(k);
      if (e.type === "added") {
        this.leases.delete(k); // re-inserted last: the latest lease of a node gives its endpoint
        this.leases.set(k, e.lease);
      } else this.leases.delete(k);
    }
    return this.serial(async () => void (await this.sync()));
  }

  /**
   * Make the device's peers match the leases. An endpoint is written when the peer is new to the
   * device, has none, or its lease changed since the last sync; otherwise the device's endpoint is
   * kept (WireGuard follows a roaming peer, and a repair pass should not undo that). Returns the
   * number of peers written or removed.
   */
  private async sync(): Promise<number> {
    if (this.closed || this.index < 0) return 0;
    const ctx: PeerContext = {
      mode: this.o.options.mode,
      device: this.o.spec,
      keepalive: this.o.options.keepalive,
      ownPublicKey: this.o.publicKey,
      ...(this.o.options.psk ? { psk: this.o.options.psk } : {}),
      ...(this.o.ownV4 ? { ownV4: this.o.ownV4 } : {}),
      ...(this.o.ownV6 ? { ownV6: this.o.ownV6 } : {}),
    };
    const { peers, skipped } = desiredPeers(this.leases.values(), ctx);
    for (const s of skipped) {
      if (this.reported.has(s.lease)) continue;
      this.reported.add(s.lease);
      this.log("warn", "ignoring a lease: no WireGuard peer for it", {
        dev: this.name,
        subnet: s.lease,
        reason: s.why,
      });
    }
    const changed = new Set<string>();
    for (const k of this.touched) {
      const l = this.leases.get(k);
      const p = l ? peerOf(l, ctx) : undefined;
      if (p && !("skip" in p)) changed.add(p.publicKey);
    }
    let actual: WgDeviceState;
    try {
      actual = await this.o.ops.read(this.name);
    } catch (e) {
      this.log("warn", "cannot read the wireguard device's peers (the next pass retries)", {
        dev: this.name,
        error: errorMessage(e),
      });
      return 0;
    }
    const changes = diffPeers(peers, actual.peers, (key) => changed.has(key));
    if (changes.length === 0) {
      this.touched.clear();
      return 0;
    }
    try {
      await this.o.ops.configure(this.name, { peers: changes });
    } catch (e) {
      this.log("warn", "configuring wireguard peers failed (the next pass retries)", {
        dev: this.name,
        peers: changes.length,
        error: errorMessage(e),
      });
      return 0;
    }
    this.touched.clear();
    for (const c of changes) {
      if (c.remove) this.log("info", "removed wireguard peer", { dev: this.name, public_key: c.publicKey });
      else
        this.log("info", "configured wireguard peer", {
          dev: this.name,
          public_key: c.publicKey,
          endpoint: c.endpoint,
          allowed_ips: (c.allowedIps ?? []).join(","),
        });
    }
    return changes.length;
  }

  /**
   * Full pass: recreate the device if it vanished (every peer replayed), else put back its
   * address and routes; then the peers. Returns whether the device was recreated.
   */
  reconcile(): Promise<{ recreated: boolean; changes: number }> {
    return this.serial(async () => {
      if (this.closed) return { recreated: false, changes: 0 };
      let recreated = false;
      if (this.o.ops.linkIndex(this.name) !== this.index) {
        this.log("warn", "wireguard device missing or replaced; recreating it and replaying every peer", {
          dev: this.name,
        });
        await this.createNow();
        recreated = true;
      }
      this.addressAndRoutes();
      const changes = await this.sync();
      return { recreated, changes };
    });
  }

  /** Delete the device, as flanneld does when it stops. Later calls do nothing. */
  close(): Promise<void> {
    return this.serial(async () => {
      if (this.closed) return;
      this.closed = true;
      await this.o.ops.removeDevice(this.name);
      this.log("info", `removed wireguard device ${this.name}`, { dev: this.name });
    });
  }
}
