/**
 * The contract between flanneld's main loop and a lease store (etcd, the Kubernetes API, or the
 * in-memory fake). Backends only ever see {@link LeaseEvent} batches.
 */
import type { NetworkConfig } from "../config.ts";
import type { Lease, LeaseAttrs, LeaseEvent } from "../lease.ts";

export type { Lease, LeaseAttrs, LeaseEvent } from "../lease.ts";

/** Receives peer changes; a returned promise is awaited before the next batch (events stay ordered). */
export type LeaseEventHandler = (batch: readonly LeaseEvent[]) => void | Promise<void>;

export interface SubnetManager {
  readonly kind: "etcd" | "kube" | "memory";
  /** The network config; throws {@link ConfigNotFoundError} while it does not exist (main retries). */
  getNetworkConfig(signal: AbortSignal): Promise<NetworkConfig>;
  /** Acquire (or re-acquire) this node's subnet, publishing `attrs`. */
  acquireLease(attrs: LeaseAttrs, signal: AbortSignal): Promise<Lease>;
  /**
   * Keep the lease: etcd renews it before expiry and watches it; kube marks the node
   * NetworkUnavailable=False. Resolves when `signal` aborts; rejects with {@link LeaseLostError}
   * when the lease is revoked or taken (main then exits non-zero).
   */
  completeLease(lease: Lease, signal: AbortSignal): Promise<void>;
  /**
   * Report peers: first the full current set (one batch, possibly empty), then changes, until
   * `signal` aborts. Reconnects and resyncs by itself; never reports `own`.
   */
  watchLeases(own: Lease, onEvents: LeaseEventHandler, signal: AbortSignal): Promise<void>;
  /** What this node published before (found by its public IP in etcd, its own annotations in kube). */
  previousAttrs?(publicIP: string, signal: AbortSignal): Promise<LeaseAttrs | undefined>;
  /** Public IPs requested for this node through the store (kube: node-public-ip annotations). */
  nodePublicIPs?(signal: AbortSignal): Promise<{ readonly v4?: string; readonly v6?: string }>;
  /** Every lease in the store, this node's included, read once (`weft doctor`). */
  listLeases?(signal: AbortSignal): Promise<Lease[]>;
  /** kube: this node's name and the lease its spec.podCIDRs make, if any (`weft doctor`). */
  nodeLease?(signal: AbortSignal): Promise<{ readonly name: string; readonly lease: Lease | undefined }>;
  /** Counts for flanneld's /metrics (etcd and kube managers). */
  readonly stats?: StoreStats;
  close(): void;
}

/** Store trouble a manager rode out, counted for /metrics. */
export interface StoreStats {
  /** Failed requests and broken watches (each retried). */
  errors: number;
  /** Lease watches opened again after a break, a compaction or an expired resource version. */
  reconnects: number;
}

/** The network config is not (yet) in the store; the message says where it was looked for. */
export class ConfigNotFoundError extends Error {
  override readonly name = "ConfigNotFoundError";
}

/** This node's lease was revoked, expired or taken by another node. */
export class LeaseLostError extends Error {
  override readonly name = "LeaseLostError";
}

/** No free subnet is left in SubnetMin..SubnetMax. */
export class NoFreeSubnetError extends Error {
  override readonly name = "NoFreeSubnetError";
}
