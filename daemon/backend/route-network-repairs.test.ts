import { describe, expect, it } from "vitest";
import { parseCidr, type IpNet } from "../../net/prefix.ts";
import type { Lease } from "../lease.ts";
import { FakeNetOps } from "../testing/fake-netops.ts";
import { RouteNetwork } from "./route-network.ts";

const net = (s: string): IpNet => {
  const n = parseCidr(s);
  if (!n) throw new Error(s);
  return n;
};
const vx = (i: number): Lease => ({
  subnet: net(`10.244.${i}.0/24`),
  attrs: {
    PublicIP: `192.0.2.${10 + i}`,
    BackendType: "vxlan",
    BackendData: { VNI: 1, VtepMAC: `0e:00:00:00:01:${i.toString(16).padStart(2, "0")}` },
  },
});

function started() {
  const dp = new FakeNetOps();
  const eth0 = dp.addLink("eth0");
  const rn = new RouteNetwork({
    dp,
    kind: "vxlan",
    network: net("10.244.0.0/16"),
    underlay: { index: eth0, ip: "192.0.2.11", mtu: 1500 },
    vxlan: { vni: 1, port: 0, gbp: false, learning: false, directRouting: false },
  });
  rn.prepare();
  rn.start(vx(1));
  rn.handle([
    { type: "added", lease: vx(2) },
    { type: "added", lease: vx(3) },
  ]);
  rn.flush();
  return { dp, rn };
}

describe("reconcile repairs counted for /metrics", () => {
  it("the first pass adopts the kernel state and counts nothing; peers are the peers programmed", () => {
    const { rn } = started();
    expect(rn.peerCount).toBe(2);
    expect([...rn.repairs]).toEqual([]);
  });

  it("a later pass counts each route, neighbour and FDB entry it puts back, by kind", () => {
    const { dp, rn } = started();
    const route = [...dp.routes.values()].find((r) => r.dst === "10.244.2.0/24");
    const neigh = [...dp.neighs.values()].find((n) => n.ip === "10.244.3.0");
    if (!route || !neigh) throw new Error("not programmed");
    dp.deleteRoute(route);
    dp.deleteNeigh(neigh);
    const stale = { dst: "10.244.9.0/24", gw: "10.244.9.0", ifindex: route.ifindex, onlink: true };
    dp.replaceRoute(stale);
    rn.reconcile();
    expect(Object.fromEntries(rn.repairs)).toEqual({ route_added: 1, route_removed: 1, neighbor_added: 1 });
    rn.reconcile();
    expect(Object.fromEntries(rn.repairs)).toEqual({ route_added: 1, route_removed: 1, neighbor_added: 1 });
  });

  it("a deleted device counts as recreated, with every peer's entries put back on the new one", () => {
    const { dp, rn } = started();
    dp.deleteLink("flannel.1");
    rn.reconcile();
    expect(Object.fromEntries(rn.repairs)).toEqual({
      device_recreated: 1,
      route_added: 2,
      neighbor_added: 2,
      fdb_added: 2,
    });
  });
});
