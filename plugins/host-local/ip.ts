/**
 * IP addresses and prefixes as host-local sees them: parsed with Go's `net.ParseIP` / `net.ParseCIDR`
 * strictness, held as (family, bigint) so range maths is exact, and printed the way Go prints them
 * (RFC 5952 for IPv6, dotted quad for IPv4 and IPv4-mapped IPv6). Parsing and printing go through the
 * `ip-address` package; arithmetic is plain bigint.
 */
import { createRequire } from "node:module";

type IpAddressLib = typeof import("ip-address");
let lib: IpAddressLib | undefined;

/**
 * `ip-address`, evaluated on first use: its module initialisation is a noticeable part of a compiled
 * exec, and a plugin exec that never parses an address (VERSION of host-local, bridge, flannel, which
 * all load this file) should not pay it. The literal `require("ip-address")` is what the Bun bundler
 * turns into a lazy module call; plain Node ESM (the unit tests) has no `require` and goes through
 * createRequire.
 */
function ipLib(): IpAddressLib {
  lib ??= (
    typeof require === "function" ? require("ip-address") : createRequire(import.meta.url)("ip-address")
  ) as IpAddressLib;
  return lib;
}

export type { Family } from "../../net/ip.ts";
import type { Family } from "../../net/ip.ts";

/** One address. IPv4-mapped IPv6 input (`::ffff:1.2.3.4`) is canonicalised to family 4, as Go does. */
export interface IP {
  readonly family: Family;
  readonly value: bigint;
}

/**
 * A parsed `<ip>/<prefix>`. `ip` keeps any host bits (Go's types.IPNet does), and `maskFamily` is the
 * family of the literal the prefix was written with, so `::ffff:1.2.3.4/120` (a v4 address with a v6
 * mask) can be reported as a version mismatch like the reference does.
 */
export interface IPNet {
  readonly ip: IP;
  readonly prefix: number;
  readonly maskFamily: Family;
}

export function familyBits(f: Family): number {
  return f === 4 ? 32 : 128;
}

const V4_TEXT = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const V6_TEXT = /^[0-9a-fA-F:.]+$/;
const MAPPED_PREFIX = 0xffffn << 32n;

/** Parse like Go's `net.ParseIP` (no prefix, no zone, no brackets, no leading zeros in v4); undefined if invalid. */
export function parseIP(text: string): IP | undefined {
  return parseAddr(text)?.ip;
}

/**
 * A canonical dotted quad ("10.1.2.3": four decimal octets, no leading zeros) as its value, without
 * the library: reservation file names are parsed and printed by the thousand on a full range.
 * undefined for anything else, which then takes the library's path.
 */
function canonicalV4(text: string): bigint | undefined {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return undefined;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return BigInt(value * 256 + octet);
}

function parseAddr(text: string): { ip: IP; literal: Family } | undefined {
  const quick = canonicalV4(text);
  if (quick !== undefined) return { ip: { family: 4, value: quick }, literal: 4 };
  if (V4_TEXT.test(text)) {
    const { Address4 } = ipLib();
    if (!Address4.isValid(text)) return undefined;
    return { ip: { family: 4, value: new Address4(text).bigInt() }, literal: 4 };
  }
  if (!text.includes(":") || !V6_TEXT.test(text)) return undefined;
  const { Address6 } = ipLib();
  if (!Address6.isValid(text)) return undefined;
  const value = new Address6(text).bigInt();
  if (value >> 32n === 0xffffn) return { ip: { family: 4, value: value - MAPPED_PREFIX }, literal: 6 };
  return { ip: { family: 6, value }, literal: 6 };
}

/** Parse like Go's `net.ParseCIDR` but keep the host bits of the address; undefined if invalid. */
export function parseCIDR(text: string): IPNet | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const addr = parseAddr(text.slice(0, slash));
  const bits = text.slice(slash + 1);
  if (addr === undefined || !/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  if (prefix > familyBits(addr.literal)) return undefined;
  return { ip: addr.ip, prefix, maskFamily: addr.literal };
}

/** Go's `net.IP.String()`. */
export function formatIP(ip: IP): string {
  if (ip.family === 4) {
    const v = Number(ip.value);
    return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const { Address4, Address6 } = ipLib();
  if (ip.value >> 32n === 0xffffn) return Address4.fromBigInt(ip.value - MAPPED_PREFIX).correctForm();
  return Address6.fromBigInt(ip.value).correctForm();
}

/**
 * Go's `net.IPNet.String()`: the address as stored (host bits included) and the prefix length. An
 * IPv4 address under an IPv6 mask (`::ffff:10.0.0.0/104`) prints with the mask's last 32 bits, as
 * Go does: `10.0.0.0/8` (and `/0` when the mask ends before them).
 */
export function formatCIDR(n: IPNet): string {
  const prefix = n.ip.family === 4 && n.maskFamily === 6 ? Math.max(0, n.prefix - 96) : n.prefix;
  return `${formatIP(n.ip)}/${prefix}`;
}

export function ipEqual(a: IP, b: IP): boolean {
  return a.family === b.family && a.value === b.value;
}

/** Numeric order of the address values (across families too, like Go's ip.Cmp). */
export function compareIP(a: IP, b: IP): number {
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** The next address, wrapping at the top of the family like Go's `ip.NextIP`. */
export function nextIP(ip: IP): IP {
  const max = (1n << BigInt(familyBits(ip.family))) - 1n;
  return { family: ip.family, value: ip.value === max ? 0n : ip.value + 1n };
}

function hostMask(n: IPNet): bigint {
  return (1n << BigInt(familyBits(n.ip.family) - n.prefix)) - 1n;
}

/** The network address (host bits cleared). */
export function networkAddress(n: IPNet): IP {
  return { family: n.ip.family, value: n.ip.value & ~hostMask(n) };
}

/** The last address of the prefix (all host bits set). */
export function lastAddress(n: IPNet): IP {
  return { family: n.ip.family, value: n.ip.value | hostMask(n) };
}

/** Whether `ip` is inside the prefix `n` (same family and same network bits). */
export function netContains(n: IPNet, ip: IP): boolean {
  if (ip.family !== n.ip.family) return false;
  const mask = hostMask(n);
  return (ip.value & ~mask) === (n.ip.value & ~mask);
}
