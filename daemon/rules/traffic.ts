// The traffic manager: installs masquerade and forward rules in iptables or nftables mode, cleans
// the other mode, and keeps them in place (resync). Rules are never removed on exit (as flanneld).
import { forwardRules, IptablesRules, masqRules, type Family, type RuleSpec } from "./iptables-rules.ts";
import { NftRules } from "./nft-rules.ts";
import type { CommandRunner } from "../../linux/command.ts";
import type { IptablesMode } from "../../linux/iptables-mode.ts";
import { formatCidr } from "../../net/prefix.ts";
import type { TrafficOptions } from "../dataplane.ts";

/** One family's rule inputs: the cluster network and this node's lease, as CIDRs. */
export interface FamilyRules {
  readonly family: Family;
  readonly network: string;
  readonly pod: string;
}

/**
 * The rule families for a node: IPv4 when EnableIPv4 and the lease has a subnet, IPv6 when
 * EnableIPv6 and the lease has a subnetV6; plus the previous subnet.env's networks and subnets per
 * family (rules of an old network/subnet are removed at start).
 */
export function trafficFamilies(o: Pick<TrafficOptions, "config" | "lease" | "previous">): {
  families: FamilyRules[];
  previous: FamilyRules[];
} {
  const families: FamilyRules[] = [];
  const { config: c, lease: l } = o;
  if (c.enableIPv4 && c.network && l.subnet)
    families.push({ family: 4, network: formatCidr(c.network), pod: formatCidr(l.subnet) });
  if (c.enableIPv6 && c.ipv6Network && l.subnetV6)
    families.push({ family: 6, network: formatCidr(c.ipv6Network), pod: formatCidr(l.subnetV6) });
  const p = o.previous;
  const previous: FamilyRules[] = [];
  if (p?.network && p.subnet) previous.push({ family: 4, network: p.network, pod: p.subnet });
  if (p?.ipv6Network && p.ipv6Subnet) previous.push({ family: 6, network: p.ipv6Network, pod: p.ipv6Subnet });
  return { families, previous };
}

export interface TrafficConfig {
  readonly mode: "iptables" | "nftables";
  /**
   * The node's iptables (legacy or nft) for the iptables rules, and for removing them in nftables
   * mode; undefined: the plain `iptables` commands.
   */
  readonly iptablesMode?: IptablesMode;
  /** per family: cluster network and this node's lease */
  readonly families: readonly FamilyRules[];
  readonly masquerade: boolean;
  readonly forward: boolean;
  readonly fullyRandom: boolean;
}

export class TrafficManager {
  private readonly nft: NftRules;
  constructor(
    private readonly runner: CommandRunner,
    private readonly cfg: TrafficConfig,
    private readonly log: (msg: string, fields?: Record<string, unknown>) => void = () => undefined,
  ) {
    this.nft = new NftRules(runner);
  }

  private iptablesRules(f: TrafficConfig["families"][number]): RuleSpec[] {
    return [
      ...(this.cfg.masquerade ? masqRules({ ...f, fullyRandom: this.cfg.fullyRandom }) : []),
      ...(this.cfg.forward ? forwardRules(f.network) : []),
    ];
  }

  /** Start-up: remove the other mode's rules, and rules for an old network/subnet (per family), then install ours. */
  async init(previousRules: readonly FamilyRules[] = []): Promise<void> {
    for (const f of this.cfg.families) {
      const previous = previousRules.find((p) => p.family === f.family);
      if (this.cfg.mode === "iptables") {
        await this.nft.remove(f.family);
        const ipt = new IptablesRules(this.runner, f.family, this.cfg.iptablesMode);
        if (previous && (previous.network !== f.network || previous.pod !== f.pod)) {
          this.log("removing rules of the previous network/subnet", { ...previous });
          await ipt.remove([
            ...masqRules({ ...previous, fullyRandom: this.cfg.fullyRandom }),
            ...forwardRules(previous.network),
          ]);
        }
        await ipt.ensure(this.iptablesRules(f));
      } else {
        const ipt = new IptablesRules(this.runner, f.family, this.cfg.iptablesMode);
        await ipt
          .remove([...masqRules({ ...f, fullyRandom: this.cfg.fullyRandom }), ...forwardRules(f.network)])
          .catch(() => undefined);
        await this.nft.ensure({
          ...f,
          fullyRandom: this.cfg.fullyRandom,
          masquerade: this.cfg.masquerade,
          forward: this.cfg.forward,
        });
      }
    }
  }

  /** One resync pass: reinstall a family's rules when any is missing. Returns how many families were repaired. */
  async resync(): Promise<number> {
    let repaired = 0;
    for (const f of this.cfg.families) {
      if (this.cfg.mode === "iptables") {
        const ipt = new IptablesRules(this.runner, f.family, this.cfg.iptablesMode);
        const rules = this.iptablesRules(f);
        const missing = await ipt.missing(rules);
        if (missing.length > 0) {
          this.log("iptables rules missing, reinstalling", { family: f.family, missing: missing.length });
          await ipt.ensure(rules);
          repaired++;
        }
      } else {
        const o = {
          ...f,
          fullyRandom: this.cfg.fullyRandom,
          masquerade: this.cfg.masquerade,
          forward: this.cfg.forward,
        };
        if (!(await this.nft.present(o))) {
          this.log("nftables table missing, reinstalling", { family: f.family });
          await this.nft.ensure(o);
          repaired++;
        }
      }
    }
    return repaired;
  }
}
