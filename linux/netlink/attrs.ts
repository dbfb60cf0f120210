/**
 * Netlink TLV attributes: a growable writer (headers, structs, attributes, nesting) and a
 * reader over received bytes. Host byte order is little-endian (x86_64, arm64); attributes the
 * kernel wants in network order (ports) have explicit `*be` helpers. Pure module.
 */
import { NLA_F_NESTED, NLA_TYPE_MASK } from "./constants.ts";

const LE = true;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** 4-byte netlink alignment. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

/** Builds one netlink message (or a fragment of one) byte by byte. */
export class NlWriter {
  private buf: Uint8Array;
  private dv: DataView;
  private len = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
    this.dv = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.len;
  }

  private reserve(n: number): number {
    const at = this.len;
    if (at + n > this.buf.byteLength) {
      const next = new Uint8Array(Math.max(this.buf.byteLength * 2, at + n + 64));
      next.set(this.buf.subarray(0, at));
      this.buf = next;
      this.dv = new DataView(next.buffer);
    }
    this.len += n;
    return at;
  }

  u8(v: number): this {
    const at = this.reserve(1); // reserve first: it may replace this.dv
    this.dv.setUint8(at, v);
    return this;
  }
  u16(v: number): this {
    const at = this.reserve(2); // reserve first: it may replace this.dv
    this.dv.setUint16(at, v, LE);
    return this;
  }
  u32(v: number): this {
    const at = this.reserve(4); // reserve first: it may replace this.dv
    this.dv.setUint32(at, v >>> 0, LE);
    return this;
  }
  i32(v: number): this {
    const at = this.reserve(4); // reserve first: it may replace this.dv
    this.dv.setInt32(at, v, LE);
    return this;
  }
  bytes(b: Uint8Array): this {
    const at = this.reserve(b.byteLength);
    this.buf.set(b, at);
    return this;
  }
  zeros(n: number): this {
    const at = this.reserve(n);
    this.buf.fill(0, at, this.len);
    return this;
  }
  /** Pad with zeros to the next 4-byte boundary. */
  pad(): this {
    return this.zeros(align4(this.len) - this.len);
  }
  /** Overwrite a u32 written earlier (message and attribute lengths). */
  patchU32(offset: number, v: number): void {
    this.dv.setUint32(offset, v >>> 0, LE);
  }
  patchU16(offset: number, v: number): void {
    this.dv.setUint16(offset, v, LE);
  }

  /** Start an attribute; close it with `end(offset)`. */
  begin(type: number): number {
    const at = this.len;
    this.u16(0).u16(type);
    return at;
  }
  end(offset: number): void {
    this.patchU16(offset, this.len - offset);
    this.pad();
  }

  attr(type: number, data: Uint8Array): this {
    const at = this.begin(type);
    this.bytes(data);
    this.end(at);
    return this;
  }
  /** An attribute with no payload (NLA_FLAG). */
  flag(type: number): this {
    this.end(this.begin(type));
    return this;
  }
  attrU8(type: number, v: number): this {
    const at = this.begin(type);
    this.u8(v);
    this.end(at);
    return this;
  }
  attrU16(type: number, v: number): this {
    const at = this.begin(type);
    this.u16(v);
    this.end(at);
    return this;
  }
  /** u16 in network byte order (ports). */
  attrU16be(type: number, v: number): this {
    const at = this.begin(type);
    this.u8((v >> 8) & 0xff).u8(v & 0xff);
    this.end(at);
    return this;
  }
  attrU32(type: number, v: number): this {
    const at = this.begin(type);
    this.u32(v);
    this.end(at);
    return this;
  }
  attrI32(type: number, v: number): this {
    const at = this.begin(type);
    this.i32(v);
    this.end(at);
    return this;
  }
  /** NUL-terminated string attribute. */
  attrStr(type: number, s: string): this {
    const at = this.begin(type);
    this.bytes(enc.encode(s)).u8(0);
    this.end(at);
    return this;
  }
  /** Nested attribute; `nestedFlag` sets NLA_F_NESTED (some kernel parsers require it). */
  nested(type: number, fill: (w: this) => void, nestedFlag = false): this {
    const at = this.begin(nestedFlag ? type | NLA_F_NESTED : type);
    fill(this);
    this.end(at);
    return this;
  }

  /** A copy of the bytes written so far. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** One received attribute; `data` is a view into the received buffer. */
