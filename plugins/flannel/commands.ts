/**
 * flannel meta plugin commands. ADD: read subnet.env, build the delegate config, save it to
 * <dataDir>/<containerID>, delegate ADD (in-process when the type is ours) and return its result.
 * DEL: delegate DEL with the saved config, without subnet.env. CHECK: nothing (as the reference).
 * STATUS: code 50 when subnet.env is missing or unreadable (flanneld not running), else forwarded
 * to the delegate. GC: forwarded to the delegate when subnet.env can be read.
 */
import { SubnetEnvError, type SubnetEnv } from "../../net/subnet-env.ts";
import { trace } from "../../libcni/trace.ts";
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import type { AnyResult } from "../../libcni/types/result.ts";
import { isObject, sortedJson } from "../shared/conf.ts";
import { parseFlannelConf, type FlannelNetConf } from "./config.ts";
import { buildDelegate, delegateType } from "./delegate.ts";
import type { ScratchStore } from "./scratch.ts";

/** The delegate plugin, by type, with the delegate config bytes on stdin. */
export interface DelegateRunner {
  add(type: string, conf: string): Promise<AnyResult>;
  del(type: string, conf: string): Promise<void>;
  status(type: string, conf: string): Promise<void>;
  gc(type: string, conf: string): Promise<void>;
}

export interface FlannelDeps {
  readonly readSubnetEnv: (path: string) => SubnetEnv;
  readonly delegate: DelegateRunner;
  readonly scratch: (dataDir: string) => ScratchStore;
  readonly log: (msg: string) => void;
}

/** The parts of skel's CmdArgs flannel uses. */
export interface FlannelCall {
  readonly containerID: string;
  readonly config: unknown;
}

/**
 * subnet.env, with the errors a user can act on: missing file = flanneld not running here (yet),
 * code 11 (`missingCode`, 50 for STATUS); unreadable or incomplete = code 7 (50 for STATUS).
 */
function loadLease(conf: FlannelNetConf, deps: FlannelDeps, forStatus: boolean): SubnetEnv {
  try {
    return deps.readSubnetEnv(conf.subnetFile);
  } catch (e) {
    if (!(e instanceof SubnetEnvError)) throw e;
    if (e.missingFile) {
      throw new CniError(
        forStatus ? ErrorCode.PluginNotAvailable : ErrorCode.TryAgainLater,
        `failed to load flannel 'subnet.env' file: ${conf.subnetFile} does not ` +
          "exist: flanneld is not running on this node, or has not written its lease yet",
        "check that the flanneld pod/service on this node is running and that its --subnet-file is " +
          `${conf.subnetFile} (the flannel config's subnetFile); look at the flanneld log on this node`,
      );
    }
    throw new CniError(
      forStatus ? ErrorCode.PluginNotAvailable : ErrorCode.InvalidNetworkConfig,
      `failed to load flannel 'subnet.env' file: ${e.message}. Check the flannel pod log for this node.`,
    );
  }
}

export async function flannelAdd(call: FlannelCall, deps: FlannelDeps): Promise<AnyResult> {
  const conf = parseFlannelConf(call.config);
  const lease = loadLease(conf, deps, false);
  trace("flannel: subnet.env read");
  const delegate = buildDelegate(conf, lease);
  const bytes = sortedJson(delegate);
  const store = deps.scratch(conf.dataDir);
  try {
    store.save(call.containerID, bytes);
  } catch (e) {
    throw new CniError(
      ErrorCode.IOFailure,
      `failed to save the delegate config for DEL in ${conf.dataDir}: ${e instanceof Error ? e.message : String(e)}`,
      "flannel's dataDir must be writable by the plugin (default /var/lib/cni/flannel)",
    );
  }
  trace("flannel: delegate config saved");
  return deps.delegate.add(delegateType(delegate), bytes);
}

export async function flannelDel(call: FlannelCall, deps: FlannelDeps): Promise<void> {
  const conf = parseFlannelConf(call.config);
  const store = deps.scratch(conf.dataDir);
  let bytes: string | undefined;
  try {
    bytes = store.load(call.containerID);
  } catch (e) {
    throw new CniError(
      ErrorCode.IOFailure,
      `failed to read the saved delegate config of ${call.containerID} ` +
        `in ${conf.dataDir}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  // no file: never added, or already deleted (repeated DEL must succeed)
  trace("flannel: saved delegate config read");
  if (bytes === undefined) return;
  let saved: unknown;
  try {
    saved = JSON.parse(bytes);
  } catch (e) {
    // as the reference: the interface stays until reboot, the file is kept for inspection
    deps.log(`failed to parse netconf: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  const type = isObject(saved) ? delegateType(saved) : "";
  if (type === "") {
    deps.log(`failed to parse netconf: the saved delegate config of ${call.containerID} has no string 'type'`);
    return;
  }
  // kept on failure (unlike the reference on Linux), so the runtime's retried DEL can still clean up
  await deps.delegate.del(type, bytes);
  store.remove(call.containerID);
  trace("flannel: saved delegate config removed");
}

export async function flannelStatus(call: FlannelCall, deps: FlannelDeps): Promise<void> {
  const conf = parseFlannelConf(call.config);
  const lease = loadLease(conf, deps, true);
  const delegate = buildDelegate(conf, lease);
  await deps.delegate.status(delegateType(delegate), sortedJson(delegate));
}

/** GC: forward `cni.dev/valid-attachments` to the delegate (bridge -> host-local releases leaked IPs). */
export async function flannelGc(call: FlannelCall, deps: FlannelDeps): Promise<void> {
  const conf = parseFlannelConf(call.config);
  const lease = loadLease(conf, deps, false);
  const delegate = buildDelegate(conf, lease);
  if (isObject(call.config)) {
    for (const key of ["cni.dev/valid-attachments", "cni.dev/attachments"]) {
      if (Object.hasOwn(call.config, key)) delegate[key] = call.config[key];
    }
  }
  await deps.delegate.gc(delegateType(delegate), sortedJson(delegate));
}
