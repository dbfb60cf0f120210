/**
 * Whose interface is it: DEL deletes CNI_IFNAME only when it is what this plugin's ADD makes for
 * this container, and ADD refuses a namespace that holds another container's attachment to this
 * network, so a call aimed at the wrong namespace (another pod's, the node's) changes nothing there.
 *
 * An interface is one of this network's attachments when it is a veth whose peer is a port of the
 * network's bridge (for DEL also of no bridge: a pair an ADD killed before it attached it). Whose
 * attachment it is comes from host-local's reservations (the reference's files, read without the
 * lock: a reservation that exists names its holder): an attachment carrying an address reserved for
 * another container is that container's. With another IPAM plugin nothing says whose it is, and only
 * the first test applies.
 */
import { join } from "node:path";
import { parseOwnerRecord } from "../host-local/store.ts";
import { isObject, optObject, optString } from "../shared/conf.ts";
import type { BridgeConf } from "./config.ts";
import type { BridgeCall, BridgeDeps } from "./deps.ts";
import type { LinkInfo, PodNet } from "./kernel.ts";

/** host-local's default dataDir (the reference's). */
const HOST_LOCAL_DATA_DIR = "/var/lib/cni/networks";

/** The container holding an address, per the IPAM's records; undefined when none (or unknown). */
export type OwnerLookup = (ip: string) => string | undefined;

/** An owner lookup over host-local's files when the config's IPAM is host-local and files can be read. */
export function ownerLookup(config: unknown, deps: Pick<BridgeDeps, "readFile">): OwnerLookup | undefined {
  const read = deps.readFile;
  if (!read || !isObject(config)) return undefined;
  let dir: string;
  try {
    const ipam = optObject(config, "ipam");
    if (!ipam || optString(ipam, "type", "") !== "host-local") return undefined;
    const name = optString(config, "name", "");
    if (name === "") return undefined;
    dir = join(optString(ipam, "dataDir", "") || HOST_LOCAL_DATA_DIR, name);
  } catch {
    return undefined;
  }
  return (ip) => {
    let text: string | undefined;
    try {
      text = read(join(dir, ip));
    } catch {
      return undefined;
    }
    if (text === undefined) return undefined;
    const owner = parseOwnerRecord(ip, text).containerID;
    return owner === "" ? undefined : owner;
  };
}

/**
 * True when `link` (in a pod netns) is a veth whose peer (in the host netns) is a port of `bridge`,
 * or, with `unattached`, a port of no bridge at all: the pair of an ADD killed before it attached it.
 */
export function isPortOf(
  deps: BridgeDeps,
  bridge: LinkInfo | undefined,
  link: LinkInfo,
  o: { readonly unattached: boolean },
): boolean {
  if (link.kind !== "veth" || link.peerIndex === undefined) return false;
  const peer = deps.host.linkByIndex(link.peerIndex);
  if (peer?.kind !== "veth" || peer.peerIndex !== link.index) return false;
  if (peer.masterIndex === undefined) return o.unattached;
  return bridge !== undefined && peer.masterIndex === bridge.index;
}

/** The global addresses of a pod link ("10.1.2.2/24"). */
export function globalAddresses(pod: PodNet, name: string): string[] {
  return [...pod.addrList(name, 4), ...pod.addrList(name, 6)].filter((a) => a.scope === 0).map((a) => a.cidr);
}

/** An address of `cidrs` reserved for a container other than `containerID`, and that container. */
function otherHolder(
  cidrs: () => readonly string[],
  owners: OwnerLookup | undefined,
  containerID: string,
): { readonly ip: string; readonly owner: string } | undefined {
  if (!owners) return undefined;
  for (const cidr of cidrs()) {
    const ip = cidr.slice(0, cidr.indexOf("/"));
    const owner = owners(ip);
    if (owner !== undefined && owner !== containerID.trim()) return { ip, owner };
  }
  return undefined;
}

/**
 * Why `link` (CNI_IFNAME in the pod netns) is not this attachment's to delete; undefined when it is.
 * `cidrs` gives its global addresses (read only when the IPAM's records can name their holder).
 */
export function notOurs(
  call: BridgeCall,
  deps: BridgeDeps,
  c: BridgeConf,
  link: LinkInfo,
  cidrs: () => readonly string[],
): string | undefined {
  if (link.kind !== "veth")
    return `it is ${link.kind ? `a ${link.kind} device` : "a device"}, not a veth this plugin made`;
  const bridge = deps.host.linkByName(c.bridge);
  if (!isPortOf(deps, bridge, link, { unattached: true })) return `its peer is not a port of bridge ${c.bridge}`;
  const other = otherHolder(cidrs, ownerLookup(call.config, deps), call.containerID);
  if (other) return `it carries ${other.ip}, reserved for container ${other.owner}`;
  return undefined;
}

/**
 * Another container's attachment to this network in the pod netns: a port of the bridge carrying
 * an address reserved for a container other than this one. undefined when there is none, or when
 * the IPAM's records cannot tell.
 */
export function otherAttachment(
  call: BridgeCall,
  deps: BridgeDeps,
  c: BridgeConf,
  pod: PodNet,
): { readonly link: string; readonly ip: string; readonly owner: string } | undefined {
  const owners = ownerLookup(call.config, deps);
  if (!owners) return undefined;
  const veths = pod.links().filter((l) => l.kind === "veth");
  if (veths.length === 0) return undefined;
  const bridge = deps.host.linkByName(c.bridge);
  for (const link of veths) {
    if (!isPortOf(deps, bridge, link, { unattached: false })) continue;
    const other = otherHolder(() => globalAddresses(pod, link.name), owners, call.containerID);
    if (other) return { link: link.name, ...other };
  }
  return undefined;
}
