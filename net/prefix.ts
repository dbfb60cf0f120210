/**
 * IPv4/IPv6 addresses and prefixes as bigints: the arithmetic the lease allocator, the config
 * validation and the subnet.env codec need, with Go's text forms (RFC 5952 for IPv6, as Go's
 * net.IP.String prints them) so keys and files stay byte-compatible with flannel. The text codec
 * itself is ./ip.ts (Go's rules, shared with results, configs and the kernel); this module adds the math.
 */
import { type Family, formatIP, parseIP } from "./ip.ts";

export type { Family } from "./ip.ts";

/** A prefix such as 10.244.1.0/24. `ip` is kept as given; use {@link maskNet} for the network. */
export interface IpNet {
  readonly family: Family;
  readonly ip: bigint;
  readonly prefix: number;
}

export function bits(family: Family): number {
  return family === 4 ? 32 : 128;
}

function toBigint(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

function toBytes(family: Family, ip: bigint): Uint8Array {
  const out = new Uint8Array(family === 4 ? 4 : 16);
  for (let i = out.length - 1, v = ip; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

/** Parse an address with Go's net.ParseIP rules; undefined when it is not a valid IPv4 or IPv6 literal. */
export function parseIp(s: string): { family: Family; ip: bigint } | undefined {
  const b = parseIP(s);
  return b ? { family: b.length === 4 ? 4 : 6, ip: toBigint(b) } : undefined;
}

/** Format an address the way Go's net.IP.String does (RFC 5952 for IPv6). */
export function formatIp(family: Family, ip: bigint): string {
  return formatIP(toBytes(family, ip));
}

/** Parse `addr/len`; returns undefined on anything Go's net.ParseCIDR would reject. */
export function parseCidr(s: string): IpNet | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const addr = parseIp(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (!addr || !/^\d{1,3}$/.test(lenText)) return undefined;
  const prefix = Number(lenText);
  if (prefix > bits(addr.family)) return undefined;
  return { family: addr.family, ip: addr.ip, prefix };
}

export function formatCidr(n: IpNet): string {
  return `${formatIp(n.family, n.ip)}/${n.prefix}`;
}

export function hostMask(family: Family, prefix: number): bigint {
  return (1n << BigInt(bits(family) - prefix)) - 1n;
}

/** The network address of `n` (host bits cleared). */
export function maskNet(n: IpNet): IpNet {
  return { family: n.family, ip: n.ip & ~hostMask(n.family, n.prefix), prefix: n.prefix };
}

/** Number of addresses in a prefix of this length. */
export function blockSize(family: Family, prefix: number): bigint {
  return 1n << BigInt(bits(family) - prefix);
}

export function containsIp(net: IpNet, family: Family, ip: bigint): boolean {
  if (net.family !== family) return false;
  const m = maskNet(net);
  return ip >= m.ip && ip <= m.ip + hostMask(net.family, net.prefix);
}

/** True when `inner` lies completely inside `outer`. */
export function containsNet(outer: IpNet, inner: IpNet): boolean {
  return inner.prefix >= outer.prefix && containsIp(outer, inner.family, inner.ip);
}

export function overlaps(a: IpNet, b: IpNet): boolean {
  if (a.family !== b.family) return false;
  return containsIp(a, b.family, maskNet(b).ip) || containsIp(b, a.family, maskNet(a).ip);
}

export function sameNet(a: IpNet, b: IpNet): boolean {
  return a.family === b.family && a.prefix === b.prefix && maskNet(a).ip === maskNet(b).ip;
}
