/**
 * bridge CHECK: IPAM CHECK, then the live state against prevResult: the bridge (type, MAC, promisc),
 * the pod veth (in the sandbox, MAC), the host veth that pairs them on the bridge, every address
 * and route. Mismatches are code 100 (see README); a missing prevResult is code 7.
 */
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import type { Interface100, Result100, Route } from "../../libcni/types/result.ts";
import { parsePrevResult } from "../../libcni/types/parse.ts";
import { formatCidr, maskNet, parseCidr, parseIp, formatIp } from "../../net/prefix.ts";
import { isObject } from "../shared/conf.ts";
import { parseBridgeConf, type BridgeConf } from "./config.ts";
import type { BridgeCall, BridgeDeps } from "./deps.ts";
import type { HostNet, LinkInfo, PodNet } from "./kernel.ts";
import { openPodOrFail } from "./netns.ts";

/** Plugin-specific code: the live network state differs from prevResult. */
export const CHECK_MISMATCH = 100;

function mismatch(msg: string): CniError {
  return new CniError(CHECK_MISMATCH, msg);
}

export async function bridgeCheck(call: BridgeCall, deps: BridgeDeps): Promise<void> {
  const c = parseBridgeConf(call.config, call.args);
  const pod = openPodOrFail(deps, call.netns);
  try {
    if (c.ipamType !== "") await deps.ipam.check(c.ipamType, call.stdinData);
    const prev = isObject(call.config) ? parsePrevResult(call.config, c.cniVersion) : undefined;
    if (!prev)
      throw new CniError(
        ErrorCode.InvalidNetworkConfig,
        "Required prevResult missing",
        "CHECK needs the ADD result as prevResult",
      );
    checkLinks(call, { host: deps.host, pod }, c, prev);
    checkAddresses(pod, call.ifName, prev);
    checkRoutes(pod, prev.routes ?? []);
  } finally {
    pod.close();
  }
}

function checkLinks(
  call: BridgeCall,
  net: { readonly host: HostNet; readonly pod: PodNet },
  c: BridgeConf,
  prev: Result100,
): void {
  const { host, pod } = net;
  const ifs = prev.interfaces ?? [];
  const brEntry = ifs.find((i) => i.name === c.bridge);
  const podEntry = ifs.find((i) => i.name === call.ifName && i.sandbox === call.netns);
  if (!brEntry) throw mismatch(`CNI created bridge ${c.bridge} in host namespace was not found`);
  const br = checkBridge(host, brEntry, c);
  if (!podEntry) {
    const other = ifs.find((i) => i.name === call.ifName);
    throw mismatch(`Sandbox in prevResult ${other?.sandbox ?? ""} doesn't match configured netns: ${call.netns}`);
  }
  const cont = checkPodIface(pod, podEntry);
  for (const entry of ifs) {
    if (entry === brEntry || entry === podEntry) continue;
    const link = host.linkByName(entry.name);
    if (!link) throw mismatch(`Interface name ${entry.name} not found`);
    if (entry.sandbox) throw mismatch(`Interface ${entry.name} should not be in sandbox`);
    if (
      link.kind !== "veth" ||
      link.index !== cont.peerIndex ||
      link.peerIndex !== cont.index ||
      link.masterIndex !== br.index
    )
      continue;
    if (entry.mac && entry.mac !== link.mac)
      throw mismatch(`Interface ${entry.name} Mac doesn't match: ${entry.mac} not found`);
    return;
  }
  throw mismatch(`CNI veth created for bridge ${c.bridge} was not found`);
}

function checkBridge(host: HostNet, entry: Interface100, c: BridgeConf): LinkInfo {
  const link = host.linkByName(entry.name);
  if (!link) throw mismatch(`Interface name ${entry.name} not found`);
  if (entry.sandbox) throw mismatch(`Interface ${entry.name} should not be in sandbox`);
  if (link.kind !== "bridge") throw mismatch(`Interface ${entry.name} does not have link type of bridge`);
  if (entry.mac && entry.mac !== link.mac)
    throw mismatch(`Bridge interface ${entry.name} Mac doesn't match: ${entry.mac}`);
  if (link.promisc !== c.promiscMode) {
    throw mismatch(
      `Bridge interface ${entry.name} configured Promisc Mode ` +
        `${c.promiscMode} doesn't match current state: ${link.promisc}`,
    );
  }
  return link;
}

function checkPodIface(pod: PodNet, entry: Interface100): LinkInfo {
  const link = pod.linkByName(entry.name);
  if (!link) throw mismatch(`CNI created interface in container ${entry.name} not found`);
  if (link.kind !== "veth") throw mismatch(`Error: Container interface ${entry.name} not of type veth`);
  if (entry.mac && entry.mac !== link.mac)
    throw mismatch(`Interface ${entry.name} Mac ${entry.mac} doesn't match container Mac: ${link.mac}`);
  return link;
}

function checkAddresses(pod: PodNet, ifName: string, prev: Result100): void {
  for (const ip of prev.ips ?? []) {
    const n = parseCidr(ip.address);
    if (!n) throw mismatch(`Failed to match addr ${ip.address} on interface ${ifName}`);
    const live = pod.addrList(ifName, n.family).map((a) => a.cidr);
    if (!live.includes(formatCidr(n))) throw mismatch(`Failed to match addr ${ip.address} on interface ${ifName}`);
    const prefix = formatCidr(maskNet(n));
    if (!pod.routeList(n.family).some((r) => r.dst === prefix)) {
      throw mismatch(`Failed to find Gateway ${ip.gateway ?? "<nil>"} for interface ${ifName}`);
    }
  }
}

function checkRoutes(pod: PodNet, routes: readonly Route[]): void {
  for (const r of routes) {
    const dst = parseCidr(r.dst);
    if (!dst) throw mismatch(`Invalid static route found {Dst:${r.dst} GW:${r.gw ?? "<nil>"}}`);
    const want = formatCidr(dst);
    const gw = r.gw ? parseIp(r.gw) : undefined;
    const wantGw = gw ? formatIp(gw.family, gw.ip) : undefined;
    const found = pod
      .routeList(dst.family)
      .some((live) => live.dst === want && (wantGw === undefined || live.gw === wantGw));
    if (!found) throw mismatch(`Expected Route {Dst:${r.dst} GW:${r.gw ?? "<nil>"}} not found in routing table`);
  }
}
