import { describe, expect, it } from "vitest";
import { parseCidr, type IpNet } from "../../net/prefix.ts";
import type { Lease, LeaseEvent } from "../lease.ts";
import { FakeNetOps } from "../testing/fake-netops.ts";
import { RouteNetwork } from "./route-network.ts";

const net = (s: string): IpNet => {
  const n = parseCidr(s);
  if (!n) throw new Error(s);
  return n;
};
const mac4 = (i: number) => `0e:00:00:00:04:${i.toString(16).padStart(2, "0")}`;
const mac6 = (i: number) => `0e:00:00:00:06:${i.toString(16).padStart(2, "0")}`;
/** A dual-stack lease of node i: 10.244.i.0/24 + fd00:10:244:i::/64, underlay 192.0.2.(10+i) + 2001:db8:0:1::(10+i). */
const ds = (i: number, type = "vxlan"): Lease => ({
  subnet: net(`10.244.${i}.0/24`),
  subnetV6: net(`fd00:10:244:${i}::/64`),
  attrs: {
    PublicIP: `192.0.2.${10 + i}`,
    PublicIPv6: `2001:db8:0:1::${10 + i}`,
    BackendType: type,
    ...(type === "vxlan"
      ? { BackendData: { VNI: 1, VtepMAC: mac4(i) }, BackendV6Data: { VNI: 1, VtepMAC: mac6(i) } }
      : {}),
  },
});
const added = (...ls: Lease[]): LeaseEvent[] => ls.map((lease) => ({ type: "added", lease }));
const removed = (...ls: Lease[]): LeaseEvent[] => ls.map((lease) => ({ type: "removed", lease }));

function v6Net(kind: "vxlan" | "host-gw", dp = new FakeNetOps(), directRouting = false) {
  const eth0 = dp.addLink("eth0");
  const rn = new RouteNetwork({
    dp,
    kind,
    family: 6,
    network: net("fd00:10:244::/56"),
    underlay: { index: eth0, ip: "2001:db8:0:1::11", mtu: 1500 },
    vxlan: { vni: 1, port: 0, gbp: false, learning: false, directRouting },
  });
  return { dp, rn, eth0 };
}

