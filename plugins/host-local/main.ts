/**
 * host-local IPAM plugin: file-backed address allocation in the reference on-disk format.
 * `hostLocalPlugin` is also what meta plugins run in-process instead of exec'ing host-local.
 */
import { type PluginFuncs, runPlugin } from "../../libcni/skel/skel.ts";
import { SPEC_VERSIONS } from "../../libcni/version.ts";
import { VERSION } from "../../bin/version.ts";
import { hostLocalCommands } from "./commands.ts";
import { DiskStore } from "./disk-store.ts";
import { flockLocker } from "./flock-locker.ts";

export const ABOUT = `CNI host-local plugin weft ${VERSION}`;

export const hostLocalPlugin: PluginFuncs = hostLocalCommands({
  openStore: ({ dataDir, network }) => new DiskStore({ dataDir, network, locker: flockLocker }),
});

export async function main(_argv: readonly string[]): Promise<number> {
  return runPlugin(hostLocalPlugin, SPEC_VERSIONS, ABOUT);
}
