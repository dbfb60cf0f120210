// vxlan and host-gw backends on the real kernel: RouteNetwork + KernelNetOps run by a bun driver
// in a netns of ours; state checked with iproute2.
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ipJson, run } from "../../netns-fixtures/topology/sh.ts";
import { Topology } from "../../netns-fixtures/topology/topology.ts";
import { REPO_ROOT } from "../../netns-fixtures/oracles/reference.ts";

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const DRIVER = join(import.meta.dirname, "..", "testing", "route-network-driver.ts");

async function drive(
  ns: string,
  plan: Record<string, unknown>,
): Promise<{
  mtu: number;
  vtep: string;
  writes: number;
  second: { changes: number; replayed: boolean };
  warnings: string[];
}> {
  const r = await run(BUN, [DRIVER, `/run/netns/${ns}`, JSON.stringify(plan)]);
  return JSON.parse(r.stdout) as {
    mtu: number;
    vtep: string;
    writes: number;
    second: { changes: number; replayed: boolean };
    warnings: string[];
  };
}

describe("backends on the kernel", () => {
  let topo: Topology;
  let ns = "";
  beforeEach(async () => {
    topo = new Topology();
    const [n1] = await topo.underlay(2);
    ns = n1?.ns ?? "";
  });
  afterEach(() => topo.cleanup());

  const peers = [
    { subnet: "10.244.2.0/24", ip: "192.0.2.12", mac: "0e:2a:00:00:00:02" },
    { subnet: "10.244.3.0/24", ip: "192.0.2.13", mac: "0e:2a:00:00:00:03" },
  ];

  it("vxlan asked for MTU 8950 on a 1500 underlay: the kernel clamps flannel.1 to 1450, and 1450 is used", async () => {
    const out = await drive(ns, {
      kind: "vxlan",
      underlay: "eth0",
      underlayIp: "192.0.2.11",
      own: "10.244.1.0/24",
      peers: [],
      backendMtu: 9000,
    });
    const [dev] = await ipJson<{ mtu: number }[]>(ns, ["link", "show", "flannel.1"]);
    expect(dev?.mtu).toBe(1450);
    expect(out.mtu).toBe(1450);
    expect(out.warnings).toEqual(["the kernel set flannel.1's MTU to 1450, not 8950: pods get 1450"]);
  });

  it("vxlan: device with MTU-50, subnet.0/32, then neighbour, FDB and onlink route per peer", async () => {
    const out = await drive(ns, {
      kind: "vxlan",
      underlay: "eth0",
      underlayIp: "192.0.2.11",
      own: "10.244.1.0/24",
      peers,
    });
    expect(out.mtu).toBe(1450);
    expect(out.writes).toBe(6);
    const [dev] = await ipJson<
      {
        mtu: number;
        address: string;
        linkinfo: { info_kind: string; info_data: { id: number; local: string; port: number; learning: boolean } };
      }[]
    >(ns, ["-d", "link", "show", "flannel.1"]);
    expect(dev?.mtu).toBe(1450);
    expect(dev?.address).toBe(out.vtep);
    expect(dev?.linkinfo.info_data).toMatchObject({ id: 1, local: "192.0.2.11", port: 8472, learning: false });
    const addrs = await ipJson<{ addr_info: { local: string; prefixlen: number; family: string }[] }[]>(ns, [
      "addr",
      "show",
      "flannel.1",
    ]);
    expect(addrs[0]?.addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`)).toEqual([
      "10.244.1.0/32",
    ]);
    const routes = await ipJson<{ dst: string; gateway: string; dev: string; flags: string[] }[]>(ns, [
      "route",
      "show",
      "dev",
      "flannel.1",
    ]);
    expect(routes.map((r) => [r.dst, r.gateway, r.flags.includes("onlink")])).toEqual([
      ["10.244.2.0/24", "10.244.2.0", true],
      ["10.244.3.0/24", "10.244.3.0", true],
    ]);
    const neigh = await ipJson<{ dst: string; lladdr: string; state: string[] }[]>(ns, [
      "neigh",
      "show",
      "dev",
      "flannel.1",
    ]);
    expect(neigh.map((n) => [n.dst, n.lladdr, n.state])).toEqual(
      expect.arrayContaining([["10.244.2.0", "0e:2a:00:00:00:02", ["PERMANENT"]]]),
    );
    const fdb = JSON.parse((await run("bridge", ["-n", ns, "-j", "fdb", "show", "dev", "flannel.1"])).stdout) as {
      mac: string;
      dst?: string;
    }[];
    expect(fdb.filter((f) => f.dst).map((f) => [f.mac, f.dst])).toEqual(
      expect.arrayContaining([
        ["0e:2a:00:00:00:02", "192.0.2.12"],
        ["0e:2a:00:00:00:03", "192.0.2.13"],
      ]),
    );
  });

  it("vxlan: reconcile puts back a route deleted behind its back", async () => {
    const out = await drive(ns, {
      kind: "vxlan",
      underlay: "eth0",
      underlayIp: "192.0.2.11",
      own: "10.244.1.0/24",
      peers,
      after: "delete-route",
    });
    expect(out.second.changes).toBe(1);
    const routes = await ipJson<{ dst: string }[]>(ns, ["route", "show", "dev", "flannel.1"]);
    expect(routes.map((r) => r.dst)).toEqual(["10.244.2.0/24", "10.244.3.0/24"]);
  });

  it("vxlan: a deleted device is recreated and every peer replayed onto it", async () => {
    const out = await drive(ns, {
      kind: "vxlan",
      underlay: "eth0",
      underlayIp: "192.0.2.11",
      own: "10.244.1.0/24",
      peers,
      after: "delete-device",
    });
    expect(out.second.replayed).toBe(true);
    const routes = await ipJson<{ dst: string }[]>(ns, ["route", "show", "dev", "flannel.1"]);
    expect(routes.map((r) => r.dst)).toEqual(["10.244.2.0/24", "10.244.3.0/24"]);
  });

  it("host-gw: a route per peer via its underlay address", async () => {
    const out = await drive(ns, {
      kind: "host-gw",
      underlay: "eth0",
      underlayIp: "192.0.2.11",
      own: "10.244.1.0/24",
      peers: peers.map(({ subnet, ip }) => ({ subnet, ip })),
    });
    expect(out.mtu).toBe(1500);
    const routes = await ipJson<{ dst: string; gateway: string; dev: string }[]>(ns, [
      "route",
      "show",
      "root",
      "10.244.0.0/16",
    ]);
    expect(routes.map((r) => [r.dst, r.gateway, r.dev])).toEqual([
      ["10.244.2.0/24", "192.0.2.12", "eth0"],
      ["10.244.3.0/24", "192.0.2.13", "eth0"],
    ]);
  });

  it("vxlan DirectRouting: peers on the same L2 get a plain route via their underlay address", async () => {
    await drive(ns, {
      kind: "vxlan",
      underlay: "eth0",
      underlayIp: "192.0.2.11",
      own: "10.244.1.0/24",
      peers,
      directRouting: true,
    });
    const routes = await ipJson<{ dst: string; gateway: string; dev: string }[]>(ns, [
      "route",
      "show",
      "root",
      "10.244.0.0/16",
    ]);
    expect(routes.map((r) => [r.dst, r.gateway, r.dev])).toEqual([
      ["10.244.2.0/24", "192.0.2.12", "eth0"],
      ["10.244.3.0/24", "192.0.2.13", "eth0"],
    ]);
  });
});
