/**
 * MAC spoof check (macspoofchk): nftables rules in table `bridge nat` that drop frames entering
 * the bridge from the pod's host veth unless their source MAC is the pod's, named and commented as
 * the reference's (chains `cni-br-iface-<cid>-<ifname>` and `...-mac`, comment
 * `macspoofchk-<cid>-<ifname>`), so either implementation can remove the other's.
 */
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import type { CommandRunner } from "../../linux/command.ts";

const TABLE = "bridge nat";
const BASE = "PREROUTING";

export interface SpoofTarget {
  readonly containerID: string;
  readonly ifName: string;
}

function ids(t: SpoofTarget): { ref: string; iface: string; mac: string; comment: string } {
  const ref = `${t.containerID}-${t.ifName}`;
  const iface = `cni-br-iface-${ref}`;
  return { ref, iface, mac: `${iface}-mac`, comment: `macspoofchk-${ref}` };
}

export class SpoofCheck {
  constructor(private readonly runner: CommandRunner) {}

  private async apply(script: string, what: string): Promise<void> {
    const r = await this.runner.run("nft", ["-f", "-"], script);
    if (r.exitCode !== 0)
      throw new CniError(ErrorCode.IOFailure, `failed to ${what} spoof-check: ${(r.stderr || r.stdout).trim()}`);
  }

  /** Install the rules for the host veth `hostIf` and the pod MAC `mac`. */
  async setup(t: SpoofTarget, hostIf: string, mac: string): Promise<void> {
    const n = ids(t);
    const c = `comment ${JSON.stringify(n.comment)}`;
    await this.apply(
      [
        `add table ${TABLE}`,
        `add chain ${TABLE} ${BASE} { type filter hook prerouting priority -300 ; policy accept ; }`,
        `add chain ${TABLE} ${n.iface}`,
        `add chain ${TABLE} ${n.mac}`,
        `flush chain ${TABLE} ${n.iface}`,
        `flush chain ${TABLE} ${n.mac}`,
        `add rule ${TABLE} ${BASE} iifname ${JSON.stringify(hostIf)} jump ${n.iface} ${c}`,
        `add rule ${TABLE} ${n.iface} jump ${n.mac} ${c}`,
        `add rule ${TABLE} ${n.mac} ether saddr ${mac} return ${c}`,
        `add rule ${TABLE} ${n.mac} drop ${c}`,
        "",
      ].join("\n"),
      "setup",
    );
  }

  /** Remove the base-chain jump(s) and both chains; nothing there is fine. */
  async teardown(t: SpoofTarget): Promise<void> {
    const n = ids(t);
    const listed = await this.runner.run("nft", ["-j", "list", "chain", "bridge", "nat", BASE]);
    const handles: number[] = [];
    if (listed.exitCode === 0) {
      const doc = JSON.parse(listed.stdout) as { nftables?: { rule?: { handle?: number; comment?: string } }[] };
      for (const item of doc.nftables ?? [])
        if (item.rule?.comment === n.comment && typeof item.rule.handle === "number") handles.push(item.rule.handle);
    }
    const chains = await this.runner.run("nft", ["-j", "list", "chains", "bridge"]);
    const existing = new Set<string>();
    if (chains.exitCode === 0) {
      const doc = JSON.parse(chains.stdout) as { nftables?: { chain?: { table?: string; name?: string } }[] };
      for (const item of doc.nftables ?? [])
        if (item.chain?.table === "nat" && item.chain.name) existing.add(item.chain.name);
    }
    const lines = handles.map((h) => `delete rule ${TABLE} ${BASE} handle ${h}`);
    for (const ch of [n.iface, n.mac]) if (existing.has(ch)) lines.push(`flush chain ${TABLE} ${ch}`);
    for (const ch of [n.iface, n.mac]) if (existing.has(ch)) lines.push(`delete chain ${TABLE} ${ch}`);
    if (lines.length > 0) await this.apply(`${lines.join("\n")}\n`, "teardown");
  }
}
