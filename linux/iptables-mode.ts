/**
 * Which iptables a node uses, legacy (the kernel's x_tables) or nft (iptables rules kept in
 * nftables), and the command names for it. The two are separate rule sets in the kernel: a rule
 * added through the other one runs in another order than the node's firewall, kube-proxy's and the
 * kubelet's rules expect, or is invisible to tools reading the node's mode. A container image has
 * one default (Debian's is nft), so a daemon in a container has to find the node's mode at run time.
 *
 * The decision, as kubernetes-sigs/iptables-wrappers (used by kube-proxy's and flannel's images)
 * makes it: the kubelet (1.17+) creates the chain KUBE-IPTABLES-HINT (or KUBE-KUBELET-CANARY) in
 * the mangle table of the mode it uses, so the mode holding it wins, nft checked first. A node
 * without a kubelet (flanneld under systemd with etcd) has no hint: then the mode holding more
 * rules wins (what that project's earlier shell wrapper did), nft on a tie (no rules anywhere).
 * `iptables-legacy-save` is run without `-t`: naming a table would make the kernel create it.
 */
import type { CommandRunner } from "./command.ts";

export type IptablesMode = "legacy" | "nft";

export interface IptablesModeChoice {
  readonly mode: IptablesMode;
  /** Why, for the start-up log line. */
  readonly reason: string;
}

const KUBELET_CHAINS = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) /m;

/**
 * The command for `family` in `mode`: `iptables-legacy`, `ip6tables-nft-restore`, ... With no mode,
 * the plain names (`iptables`, `iptables-restore`): whatever the system's alternatives point to,
 * which is what a plugin run on the node itself uses, as the reference plugins do.
 */
export function iptablesCommand(
  mode: IptablesMode | undefined,
  family: 4 | 6,
  tool: "iptables" | "restore" | "save" = "iptables",
): string {
  const base = `${family === 4 ? "iptables" : "ip6tables"}${mode ? `-${mode}` : ""}`;
  return tool === "iptables" ? base : `${base}-${tool}`;
}

/** Rule lines (`-A ...`) in iptables-save output. */
export function countRules(save: string): number {
  return save.split("\n").filter((l) => l.startsWith("-")).length;
}

/** The mode named by an override such as WEFT_IPTABLES_MODE, or an error saying what is accepted. */
export function parseIptablesMode(value: string, source: string): IptablesMode | "auto" {
  const v = value.trim().toLowerCase();
  if (v === "legacy" || v === "nft" || v === "auto") return v;
  throw new Error(`${source}=${value} is not an iptables mode: use "legacy", "nft" or "auto"`);
}

/**
 * Detect the node's iptables mode by running the -save tools of both. A variant that is not
 * installed (exit 127) or fails counts as having nothing; when neither can be run the answer is
 * nft with a reason saying so (the caller's commands will then fail and say which tool is missing).
 */
export async function detectIptablesMode(runner: CommandRunner): Promise<IptablesModeChoice> {
  const save = async (mode: IptablesMode, family: 4 | 6, args: readonly string[]) => {
    const r = await runner.run(iptablesCommand(mode, family, "save"), args);
    return { ran: r.exitCode !== 127, text: r.exitCode === 0 ? r.stdout : "" };
  };
  const nft = [await save("nft", 4, ["-t", "mangle"]), await save("nft", 6, ["-t", "mangle"])];
  if (nft.some((s) => KUBELET_CHAINS.test(s.text)))
    return { mode: "nft", reason: "the kubelet's KUBE-IPTABLES-HINT chain is in iptables-nft" };
  const legacy = [await save("legacy", 4, []), await save("legacy", 6, [])];
  if (legacy.some((s) => KUBELET_CHAINS.test(s.text)))
    return { mode: "legacy", reason: "the kubelet's KUBE-IPTABLES-HINT chain is in iptables-legacy" };
  const nftAll = [await save("nft", 4, []), await save("nft", 6, [])];
  const nftRules = nftAll.reduce((n, s) => n + countRules(s.text), 0);
  const legacyRules = legacy.reduce((n, s) => n + countRules(s.text), 0);
  const legacyRan = legacy.some((s) => s.ran);
  const nftRan = nftAll.some((s) => s.ran);
  if (!legacyRan && !nftRan)
    return { mode: "nft", reason: "neither iptables-legacy-save nor iptables-nft-save could be run" };
  if (!nftRan) return { mode: "legacy", reason: "iptables-nft is not installed" };
  if (!legacyRan) return { mode: "nft", reason: "iptables-legacy is not installed" };
  const counts = `${legacyRules} legacy rules, ${nftRules} nft rules`;
  if (legacyRules > nftRules) return { mode: "legacy", reason: `no kubelet hint chain; ${counts}` };
  return { mode: "nft", reason: `no kubelet hint chain; ${counts}` };
}

let processMode: IptablesMode | undefined;

/**
 * The mode this process uses for every iptables rule it writes: set once by flanneld at start, so
 * the bridge plugin's masquerade run by its CNI server lands where the daemon's rules do. A plugin
 * run as its own process leaves it unset and uses the plain names, as the reference plugins do.
 */
export function useIptablesMode(mode: IptablesMode | undefined): void {
  processMode = mode;
}

export function processIptablesMode(): IptablesMode | undefined {
  return processMode;
}
