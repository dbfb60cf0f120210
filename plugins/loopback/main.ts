/** CNI loopback plugin: brings `lo` up in the container's network namespace. */
import { VERSION } from "../../bin/version.ts";
import { runPlugin, type PluginFuncs } from "../../libcni/skel/skel.ts";
import { SPEC_VERSIONS } from "../../libcni/version.ts";
import { openNetlink } from "../../linux/netlink/open.ts";
import { loopbackCommands } from "./commands.ts";

export const ABOUT = `CNI loopback plugin weft ${VERSION}`;

export const loopbackPlugin: PluginFuncs = loopbackCommands({ openNetlink: (netns) => openNetlink({ netns }) });

export async function main(_argv: readonly string[]): Promise<number> {
  return runPlugin(loopbackPlugin, SPEC_VERSIONS, ABOUT);
}
