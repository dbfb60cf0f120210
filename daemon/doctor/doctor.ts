/**
 * The checks `weft doctor` runs, in report order, over one {@link DoctorContext}. A check that
 * throws is reported as failed with the error (a doctor that dies halfway helps nobody).
 */
import { errorMessage } from "../log.ts";
import { fail, type CheckResult } from "./check.ts";
import { cniConfigCheck, cniPluginsCheck, cniServerCheck, ipamCheck } from "./checks/cni.ts";
import { brNetfilterCheck, ipForwardCheck, rpFilterCheck } from "./checks/host.ts";
import { iptablesCheck } from "./checks/iptables.ts";
import { storeCheck, subnetEnvCheck } from "./checks/lease.ts";
import { bridgeCheck, mtuCheck } from "./checks/links.ts";
import { flanneldCheck, peersCheck } from "./checks/peers.ts";
import type { DoctorContext } from "./context.ts";
import { gatherFacts, type NodeFacts } from "./facts.ts";

type Check = (ctx: DoctorContext, f: NodeFacts) => CheckResult | CheckResult[] | Promise<CheckResult | CheckResult[]>;

/** [id for errors, check] in report order. */
export const CHECKS: readonly (readonly [string, Check])[] = [
  ["store", storeCheck],
  ["subnet-env", subnetEnvCheck],
  ["flanneld", flanneldCheck],
  ["bridge", bridgeCheck],
  ["mtu", mtuCheck],
  ["iptables", iptablesCheck],
  ["ip-forward", ipForwardCheck],
  ["rp-filter", rpFilterCheck],
  ["br-netfilter", brNetfilterCheck],
  ["cni-config", cniConfigCheck],
  ["cni-plugins", cniPluginsCheck],
  ["ipam", ipamCheck],
  ["cni-server", cniServerCheck],
  ["peers", peersCheck],
];

export async function runDoctor(ctx: DoctorContext): Promise<CheckResult[]> {
  const facts = await gatherFacts(ctx);
  const out: CheckResult[] = [];
  for (const [id, check] of CHECKS) {
    try {
      const r = await check(ctx, facts);
      out.push(...(Array.isArray(r) ? r : [r]));
    } catch (e) {
      out.push(fail(id, id, `the check itself failed: ${errorMessage(e)}`, "report this as a bug of weft doctor"));
    }
  }
  return out;
}
