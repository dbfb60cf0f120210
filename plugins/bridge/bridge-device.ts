/** The bridge device on the host: create or reuse it, put gateway addresses on it, forwarding. */
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import { formatCidr, maskNet, parseCidr, overlaps } from "../../net/prefix.ts";
import type { BridgeConf } from "./config.ts";
import { errnoOf, kernelError } from "./errors.ts";
import type { Family, HostNet, LinkInfo } from "./kernel.ts";

/**
 * Create the bridge unless it exists (then it is reused as is); promisc, accept_ra=0, up. An
 * existing bridge that is already up (and promiscuous when asked) is not set again nor re-read.
 */
export function ensureBridge(host: HostNet, c: BridgeConf): LinkInfo {
  const name = c.bridge;
  // looked up first: on every ADD but a node's first the bridge exists, and the reference's
  // create-then-ignore-EEXIST would cost a request that changes nothing
  const found = host.linkByName(name) ?? createBridge(host, c);
  if (!found) throw new CniError(ErrorCode.IOFailure, `failed to create bridge "${name}": could not lookup "${name}"`);
  if (found.kind !== "bridge") {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `failed to create bridge "${name}": "${name}" already exists but is not a bridge`,
      `set 'bridge' to another name, or remove the ${found.kind || "non-bridge"} device "${name}"`,
    );
  }
  try {
    const setPromisc = c.promiscMode && !found.promisc;
    if (setPromisc) host.setPromisc(name, true);
    try {
      host.sysctlSet(`net/ipv6/conf/${name}/accept_ra`, "0");
    } catch {
      // IPv6 may be disabled; the reference ignores this too
    }
    if (found.up && !setPromisc) return found;
    if (!found.up) host.setUp(name);
  } catch (e) {
    throw kernelError(`failed to create bridge "${name}"`, e);
  }
  return host.linkByName(name) ?? found;
}

/**
 * Create the bridge (EEXIST is fine: another ADD made it meanwhile); the link, or undefined when it cannot be found.
 */
function createBridge(host: HostNet, c: BridgeConf): LinkInfo | undefined {
  const name = c.bridge;
  try {
    host.addBridge(name, { mtu: c.mtu, vlanFiltering: c.vlan !== 0 || c.vlanTrunk !== undefined });
  } catch (e) {
    if (errnoOf(e) === "EOPNOTSUPP" && (c.vlan !== 0 || c.vlanTrunk !== undefined)) {
      const err = kernelError(`failed to create bridge "${name}": could not add "${name}"`, e);
      throw new CniError(
        err.code,
        err.msg,
        "this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING), which 'vlan' and 'vlanTrunk' need",
      );
    }
    if (errnoOf(e) !== "EEXIST") throw kernelError(`failed to create bridge "${name}": could not add "${name}"`, e);
  }
  return host.linkByName(name);
}

/** `10.244.3.0/24` for `10.244.3.1/24`: the subnet an address on the bridge stands for. */
function subnetOf(cidr: string): string {
  const n = parseCidr(cidr);
  return n ? formatCidr(maskNet(n)) : cidr;
}

/**
 * What to do about a bridge holding another address. On a flannel node that is the bridge of an
 * earlier subnet of this node (kubeadm reset, a new podCIDR, a flanneld lease lost while down): the
 * pods on it are cut off anyway and the bridge has to go; elsewhere another network shares it.
 */
export function staleBridgeDetails(bridge: string, have: string, want: string): string {
  return (
    `"${bridge}" has ${have} (subnet ${subnetOf(have)}), this network's gateway is ${want} ` +
    `(subnet ${subnetOf(want)}). If "${bridge}" is left from an earlier subnet of this node (a reset or ` +
    `a new podCIDR): drain the node, delete the bridge (ip link delete ${bridge}) and the next pod gets ` +
    `a new one. If another network shares it: give this network its own 'bridge', or set forceAddress ` +
    "to replace the address"
  );
}

/**
 * Put `cidr` (gateway/prefix) on the bridge. The same address is fine; a different IPv4 address,
 * or an overlapping IPv6 one, is an error unless forceAddress (then the old one is removed).
 * Afterwards the bridge MAC is pinned to its current value so it stops following its ports.
 */
export function ensureAddr(host: HostNet, bridge: string, cidr: string, forceAddress: boolean): void {
  const want = parseCidr(cidr);
  if (!want) throw new CniError(ErrorCode.Internal, `ensureAddr: ${cidr} is not a CIDR`);
  const family = want.family;
  for (const a of host.addrList(bridge, family)) {
    if (a.cidr === cidr) return;
    const have = parseCidr(a.cidr);
    if (family === 4 || (have && overlaps(have, want))) {
      if (!forceAddress) {
        throw new CniError(
          ErrorCode.InvalidNetworkConfig,
          `failed to set bridge addr: "${bridge}" already has an IP address different from ${cidr}`,
          staleBridgeDetails(bridge, a.cidr, cidr),
        );
      }
      try {
        host.addrDel(bridge, a.cidr);
      } catch (e) {
        throw kernelError(`could not remove IP address from "${bridge}"`, e);
      }
    }
  }
  try {
    host.addrAdd(bridge, cidr);
    const br = host.linkByName(bridge);
    if (br) host.setMac(bridge, br.mac);
  } catch (e) {
    throw kernelError(`could not add IP address ${cidr} to "${bridge}"`, e);
  }
}

/** ip_forward (v4) or conf/all/forwarding (v6) to 1, written only when not already 1. */
export function enableForwarding(host: HostNet, family: Family): void {
  const path = family === 4 ? "net/ipv4/ip_forward" : "net/ipv6/conf/all/forwarding";
  try {
    if (host.sysctlGet(path)?.trim() !== "1") host.sysctlSet(path, "1");
  } catch (e) {
    throw kernelError("failed to enable forwarding", e);
  }
}
