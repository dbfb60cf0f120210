/**
 * Per-container masquerade rules, identical to the reference plugins' so either can clean up after
 * the other. iptables: a nat chain CNI-<24 hex of sha512(network + containerID)> with ACCEPT for the
 * pod's subnet and MASQUERADE for everything but multicast, jumped to from POSTROUTING by source.
 * nftables: table `inet cni_plugins_masquerade`, one commented rule per IP in chain masq_checks.
 */
import { accessSync, constants } from "node:fs";
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import { formatCidr, formatIp, maskNet, parseCidr } from "../../net/prefix.ts";
import type { CommandRunner } from "../../linux/command.ts";
import { iptablesCommand, type IptablesMode } from "../../linux/iptables-mode.ts";

export type Backend = "iptables" | "nftables";

const TABLE = "cni_plugins_masquerade";
const CHAIN = "masq_checks";
const COMMENT_MAX = 128;

/**
 * node:crypto is loaded on first use only: evaluating it is a noticeable part of a plugin exec
 * under Bun, and most ADDs (flannel's delegate has ipMasq off) never hash anything.
 */
function hashHex(s: string, len: number): string {
  const { createHash } = process.getBuiltinModule("node:crypto");
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
  const c =
    `${nftInstanceHash(network, ifname, containerID)}, net: ` +
    `${strip(network)}, if: ${strip(ifname)}, id: ${strip(containerID)}`;
  return c.slice(0, COMMENT_MAX);
}

export interface MasqTarget {
  readonly network: string;
  readonly ifName: string;
  readonly containerID: string;
  /** Pod addresses with prefix, e.g. "10.244.1.5/24". */
  readonly addresses: readonly string[];
  /**
   * Teardown with no known address: remove every jump to the container's chain. Only when the pod
   * netns is gone (then no interface of the container is left); otherwise another interface of
   * the same container may still use the chain.
   */
  readonly wholeContainer?: boolean;
}

function parsed(cidr: string): { family: 4 | 6; ip: string; cidr: string; net: string } {
  const n = parseCidr(cidr);
  if (!n) throw new CniError(ErrorCode.Internal, `ipmasq: ${cidr} is not a CIDR`);
  return { family: n.family, ip: formatIp(n.family, n.ip), cidr: formatCidr(n), net: formatCidr(maskNet(n)) };
}

