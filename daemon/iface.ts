/**
 * Choosing the external interface and the public address like flanneld (--iface names or IPs in
 * order, then --iface-regex against IPs then names, else the interface of the default route),
 * from files and node:os only: /proc/net/route, /proc/net/ipv6_route, /sys/class/net/<if>/{mtu,ifindex}.
 * `--iface-can-reach` looks the route up in the main table from /proc (no policy routing).
 */
import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import type { FlannelFlags } from "./flags.ts";
import { parseIp } from "../net/prefix.ts";

export interface ExternalInterface {
  readonly name: string;
  readonly index: number;
  readonly mtu: number;
  /** First usable IPv4 address of the interface. */
  readonly ipv4?: string;
  readonly ipv6?: string;
  /** Address advertised to peers: --public-ip, else `ipv4`. */
  readonly publicIP?: string;
  readonly publicIPv6?: string;
}

/** What the selection reads; replaced in tests. */
export interface IfaceSources {
  readonly interfaces: () => Readonly<
    Record<string, readonly { address: string; family: string | number; internal: boolean }[] | undefined>
  >;
  readonly readFile: (path: string) => string;
}

export const SYSTEM_SOURCES: IfaceSources = { interfaces: networkInterfaces, readFile: (p) => readFileSync(p, "utf8") };

/** Options of {@link selectInterface}: the flanneld interface flags and the families net-conf enables. */
export type SelectOptions = Pick<FlannelFlags, "iface" | "ifaceRegex" | "ifaceCanReach" | "publicIp" | "publicIpv6"> & {
  readonly ipv4: boolean;
  readonly ipv6: boolean;
};

export class InterfaceError extends Error {
  override readonly name = "InterfaceError";
}

const fam = (f: string | number): 4 | 6 => (f === 6 || f === "IPv6" ? 6 : 4);

function addrs(src: IfaceSources, name: string, family: 4 | 6): string[] {
  const list = (src.interfaces()[name] ?? []).filter((a) => fam(a.family) === family && !a.internal);
  const global = list.filter((a) => !(family === 6 ? /^fe80:/i.test(a.address) : a.address.startsWith("169.254.")));
  return [...global, ...list.filter((a) => !global.includes(a))].map((a) => a.address);
}

/** Name of the interface of the lowest-metric default route, from /proc/net/route (or ipv6_route). */
export function defaultRouteInterface(src: IfaceSources, family: 4 | 6): string | undefined {
  let best: { name: string; metric: number } | undefined;
  try {
    if (family === 4) {
      for (const line of src.readFile("/proc/net/route").split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 8 || f[1] !== "00000000" || f[7] !== "00000000") continue;
        const metric = Number.parseInt(f[6] ?? "0", 10);
        if (!best || metric < best.metric) best = { name: f[0] ?? "", metric };
      }
    } else {
      for (const line of src.readFile("/proc/net/ipv6_route").split("\n")) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10 || f[0] !== "00000000000000000000000000000000" || f[1] !== "00" || f[9] === "lo") continue;
        const metric = Number.parseInt(f[5] ?? "0", 16);
        if (!best || metric < best.metric) best = { name: f[9] ?? "", metric };
      }
    }
  } catch {
    return undefined;
  }
  return best?.name;
}

/**
 * The interface the main routing table uses to reach `ip`: longest-prefix match over
 * /proc/net/route (or ipv6_route), lowest metric first. Policy routing rules are not consulted.
 */
export function routeInterface(src: IfaceSources, ip: string): string | undefined {
  const a = parseIp(ip);
  if (!a) return undefined;
  let best: { name: string; len: number; metric: number } | undefined;
  const consider = (name: string, len: number, metric: number) => {
    if (name === "lo" || name === "") return;
    if (!best || len > best.len || (len === best.len && metric < best.metric)) best = { name, len, metric };
  };
  try {
    if (a.family === 4) {
      for (const line of src.readFile("/proc/net/route").split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 8) continue;
        // Little-endian hex as the kernel prints it.
        const le = (h: string) => BigInt(`0x${(h.match(/../g) ?? []).reverse().join("")}`);
        const dst = le(f[1] ?? "0");
        const mask = le(f[7] ?? "0");
        if ((a.ip & mask) !== dst) continue;
        consider(f[0] ?? "", mask.toString(2).replace(/0/g, "").length, Number.parseInt(f[6] ?? "0", 10));
      }
    } else {
      for (const line of src.readFile("/proc/net/ipv6_route").split("\n")) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10) continue;
        const len = Number.parseInt(f[1] ?? "0", 16);
        const dst = BigInt(`0x${f[0]}`);
        const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(128 - len);
        if ((a.ip & mask) !== dst) continue;
        consider(f[9] ?? "", len, Number.parseInt(f[5] ?? "0", 16));
      }
    }
  } catch {
    return undefined;
  }
  return best?.name;
}

