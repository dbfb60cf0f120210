// Root tests of the kernel path: NetlinkClient verbs run by a bun driver inside namespaces made
// here, checked with iproute2 (`ip -j`, `bridge -j`) as the independent oracle.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Namespaces, bridgej, call, ipj, netlink, netlinkOk, runPrefix, type Step } from "./testing/harness.ts";

type Json = Record<string, unknown>;
const prefix = runPrefix();
let nss: Namespaces;
let host: { name: string; path: string };
let pod: { name: string; path: string };

beforeEach(async () => {
  nss = new Namespaces(prefix);
  host = await nss.add("h");
  pod = await nss.add("p");
});
afterEach(async () => {
  await nss.cleanup();
});

/** Opens client "h" in the host netns, "p" in the pod netns, and the pod netns fd as "pod". */
function open(): Step[] {
  return [
    { op: "client", name: "h", netns: host.path },
    { op: "client", name: "p", netns: pod.path },
    { op: "netns", name: "pod", path: pod.path },
  ];
}

async function link(ns: string, name: string): Promise<Json> {
  const [l] = await ipj<Json[]>(ns, ["link", "show", name]);
  if (!l) throw new Error(`no link ${name} in ${ns}`);
  return l;
}

describe("links", () => {
  it(
    "creates a veth pair whose peer is created directly " + "in another netns with the given names, MTU and MACs",
    async () => {
      const [, , , , hostEnd, podEnd] = await netlinkOk([
        ...open(),
        call("h", "createVeth", {
          name: "veth0",
          mtu: 1400,
          mac: "02:00:00:00:01:01",
          peer: { name: "eth0", mac: "02:00:00:00:01:02", netnsFd: { $fd: "pod" } },
        }),
        call("h", "getLink", "veth0"),
        call("p", "getLink", "eth0"),
      ]);
      const h = await link(host.name, "veth0");
      const p = await link(pod.name, "eth0");
      expect(h).toMatchObject({ mtu: 1400, address: "02:00:00:00:01:01", linkinfo: { info_kind: "veth" } });
      expect(p).toMatchObject({ mtu: 1400, address: "02:00:00:00:01:02", linkinfo: { info_kind: "veth" } });
      expect(hostEnd).toMatchObject({
        name: "veth0",
        kind: "veth",
        mtu: 1400,
        mac: "02:00:00:00:01:01",
        index: h["ifindex"],
        parentIndex: p["ifindex"],
      });
      expect((hostEnd as Json)["linkNetnsId"]).toBe(h["link_netnsid"]);
      expect(podEnd).toMatchObject({ name: "eth0", index: p["ifindex"], parentIndex: h["ifindex"], up: false });
    },
  );

  it("sets a link up and down, MTU, MAC, promiscuous mode, and renames it", async () => {
    await netlinkOk([
      ...open(),
      call("h", "createVeth", { name: "a0", peer: { name: "b0" } }),
      call("h", "setMtu", "a0", 1280),
      call("h", "setMac", "a0", "02:aa:00:00:00:01"),
      call("h", "setPromisc", "a0", true),
      call("h", "rename", "a0", "a1"),
      call("h", "setLinkUp", "a1"),
      call("h", "setLinkUp", "b0"),
    ]);
    const a = await link(host.name, "a1");
    expect(a).toMatchObject({ mtu: 1280, address: "02:aa:00:00:00:01", operstate: "UP" });
    expect(a["flags"]).toEqual(expect.arrayContaining(["UP", "PROMISC"]));
    await netlinkOk([...open(), call("h", "setLinkDown", "a1"), call("h", "setPromisc", "a1", false)]);
    const a2 = await link(host.name, "a1");
    expect(a2["flags"]).not.toContain("UP");
    expect(a2["flags"]).not.toContain("PROMISC");
  });

  it("moves a link into another netns by fd and deletes links", async () => {
    await netlinkOk([
      ...open(),
      call("h", "createVeth", { name: "m0", peer: { name: "m1" } }),
      call("h", "setNetns", "m1", { $fd: "pod" }),
      call("h", "deleteLink", "m0"),
    ]);
    expect((await ipj<Json[]>(host.name, ["link"])).map((l) => l["ifname"])).toEqual(["lo"]);
    // Deleting one end of a veth removes the other, wherever it is.
    expect((await ipj<Json[]>(pod.name, ["link"])).map((l) => l["ifname"])).toEqual(["lo"]);
  });

  it("creates a bridge, enslaves a port, turns hairpin on and reports it", async () => {
    const res = await netlinkOk([
      ...open(),
      call("h", "createBridge", { name: "cni0", mtu: 1450 }),
      call("h", "createVeth", { name: "vb0", mtu: 1450, peer: { name: "eth0", netnsFd: { $fd: "pod" } } }),
      call("h", "setMaster", "vb0", "cni0"),
      call("h", "setHairpin", "vb0", true),
      call("h", "getLink", "vb0"),
      call("h", "getLink", "cni0"),
    ]);
    const port = res[7] as Json;
    const br = res[8] as Json;
    expect(br).toMatchObject({ kind: "bridge", mtu: 1450, bridge: { vlanFiltering: false } });
    expect(port).toMatchObject({ masterIndex: br["index"], slaveKind: "bridge", bridgePort: { hairpin: true } });
    const [bl] = await bridgej<Json[]>(host.name, ["link", "show", "dev", "vb0"]);
    expect(bl).toMatchObject({ master: "cni0", hairpin: true });
    await netlinkOk([...open(), call("h", "setHairpin", "vb0", false), call("h", "setMaster", "vb0", null)]);
    const after = await link(host.name, "vb0");
    expect(after["master"]).toBeUndefined();
  });

  it("creates a vxlan device with VNI, local IP, underlay, port, learning off, GBP, TTL, TOS and MTU", async () => {
    const res = await netlinkOk([
      ...open(),
      call("h", "createVeth", { name: "ul0", peer: { name: "ul1" } }),
      call("h", "addAddr", "ul0", "192.0.2.10/24"),
      call("h", "getLink", "ul0"),
    ]);
    const ul = res[5] as Json;
    const [, , , created, got] = await netlinkOk([
      ...open(),
      call("h", "createVxlan", {
        name: "flannel.1",
        vni: 1,
        local: "192.0.2.10",
        underlayIndex: ul["index"],
        port: 8472,
        learning: false,
        gbp: true,
        ttl: 64,
        tos: 16,
        mtu: 1450,
        mac: "02:11:22:33:44:55",
      }),
      call("h", "getLink", "flannel.1"),
    ]);
    expect(created).toBeNull();
    const l = await link(host.name, "flannel.1");
    expect(l).toMatchObject({
      mtu: 1450,
      address: "02:11:22:33:44:55",
      linkinfo: {
        info_kind: "vxlan",
        info_data: {
          id: 1,
          local: "192.0.2.10",
          link: "ul0",
          port: 8472,
          learning: false,
          gbp: true,
          ttl: 64,
          tos: "0x10",
        },
      },
    });
    expect(got).toMatchObject({
      kind: "vxlan",
      vxlan: {
        vni: 1,
        local: "192.0.2.10",
        underlayIndex: ul["index"],
        port: 8472,
        learning: false,
        gbp: true,
        ttl: 64,
        tos: 16,
        l2miss: false,
        l3miss: false,
      },
    });
  });

  it("lists links with their kinds", async () => {
    const [, , , , list] = await netlinkOk([
      ...open(),
      call("h", "createBridge", { name: "br9" }),
      call("h", "listLinks"),
    ]);
    expect((list as Json[]).map((l) => [l["name"], l["kind"]])).toEqual([
      ["lo", ""],
      ["br9", "bridge"],
    ]);
  });
});

