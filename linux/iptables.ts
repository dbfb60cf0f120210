/**
 * iptables / ip6tables rule sets through the binaries (nf_tables or legacy backend, whichever
 * is installed): chains, rule check/append/insert/delete, listing and iptables-restore payloads.
 * Generic on purpose: the bridge plugin's ipMasq rules and flanneld's masquerade and forward
 * rules are built on top of it. Every call passes `--wait` unless disabled.
 */
import { CommandError, execaRunner, type CommandResult, type CommandRunner } from "./command.ts";

/** Options for {@link Iptables}. */
export interface IptablesOptions {
  /** 4 uses iptables, 6 ip6tables. @default 4 */
  readonly family?: 4 | 6;
  /** Pass `--wait` so concurrent callers queue on the xtables lock. @default true */
  readonly wait?: boolean;
  /** @default execaRunner */
  readonly runner?: CommandRunner;
}

/** A rule as iptables arguments after the chain, e.g. `["-s", "10.244.0.0/16", "-j", "RETURN"]`. */
export type Rule = readonly string[];

export interface IptablesVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** "nf_tables" or "legacy". */
  readonly mode: string;
}

export class Iptables {
  readonly family: 4 | 6;
  readonly binary: string;
  private readonly wait: boolean;
  private readonly runner: CommandRunner;

  constructor(opts: IptablesOptions = {}) {
    this.family = opts.family ?? 4;
    this.binary = this.family === 6 ? "ip6tables" : "iptables";
    this.wait = opts.wait ?? true;
    this.runner = opts.runner ?? execaRunner;
  }

  /** Run `iptables [--wait] -t table args`; returns the result without judging the exit code. */
  raw(table: string, args: readonly string[]): Promise<CommandResult> {
    return this.runner.run(this.binary, [...(this.wait ? ["--wait"] : []), "-t", table, ...args]);
  }

  private async must(table: string, args: readonly string[]): Promise<CommandResult> {
    const r = await this.raw(table, args);
    if (r.exitCode !== 0) throw new CommandError(this.binary, ["-t", table, ...args], r);
    return r;
  }

  /** Chains of a table (built-in and user-defined). */
  async listChains(table: string): Promise<string[]> {
    const r = await this.must(table, ["-S"]);
    return r.stdout
      .split("\n")
      .map((l) => /^-[PN] (\S+)/.exec(l)?.[1])
      .filter((c): c is string => c !== undefined);
  }

  async chainExists(table: string, chain: string): Promise<boolean> {
    return (await this.listChains(table)).includes(chain);
  }

  /** Create the chain if it does not exist. */
  async ensureChain(table: string, chain: string): Promise<void> {
    if (!(await this.chainExists(table, chain))) await this.must(table, ["-N", chain]);
  }

  /** Create the chain, or flush it when it exists (go-iptables ClearChain). */
  async clearChain(table: string, chain: string): Promise<void> {
    if (await this.chainExists(table, chain)) await this.must(table, ["-F", chain]);
    else await this.must(table, ["-N", chain]);
  }

  /** Flush and delete the chain; a missing chain is fine. Jumps to it must be gone first. */
  async deleteChain(table: string, chain: string): Promise<void> {
    if (!(await this.chainExists(table, chain))) return;
    await this.must(table, ["-F", chain]);
    await this.must(table, ["-X", chain]);
  }

  /** `-C`: true when the rule is present; false when it or its chain is absent. */
  async exists(table: string, chain: string, rule: Rule): Promise<boolean> {
    const r = await this.raw(table, ["-C", chain, ...rule]);
    if (r.exitCode === 0) return true;
    if (r.exitCode === 1) return false;
    throw new CommandError(this.binary, ["-t", table, "-C", chain, ...rule], r);
  }

  async append(table: string, chain: string, rule: Rule): Promise<void> {
    await this.must(table, ["-A", chain, ...rule]);
  }

  /** Append unless an identical rule is present. */
  async appendUnique(table: string, chain: string, rule: Rule): Promise<void> {
    if (!(await this.exists(table, chain, rule))) await this.append(table, chain, rule);
  }

  /** Insert at 1-based `position`. */
  async insert(table: string, chain: string, position: number, rule: Rule): Promise<void> {
    await this.must(table, ["-I", chain, String(position), ...rule]);
  }

  async delete(table: string, chain: string, rule: Rule): Promise<void> {
    await this.must(table, ["-D", chain, ...rule]);
  }

  /** Delete when present; returns whether a rule was deleted. */
  async deleteIfExists(table: string, chain: string, rule: Rule): Promise<boolean> {
    if (!(await this.exists(table, chain, rule))) return false;
    await this.delete(table, chain, rule);
    return true;
  }

  /** Rules of a chain in `-S` form, without the `-N chain` line. */
  async listRules(table: string, chain: string): Promise<string[]> {
    const r = await this.must(table, ["-S", chain]);
    return r.stdout.split("\n").filter((l) => l.startsWith("-A "));
  }

  /**
   * Feed an iptables-restore payload (`*nat ... COMMIT`). `noflush` (default) keeps rules the
   * payload does not mention.
   */
  async restore(payload: string, opts: { readonly noflush?: boolean } = {}): Promise<void> {
    const bin = `${this.binary}-restore`;
    const args = [...(opts.noflush ?? true ? ["--noflush"] : []), ...(this.wait ? ["--wait"] : [])];
    const r = await this.runner.run(bin, args, payload);
    if (r.exitCode !== 0) throw new CommandError(bin, args, r);
  }

  async version(): Promise<IptablesVersion> {
    const r = await this.runner.run(this.binary, ["--version"]);
    const m = /v(\d+)\.(\d+)\.(\d+)(?:\s+\((\S+)\))?/.exec(r.stdout);
    if (r.exitCode !== 0 || !m) throw new CommandError(this.binary, ["--version"], r);
    return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), mode: m[4] ?? "legacy" };
  }

  /** MASQUERADE --random-fully is supported from iptables 1.6.2. */
  async hasRandomFully(): Promise<boolean> {
    const v = await this.version();
    return v.major > 1 || (v.major === 1 && (v.minor > 6 || (v.minor === 6 && v.patch >= 2)));
  }
}
