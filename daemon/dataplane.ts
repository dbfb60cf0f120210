/**
 * What flanneld's main loop needs from the data plane, as interfaces only: the kernel backends
 * (daemon/backend/, loaded lazily by main.ts) and the control-plane-only data plane implement them.
 */
import type { BackendType, NetworkConfig } from "./config.ts";
import type { ExternalInterface, SelectOptions } from "./iface.ts";
import type { Lease, LeaseAttrs, LeaseEvent } from "./lease.ts";
import type { Logger } from "./log.ts";

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
  /**
   * MTU for pod interfaces, written as FLANNEL_MTU (vxlan: underlay MTU − 50, − 70 with IPv6;
   * host-gw: underlay MTU).
   */
  readonly mtu: number;
  /** Apply one batch of peer events (in order). */
  handleEvents(batch: readonly LeaseEvent[]): Promise<void>;
  /** Reconcile loops (device watch, route checks) until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
  /** Counts for flanneld's /metrics (backends with a kernel data plane). */
  stats?(): BackendStats;
}

/** What a backend reports to /metrics. */
export interface BackendStats {
  /** Peers whose routes (vxlan: and neighbour and FDB entries; wireguard: peer) this node programs. */
  readonly peers: readonly { readonly family: 4 | 6; readonly count: number }[];
  /** Kernel state the periodic reconcile found missing or stale and rewrote, by kind. */
  readonly repairs: ReadonlyMap<string, number>;
}

/** What the rule keeper reports to /metrics. */
export interface RuleStats {
  /** Resync passes run. */
  readonly resyncs: number;
  /** Families whose rules a resync found missing and reinstalled. */
  readonly repairs: number;
  /** Resync passes that failed (iptables / nft errors). */
  readonly errors: number;
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
  readonly previous?: {
    readonly network?: string;
    readonly subnet?: string;
    readonly ipv6Network?: string;
    readonly ipv6Subnet?: string;
  };
}

/** Masquerade and forward rules (iptables or nftables). */
export interface TrafficRules {
  setup(o: TrafficOptions, signal: AbortSignal): Promise<void>;
  /** Periodic resync until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
  /** Counts for flanneld's /metrics. */
  stats?(): RuleStats;
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
