/**
 * Delegation from a plugin (like the reference's pkg/ipam ExecAdd/ExecDel/...): the registry's types
 * run in-process when CNI_PATH resolves them to this binary, others are exec'd from CNI_PATH; IPAM
 * ADD results come back upconverted to 1.1.0.
 */
import { inProcessResolver, isThisBinary, type PluginRegistry } from "../../libcni/skel/definition.ts";
import type { NetnsAccess } from "../../libcni/skel/skel.ts";
import {
  delegateAdd,
  delegateCheck,
  delegateDel,
  delegateGC,
  delegateStatus,
  type DelegateOptions,
} from "../../libcni/invoke/delegate.ts";
import { fdSink } from "../../libcni/stdio.ts";
import { toResult100 } from "../../libcni/types/convert.ts";
import type { Result100 } from "../../libcni/types/result.ts";

export interface IpamDelegate {
  add(type: string, conf: string): Promise<Result100>;
  del(type: string, conf: string): Promise<void>;
  check(type: string, conf: string): Promise<void>;
  status(type: string, conf: string): Promise<void>;
  gc(type: string, conf: string): Promise<void>;
}

/**
 * Delegation with the in-process resolver over `registry` (unless WEFT_NO_INPROCESS) and the call's
 * environment. With `netnsAccess` (the pod netns handed over already opened) in-process delegates use
 * it and exec'd ones get its exec path as CNI_NETNS. An in-process delegate's stderr goes straight to
 * fd 2: touching `process.stderr` would build its stream under Bun even when there is nothing to copy.
 */
export function delegateOptions(
  registry: PluginRegistry,
  env: Readonly<Record<string, string | undefined>>,
  netnsAccess?: NetnsAccess,
): DelegateOptions {
  return {
    env,
    inProcess: inProcessResolver(registry, env, isThisBinary, netnsAccess),
    stderr: fdSink(2),
    ...(netnsAccess?.execPath ? { execNetns: netnsAccess.execPath } : {}),
  };
}

export function ipamDelegate(opts: DelegateOptions): IpamDelegate {
  return {
    add: async (type, conf) => toResult100(await delegateAdd(type, conf, opts)),
    del: (type, conf) => delegateDel(type, conf, opts),
    check: (type, conf) => delegateCheck(type, conf, opts),
    status: (type, conf) => delegateStatus(type, conf, opts),
    gc: (type, conf) => delegateGC(type, conf, opts),
  };
}