describe("vxlan backend, IPv6 family", () => {
  it("creates flannel-v6.1 on the underlay's IPv6 address with MTU underlay-70 and returns its VtepMAC", () => {
    const { dp, rn, eth0 } = v6Net("vxlan");
    const { backendData } = rn.prepare();
    const dev = dp.links.get("flannel-v6.1");
    expect(rn.deviceName).toBe("flannel-v6.1");
    expect(dev?.spec).toMatchObject({ vni: 1, port: 0, localIp: "2001:db8:0:1::11", underlayIndex: eth0, mtu: 1430 });
    expect(rn.mtu).toBe(1430);
    expect(backendData).toEqual({ VNI: 1, VtepMAC: dev?.mac });
    expect(dp.links.has("flannel.1")).toBe(false);
  });

  it("subtracts 70 from an explicit Backend.MTU too", () => {
    const dp = new FakeNetOps();
    const rn = new RouteNetwork({
      dp,
      kind: "vxlan",
      family: 6,
      network: net("fd00:10:244::/56"),
      underlay: { index: dp.addLink("eth0"), ip: "2001:db8:0:1::11", mtu: 9000 },
      backendMtu: 1400,
      vxlan: { vni: 7, port: 4789, gbp: false, learning: false, directRouting: false },
    });
    rn.prepare();
    expect(rn.mtu).toBe(1330);
    expect(dp.links.get("flannel-v6.7")?.spec?.mtu).toBe(1330);
  });

  it(
    "gives the device the v6 subnet's network address as /128 and " +
      "programs neighbour, FDB, then the onlink route from BackendV6Data",
    () => {
      const { dp, rn } = v6Net("vxlan");
      rn.prepare();
      rn.start(ds(1));
      const idx = dp.linkIndex("flannel-v6.1") ?? -1;
      expect(dp.links.get("flannel-v6.1")?.addrs).toEqual(["fd00:10:244:1::/128"]);
      dp.writes.length = 0;
      rn.handle(added(ds(2)));
      rn.flush();
      expect(dp.writes).toEqual([
        `neigh replace fd00:10:244:2:: ${mac6(2)} dev ${idx}`,
        `fdb replace ${mac6(2)} dst 2001:db8:0:1::12 dev ${idx}`,
        `route replace fd00:10:244:2::/64 via fd00:10:244:2:: dev ${idx} onlink`,
      ]);
    },
  );

  it("skips peers without an IPv6 half (v4-only lease, no PublicIPv6, no BackendV6Data) and its own lease", () => {
    const { dp, rn } = v6Net("vxlan");
    rn.prepare();
    rn.start(ds(1));
    const v4only: Lease = {
      subnet: net("10.244.5.0/24"),
      attrs: { PublicIP: "192.0.2.15", BackendType: "vxlan", BackendData: { VNI: 1, VtepMAC: mac4(5) } },
    };
    const { PublicIPv6: _pub, ...noPub } = ds(6).attrs;
    const { BackendV6Data: _data, ...noV6Data } = ds(7).attrs;
    void [_pub, _data];
    rn.handle(added(ds(1), v4only, { ...ds(6), attrs: noPub }, { ...ds(7), attrs: noV6Data }, ds(3, "host-gw")));
    rn.flush();
    expect(dp.routes.size).toBe(0);
    expect(dp.neighs.size).toBe(0);
  });

  it("removes route, FDB and neighbour of a departed peer", () => {
    const { dp, rn } = v6Net("vxlan");
    rn.prepare();
    rn.start(ds(1));
    rn.handle(added(ds(2), ds(3)));
    rn.flush();
    rn.handle(removed(ds(2)));
    rn.flush();
    expect([...dp.routes.keys()]).toEqual(["fd00:10:244:3::/64"]);
    expect([...dp.neighs.values()].map((n) => n.ip)).toEqual(["fd00:10:244:3::"]);
    expect([...dp.fdb.values()].map((f) => f.dst)).toEqual(["2001:db8:0:1::13"]);
  });

  it(
    "reconcile lists IPv6 routes: repairs deleted state, removes a " +
      "stale route inside IPv6Network, keeps IPv4 and foreign routes",
    () => {
      const { dp, rn, eth0 } = v6Net("vxlan");
      rn.prepare();
      rn.start(ds(1));
      rn.handle(added(ds(2), ds(3)));
      rn.flush();
      const idx = dp.linkIndex("flannel-v6.1") ?? -1;
      dp.routes.delete("fd00:10:244:2::/64");
      dp.neighs.clear();
      dp.fdb.clear();
      dp.routes.set("fd00:10:244:9::/64", {
        dst: "fd00:10:244:9::/64",
        gw: "fd00:10:244:9::",
        ifindex: idx,
        onlink: true,
      });
      dp.routes.set("2001:db8:99::/48", { dst: "2001:db8:99::/48", gw: "2001:db8:0:1::1", ifindex: eth0 });
      dp.routes.set("10.244.9.0/24", { dst: "10.244.9.0/24", gw: "192.0.2.19", ifindex: eth0 });
      const st = rn.reconcile();
      expect(st.changes).toBe(6);
      expect([...dp.routes.keys()].sort()).toEqual([
        "10.244.9.0/24",
        "2001:db8:99::/48",
        "fd00:10:244:2::/64",
        "fd00:10:244:3::/64",
      ]);
      expect(dp.neighs.size).toBe(2);
      expect(dp.fdb.size).toBe(2);
      expect(rn.reconcile().changes).toBe(0);
    },
  );

  it("recreates a deleted flannel-v6 device with the same VtepMAC, re-addresses it and replays every peer", () => {
    const { dp, rn } = v6Net("vxlan");
    rn.prepare();
    rn.start(ds(1));
    rn.handle(added(ds(2), ds(3)));
    rn.flush();
    const mac = dp.links.get("flannel-v6.1")?.mac;
    dp.deleteLink("flannel-v6.1");
    const st = rn.reconcile();
    expect(st.replayed).toBe(true);
    // same VtepMAC as the lease publishes, so the peers' neighbour entries stay right
    expect(dp.links.get("flannel-v6.1")?.mac).toBe(mac);
    const idx = dp.linkIndex("flannel-v6.1");
    expect(dp.links.get("flannel-v6.1")?.addrs).toEqual(["fd00:10:244:1::/128"]);
    expect(dp.routes.size).toBe(2);
    expect([...dp.routes.values()].every((r) => r.ifindex === idx && r.onlink)).toBe(true);
    expect(dp.neighs.size).toBe(2);
  });

  it("DirectRouting routes a peer on our L2 via its PublicIPv6, others over vxlan", () => {
    const { dp, rn, eth0 } = v6Net("vxlan", new FakeNetOps(), true);
    dp.lookups.set("2001:db8:0:1::12", { ifindex: eth0 });
    dp.lookups.set("2001:db8:0:1::13", { gw: "2001:db8:0:1::1", ifindex: eth0 });
    rn.prepare();
    rn.start(ds(1));
    rn.handle(added(ds(2), ds(3)));
    rn.flush();
    expect(dp.routes.get("fd00:10:244:2::/64")).toEqual({
      dst: "fd00:10:244:2::/64",
      gw: "2001:db8:0:1::12",
      ifindex: eth0,
    });
    expect(dp.routes.get("fd00:10:244:3::/64")?.onlink).toBe(true);
    expect([...dp.neighs.values()].map((n) => n.ip)).toEqual(["fd00:10:244:3::"]);
  });
});

