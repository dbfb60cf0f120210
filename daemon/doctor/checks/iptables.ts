/**
 * iptables: which backend (legacy or nft) holds the host's rules and which holds flanneld's, and
 * whether the FORWARD chain lets pod traffic through. The kernel runs the hooks of both backends,
 * so a DROP policy in either one drops pod traffic unless that same backend accepts it; and rules
 * written into the backend the host does not use are rules nobody else sees (flannel#1317).
 */
import { formatCidr } from "../../../net/prefix.ts";
import { fail, ok, skip, type CheckResult } from "../check.ts";
import type { DoctorContext } from "../context.ts";
import type { NodeFacts } from "../facts.ts";

export type IptablesMode = "legacy" | "nft";

/** One backend's rule set as `iptables-<mode>-save` prints it. */
export interface RuleSet {
  readonly mode: IptablesMode;
  /** table -> chain -> policy ("-" for user chains). */
  readonly chains: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** Rules as `-A CHAIN ...` lines, by table. */
  readonly rules: ReadonlyMap<string, readonly string[]>;
}

export function parseSave(mode: IptablesMode, text: string): RuleSet {
  const chains = new Map<string, Map<string, string>>();
  const rules = new Map<string, string[]>();
  let table = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("*")) {
      table = line.slice(1);
      chains.set(table, new Map());
      rules.set(table, []);
    } else if (line.startsWith(":")) {
      const [name = "", policy = "-"] = line.slice(1).split(" ");
      chains.get(table)?.set(name, policy);
    } else if (line.startsWith("-A ")) rules.get(table)?.push(line);
  }
  return { mode, chains, rules };
}

function hasChain(s: RuleSet, prefix: string): boolean {
  for (const c of s.chains.values()) for (const name of c.keys()) if (name.startsWith(prefix)) return true;
  return false;
}

/**
 * Both backends' IPv4 rule sets, read with `iptables-legacy-save` and `iptables-nft-save`; a
 * backend whose tool is missing or has no tables is left out.
 */
export async function readRuleSets(ctx: Pick<DoctorContext, "run">, family: 4 | 6 = 4): Promise<RuleSet[]> {
  const tool = family === 4 ? "iptables" : "ip6tables";
  const out: RuleSet[] = [];
  for (const mode of ["legacy", "nft"] as const) {
    const r = await ctx.run.run(`${tool}-${mode}-save`, []);
    if (r.exitCode !== 0) continue;
    const set = parseSave(mode, r.stdout);
    if (set.chains.size > 0) out.push(set);
  }
  return out;
}

/**
 * The backend the host's other rules (kube-proxy, the kubelet, Docker) live in, the way
 * kube-proxy's iptables-wrapper decides: the kubelet's canary / kube-proxy's hint chains, else the
 * backend with more rules. undefined when neither has any rule but flanneld's.
 */
export function hostMode(sets: readonly RuleSet[]): IptablesMode | undefined {
  // nft first, as iptables-wrapper looks
  const ordered = [...sets].sort((a, b) => (a.mode === b.mode ? 0 : a.mode === "nft" ? -1 : 1));
  const hinted = ordered.find((s) => hasChain(s, "KUBE-IPTABLES-HINT") || hasChain(s, "KUBE-KUBELET-CANARY"));
  if (hinted) return hinted.mode;
  const foreign = sets
    .map((s) => ({ mode: s.mode, n: [...s.rules.values()].flat().filter((r) => !/FLANNEL-/.test(r)).length }))
    .filter((x) => x.n > 0)
    .sort((a, b) => b.n - a.n);
  return foreign[0]?.mode;
}

/** Whether FORWARD in this backend accepts traffic from and to the cluster network. */
function forwardAccepts(s: RuleSet, network: string): boolean {
  const rules = s.rules.get("filter") ?? [];
  const jump = rules.some((r) => r.startsWith("-A FORWARD ") && /-j FLANNEL-FWD\b/.test(r));
  const accept = (dir: "-s" | "-d", chain: string) =>
    rules.some((r) => r.startsWith(`-A ${chain} `) && r.includes(`${dir} ${network}`) && / -j ACCEPT\b/.test(r));
  if (jump && accept("-s", "FLANNEL-FWD") && accept("-d", "FLANNEL-FWD")) return true;
  return accept("-s", "FORWARD") && accept("-d", "FORWARD");
}