function failed(what: string, r: { stderr: string; stdout: string; exitCode: number }): CniError {
  return new CniError(ErrorCode.IOFailure, `${what} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
}

const NOT_EXIST =
  /does not exist|No chain\/target\/match by that name|Bad rule|No such file or directory|doesn't exist/i;

/** A `-S` rule line turned into arguments for iptables-restore (it understands the quoting of -S). */
function restoreLine(op: "-A" | "-D", chain: string, args: readonly string[]): string {
  const q = (a: string): string => (/^[A-Za-z0-9_.:/!-]+$/.test(a) ? a : JSON.stringify(a));
  return [op, chain, ...args.map(q)].join(" ");
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface IpMasqOptions {
  /** Directories searched for iptables / nft. @default $PATH plus /usr/sbin, /sbin */
  readonly path?: readonly string[];
  /** Whether a command exists on `path` (injected in tests). */
  readonly exists?: (file: string) => boolean;
  /**
   * The node's iptables mode (`iptables-legacy...` or `iptables-nft...` commands), as flanneld
   * detected it when its CNI server runs the plugin. @default the plain `iptables` names
   */
  readonly iptablesMode?: IptablesMode | undefined;
}

export class IpMasq {
  private readonly path: readonly string[];
  private readonly exists: (file: string) => boolean;
  private readonly mode: IptablesMode | undefined;

  constructor(
    private readonly runner: CommandRunner,
    o: IpMasqOptions = {},
  ) {
    this.path = o.path ?? [...(process.env["PATH"] ?? "").split(":").filter(Boolean), "/usr/sbin", "/sbin"];
    this.exists = o.exists ?? isExecutable;
    this.mode = o.iptablesMode;
  }

  private ipt(family: 4 | 6, tool: "iptables" | "restore" = "iptables"): string {
    return iptablesCommand(this.mode, family, tool);
  }

  /** True when the backend's command is installed (the reference's SupportsIPTables / SupportsNFTables). */
  available(backend: Backend): boolean {
    const cmd = backend === "iptables" ? this.ipt(4) : "nft";
    return this.path.some((d) => this.exists(`${d}/${cmd}`));
  }

  /** iptables unless only nftables is available (the reference's default). */
  defaultBackend(): Backend {
    return !this.available("iptables") && this.available("nftables") ? "nftables" : "iptables";
  }

  async setup(backend: Backend, t: MasqTarget): Promise<void> {
    if (backend === "iptables") {
      for (const family of [4, 6] as const) {
        const addrs = t.addresses.map(parsed).filter((a) => a.family === family);
        if (addrs.length > 0) await this.setupIptables(t, family, addrs);
      }
    } else {
      await this.setupNft(t);
    }
  }

  /** Remove both backends' rules; errors count only for an available backend. */
  async teardown(t: MasqTarget): Promise<void> {
    const errs: string[] = [];
    // the families of the known addresses; both when none are known (link and prevResult gone)
    const known = new Set(t.addresses.map((a) => parsed(a).family));
    const families = known.size > 0 ? [...known] : ([4, 6] as const);
    for (const family of families) {
      try {
        await this.teardownIptables(t, family);
      } catch (e) {
        if (this.available("iptables")) errs.push((e as Error).message);
      }
    }
    try {
      if (this.available("nftables")) await this.teardownNft(t);
    } catch (e) {
      errs.push((e as Error).message);
    }
    if (errs.length > 0)
      throw new CniError(ErrorCode.IOFailure, `failed to remove masquerade rules: ${errs.join("; ")}`);
  }

  private restore(family: 4 | 6, payload: string): ReturnType<CommandRunner["run"]> {
    return this.runner.run(this.ipt(family, "restore"), ["-w", "--noflush"], payload);
  }

  /**
   * One iptables-restore, with the reference's AppendUnique semantics: the chain is created when
   * missing, an existing one (another interface of the same container) keeps its rules and only
   * gets the ACCEPT / MASQUERADE rules it lacks, and each address gets its POSTROUTING jump.
   */
  private async setupIptables(
    t: MasqTarget,
    family: 4 | 6,
    addrs: readonly ReturnType<typeof parsed>[],
  ): Promise<void> {
    const chain = chainName(t.network, t.containerID);
    const comment = ["-m", "comment", "--comment", iptComment(t.network, t.containerID)];
    const mcast = family === 4 ? "224.0.0.0/4" : "ff00::/8";
    const { jumps: have, rules: existing } = await this.natState(family, chain);
    const lines = ["*nat", ...(existing === undefined ? [`:${chain} - [0:0]`] : [])];
    const present = (existing ?? []).map((l) => l.replace(/ -m comment --comment .*? -j /, " -j "));
    const appendUnique = (args: readonly string[], key: string): void => {
      if (present.includes(key)) return;
      present.push(key);
      lines.push(restoreLine("-A", chain, [...args, ...comment]));
    };
    for (const a of addrs) {
      appendUnique(["-d", a.cidr, "-j", "ACCEPT"], `-A ${chain} -d ${a.net} -j ACCEPT`);
      appendUnique(["!", "-d", mcast, "-j", "MASQUERADE"], `-A ${chain} ! -d ${mcast} -j MASQUERADE`);
    }
    for (const a of addrs) {
      const prefix = family === 4 ? 32 : 128;
      if (!have.some((l) => l.includes(` -s ${a.ip}/${prefix} `)))
        lines.push(restoreLine("-A", "POSTROUTING", ["-s", a.ip, "-j", chain, ...comment]));
    }
    lines.push("COMMIT", "");
    const r = await this.restore(family, lines.join("\n"));
    if (r.exitCode !== 0) throw failed(`${this.ipt(family, "restore")} (masquerade chain ${chain})`, r);
  }

  /**
   * The nat table as `-S` prints it: the POSTROUTING rules that jump to `chain`, and the chain's own
   * `-A` rules (undefined when it does not exist). One listing, as the reference's ListChains;
   * iptables-nft cannot list a missing chain on its own (it calls it "incompatible").
   */
  private async natState(family: 4 | 6, chain: string): Promise<{ jumps: string[]; rules: string[] | undefined }> {
    const r = await this.runner.run(this.ipt(family), ["-w", "-t", "nat", "-S"]);
    if (r.exitCode !== 0) throw failed(`${this.ipt(family)} -t nat -S`, r);
    const lines = r.stdout.split("\n");
    const jumps = lines.filter((l) => l.startsWith("-A POSTROUTING ") && l.endsWith(` -j ${chain}`));
    const exists = lines.includes(`-N ${chain}`);
    return { jumps, rules: exists ? lines.filter((l) => l.startsWith(`-A ${chain} `)) : undefined };
  }

  /**
   * Remove this interface's POSTROUTING jumps to the container's chain (by address; all of them
   * when the addresses are unknown and the pod netns is gone: `wholeContainer`), then the chain, unless
   * another interface of the same container still jumps to it. Declaring the chain first makes its
   * deletion valid whether or not it exists. (The reference flushes the shared chain and then fails
   * deleting it while the other interface's jump remains: its DEL keeps failing.)
   */
  private async teardownIptables(t: MasqTarget, family: 4 | 6): Promise<void> {
    const chain = chainName(t.network, t.containerID);
    const { jumps } = await this.natState(family, chain);
    const prefix = family === 4 ? 32 : 128;
    const ips = t.addresses
      .map(parsed)
      .filter((a) => a.family === family)
      .map((a) => ` -s ${a.ip}/${prefix} `);
    const mine =
      ips.length === 0 && t.wholeContainer === true ? jumps : jumps.filter((l) => ips.some((ip) => l.includes(ip)));
    const others = jumps.filter((l) => !mine.includes(l));
    const drop = others.length === 0 ? [`:${chain} - [0:0]`] : [];
    const payload = [
      "*nat",
      ...drop,
      ...mine.map((l) => `-D${l.slice(2)}`),
      ...(others.length === 0 ? [`-X ${chain}`] : []),
      "COMMIT",
      "",
    ].join("\n");
    const r = await this.restore(family, payload);
    if (r.exitCode !== 0) throw failed(`${this.ipt(family, "restore")} (remove ${chain})`, r);
  }

  /** Handles of masq_checks rules whose comment starts with `prefix`. */
  private async findNftRules(prefix: string): Promise<number[]> {
    const r = await this.runner.run("nft", ["-j", "list", "chain", "inet", TABLE, CHAIN]);
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
    const r = await this.runner.run("nft", ["-f", "-"], script);
    if (r.exitCode !== 0) throw failed("nft -f -", r);
  }

  private async setupNft(t: MasqTarget): Promise<void> {
    const stale = await this.findNftRules(nftInstanceHash(t.network, t.ifName, t.containerID));
    const comment = nftComment(t.network, t.ifName, t.containerID);
    const lines = [
      `add table inet ${TABLE} { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }`,
      `add chain inet ${TABLE} ${CHAIN} { comment "Masquerade traffic ` +
        `from certain IPs to any (non-multicast) IP outside their subnet" ; }`,
      `add chain inet ${TABLE} postrouting { type nat hook postrouting priority 100 ; }`,
      `flush chain inet ${TABLE} postrouting`,
      `add rule inet ${TABLE} postrouting ip daddr == 224.0.0.0/4 return`,
      `add rule inet ${TABLE} postrouting ip6 daddr == ff00::/8 return`,
      `add rule inet ${TABLE} postrouting goto ${CHAIN}`,
      ...stale.map((h) => `delete rule inet ${TABLE} ${CHAIN} handle ${h}`),
      ...t.addresses.map((addr) => {
        const a = parsed(addr);
        const ip = a.family === 4 ? "ip" : "ip6";
        return (
          `add rule inet ${TABLE} ${CHAIN} ${ip} saddr == ${a.ip} ${ip} ` +
          `daddr != ${a.net} masquerade comment ${JSON.stringify(comment)}`
        );
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
