/**
 * The three result shapes of the CNI spec, one per version family:
 *   "020": 0.1.0, 0.2.0          ip4/ip6 with nested routes, no interfaces
 *   "040": 0.3.0, 0.3.1, 0.4.0   interfaces, ips[] with "version", routes, dns
 *   "100": 1.0.0, 1.1.0          ips[] without "version"; interface mtu/socketPath/pciID
 * Plugins compute in Result100 and let skel convert at the edge (convert.ts).
 * Optional numbers follow Go: mtu/advmss/priority 0 is "unset"; table, scope and interface
 * index 0 are real values.
 */

export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** One route; the same type in every family (0.2.0 nests them under ip4/ip6). */
export interface Route {
  /** Destination CIDR, e.g. "0.0.0.0/0". */
  dst: string;
  /** Next hop; absent means "the interface's gateway". */
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface IPConfig020 {
  /** Address with prefix, e.g. "10.1.2.3/24". */
  ip: string;
  gateway?: string;
  routes?: Route[];
}

export interface Result020 {
  cniVersion: "0.1.0" | "0.2.0";
  ip4?: IPConfig020;
  ip6?: IPConfig020;
  dns?: Dns;
}

export interface Interface040 {
  name: string;
  mac?: string;
  sandbox?: string;
}

export interface IPConfig040 {
  /** "4" or "6". */
  version: string;
  /** Index into interfaces. */
  interface?: number;
  address: string;
  gateway?: string;
}

export interface Result040 {
  cniVersion: "0.3.0" | "0.3.1" | "0.4.0";
  interfaces?: Interface040[];
  ips?: IPConfig040[];
  routes?: Route[];
  dns?: Dns;
}

export interface Interface100 {
  name: string;
  mac?: string;
  mtu?: number;
  /** Netns path for container-side interfaces; absent for host-side ones. */
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface IPConfig100 {
  address: string;
  gateway?: string;
  /** Index into interfaces; 0 is a real index. IPAM results leave it out. */
  interface?: number;
}

export interface Result100 {
  cniVersion: "1.0.0" | "1.1.0";
  interfaces?: Interface100[];
  ips?: IPConfig100[];
  routes?: Route[];
  dns?: Dns;
}

export type AnyResult = Result020 | Result040 | Result100;

export type ResultFamily = "020" | "040" | "100";

/** Spec versions of each result family; Go's creators list "" with 0.1.0 too (for messages). */
export const FAMILY_VERSIONS = {
  "020": ["", "0.1.0", "0.2.0"],
  "040": ["0.3.0", "0.3.1", "0.4.0"],
  "100": ["1.0.0", "1.1.0"],
} as const satisfies Record<ResultFamily, readonly string[]>;

/** The family a version's results belong to ("" counts as 0.1.0); undefined for unknown versions. */
export function familyOf(version: string): ResultFamily | undefined {
  for (const f of ["020", "040", "100"] as const) {
    if ((FAMILY_VERSIONS[f] as readonly string[]).includes(version)) return f;
  }
  return undefined;
}

export function isResult020(r: AnyResult): r is Result020 {
  return familyOf(r.cniVersion) === "020";
}

export function isResult040(r: AnyResult): r is Result040 {
  return familyOf(r.cniVersion) === "040";
}

export function isResult100(r: AnyResult): r is Result100 {
  return familyOf(r.cniVersion) === "100";
}

/** True when the DNS block has no value (Go's DNS.IsEmpty). */
export function isDnsEmpty(d: Dns | undefined): boolean {
  return !d || (!d.nameservers?.length && !d.domain && !d.search?.length && !d.options?.length);
}