export async function iptablesCheck(ctx: DoctorContext, f: NodeFacts): Promise<CheckResult[]> {
  const c = f.config;
  if (!c?.network || !c.enableIPv4) return [skip("iptables", "iptables", "needs the network config (IPv4)")];
  const network = formatCidr(c.network);
  const sets = await readRuleSets(ctx);
  if (sets.length === 0)
    return [
      fail(
        "iptables",
        "iptables",
        "neither iptables-legacy-save nor iptables-nft-save ran",
        "install iptables (flanneld needs it for its rules)",
      ),
    ];
  const out: CheckResult[] = [];
  const host = hostMode(sets);
  const flannel = sets.filter((s) => hasChain(s, "FLANNEL-"));
  const modeTitle = "iptables mode";
  if (c.enableNFTables) {
    const r = await ctx.run.run("nft", ["list", "table", "ip", "flannel-ipv4"]);
    out.push(
      r.exitCode === 0
        ? ok("iptables-mode", modeTitle, "EnableNFTables: flanneld's rules are in the nftables table ip flannel-ipv4")
        : fail(
            "iptables-mode",
            modeTitle,
            "EnableNFTables is set but there is no nftables table ip flannel-ipv4",
            "flanneld installs it at start and restores it within --iptables-resync seconds: is flanneld running?",
          ),
    );
  } else if (flannel.length === 0) {
    out.push(
      fail(
        "iptables-mode",
        modeTitle,
        "no FLANNEL-POSTRTG / FLANNEL-FWD chain in either iptables backend",
        "flanneld installs them at start (with --ip-masq and --iptables-forward-rules) and restores them within " +
          "--iptables-resync seconds: is flanneld running?",
      ),
    );
  } else if (flannel.length > 1) {
    out.push(
      fail(
        "iptables-mode",
        modeTitle,
        "flanneld's chains are in both iptables-legacy and iptables-nft: one set is left from a run in the other mode",
        `remove the set in the backend the host does not use (${host ? `keep ${host}` : "see iptables --version"}): ` +
          "iptables-<mode> -t nat -F FLANNEL-POSTRTG, -t filter -F FLANNEL-FWD, and their jumps",
      ),
    );
  } else {
    const mode = flannel[0]?.mode;
    if (host && mode !== host)
      out.push(
        fail(
          "iptables-mode",
          modeTitle,
          `flanneld's rules are in iptables-${mode}, but the host's (kube-proxy, kubelet) are in iptables-${host}`,
          `flanneld follows the kubelet's mode at start (its log: msg="iptables mode"); unset a ` +
            `WEFT_IPTABLES_MODE that forces ${mode}, or set it to ${host}, and restart flanneld; then remove the ` +
            `stale FLANNEL chains from iptables-${mode} (or make the host use one mode: update-alternatives)`,
        ),
      );
    else
      out.push(
        ok(
          "iptables-mode",
          modeTitle,
          `flanneld's rules in iptables-${mode}${host ? ", as the host's" : " (no other rules on the host)"}`,
        ),
      );
  }
  const drops = sets.filter((s) => s.chains.get("filter")?.get("FORWARD") === "DROP");
  const blocked = drops.filter((s) => !forwardAccepts(s, network));
  const fwdTitle = "FORWARD policy";
  if (blocked.length > 0) {
    out.push(
      fail(
        "forward",
        fwdTitle,
        blocked
          .map((s) => `iptables-${s.mode} FORWARD policy is DROP and nothing there accepts ${network}`)
          .join("; ") + " (both backends' hooks run: a DROP in either drops pod traffic)",
        ctx.flags.iptablesForwardRules
          ? `flanneld adds its FLANNEL-FWD accepts to one backend only: accept ${network} in iptables-` +
              `${blocked.map((s) => s.mode).join(" and iptables-")} too (iptables-<mode> -A FORWARD -s ${network} ` +
              `-j ACCEPT, and -d), or set the policy to ACCEPT there`
          : "run flanneld with --iptables-forward-rules=true (it adds FLANNEL-FWD), " +
              `or accept ${network} in FORWARD yourself`,
      ),
    );
  } else {
    out.push(
      ok(
        "forward",
        fwdTitle,
        sets.map((s) => `${s.mode} ${s.chains.get("filter")?.get("FORWARD") ?? "no filter table"}`).join(", ") +
          (drops.length > 0 ? `; ${network} accepted where DROP` : ""),
      ),
    );
  }
  return out;
}
