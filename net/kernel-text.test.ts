import { describe, expect, it } from "vitest";
import {
  broadcastOf,
  bytesText as formatIp,
  ipBytes as parseIp,
  isIP as isIp,
  networkOf,
  prefixText as parseCidr,
} from "./ip.ts";
import { formatMac, parseMac } from "./mac.ts";

describe("address text <-> bytes for the kernel", () => {
  it("round-trips IPv4", () => {
    expect([...parseIp("10.244.1.2")]).toEqual([10, 244, 1, 2]);
    expect(formatIp(parseIp("192.0.2.255"))).toBe("192.0.2.255");
  });

  it("parses IPv6 with ::, embedded IPv4 and zones, and prints RFC 5952 form", () => {
    expect(formatIp(parseIp("fd00:0:0:0:0:0:0:1"))).toBe("fd00::1");
    expect(formatIp(parseIp("::"))).toBe("::");
    expect(formatIp(parseIp("::1"))).toBe("::1");
    expect(formatIp(parseIp("2001:db8:0:0:1:0:0:1"))).toBe("2001:db8::1:0:0:1");
    expect(formatIp(parseIp("2001:DB8::0:1"))).toBe("2001:db8::1");
    expect(formatIp(parseIp("1:0:2:3:4:5:6:7"))).toBe("1:0:2:3:4:5:6:7");
    expect(formatIp(parseIp("::ffff:192.0.2.1"))).toBe("::ffff:c000:201");
    expect(formatIp(parseIp("fe80::1%eth0"))).toBe("fe80::1");
  });

  it("rejects malformed addresses with TypeError", () => {
    for (const bad of ["", "1.2.3", "1.2.3.256", "1::2::3", "12345::", "a.b.c.d", "1:2:3:4:5:6:7:8:9"]) {
      expect(() => parseIp(bad), bad).toThrow(TypeError);
      expect(isIp(bad)).toBe(false);
    }
  });

  it("parses CIDRs, giving bare addresses a full-length prefix", () => {
    expect(parseCidr("10.244.1.2/24")).toEqual({ ip: "10.244.1.2", prefixLen: 24 });
    expect(parseCidr("fd00::1")).toEqual({ ip: "fd00::1", prefixLen: 128 });
    expect(() => parseCidr("10.0.0.0/33")).toThrow(TypeError);
    expect(() => parseCidr("10.0.0.0/x")).toThrow(TypeError);
  });

  it("computes network and broadcast addresses", () => {
    expect(formatIp(networkOf(parseIp("10.244.1.77"), 24))).toBe("10.244.1.0");
    expect(formatIp(broadcastOf(parseIp("10.244.1.77"), 23))).toBe("10.244.1.255");
    expect(formatIp(networkOf(parseIp("fd00::1:2"), 112))).toBe("fd00::1:0");
  });

  it("round-trips MAC addresses in lower case", () => {
    expect(formatMac(parseMac("02:AA:0b:00:00:01"))).toBe("02:aa:0b:00:00:01");
    expect(() => parseMac("02:aa")).not.toThrow();
    expect(() => parseMac("zz:00:00:00:00:00")).toThrow(TypeError);
  });
});
