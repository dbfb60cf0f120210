import { describe, expect, it } from "vitest";
import { checkNetworkConfig, parseNetworkConfig } from "./config.ts";
import { formatCidr, parseCidr, type IpNet } from "../net/prefix.ts";
import {
  allocateSubnet,
  fitsConfig,
  formatLeaseAttrs,
  LeaseWatcher,
  MAX_CANDIDATES,
  parseLeaseAttrs,
  parseSubnetKey,
  subnetKey,
  type Lease,
} from "./lease.ts";

const cidr = (s: string): IpNet => parseCidr(s) as IpNet;
const cfgOf = (o: unknown) => checkNetworkConfig(parseNetworkConfig(JSON.stringify(o), "t"), "t");
const lease = (sn: string, ip: string, mac = "aa:aa:aa:aa:aa:aa"): Lease => ({
  subnet: cidr(sn),
  attrs: { PublicIP: ip, BackendType: "vxlan", BackendData: { VNI: 1, VtepMAC: mac } },
});
const show = (es: { type: string; lease: Lease }[]) =>
  es.map((e) => `${e.type} ${formatCidr(e.lease.subnet as IpNet)}`);

describe("lease keys", () => {
  it("formats and parses flannel's keys, keeping dots and turning / into -", () => {
    expect(subnetKey(cidr("10.5.34.0/24"))).toBe("10.5.34.0-24");
    expect(subnetKey(cidr("10.5.34.0/24"), cidr("fc00:0:0:22::/64"))).toBe("10.5.34.0-24&fc00:0:0:22::-64");
    const p = parseSubnetKey("/coreos.com/network/subnets/10.5.34.0-24&fc00:0:0:22::-64");
    expect(p && formatCidr(p.subnet)).toBe("10.5.34.0/24");
    expect(p?.subnetV6 && formatCidr(p.subnetV6)).toBe("fc00:0:0:22::/64");
    expect(parseSubnetKey("10.5.34.0-24")?.subnetV6).toBeUndefined();
  });

  it("ignores keys that are not subnets", () => {
    expect(parseSubnetKey("config")).toBeUndefined();
    expect(parseSubnetKey("10.5.34.0-40")).toBeUndefined();
    expect(parseSubnetKey("10.5.300.0-24")).toBeUndefined();
  });
});

describe("lease attributes JSON", () => {
  it("writes flannel's field order with PublicIPv6 null and omits empty backend fields", () => {
    // a lease as flanneld writes it
    expect(
      formatLeaseAttrs({
        PublicIP: "192.168.64.3",
        BackendType: "vxlan",
        BackendData: { VNI: 1, VtepMAC: "c6:d2:32:6f:8f:44" },
      }),
    ).toBe(
      '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan",' +
        '"BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}',
    );
    expect(formatLeaseAttrs({ PublicIP: "10.0.0.2", BackendType: "host-gw" })).toBe(
      '{"PublicIP":"10.0.0.2","PublicIPv6":null,"BackendType":"host-gw"}',
    );
    expect(
      formatLeaseAttrs({
        PublicIP: "10.0.0.2",
        PublicIPv6: "fc00::2",
        BackendType: "vxlan",
        BackendData: {},
        BackendV6Data: { VNI: 1 },
      }),
    ).toBe(
      '{"PublicIP":"10.0.0.2","PublicIPv6":"fc00::2","BackendType":"vxlan","BackendData":{},"BackendV6Data":{"VNI":1}}',
    );
  });

  it("parses what flannel writes, with any key case, and round-trips", () => {
    const text =
      '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan",' +
      '"BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}';
    expect(formatLeaseAttrs(parseLeaseAttrs(text))).toBe(text);
    expect(parseLeaseAttrs('{"publicip":"10.1.1.1","backendtype":"host-gw"}')).toEqual({
      PublicIP: "10.1.1.1",
      BackendType: "host-gw",
    });
  });

  it("rejects a PublicIP that is not an IPv4 address", () => {
    expect(() => parseLeaseAttrs('{"PublicIP":"fc00::1"}')).toThrow(/PublicIP is not an IPv4 address/);
    expect(() => parseLeaseAttrs("[]")).toThrow(/JSON object/);
  });
});

