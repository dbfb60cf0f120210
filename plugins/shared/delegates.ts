/**
 * In-process delegation: when a meta plugin (flannel -> bridge -> host-local) delegates to a plugin
 * type that is one of ours, run that plugin's definition through skel's `dispatch` in this process
 * with captured IO, instead of exec'ing a binary from CNI_PATH. Its stdout, stderr and exit code are
 * read by libcni/invoke exactly like an exec'd plugin's, so both paths behave the same. Any other
 * type is exec'd from CNI_PATH like the reference.
 *
 * WEFT_NO_INPROCESS=1 (or "true") forces exec for every type, e.g. to run our flannel with the
 * reference bridge and host-local found first on CNI_PATH.
 */
import type { InProcessPlugin, InProcessResolver } from "../../libcni/invoke/delegate.ts";
import { dispatch, type PluginFuncs } from "../../libcni/skel/skel.ts";

export interface PluginDefinition {
  readonly funcs: PluginFuncs;
  readonly versions: readonly string[];
  readonly about: string;
}

export type DefinitionLoader = () => Promise<PluginDefinition>;

/** Our plugin types, each imported only when first delegated to. */
export const OWN_PLUGINS: Readonly<Record<string, DefinitionLoader>> = {
  bridge: async () => (await import("../bridge/plugin.ts")).bridgeDefinition(),
  "host-local": async () => {
    const [m, v] = await Promise.all([import("../host-local/main.ts"), import("../../libcni/version.ts")]);
    return { funcs: m.hostLocalPlugin, versions: v.SPEC_VERSIONS, about: m.ABOUT };
  },
};

/** True when the environment asks to exec every delegate. */
export function inProcessDisabled(env: Readonly<Record<string, string | undefined>>): boolean {
  const v = env["WEFT_NO_INPROCESS"]?.toLowerCase();
  return v === "1" || v === "true";
}

/** Run a plugin definition with the given env and stdin, capturing its output. */
export async function runDefinition(def: PluginDefinition, io: { readonly env: Readonly<Record<string, string>>; readonly stdin: string }) {
  let stdout = "";
  let stderr = "";
  const exitCode = await dispatch(def.funcs, def.versions, def.about, {
    env: io.env,
    readStdin: async () => io.stdin,
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
  });
  return { exitCode, stdout, stderr };
}

/**
 * The resolver handed to libcni/invoke's delegate functions: our types in-process, others
 * undefined (exec'd). Returns undefined for every type when in-process is disabled.
 */
export function inProcessResolver(
  env: Readonly<Record<string, string | undefined>> = process.env,
  loaders: Readonly<Record<string, DefinitionLoader>> = OWN_PLUGINS,
): InProcessResolver {
  const off = inProcessDisabled(env);
  return (type: string): InProcessPlugin | undefined => {
    if (off || !Object.hasOwn(loaders, type)) return undefined;
    const load = loaders[type];
    if (!load) return undefined;
    return { run: async (io) => runDefinition(await load(), io) };
  };
}
