/** bridge CNI plugin: cni0 bridge, veth pair, IPAM, gateway, masquerade (see README.md). */
import { runPlugin } from "../../libcni/skel/skel.ts";
import { bridgeDefinition } from "./plugin.ts";

export async function main(_argv: readonly string[]): Promise<number> {
  const d = bridgeDefinition();
  return runPlugin(d.funcs, d.versions, d.about);
}
