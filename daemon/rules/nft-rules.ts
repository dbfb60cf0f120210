// flanneld's nftables mode (EnableNFTables): tables `ip flannel-ipv4` / `ip6 flannel-ipv6` with a
// forward and a postrouting chain, replaced atomically in one `nft -f -` transaction.
// Two deliberate fixes over flanneld's nftables rules: the kube-proxy mark is matched
// with its mask like the iptables rule, and the 4th RETURN rule is `saddr != Net daddr Pod`, the same
// as iptables, so host->pod traffic can reach the final MASQUERADE rule.
import type { CommandRunner } from "../../linux/command.ts";
import type { Family } from "./iptables-rules.ts";

export interface NftOptions {
  readonly family: Family;
  readonly network: string;
  readonly pod: string;
  readonly fullyRandom: boolean;
  readonly masquerade: boolean;
  readonly forward: boolean;
}

export function nftTable(family: Family): { readonly family: "ip" | "ip6"; readonly name: string } {
  return family === 4 ? { family: "ip", name: "flannel-ipv4" } : { family: "ip6", name: "flannel-ipv6" };
}

/** The whole table as one transaction: create, delete (clears any old content), recreate filled. */
export function nftScript(o: NftOptions): string {
  const t = nftTable(o.family);
  const ip = o.family === 4 ? "ip" : "ip6";
  const multicast = o.family === 4 ? "224.0.0.0/4" : "ff00::/8";
  const masq = o.fullyRandom ? "masquerade fully-random" : "masquerade";
  const lines = [
    `add table ${t.family} ${t.name}`,
    `delete table ${t.family} ${t.name}`,
    `table ${t.family} ${t.name} {`,
  ];
  if (o.forward) {
    lines.push(
      "  chain forward {",
      "    type filter hook forward priority filter; policy accept;",
      `    ${ip} saddr ${o.network} accept comment "flanneld forward"`,
      `    ${ip} daddr ${o.network} accept comment "flanneld forward"`,
      "  }",
    );
  }
  if (o.masquerade) {
    lines.push(
      "  chain postrtg {",
      "    type nat hook postrouting priority srcnat; policy accept;",
      `    meta mark & 0x4000 == 0x4000 return comment "flanneld masq"`,
      `    ${ip} saddr ${o.pod} ${ip} daddr ${o.network} return comment "flanneld masq"`,
      `    ${ip} saddr ${o.network} ${ip} daddr ${o.pod} return comment "flanneld masq"`,
      `    ${ip} saddr != ${o.network} ${ip} daddr ${o.pod} return comment "flanneld masq"`,
      `    ${ip} saddr ${o.network} ${ip} daddr != ${multicast} ${masq} comment "flanneld masq"`,
      `    ${ip} saddr != ${o.network} ${ip} daddr ${o.network} ${masq} comment "flanneld masq"`,
      "  }",
    );
  }
  lines.push("}", "");
  return lines.join("\n");
}

export class NftRules {
  constructor(private readonly runner: CommandRunner) {}

  async ensure(o: NftOptions): Promise<void> {
    const script = nftScript(o);
    const r = await this.runner.run("nft", ["-f", "-"], script);
    if (r.exitCode !== 0) throw new Error(`nft -f - failed: ${r.stderr.trim()}; script:\n${script}`);
  }

  /** True when our table exists with both chains we expect. */
  async present(o: NftOptions): Promise<boolean> {
    const t = nftTable(o.family);
    const r = await this.runner.run("nft", ["-j", "list", "table", t.family, t.name]);
    if (r.exitCode !== 0) return false;
    return (!o.forward || r.stdout.includes('"forward"')) && (!o.masquerade || r.stdout.includes('"postrtg"'));
  }

  async remove(family: Family): Promise<void> {
    const t = nftTable(family);
    await this.runner.run("nft", ["delete", "table", t.family, t.name]);
  }
}
