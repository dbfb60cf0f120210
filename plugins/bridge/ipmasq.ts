/**
 * Per-container masquerade rules, identical to the reference plugins' so either can clean up after
 * the other. iptables: a nat chain CNI-<24 hex of sha512(network + containerID)> with ACCEPT for the
 * pod's subnet and MASQUERADE for everything but multicast, jumped to from POSTROUTING by source.
 * nftables: table `inet cni_plugins_masquerade`, one commented rule per IP in chain masq_checks.
 */
import { createHash } from "node:crypto";
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import { formatCidr, formatIp, maskNet, parseCidr } from "../../daemon/ip.ts";
import type { CommandRunner } from "../shared/run.ts";

export type Backend = "iptables" | "nftables";

const TABLE = "cni_plugins_masquerade";
const CHAIN = "masq_checks";
const COMMENT_MAX = 128;

function hashHex(s: string, len: number): string {
  return createHash("sha512").update(s).digest("hex").slice(0, len);
}

/** "CNI-" + 24 hex: the reference's FormatChainName(network, containerID). */
export function chainName(network: string, containerID: string): string {
  return `CNI-${hashHex(network + containerID, 24)}`;
}

/** The reference's FormatComment: Go %q of both values. */
export function iptComment(network: string, containerID: string): string {
  return `name: ${JSON.stringify(network)} id: ${JSON.stringify(containerID)}`;
}

export function nftInstanceHash(network: string, ifname: string, containerID: string): string {
  return `${hashHex(network, 16)}-${hashHex(`${ifname}:${containerID}`, 16)}`;
}

export function nftComment(network: string, ifname: string, containerID: string): string {
  const strip = (s: string): string => s.replaceAll('"', "");
  const c = `${nftInstanceHash(network, ifname, containerID)}, net: ${strip(network)}, if: ${strip(ifname)}, id: ${strip(containerID)}`;
  return c.slice(0, COMMENT_MAX);
}

export interface MasqTarget {
  readonly network: string;
  readonly ifName: string;
  readonly containerID: string;
  /** Pod addresses with prefix, e.g. "10.244.1.5/24". */
  readonly addresses: readonly string[];
}

function parsed(cidr: string): { family: 4 | 6; ip: string; cidr: string; net: string } {
  const n = parseCidr(cidr);
  if (!n) throw new CniError(ErrorCode.Internal, `ipmasq: ${cidr} is not a CIDR`);
  return { family: n.family, ip: formatIp(n.family, n.ip), cidr: formatCidr(n), net: formatCidr(maskNet(n)) };
}

