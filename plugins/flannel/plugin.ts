/**
 * The flannel plugin definition with real dependencies: subnet.env from disk, the saved delegate
 * configs under dataDir, and delegation in-process for our types (exec otherwise, or always with
 * WEFT_NO_INPROCESS=1).
 */
import { readSubnetEnv } from "../../net/subnet-env.ts";
import { delegateAdd, delegateDel, delegateGC, delegateStatus } from "../../libcni/invoke/delegate.ts";
import type { CmdArgs, PluginFuncs } from "../../libcni/skel/skel.ts";
import { fdSink } from "../../libcni/stdio.ts";
import { SPEC_VERSIONS } from "../../libcni/version.ts";
import type { PluginDefinition, PluginRegistry } from "../../libcni/skel/definition.ts";
import { delegateOptions } from "../shared/ipam.ts";
import { flannelAdd, flannelDel, flannelGc, flannelStatus, type FlannelDeps } from "./commands.ts";
import { DiskScratch } from "./scratch.ts";
import { unnamedFileWriter } from "../../linux/unnamed-file.ts";

function realDeps(a: CmdArgs, registry: PluginRegistry): FlannelDeps {
  const opts = delegateOptions(registry, a.env, a.netnsAccess);
  return {
    readSubnetEnv,
    delegate: {
      add: (type, conf) => delegateAdd(type, conf, opts),
      del: (type, conf) => delegateDel(type, conf, opts),
      status: (type, conf) => delegateStatus(type, conf, opts),
      gc: (type, conf) => delegateGC(type, conf, opts),
    },
    scratch: (dataDir) => new DiskScratch(dataDir, unnamedFileWriter),
    log: (m) => void fdSink(2).write(`flannel: ${m}\n`),
  };
}

const call = (a: CmdArgs) => ({ containerID: a.containerID, config: a.config });

/** What the composition root gives flannel: its about string and the plugins it may run in-process. */
export interface FlannelContext {
  readonly about: string;
  readonly delegates: PluginRegistry;
}

export function flannelDefinition(ctx: FlannelContext): PluginDefinition {
  const r = ctx.delegates;
  const funcs: PluginFuncs = {
    add: (a) => flannelAdd(call(a), realDeps(a, r)),
    del: (a) => flannelDel(call(a), realDeps(a, r)),
    // CHECK: the reference does nothing (its TODO); the delegate is not consulted either
    check: async () => undefined,
    status: (a) => flannelStatus(call(a), realDeps(a, r)),
    gc: (a) => flannelGc(call(a), realDeps(a, r)),
  };
  return { funcs, versions: SPEC_VERSIONS, about: ctx.about };
}
