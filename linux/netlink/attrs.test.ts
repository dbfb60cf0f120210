import { describe, expect, it } from "vitest";
import { Attrs, NlWriter, align4, parseAttrs } from "./attrs.ts";
import { NLA_F_NESTED } from "./constants.ts";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

describe("netlink attributes", () => {
  it("encodes a u32 attribute as length, type, little-endian value", () => {
    expect(hex(new NlWriter().attrU32(4, 1450).finish())).toBe("08000400aa050000");
  });

  it("pads strings with their NUL to 4 bytes but counts only the real length", () => {
    // "eth0\0" = 5 bytes -> nla_len 9, padded to 12
    expect(hex(new NlWriter().attrStr(3, "eth0").finish())).toBe("0900030065746830" + "00000000");
  });

  it("writes u16 ports in network byte order when asked", () => {
    expect(hex(new NlWriter().attrU16be(15, 8472).finish())).toBe("06000f0021180000");
  });

  it("closes nested attributes with the total length and can set NLA_F_NESTED", () => {
    const w = new NlWriter().nested(18, (n) => n.attrStr(1, "veth").attrU8(2, 1), true);
    const b = w.finish();
    const [outer] = parseAttrs(b);
    expect(outer?.type).toBe(18);
    expect(new DataView(b.buffer).getUint16(2, true)).toBe(18 | NLA_F_NESTED);
    expect(new DataView(b.buffer).getUint16(0, true)).toBe(b.byteLength);
    const inner = Attrs.parse(outer?.data ?? new Uint8Array());
    expect(inner.str(1)).toBe("veth");
    expect(inner.u8(2)).toBe(1);
  });

  it("writes flag attributes with no payload", () => {
    expect(hex(new NlWriter().flag(23).finish())).toBe("04001700");
  });

  it("reads typed values back and lets the last duplicate win in get() while all() keeps every one", () => {
    const b = new NlWriter().attrU32(1, 7).attrI32(2, -1).attrU16(3, 513).attrU16be(4, 80).attrU32(1, 9).finish();
    const a = Attrs.parse(b);
    expect(a.u32(1)).toBe(9);
    expect(a.all(1).length).toBe(2);
    expect(a.i32(2)).toBe(-1);
    expect(a.u16(3)).toBe(513);
    expect(a.u16be(4)).toBe(80);
    expect(a.has(5)).toBe(false);
    expect(a.u32(5)).toBeUndefined();
  });

  it("stops at a truncated attribute instead of reading past the end", () => {
    const b = new NlWriter().attrU32(1, 7).finish();
    const cut = new Uint8Array([...b, 0x10, 0x00, 0x02, 0x00, 1, 2]);
    expect(parseAttrs(cut).map((x) => x.type)).toEqual([1]);
  });

  it("grows its buffer past the initial capacity", () => {
    const w = new NlWriter(8);
    for (let i = 0; i < 100; i++) w.attrU32(i, i);
    expect(parseAttrs(w.finish())).toHaveLength(100);
  });

  it("aligns to 4 bytes", () => {
    expect([0, 1, 4, 5, 7, 8].map(align4)).toEqual([0, 4, 4, 8, 8, 8]);
  });
  it("reads IPv4 and MAC attributes in place, at any offset of a larger buffer, and nested sets lazily", () => {
    const inner = new NlWriter().attrU32(1, 1400).finish();
    const body = new NlWriter()
      .attr(1, new Uint8Array([10, 244, 2, 0]))
      .attr(2, new Uint8Array([0x0e, 0, 0xab, 1, 2, 0xff]))
      .attr(3, inner)
      .attr(4, new Uint8Array([1, 2, 3]))
      .finish();
    const big = new Uint8Array(body.byteLength + 12);
    big.set(body, 12);
    const a = Attrs.parse(big.subarray(4), 8);
    expect(a.ipv4(1)).toBe("10.244.2.0");
    expect(a.mac48(2)).toBe("0e:00:ab:01:02:ff");
    expect(a.ipv4(2)).toBeUndefined(); // wrong length: not an IPv4 address
    expect(a.nested(3)?.u32(1)).toBe(1400);
    expect(a.size(4)).toBe(3);
    expect(a.u32(4)).toBeUndefined(); // too short for a u32
    expect(a.list.map((x) => x.type)).toEqual([1, 2, 3, 4]);
  });
  it("formats IPv4 attributes as flat text, with a prefix length as a CIDR, from the shortest to the longest", () => {
    const a = Attrs.parse(
      new NlWriter()
        .attr(1, new Uint8Array([0, 0, 0, 0]))
        .attr(2, new Uint8Array([255, 255, 255, 255]))
        .attr(3, new Uint8Array([10, 9, 100, 199]))
        .finish(),
    );
    expect(a.ipv4(1)).toBe("0.0.0.0");
    expect(a.ipv4(1, 0)).toBe("0.0.0.0/0");
    expect(a.ipv4(2, 32)).toBe("255.255.255.255/32");
    expect(a.ipv4(3, 24)).toBe("10.9.100.199/24");
    expect(a.ipv4(3)).toBe("10.9.100.199");
    expect(a.ipv4(3, 40)).toBe("10.9.100.199/40");
  });
});
