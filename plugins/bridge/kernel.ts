/**
 * What the bridge plugin needs from the kernel, as two narrow synchronous interfaces: the host
 * netns (where the plugin runs) and one pod netns. The implementations (kernel-net.ts) sit on
 * linux/'s netlink client and take their kernel access as a parameter: the plugin definition passes
 * the real one, unit tests the netlink and sysctl fakes of linux/testing (testing/fake-deps.ts).
 * Every method is a blocking netlink/sysctl call, so no `await` ever runs while a thread is inside
 * the pod's namespace.
 */
import type { BridgeVlan } from "../../linux/netlink/bridge-vlan.ts";

export type { Family } from "../../net/ip.ts";
import type { Family } from "../../net/ip.ts";

/** One VLAN of a bridge port. */
export type VlanEntry = BridgeVlan;

export interface LinkInfo {
  readonly index: number;
  readonly name: string;
  /** "aa:bb:cc:dd:ee:ff" ("" for links without one). */
  readonly mac: string;
  /** IFLA_INFO_KIND: "bridge", "veth", ...; "" for devices without one. */
  readonly kind: string;
  readonly mtu: number;
  /** IFF_UP */
  readonly up: boolean;
  /** IFF_PROMISC */
  readonly promisc: boolean;
  /** RFC 2863 operational state in lower case: "up", "down", "lowerlayerdown", "unknown", ... */
  readonly operState: string;
  /** ifindex of the bridge this link is a port of, if any. */
  readonly masterIndex?: number;
  /** For a veth: ifindex of the peer (in whatever netns it lives). */
  readonly peerIndex?: number;
  /** For a bridge port: hairpin (IFLA_BRPORT_MODE). */
  readonly hairpin?: boolean;
}

/** An address on a link: "10.1.2.1/24" (address with its prefix length). */
export interface AddrInfo {
  readonly family: Family;
  readonly cidr: string;
  /** RT_SCOPE_UNIVERSE = 0, LINK = 253, HOST = 254 */
  readonly scope: number;
  /** IFA_F_TENTATIVE: IPv6 duplicate address detection still running. */
  readonly tentative?: boolean;
}

export interface RouteSpec {
  readonly dst: string;
  readonly gw?: string;
  /** Output device name. */
  readonly dev: string;
  readonly mtu?: number;
  readonly advmss?: number;
  readonly priority?: number;
  readonly table?: number;
  readonly scope?: number;
}

export interface RouteInfo {
  readonly dst: string;
  readonly gw?: string;
  readonly devIndex?: number;
  readonly table: number;
}

/** Calls valid in any netns. */
export interface NetCommon {
  /** undefined when there is no such link. */
  linkByName(name: string): LinkInfo | undefined;
  /** undefined when no link has that ifindex. */
  linkByIndex(index: number): LinkInfo | undefined;
  /** Every link of the netns. */
  links(): LinkInfo[];
  setUp(name: string): void;
  deleteLink(name: string): void;
  addrList(name: string, family: Family): AddrInfo[];
  /** Add an address; an identical one already present is fine. */
  addrAdd(name: string, cidr: string): void;
  addrDel(name: string, cidr: string): void;
  /** Write /proc/sys/net/... (path relative to /proc/sys, e.g. "net/ipv6/conf/cni0/accept_ra"). */
  sysctlSet(path: string, value: string): void;
  /** Read a sysctl; undefined when it does not exist. */
  sysctlGet(path: string): string | undefined;
}

export interface VethRequest {
  /** Host-side name (veth + 8 hex). */
  readonly hostName: string;
  /** Pod-side name (CNI_IFNAME). */
  readonly podName: string;
  /** 0 = kernel default. */
  readonly mtu: number;
  /** Pod-side MAC; kernel-random when absent. */
  readonly podMac?: string;
}

/** The host netns. */
export interface HostNet extends NetCommon {
  /** Create a bridge; throws an error with code "EEXIST" when the name is taken. */
  addBridge(name: string, o: { readonly mtu: number; readonly vlanFiltering: boolean }): void;
  setPromisc(name: string, on: boolean): void;
  setMac(name: string, mac: string): void;
  setMaster(name: string, masterIndex: number): void;
  /** Bridge-port flags of a port. */
  setPortFlags(name: string, o: { readonly hairpin: boolean; readonly isolated: boolean }): void;
  /**
   * Create a veth pair: `hostName` here, `podName` directly inside the pod's netns (the one `pod`
   * was opened on). Throws an error with code "EEXIST" when either name is taken (check which with
   * linkByName / PodNet.linkByName).
   */
  addVethToPod(pod: PodNet, req: VethRequest): void;
  /** A veth pair with both ends in this netns (the VLAN gateway interface). EEXIST when a name is taken. */
  addHostVeth(name: string, peer: string, mtu: number): void;
  /** VLANs of a bridge port (`bridge vlan show dev <name>`). */
  portVlans(name: string): VlanEntry[];
  addPortVlan(name: string, v: VlanEntry): void;
  delPortVlan(name: string, vid: number): void;
}

/** One pod netns, opened for the duration of a command. */
export interface PodNet extends NetCommon {
  readonly path: string;
  routeAdd(r: RouteSpec): void;
  routeList(family: Family): RouteInfo[];
  close(): void;
}

/** Opens a pod netns; throws NetnsNotFoundError (code ENOENT) when the path does not exist. */
export type PodOpener = (netnsPath: string) => PodNet;
