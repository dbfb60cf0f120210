/** Address bytes <-> text for the netlink codec: IPv4, IPv6 (RFC 5952 output), CIDR, MAC. Pure. */

export type Family = 4 | 6;

function bad(what: string, s: string): TypeError {
  return new TypeError(`invalid ${what} "${s}"`);
}

function parseV4(s: string): Uint8Array | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? "";
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): Uint8Array | undefined {
  let text = s;
  const pct = text.indexOf("%");
  if (pct >= 0) text = text.slice(0, pct);
  const words: number[] = [];
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parseHalf = (h: string): number[] | undefined => {
    if (h === "") return [];
    const out: number[] = [];
    const groups = h.split(":");
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i] ?? "";
      if (i === groups.length - 1 && g.includes(".")) {
        const v4 = parseV4(g);
        if (!v4) return undefined;
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const head = parseHalf(halves[0] ?? "");
  const tail = halves.length === 2 ? parseHalf(halves[1] ?? "") : [];
  if (!head || !tail) return undefined;
  if (halves.length === 2) {
    const fill = 8 - head.length - tail.length;
    if (fill < 1) return undefined;
    words.push(...head, ...new Array<number>(fill).fill(0), ...tail);
  } else {
    if (head.length !== 8) return undefined;
    words.push(...head);
  }
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  });
  return out;
}

/** 4 bytes for IPv4 text, 16 for IPv6 (a `%zone` suffix is ignored); throws TypeError otherwise. */
export function parseIp(s: string): Uint8Array {
  const b = s.includes(":") ? parseV6(s) : parseV4(s);
  if (!b) throw bad("IP address", s);
  return b;
}

export function isIp(s: string): boolean {
  return (s.includes(":") ? parseV6(s) : parseV4(s)) !== undefined;
}

export function ipFamily(s: string): Family {
  return s.includes(":") ? 6 : 4;
}

/** Text form of 4 or 16 address bytes (IPv6 in RFC 5952 canonical form). */
export function formatIp(b: Uint8Array): string {
  if (b.byteLength === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.byteLength !== 16) throw new TypeError(`address of ${b.byteLength} bytes`);
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(((b[i * 2] ?? 0) << 8) | (b[i * 2 + 1] ?? 0));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((x) => x.toString(16)).join(":");
  if (bestAt < 0) return hex(w);
  return `${hex(w.slice(0, bestAt))}::${hex(w.slice(bestAt + bestLen))}`;
}

/** An address with a prefix length, e.g. `10.244.1.2/24`. */
export interface Cidr {
  readonly ip: string;
  readonly prefixLen: number;
}

/** Parse `ip/len` (a bare IP gets the full-length prefix). */
export function parseCidr(s: string): Cidr {
  const slash = s.indexOf("/");
  const ipText = slash >= 0 ? s.slice(0, slash) : s;
  const bytes = parseIp(ipText);
  const max = bytes.byteLength * 8;
  const lenText = slash >= 0 ? s.slice(slash + 1) : String(max);
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) throw bad("CIDR", s);
  return { ip: formatIp(bytes), prefixLen: Number(lenText) };
}

export function formatCidr(c: Cidr): string {
  return `${c.ip}/${c.prefixLen}`;
}

/** The address with all host bits cleared (the network address). */
export function networkOf(ip: Uint8Array, prefixLen: number): Uint8Array {
  const out = ip.slice();
  for (let bit = prefixLen; bit < out.byteLength * 8; bit++) {
    const i = bit >> 3;
    out[i] = (out[i] ?? 0) & ~(0x80 >> (bit & 7));
  }
  return out;
}

/** The address with all host bits set (IPv4 broadcast). */
export function broadcastOf(ip: Uint8Array, prefixLen: number): Uint8Array {
  const out = ip.slice();
  for (let bit = prefixLen; bit < out.byteLength * 8; bit++) {
    const i = bit >> 3;
    out[i] = (out[i] ?? 0) | (0x80 >> (bit & 7));
  }
  return out;
}

/** Hardware address bytes from `aa:bb:cc:dd:ee:ff` (any number of octets, `:` or `-`). */
export function parseMac(s: string): Uint8Array {
  const parts = s.split(/[:-]/);
  if (parts.length < 2 || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) throw bad("MAC address", s);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMac(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
}