function failed(what: string, r: { stderr: string; stdout: string; exitCode: number }): CniError {
  return new CniError(ErrorCode.IOFailure, `${what} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
}

const NOT_EXIST = /does not exist|No chain\/target\/match by that name|Bad rule|No such file or directory|doesn't exist/i;

export class IpMasq {
  constructor(private readonly run: CommandRunner) {}

  /** True when `cmd` can be run (the reference's SupportsIPTables / SupportsNFTables). */
  async available(backend: Backend): Promise<boolean> {
    const r = backend === "iptables" ? await this.run("iptables", ["--version"]) : await this.run("nft", ["--version"]);
    return r.exitCode === 0;
  }

  /** iptables unless only nftables is available (the reference's default). */
  async defaultBackend(): Promise<Backend> {
    if (!(await this.available("iptables")) && (await this.available("nftables"))) return "nftables";
    return "iptables";
  }

  async setup(backend: Backend, t: MasqTarget): Promise<void> {
    if (backend === "iptables") for (const a of t.addresses) await this.setupIptables(t, parsed(a));
    else await this.setupNft(t);
  }

  /** Remove both backends' rules; errors count only for an available backend. */
  async teardown(t: MasqTarget): Promise<void> {
    const errs: string[] = [];
    try {
      for (const a of t.addresses) await this.teardownIptables(t, parsed(a));
    } catch (e) {
      if (await this.available("iptables")) errs.push((e as Error).message);
    }
    try {
      await this.teardownNft(t);
    } catch (e) {
      if (await this.available("nftables")) errs.push((e as Error).message);
    }
    if (errs.length > 0) throw new CniError(ErrorCode.IOFailure, `failed to remove masquerade rules: ${errs.join("; ")}`);
  }

  private ipt(family: 4 | 6, args: readonly string[]): ReturnType<CommandRunner> {
    return this.run(family === 4 ? "iptables" : "ip6tables", ["-w", "-t", "nat", ...args]);
  }

  private async setupIptables(t: MasqTarget, a: ReturnType<typeof parsed>): Promise<void> {
    const chain = chainName(t.network, t.containerID);
    const comment = ["-m", "comment", "--comment", iptComment(t.network, t.containerID)];
    const mcast = a.family === 4 ? "224.0.0.0/4" : "ff00::/8";
    const created = await this.ipt(a.family, ["-N", chain]);
    if (created.exitCode !== 0 && !/exists/i.test(created.stderr)) throw failed(`iptables -t nat -N ${chain}`, created);
    const rules: [string, string[]][] = [
      [chain, ["-d", a.cidr, "-j", "ACCEPT", ...comment]],
      [chain, ["!", "-d", mcast, "-j", "MASQUERADE", ...comment]],
      ["POSTROUTING", ["-s", a.ip, "-j", chain, ...comment]],
    ];
    for (const [c, spec] of rules) {
      if ((await this.ipt(a.family, ["-C", c, ...spec])).exitCode === 0) continue;
      const r = await this.ipt(a.family, ["-A", c, ...spec]);
      if (r.exitCode !== 0) throw failed(`iptables -t nat -A ${c}`, r);
    }
  }

  private async teardownIptables(t: MasqTarget, a: ReturnType<typeof parsed>): Promise<void> {
    const chain = chainName(t.network, t.containerID);
    const comment = ["-m", "comment", "--comment", iptComment(t.network, t.containerID)];
    const steps: string[][] = [
      ["-D", "POSTROUTING", "-s", a.ip, "-j", chain, ...comment],
      ["-D", "POSTROUTING", "-s", a.cidr, "-j", chain, ...comment],
      ["-F", chain],
      ["-X", chain],
    ];
    for (const s of steps) {
      const r = await this.ipt(a.family, s);
      if (r.exitCode !== 0 && !NOT_EXIST.test(r.stderr)) throw failed(`iptables -t nat ${s.slice(0, 2).join(" ")}`, r);
    }
  }

  /** Handles of masq_checks rules whose comment starts with `prefix`. */
  private async findNftRules(prefix: string): Promise<number[]> {
    const r = await this.run("nft", ["-j", "list", "chain", "inet", TABLE, CHAIN]);
    if (r.exitCode !== 0) {
      if (NOT_EXIST.test(r.stderr)) return [];
      throw failed(`nft list chain inet ${TABLE} ${CHAIN}`, r);
    }
    const handles: number[] = [];
    const doc = JSON.parse(r.stdout) as { nftables?: { rule?: { handle?: number; comment?: string } }[] };
    for (const item of doc.nftables ?? []) {
      const rule = item.rule;
      if (rule?.comment?.startsWith(prefix) && typeof rule.handle === "number") handles.push(rule.handle);
    }
    return handles;
  }

  private async nftApply(script: string): Promise<void> {
    const r = await this.run("nft", ["-f", "-"], script);
    if (r.exitCode !== 0) throw failed("nft -f -", r);
  }

  private async setupNft(t: MasqTarget): Promise<void> {
    const stale = await this.findNftRules(nftInstanceHash(t.network, t.ifName, t.containerID));
    const comment = nftComment(t.network, t.ifName, t.containerID);
    const lines = [
      `add table inet ${TABLE} { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }`,
      `add chain inet ${TABLE} ${CHAIN} { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }`,
      `add chain inet ${TABLE} postrouting { type nat hook postrouting priority 100 ; }`,
      `flush chain inet ${TABLE} postrouting`,
      `add rule inet ${TABLE} postrouting ip daddr == 224.0.0.0/4 return`,
      `add rule inet ${TABLE} postrouting ip6 daddr == ff00::/8 return`,
      `add rule inet ${TABLE} postrouting goto ${CHAIN}`,
      ...stale.map((h) => `delete rule inet ${TABLE} ${CHAIN} handle ${h}`),
      ...t.addresses.map((addr) => {
        const a = parsed(addr);
        const ip = a.family === 4 ? "ip" : "ip6";
        return `add rule inet ${TABLE} ${CHAIN} ${ip} saddr == ${a.ip} ${ip} daddr != ${a.net} masquerade comment ${JSON.stringify(comment)}`;
      }),
    ];
    await this.nftApply(`${lines.join("\n")}\n`);
  }

  private async teardownNft(t: MasqTarget): Promise<void> {
    const handles = await this.findNftRules(nftInstanceHash(t.network, t.ifName, t.containerID));
    if (handles.length === 0) return;
    await this.nftApply(`${handles.map((h) => `delete rule inet ${TABLE} ${CHAIN} handle ${h}`).join("\n")}\n`);
  }
}
