// More kernel-path checks: IPv6 routes, ECMP append, NDP neighbours, and dumps spanning many
// datagrams (hundreds of links and routes), verified with iproute2.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Namespaces, call, ipj, netlinkOk, runPrefix, sh, type Step } from "./testing/harness.ts";

type Json = Record<string, unknown>;
const prefix = runPrefix();
let nss: Namespaces;
let host: { name: string; path: string };

beforeEach(async () => {
  nss = new Namespaces(prefix);
  host = await nss.add("h");
});
afterEach(async () => {
  await nss.cleanup();
});

function v6link(): Step[] {
  return [
    { op: "client", name: "h", netns: host.path },
    call("h", "createVeth", { name: "s0", peer: { name: "s1" } }),
    call("h", "setLinkUp", "s1"),
    call("h", "setLinkUp", "s0"),
    call("h", "addAddr", "s0", { cidr: "fd00:2::1/64", noDad: true }),
  ];
}

describe("IPv6", () => {
  it("appends a second next hop for the same IPv6 destination (ECMP) and looks routes up", async () => {
    const res = await netlinkOk([
      ...v6link(),
      call("h", "addRoute", { dst: "fd00:99::/64", gateway: "fd00:2::2", dev: "s0" }),
      call("h", "appendRoute", { dst: "fd00:99::/64", gateway: "fd00:2::3", dev: "s0" }),
      call("h", "getRouteTo", "fd00:2::7"),
      call("h", "listRoutes", { family: 6 }),
    ]);
    const [r] = await ipj<Json[]>(host.name, ["-6", "route", "show", "fd00:99::/64"]);
    const hops = (r?.["nexthops"] as Json[] | undefined)?.map((h) => h["gateway"]);
    expect(hops).toEqual(["fd00:2::2", "fd00:2::3"]);
    expect(res[7]).toMatchObject({ family: 6, dst: "fd00:2::7/128" });
    const listed = (res[8] as Json[]).find((x) => x["dst"] === "fd00:99::/64");
    expect((listed?.["multipath"] as Json[]).map((h) => h["gateway"])).toEqual(["fd00:2::2", "fd00:2::3"]);
  });

  it("replaces a permanent IPv6 neighbour", async () => {
    const res = await netlinkOk([
      ...v6link(),
      call("h", "replaceNeigh", { dev: "s0", ip: "fd00:2::9", mac: "aa:bb:cc:dd:ee:09" }),
      call("h", "listNeighs", { dev: "s0", family: 6 }),
    ]);
    expect(res[6]).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ family: 6, ip: "fd00:2::9", mac: "aa:bb:cc:dd:ee:09", permanent: true }),
      ]),
    );
    expect(await ipj<Json[]>(host.name, ["-6", "neigh", "show", "dev", "s0", "fd00:2::9"])).toEqual([
      expect.objectContaining({ lladdr: "aa:bb:cc:dd:ee:09", state: ["PERMANENT"] }),
    ]);
  });
});

describe("dumps spanning many datagrams", () => {
  it("lists 300 links and 500 routes completely", async () => {
    const batch = [
      ...Array.from({ length: 150 }, (_, i) => `link add m${i}a type veth peer name m${i}b`),
      "link set m0a up",
      "addr add 192.0.2.1/24 dev m0a",
    ];
    batch.push(
      ...Array.from({ length: 500 }, (_, i) => `route add 10.${100 + (i >> 8)}.${i & 255}.0/24 via 192.0.2.2 dev m0a`),
    );
    await sh("ip", ["-n", host.name, "-batch", "-"], `${batch.join("\n")}\n`);
    const [, links, routes] = await netlinkOk([
      { op: "client", name: "h", netns: host.path },
      call("h", "listLinks"),
      call("h", "listRoutes", { family: 4 }),
    ]);
    expect((links as Json[]).length).toBe(301);
    expect(new Set((links as Json[]).map((l) => l["name"])).size).toBe(301);
    expect((routes as Json[]).filter((r) => r["gateway"] === "192.0.2.2").length).toBe(500);
  });
});

describe("more options", () => {
  it("creates an IPv6 vxlan (flannel-v6) and programs IPv6 FDB destinations", async () => {
    const res = await netlinkOk([
      ...v6link(),
      call("h", "createVxlan", { name: "flannel-v6.1", vni: 1, local: "fd00:2::1", port: 8472, mtu: 1430 }),
      call("h", "appendFdb", { dev: "flannel-v6.1", mac: "aa:bb:cc:00:00:01", dst: "fd00:2::2" }),
      call("h", "getLink", "flannel-v6.1"),
      call("h", "listFdb", { dev: "flannel-v6.1" }),
    ]);
    expect(res[7]).toMatchObject({ kind: "vxlan", mtu: 1430, vxlan: { vni: 1, local: "fd00:2::1", port: 8472 } });
    expect(res[8]).toEqual(
      expect.arrayContaining([expect.objectContaining({ mac: "aa:bb:cc:00:00:01", ip: "fd00:2::2", self: true })]),
    );
    const [l] = await ipj<Json[]>(host.name, ["link", "show", "flannel-v6.1"]);
    expect((l?.["linkinfo"] as Json)["info_data"]).toMatchObject({ id: 1, local6: "fd00:2::1", port: 8472 });
  });

  it("creates both veth ends away from the socket's netns and sets port learning/isolation", async () => {
    const other = await nss.add("o");
    const res = await netlinkOk([
      { op: "client", name: "h", netns: host.path },
      { op: "netns", name: "o", path: other.path },
      call("h", "createVeth", { name: "far0", netnsFd: { $fd: "o" }, peer: { name: "far1", netnsFd: { $fd: "o" } } }),
      call("h", "findLink", "far0"),
      call("h", "createBridge", { name: "br1" }),
      call("h", "createVeth", { name: "p0", peer: { name: "p1" } }),
      call("h", "setMaster", "p0", "br1"),
      call("h", "setBridgePort", "p0", { learning: false, isolated: true }),
      call("h", "getLink", "p0"),
    ]);
    expect(res[3]).toBeNull();
    expect((await ipj<Json[]>(other.name, ["link"])).map((l) => l["ifname"]).sort()).toEqual(["far0", "far1", "lo"]);
    expect((res[8] as Json)["bridgePort"]).toMatchObject({ hairpin: false, learning: false, isolated: true });
  });

  it("adds a route with a preferred source, explicit scope and static protocol", async () => {
    await netlinkOk([
      ...v6link(),
      call("h", "addAddr", "s0", "192.0.2.1/24"),
      call("h", "addRoute", { dst: "198.51.100.0/24", dev: "s0", src: "192.0.2.1", scope: "link", protocol: "static" }),
    ]);
    const [r] = await ipj<Json[]>(host.name, ["route", "show", "198.51.100.0/24"]);
    expect(r).toMatchObject({ dev: "s0", prefsrc: "192.0.2.1", scope: "link", protocol: "static" });
  });
});
