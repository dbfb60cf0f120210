/**
 * The flannel network config (net-conf.json in kube mode, `<prefix>/config` in etcd): parsing with
 * Go's case-insensitive key matching, reference defaults, and CheckNetworkConfig's validation.
 * Errors name the key, the value and the fix.
 */
import { getField, isObject } from "../libcni/validate/fields.ts";
import {
  blockSize,
  formatCidr,
  formatIp,
  hostMask,
  maskNet,
  parseCidr,
  parseIp,
  type Family,
  type IpNet,
} from "../net/prefix.ts";

/**
 * The backend types weft runs: the one table of them (net-conf `Backend.Type`, matched
 * case-insensitively). Any other type stops flanneld at start-up with an
 * {@link UnsupportedBackendError} naming these. One line per type.
 */
export const SUPPORTED_BACKENDS = ["vxlan", "host-gw", "ipip", "alloc", "extension", "wireguard", "udp"] as const;
export type BackendType = (typeof SUPPORTED_BACKENDS)[number];

/** The supported types as a quoted list for messages: "vxlan", "host-gw", ... */
export function supportedBackendList(): string {
  return SUPPORTED_BACKENDS.map((s) => `"${s}"`).join(", ");
}

export interface BackendConfig {
  readonly type: BackendType;
  /** VXLAN network identifier. @default 1 */
  readonly vni: number;
  /** UDP port: vxlan 0 = kernel default 8472; udp 0 = 8285. @default 0 */
  readonly port: number;
  /** Underlay MTU; 0 = the external interface MTU. @default 0 */
  readonly mtu: number;
  readonly gbp: boolean;
  readonly learning: boolean;
  readonly directRouting: boolean;
  /** The Backend object as written, for backends needing more keys. */
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface NetworkConfig {
  readonly enableIPv4: boolean;
  readonly enableIPv6: boolean;
  readonly enableNFTables: boolean;
  /** IPv4 cluster CIDR (masked); present when EnableIPv4. */
  readonly network?: IpNet;
  /** 0 until {@link checkNetworkConfig} fills the default. */
  readonly subnetLen: number;
  readonly subnetMin?: bigint;
  readonly subnetMax?: bigint;
  readonly ipv6Network?: IpNet;
  readonly ipv6SubnetLen: number;
  readonly ipv6SubnetMin?: bigint;
  readonly ipv6SubnetMax?: bigint;
  readonly backend: BackendConfig;
  /** True when the config had no Backend and vxlan was chosen (the reference would pick "udp"). */
  readonly backendDefaulted: boolean;
}

/** A mistake in the network config. `key` is the JSON key at fault. */
export class ConfigError extends Error {
  override readonly name: string = "ConfigError";
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * `Backend.Type` is missing or names a backend weft does not run. Unlike other config mistakes it
 * is not retried: flanneld exits at once (as flannel does for an unknown type), so a DaemonSet
 * crash-loops visibly instead of sitting unready.
 */
export class UnsupportedBackendError extends ConfigError {
  override readonly name = "UnsupportedBackendError";
  constructor(message: string) {
    super("Backend.Type", message);
  }
}

type Obj = Readonly<Record<string, unknown>>;

class Reader {
  constructor(
    readonly o: Obj,
    readonly where: string,
    readonly path: string,
  ) {}
  private fail(key: string, what: string, v: unknown): never {
    throw new ConfigError(
      `${this.path}${key}`,
      `${this.where}: "${this.path}${key}" must be ${what}, got ${JSON.stringify(v)}`,
    );
  }
  bool(key: string, def: boolean): boolean {
    const v = getField(this.o, key);
    if (v === undefined || v === null) return def;
    return typeof v === "boolean" ? v : this.fail(key, "true or false", v);
  }
  uint(key: string, def: number, max: number): number {
    const v = getField(this.o, key);
    if (v === undefined || v === null) return def;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max)
      return this.fail(key, `a whole number from 0 to ${max}`, v);
    return v;
  }
  cidr(key: string, family: Family, example: string): IpNet | undefined {
    const v = getField(this.o, key);
    if (v === undefined || v === null || v === "") return undefined;
    const n = typeof v === "string" ? parseCidr(v) : undefined;
    if (!n || n.family !== family) return this.fail(key, `an IPv${family} CIDR like "${example}"`, v);
    return maskNet(n);
  }
  ip(key: string, family: Family, example: string): bigint | undefined {
    const v = getField(this.o, key);
    if (v === undefined || v === null || v === "") return undefined;
    const a = typeof v === "string" ? parseIp(v) : undefined;
    if (!a || a.family !== family) return this.fail(key, `an IPv${family} address like "${example}"`, v);
    return a.ip;
  }
}

function parseBackend(raw: unknown, where: string): { backend: BackendConfig; defaulted: boolean } {
  if (raw === undefined || raw === null) {
    return { backend: { ...VXLAN_DEFAULTS, type: "vxlan", raw: {} }, defaulted: true };
  }
  if (!isObject(raw))
    throw new ConfigError(
      "Backend",
      `${where}: "Backend" must be an object like {"Type": "vxlan"}, got ${JSON.stringify(raw)}`,
    );
  const t = getField(raw, "Type");
  if (typeof t !== "string" || t === "") {
    throw new UnsupportedBackendError(
      `${where}: "Backend.Type" is missing: set it to one of ${supportedBackendList()}`,
    );
  }
  const type = t.toLowerCase();
  if (!(SUPPORTED_BACKENDS as readonly string[]).includes(type)) {
    throw new UnsupportedBackendError(
      `${where}: "Backend.Type" is "${t}", which weft does not support: use one of ${supportedBackendList()}`,
    );
  }
  const r = new Reader(raw, where, "Backend.");
  const backend: BackendConfig = {
    type: type as BackendType,
    vni: r.uint("VNI", VXLAN_DEFAULTS.vni, 16777215),
    port: r.uint("Port", 0, 65535),
    mtu: r.uint("MTU", 0, 65535),
    gbp: r.bool("GBP", false),
    learning: r.bool("Learning", false),
    directRouting: r.bool("DirectRouting", false),
    raw,
  };
  if (backend.mtu !== 0 && backend.mtu < 576) {
    throw new ConfigError(
      "Backend.MTU",
      `${where}: "Backend.MTU" is ${backend.mtu}: give the underlay MTU (at least 576) or 0 for the interface MTU`,
    );
  }
  return { backend, defaulted: false };
}

const VXLAN_DEFAULTS = { vni: 1, port: 0, mtu: 0, gbp: false, learning: false, directRouting: false } as const;

/**
 * Parse config JSON text. `where` names the source in messages (file path or etcd key).
 * Checks types and that the enabled families have a network; defaults are left to
 * {@link checkNetworkConfig} (etcd mode), as in the reference.
 */
export function parseNetworkConfig(text: string, where: string): NetworkConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(
      "",
      `${where}: not valid JSON (${e instanceof Error ? e.message : String(e)}): fix the syntax`,
    );
  }
  if (!isObject(doc))
    throw new ConfigError(
      "",
      `${where}: must be a JSON object like {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}`,
    );
  const r = new Reader(doc, where, "");
  const { backend, defaulted } = parseBackend(getField(doc, "Backend"), where);
  const cfg: NetworkConfig = {
    enableIPv4: r.bool("EnableIPv4", true),
    enableIPv6: r.bool("EnableIPv6", false),
    enableNFTables: r.bool("EnableNFTables", false),
    ...opt("network", r.cidr("Network", 4, "10.244.0.0/16")),
    subnetLen: r.uint("SubnetLen", 0, 32),
    ...opt("subnetMin", r.ip("SubnetMin", 4, "10.244.1.0")),
    ...opt("subnetMax", r.ip("SubnetMax", 4, "10.244.255.0")),
    ...opt("ipv6Network", r.cidr("IPv6Network", 6, "fc00::/48")),
    ipv6SubnetLen: r.uint("IPv6SubnetLen", 0, 128),
    ...opt("ipv6SubnetMin", r.ip("IPv6SubnetMin", 6, "fc00:0:0:1::")),
    ...opt("ipv6SubnetMax", r.ip("IPv6SubnetMax", 6, "fc00:0:0:ffff::")),
    backend,
    backendDefaulted: defaulted,
  };
  if (!cfg.enableIPv4 && !cfg.enableIPv6) {
    throw new ConfigError(
      "EnableIPv4",
      `${where}: both "EnableIPv4" and "EnableIPv6" are false: enable at least one family`,
    );
  }
  if (cfg.enableIPv4 && !cfg.network) {
    throw new ConfigError(
      "Network",
      `${where}: "Network" is missing: set the IPv4 cluster CIDR, ` +
        `e.g. "Network": "10.244.0.0/16" (or "EnableIPv4": false)`,
    );
  }
  if (cfg.enableIPv6 && !cfg.ipv6Network) {
    throw new ConfigError(
      "IPv6Network",
      `${where}: "IPv6Network" is missing while "EnableIPv6" is true: set it, e.g. "IPv6Network": "fc00::/48"`,
    );
  }
  return cfg;
}