describe("addresses", () => {
  it("adds IPv4 with a computed broadcast and IPv6 without DAD, lists, replaces and deletes them", async () => {
    const res = await netlinkOk([
      ...open(),
      call("h", "createVeth", { name: "a0", peer: { name: "a1" } }),
      call("h", "setLinkUp", "a0"),
      call("h", "addAddr", "a0", "10.244.1.1/24"),
      call("h", "addAddr", "a0", { cidr: "fd00:10::1/64", noDad: true }),
      call("h", "listAddrs", { dev: "a0", family: 4 }),
      call("h", "listAddrs", { dev: "a0", family: 6 }),
      call("h", "replaceAddr", "a0", "10.244.1.1/24"),
    ]);
    expect(res[7]).toEqual([
      expect.objectContaining({ ip: "10.244.1.1", prefixLen: 24, broadcast: "10.244.1.255", family: 4, scope: 0 }),
    ]);
    expect(res[8]).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ ip: "fd00:10::1", prefixLen: 64, family: 6, tentative: false }),
      ]),
    );
    const [a] = await ipj<Json[]>(host.name, ["addr", "show", "a0"]);
    const infos = (a?.["addr_info"] ?? []) as Json[];
    expect(infos).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ family: "inet", local: "10.244.1.1", prefixlen: 24, broadcast: "10.244.1.255" }),
        expect.objectContaining({ family: "inet6", local: "fd00:10::1", prefixlen: 64 }),
      ]),
    );
    await netlinkOk([
      ...open(),
      call("h", "deleteAddr", "a0", "10.244.1.1/24"),
      call("h", "deleteAddr", "a0", "fd00:10::1/64"),
    ]);
    const [b] = await ipj<Json[]>(host.name, ["addr", "show", "a0"]);
    const left = ((b?.["addr_info"] ?? []) as Json[]).filter((i) => i["scope"] !== "link");
    expect(left).toEqual([]);
  });

  it("fails to add an address twice with EEXIST naming the operation", async () => {
    const res = await netlink([
      ...open(),
      call("h", "createVeth", { name: "a0", peer: { name: "a1" } }),
      call("h", "addAddr", "a0", "10.244.1.1/24"),
      call("h", "addAddr", "a0", "10.244.1.1/24"),
    ]);
    expect(res[5]?.error).toMatchObject({ name: "NetlinkError", code: "EEXIST", errno: 17 });
    expect(res[5]?.error?.message).toContain("RTM_NEWADDR 10.244.1.1/24 dev a0: EEXIST");
  });
});

