/**
 * Bridge VLANs (reference setupVeth / ensureVlanInterface): the pod's port gets `vlan` as PVID
 * untagged and the trunk VIDs tagged; without `preserveDefaultVlan` the port's existing VIDs (the
 * default VID 1) are removed first; a trunk without `vlan` gets VID 1 as PVID. With a VLAN and
 * isGateway, the gateway lives on a veth `<bridge>.<vlan>` whose peer is a port of that VLAN.
 */
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import type { BridgeConf } from "./config.ts";
import type { BridgeDeps } from "./deps.ts";
import { errnoOf, kernelError } from "./errors.ts";
import type { HostNet, LinkInfo } from "./kernel.ts";

/** Apply the VLAN settings to bridge port `port`. */
export interface PortVlans {
  /** PVID, egress untagged; 0 = none. */
  readonly vlan: number;
  /** Tagged VIDs. */
  readonly trunk: readonly number[];
  /** Keep the VIDs the port already has (the default VID 1). */
  readonly preserveDefaultVlan: boolean;
}

export function applyPortVlans(host: HostNet, port: string, o: PortVlans): void {
  const { vlan, trunk, preserveDefaultVlan } = o;
  if (vlan === 0 && trunk.length === 0) return;
  try {
    if (!preserveDefaultVlan) for (const v of host.portVlans(port)) host.delPortVlan(port, v.vid);
    if (vlan !== 0) host.addPortVlan(port, { vid: vlan, pvid: true, untagged: true });
    for (const vid of trunk) host.addPortVlan(port, { vid, pvid: false, untagged: false });
    if (vlan === 0) host.addPortVlan(port, { vid: 1, pvid: true, untagged: true });
  } catch (e) {
    throw kernelError(`failed to setup vlan tag on interface "${port}"`, e);
  }
}

/** The `<bridge>.<vlan>` gateway interface, created (with its port on the bridge) when missing. */
export function ensureVlanInterface(deps: BridgeDeps, c: BridgeConf, br: LinkInfo): LinkInfo {
  const name = `${c.bridge}.${c.vlan}`;
  const existing = deps.host.linkByName(name);
  if (existing) return existing;
  if (name.length > 15) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `the VLAN gateway interface name "${name}" is longer than 15 characters`,
      "use a shorter 'bridge' name",
    );
  }
  let peer = "";
  for (let i = 0; i < 10 && peer === ""; i++) {
    const candidate = `veth${deps.randomHex(4)}`;
    try {
      deps.host.addHostVeth(name, candidate, br.mtu);
      peer = candidate;
    } catch (e) {
      if (errnoOf(e) !== "EEXIST" || deps.host.linkByName(name))
        throw kernelError(`failed to create vlan gateway "${name}"`, e);
    }
  }
  if (peer === "")
    throw new CniError(
      ErrorCode.TryAgainLater,
      `failed to create vlan gateway "${name}": no free veth name after 10 tries`,
    );
  try {
    deps.host.setUp(peer);
    deps.host.setMaster(peer, br.index);
    deps.host.setPortFlags(peer, { hairpin: false, isolated: false });
  } catch (e) {
    throw kernelError(`failed to connect "${peer}" to bridge ${c.bridge}`, e);
  }
  applyPortVlans(deps.host, peer, { vlan: c.vlan, trunk: [], preserveDefaultVlan: c.preserveDefaultVlan });
  try {
    deps.host.setUp(name);
  } catch (e) {
    throw kernelError(`failed to up "${name}"`, e);
  }
  const link = deps.host.linkByName(name);
  if (!link) throw new CniError(ErrorCode.IOFailure, `failed to lookup "${name}"`);
  return link;
}
