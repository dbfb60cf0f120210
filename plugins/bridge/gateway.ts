/**
 * Pure gateway maths of the bridge plugin (reference calcGateways): every IP is on the pod
 * interface (index 2); a missing gateway becomes network + 1 when the bridge is the gateway; one
 * default route per family when isDefaultGateway, unless IPAM already gave one with a gateway.
 */
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import { formatCidr, formatIp, maskNet, parseCidr, parseIp, type Family } from "../../net/prefix.ts";

export interface IpConfigLike {
  readonly address: string;
  readonly gateway?: string;
  readonly interface?: number;
}

export interface RouteLike {
  readonly dst: string;
  readonly gw?: string;
}

export interface GatewayOptions {
  readonly isGateway: boolean;
  readonly isDefaultGateway: boolean;
}

export interface GatewayPlan {
  /** The IPs with `interface: 2` and computed gateways. */
  readonly ips: IpConfigLike[];
  /** IPAM routes plus the default routes added here. */
  readonly routes: RouteLike[];
  /** Addresses to put on the bridge ("gw/prefix"), per family, in IP order. */
  readonly bridgeAddrs: { readonly 4: string[]; readonly 6: string[] };
}

const DEFAULT_DST: Record<Family, string> = { 4: "0.0.0.0/0", 6: "::/0" };

function badAddress(a: string): CniError {
  return new CniError(
    ErrorCode.InvalidNetworkConfig,
    `IPAM returned an invalid address ${JSON.stringify(a)}`,
    "the IPAM plugin must return addresses as CIDRs, e.g. 10.244.1.5/24",
  );
}

/** The first address of the subnet of `cidr` after the network address, e.g. 10.1.2.5/24 -> 10.1.2.1. */
export function gatewayFor(cidr: string): string {
  const n = parseCidr(cidr);
  if (!n) throw badAddress(cidr);
  const m = maskNet(n);
  return formatIp(m.family, m.ip + 1n);
}

function sameDst(a: string, b: string): boolean {
  const n = parseCidr(a);
  return n !== undefined && formatCidr(n) === b;
}

export function calcGateways(
  ips: readonly IpConfigLike[],
  routes: readonly RouteLike[],
  o: GatewayOptions,
): GatewayPlan {
  const outIps: IpConfigLike[] = [];
  const outRoutes: RouteLike[] = [...routes];
  const bridgeAddrs: { 4: string[]; 6: string[] } = { 4: [], 6: [] };
  const defaultDone: Record<Family, boolean> = { 4: false, 6: false };
  for (const ip of ips) {
    const n = parseCidr(ip.address);
    if (!n) throw badAddress(ip.address);
    let gateway = ip.gateway;
    if (gateway === undefined || gateway === "") gateway = o.isGateway ? gatewayFor(ip.address) : undefined;
    outIps.push({ ...ip, interface: 2, ...(gateway !== undefined ? { gateway } : {}) });
    if (o.isDefaultGateway && !defaultDone[n.family]) {
      const dst = DEFAULT_DST[n.family];
      const found = outRoutes.some((r) => r.gw !== undefined && r.gw !== "" && sameDst(r.dst, dst));
      if (!found) outRoutes.push(gateway !== undefined ? { dst, gw: gateway } : { dst });
      defaultDone[n.family] = true;
    }
    if (o.isGateway && gateway !== undefined) {
      const gw = parseIp(gateway);
      if (!gw || gw.family !== n.family) {
        throw new CniError(
          ErrorCode.InvalidNetworkConfig,
          `IPAM returned gateway ${gateway} for ${ip.address}, which is not an address of the same family`,
        );
      }
      bridgeAddrs[n.family].push(`${formatIp(gw.family, gw.ip)}/${n.prefix}`);
    }
  }
  return { ips: outIps, routes: outRoutes, bridgeAddrs };
}