/** A veth "r0" up with 192.0.2.1/24 in the host netns, for route tests. */
function routedLink(): Step[] {
  return [
    ...open(),
    call("h", "createVeth", { name: "r0", peer: { name: "r1" } }),
    call("h", "setLinkUp", "r1"),
    call("h", "setLinkUp", "r0"),
    call("h", "addAddr", "r0", "192.0.2.1/24"),
    call("h", "addAddr", "r0", { cidr: "fd00:2::1/64", noDad: true }),
  ];
}

describe("routes", () => {
  it("adds routes via a gateway, onlink, in another table, with metric, MTU and advmss, and a blackhole", async () => {
    await netlinkOk([
      ...routedLink(),
      call("h", "addRoute", { dst: "10.244.2.0/24", gateway: "192.0.2.2", dev: "r0" }),
      call("h", "addRoute", { dst: "10.244.3.0/24", gateway: "10.244.3.0", dev: "r0", onlink: true }),
      call("h", "addRoute", {
        dst: "10.244.4.0/24",
        gateway: "192.0.2.3",
        dev: "r0",
        table: 100,
        priority: 50,
        mtu: 1400,
        advmss: 1360,
      }),
      call("h", "addRoute", { dst: "10.244.5.0/24", type: "blackhole" }),
      call("h", "addRoute", { dst: "fd00:99::/64", gateway: "fd00:2::2", dev: "r0" }),
      call("h", "addRoute", { dst: "default", gateway: "192.0.2.254" }),
    ]);
    const main = await ipj<Json[]>(host.name, ["route", "show"]);
    expect(main).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: "10.244.2.0/24", gateway: "192.0.2.2", dev: "r0" }),
        expect.objectContaining({ dst: "10.244.3.0/24", gateway: "10.244.3.0", dev: "r0", flags: ["onlink"] }),
        expect.objectContaining({ type: "blackhole", dst: "10.244.5.0/24" }),
        expect.objectContaining({ dst: "default", gateway: "192.0.2.254", dev: "r0" }),
      ]),
    );
    const t100 = await ipj<Json[]>(host.name, ["route", "show", "table", "100"]);
    expect(t100).toEqual([
      expect.objectContaining({
        dst: "10.244.4.0/24",
        gateway: "192.0.2.3",
        metric: 50,
        metrics: [{ mtu: 1400, advmss: 1360 }],
      }),
    ]);
    const v6 = await ipj<Json[]>(host.name, ["-6", "route", "show", "fd00:99::/64"]);
    expect(v6).toEqual([expect.objectContaining({ gateway: "fd00:2::2", dev: "r0" })]);
  });

  it("lists routes of a table and decodes them like ip route", async () => {
    const res = await netlinkOk([
      ...routedLink(),
      call("h", "addRoute", { dst: "10.244.3.0/24", gateway: "10.244.3.0", dev: "r0", onlink: true }),
      call("h", "addRoute", {
        dst: "10.244.4.0/24",
        gateway: "192.0.2.3",
        dev: "r0",
        table: 100,
        priority: 50,
        mtu: 1400,
      }),
      call("h", "listRoutes", { family: 4 }),
      call("h", "listRoutes", { table: 100 }),
      call("h", "getLink", "r0"),
    ]);
    const r0 = (res[12] as Json)["index"];
    expect(res[10]).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          dst: "10.244.3.0/24",
          gateway: "10.244.3.0",
          oif: r0,
          onlink: true,
          table: 254,
          protocol: 3,
          scope: 0,
          type: "unicast",
        }),
        expect.objectContaining({ dst: "192.0.2.0/24", oif: r0, scope: 253, protocol: 2, src: "192.0.2.1" }),
      ]),
    );
    expect(res[11]).toEqual([
      expect.objectContaining({ dst: "10.244.4.0/24", gateway: "192.0.2.3", table: 100, priority: 50, mtu: 1400 }),
    ]);
  });

  it("replaces a route's gateway and deletes routes; deleting a missing route fails with ESRCH", async () => {
    const res = await netlink([
      ...routedLink(),
      call("h", "addRoute", { dst: "10.244.2.0/24", gateway: "192.0.2.2", dev: "r0" }),
      call("h", "replaceRoute", { dst: "10.244.2.0/24", gateway: "192.0.2.9", dev: "r0" }),
      call("h", "replaceRoute", { dst: "10.244.6.0/24", gateway: "192.0.2.9", dev: "r0" }),
      call("h", "addRoute", { dst: "10.244.2.0/24", gateway: "192.0.2.9", dev: "r0" }),
    ]);
    expect(res.slice(0, 11).every((r) => r.ok)).toBe(true);
    expect(res[11]?.error).toMatchObject({ code: "EEXIST" });
    const main = await ipj<Json[]>(host.name, ["route", "show", "10.244.2.0/24"]);
    expect(main).toEqual([expect.objectContaining({ gateway: "192.0.2.9" })]);
    const del = await netlink([
      ...open(),
      call("h", "deleteRoute", { dst: "10.244.2.0/24" }),
      call("h", "deleteRoute", { dst: "10.244.6.0/24", gateway: "192.0.2.9", dev: "r0" }),
      call("h", "deleteRoute", { dst: "10.244.6.0/24" }),
    ]);
    expect(del[3]?.ok && del[4]?.ok).toBe(true);
    expect(del[5]?.error).toMatchObject({ name: "NetlinkError", code: "ESRCH" });
    expect(await ipj<Json[]>(host.name, ["route", "show", "10.244.0.0/16"])).toEqual([]);
  });

  it("answers which route reaches an address, like ip route get", async () => {
    const res = await netlinkOk([
      ...routedLink(),
      call("h", "addRoute", { dst: "10.244.2.0/24", gateway: "192.0.2.2", dev: "r0" }),
      call("h", "getRouteTo", "192.0.2.7"),
      call("h", "getRouteTo", "10.244.2.5"),
      call("h", "getLink", "r0"),
    ]);
    const r0 = (res[11] as Json)["index"];
    expect(res[9]).toMatchObject({ dst: "192.0.2.7/32", oif: r0, src: "192.0.2.1" });
    expect((res[9] as Json)["gateway"]).toBeUndefined();
    expect(res[10]).toMatchObject({ dst: "10.244.2.5/32", gateway: "192.0.2.2", oif: r0 });
    const bad = await netlink([...open(), call("h", "getRouteTo", "198.51.100.1")]);
    expect(bad[3]?.error).toMatchObject({ code: "ENETUNREACH" });
  });
});

