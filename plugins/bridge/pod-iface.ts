/** Configuring the pod interface from the result (the reference's ConfigureIface plus its sysctls). */
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import type { IPConfig100, Route } from "../../libcni/types/result.ts";
import { parseCidr, parseIp } from "../../net/prefix.ts";
import { kernelError } from "./errors.ts";
import type { PodNet } from "./kernel.ts";

const DAD_TIMEOUT_MS = 5000;
const DAD_POLL_MS = 50;

/** Best-effort sysctl (the reference ignores these failures). */
function trySysctl(pod: PodNet, path: string, value: string): void {
  try {
    pod.sysctlSet(path, value);
  } catch {
    // IPv6 disabled in the pod, or an older kernel without the knob
  }
}

/** DAD and ARP sysctls of the pod interface. */
export function podSysctls(pod: PodNet, ifName: string, enableDad: boolean): void {
  if (enableDad) {
    trySysctl(pod, `net/ipv6/conf/${ifName}/enhanced_dad`, "1");
    trySysctl(pod, `net/ipv6/conf/${ifName}/accept_dad`, "1");
  } else {
    trySysctl(pod, `net/ipv6/conf/${ifName}/accept_dad`, "0");
  }
  trySysctl(pod, `net/ipv4/conf/${ifName}/arp_notify`, "1");
}

function enableIpv6(pod: PodNet, ifName: string): void {
  for (const dev of ["lo", ifName]) {
    const path = `net/ipv6/conf/${dev}/disable_ipv6`;
    const v = pod.sysctlGet(path);
    if (v === undefined || v.trim() === "0") continue;
    try {
      pod.sysctlSet(path, "0");
    } catch (e) {
      throw kernelError(`failed to enable IPv6 for interface "${dev}" (${path}=${v.trim()})`, e);
    }
  }
  try {
    pod.sysctlSet(`net/ipv6/conf/${ifName}/keep_addr_on_down`, "1");
  } catch (e) {
    throw kernelError(`failed to enable keep_addr_on_down for interface "${ifName}"`, e);
  }
}

/**
 * Addresses, link up, DAD settle (when there is an IPv6 gateway), then routes; a route without a
 * gateway uses the first gateway of its family.
 */
export async function configureIface(
  pod: PodNet,
  ifName: string,
  config: { readonly ips: readonly IPConfig100[]; readonly routes: readonly Route[] },
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  const { ips, routes } = config;
  const gw: { 4?: string; 6?: string } = {};
  let v6Enabled = false;
  for (const ip of ips) {
    const n = parseCidr(ip.address);
    if (!n)
      throw new CniError(
        ErrorCode.InvalidNetworkConfig,
        `IPAM returned an invalid address ${JSON.stringify(ip.address)}`,
      );
    if (n.family === 6 && !v6Enabled) {
      enableIpv6(pod, ifName);
      v6Enabled = true;
    }
    try {
      pod.addrAdd(ifName, ip.address);
    } catch (e) {
      throw kernelError(`failed to add IP addr ${ip.address} to "${ifName}"`, e);
    }
    const g = ip.gateway ? parseIp(ip.gateway) : undefined;
    if (g && ip.gateway && gw[g.family] === undefined) gw[g.family] = ip.gateway;
  }
  try {
    pod.setUp(ifName);
  } catch (e) {
    throw kernelError(`failed to set "${ifName}" UP`, e);
  }
  if (gw[6] !== undefined) await settleAddresses(pod, ifName, sleep);
  for (const r of routes) {
    const dst = parseCidr(r.dst);
    if (!dst)
      throw new CniError(
        ErrorCode.InvalidNetworkConfig,
        `IPAM returned an invalid route destination ${JSON.stringify(r.dst)}`,
      );
    const via = r.gw ?? gw[dst.family];
    try {
      pod.routeAdd({
        dst: r.dst,
        dev: ifName,
        ...(via !== undefined ? { gw: via } : {}),
        ...(r.priority ? { priority: r.priority } : {}),
        ...(r.table !== undefined ? { table: r.table } : {}),
        ...(r.scope !== undefined ? { scope: r.scope } : {}),
      });
    } catch (e) {
      throw kernelError(`failed to add route '${r.dst} via ${via ?? "<nil>"} dev ${ifName}'`, e);
    }
  }
}

/** Wait until no IPv6 address of the link is tentative (DAD done), at most 5 s. */
async function settleAddresses(pod: PodNet, ifName: string, sleep: (ms: number) => Promise<void>): Promise<void> {
  for (let waited = 0; ; waited += DAD_POLL_MS) {
    const tentative = pod.addrList(ifName, 6).filter((a) => a.tentative === true);
    if (tentative.length === 0) return;
    if (waited >= DAD_TIMEOUT_MS) {
      throw new CniError(
        ErrorCode.TryAgainLater,
        `failed to settle addresses for "${ifName}": ${tentative.map((a) => a.cidr).join(", ")} ` +
          `still tentative after ${DAD_TIMEOUT_MS / 1000}s`,
      );
    }
    await sleep(DAD_POLL_MS);
  }
}
