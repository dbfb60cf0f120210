/**
 * bridge ADD (reference cmdAdd steps 1-13): bridge, veth, IPAM, pod addresses and routes, gateway
 * addresses on the bridge, forwarding, masquerade, port state. Every step that changes something
 * pushes its undo; any failure unwinds them all (veth pair, spoof-check, IPAM allocation, masquerade), so a
 * failed ADD leaves nothing behind but the shared bridge.
 */
import { trace } from "../../libcni/trace.ts";
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import type { Interface100, Result100 } from "../../libcni/types/result.ts";
import { UndoStack } from "../shared/undo.ts";
import { ensureAddr, ensureBridge, enableForwarding } from "./bridge-device.ts";
import { checkForAdd, parseBridgeConf, type BridgeConf } from "./config.ts";
import type { BridgeCall, BridgeDeps } from "./deps.ts";
import { kernelError } from "./errors.ts";
import { calcGateways } from "./gateway.ts";
import type { Backend } from "./ipmasq.ts";
import { openPodOrFail } from "./netns.ts";
import { otherAttachment } from "./owner.ts";
import type { LinkInfo, PodNet } from "./kernel.ts";
import { configureIface, podSysctls } from "./pod-iface.ts";
import { setupVeth } from "./veth.ts";
import { ensureVlanInterface } from "./vlan.ts";

/** One ADD in progress: its inputs, the open pod netns and what to undo. */
interface AddContext {
  readonly call: BridgeCall;
  readonly deps: BridgeDeps;
  readonly c: BridgeConf;
  readonly pod: PodNet;
  readonly undo: UndoStack;
}

export async function bridgeAdd(call: BridgeCall, deps: BridgeDeps): Promise<Result100> {
  const c = parseBridgeConf(call.config, call.args);
  checkForAdd(c);
  const undo = new UndoStack();
  // the bridge first, as the reference: it exists (and is promiscuous when asked) even when the
  // pod netns turns out to be missing
  const br = ensureBridge(deps.host, c);
  trace("bridge: bridge ready");
  const pod = openPodOrFail(deps, call.netns);
  trace("bridge: conf parsed, pod netns open");
  try {
    refuseOtherContainers(call, deps, c, pod);
    const result = await addSteps({ call, deps, c, pod, undo }, br);
    undo.commit();
    return result;
  } catch (e) {
    await undo.unwind(deps.log);
    throw e;
  } finally {
    pod.close();
  }
}

/** A namespace holding another container's attachment to this network is not this container's. */
function refuseOtherContainers(call: BridgeCall, deps: BridgeDeps, c: BridgeConf, pod: PodNet): void {
  const other = otherAttachment(call, deps, c, pod);
  if (!other) return;
  throw new CniError(
    ErrorCode.InvalidEnvironmentVariables,
    `CNI_NETNS ${call.netns} is another container's network namespace: its ${other.link} on bridge ` +
      `${c.bridge} carries ${other.ip}, reserved for container ${other.owner}`,
    `nothing was changed; pass the network namespace of container ${call.containerID}`,
  );
}

async function addSteps(ctx: AddContext, br: LinkInfo): Promise<Result100> {
  const { call, deps, c, pod, undo } = ctx;
  const veth = setupVeth(deps, pod, c, { podIfName: call.ifName, netnsPath: call.netns, bridge: br, undo });
  trace("bridge: veth ready");
  const brIf: Interface100 = { name: br.name, mac: br.mac };
  const result: Result100 = { cniVersion: "1.1.0", interfaces: [brIf, veth.host, veth.pod] };
  if (c.macspoofchk) {
    const target = { containerID: call.containerID, ifName: call.ifName };
    undo.push("remove spoof-check rules", () => deps.spoof.teardown(target));
    await deps.spoof.setup(target, veth.host.name, veth.pod.mac ?? "");
  }
  if (c.ipamType !== "") {
    await layer3(ctx, result, br);
  } else if (!c.disableContainerInterface) {
    try {
      pod.setUp(call.ifName);
    } catch (e) {
      throw kernelError(`failed to set "${call.ifName}" up`, e);
    }
  }
  const port = c.disableContainerInterface
    ? deps.host.linkByName(veth.host.name)
    : await waitPortUp(deps, veth.host.name);
  trace("bridge: port up");
  // the bridge MAC may change when its first port joins or its address is set; the veth's too
  const ifs = result.interfaces ?? [];
  ifs[0] = { name: brIf.name, mac: deps.host.linkByName(c.bridge)?.mac ?? br.mac };
  ifs[1] = { name: veth.host.name, mac: port?.mac ?? veth.host.mac ?? "" };
  trace("bridge: links re-read");
  if (c.dns) result.dns = structuredClone({ ...c.dns }) as NonNullable<Result100["dns"]>;
  return result;
}