describe("neighbours and FDB", () => {
  function vxlan(): Step[] {
    return [
      ...open(),
      call("h", "createVeth", { name: "ul0", peer: { name: "ul1" } }),
      call("h", "addAddr", "ul0", "192.0.2.10/24"),
      call("h", "createVxlan", { name: "vx1", vni: 1, local: "192.0.2.10", port: 8472 }),
      call("h", "setLinkUp", "vx1"),
    ];
  }

  it("replaces a permanent neighbour (flannel's ARP entry), lists and deletes it", async () => {
    const res = await netlinkOk([
      ...vxlan(),
      call("h", "replaceNeigh", { dev: "vx1", ip: "10.244.2.0", mac: "aa:bb:cc:dd:ee:01" }),
      call("h", "replaceNeigh", { dev: "vx1", ip: "10.244.2.0", mac: "aa:bb:cc:dd:ee:02" }),
      call("h", "listNeighs", { dev: "vx1", family: 4 }),
    ]);
    expect(res[9]).toEqual([
      expect.objectContaining({ ip: "10.244.2.0", mac: "aa:bb:cc:dd:ee:02", permanent: true, family: 4 }),
    ]);
    expect(await ipj<Json[]>(host.name, ["neigh", "show", "dev", "vx1"])).toEqual([
      expect.objectContaining({ dst: "10.244.2.0", lladdr: "aa:bb:cc:dd:ee:02", state: ["PERMANENT"] }),
    ]);
    await netlinkOk([...open(), call("h", "deleteNeigh", { dev: "vx1", ip: "10.244.2.0" })]);
    expect(await ipj<Json[]>(host.name, ["neigh", "show", "dev", "vx1"])).toEqual([]);
  });

  it("appends, replaces, lists and deletes FDB entries `mac dst ip self permanent`", async () => {
    const res = await netlinkOk([
      ...vxlan(),
      call("h", "appendFdb", { dev: "vx1", mac: "00:00:00:00:00:00", dst: "192.0.2.20" }),
      call("h", "appendFdb", { dev: "vx1", mac: "00:00:00:00:00:00", dst: "192.0.2.21" }),
      call("h", "replaceFdb", { dev: "vx1", mac: "aa:bb:cc:dd:ee:01", dst: "192.0.2.22" }),
      call("h", "replaceFdb", { dev: "vx1", mac: "aa:bb:cc:dd:ee:01", dst: "192.0.2.23" }),
      call("h", "listFdb", { dev: "vx1" }),
    ]);
    const ours = (res[11] as Json[]).filter((n) => n["ip"] !== undefined);
    expect(ours).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          mac: "00:00:00:00:00:00",
          ip: "192.0.2.20",
          self: true,
          permanent: true,
          family: "bridge",
        }),
        expect.objectContaining({ mac: "00:00:00:00:00:00", ip: "192.0.2.21" }),
        expect.objectContaining({ mac: "aa:bb:cc:dd:ee:01", ip: "192.0.2.23" }),
      ]),
    );
    expect(ours).toHaveLength(3);
    const fdb = await bridgej<Json[]>(host.name, ["fdb", "show", "dev", "vx1"]);
    expect(fdb).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ mac: "aa:bb:cc:dd:ee:01", dst: "192.0.2.23", flags: ["self"], state: "permanent" }),
      ]),
    );
    await netlinkOk([
      ...open(),
      call("h", "deleteFdb", { dev: "vx1", mac: "aa:bb:cc:dd:ee:01", dst: "192.0.2.23" }),
      call("h", "deleteFdb", { dev: "vx1", mac: "00:00:00:00:00:00", dst: "192.0.2.20" }),
    ]);
    const left = (await bridgej<Json[]>(host.name, ["fdb", "show", "dev", "vx1"])).filter(
      (e) => e["dst"] !== undefined,
    );
    expect(left).toEqual([expect.objectContaining({ mac: "00:00:00:00:00:00", dst: "192.0.2.21" })]);
  });
});