describe("both families side by side", () => {
  it("an IPv4 and an IPv6 network on one fake kernel program disjoint state from the same dual-stack leases", () => {
    const dp = new FakeNetOps();
    const eth0 = dp.addLink("eth0");
    const mk = (family: 4 | 6) =>
      new RouteNetwork({
        dp,
        kind: "vxlan",
        family,
        network: net(family === 4 ? "10.244.0.0/16" : "fd00:10:244::/56"),
        underlay: { index: eth0, ip: family === 4 ? "192.0.2.11" : "2001:db8:0:1::11", mtu: 1500 },
        vxlan: { vni: 1, port: 0, gbp: false, learning: false, directRouting: false },
      });
    const [v4, v6] = [mk(4), mk(6)];
    for (const rn of [v4, v6]) rn.prepare();
    for (const rn of [v4, v6]) rn.start(ds(1));
    for (const rn of [v4, v6]) rn.handle(added(ds(2), ds(3)));
    v4.flush();
    v6.flush();
    expect([...dp.routes.keys()].sort()).toEqual([
      "10.244.2.0/24",
      "10.244.3.0/24",
      "fd00:10:244:2::/64",
      "fd00:10:244:3::/64",
    ]);
    const fdb = [...dp.fdb.values()].map((f) => `${f.mac} ${f.dst}`).sort();
    expect(fdb).toEqual([
      `${mac4(2)} 192.0.2.12`,
      `${mac4(3)} 192.0.2.13`,
      `${mac6(2)} 2001:db8:0:1::12`,
      `${mac6(3)} 2001:db8:0:1::13`,
    ]);
    // each family's reconcile leaves the other family's routes alone
    expect(v4.reconcile().changes).toBe(0);
    expect(v6.reconcile().changes).toBe(0);
    expect(dp.routes.size).toBe(4);
  });
});

describe("host-gw backend, IPv6 family", () => {
  it(
    "routes each peer's v6 subnet via its PublicIPv6 on the underlay; " + "MTU is the underlay's; reconcile repairs",
    () => {
      const { dp, rn, eth0 } = v6Net("host-gw");
      expect(rn.prepare().backendData).toBeUndefined();
      rn.start(ds(1, "host-gw"));
      rn.handle(added(ds(2, "host-gw"), ds(3)));
      rn.flush();
      expect([...dp.routes.values()]).toEqual([{ dst: "fd00:10:244:2::/64", gw: "2001:db8:0:1::12", ifindex: eth0 }]);
      expect(rn.mtu).toBe(1500);
      dp.routes.clear();
      expect(rn.reconcile().changes).toBe(1);
      expect(dp.routes.get("fd00:10:244:2::/64")?.gw).toBe("2001:db8:0:1::12");
    },
  );
});
