/**
 * loopback plugin commands, like the reference: ADD sets `lo` up in CNI_NETNS and reports it
 * (name lo, MAC 00:00:00:00:00:00, sandbox) with its first IPv4 and IPv6 addresses on
 * interface 0, or passes a prevResult through unchanged; DEL sets `lo` down (unless another
 * interface is up there: a live pod's) and treats a vanished netns (or an empty CNI_NETNS) as done;
 * CHECK fails unless `lo` is up. CNI_IFNAME is ignored: only `lo` counts. skel has already required
 * CNI_NETNS for ADD and CHECK.
 */
import type { CmdArgs, PluginFuncs } from "../../libcni/skel/skel.ts";
import { CniError, ErrorCode, isCniError } from "../../libcni/types/error.ts";
import type { IPConfig100, Result100 } from "../../libcni/types/result.ts";
import type { Address } from "../../linux/netlink/addr.ts";
import type { NetlinkClient } from "../../linux/netlink/client.ts";
import { netnsOpenError } from "../shared/netns-errors.ts";

export interface LoopbackDeps {
  /**
   * A netlink client talking to the netns at `path`. Throws an error with code "ENOENT"
   * (NetnsNotFoundError) when the path does not exist, another error when it is not a netns.
   */
  readonly openNetlink: (path: string) => NetlinkClient;
}

/** The parts of skel's CmdArgs loopback uses. */
export type LoopbackCall = Pick<CmdArgs, "netns" | "prevResult">;

const LO = "lo";

/** Run `fn` against the pod netns; netns problems become CNI errors a user can act on. */
function inPod<T>(deps: LoopbackDeps, path: string, what: string, fn: (nl: NetlinkClient) => T): T {
  let nl: NetlinkClient;
  try {
    nl = deps.openNetlink(path);
  } catch (e) {
    throw netnsOpenError(path, e);
  }
  try {
    return fn(nl);
  } catch (e) {
    if (isCniError(e)) throw e;
    throw new CniError(ErrorCode.IOFailure, `${what}: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    nl.close();
  }
}

function isLoopbackAddress(a: Address): boolean {
  return a.family === 4 ? a.ip.startsWith("127.") : a.ip === "::1";
}

/** The first address of the family, after checking that every one is a loopback address. */
function firstLoopback(addrs: readonly Address[]): Address | undefined {
  const bad = addrs.find((a) => !isLoopbackAddress(a));
  if (bad) {
    throw new CniError(
      ErrorCode.IOFailure,
      `loopback interface found with non-loopback address "${bad.ip}"`,
      "remove that address from lo in the container's network namespace",
    );
  }
  return addrs[0];
}

export async function loopbackAdd(call: LoopbackCall, deps: LoopbackDeps): Promise<Result100> {
  const ips = inPod(deps, call.netns, "failed to set up lo", (nl) => {
    const lo = nl.getLink(LO).index;
    nl.setLinkUp(lo);
    const addrs = nl.listAddrs({ dev: lo });
    return [firstLoopback(addrs.filter((a) => a.family === 4)), firstLoopback(addrs.filter((a) => a.family === 6))]
      .filter((a): a is Address => a !== undefined)
      .map((a): IPConfig100 => ({ interface: 0, address: `${a.ip}/${a.prefixLen}` }));
  });
  if (call.prevResult) return call.prevResult;
  return {
    cniVersion: "1.1.0",
    interfaces: [{ name: LO, mac: "00:00:00:00:00:00", sandbox: call.netns }],
    ...(ips.length > 0 ? { ips } : {}),
  };
}

/**
 * DEL sets lo down, like the reference, but only in a namespace no other interface is up in: a DEL
 * aimed at a live pod (another container's netns) must not cut its localhost. A pod being torn down
 * loses its lo with its namespace either way.
 */
export async function loopbackDel(call: LoopbackCall, deps: LoopbackDeps): Promise<void> {
  if (call.netns === "") return;
  try {
    inPod(deps, call.netns, "failed to set lo down", (nl) => {
      if (nl.listLinks().some((l) => l.name !== LO && l.up)) return;
      nl.setLinkDown(LO);
    });
  } catch (e) {
    // The runtime may call DEL after the netns is gone, or more than once: that is success.
    if (isCniError(e) && e.code === ErrorCode.UnknownContainer) return;
    throw e;
  }
}

export async function loopbackCheck(call: LoopbackCall, deps: LoopbackDeps): Promise<void> {
  inPod(deps, call.netns, "failed to check lo", (nl) => {
    if (!nl.getLink(LO).up)
      throw new CniError(
        ErrorCode.IOFailure,
        "loopback interface is down",
        "ADD brings lo up; something in the container set it down",
      );
  });
}

export function loopbackCommands(deps: LoopbackDeps): PluginFuncs {
  return {
    add: (a) => loopbackAdd(a, deps),
    del: (a) => loopbackDel(a, deps),
    check: (a) => loopbackCheck(a, deps),
  };
}
