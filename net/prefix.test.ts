import { describe, expect, it } from "vitest";
import { containsNet, formatCidr, formatIp, maskNet, overlaps, parseCidr, parseIp } from "./prefix.ts";

describe("ip helpers", () => {
  it.each([
    ["fc00:0:0:22::", "fc00:0:0:22::"],
    ["fc00::", "fc00::"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:0db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"],
    ["::", "::"],
    ["::1", "::1"],
    ["1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"],
  ])("prints IPv6 %s as Go does (%s)", (input, want) => {
    const a = parseIp(input);
    expect(a?.family).toBe(6);
    expect(formatIp(6, a?.ip ?? 0n)).toBe(want);
  });

  it("rejects what Go's parser rejects", () => {
    for (const bad of ["1.2.3", "1.2.3.256", "01.2.3.4", "1::2::3", "12345::", "x", ""])
      expect(parseIp(bad)).toBeUndefined();
    for (const bad of ["10.0.0.0", "10.0.0.0/33", "10.0.0.0/x", "fc00::/129"]) expect(parseCidr(bad)).toBeUndefined();
  });

  it("masks, contains and overlaps prefixes", () => {
    const n = parseCidr("10.1.17.1/24");
    if (!n) throw new Error("parse");
    expect(formatCidr(maskNet(n))).toBe("10.1.17.0/24");
    const big = parseCidr("10.1.0.0/16");
    if (!big) throw new Error("parse");
    expect(containsNet(big, n)).toBe(true);
    expect(containsNet(n, big)).toBe(false);
    expect(overlaps(n, big)).toBe(true);
    expect(overlaps(n, parseCidr("10.1.18.0/24") ?? n)).toBe(false);
  });
});