describe("subnet allocation", () => {
  const cfg = cfgOf({ Network: "10.244.0.0/16" });

  it("picks among the first free candidates from SubnetMin upwards", () => {
    expect(formatCidr(allocateSubnet(cfg, [], () => 0)?.subnet as IpNet)).toBe("10.244.1.0/24");
    expect(formatCidr(allocateSubnet(cfg, [], () => 0.999999)?.subnet as IpNet)).toBe(`10.244.${MAX_CANDIDATES}.0/24`);
    const taken = [lease("10.244.1.0/24", "1.1.1.1"), lease("10.244.2.0/24", "1.1.1.2")];
    expect(formatCidr(allocateSubnet(cfg, taken, () => 0)?.subnet as IpNet)).toBe("10.244.3.0/24");
  });

  it("skips candidates overlapping any existing lease, even of another size", () => {
    const taken = [lease("10.244.0.0/22", "1.1.1.1")];
    expect(formatCidr(allocateSubnet(cfg, taken, () => 0)?.subnet as IpNet)).toBe("10.244.4.0/24");
  });

  it("returns nothing when every subnet is taken", () => {
    const small = cfgOf({ Network: "10.0.0.0/28" });
    const all = ["10.0.0.4/30", "10.0.0.8/30", "10.0.0.12/30"].map((s, i) => lease(s, `1.1.1.${i}`));
    expect(allocateSubnet(small, all, () => 0)).toBeUndefined();
    expect(formatCidr(allocateSubnet(small, all.slice(1), () => 0.5)?.subnet as IpNet)).toBe("10.0.0.4/30");
  });

  it("allocates an IPv6 subnet too when IPv6 is enabled", () => {
    const dual = cfgOf({ Network: "10.244.0.0/16", EnableIPv6: true, IPv6Network: "fc00::/48" });
    const got = allocateSubnet(dual, [], () => 0);
    expect(formatCidr(got?.subnetV6 as IpNet)).toBe("fc00:0:0:1::/64");
  });

  it("checks that a lease fits SubnetLen and SubnetMin..SubnetMax", () => {
    expect(fitsConfig(cfg, { subnet: cidr("10.244.9.0/24") })).toBe(true);
    expect(fitsConfig(cfg, { subnet: cidr("10.244.0.0/24") })).toBe(false);
    expect(fitsConfig(cfg, { subnet: cidr("10.244.9.0/25") })).toBe(false);
    expect(fitsConfig(cfg, { subnet: cidr("10.245.9.0/24") })).toBe(false);
  });
});

describe("lease watcher", () => {
  const own = lease("10.244.1.0/24", "192.0.2.1");

  it("reports a first snapshot as Added, without the node's own lease", () => {
    const w = new LeaseWatcher(own);
    expect(show(w.reset([own, lease("10.244.2.0/24", "192.0.2.2"), lease("10.244.3.0/24", "192.0.2.3")]))).toEqual([
      "added 10.244.2.0/24",
      "added 10.244.3.0/24",
    ]);
  });

  it("diffs a later snapshot: new leases Added, vanished ones Removed, unchanged ones silent", () => {
    const w = new LeaseWatcher(own);
    w.reset([lease("10.244.2.0/24", "192.0.2.2"), lease("10.244.3.0/24", "192.0.2.3")]);
    expect(show(w.reset([lease("10.244.3.0/24", "192.0.2.3"), lease("10.244.4.0/24", "192.0.2.4")]))).toEqual([
      "added 10.244.4.0/24",
      "removed 10.244.2.0/24",
    ]);
    expect(w.reset([lease("10.244.3.0/24", "192.0.2.3"), lease("10.244.4.0/24", "192.0.2.4")])).toEqual([]);
  });

  it("reports a snapshot entry whose attributes changed (new VtepMAC) as Added", () => {
    const w = new LeaseWatcher(own);
    w.reset([lease("10.244.2.0/24", "192.0.2.2", "aa:aa:aa:aa:aa:01")]);
    const b = w.reset([lease("10.244.2.0/24", "192.0.2.2", "aa:aa:aa:aa:aa:02")]);
    expect(show(b)).toEqual(["added 10.244.2.0/24"]);
  });

  it("diffs snapshots of 5,000 peers down to the few that changed", () => {
    const w = new LeaseWatcher(own);
    const many = Array.from({ length: 5000 }, (_, i) =>
      lease(`10.${10 + Math.floor(i / 256)}.${i % 256}.0/24`, `198.18.${Math.floor(i / 256)}.${i % 256}`),
    );
    expect(w.reset(many)).toHaveLength(5000);
    const changed = [...many.slice(1, 4000), lease("10.99.0.0/24", "198.19.0.1"), ...many.slice(4000)];
    expect(show(w.reset(changed))).toEqual(["added 10.99.0.0/24", "removed 10.10.0.0/24"]);
  });

  it("applies incremental events and drops the ones about its own subnet", () => {
    const w = new LeaseWatcher(own);
    w.reset([]);
    const b = w.update([
      { type: "added", lease: lease("10.244.5.0/24", "192.0.2.5") },
      { type: "added", lease: own },
      { type: "removed", lease: lease("10.244.5.0/24", "192.0.2.5") },
    ]);
    expect(show(b)).toEqual(["added 10.244.5.0/24", "removed 10.244.5.0/24"]);
    expect(w.current).toEqual([]);
  });
});
