import { describe, expect, it } from "vitest";
import { MemorySysctl } from "./memory-sysctl.ts";

describe("MemorySysctl (fake Sysctl)", () => {
  it("the fake fails like a missing /proc/sys file for unknown keys", () => {
    expect(() => new MemorySysctl().set("net.ipv4.nope", 1)).toThrow(/ENOENT/);
  });
});
