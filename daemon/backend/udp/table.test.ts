import { describe, expect, it } from "vitest";
import { parseCidr } from "../../../net/prefix.ts";
import type { Lease } from "../../lease.ts";
import { describeRoute, ipv4ToU32, maskOf, peerRoute, peerRoutes, RouteTable, u32ToIpv4 } from "./table.ts";

const u = (s: string) => {
  const v = ipv4ToU32(s);
  if (v === undefined) throw new Error(s);
  return v;
};
const lease = (subnet: string, ip: string, type?: string): Lease => {
  const n = parseCidr(subnet);
  if (!n) throw new Error(subnet);
  return { subnet: n, attrs: { PublicIP: ip, ...(type !== undefined ? { BackendType: type } : {}) } };
};

describe("peer routes from leases", () => {
  it("takes flannel's udp leases (no BackendType) and ours (udp), keyed by the subnet's network", () => {
    expect(peerRoute(lease("10.244.2.0/24", "192.0.2.12"))).toEqual({
      net: u("10.244.2.0"),
      prefix: 24,
      ip: u("192.0.2.12"),
    });
    expect(peerRoute(lease("10.244.3.7/24", "192.0.2.13", "udp"))).toEqual({
      net: u("10.244.3.0"),
      prefix: 24,
      ip: u("192.0.2.13"),
    });
  });

  it("gives a reason for leases it cannot forward to", () => {
    expect(peerRoute(lease("10.244.2.0/24", "192.0.2.12", "vxlan"))).toMatch(/backend type is "vxlan"/);
    expect(peerRoute(lease("10.244.2.0/24", "0.0.0.0"))).toMatch(/PublicIP "0.0.0.0"/);
    expect(peerRoute(lease("10.244.2.0/24", "2001:db8::1"))).toMatch(/not a usable IPv4/);
    const v6only: Lease = { subnetV6: parseCidr("fd00::/64")!, attrs: { PublicIP: "0.0.0.0" } };
    expect(peerRoute(v6only)).toBe("no IPv4 subnet");
    const skipped: string[] = [];
    expect(
      peerRoutes([lease("10.244.2.0/24", "192.0.2.12"), lease("10.244.4.0/24", "192.0.2.14", "host-gw")], (l, r) =>
        skipped.push(`${l}: ${r}`),
      ),
    ).toHaveLength(1);
    expect(skipped).toEqual(['10.244.4.0/24: backend type is "host-gw", not udp']);
  });

  it("formats routes and addresses for logs", () => {
    expect(describeRoute({ net: u("10.244.2.0"), prefix: 24, ip: u("192.0.2.12") })).toBe(
      "10.244.2.0/24 -> 192.0.2.12",
    );
    expect(u32ToIpv4(0xffffffff)).toBe("255.255.255.255");
    expect(maskOf(0)).toBe(0);
    expect(maskOf(24)).toBe(0xffffff00);
    expect(maskOf(32)).toBe(0xffffffff);
  });
});

describe("RouteTable", () => {
  it("finds the subnet covering a destination and -1 where no lease covers it", () => {
    const t = new RouteTable([
      { net: u("10.244.1.0"), prefix: 24, ip: u("192.0.2.11") },
      { net: u("10.244.2.0"), prefix: 24, ip: u("192.0.2.12") },
    ]);
    expect(t.lookup(u("10.244.2.200"))).toBe(1);
    expect(t.lookup(u("10.244.1.0"))).toBe(0);
    expect(t.lookup(u("10.244.1.255"))).toBe(0);
    expect(t.lookup(u("10.244.3.1"))).toBe(-1);
    expect(t.route(1)?.ip).toBe(u("192.0.2.12"));
  });

  it("prefers the longest prefix and forgets the cached answer when the routes change", () => {
    const t = new RouteTable([{ net: u("10.244.0.0"), prefix: 16, ip: u("192.0.2.1") }]);
    expect(t.lookup(u("10.244.2.9"))).toBe(0);
    t.set([
      { net: u("10.244.0.0"), prefix: 16, ip: u("192.0.2.1") },
      { net: u("10.244.2.0"), prefix: 24, ip: u("192.0.2.12") },
    ]);
    expect(t.lookup(u("10.244.2.9"))).toBe(1);
    expect(t.lookup(u("10.244.5.9"))).toBe(0);
    t.set([]);
    expect(t.lookup(u("10.244.2.9"))).toBe(-1);
    expect(t.size).toBe(0);
  });

  it("lets a later entry for the same subnet win (a lease that moved to another node)", () => {
    const t = new RouteTable([
      { net: u("10.244.2.0"), prefix: 24, ip: u("192.0.2.12") },
      { net: u("10.244.2.0"), prefix: 24, ip: u("192.0.2.99") },
    ]);
    expect(t.route(t.lookup(u("10.244.2.1")))?.ip).toBe(u("192.0.2.99"));
  });
});
