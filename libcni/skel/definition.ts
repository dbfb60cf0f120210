/**
 * A plugin as data: its command functions, the spec versions it supports and its about string, and
 * how a meta plugin runs one in-process. The registry of definitions is built by the program's
 * composition root (bin/) and passed in; libcni knows no plugin itself.
 *
 * In-process delegation: when a meta plugin (flannel -> bridge -> host-local) delegates to a type the
 * registry holds AND the file CNI_PATH resolves that type to is this very binary (a link or hard
 * link to it), the definition runs through skel's `dispatch` in this process with captured IO
 * instead of an exec. Its stdout, stderr and exit code are read by libcni/invoke exactly like an
 * exec'd plugin's, so both paths behave the same. Whatever else CNI_PATH finds first (the reference
 * bridge, another plugin) is exec'd, as the reference flannel does. When no directory on CNI_PATH
 * holds the type at all, the registry's definition runs (the reference would fail with "failed to
 * find plugin"), so a node with only /opt/cni/bin/flannel still works.
 *
 * WEFT_NO_INPROCESS=1 (or "true") forces an exec for every type.
 */
import { statSync } from "node:fs";
import type { InProcessPlugin, InProcessResolver } from "../invoke/delegate.ts";
import { trace } from "../trace.ts";
import { dispatch, type NetnsAccess, type PluginFuncs } from "./skel.ts";

export interface PluginDefinition {
  readonly funcs: PluginFuncs;
  readonly versions: readonly string[];
  readonly about: string;
}

export type DefinitionLoader = () => Promise<PluginDefinition>;

/** Plugin types a meta plugin may run in-process, each loaded when first delegated to. */
export type PluginRegistry = Readonly<Record<string, DefinitionLoader>>;

/** True when the environment asks to exec every delegate. */
export function inProcessDisabled(env: Readonly<Record<string, string | undefined>>): boolean {
  const v = env["WEFT_NO_INPROCESS"]?.toLowerCase();
  return v === "1" || v === "true";
}

/** Run a plugin definition with the given env and stdin, capturing its output. */
export async function runDefinition(
  def: PluginDefinition,
  io: { readonly env: Readonly<Record<string, string>>; readonly stdin: string; readonly netnsAccess?: NetnsAccess },
) {
  let stdout = "";
  let stderr = "";
  const exitCode = await dispatch(def.funcs, def.versions, def.about, {
    env: io.env,
    readStdin: async () => io.stdin,
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    ...(io.netnsAccess ? { netnsAccess: io.netnsAccess } : {}),
  });
  return { exitCode, stdout, stderr };
}

/** Device and inode of files already stat'ed (the executable is asked about once per delegate). */
const identities = new Map<string, { readonly dev: number; readonly ino: number }>();

function identity(file: string, cache: boolean): { readonly dev: number; readonly ino: number } {
  const known = cache ? identities.get(file) : undefined;
  if (known) return known;
  const st = statSync(file);
  const id = { dev: st.dev, ino: st.ino };
  if (cache) identities.set(file, id);
  return id;
}

/** True when `path` is the running executable itself (same inode: a symlink or hard link to it). */
export function isThisBinary(path: string, self: string = process.execPath): boolean {
  try {
    const a = identity(path, false);
    // the running executable cannot change under us: stat it once per process
    const b = identity(self, self === process.execPath);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

/**
 * The resolver handed to libcni/invoke's delegate functions: the registry's types in-process when
 * CNI_PATH resolves them to this binary (or to nothing), everything else exec'd. Returns undefined
 * for every type when in-process is disabled.
 */
export function inProcessResolver(
  registry: PluginRegistry,
  env: Readonly<Record<string, string | undefined>>,
  isSelf: (path: string) => boolean = isThisBinary,
  netnsAccess?: NetnsAccess,
): InProcessResolver {
  const off = inProcessDisabled(env);
  return (type: string, path: string): InProcessPlugin | undefined => {
    if (off || !Object.hasOwn(registry, type)) return undefined;
    if (path !== "" && !isSelf(path)) return undefined;
    const load = registry[type];
    if (!load) return undefined;
    return {
      run: async (io) => {
        const def = await load();
        trace(`delegates: ${type} loaded`);
        return runDefinition(def, netnsAccess ? { ...io, netnsAccess } : io);
      },
    };
  };
}
