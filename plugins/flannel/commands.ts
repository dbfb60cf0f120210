/**
 * flannel meta plugin commands. ADD: read subnet.env, build the delegate config, save it to
 * <dataDir>/<containerID>, delegate ADD (in-process when the type is ours) and return its result.
 * DEL: delegate DEL with the saved config, without subnet.env; when there is none, or one that
 * cannot be read or parsed, DEL rebuilds the delegate config from its own config and subnet.env as
 * ADD would and runs that, so what the container holds is still released (the reference returns
 * success and leaves it). CHECK: nothing (as the reference). STATUS: code 50 when subnet.env is
 * missing or unreadable (flanneld not running), else forwarded to the delegate. GC: forwarded to
 * the delegate, then the saved configs of containers not in the valid list are removed.
 */
import { SubnetEnvError, type SubnetEnv } from "../../net/subnet-env.ts";
import { trace } from "../../libcni/trace.ts";
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import type { AnyResult } from "../../libcni/types/result.ts";
import { validateContainerID } from "../../libcni/validate/names.ts";
import { isObject, sortedJson, type JsonObject } from "../shared/conf.ts";
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

/** The saved delegate config of a container: its bytes and type, or why it cannot be used. */
type Saved =
  | { readonly kind: "ok"; readonly bytes: string; readonly type: string }
  | { readonly kind: "missing" }
  | { readonly kind: "bad"; readonly why: string };

function readSaved(store: ScratchStore, containerID: string): Saved {
  let bytes: string | undefined;
  try {
    bytes = store.load(containerID);
  } catch (e) {
    return { kind: "bad", why: `cannot be read: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (bytes === undefined) return { kind: "missing" };
  let saved: unknown;
  try {
    saved = JSON.parse(bytes);
  } catch (e) {
    return { kind: "bad", why: `does not parse: ${e instanceof Error ? e.message : String(e)}` };
  }
  const type = isObject(saved) ? delegateType(saved) : "";
  if (type === "") return { kind: "bad", why: "has no string 'type'" };
  return { kind: "ok", bytes, type };
}

export async function flannelDel(call: FlannelCall, deps: FlannelDeps): Promise<void> {
  const conf = parseFlannelConf(call.config);
  const store = deps.scratch(conf.dataDir);
  const saved = readSaved(store, call.containerID);
  trace("flannel: saved delegate config read");
  if (saved.kind === "ok") {
    // kept on failure (unlike the reference on Linux), so the runtime's retried DEL can still clean up
    await deps.delegate.del(saved.type, saved.bytes);
    store.remove(call.containerID);
    trace("flannel: saved delegate config removed");
    return;
  }
  // none (never added, already deleted, or lost to a kill) or unusable: rebuild it as ADD would
  const what = `the saved delegate config of ${call.containerID} in ${conf.dataDir}`;
  let delegate: JsonObject;
  try {
    delegate = buildDelegate(conf, loadLease(conf, deps, false));
  } catch (e) {
    // nothing saved and nothing to rebuild from: nothing is known to be held
    if (saved.kind === "missing") return;
    const why = e instanceof Error ? e.message : String(e);
    throw new CniError(
      ErrorCode.TryAgainLater,
      `${what} ${saved.why}, and it cannot be rebuilt: ${why}`,
      "DEL rebuilds the delegate config from subnet.env: make flanneld write it, then retry DEL",
    );
  }
  if (saved.kind === "bad") deps.log(`${what} ${saved.why}: DEL uses the config rebuilt from ${conf.subnetFile}`);
  await deps.delegate.del(delegateType(delegate), sortedJson(delegate));
  if (saved.kind === "bad") store.remove(call.containerID);
}

export async function flannelStatus(call: FlannelCall, deps: FlannelDeps): Promise<void> {
  const conf = parseFlannelConf(call.config);
  const lease = loadLease(conf, deps, true);
  const delegate = buildDelegate(conf, lease);
  await deps.delegate.status(delegateType(delegate), sortedJson(delegate));
}

/**
 * The container IDs of `cni.dev/valid-attachments` (or the spec's earlier `cni.dev/attachments`);
 * undefined when the runtime sent neither.
 */
function validContainers(config: unknown): Set<string> | undefined {
  if (!isObject(config)) return undefined;
  const key = ["cni.dev/valid-attachments", "cni.dev/attachments"].find((k) => Object.hasOwn(config, k));
  const list = key === undefined ? undefined : config[key];
  if (list === undefined || list === null) return undefined;
  const bad = (): never => {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `${key} must be a list of {"containerID": string, "ifname": string}`,
      "nothing was released",
    );
  };
  if (!Array.isArray(list)) bad();
  const ids = new Set<string>();
  for (const a of list as unknown[]) {
    const id = isObject(a) ? a["containerID"] : undefined;
    if (typeof id !== "string") bad();
    ids.add((id as string).trim());
  }
  return ids;
}

/**
 * A saved config GC of network `conf.name` may remove: one of this network's (its delegate carries the
 * network's name), or one nobody can use (unreadable, or no delegate config at all: a DEL rebuilds
 * it anyway). Another network's (flannel networks can share a dataDir) is that network's business.
 */
function mayCollect(store: ScratchStore, containerID: string, conf: FlannelNetConf): boolean {
  const saved = readSaved(store, containerID);
  if (saved.kind !== "ok") return true;
  const parsed = JSON.parse(saved.bytes) as JsonObject;
  return parsed["name"] === conf.name;
}

function isContainerID(name: string): boolean {
  try {
    validateContainerID(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * GC: this network's saved configs of containers not in the valid list are removed (and temp files
 * of killed savers), then `cni.dev/valid-attachments` goes to the delegate (bridge -> host-local
 * releases the addresses of attachments not in it). Without a valid list no saved config is touched.
 */
export async function flannelGc(call: FlannelCall, deps: FlannelDeps): Promise<void> {
  const conf = parseFlannelConf(call.config);
  const valid = validContainers(call.config);
  const store = deps.scratch(conf.dataDir);
  if (valid) {
    const stale = store
      .list()
      .filter((name) => isContainerID(name) && !valid.has(name) && mayCollect(store, name, conf));
    for (const id of stale) {
      try {
        store.remove(id);
        deps.log(`GC removed the saved delegate config of ${id}: the runtime no longer lists it`);
      } catch (e) {
        deps.log(`GC could not remove ${id} in ${conf.dataDir}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  store.sweep();
  const lease = loadLease(conf, deps, false);
  const delegate = buildDelegate(conf, lease);
  if (isObject(call.config)) {
    for (const key of ["cni.dev/valid-attachments", "cni.dev/attachments"]) {
      if (Object.hasOwn(call.config, key)) delegate[key] = call.config[key];
    }
  }
  await deps.delegate.gc(delegateType(delegate), sortedJson(delegate));
}