describe("errors", () => {
  it(
    "names the errno and the operation: EEXIST for a duplicate " +
      "veth, LinkNotFoundError for a missing link, ENODEV deleting one",
    async () => {
      const res = await netlink([
        ...open(),
        call("h", "createVeth", { name: "d0", peer: { name: "eth0", netnsFd: { $fd: "pod" } } }),
        call("h", "createVeth", { name: "d0", peer: { name: "x0" } }),
        call("h", "getLink", "nosuch0"),
        call("h", "findLink", "nosuch0"),
        call("h", "deleteLink", 99999),
        call("h", "setLinkUp", "nosuch0"),
      ]);
      expect(res[4]?.error).toMatchObject({ name: "NetlinkError", code: "EEXIST", errno: 17 });
      expect(res[4]?.error?.message).toBe("RTM_NEWLINK veth d0 peer x0: EEXIST (File exists)");
      expect(res[5]?.error).toMatchObject({ name: "LinkNotFoundError", code: "ENODEV" });
      expect(res[5]?.error?.message).toContain('link "nosuch0"');
      expect(res[6]).toEqual({ ok: true, value: null });
      expect(res[7]?.error).toMatchObject({ name: "NetlinkError", code: "ENODEV" });
      expect(res[7]?.error?.message).toContain("RTM_DELLINK index 99999");
      expect(res[8]?.error).toMatchObject({ name: "LinkNotFoundError" });
    },
  );

  it("reports a missing netns path as NetnsNotFoundError and a non-netns file as NotNetnsError", async () => {
    const res = await netlink([
      { op: "netns", name: "x", path: `/run/netns/${prefix}missing` },
      { op: "netns", name: "y", path: "/etc/hostname" },
      { op: "client", name: "z", netns: `/run/netns/${prefix}missing` },
    ]);
    expect(res[0]?.error).toMatchObject({ name: "NetnsNotFoundError", code: "ENOENT" });
    expect(res[1]?.error).toMatchObject({ name: "NotNetnsError", code: "ENOTNETNS" });
    expect(res[2]?.error).toMatchObject({ name: "NetnsNotFoundError" });
  });

  it("reports a bridge option the kernel lacks with its errno name", async () => {
    const res = await netlink([...open(), call("h", "createBridge", { name: "brv", vlanFiltering: true })]);
    // Kernels without CONFIG_BRIDGE_VLAN_FILTERING answer EOPNOTSUPP; others create the bridge.
    if (res[3]?.ok)
      expect((await link(host.name, "brv"))["linkinfo"]).toMatchObject({ info_data: { vlan_filtering: 1 } });
    else expect(res[3]?.error).toMatchObject({ code: "EOPNOTSUPP" });
  });
});
