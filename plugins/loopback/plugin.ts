/** The loopback plugin definition with its real dependency: netlink opened in the pod's netns. */
import type { PluginDefinition } from "../../libcni/skel/definition.ts";
import { SPEC_VERSIONS } from "../../libcni/version.ts";
import { openNetlink } from "../../linux/netlink/open.ts";
import { loopbackCommands } from "./commands.ts";

export function loopbackDefinition(ctx: { readonly about: string }): PluginDefinition {
  const funcs = loopbackCommands({ openNetlink: (netns) => openNetlink({ netns }) });
  return { funcs, versions: SPEC_VERSIONS, about: ctx.about };
}
