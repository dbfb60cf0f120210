/** flannel CNI meta plugin: subnet.env -> bridge + host-local delegate (see README.md). */
import { runPlugin } from "../../libcni/skel/skel.ts";
import { flannelDefinition } from "./plugin.ts";

export async function main(_argv: readonly string[]): Promise<number> {
  const d = flannelDefinition();
  return runPlugin(d.funcs, d.versions, d.about);
}