function opt<K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
}

interface FamilyRule {
  readonly family: Family;
  readonly netKey: string;
  readonly lenKey: string;
  readonly minKey: string;
  readonly maxKey: string;
  /** Largest usable subnet prefix (30 / 126). */
  readonly maxLen: number;
  /** Default per-node prefix when the network is big enough (24 / 64). */
  readonly defLen: number;
}

const V4: FamilyRule = {
  family: 4,
  netKey: "Network",
  lenKey: "SubnetLen",
  minKey: "SubnetMin",
  maxKey: "SubnetMax",
  maxLen: 30,
  defLen: 24,
};
const V6: FamilyRule = {
  family: 6,
  netKey: "IPv6Network",
  lenKey: "IPv6SubnetLen",
  minKey: "IPv6SubnetMin",
  maxKey: "IPv6SubnetMax",
  maxLen: 126,
  defLen: 64,
};

function checkFamily(
  rule: FamilyRule,
  net: IpNet,
  len: number,
  min: bigint | undefined,
  max: bigint | undefined,
  where: string,
) {
  const e = (key: string, msg: string) => new ConfigError(key, `${where}: ${msg}`);
  if (len > 0) {
    if (len > rule.maxLen)
      throw e(
        rule.lenKey,
        `"${rule.lenKey}" is ${len}: it must be at most ${rule.maxLen} so each node gets room for a gateway and pods`,
      );
    if (len < net.prefix + 2) {
      throw e(
        rule.lenKey,
        `"${rule.lenKey}" is ${len} but "${rule.netKey}" is ${formatCidr(net)}: the ` +
          `network must hold at least four subnets, so use ${rule.lenKey} ≥ ${net.prefix + 2}`,
      );
    }
  } else if (net.prefix > rule.maxLen - 2) {
    throw e(
      rule.netKey,
      `"${rule.netKey}" ${formatCidr(net)} is too small: the minimum useful network prefix is /${rule.maxLen - 2}`,
    );
  } else {
    len = net.prefix <= rule.defLen - 2 ? rule.defLen : net.prefix + 2;
  }
  const size = blockSize(rule.family, len);
  const last = net.ip + hostMask(rule.family, net.prefix);
  const check = (key: string, v: bigint | undefined, def: bigint): bigint => {
    if (v === undefined) return def;
    if (v < net.ip || v > last)
      throw e(
        key,
        `"${key}" ${formatIp(rule.family, v)} is outside ` +
          `"${rule.netKey}" ${formatCidr(net)}: pick an address inside it`,
      );
    if ((v & hostMask(rule.family, len)) !== 0n) {
      throw e(
        key,
        `"${key}" ${formatIp(rule.family, v)} is not on a ${rule.lenKey} ` +
          `(/${len}) boundary: use the first address of a /${len}`,
      );
    }
    return v;
  };
  const lo = check(rule.minKey, min, net.ip + size);
  const hi = check(rule.maxKey, max, last + 1n - size);
  if (lo > hi)
    throw e(
      rule.minKey,
      `"${rule.minKey}" ${formatIp(rule.family, lo)} is above ` +
        `"${rule.maxKey}" ${formatIp(rule.family, hi)}: swap or fix them`,
    );
  return { len, lo, hi };
}

/** CheckNetworkConfig: fill SubnetLen/Min/Max defaults and validate them (etcd mode). */
export function checkNetworkConfig(cfg: NetworkConfig, where: string): NetworkConfig {
  let out: NetworkConfig = cfg;
  if (cfg.enableIPv4 && cfg.network) {
    const r = checkFamily(V4, cfg.network, cfg.subnetLen, cfg.subnetMin, cfg.subnetMax, where);
    out = { ...out, subnetLen: r.len, subnetMin: r.lo, subnetMax: r.hi };
  }
  if (cfg.enableIPv6 && cfg.ipv6Network) {
    const r = checkFamily(V6, cfg.ipv6Network, cfg.ipv6SubnetLen, cfg.ipv6SubnetMin, cfg.ipv6SubnetMax, where);
    out = { ...out, ipv6SubnetLen: r.len, ipv6SubnetMin: r.lo, ipv6SubnetMax: r.hi };
  }
  return out;
}
