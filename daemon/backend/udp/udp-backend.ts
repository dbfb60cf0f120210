// flannel's udp backend as a daemon/network.ts Backend: the lease (PublicIP only, as flannel
// publishes it), the TUN device flannel0 with the subnet's network address as /32 and the whole
// cluster network routed into it, MTU = underlay MTU − 28 (outer IPv4 + UDP header), UDP port
// Backend.Port (default 8285) on every node, and a userspace forwarder whose route table follows
// the peers' leases. IPv4 only. Kernel-free (any UdpKernel), so the unit tests use a fake.
import type { NetworkConfig } from "../../config.ts";
import type { ExternalInterface } from "../../iface.ts";
import { formatCidr, formatIp } from "../../../net/prefix.ts";
import { describeLease, type Lease, type LeaseAttrs } from "../../lease.ts";
import { errorMessage, type Logger } from "../../log.ts";
import type { Backend, BackendNetwork, RegisterOptions } from "../../dataplane.ts";
import { sleep } from "../../time.ts";
import { UDP_ENCAP_OVERHEAD } from "../overhead.ts";
import type { ForwarderStats } from "./protocol.ts";
import { describeRoute, peerRoute, type PeerRoute } from "./table.ts";

export const UDP_DEVICE = "flannel0";
export const UDP_DEFAULT_PORT = 8285;

/** What the kernel side is asked to set up. */
export interface UdpDeviceSpec {
  readonly name: string;
  /** the lease subnet's network address as /32, e.g. 10.244.1.0/32 */
  readonly address: string;
  /** the cluster network routed into the device, e.g. 10.244.0.0/16 */
  readonly network: string;
  readonly mtu: number;
  /** the external interface's IPv4 address the socket binds to */
  readonly bindIp: string;
  readonly port: number;
}

/** The running device, socket and forwarder. */
export interface UdpDataPath {
  readonly name: string;
  readonly index: number;
  /** offloads in use, e.g. "TUN TSO+csum, UDP GSO, UDP GRO", or "none" */
  readonly offloads: string;
  /** Replace the forwarder's route table; resolves once it is in use. */
  setRoutes(routes: readonly PeerRoute[]): Promise<void>;
  /** The forwarder's counters. */
  stats(): Promise<ForwarderStats>;
  /** Put back a missing address, MTU, up state or route; `present` false when the device is gone. */
  repair(): { readonly repaired: number; readonly present: boolean };
  /** Stop the forwarder and close the device (the kernel removes it). */
  stop(): Promise<void>;
  /** Rejects if the forwarder fails. */
  readonly done: Promise<void>;
}

export interface UdpKernel {
  start(spec: UdpDeviceSpec, routes: readonly PeerRoute[]): Promise<UdpDataPath>;
}

export interface UdpBackendOptions {
  /** How often the device's address and route are checked. @default 10000 */
  readonly reconcileMs?: number;
}

/** The udp backend's settings from the network config and interface; errors say what to change. */
export function udpPlan(
  cfg: NetworkConfig,
  ext: ExternalInterface,
): { readonly port: number; readonly mtu: number; readonly publicIp: string; readonly bindIp: string } {
  if (cfg.enableIPv6) {
    throw new Error(
      "the udp backend carries IPv4 only (flannel's udp backend has no IPv6 path): " +
        'set "EnableIPv6" to false, or use vxlan, host-gw or wireguard for IPv6',
    );
  }
  if (!cfg.enableIPv4 || !cfg.network)
    throw new Error('the udp backend needs "Network" (an IPv4 CIDR) in the network config with EnableIPv4');
  if (!ext.ipv4)
    throw new Error(
      `interface ${ext.name} has no IPv4 address for the udp backend: give an interface with one via --iface`,
    );
  const underlay = cfg.backend.mtu > 0 ? cfg.backend.mtu : ext.mtu;
  return {
    port: cfg.backend.port || UDP_DEFAULT_PORT,
    mtu: underlay - UDP_ENCAP_OVERHEAD,
    publicIp: ext.publicIP ?? ext.ipv4,
    bindIp: ext.ipv4,
  };
}

