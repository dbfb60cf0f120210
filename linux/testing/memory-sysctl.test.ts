import { describe, expect, it } from "vitest";
import { MemorySysctl } from "./memory-sysctl.ts";

describe("MemorySysctl (fake Sysctl)", () => {
  it("the fake fails like a missing /proc/sys file for unknown keys", () => {
    expect(() => new MemorySysctl().set("net.ipv4.nope", 1)).toThrow(/ENOENT/);
  });

  it("creates and removes keys without recording writes, and lists the keys under a directory", () => {
    const s = new MemorySysctl({ "net.ipv4.ip_forward": 0 });
    s.add("net/ipv6/conf/eth0/accept_ra", 1);
    s.add("net/ipv6/conf/eth0.5/accept_ra", 1);
    expect(s.keysUnder("net/ipv6/conf/eth0")).toEqual(["net/ipv6/conf/eth0/accept_ra"]);
    s.set("net/ipv6/conf/eth0/accept_ra", 0);
    s.remove("net/ipv6/conf/eth0/accept_ra");
    expect(() => s.get("net/ipv6/conf/eth0/accept_ra")).toThrow(/ENOENT/);
    expect(s.writes).toEqual([{ key: "net/ipv6/conf/eth0/accept_ra", value: "0" }]);
  });
});
