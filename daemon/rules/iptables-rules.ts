// flanneld's iptables rules: masquerade in nat FLANNEL-POSTRTG and forward
// accepts in filter FLANNEL-FWD, same chain names, comments and order as flanneld so operators'
// tooling and habits carry over. Pure builders + an applier over a CommandRunner.
import type { CommandRunner } from "../../linux/command.ts";
import { iptablesCommand, type IptablesMode } from "../../linux/iptables-mode.ts";

export type { Family } from "../../net/ip.ts";
import type { Family } from "../../net/ip.ts";

export interface RuleSpec {
  readonly table: "nat" | "filter";
  readonly chain: string;
  readonly rule: readonly string[];
}

export const MASQ_CHAIN = "FLANNEL-POSTRTG";
export const FWD_CHAIN = "FLANNEL-FWD";
const MASQ_COMMENT = ["-m", "comment", "--comment", "flanneld masq"];
const FWD_COMMENT = ["-m", "comment", "--comment", "flanneld forward"];

/** The masquerade rules for one family, in flanneld's order. `network` = cluster CIDR, `pod` = this node's lease. */
export function masqRules(o: {
  readonly family: Family;
  readonly network: string;
  readonly pod: string;
  readonly fullyRandom: boolean;
}): RuleSpec[] {
  const multicast = o.family === 4 ? "224.0.0.0/4" : "ff00::/8";
  const masq = o.fullyRandom ? ["-j", "MASQUERADE", "--random-fully"] : ["-j", "MASQUERADE"];
  const r = (rule: string[]): RuleSpec => ({ table: "nat", chain: MASQ_CHAIN, rule: rule });
  return [
    { table: "nat", chain: "POSTROUTING", rule: [...MASQ_COMMENT, "-j", MASQ_CHAIN] },
    r(["-m", "mark", "--mark", "0x4000/0x4000", ...MASQ_COMMENT, "-j", "RETURN"]),
    r(["-s", o.pod, "-d", o.network, ...MASQ_COMMENT, "-j", "RETURN"]),
    r(["-s", o.network, "-d", o.pod, ...MASQ_COMMENT, "-j", "RETURN"]),
    r(["!", "-s", o.network, "-d", o.pod, ...MASQ_COMMENT, "-j", "RETURN"]),
    r(["-s", o.network, "!", "-d", multicast, ...MASQ_COMMENT, ...masq]),
    r(["!", "-s", o.network, "-d", o.network, ...MASQ_COMMENT, ...masq]),
  ];
}

export function forwardRules(network: string): RuleSpec[] {
  return [
    { table: "filter", chain: "FORWARD", rule: [...FWD_COMMENT, "-j", FWD_CHAIN] },
    { table: "filter", chain: FWD_CHAIN, rule: ["-s", network, ...FWD_COMMENT, "-j", "ACCEPT"] },
    { table: "filter", chain: FWD_CHAIN, rule: ["-d", network, ...FWD_COMMENT, "-j", "ACCEPT"] },
  ];
}

function quote(arg: string): string {
  return /^[\w./:!-]+$/.test(arg) ? arg : `"${arg.replace(/(["\\])/g, "\\$1")}"`;
}

/**
 * One iptables-restore --noflush payload per table: flush our own chain (creating it), drop our
 * jump from the built-in chain if present, then append everything in order. Idempotent.
 */
export function restorePayload(table: "nat" | "filter", rules: readonly RuleSpec[], jumpPresent: boolean): string {
  const mine = rules.filter((r) => r.table === table);
  const own = [...new Set(mine.map((r) => r.chain).filter((c) => c.startsWith("FLANNEL-")))];
  const lines = [`*${table}`, ...own.map((c) => `:${c} - [0:0]`)];
  for (const r of mine)
    if (!r.chain.startsWith("FLANNEL-") && jumpPresent) lines.push(`-D ${r.chain} ${r.rule.map(quote).join(" ")}`);
  for (const r of mine) lines.push(`-A ${r.chain} ${r.rule.map(quote).join(" ")}`);
  lines.push("COMMIT", "");
  return lines.join("\n");
}

export class IptablesRules {
  constructor(
    private readonly runner: CommandRunner,
    private readonly family: Family,
    /** the node's mode (linux/iptables-mode.ts); undefined: the plain `iptables` names */
    private readonly mode?: IptablesMode,
  ) {}

  private get bin(): string {
    return iptablesCommand(this.mode, this.family);
  }

  async exists(r: RuleSpec): Promise<boolean> {
    const res = await this.runner.run(this.bin, ["-w", "5", "-t", r.table, "-C", r.chain, ...r.rule]);
    return res.exitCode === 0;
  }

  /** Install (or re-install in order) the rules; jumps are appended once. */
  async ensure(rules: readonly RuleSpec[]): Promise<void> {
    for (const table of ["nat", "filter"] as const) {
      const mine = rules.filter((r) => r.table === table);
      if (mine.length === 0) continue;
      const jumps = mine.filter((r) => !r.chain.startsWith("FLANNEL-"));
      const jumpPresent = (await Promise.all(jumps.map((j) => this.exists(j)))).every(Boolean) && jumps.length > 0;
      const payload = restorePayload(table, mine, jumpPresent);
      const res = await this.runner.run(
        iptablesCommand(this.mode, this.family, "restore"),
        ["--noflush", "--wait"],
        payload,
      );
      if (res.exitCode !== 0)
        throw new Error(`${this.bin}-restore (table ${table}) failed: ${res.stderr.trim()}; payload:\n${payload}`);
    }
  }

  /** The rules that are missing now (for the resync loop); empty = all in place. */
  async missing(rules: readonly RuleSpec[]): Promise<RuleSpec[]> {
    const out: RuleSpec[] = [];
    for (const r of rules) if (!(await this.exists(r))) out.push(r);
    return out;
  }

  /** Remove our rules and chains (mode switch to nftables, or old network/subnet at start). */
  async remove(rules: readonly RuleSpec[]): Promise<void> {
    for (const r of rules.filter((x) => !x.chain.startsWith("FLANNEL-"))) {
      while (await this.exists(r))
        await this.runner.run(this.bin, ["-w", "5", "-t", r.table, "-D", r.chain, ...r.rule]);
    }
    for (const r of rules) {
      if (!r.chain.startsWith("FLANNEL-")) continue;
      await this.runner.run(this.bin, ["-w", "5", "-t", r.table, "-F", r.chain]);
      await this.runner.run(this.bin, ["-w", "5", "-t", r.table, "-X", r.chain]);
    }
  }
}
