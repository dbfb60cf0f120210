import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ProcSysctl, ensureSysctl, sysctlPath } from "./sysctl.ts";
import { MemorySysctl } from "./testing/memory-sysctl.ts";

const root = mkdtempSync(join(tmpdir(), "weft-sysctl-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("sysctl", () => {
  it("maps dotted keys to /proc/sys paths and keeps slash keys as paths (interface names with dots)", () => {
    expect(sysctlPath("net.ipv4.ip_forward")).toBe("/proc/sys/net/ipv4/ip_forward");
    expect(sysctlPath("net/ipv6/conf/flannel.1/accept_ra")).toBe("/proc/sys/net/ipv6/conf/flannel.1/accept_ra");
  });

  it("refuses keys that would leave /proc/sys", () => {
    expect(() => sysctlPath("net/../../etc/passwd")).toThrow(TypeError);
    expect(() => sysctlPath("net..ipv4")).toThrow(TypeError);
  });

  it("reads trimmed values and writes them with a newline", () => {
    mkdirSync(join(root, "net/ipv4"), { recursive: true });
    writeFileSync(join(root, "net/ipv4/ip_forward"), "0\n");
    const s = new ProcSysctl(root);
    expect(s.get("net.ipv4.ip_forward")).toBe("0");
    s.set("net.ipv4.ip_forward", 1);
    expect(readFileSync(join(root, "net/ipv4/ip_forward"), "utf8")).toBe("1\n");
  });

  it("writes only when the value differs (ensureSysctl)", () => {
    const s = new MemorySysctl({ "net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "0" });
    expect(ensureSysctl(s, "net.ipv4.ip_forward", 1)).toBe(false);
    expect(ensureSysctl(s, "net/ipv6/conf/all/forwarding", "1")).toBe(true);
    expect(s.writes).toEqual([{ key: "net/ipv6/conf/all/forwarding", value: "1" }]);
    expect(s.get("net.ipv6.conf.all.forwarding")).toBe("1");
  });
});