/** IPAM, pod addresses and routes, gateway on the bridge (or <bridge>.<vlan>), forwarding, masquerade. */
async function layer3(ctx: AddContext, result: Result100, br: LinkInfo): Promise<void> {
  const { call, deps, c, pod, undo } = ctx;
  const ipam = await deps.ipam.add(c.ipamType, call.stdinData);
  trace("bridge: IPAM done");
  undo.push(`IPAM DEL (${c.ipamType})`, () => deps.ipam.del(c.ipamType, call.stdinData));
  if (!ipam.ips || ipam.ips.length === 0) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      "IPAM plugin returned missing IP config",
      `check the 'ipam' section: ${c.ipamType} returned no addresses`,
    );
  }
  const plan = calcGateways(ipam.ips, ipam.routes ?? [], c);
  result.ips = plan.ips;
  if (plan.routes.length > 0) result.routes = plan.routes;
  if (ipam.dns) result.dns = ipam.dns;
  podSysctls(pod, call.ifName, c.enabledad);
  trace("bridge: pod sysctls");
  await configureIface(pod, call.ifName, { ips: result.ips, routes: result.routes ?? [] }, deps.sleep);
  trace("bridge: pod iface configured");
  if (c.isGateway && plan.bridgeAddrs[4].length + plan.bridgeAddrs[6].length > 0) {
    let gwLink = c.bridge;
    if (c.vlan !== 0) {
      const v = ensureVlanInterface(deps, c, br);
      gwLink = v.name;
      result.interfaces?.push({ name: v.name, mac: v.mac });
    }
    for (const family of [4, 6] as const) {
      for (const cidr of plan.bridgeAddrs[family]) ensureAddr(deps.host, gwLink, cidr, c.forceAddress);
      if (plan.bridgeAddrs[family].length > 0) enableForwarding(deps.host, family);
    }
  }
  trace("bridge: gateway on bridge");
  if (c.ipMasq) {
    const backend: Backend =
      c.ipMasqBackend === "nftables"
        ? "nftables"
        : c.ipMasqBackend === "iptables"
          ? "iptables"
          : deps.masq.defaultBackend();
    const target = {
      network: c.name,
      ifName: call.ifName,
      containerID: call.containerID,
      addresses: result.ips.map((i) => i.address),
    };
    undo.push("remove masquerade rules", () => deps.masq.teardown(target));
    await deps.masq.setup(backend, target);
  }
}

/** The reference's port-state poll: 0, 50, 500, 1000, 1000 ms (the first look without any timer). */
const PORT_WAITS = [0, 50, 500, 1000, 1000];

/** The host veth once its operational state is up (its MAC goes into the result). */
async function waitPortUp(deps: BridgeDeps, hostVeth: string): Promise<LinkInfo> {
  let state = "unknown";
  for (const ms of PORT_WAITS) {
    if (ms > 0) await deps.sleep(ms);
    const link = deps.host.linkByName(hostVeth);
    state = link?.operState ?? "missing";
    if (link && state === "up") return link;
  }
  throw new CniError(
    ErrorCode.TryAgainLater,
    `bridge port in error state: ${state}`,
    `host veth ${hostVeth} did not come up`,
  );
}
