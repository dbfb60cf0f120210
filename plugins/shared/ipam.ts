/**
 * The IPAM delegate of a plugin (like the reference's pkg/ipam ExecAdd/ExecDel/...): our own IPAM
 * types run in-process, others are exec'd from CNI_PATH; ADD results come back upconverted to 1.1.0.
 */
import { delegateAdd, delegateCheck, delegateDel, delegateGC, delegateStatus, type DelegateOptions } from "../../libcni/invoke/delegate.ts";
import { fdSink } from "../../libcni/stdio.ts";
import { toResult100 } from "../../libcni/types/convert.ts";
import type { Result100 } from "../../libcni/types/result.ts";
import { inProcessResolver } from "./delegates.ts";

export interface IpamDelegate {
  add(type: string, conf: string): Promise<Result100>;
  del(type: string, conf: string): Promise<void>;
  check(type: string, conf: string): Promise<void>;
  status(type: string, conf: string): Promise<void>;
  gc(type: string, conf: string): Promise<void>;
}

/**
 * Delegation with our in-process resolver (unless WEFT_NO_INPROCESS) and this process's env. An
 * in-process delegate's stderr goes straight to fd 2: touching `process.stderr` would build its
 * stream (~1 ms under Bun) even when there is nothing to copy.
 */
export function delegateOptions(env: Readonly<Record<string, string | undefined>> = process.env): DelegateOptions {
  return { env, inProcess: inProcessResolver(env), stderr: fdSink(2) };
}

export function ipamDelegate(opts: DelegateOptions = delegateOptions()): IpamDelegate {
  return {
    add: async (type, conf) => toResult100(await delegateAdd(type, conf, opts)),
    del: (type, conf) => delegateDel(type, conf, opts),
    check: (type, conf) => delegateCheck(type, conf, opts),
    status: (type, conf) => delegateStatus(type, conf, opts),
    gc: (type, conf) => delegateGC(type, conf, opts),
  };
}
