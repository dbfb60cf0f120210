import { describe, expect, it } from "vitest";
import { type IP, type IPNet, formatIP, parseCIDR, parseIP } from "./ip.ts";
import {
  type RangeInput,
  canonicalizeRange,
  canonicalizeRangeSet,
  rangeContains,
  rangeSetString,
  rangeString,
  rangesOverlap,
} from "./range.ts";

const ip = (s: string): IP => {
  const v = parseIP(s);
  if (v === undefined) throw new Error(`bad ip ${s}`);
  return v;
};
const net = (s: string): IPNet => {
  const v = parseCIDR(s);
  if (v === undefined) throw new Error(`bad cidr ${s}`);
  return v;
};
const input = (subnet: string, o: { start?: string; end?: string; gw?: string } = {}): RangeInput => ({
  subnet: net(subnet),
  rangeStart: o.start === undefined ? undefined : ip(o.start),
  rangeEnd: o.end === undefined ? undefined : ip(o.end),
  gateway: o.gw === undefined ? undefined : ip(o.gw),
});
const shown = (i: RangeInput) => {
  const r = canonicalizeRange(i);
  return { range: rangeString(r), gateway: formatIP(r.gateway) };
};

describe("range defaults (checklist 57)", () => {
  it.each([
    ["192.0.2.0/24", "192.0.2.1-192.0.2.254", "192.0.2.1"],
    ["192.0.2.0/25", "192.0.2.1-192.0.2.126", "192.0.2.1"],
    ["192.0.2.128/25", "192.0.2.129-192.0.2.254", "192.0.2.129"],
    ["10.0.0.0/30", "10.0.0.1-10.0.0.2", "10.0.0.1"],
    ["2001:db8:1::/64", "2001:db8:1::1-2001:db8:1:0:ffff:ffff:ffff:ffff", "2001:db8:1::1"],
  ])("%s gets range %s and gateway %s", (subnet, range, gateway) => {
    expect(shown(input(subnet))).toEqual({ range, gateway });
  });

  it("keeps an explicit window and gateway, even a gateway outside the window", () => {
    expect(shown(input("192.0.2.0/24", { start: "192.0.2.40", end: "192.0.2.50", gw: "192.0.2.254" }))).toEqual({
      range: "192.0.2.40-192.0.2.50",
      gateway: "192.0.2.254",
    });
  });
});

describe("range errors (checklist 57)", () => {
  it.each([
    ["192.0.2.0/31", input("192.0.2.0/31"), "Network 192.0.2.0/31 too small to allocate from"],
    ["192.0.2.0/32", input("192.0.2.0/32"), "Network 192.0.2.0/32 too small to allocate from"],
    ["2001:db8::/127", input("2001:db8::/127"), "Network 2001:db8::/127 too small to allocate from"],
    [
      "192.0.2.1/24",
      input("192.0.2.1/24"),
      "Network has host bits set. For a subnet mask of length 24 the network address is 192.0.2.0",
    ],
    ["::ffff:192.0.2.0/120", input("::ffff:192.0.2.0/120"), "IPNet IP and Mask version mismatch"],
    [
      "192.0.2.0/24 start: 192.0.3.0",
      input("192.0.2.0/24", { start: "192.0.3.0" }),
      "RangeStart 192.0.3.0 not in network 192.0.2.0/24",
    ],
    [
      "192.0.2.0/24 end: 192.0.4.0",
      input("192.0.2.0/24", { end: "192.0.4.0" }),
      "RangeEnd 192.0.4.0 not in network 192.0.2.0/24",
    ],
    [
      "192.0.2.0/24 start: 192.0.2.50, end: 192.0.2.40",
      input("192.0.2.0/24", { start: "192.0.2.50", end: "192.0.2.40" }),
      "RangeStart 192.0.2.50 not in network 192.0.2.0/24",
    ],
    [
      "192.0.2.0/24 start: 2001:db8::1",
      input("192.0.2.0/24", { start: "2001:db8::1" }),
      "RangeStart 2001:db8::1 not in network 192.0.2.0/24",
    ],
    ["no subnet", {}, 'subnet is missing: every range needs a "subnet" such as "10.1.2.0/24"'],
  ])("rejects %s with the reference message", (_label, i, message) => {
    expect(() => canonicalizeRange(i)).toThrow(message);
  });

  it("rejects an empty set, mixed families and overlapping ranges inside a set", () => {
    expect(() => canonicalizeRangeSet([])).toThrow("empty range set");
    expect(() => canonicalizeRangeSet([input("192.0.2.0/24"), input("2001:db8::/64")])).toThrow(
      "mixed address families",
    );
    expect(() => canonicalizeRangeSet([input("192.0.2.0/24"), input("192.0.2.0/25")])).toThrow(
      "subnets 192.0.2.1-192.0.2.254 and 192.0.2.1-192.0.2.126 overlap",
    );
  });

  it("accepts disjoint windows of one subnet in one set and prints the set joined by commas", () => {
    const set = canonicalizeRangeSet([
      input("192.0.2.0/24", { start: "192.0.2.10", end: "192.0.2.19" }),
      input("192.0.2.0/24", { start: "192.0.2.20", end: "192.0.2.29" }),
    ]);
    expect(rangeSetString(set)).toBe("192.0.2.10-192.0.2.19,192.0.2.20-192.0.2.29");
  });
});

describe("range membership", () => {
  const r = canonicalizeRange(input("192.0.2.0/24", { start: "192.0.2.10", end: "192.0.2.20" }));
  it.each([
    ["192.0.2.10", true],
    ["192.0.2.20", true],
    ["192.0.2.9", false],
    ["192.0.2.21", false],
    ["192.0.3.15", false],
    ["2001:db8::15", false],
  ])("%s in 192.0.2.10-192.0.2.20 is %s", (addr, inside) => {
    expect(rangeContains(r, ip(addr))).toBe(inside);
  });

  it("sees overlap only within one family", () => {
    const a = canonicalizeRange(input("192.0.2.0/24"));
    expect(rangesOverlap(a, canonicalizeRange(input("192.0.2.128/25")))).toBe(true);
    expect(rangesOverlap(a, canonicalizeRange(input("192.0.3.0/24")))).toBe(false);
    expect(rangesOverlap(a, canonicalizeRange(input("2001:db8::/64")))).toBe(false);
  });
});
