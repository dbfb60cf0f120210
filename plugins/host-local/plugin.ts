/**
 * The host-local IPAM plugin definition with its real dependencies: the on-disk store in the
 * reference format, locked with flock, its files written unnamed and linked into place, orphans it
 * reclaims reported on stderr. Also what meta plugins run in-process instead of an exec.
 */
import type { PluginDefinition } from "../../libcni/skel/definition.ts";
import { fdSink } from "../../libcni/stdio.ts";
import { SPEC_VERSIONS } from "../../libcni/version.ts";
import { unnamedFileWriter } from "../../linux/unnamed-file.ts";
import { hostLocalCommands } from "./commands.ts";
import { DiskStore } from "./disk-store.ts";
import { flockLocker } from "./flock-locker.ts";

const log = (m: string): void => void fdSink(2).write(`host-local: ${m}\n`);

export function hostLocalDefinition(ctx: { readonly about: string }): PluginDefinition {
  const funcs = hostLocalCommands({
    openStore: ({ dataDir, network }) =>
      new DiskStore({ dataDir, network, locker: flockLocker, files: unnamedFileWriter, log }),
  });
  return { funcs, versions: SPEC_VERSIONS, about: ctx.about };
}
