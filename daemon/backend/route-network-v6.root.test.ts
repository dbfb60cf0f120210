// The IPv6 family of the vxlan and host-gw backends on the real kernel: RouteNetwork (family 6) +
// KernelNetOps run by the bun driver in a netns of ours with a dual-stack underlay
// (2001:db8:0:1::/64, documentation range); state checked with iproute2.
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ipJson, run } from "../../netns-fixtures/topology/sh.ts";
import { Topology } from "../../netns-fixtures/topology/topology.ts";
import { REPO_ROOT } from "../../netns-fixtures/oracles/reference.ts";

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const DRIVER = join(import.meta.dirname, "..", "testing", "route-network-driver.ts");

interface DriveResult {
  mtu: number;
  vtep: string;
  firstVtep: string;
  writes: number;
  second: { changes: number; replayed: boolean };
}

async function drive(ns: string, plan: Record<string, unknown>): Promise<DriveResult> {
  const r = await run(BUN, [DRIVER, `/run/netns/${ns}`, JSON.stringify(plan)]);
  return JSON.parse(r.stdout) as DriveResult;
}

interface RouteJson {
  dst: string;
  gateway?: string;
  dev: string;
  flags: string[];
}

describe("IPv6 backends on the kernel", () => {
  let topo: Topology;
  let ns = "";
  beforeEach(async () => {
    topo = new Topology();
    const [n1] = await topo.underlay(2, { ipv6: true });
    ns = n1?.ns ?? "";
  });
  afterEach(() => topo.cleanup());

  const peers = [
    { subnet: "fd00:10:244:2::/64", ip: "2001:db8:0:1::12", mac: "0e:2a:00:00:06:02" },
    { subnet: "fd00:10:244:3::/64", ip: "2001:db8:0:1::13", mac: "0e:2a:00:00:06:03" },
  ];
  const v6 = {
    kind: "vxlan",
    family: 6,
    underlay: "eth0",
    underlayIp: "2001:db8:0:1::11",
    own: "fd00:10:244:1::/64",
    peers,
  };
  const v6Routes = () => ipJson<RouteJson[]>(ns, ["-6", "route", "show", "root", "fd00:10:244::/56"]);

  it(
    "vxlan: flannel-v6.1 with an IPv6 local address, MTU underlay-70, " +
      "the /128 and neighbour, FDB and onlink route per peer",
    async () => {
      const out = await drive(ns, v6);
      expect(out.mtu).toBe(1430);
      // the /128 creates no prefix route in main, so the first full pass (the peers' snapshot) writes
      // exactly the two peers' neighbour, FDB entry and route and removes nothing as stale
      expect(out.writes).toBe(6);
      expect(await ipJson<unknown[]>(ns, ["-6", "route", "show", "table", "main", "fd00:10:244:1::/128"])).toEqual([]);
      const [dev] = await ipJson<
        {
          mtu: number;
          address: string;
          linkinfo: { info_data: { id: number; local6: string; port: number; learning: boolean } };
        }[]
      >(ns, ["-d", "link", "show", "flannel-v6.1"]);
      expect(dev?.mtu).toBe(1430);
      expect(dev?.address).toBe(out.vtep);
      expect(dev?.linkinfo.info_data).toMatchObject({ id: 1, local6: "2001:db8:0:1::11", port: 8472, learning: false });
      const addrs = await ipJson<
        { addr_info: { local: string; prefixlen: number; family: string; scope: string; tentative?: boolean }[] }[]
      >(ns, ["addr", "show", "flannel-v6.1"]);
      const global = addrs[0]?.addr_info.filter((a) => a.family === "inet6" && a.scope === "global") ?? [];
      expect(global.map((a) => `${a.local}/${a.prefixlen}`)).toEqual(["fd00:10:244:1::/128"]);
      expect(global[0]?.tentative).toBeUndefined();
      const routes = await v6Routes();
      expect(routes.map((r) => [r.dst, r.gateway, r.dev, r.flags.includes("onlink")])).toEqual([
        ["fd00:10:244:2::/64", "fd00:10:244:2::", "flannel-v6.1", true],
        ["fd00:10:244:3::/64", "fd00:10:244:3::", "flannel-v6.1", true],
      ]);
      const neigh = await ipJson<{ dst: string; lladdr: string; state: string[] }[]>(ns, [
        "-6",
        "neigh",
        "show",
        "dev",
        "flannel-v6.1",
      ]);
      expect(neigh.filter((n) => n.state.includes("PERMANENT")).map((n) => [n.dst, n.lladdr])).toEqual(
        expect.arrayContaining([
          ["fd00:10:244:2::", "0e:2a:00:00:06:02"],
          ["fd00:10:244:3::", "0e:2a:00:00:06:03"],
        ]),
      );
      const fdb = JSON.parse((await run("bridge", ["-n", ns, "-j", "fdb", "show", "dev", "flannel-v6.1"])).stdout) as {
        mac: string;
        dst?: string;
      }[];
      expect(fdb.filter((f) => f.dst).map((f) => [f.mac, f.dst])).toEqual(
        expect.arrayContaining([
          ["0e:2a:00:00:06:02", "2001:db8:0:1::12"],
          ["0e:2a:00:00:06:03", "2001:db8:0:1::13"],
        ]),
      );
    },
  );

  it(
    "vxlan: flannel.1 and flannel-v6.1 coexist on the same VNI and port, " + "each with its own family's state",
    async () => {
      await drive(ns, {
        kind: "vxlan",
        underlay: "eth0",
        underlayIp: "192.0.2.11",
        own: "10.244.1.0/24",
        peers: [{ subnet: "10.244.2.0/24", ip: "192.0.2.12", mac: "0e:2a:00:00:04:02" }],
      });
      await drive(ns, v6);
      const links = await ipJson<
        { ifname: string; linkinfo: { info_data: { id: number; port: number; local?: string; local6?: string } } }[]
      >(ns, ["-d", "link", "show", "type", "vxlan"]);
      expect(
        links
          .map((l) => [
            l.ifname,
            l.linkinfo.info_data.id,
            l.linkinfo.info_data.port,
            l.linkinfo.info_data.local ?? l.linkinfo.info_data.local6,
          ])
          .sort(),
      ).toEqual([
        ["flannel-v6.1", 1, 8472, "2001:db8:0:1::11"],
        ["flannel.1", 1, 8472, "192.0.2.11"],
      ]);
      expect((await ipJson<RouteJson[]>(ns, ["route", "show", "dev", "flannel.1"])).map((r) => r.dst)).toEqual([
        "10.244.2.0/24",
      ]);
      expect((await v6Routes()).map((r) => r.dst)).toEqual(["fd00:10:244:2::/64", "fd00:10:244:3::/64"]);
    },
  );

  it(
    "vxlan: a restart adopts the existing flannel-v6 device (same VtepMAC, " + "same ifindex) instead of recreating it",
    async () => {
      const first = await drive(ns, v6);
      const [before] = await ipJson<{ ifindex: number }[]>(ns, ["link", "show", "flannel-v6.1"]);
      const second = await drive(ns, v6);
      const [after] = await ipJson<{ ifindex: number }[]>(ns, ["link", "show", "flannel-v6.1"]);
      expect(second.vtep).toBe(first.vtep);
      expect(after?.ifindex).toBe(before?.ifindex);
    },
  );

  it("vxlan: reconcile lists IPv6 routes and puts back one deleted behind its back", async () => {
    const out = await drive(ns, { ...v6, after: "delete-route" });
    expect(out.second.changes).toBe(1);
    expect((await v6Routes()).map((r) => r.dst)).toEqual(["fd00:10:244:2::/64", "fd00:10:244:3::/64"]);
  });

  it(
    "vxlan: a deleted flannel-v6 device is recreated with the " +
      "published VtepMAC, re-addressed and every peer replayed onto it",
    async () => {
      const out = await drive(ns, { ...v6, after: "delete-device" });
      expect(out.second.replayed).toBe(true);
      const [dev] = await ipJson<{ address: string }[]>(ns, ["link", "show", "flannel-v6.1"]);
      expect(dev?.address).toBe(out.firstVtep);
      expect((await v6Routes()).map((r) => [r.dst, r.dev])).toEqual([
        ["fd00:10:244:2::/64", "flannel-v6.1"],
        ["fd00:10:244:3::/64", "flannel-v6.1"],
      ]);
      const addrs = await ipJson<{ addr_info: { local: string; scope: string }[] }[]>(ns, [
        "-6",
        "addr",
        "show",
        "flannel-v6.1",
      ]);
      expect(addrs[0]?.addr_info.filter((a) => a.scope === "global").map((a) => a.local)).toEqual(["fd00:10:244:1::"]);
    },
  );

  it("host-gw: a route per peer's v6 subnet via its IPv6 underlay address", async () => {
    const out = await drive(ns, { ...v6, kind: "host-gw", peers: peers.map(({ subnet, ip }) => ({ subnet, ip })) });
    expect(out.mtu).toBe(1500);
    expect((await v6Routes()).map((r) => [r.dst, r.gateway, r.dev])).toEqual([
      ["fd00:10:244:2::/64", "2001:db8:0:1::12", "eth0"],
      ["fd00:10:244:3::/64", "2001:db8:0:1::13", "eth0"],
    ]);
  });

  it("vxlan DirectRouting: IPv6 peers on the same L2 get a plain route via their underlay address", async () => {
    await drive(ns, { ...v6, directRouting: true });
    expect((await v6Routes()).map((r) => [r.dst, r.gateway, r.dev])).toEqual([
      ["fd00:10:244:2::/64", "2001:db8:0:1::12", "eth0"],
      ["fd00:10:244:3::/64", "2001:db8:0:1::13", "eth0"],
    ]);
  });
});