function describe(src: IfaceSources, name: string, o: SelectOptions, matched?: string): ExternalInterface {
  const read = (f: string): number => {
    try {
      return Number.parseInt(src.readFile(`/sys/class/net/${name}/${f}`).trim(), 10);
    } catch {
      return 0;
    }
  };
  const mtu = read("mtu");
  if (!mtu)
    throw new InterfaceError(
      `interface ${name} reports no MTU (/sys/class/net/${name}/mtu): pick another with --iface`,
    );
  const m = matched ? parseIp(matched) : undefined;
  const ipv4 = m?.family === 4 ? matched : addrs(src, name, 4)[0];
  const ipv6 = m?.family === 6 ? matched : addrs(src, name, 6)[0];
  if (o.ipv4 && !ipv4)
    throw new InterfaceError(
      `interface ${name} has no IPv4 address: give an interface with one via --iface, or set --public-ip`,
    );
  if (o.ipv6 && !ipv6)
    throw new InterfaceError(
      `interface ${name} has no IPv6 address while EnableIPv6 is true: pick another with --iface`,
    );
  const publicIP = o.publicIp || ipv4;
  const publicIPv6 = o.publicIpv6 || ipv6;
  return {
    name,
    index: read("ifindex"),
    mtu,
    ...(ipv4 ? { ipv4 } : {}),
    ...(ipv6 ? { ipv6 } : {}),
    ...(publicIP ? { publicIP } : {}),
    ...(publicIPv6 ? { publicIPv6 } : {}),
  };
}

/** Pick the external interface as flanneld does; errors say which flag to change. */
export function selectInterface(o: SelectOptions, src: IfaceSources = SYSTEM_SOURCES): ExternalInterface {
  for (const v of [o.publicIp, o.publicIpv6]) {
    if (v && !parseIp(v))
      throw new InterfaceError(`--public-ip/--public-ipv6 value ${JSON.stringify(v)} is not an IP address`);
  }
  const names = Object.keys(src.interfaces());
  const byIp = (ip: string) => names.find((n) => (src.interfaces()[n] ?? []).some((a) => a.address === ip));
  for (const want of o.iface) {
    const isIp = parseIp(want) !== undefined;
    const name = isIp ? byIp(want) : names.includes(want) ? want : undefined;
    if (name) return describe(src, name, o, isIp ? want : undefined);
  }
  for (const pattern of o.ifaceRegex) {
    let re: RegExp;
    try {
      re = new RegExp(pattern);
    } catch (e) {
      throw new InterfaceError(
        `--iface-regex ${JSON.stringify(pattern)} is not a valid regular expression: ${(e as Error).message}`,
      );
    }
    for (const n of names) {
      const hit = addrs(src, n, o.ipv4 ? 4 : 6).find((a) => re.test(a));
      if (hit) return describe(src, n, o, hit);
    }
    const name = names.find((n) => re.test(n));
    if (name) return describe(src, name, o);
  }
  if (o.iface.length > 0 || o.ifaceRegex.length > 0) {
    throw new InterfaceError(
      `no interface matches --iface ${JSON.stringify(o.iface)} / --iface-regex ` +
        `${JSON.stringify(o.ifaceRegex)}; interfaces here: ${names.join(", ")}`,
    );
  }
  if (o.ifaceCanReach) {
    if (!parseIp(o.ifaceCanReach))
      throw new InterfaceError(`--iface-can-reach=${o.ifaceCanReach} is not an IP address`);
    const via = routeInterface(src, o.ifaceCanReach);
    if (!via) throw new InterfaceError(`no route to --iface-can-reach=${o.ifaceCanReach}: add a route or give --iface`);
    return describe(src, via, o);
  }
  // Like flanneld, a public IP that is on a local interface selects that interface; unlike it, one
  // that is not (NAT) falls back to the default route instead of refusing to start.
  const pub = o.ipv4 ? o.publicIp : o.publicIpv6;
  const holder = pub ? byIp(pub) : undefined;
  if (pub && holder) return describe(src, holder, o, pub);
  const name = defaultRouteInterface(src, o.ipv4 ? 4 : 6);
  if (!name)
    throw new InterfaceError("no default route found to pick the interface from: add a default route or give --iface");
  if (o.ipv4 && o.ipv6) {
    const v6 = defaultRouteInterface(src, 6);
    if (v6 && v6 !== name)
      throw new InterfaceError(
        `the IPv4 default route uses ${name} but the IPv6 one uses ${v6}: dual-stack needs one interface, give --iface`,
      );
  }
  return describe(src, name, o);
}
