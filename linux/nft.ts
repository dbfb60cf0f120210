/**
 * nftables through the `nft` binary: apply scripts atomically (`nft -f -`, optionally check-only)
 * and read state as JSON (`nft -j list ...`). Generic: flanneld's nftables masquerade and the
 * bridge plugin's nftables ipMasq are written as scripts on top of it.
 */
import { CommandError, execaRunner, type CommandRunner } from "./command.ts";

export type NftFamily = "ip" | "ip6" | "inet" | "arp" | "bridge" | "netdev";

/** Options for {@link Nft}. */
export interface NftOptions {
  /** @default execaRunner */
  readonly runner?: CommandRunner;
}

/** One object of `nft -j` output, e.g. `{table: {...}}`, `{chain: {...}}`, `{rule: {...}}`. */
export type NftObject = Readonly<Record<string, unknown>>;

export interface NftTable {
  readonly family: string;
  readonly name: string;
  readonly handle: number;
}
export interface NftChain extends NftTable {
  readonly table: string;
  readonly type?: string;
  readonly hook?: string;
  readonly prio?: number;
}
export interface NftRule {
  readonly family: string;
  readonly table: string;
  readonly chain: string;
  readonly handle: number;
  readonly comment?: string;
  readonly expr: readonly unknown[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Quote a string for an nft script (comments, names with special characters). */
export function nftQuote(s: string): string {
  if (s.includes('"') || s.includes("\n")) throw new TypeError(`nft strings cannot contain quotes or newlines: ${JSON.stringify(s)}`);
  return `"${s}"`;
}

/** Parse `nft -j` output into its objects, dropping `metainfo`. */
export function parseNftJson(text: string): NftObject[] {
  if (text.trim() === "") return [];
  const doc: unknown = JSON.parse(text);
  const list = isRecord(doc) ? doc["nftables"] : undefined;
  if (!Array.isArray(list)) throw new TypeError("nft -j output has no nftables array");
  return list.filter((o): o is NftObject => isRecord(o) && !("metainfo" in o));
}

function pick<T>(objs: readonly NftObject[], key: string, ok: (v: Record<string, unknown>) => T | undefined): T[] {
  const out: T[] = [];
  for (const o of objs) {
    const v = o[key];
    if (isRecord(v)) {
      const t = ok(v);
      if (t !== undefined) out.push(t);
    }
  }
  return out;
}

export function tablesOf(objs: readonly NftObject[]): NftTable[] {
  return pick(objs, "table", (v) => ({ family: String(v["family"]), name: String(v["name"]), handle: Number(v["handle"]) }));
}

export function chainsOf(objs: readonly NftObject[]): NftChain[] {
  return pick(objs, "chain", (v) => ({
    family: String(v["family"]),
    table: String(v["table"]),
    name: String(v["name"]),
    handle: Number(v["handle"]),
    ...(typeof v["type"] === "string" ? { type: v["type"] } : {}),
    ...(typeof v["hook"] === "string" ? { hook: v["hook"] } : {}),
    ...(typeof v["prio"] === "number" ? { prio: v["prio"] } : {}),
  }));
}

export function rulesOf(objs: readonly NftObject[]): NftRule[] {
  return pick(objs, "rule", (v) => ({
    family: String(v["family"]),
    table: String(v["table"]),
    chain: String(v["chain"]),
    handle: Number(v["handle"]),
    ...(typeof v["comment"] === "string" ? { comment: v["comment"] } : {}),
    expr: Array.isArray(v["expr"]) ? (v["expr"] as unknown[]) : [],
  }));
}

export class Nft {
  private readonly runner: CommandRunner;
  constructor(opts: NftOptions = {}) {
    this.runner = opts.runner ?? execaRunner;
  }

  /** Apply a script as one transaction; `check` only validates it (`nft -c`). */
  async apply(script: string, opts: { readonly check?: boolean } = {}): Promise<void> {
    const args = [...(opts.check ? ["-c"] : []), "-f", "-"];
    const r = await this.runner.run("nft", args, script);
    if (r.exitCode !== 0) throw new CommandError("nft", args, r);
  }

  /** True when the script would apply (nft -c succeeds). */
  async accepts(script: string): Promise<boolean> {
    const r = await this.runner.run("nft", ["-c", "-f", "-"], script);
    return r.exitCode === 0;
  }

  /** `nft -j list <what...>`; a missing table or chain gives undefined. */
  async list(what: readonly string[]): Promise<NftObject[] | undefined> {
    const args = ["-j", "list", ...what];
    const r = await this.runner.run("nft", args);
    if (r.exitCode !== 0) {
      if (/No such file or directory|does not exist/i.test(r.stderr)) return undefined;
      throw new CommandError("nft", args, r);
    }
    return parseNftJson(r.stdout);
  }

  async listRuleset(family?: NftFamily): Promise<NftObject[]> {
    return (await this.list(family ? ["ruleset", family] : ["ruleset"])) ?? [];
  }

  async tableExists(family: NftFamily, table: string): Promise<boolean> {
    return (await this.list(["table", family, table])) !== undefined;
  }

  /** Rules of a table, or of one chain; empty when absent. */
  async rules(family: NftFamily, table: string, chain?: string): Promise<NftRule[]> {
    const objs = await this.list(chain ? ["chain", family, table, chain] : ["table", family, table]);
    return objs ? rulesOf(objs) : [];
  }

  /** Delete a table and everything in it; returns false when it was absent. */
  async deleteTable(family: NftFamily, table: string): Promise<boolean> {
    if (!(await this.tableExists(family, table))) return false;
    await this.apply(`delete table ${family} ${table}\n`);
    return true;
  }

  async deleteRule(family: NftFamily, table: string, chain: string, handle: number): Promise<void> {
    await this.apply(`delete rule ${family} ${table} ${chain} handle ${handle}\n`);
  }

  /** True when the nft binary runs. */
  async available(): Promise<boolean> {
    return (await this.runner.run("nft", ["--version"])).exitCode === 0;
  }
}
