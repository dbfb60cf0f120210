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
const vx = (i: number, type = "vxlan"): Lease => ({
  subnet: net(`10.244.${i}.0/24`),
  attrs: {
    PublicIP: `192.0.2.${10 + i}`,
    BackendType: type,
    BackendData: { VNI: 1, VtepMAC: `0e:00:00:00:01:${i.toString(16).padStart(2, "0")}` },
  },
});
const hg = (i: number): Lease => ({
  subnet: net(`10.244.${i}.0/24`),
  attrs: { PublicIP: `192.0.2.${10 + i}`, BackendType: "host-gw" },
});
const added = (...ls: Lease[]): LeaseEvent[] => ls.map((lease) => ({ type: "added", lease }));
const removed = (...ls: Lease[]): LeaseEvent[] => ls.map((lease) => ({ type: "removed", lease }));

function vxlanNet(dp = new FakeNetOps(), directRouting = false) {
  const eth0 = dp.addLink("eth0");
  const rn = new RouteNetwork({
    dp,
    kind: "vxlan",
    network: net("10.244.0.0/16"),
    underlay: { index: eth0, ip: "192.0.2.11", mtu: 1500 },
    vxlan: { vni: 1, port: 0, gbp: false, learning: false, directRouting },
  });
  return { dp, rn, eth0 };
}

