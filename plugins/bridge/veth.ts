/** The veth pair: pod end CNI_IFNAME created directly in the pod netns, host end veth<8 hex> on the bridge. */
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import type { Interface100 } from "../../libcni/types/result.ts";
import type { UndoStack } from "../shared/undo.ts";
import type { BridgeConf } from "./config.ts";
import type { BridgeDeps } from "./deps.ts";
import { errnoOf, kernelError } from "./errors.ts";
import type { LinkInfo, PodNet } from "./kernel.ts";
import { applyPortVlans } from "./vlan.ts";

/** How many random host names are tried before giving up (the reference's count). */
const NAME_TRIES = 10;

export interface VethSetup {
  readonly podIfName: string;
  readonly netnsPath: string;
  readonly bridge: LinkInfo;
  /** Receives the removal of the pair. */
  readonly undo: UndoStack;
}

export interface VethPair {
  readonly host: Interface100;
  readonly pod: Interface100;
}

/**
 * Create the pair, attach the host end to the bridge; pushes the pair's removal onto `s.undo`. The
 * host end is looked up once, right after creation (its MAC does not change when it joins the
 * bridge), which also gives the index every following request uses.
 */
export function setupVeth(deps: BridgeDeps, pod: PodNet, c: BridgeConf, s: VethSetup): VethPair {
  const hostName = createPair(deps, pod, c, s);
  s.undo.push(`delete veth ${hostName}`, () => deps.host.deleteLink(hostName));
  let hostLink: LinkInfo | undefined;
  try {
    hostLink = deps.host.linkByName(hostName);
    deps.host.setUp(hostName);
    ownHostRoutes(deps, hostName);
    deps.host.setMaster(hostName, s.bridge.index);
    deps.host.setPortFlags(hostName, { hairpin: c.hairpinMode, isolated: c.portIsolation });
  } catch (e) {
    throw kernelError(`failed to connect "${hostName}" to bridge ${c.bridge}`, e);
  }
  applyPortVlans(deps.host, hostName, {
    vlan: c.vlan,
    trunk: c.vlanTrunk ?? [],
    preserveDefaultVlan: c.preserveDefaultVlan,
  });
  const podLink = pod.linkByName(s.podIfName);
  if (!hostLink || !podLink) {
    throw new CniError(ErrorCode.IOFailure, `veth pair ${hostName}/${s.podIfName} vanished while it was being set up`);
  }
  return {
    host: { name: hostName, mac: hostLink.mac },
    pod: { name: s.podIfName, mac: podLink.mac, sandbox: s.netnsPath },
  };
}

/**
 * accept_ra=0 on the host end, as the reference's veth setup does: the plugin owns the routes of
 * this interface, router advertisements must not add any. Best effort, as there.
 */
function ownHostRoutes(deps: BridgeDeps, hostName: string): void {
  try {
    deps.host.sysctlSet(`net/ipv6/conf/${hostName}/accept_ra`, "0");
  } catch (e) {
    deps.log(`could not set accept_ra=0 on ${hostName}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function createPair(deps: BridgeDeps, pod: PodNet, c: BridgeConf, s: VethSetup): string {
  for (let i = 0; i < NAME_TRIES; i++) {
    const hostName = `veth${deps.randomHex(4)}`;
    try {
      deps.host.addVethToPod(pod, {
        hostName,
        podName: s.podIfName,
        mtu: c.mtu,
        ...(c.mac !== undefined ? { podMac: c.mac } : {}),
      });
      return hostName;
    } catch (e) {
      if (errnoOf(e) !== "EEXIST") throw kernelError(`failed to create veth pair ${hostName}/${s.podIfName}`, e);
      if (pod.linkByName(s.podIfName)) {
        throw new CniError(
          ErrorCode.InvalidEnvironmentVariables,
          `container veth name (${JSON.stringify(s.podIfName)}) ` +
            `peer provided (${JSON.stringify(hostName)}) already exists`,
          `an interface named ${s.podIfName} already exists in ${s.netnsPath}: ADD ` +
            "ran twice for this container and CNI_IFNAME, or choose another CNI_IFNAME",
        );
      }
      // the random host name was taken: try another
    }
  }
  throw new CniError(ErrorCode.TryAgainLater, `failed to find a free host veth name after ${NAME_TRIES} tries`);
}
