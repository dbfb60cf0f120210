import { describe, expect, it } from "vitest";
import { formatIP, isIPv4Text, normalizeCIDR, normalizeIP, parseCIDR, parseIP } from "./ip.ts";

describe("IP text (Go net.ParseIP / IP.String)", () => {
  it.each([
    ["10.1.2.3", "10.1.2.3"],
    ["0.0.0.0", "0.0.0.0"],
    ["2001:DB8::1", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["fe80:0:0:0:0:0:0:1", "fe80::1"],
    ["1:0:2:0:3:0:4:0", "1:0:2:0:3:0:4:0"],
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["::10.1.2.3", "::a01:203"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
  ])("prints %s as %s", (input, out) => {
    expect(normalizeIP(input)).toBe(out);
  });

  it.each([
    "",
    "010.1.2.3",
    "1.2.3",
    "1.2.3.256",
    "1.2.3.4.5",
    "::1::",
    "1:2:3:4:5:6:7:8:9",
    "fe80::1%eth0",
    "12345::",
    "1.2.3.4::",
    "g::1",
    ":1::",
  ])("rejects %j", (input) => {
    expect(parseIP(input)).toBeUndefined();
  });

  it("keeps host bits of a CIDR and shortens the prefix of an IPv4-mapped one by 96", () => {
    expect(normalizeCIDR("10.0.0.5/8")).toBe("10.0.0.5/8");
    expect(normalizeCIDR("2001:DB8::/32")).toBe("2001:db8::/32");
    expect(normalizeCIDR("::ffff:10.1.2.3/120")).toBe("10.1.2.3/24");
    expect(normalizeCIDR("10.1.2.3/024")).toBe("10.1.2.3/24");
    expect(parseCIDR("10.1.2.3/33")).toBeUndefined();
    expect(parseCIDR("10.1.2.3")).toBeUndefined();
    expect(parseCIDR("10.1.2.3/-1")).toBeUndefined();
  });

  it(
    "reads a prefix length with any number of leading zeros, as Go's " +
      "ParseCIDR does (differential test found /0000000024 refused)",
    () => {
      expect(normalizeCIDR("::ffff:10.1.2.3/0000000120")).toBe("10.1.2.3/24");
      expect(normalizeCIDR("2001:db8::1/000000000000064")).toBe("2001:db8::1/64");
      expect(parseCIDR("10.1.2.3/00000000033")).toBeUndefined();
      expect(parseCIDR("10.1.2.3/99999999999999999999")).toBeUndefined();
      expect(parseCIDR("10.1.2.3/")).toBeUndefined();
      expect(parseCIDR("10.1.2.3/+8")).toBeUndefined();
    },
  );

  it("tells IPv4 from IPv6 text", () => {
    expect(isIPv4Text("10.0.0.0/8")).toBe(true);
    expect(isIPv4Text("::ffff:1.2.3.4")).toBe(true);
    expect(isIPv4Text("::/0")).toBe(false);
    expect(formatIP(new Uint8Array([192, 0, 2, 1]))).toBe("192.0.2.1");
  });
});
