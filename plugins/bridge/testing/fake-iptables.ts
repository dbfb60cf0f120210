/**
 * A tiny model of the iptables nat table for unit tests: answers `iptables -t nat -S [<chain>]` and
 * applies `iptables-restore --noflush` payloads (chain declarations, -A, -D, -X), normalising
 * `-s <ip>` to `-s <ip>/32` and `-d <ip>/<prefix>` to its network, as iptables prints them. nft listings answer with an
 * empty chain.
 */
import type { CommandResult } from "../../../linux/command.ts";

const ok = (stdout = ""): CommandResult => ({ exitCode: 0, stdout, stderr: "" });
const fail = (stderr: string): CommandResult => ({ exitCode: 1, stdout: "", stderr });

/** iptables -S order: matches first, the `-j target` last; `-s <ipv4>` gets /32. */
function canonical(chain: string, args: readonly string[]): string {
  const j = args.indexOf("-j");
  const target = j >= 0 ? args.slice(j, j + 2) : [];
  const rest = j >= 0 ? [...args.slice(0, j), ...args.slice(j + 2)] : [...args];
  return ["-A", chain, ...rest, ...target]
    .join(" ")
    .replace(/-s (\d+\.\d+\.\d+\.\d+) /, "-s $1/32 ")
    .replace(/-d (\d+\.\d+\.\d+\.\d+)\/(\d+) /, (_m, ip: string, p: string) => `-d ${maskV4(ip, Number(p))}/${p} `);
}

/** The network address of ip/prefix, as iptables prints a `-d` match. */
function maskV4(ip: string, prefix: number): string {
  const n = ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
  const masked = prefix === 0 ? 0 : n - (n % 2 ** (32 - prefix));
  return [24, 16, 8, 0].map((s) => Math.floor(masked / 2 ** s) % 256).join(".");
}

export class FakeIptables {
  readonly chains = new Map<string, string[]>([["POSTROUTING", []]]);

  answer = (cmd: string, args: readonly string[], input?: string): CommandResult | undefined => {
    if (cmd === "iptables" || cmd === "ip6tables") {
      const i = args.indexOf("-S");
      if (i < 0) return undefined;
      const chain = args[i + 1];
      if (chain === undefined) {
        const names = [...this.chains.keys()].filter((c) => c !== "POSTROUTING");
        return ok(
          ["-P POSTROUTING ACCEPT", ...names.map((c) => `-N ${c}`), ...[...this.chains.values()].flat()]
            .map((l) => `${l}\n`)
            .join(""),
        );
      }
      const rules = this.chains.get(chain);
      if (!rules) return fail(`iptables: No chain/target/match by that name.`);
      return ok(rules.map((r) => `${r}\n`).join(""));
    }
    if (cmd === "iptables-restore" || cmd === "ip6tables-restore") return this.restore(input ?? "");
    if (cmd === "nft" && args[0] === "-j") return ok('{"nftables":[]}');
    return undefined;
  };

  private restore(payload: string): CommandResult {
    const next = new Map([...this.chains].map(([k, v]) => [k, [...v]]));
    for (const line of payload.split("\n")) {
      if (line === "" || line === "*nat" || line === "COMMIT") continue;
      if (line.startsWith(":")) {
        next.set(line.slice(1).split(" ")[0] ?? "", []);
        continue;
      }
      const [op, chain = "", ...rest] = line.split(" ");
      const rules = next.get(chain);
      if (!rules) return fail(`iptables-restore: chain ${chain} does not exist`);
      const rule = canonical(chain, rest);
      if (op === "-A") rules.push(rule);
      else if (op === "-D") {
        const at = rules.indexOf(rule);
        if (at < 0) return fail(`iptables-restore: Bad rule (does a matching rule exist in that chain?)`);
        rules.splice(at, 1);
      } else if (op === "-X") {
        if ([...next.values()].some((rs) => rs.some((r) => r.endsWith(` -j ${chain}`))))
          return fail(`iptables-restore: chain ${chain} in use`);
        next.delete(chain);
      } else return fail(`iptables-restore: unknown line ${line}`);
    }
    this.chains.clear();
    for (const [k, v] of next) this.chains.set(k, v);
    return ok();
  }
}
