/**
 * bridge DEL: remove the pod interface (collecting its addresses), release IPAM, remove masquerade
 * rules. Idempotent: a missing netns or link is success and IPAM is still released. The bridge is
 * never deleted (other pods use it). CNI_IFNAME is deleted only when it is this attachment's (a
 * veth whose peer is a port of this network's bridge, carrying no address reserved for another
 * container: owner.ts); anything else there is left as it is and logged, and the rest of DEL runs.
 */
import { trace } from "../../libcni/trace.ts";
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import { parsePrevResult } from "../../libcni/types/parse.ts";
import { isObject } from "../shared/conf.ts";
import { parseBridgeConf, type BridgeConf } from "./config.ts";
import type { BridgeCall, BridgeDeps } from "./deps.ts";
import { kernelError } from "./errors.ts";
import { isNetnsGone } from "./netns.ts";
import { globalAddresses, notOurs } from "./owner.ts";

export async function bridgeDel(call: BridgeCall, deps: BridgeDeps): Promise<void> {
  const c = parseBridgeConf(call.config, call.args);
  let addrs: string[] = [];
  let netnsGone = call.netns === "";
  if (call.netns !== "") {
    try {
      addrs = deletePodLink(call, deps, c, c.ipamType !== "" && c.ipMasq);
    } catch (e) {
      // the netns is gone (kubernetes#43014): nothing to remove there, the rest still runs
      if (!isNetnsGone(e)) throw e;
      netnsGone = true;
    }
  }
  trace("bridge: pod link removed");
  if (c.ipamType !== "") await deps.ipam.del(c.ipamType, call.stdinData);
  trace("bridge: IPAM released");
  if (c.macspoofchk) {
    // as the reference: spoof-check teardown problems are only reported on stderr
    await deps.spoof
      .teardown({ containerID: call.containerID, ifName: call.ifName })
      .catch((e: unknown) => deps.log(e instanceof Error ? e.message : String(e)));
  }
  await teardownMasq(call, deps, c, {
    addresses: addrs.length > 0 ? addrs : prevAddresses(call, c),
    wholeContainer: netnsGone,
  });
}

/**
 * Delete CNI_IFNAME in the pod; its global addresses when `wantAddrs` (only masquerade teardown
 * uses them; none when the link is already gone).
 */
function deletePodLink(call: BridgeCall, deps: BridgeDeps, c: BridgeConf, wantAddrs: boolean): string[] {
  let pod;
  try {
    pod = deps.openPod(call.netns);
    trace("bridge: pod netns open");
  } catch (e) {
    if (isNetnsGone(e)) throw e;
    throw new CniError(
      ErrorCode.InvalidEnvironmentVariables,
      `failed to open netns "${call.netns}": ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  try {
    const link = pod.linkByName(call.ifName);
    if (!link) return [];
    let cidrs: string[] | undefined;
    const addrs = (): string[] => (cidrs ??= globalAddresses(pod, call.ifName));
    const foreign = notOurs(call, deps, c, link, addrs);
    if (foreign !== undefined) {
      deps.log(`left ${call.ifName} in ${call.netns} as it is: ${foreign}`);
      return [];
    }
    const wanted = wantAddrs ? addrs() : [];
    trace("bridge: pod addrs listed");
    try {
      pod.deleteLink(call.ifName);
    } catch (e) {
      throw kernelError(`failed to delete "${call.ifName}"`, e);
    }
    return wanted;
  } finally {
    pod.close();
  }
}

/**
 * Addresses from prevResult, for removing masquerade rules when the pod link is already gone
 * (the reference then leaves its iptables chain behind). Unparsable prevResult gives none.
 */
function prevAddresses(call: BridgeCall, c: BridgeConf): string[] {
  if (!c.ipMasq || !isObject(call.config)) return [];
  try {
    const prev = parsePrevResult(call.config, c.cniVersion);
    return (prev?.ips ?? []).map((i) => i.address);
  } catch {
    return [];
  }
}

/**
 * Masquerade rules of this interface; with no known address (link and prevResult gone) those of
 * the whole container only when its netns is gone: while it exists, another interface of the same
 * container may still use the shared chain.
 */
async function teardownMasq(
  call: BridgeCall,
  deps: BridgeDeps,
  c: BridgeConf,
  o: { readonly addresses: readonly string[]; readonly wholeContainer: boolean },
): Promise<void> {
  if (c.ipamType === "" || !c.ipMasq) return;
  await deps.masq.teardown({ network: c.name, ifName: call.ifName, containerID: call.containerID, ...o });
}
