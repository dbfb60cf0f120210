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

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Typed access to a parsed attribute set (the last occurrence of a type wins in `get`). */
export class Attrs {
  private readonly byType = new Map<number, Uint8Array>();
  constructor(readonly list: readonly Attr[]) {
    for (const a of list) this.byType.set(a.type, a.data);
  }
  static parse(buf: Uint8Array, start = 0, end = buf.byteLength): Attrs {
    return new Attrs(parseAttrs(buf, start, end));
  }
  has(type: number): boolean {
    return this.byType.has(type);
  }
  get(type: number): Uint8Array | undefined {
    return this.byType.get(type);
  }
  all(type: number): Uint8Array[] {
    return this.list.filter((a) => a.type === type).map((a) => a.data);
  }
  u8(type: number): number | undefined {
    const d = this.get(type);
    return d && d.byteLength >= 1 ? d[0] : undefined;
  }
  u16(type: number): number | undefined {
    const d = this.get(type);
    return d && d.byteLength >= 2 ? view(d).getUint16(0, LE) : undefined;
  }
  u16be(type: number): number | undefined {
    const d = this.get(type);
    return d && d.byteLength >= 2 ? view(d).getUint16(0, false) : undefined;
  }
  u32(type: number): number | undefined {
    const d = this.get(type);
    return d && d.byteLength >= 4 ? view(d).getUint32(0, LE) : undefined;
  }
  i32(type: number): number | undefined {
    const d = this.get(type);
    return d && d.byteLength >= 4 ? view(d).getInt32(0, LE) : undefined;
  }
  /** A string attribute without its trailing NUL. */
  str(type: number): string | undefined {
    const d = this.get(type);
    if (!d) return undefined;
    const nul = d.indexOf(0);
    return dec.decode(nul >= 0 ? d.subarray(0, nul) : d);
  }
  nested(type: number): Attrs | undefined {
    const d = this.get(type);
    return d ? Attrs.parse(d) : undefined;
  }
}
