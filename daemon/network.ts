/**
 * What flanneld's main loop needs from the data plane, as interfaces: the kernel backends (vxlan,
 * host-gw over netlink) and the masquerade/forward rules plug in here; this module never touches
 * the kernel. {@link controlPlaneOnly} is a data plane that programs nothing (leases and subnet.env
 * only), for demos and tests; it says so in the log.
 */
import type { BackendType, NetworkConfig } from "./config.ts";
import type { ExternalInterface, SelectOptions } from "./iface.ts";
import { selectInterface } from "./iface.ts";
import { describeLease, type Lease, type LeaseAttrs, type LeaseEvent } from "./lease.ts";
import type { Logger } from "./log.ts";
import { sleep } from "./time.ts";

export type { ExternalInterface } from "./iface.ts";

/** Inputs of {@link Backend.register}. */
export interface RegisterOptions {
  readonly config: NetworkConfig;
  readonly extIface: ExternalInterface;
  /** Acquire the lease with the attributes the backend publishes (e.g. after creating its device). */
  readonly acquire: (attrs: LeaseAttrs) => Promise<Lease>;
  /** What this node published last time, when the store knows (kube: own annotations), e.g. to keep the VTEP MAC. */
  readonly previousAttrs?: LeaseAttrs;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

/** A registered backend network: applies peer changes and keeps its kernel state. */
export interface BackendNetwork {
  readonly lease: Lease;
  /** MTU for pod interfaces, written as FLANNEL_MTU (vxlan: underlay MTU − 50, − 70 with IPv6; host-gw: underlay MTU). */
  readonly mtu: number;
  /** Apply one batch of peer events (in order). */
  handleEvents(batch: readonly LeaseEvent[]): Promise<void>;
  /** Reconcile loops (device watch, route checks) until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
}

export interface Backend {
  readonly type: BackendType;
  register(opts: RegisterOptions): Promise<BackendNetwork>;
}

/** Inputs of {@link TrafficRules.setup}. */
export interface TrafficOptions {
  readonly config: NetworkConfig;
  readonly lease: Lease;
  readonly ipMasq: boolean;
  readonly fullyRandom: boolean;
  readonly forwardRules: boolean;
  readonly resyncSeconds: number;
  /** Networks and subnets (both families) of the previous subnet.env, to delete stale rules. */
  readonly previous?: { readonly network?: string; readonly subnet?: string; readonly ipv6Network?: string; readonly ipv6Subnet?: string };
}

/** Masquerade and forward rules (iptables or nftables). */
export interface TrafficRules {
  setup(o: TrafficOptions, signal: AbortSignal): Promise<void>;
  /** Periodic resync until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
}

export interface DataPlane {
  /** e.g. "kernel (netlink)" or "control-plane only". */
  readonly description: string;
  /** Refuse to start when the host lacks something (br_netfilter, ...); the error says what to load. */
  checkPrerequisites?(config: NetworkConfig): Promise<void>;
  selectInterface(o: SelectOptions): Promise<ExternalInterface>;
  backend(type: BackendType): Backend | undefined;
  readonly traffic?: TrafficRules;
}

/** Encapsulation overhead of vxlan over IPv4 (flannel uses 50 for both families). */
export const VXLAN_OVERHEAD = 50;
/** vxlan over IPv6 (40-byte outer header): the pod MTU with EnableIPv6 is the smaller one, like the kernel backends. */
export const VXLAN_OVERHEAD_V6 = 70;

/**
 * A data plane that programs nothing: it publishes the backend type (and for vxlan a VNI with no
 * MAC), computes the MTU like the real backends and logs each peer event.
 */
export function controlPlaneOnly(log: Logger): DataPlane {
  const backend = (type: BackendType): Backend => ({
    type,
    async register(o: RegisterOptions): Promise<BackendNetwork> {
      log.warn("control-plane-only data plane: no device, routes or rules are programmed on this node", { backend: type });
      const attrs: LeaseAttrs = {
        PublicIP: o.extIface.publicIP ?? "0.0.0.0",
        ...(o.extIface.publicIPv6 && o.config.enableIPv6 ? { PublicIPv6: o.extIface.publicIPv6 } : {}),
        BackendType: type,
        ...(type === "vxlan" ? { BackendData: { VNI: o.config.backend.vni } } : {}),
      };
      const lease = await o.acquire(attrs);
      const underlay = o.config.backend.mtu || o.extIface.mtu;
      return {
        lease,
        mtu: type === "vxlan" ? underlay - (o.config.enableIPv6 ? VXLAN_OVERHEAD_V6 : VXLAN_OVERHEAD) : underlay,
        async handleEvents(batch) {
          for (const e of batch) log.info(`peer ${e.type}`, { subnet: describeLease(e.lease), public_ip: e.lease.attrs.PublicIP, backend: e.lease.attrs.BackendType });
        },
        async run(signal) {
          while (!signal.aborted) await sleep(2 ** 31 - 1, signal);
        },
      };
    },
  });
  return {
    description: "control-plane only (nothing programmed)",
    async selectInterface(o) {
      return selectInterface(o);
    },
    backend,
  };
}

/**
 * The kernel data plane (netlink vxlan/host-gw backends, iptables/nftables rules), imported lazily:
 * it pulls in linux/ (bun:ffi), which unit tests on Node must never load.
 */
export const KERNEL_DATA_PLANE: ((log: Logger) => Promise<DataPlane>) | undefined = (log) => import("./backend/index.ts").then((m) => m.kernelDataPlane(log));