describe("vxlan backend", () => {
  it("creates flannel.1 with MTU underlay-50 and publishes VNI and VtepMAC", () => {
    const { dp, rn } = vxlanNet();
    const { backendData } = rn.prepare();
    const dev = dp.links.get("flannel.1");
    expect(dev?.spec?.mtu).toBe(1450);
    expect(rn.mtu).toBe(1450);
    expect(backendData).toEqual({ VNI: 1, VtepMAC: dev?.mac });
  });

  it("gives the device subnet.0/32 and programs neighbour, FDB, then the onlink route per peer", () => {
    const { dp, rn } = vxlanNet();
    rn.prepare();
    rn.start(vx(1));
    const idx = dp.linkIndex("flannel.1") ?? -1;
    expect(dp.links.get("flannel.1")?.addrs).toEqual(["10.244.1.0/32"]);
    dp.writes.length = 0;
    rn.handle(added(vx(2)));
    rn.flush();
    expect(dp.writes).toEqual([
      `neigh replace 10.244.2.0 0e:00:00:00:01:02 dev ${idx}`,
      `fdb replace 0e:00:00:00:01:02 dst 192.0.2.12 dev ${idx}`,
      `route replace 10.244.2.0/24 via 10.244.2.0 dev ${idx} onlink`,
    ]);
  });

  it("ignores its own lease and leases of another backend type", () => {
    const { dp, rn } = vxlanNet();
    rn.prepare();
    rn.start(vx(1));
    rn.handle(added(vx(1), hg(3)));
    rn.flush();
    expect(dp.routes.size).toBe(0);
  });

  it("removes route, FDB and neighbour when a lease goes away", () => {
    const { dp, rn } = vxlanNet();
    rn.prepare();
    rn.start(vx(1));
    rn.handle(added(vx(2), vx(3)));
    rn.flush();
    rn.handle(removed(vx(2)));
    rn.flush();
    expect([...dp.routes.keys()]).toEqual(["10.244.3.0/24"]);
    expect(dp.neighs.size).toBe(1);
    expect(dp.fdb.size).toBe(1);
  });

  it("coalesces a burst of events into one pass with the last word per lease", () => {
    const { dp, rn } = vxlanNet();
    rn.prepare();
    rn.start(vx(1));
    rn.handle(added(vx(2)));
    rn.handle(removed(vx(2)));
    rn.handle(added(vx(4)));
    rn.flush();
    expect([...dp.routes.keys()]).toEqual(["10.244.4.0/24"]);
  });

  it("reconcile repairs a deleted route, neighbour and FDB entry and removes a stale flannel route", () => {
    const { dp, rn } = vxlanNet();
    rn.prepare();
    rn.start(vx(1));
    rn.handle(added(vx(2), vx(3)));
    rn.flush();
    const idx = dp.linkIndex("flannel.1") ?? -1;
    dp.routes.delete("10.244.2.0/24");
    dp.neighs.clear();
    dp.fdb.clear();
    dp.routes.set("10.244.9.0/24", { dst: "10.244.9.0/24", gw: "10.244.9.0", ifindex: idx, onlink: true });
    dp.routes.set("198.51.100.0/24", { dst: "198.51.100.0/24", gw: "192.0.2.1", ifindex: idx });
    const st = rn.reconcile();
    expect(st.changes).toBe(6);
    expect([...dp.routes.keys()].sort()).toEqual(["10.244.2.0/24", "10.244.3.0/24", "198.51.100.0/24"]);
    expect(dp.neighs.size).toBe(2);
    expect(dp.fdb.size).toBe(2);
    expect(rn.reconcile().changes).toBe(0);
  });

  it("a full pass after a peer's lease changed repairs to the new lease, not the one it saw before", () => {
    const { dp, rn } = vxlanNet();
    rn.prepare();
    rn.start(vx(1));
    rn.handle(added(vx(2)));
    rn.flush();
    expect(rn.reconcile().changes).toBe(0);
    const moved: Lease = {
      ...vx(2),
      attrs: { ...vx(2).attrs, PublicIP: "192.0.2.99", BackendData: { VNI: 1, VtepMAC: "0e:00:00:00:02:02" } },
    };
    rn.handle(added(moved));
    rn.flush();
    // the old FDB entry and nothing else is stale; a second pass finds nothing left to do
    dp.writes.length = 0;
    expect(rn.reconcile().changes).toBe(1);
    expect(dp.writes).toEqual([expect.stringMatching(/^fdb del 0e:00:00:00:01:02 dst 192.0.2.12/)]);
    expect([...dp.fdb.values()].map((f) => `${f.mac} ${f.dst}`)).toEqual(["0e:00:00:00:02:02 192.0.2.99"]);
    expect(rn.reconcile().changes).toBe(0);
  });

  it("recreates a deleted device and replays every peer on it", () => {
    const { dp, rn } = vxlanNet();
    rn.prepare();
    rn.start(vx(1));
    rn.handle(added(vx(2), vx(3)));
    rn.flush();
    dp.deleteLink("flannel.1");
    const st = rn.reconcile();
    expect(st.replayed).toBe(true);
    const idx = dp.linkIndex("flannel.1");
    expect(dp.links.get("flannel.1")?.addrs).toEqual(["10.244.1.0/32"]);
    expect([...dp.routes.values()].every((r) => r.ifindex === idx)).toBe(true);
    expect(dp.routes.size).toBe(2);
  });

  it("a recreated flannel.1 keeps the VtepMAC the lease publishes", () => {
    const { dp, rn } = vxlanNet();
    const { backendData } = rn.prepare();
    rn.start(vx(1));
    dp.deleteLink("flannel.1");
    expect(rn.reconcile().replayed).toBe(true);
    expect(backendData).toEqual({ VNI: 1, VtepMAC: dp.links.get("flannel.1")?.mac });
  });

  it("DirectRouting uses a plain route via the peer when it is on our L2, vxlan otherwise", () => {
    const { dp, rn, eth0 } = vxlanNet(new FakeNetOps(), true);
    dp.lookups.set("192.0.2.12", { ifindex: eth0 });
    dp.lookups.set("192.0.2.13", { gw: "192.0.2.1", ifindex: eth0 });
    rn.prepare();
    rn.start(vx(1));
    rn.handle(added(vx(2), vx(3)));
    rn.flush();
    expect(dp.routes.get("10.244.2.0/24")).toEqual({ dst: "10.244.2.0/24", gw: "192.0.2.12", ifindex: eth0 });
    expect(dp.routes.get("10.244.3.0/24")?.onlink).toBe(true);
    expect(dp.neighs.size).toBe(1);
  });

  it("after a restart, the first snapshot keeps the peers' entries in place and removes only stale ones", () => {
    const { dp, rn } = vxlanNet();
    rn.prepare();
    rn.start(vx(1));
    rn.handle(added(vx(2), vx(3)));
    rn.flush();
    // A new daemon over the same kernel state (flanneld restarted; SIGTERM left everything).
    const again = new RouteNetwork({
      dp,
      kind: "vxlan",
      network: net("10.244.0.0/16"),
      underlay: { index: dp.linkIndex("eth0") ?? -1, ip: "192.0.2.11", mtu: 1500 },
      vxlan: { vni: 1, port: 0, gbp: false, learning: false, directRouting: false },
    });
    again.prepare();
    dp.writes.length = 0;
    again.start(vx(1));
    expect(dp.writes.filter((w) => w.includes(" del"))).toEqual([]);
    again.handle(added(vx(2)));
    again.flush();
    expect(dp.writes.filter((w) => w.includes("10.244.2.0"))).toEqual([]);
    expect([...dp.routes.keys()]).toEqual(["10.244.2.0/24"]);
    expect(dp.writes).toEqual([
      "route del 10.244.3.0/24",
      `fdb del 0e:00:00:00:01:03 dst 192.0.2.13 dev ${dp.linkIndex("flannel.1")}`,
      `neigh del 10.244.3.0 dev ${dp.linkIndex("flannel.1")}`,
    ]);
  });

  it("programs 5,000 peers in one coalesced pass", () => {
    const { dp, rn } = vxlanNet();
    rn.prepare();
    rn.start(vx(1));
    rn.flush(); // the store's first snapshot: no peers yet
    const many: Lease[] = [];
    for (let i = 0; i < 5000; i++) {
      many.push({
        subnet: net(`10.244.${i >> 5}.${(i & 31) << 3}/29`),
        attrs: {
          PublicIP: `192.0.2.${(i % 200) + 20}`,
          BackendType: "vxlan",
          BackendData: { VtepMAC: "0e:00:00:00:00:01" },
        },
      });
    }
    rn.handle(added(...many));
    expect(rn.flush()).toBe(15_000);
    expect(dp.routes.size).toBe(5000);
  });
});

describe("host-gw backend", () => {
  it("routes each peer subnet via its public IP on the underlay, and MTU is the underlay's", () => {
    const dp = new FakeNetOps();
    const eth0 = dp.addLink("eth0");
    const rn = new RouteNetwork({
      dp,
      kind: "host-gw",
      network: net("10.244.0.0/16"),
      underlay: { index: eth0, ip: "192.0.2.11", mtu: 1500 },
    });
    expect(rn.prepare().backendData).toBeUndefined();
    rn.start(hg(1));
    rn.handle(added(hg(2), vx(3)));
    rn.flush();
    expect([...dp.routes.values()]).toEqual([{ dst: "10.244.2.0/24", gw: "192.0.2.12", ifindex: eth0 }]);
    expect(rn.mtu).toBe(1500);
    dp.routes.clear();
    expect(rn.reconcile().changes).toBe(1);
  });
});
