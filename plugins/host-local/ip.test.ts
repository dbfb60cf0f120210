import { describe, expect, it } from "vitest";
import { formatCIDR, formatIP, lastAddress, netContains, networkAddress, nextIP, parseCIDR, parseIP } from "./ip.ts";

const must = <T>(v: T | undefined): T => {
  if (v === undefined) throw new Error("unexpected undefined");
  return v;
};

describe("IP text like Go's net package", () => {
  it.each([
    ["10.1.2.3", "10.1.2.3"],
    ["2001:DB8:0:0:1::1", "2001:db8::1:0:0:1"],
    ["1:0:0:0:2:0:0:0", "1::2:0:0:0"],
    ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"],
    ["::ffff:1.2.3.4", "1.2.3.4"],
    ["::1.2.3.4", "::102:304"],
  ])("parses %s and prints it as %s", (input, printed) => {
    expect(formatIP(must(parseIP(input)))).toBe(printed);
  });

  it.each(["010.1.2.3", "1.2.3", "256.1.1.1", " 10.1.1.1", "10.1.1.1/24", "fe80::1%eth0", "[::1]", "1::2::3", ""])(
    "rejects %j as an address",
    (input) => {
      expect(parseIP(input)).toBeUndefined();
    },
  );

  it("treats an IPv4-mapped IPv6 address as IPv4", () => {
    expect(parseIP("::ffff:10.0.0.1")).toEqual(parseIP("10.0.0.1"));
  });

  it("keeps host bits of a CIDR and records the family of the mask", () => {
    const n = must(parseCIDR("10.1.2.3/24"));
    expect(formatCIDR(n)).toBe("10.1.2.3/24");
    expect(formatIP(networkAddress(n))).toBe("10.1.2.0");
    expect(formatIP(lastAddress(n))).toBe("10.1.2.255");
    expect(must(parseCIDR("::ffff:1.2.3.4/120"))).toMatchObject({ maskFamily: 6, ip: { family: 4 } });
  });

  it.each([
    ["::ffff:10.0.0.0/104", "10.0.0.0/8"],
    ["::ffff:10.1.2.3/120", "10.1.2.3/24"],
    ["::ffff:10.0.0.0/64", "10.0.0.0/0"],
    ["::ffff:0.0.0.0/96", "0.0.0.0/0"],
  ])("prints the IPv4-mapped prefix %s with the last 32 bits of its mask, as Go does: %s", (input, printed) => {
    expect(formatCIDR(must(parseCIDR(input)))).toBe(printed);
  });

  it.each(["10.1.2.0", "10.1.2.0/33", "10.1.2.0/", "2001:db8::/129", "10.1.2.0/-1", "x/24"])(
    "rejects %j as a CIDR",
    (input) => {
      expect(parseCIDR(input)).toBeUndefined();
    },
  );

  it("steps to the next address across byte boundaries", () => {
    expect(formatIP(nextIP(must(parseIP("10.1.2.255"))))).toBe("10.1.3.0");
    expect(formatIP(nextIP(must(parseIP("2001:db8::ffff"))))).toBe("2001:db8::1:0");
  });

  it("matches addresses of the same family only", () => {
    const n = must(parseCIDR("10.1.2.0/24"));
    expect(netContains(n, must(parseIP("10.1.2.200")))).toBe(true);
    expect(netContains(n, must(parseIP("10.1.3.1")))).toBe(false);
    expect(netContains(n, must(parseIP("::a01:201")))).toBe(false);
  });
});