export interface Attr {
  readonly type: number;
  readonly data: Uint8Array;
}

/** Split `buf[start, end)` into attributes; a truncated trailing attribute is ignored. */
export function parseAttrs(buf: Uint8Array, start = 0, end = buf.byteLength): Attr[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Attr[] = [];
  let off = start;
  while (off + 4 <= end) {
    const len = dv.getUint16(off, LE);
    const type = dv.getUint16(off + 2, LE) & NLA_TYPE_MASK;
    if (len < 4 || off + len > end) break;
    out.push({ type, data: buf.subarray(off + 4, off + len) });
    off += align4(len);
  }
  return out;
}

let cachedBuffer: ArrayBufferLike | undefined;
let cachedView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/**
 * One DataView over the whole ArrayBuffer behind `b`, read at absolute offsets
 * (`b.byteOffset + i`). Cached: the socket reuses one receive buffer, so decoding a dump creates
 * no views per message or per attribute.
 */
export function viewOf(b: Uint8Array): DataView<ArrayBufferLike> {
  if (b.buffer !== cachedBuffer) {
    cachedBuffer = b.buffer;
    cachedView = new DataView(b.buffer);
  }
  return cachedView;
}

const HEX = "0123456789abcdef";
/** Char codes of `xx:xx:xx:xx:xx:xx`, refilled per MAC: one flat string, no rope of 11 parts. */
const macCodes: number[] = Array.from({ length: 17 }, () => 58);
/** Char-code buffers by text length (`1.2.3.4` to `255.255.255.255/32`), for flat IPv4 strings. */
const ipCodes: number[][] = Array.from({ length: 19 }, (_, n) => new Array<number>(n).fill(0));
const digitsBuf: number[] = new Array<number>(19).fill(0);

/** Append the decimal digits of 0..255 to digitsBuf at n; returns the new length. */
function putDec(n: number, v: number): number {
  if (v >= 100) digitsBuf[n++] = 48 + Math.floor(v / 100);
  if (v >= 10) digitsBuf[n++] = 48 + (Math.floor(v / 10) % 10);
  digitsBuf[n++] = 48 + (v % 10);
  return n;
}

/**
 * Typed access to an attribute set (the last occurrence of a type wins in `get`). Lazy: nothing is
 * split or copied up front; each read scans the (few) attribute headers in place, and the numeric,
 * IP and MAC readers allocate nothing but their result.
 */
export class Attrs {
  private cached: Attr[] | undefined;
  /** Payload length of the attribute `find` found last. */
  private foundLen = 0;

  private constructor(
    private readonly buf: Uint8Array,
    private readonly start: number,
    private readonly end: number,
  ) {}

  static parse(buf: Uint8Array, start = 0, end = buf.byteLength): Attrs {
    return new Attrs(buf, start, Math.min(end, buf.byteLength));
  }

  /** Every attribute in order (materialized on first use). */
  get list(): readonly Attr[] {
    this.cached ??= parseAttrs(this.buf, this.start, this.end);
    return this.cached;
  }

  /** Offset in `buf` of the payload of the last attribute of `type` (length in foundLen), or -1. */
  private find(type: number): number {
    const dv = viewOf(this.buf);
    const base = this.buf.byteOffset;
    let found = -1;
    let off = this.start;
    while (off + 4 <= this.end) {
      const len = dv.getUint16(base + off, LE);
      if (len < 4 || off + len > this.end) break;
      if ((dv.getUint16(base + off + 2, LE) & NLA_TYPE_MASK) === type) {
        found = off + 4;
        this.foundLen = len - 4;
      }
      off += align4(len);
    }
    return found;
  }

