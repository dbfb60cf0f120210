// The narrow kernel interface the backends program: links, routes, neighbours, FDB. The real one
// (kernel-netops.ts) sits on linux/ rtnetlink; FakeNetOps (daemon/testing/fake-netops.ts) is the recording
// fake the unit tests use. Addresses are strings (CIDR for routes' dst, plain for IPs).

export interface KRoute {
  /** CIDR, e.g. 10.244.2.0/24 */
  readonly dst: string;
  readonly gw?: string;
  readonly ifindex: number;
  readonly onlink?: boolean;
}

export interface KNeigh {
  readonly ifindex: number;
  readonly ip: string;
  readonly mac: string;
}

export interface KFdb {
  readonly ifindex: number;
  readonly mac: string;
  /** the remote VTEP's underlay IP */
  readonly dst: string;
}

export interface VxlanSpec {
  readonly name: string;
  readonly vni: number;
  /** UDP port; 0 = kernel default (8472) */
  readonly port: number;
  readonly localIp: string;
  readonly underlayIndex: number;
  readonly mtu: number;
  readonly gbp: boolean;
  readonly learning: boolean;
  /** wanted MAC (kept across restarts); random when absent */
  readonly mac?: string;
}

/** flannel's ipip device: one tunnel to every peer (remote any), routes choose the peer. */
export interface IpipSpec {
  readonly name: string;
  /** source address of encapsulated packets: the external interface's IPv4 address */
  readonly localIp: string;
  readonly mtu: number;
}

export interface NetOps {
  /** Create the vxlan device, or reuse a compatible existing one (restart without disruption). */
  ensureVxlan(spec: VxlanSpec): {
    readonly index: number;
    readonly mac: string;
    readonly created: boolean;
    /** the device's MTU as the kernel set it (it clamps one that does not fit the underlay) */
    readonly mtu?: number;
  };
  /**
   * Create the ipip device, or reuse an existing one with the same local address (MTU set to
   * `mtu`); one with another local or a fixed remote is recreated (`recreated`). Throws when a
   * link of another kind has the name, or when the kernel has no ipip support.
   */
  ensureIpip(spec: IpipSpec): {
    readonly index: number;
    readonly created: boolean;
    readonly recreated: boolean;
    /** the device's MTU as the kernel set it */
    readonly mtu?: number;
  };
  /** ifindex of a link by name, undefined when it does not exist. */
  linkIndex(name: string): number | undefined;
  /**
   * Make `cidr` the only address of the link inside `within`, and set the link up (IPv6: without DAD and without a
   * prefix route).
   */
  ensureAddress(ifindex: number, cidr: string, within: string): void;
  listRoutes(family: 4 | 6): KRoute[];
  replaceRoute(r: KRoute): void;
  deleteRoute(r: KRoute): void;
  /** Permanent neighbours of one family on the link (4: ARP, 6: NDP). */
  listNeighs(ifindex: number, family: 4 | 6): KNeigh[];
  replaceNeigh(n: KNeigh): void;
  deleteNeigh(n: KNeigh): void;
  listFdb(ifindex: number): KFdb[];
  replaceFdb(f: KFdb): void;
  deleteFdb(f: KFdb): void;
  /** The route the kernel would use to reach ip: gateway (if any) and device. */
  routeGet(ip: string): { readonly gw?: string; readonly ifindex: number } | undefined;
}
