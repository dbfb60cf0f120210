/**
 * Everything a doctor check reads, as interfaces: the real node (system.ts) in the binary, fakes in
 * the unit tests. Checks never touch the kernel, the disk or the network except through these.
 */
import type { CachedAttachment } from "../../libcni/cache.ts";
import type { CommandRunner } from "../../linux/command.ts";
import type { NetlinkClient } from "../../linux/netlink/client.ts";
import type { Sysctl } from "../../linux/sysctl.ts";
import type { NetworkConfig } from "../config.ts";
import type { FlannelFlags } from "../flags.ts";
import type { IpamView } from "../ipam-view.ts";
import type { Lease } from "../lease.ts";
import type { ProbeOptions, ProbeOutcome } from "../probe/prober.ts";
import type { DoctorOptions } from "./options.ts";

/** The lease store as the doctor reads it (etcd, or the Kubernetes API in kube mode). */
export interface StoreView {
  readonly kind: "etcd" | "kube";
  /** Where it was read: the etcd endpoint or the API server. */
  readonly where: string;
  config(signal: AbortSignal): Promise<NetworkConfig>;
  /** Every lease, this node's included. */
  leases(signal: AbortSignal): Promise<Lease[]>;
  /** kube: this node's name and spec.podCIDRs as subnets (what flanneld leases). */
  ownNode?(signal: AbortSignal): Promise<{ readonly name: string; readonly lease: Lease | undefined }>;
  close(): void;
}

/** Read-only files. */
export interface Files {
  /** The text, or undefined when the file cannot be read (missing, not a file). */
  read(path: string): string | undefined;
  exists(path: string): boolean;
  /** A regular file someone may execute. */
  isExecutable(path: string): boolean;
  /** Names of the entries that are not directories; undefined when `dir` cannot be listed. */
  listFiles(dir: string): string[] | undefined;
}

/** What the relay answered to a CNI call (or why there was no answer). */
export type RelayAnswer =
  | { readonly answered: true; readonly exitCode: number; readonly stdout: string }
  | { readonly answered: false; readonly why: string };

export interface DoctorContext {
  /** flanneld's flags, parsed from the same command line and FLANNELD_* environment. */
  readonly flags: FlannelFlags;
  readonly options: DoctorOptions;
  readonly nl: NetlinkClient;
  readonly sysctl: Sysctl;
  readonly files: Files;
  /** iptables / nft. */
  readonly run: CommandRunner;
  /** undefined when the store client could not even be built (bad flags, no credentials): `storeError` says why. */
  readonly store: StoreView | undefined;
  readonly storeError?: string;
  readonly ipam: IpamView;
  /** The runtime's CNI result cache (--cni-cache-dir): the attachments it holds. */
  cachedAttachments(): readonly Pick<CachedAttachment, "containerId" | "network" | "ifName" | "netns">[];
  /** The plugin types flannel delegates to for a flannel plugin config: the delegate (bridge) and its IPAM. */
  readonly flannelDelegates: (pluginConf: Readonly<Record<string, unknown>>) => {
    readonly plugin: string;
    readonly ipam: string;
  };
  /** CNI_COMMAND=VERSION of the plugin binary at `path`: the versions it supports, or why not. */
  pluginVersions(path: string): Promise<{ readonly versions: readonly string[] } | { readonly error: string }>;
  /** One CNI call through flanneld's CNI socket. */
  relay(socket: string, env: Readonly<Record<string, string>>, stdin: string): Promise<RelayAnswer>;
  /** GET a URL; status and body, or why it failed. */
  http(
    url: string,
    timeoutMs: number,
  ): Promise<{ readonly status: number; readonly body: string } | { readonly error: string }>;
  probe(o: ProbeOptions): Promise<ProbeOutcome>;
}
