/**
 * Our CNI plugins, as the one place that wires them: each definition gets its about string and the
 * registry of plugins it may run in-process, and is imported only when first used (by its role, or
 * by a meta plugin delegating to it).
 */
import type { DefinitionLoader, PluginDefinition, PluginRegistry } from "../libcni/skel/definition.ts";
import type { IpamView } from "../daemon/ipam-view.ts";
import type { DoctorPlugins } from "../daemon/doctor/system.ts";
import { trace } from "../libcni/trace.ts";
import { VERSION } from "./version.ts";

const about = (name: string): string => `CNI ${name} plugin weft ${VERSION}`;

/** A loader that imports and builds the definition once per process. */
function once(load: () => Promise<PluginDefinition>): DefinitionLoader {
  let def: Promise<PluginDefinition> | undefined;
  return () => (def ??= load());
}

export const PLUGINS = {
  flannel: once(async () =>
    (await import("../plugins/flannel/plugin.ts")).flannelDefinition({ about: about("flannel"), delegates: DELEGATES }),
  ),
  bridge: once(async () =>
    (await import("../plugins/bridge/plugin.ts")).bridgeDefinition({ about: about("bridge"), delegates: DELEGATES }),
  ),
  "host-local": once(async () =>
    (await import("../plugins/host-local/plugin.ts")).hostLocalDefinition({ about: about("host-local") }),
  ),
  loopback: once(async () =>
    (await import("../plugins/loopback/plugin.ts")).loopbackDefinition({ about: about("loopback") }),
  ),
} as const satisfies PluginRegistry;

export type PluginName = keyof typeof PLUGINS;

/** The types a meta plugin runs in-process (when CNI_PATH resolves them to this binary, or to nothing). */
export const DELEGATES: PluginRegistry = { bridge: PLUGINS.bridge, "host-local": PLUGINS["host-local"] };

/** The role of a plugin: the skel over the real process IO (`stdin` when the caller already read it). */
export async function pluginRole(name: PluginName, stdin?: string): Promise<{ main: () => Promise<number> }> {
  const [def, skel] = await Promise.all([PLUGINS[name](), import("../libcni/skel/skel.ts")]);
  return { main: () => skel.runPlugin(def.funcs, def.versions, def.about, stdin === undefined ? {} : { stdin }) };
}

/**
 * The flannel role: relay the call to the node's flanneld when its CNI server takes it, else run it
 * here (plugins/flannel/relay.ts says when).
 */
export async function flannelRole(): Promise<{ main: () => Promise<number> }> {
  const relay = await import("../plugins/flannel/relay.ts");
  return {
    main: async () => {
      const out = relay.relayCall(process.env);
      if (out.relayed) return out.exitCode;
      trace(`flannel: runs in-process (${out.why})`);
      return (await pluginRole("flannel", out.stdin)).main();
    },
  };
}

/** host-local's data directory as node tooling reads it (flanneld's /metrics, `weft doctor`). */
export async function ipamView(): Promise<IpamView> {
  const m = await import("../plugins/host-local/inventory.ts");
  return { networks: (dir) => m.networkReservations(dir), poolSize: (subnet) => m.defaultPoolSize(subnet) };
}

/** What `weft doctor` needs to know of our plugins: host-local's data dir, flannel's delegates. */
export async function doctorPlugins(): Promise<DoctorPlugins> {
  const [ipam, flannelConf, delegate] = await Promise.all([
    ipamView(),
    import("../plugins/flannel/config.ts"),
    import("../plugins/flannel/delegate.ts"),
  ]);
  return {
    ipam,
    flannelDelegates: (conf) => delegate.delegateTypes(flannelConf.parseFlannelConf(conf)),
  };
}
