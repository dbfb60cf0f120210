/**
 * The one address codec of the project: text <-> bytes for IPv4 and IPv6, with the rules of the
 * reference (Go net.ParseIP / net.ParseCIDR and their String()), used by results, configs, the
 * daemon and the netlink layer alike. Pure, no dependencies.
 *   - IPv4: four decimal octets, no leading zeros.
 *   - IPv6: RFC 4291 text (optionally with a trailing dotted IPv4), no zone; printed RFC 5952 style.
 *   - IPv4-mapped IPv6 (::ffff:a.b.c.d) prints as IPv4, its prefix shortened by 96.
 *   - CIDRs keep their host bits ("10.1.2.3/24" stays as is).
 */

/** An address family, as the rest of the project counts it. */
export type Family = 4 | 6;

/** 4 bytes (IPv4) or 16 bytes (IPv6). */
export type IpBytes = Uint8Array;

/** The family of address bytes, by their length. */
export function familyOf(ip: IpBytes): Family {
  return ip.length === 4 ? 4 : 6;
}

/** The family an address or CIDR text is written in: IPv6 when it has a colon. */
export function textFamily(s: string): Family {
  return s.includes(":") ? 6 : 4;
}

function parseV4(s: string): IpBytes | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? "";
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p.startsWith("0"))) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): IpBytes | undefined {
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (text: string, allowV4: boolean): number[] | undefined => {
    if (text === "") return [];
    const out: number[] = [];
    const parts = text.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] ?? "";
      if (allowV4 && i === parts.length - 1 && p.includes(".")) {
        const v4 = parseV4(p);
        if (!v4) return undefined;
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(Number.parseInt(p, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0] ?? "", halves.length === 1);
  const tail = halves.length === 2 ? groups(halves[1] ?? "", true) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Parse an IP address as Go's net.ParseIP does; undefined when invalid. */
export function parseIP(s: string): IpBytes | undefined {
  return s.includes(":") ? parseV6(s) : parseV4(s);
}

/** The IPv4 bytes of an IPv4 or IPv4-mapped IPv6 address (Go's To4), else undefined. */
export function toV4(ip: IpBytes): IpBytes | undefined {
  if (ip.length === 4) return ip;
  for (let i = 0; i < 10; i++) if (ip[i] !== 0) return undefined;
  if (ip[10] !== 0xff || ip[11] !== 0xff) return undefined;
  return ip.subarray(12);
}

/** RFC 5952 text of 16 address bytes: the longest run of two or more zero groups, the first on a tie, is "::". */
function v6Text(ip: IpBytes): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((ip[i] ?? 0) << 8) | (ip[i + 1] ?? 0));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** Canonical text of an address (Go's IP.String): IPv4-mapped IPv6 prints as IPv4. */
export function formatIP(ip: IpBytes): string {
  const v4 = toV4(ip);
  if (v4) return Array.from(v4).join(".");
  return v6Text(ip);
}

export interface Cidr {
  readonly ip: IpBytes;
  readonly prefix: number;
}

/** Parse "addr/prefix" as Go's net.ParseCIDR does (host bits kept); undefined when invalid. */
export function parseCIDR(s: string): Cidr | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  const p = s.slice(slash + 1);
  // Any number of digits, leading zeros included ("/0024" is 24), as Go's dtoi reads them.
  if (!ip || !/^\d+$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > ip.length * 8) return undefined;
  return { ip, prefix };
}

/** Canonical text of a CIDR (Go's IPNet.String). */
export function formatCIDR(c: Cidr): string {
  const mapped = c.ip.length === 16 && toV4(c.ip) !== undefined;
  return `${formatIP(c.ip)}/${mapped ? Math.max(0, c.prefix - 96) : c.prefix}`;
}

/** Canonical form of an address text, or undefined when it does not parse. */
export function normalizeIP(s: string): string | undefined {
  const ip = parseIP(s);
  return ip ? formatIP(ip) : undefined;
}

/** Canonical form of a CIDR text, or undefined when it does not parse. */
export function normalizeCIDR(s: string): string | undefined {
  const c = parseCIDR(s);
  return c ? formatCIDR(c) : undefined;
}

/** True for an IPv4 (or IPv4-mapped) address or CIDR text; decides "4"/"6" and 0.2.0 families. */
export function isIPv4Text(s: string): boolean {
  const slash = s.indexOf("/");
  const ip = parseIP(slash < 0 ? s : s.slice(0, slash));
  return ip !== undefined && toV4(ip) !== undefined;
}

/**
 * Address bytes for the kernel: {@link parseIP} after dropping an IPv6 zone ("fe80::1%eth0");
 * throws TypeError naming the text when it is not an address.
 */
export function ipBytes(s: string): IpBytes {
  const pct = s.indexOf("%");
  const ip = parseIP(pct >= 0 && s.includes(":") ? s.slice(0, pct) : s);
  if (!ip) throw new TypeError(`invalid IP address "${s}"`);
  return ip;
}

/** True when `s` is an IPv4 or IPv6 address text ({@link ipBytes} accepts it). */
export function isIP(s: string): boolean {
  try {
    ipBytes(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * Text of address bytes by their length, as the kernel reports them: 4 bytes dotted, 16 bytes in
 * RFC 5952 hex groups (an IPv4-mapped address stays IPv6: "::ffff:c000:201").
 */
export function bytesText(ip: IpBytes): string {
  if (ip.length === 4) return Array.from(ip).join(".");
  if (ip.length !== 16) throw new TypeError(`address of ${ip.length} bytes`);
  return v6Text(ip);
}

/** A CIDR as the netlink layer passes it: canonical address text and prefix length. */
export interface PrefixText {
  readonly ip: string;
  readonly prefixLen: number;
}

/** Parse `ip/len` for the kernel (a bare address gets the full-length prefix); throws TypeError. */
export function prefixText(s: string): PrefixText {
  const slash = s.indexOf("/");
  const bytes = ipBytes(slash >= 0 ? s.slice(0, slash) : s);
  const max = bytes.length * 8;
  const len = slash >= 0 ? s.slice(slash + 1) : String(max);
  if (!/^\d{1,3}$/.test(len) || Number(len) > max) throw new TypeError(`invalid CIDR "${s}"`);
  return { ip: bytesText(bytes), prefixLen: Number(len) };
}

/** The address with all host bits cleared (the network address). */
export function networkOf(ip: IpBytes, prefixLen: number): IpBytes {
  const out = ip.slice();
  for (let bit = prefixLen; bit < out.length * 8; bit++) out[bit >> 3] = (out[bit >> 3] ?? 0) & ~(0x80 >> (bit & 7));
  return out;
}

/** The address with all host bits set (the IPv4 broadcast address). */
export function broadcastOf(ip: IpBytes, prefixLen: number): IpBytes {
  const out = ip.slice();
  for (let bit = prefixLen; bit < out.length * 8; bit++) out[bit >> 3] = (out[bit >> 3] ?? 0) | (0x80 >> (bit & 7));
  return out;
}
