/**
 * The flannel plugin definition with real dependencies: subnet.env from disk, the saved delegate
 * configs under dataDir, and delegation in-process for our types (exec otherwise, or always with
 * WEFT_NO_INPROCESS=1).
 */
import { VERSION } from "../../bin/version.ts";
import { readSubnetEnv } from "../../net/subnet-env.ts";
import { delegateAdd, delegateDel, delegateGC, delegateStatus } from "../../libcni/invoke/delegate.ts";
import type { CmdArgs, PluginFuncs } from "../../libcni/skel/skel.ts";
import { fdSink } from "../../libcni/stdio.ts";
import { SPEC_VERSIONS } from "../../libcni/version.ts";
import type { PluginDefinition } from "../shared/delegates.ts";
import { delegateOptions } from "../shared/ipam.ts";
import { flannelAdd, flannelDel, flannelGc, flannelStatus, type FlannelDeps } from "./commands.ts";
import { DiskScratch } from "./scratch.ts";

export const ABOUT = `CNI flannel plugin weft ${VERSION}`;

function realDeps(): FlannelDeps {
  const opts = delegateOptions();
  return {
    readSubnetEnv,
    delegate: {
      add: (type, conf) => delegateAdd(type, conf, opts),
      del: (type, conf) => delegateDel(type, conf, opts),
      status: (type, conf) => delegateStatus(type, conf, opts),
      gc: (type, conf) => delegateGC(type, conf, opts),
    },
    scratch: (dataDir) => new DiskScratch(dataDir),
    log: (m) => void fdSink(2).write(`flannel: ${m}\n`),
  };
}

const call = (a: CmdArgs) => ({ containerID: a.containerID, config: a.config });

export const flannelFuncs: PluginFuncs = {
  add: (a) => flannelAdd(call(a), realDeps()),
  del: (a) => flannelDel(call(a), realDeps()),
  // CHECK: the reference does nothing (its TODO); the delegate is not consulted either
  check: async () => undefined,
  status: (a) => flannelStatus(call(a), realDeps()),
  gc: (a) => flannelGc(call(a), realDeps()),
};

export function flannelDefinition(): PluginDefinition {
  return { funcs: flannelFuncs, versions: SPEC_VERSIONS, about: ABOUT };
}
