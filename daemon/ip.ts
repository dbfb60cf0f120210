/**
 * IPv4/IPv6 addresses and prefixes as bigints: the arithmetic the lease allocator, the config
 * validation and the subnet.env codec need, with Go's text forms (RFC 5952 for IPv6, as Go's
 * net.IP.String prints them) so keys and files stay byte-compatible with flannel.
 */

export type Family = 4 | 6;

/** A prefix such as 10.244.1.0/24. `ip` is kept as given; use {@link maskNet} for the network. */
export interface IpNet {
  readonly family: Family;
  readonly ip: bigint;
  readonly prefix: number;
}

export function bits(family: Family): number {
  return family === 4 ? 32 : 128;
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === "") return [];
    const out: number[] = [];
    const items = h.split(":");
    for (let i = 0; i < items.length; i++) {
      const it = items[i] ?? "";
      if (it.includes(".")) {
        if (i !== items.length - 1) return undefined;
        const v4 = parseV4(it);
        if (v4 === undefined) return undefined;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return undefined;
        out.push(parseInt(it, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0] ?? "");
  const tail = halves.length === 2 ? groups(halves[1] ?? "") : [];
  if (!head || !tail) return undefined;
  let all: number[];
  if (halves.length === 2) {
    const fill = 8 - head.length - tail.length;
    if (fill < 1) return undefined;
    all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  } else {
    all = head;
  }
  if (all.length !== 8) return undefined;
  return all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** Parse an address; returns undefined when it is not a valid IPv4 or IPv6 literal. */
export function parseIp(s: string): { family: Family; ip: bigint } | undefined {
  const v4 = parseV4(s);
  if (v4 !== undefined) return { family: 4, ip: v4 };
  if (!s.includes(":")) return undefined;
  const v6 = parseV6(s);
  return v6 === undefined ? undefined : { family: 6, ip: v6 };
}

/** Format an address the way Go's net.IP.String does (RFC 5952 for IPv6). */
export function formatIp(family: Family, ip: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((ip >> s) & 0xffn)).join(".");
  }
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((ip >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(":");
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
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