export function udpBackend(kernel: UdpKernel, log: Logger, opts: UdpBackendOptions = {}): Backend {
  return {
    type: "udp",
    async register(o: RegisterOptions): Promise<BackendNetwork> {
      const cfg = o.config;
      const plan = udpPlan(cfg, o.extIface);
      const network = cfg.network;
      if (!network) throw new Error("unreachable: udpPlan checked Network");
      // flannel's udp backend publishes its public address and nothing else (no BackendType, no BackendData)
      const attrs: LeaseAttrs = { PublicIP: plan.publicIp };
      const lease = await o.acquire(attrs);
      const own = lease.subnet;
      if (!own) throw new Error("the lease has no IPv4 subnet");
      const spec: UdpDeviceSpec = {
        name: UDP_DEVICE,
        address: `${formatIp(4, own.ip)}/32`,
        network: formatCidr(network),
        mtu: plan.mtu,
        bindIp: plan.bindIp,
        port: plan.port,
      };
      const dp = await kernel.start(spec, []);
      // a failure before run() awaits it must not be an unhandled rejection
      dp.done.catch(() => undefined);
      log.info("data plane ready", {
        backend: "udp",
        device: dp.name,
        address: spec.address,
        network: spec.network,
        mtu: spec.mtu,
        port: spec.port,
        offloads: dp.offloads,
      });
      const net = new UdpNetwork(dp, lease, log.with({ backend: "udp" }));
      return {
        lease,
        mtu: plan.mtu,
        handleEvents: (batch) => net.handle(batch),
        run: (signal) => net.run(signal, opts.reconcileMs ?? 10_000),
      };
    },
  };
}

/** The peers' leases as the forwarder's route table, kept in step with lease events. */
export class UdpNetwork {
  private readonly peers = new Map<string, Lease>();
  private readonly ownKey: string;

  constructor(
    private readonly dp: UdpDataPath,
    own: Lease,
    private readonly log: Logger,
  ) {
    this.ownKey = describeLease(own);
  }

  /** Apply one batch of lease events: the whole table goes to the forwarder once per batch. */
  async handle(batch: readonly { readonly type: "added" | "removed"; readonly lease: Lease }[]): Promise<void> {
    let changed = 0;
    for (const e of batch) {
      const key = describeLease(e.lease);
      if (key === this.ownKey) continue;
      if (e.type === "added") {
        const r = peerRoute(e.lease);
        if (typeof r === "string") {
          this.log.warn("ignoring peer lease", { subnet: key, reason: r });
          if (this.peers.delete(key)) changed++;
          continue;
        }
        this.log.info("subnet added", { subnet: key, route: describeRoute(r) });
        this.peers.set(key, e.lease);
        changed++;
      } else if (this.peers.delete(key)) {
        this.log.info("subnet removed", { subnet: key });
        changed++;
      }
    }
    if (changed > 0) await this.dp.setRoutes(this.routes());
  }

  routes(): PeerRoute[] {
    const out: PeerRoute[] = [];
    for (const l of this.peers.values()) {
      const r = peerRoute(l);
      if (typeof r !== "string") out.push(r);
    }
    return out;
  }

  /** Check the device every `intervalMs` until `signal` aborts, then stop the forwarder and close flannel0. */
  async run(signal: AbortSignal, intervalMs: number): Promise<void> {
    let failure: unknown;
    const failed = this.dp.done.then(
      () => undefined,
      (e: unknown) => {
        failure = e;
      },
    );
    try {
      while (!signal.aborted && failure === undefined) {
        await Promise.race([sleep(intervalMs, signal), failed]);
        if (signal.aborted || failure !== undefined) break;
        const r = this.dp.repair();
        if (!r.present)
          throw new Error(
            `${this.dp.name} disappeared (deleted behind flanneld's back); exiting so a restart recreates it`,
          );
        if (r.repaired > 0) this.log.warn("repaired the udp device", { device: this.dp.name, changes: r.repaired });
        const st = await this.dp.stats();
        this.log.debug("udp forwarder counters", { ...st });
      }
      if (failure !== undefined) throw failure;
    } finally {
      await this.dp
        .stop()
        .catch((e: unknown) => this.log.warn("stopping the udp forwarder failed", { error: errorMessage(e) }));
      this.log.info("closed the udp device; the kernel removes it with its address and route", {
        device: this.dp.name,
      });
    }
  }
}
