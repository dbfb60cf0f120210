/**
 * The bridge plugin definition with its real dependencies (kernel netlink, iptables/nft, IPAM
 * delegation). Imported by main.ts and, lazily, by the in-process delegate resolver; never by unit
 * tests (it reaches bun:ffi through kernel-net.ts).
 */
import type { CmdArgs, PluginFuncs } from "../../libcni/skel/skel.ts";
import { fdSink } from "../../libcni/stdio.ts";
import { SPEC_VERSIONS } from "../../libcni/version.ts";
import type { PluginDefinition, PluginRegistry } from "../../libcni/skel/definition.ts";
import { delegateOptions, ipamDelegate } from "../shared/ipam.ts";
import { randomHex } from "../shared/random.ts";
import { execaRunner } from "../../linux/command.ts";
import { processIptablesMode } from "../../linux/iptables-mode.ts";
import { bridgeAdd } from "./add.ts";
import { bridgeCheck } from "./check.ts";
import { bridgeDel } from "./del.ts";
import type { BridgeCall, BridgeDeps } from "./deps.ts";
import { IpMasq } from "./ipmasq.ts";
import { kernelHost, openKernelPod, type KernelAccess } from "./kernel-net.ts";
import { openNetlink } from "../../linux/netlink/open.ts";
import { openNetns, withNetns } from "../../linux/netns.ts";
import { procSysctl } from "../../linux/sysctl.ts";
import { SpoofCheck } from "./spoofcheck.ts";
import { readStateFile } from "../../net/state-file.ts";
import { bridgeGc, bridgeStatus } from "./status.ts";

/** The kernel of this process: netlink sockets, setns on the calling thread, /proc/sys. */
export const KERNEL: KernelAccess = {
  netlink: (ns) => openNetlink(ns === undefined ? {} : { netns: ns }),
  openNetns,
  inNetns: withNetns,
  sysctl: procSysctl,
};

/** A reservation file's text (a regular file only, capped, never blocking), undefined when there is none. */
function readIfPresent(path: string): string | undefined {
  try {
    return readStateFile(path, 4096);
  } catch (e) {
    if ((e as { code?: unknown }).code === "ENOENT") return undefined;
    throw e;
  }
}

/** Run one command with real dependencies; the host netlink socket is opened on first use and closed after. */
async function withRealDeps<T>(a: CmdArgs, registry: PluginRegistry, fn: (deps: BridgeDeps) => Promise<T>): Promise<T> {
  let host: ReturnType<typeof kernelHost> | undefined;
  // a pod netns the runtime handed over opened (a daemon call) is reached through that, not its path
  const access = a.netnsAccess;
  const kernel: KernelAccess = access ? { ...KERNEL, openNetns: (path) => access.open(path) } : KERNEL;
  const deps: BridgeDeps = {
    get host() {
      return (host ??= kernelHost(KERNEL));
    },
    openPod: (path) => openKernelPod(kernel, path),
    ipam: ipamDelegate(delegateOptions(registry, a.env, a.netnsAccess)),
    // in flanneld's CNI server: the node's iptables mode the daemon detected; in an exec: `iptables`
    masq: new IpMasq(execaRunner, { iptablesMode: processIptablesMode() }),
    spoof: new SpoofCheck(execaRunner),
    randomHex,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    log: (m) => void fdSink(2).write(`bridge: ${m}\n`),
    readFile: readIfPresent,
  };
  try {
    return await fn(deps);
  } finally {
    host?.close();
  }
}

function call(a: CmdArgs): BridgeCall {
  return {
    containerID: a.containerID,
    netns: a.netns,
    ifName: a.ifName,
    args: a.args,
    stdinData: a.stdinData,
    config: a.config,
  };
}

/** What the composition root gives the bridge: its about string and the plugins it may run in-process. */
export interface BridgeContext {
  readonly about: string;
  readonly delegates: PluginRegistry;
}

export function bridgeDefinition(ctx: BridgeContext): PluginDefinition {
  const r = ctx.delegates;
  const funcs: PluginFuncs = {
    add: (a) => withRealDeps(a, r, (d) => bridgeAdd(call(a), d)),
    del: (a) => withRealDeps(a, r, (d) => bridgeDel(call(a), d)),
    check: (a) => withRealDeps(a, r, (d) => bridgeCheck(call(a), d)),
    status: (a) => withRealDeps(a, r, (d) => bridgeStatus(call(a), d)),
    gc: (a) => withRealDeps(a, r, (d) => bridgeGc(call(a), d)),
  };
  return { funcs, versions: SPEC_VERSIONS, about: ctx.about };
}
