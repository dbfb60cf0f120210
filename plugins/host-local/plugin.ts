/**
 * The host-local IPAM plugin definition with its real dependencies: the on-disk store in the
 * reference format, locked with flock. Also what meta plugins run in-process instead of an exec.
 */
import type { PluginDefinition } from "../../libcni/skel/definition.ts";
import { SPEC_VERSIONS } from "../../libcni/version.ts";
import { hostLocalCommands } from "./commands.ts";
import { DiskStore } from "./disk-store.ts";
import { flockLocker } from "./flock-locker.ts";

export function hostLocalDefinition(ctx: { readonly about: string }): PluginDefinition {
  const funcs = hostLocalCommands({
    openStore: ({ dataDir, network }) => new DiskStore({ dataDir, network, locker: flockLocker }),
  });
  return { funcs, versions: SPEC_VERSIONS, about: ctx.about };
}