  has(type: number): boolean {
    return this.find(type) >= 0;
  }
  get(type: number): Uint8Array | undefined {
    const at = this.find(type);
    return at < 0 ? undefined : this.buf.subarray(at, at + this.foundLen);
  }
  all(type: number): Uint8Array[] {
    return this.list.filter((a) => a.type === type).map((a) => a.data);
  }
  /** Payload length of `type`, or undefined when absent. */
  size(type: number): number | undefined {
    return this.find(type) < 0 ? undefined : this.foundLen;
  }
  private num(type: number, bytes: number): number {
    const at = this.find(type);
    return at < 0 || this.foundLen < bytes ? -1 : this.buf.byteOffset + at;
  }
  u8(type: number): number | undefined {
    const at = this.num(type, 1);
    return at < 0 ? undefined : viewOf(this.buf).getUint8(at);
  }
  u16(type: number): number | undefined {
    const at = this.num(type, 2);
    return at < 0 ? undefined : viewOf(this.buf).getUint16(at, LE);
  }
  u16be(type: number): number | undefined {
    const at = this.num(type, 2);
    return at < 0 ? undefined : viewOf(this.buf).getUint16(at, false);
  }
  u32(type: number): number | undefined {
    const at = this.num(type, 4);
    return at < 0 ? undefined : viewOf(this.buf).getUint32(at, LE);
  }
  i32(type: number): number | undefined {
    const at = this.num(type, 4);
    return at < 0 ? undefined : viewOf(this.buf).getInt32(at, LE);
  }
  /**
   * An IPv4 address attribute as one flat string, read in place; with `prefixLen`, as a CIDR
   * (`10.244.2.0/24`). IPv6 (and other lengths) through `get`.
   */
  ipv4(type: number, prefixLen?: number): string | undefined {
    const at = this.find(type);
    if (at < 0 || this.foundLen !== 4) return undefined;
    const b = this.buf;
    let n = 0;
    for (let i = 0; i < 4; i++) {
      if (i > 0) digitsBuf[n++] = 46;
      n = putDec(n, b[at + i] ?? 0);
    }
    if (prefixLen !== undefined && prefixLen >= 0 && prefixLen <= 32) {
      digitsBuf[n++] = 47;
      n = putDec(n, prefixLen);
    } else if (prefixLen !== undefined) return `${this.ipv4(type)}/${prefixLen}`;
    const codes = ipCodes[n];
    if (!codes) return undefined;
    for (let i = 0; i < n; i++) codes[i] = digitsBuf[i] ?? 0;
    return String.fromCharCode.apply(null, codes);
  }
  /** A 6-byte hardware address attribute as `aa:bb:cc:dd:ee:ff`; other lengths through `get`. */
  mac48(type: number): string | undefined {
    const at = this.find(type);
    if (at < 0 || this.foundLen !== 6) return undefined;
    const b = this.buf;
    for (let i = 0; i < 6; i++) {
      const x = b[at + i] ?? 0;
      macCodes[i * 3] = HEX.charCodeAt(x >> 4);
      macCodes[i * 3 + 1] = HEX.charCodeAt(x & 15);
    }
    return String.fromCharCode.apply(null, macCodes);
  }
  /** A string attribute without its trailing NUL. */
  str(type: number): string | undefined {
    const d = this.get(type);
    if (!d) return undefined;
    const nul = d.indexOf(0);
    return dec.decode(nul >= 0 ? d.subarray(0, nul) : d);
  }
  nested(type: number): Attrs | undefined {
    const at = this.find(type);
    return at < 0 ? undefined : new Attrs(this.buf, at, at + this.foundLen);
  }
}
