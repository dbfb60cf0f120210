// Root tests of the bridge plugin through the compiled binary (dist/bin/bridge), in a fresh node +
// pod netns per case; kernel state checked with iproute2/iptables/nft as the independent oracle.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { callPlugin, type PluginCall } from "../../conformance/exec.ts";
import { REFERENCE_PLUGIN_DIR, requireBuilt, WEFT_PLUGIN_DIR } from "../../netns-fixtures/oracles/reference.ts";
import { ipJson, run, runIn, waitFor } from "../../netns-fixtures/topology/sh.ts";
import { EchoServer, tcpProbe } from "../../netns-fixtures/topology/tcp.ts";
import { Topology } from "../../netns-fixtures/topology/topology.ts";

const VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
const atLeast = (v: string, min: string): boolean => v.localeCompare(min, undefined, { numeric: true }) >= 0;

type Iface = { name: string; mac?: string; sandbox?: string };
type IpLink = {
  ifname: string;
  mtu: number;
  address: string;
  master?: string;
  flags: string[];
  linkinfo?: { info_kind?: string; info_slave_data?: { hairpin?: boolean } };
};
type IpAddr = { addr_info: { family: string; local: string; prefixlen: number; scope: string }[] };
type IpRoute = { dst: string; gateway?: string; dev?: string };

/** Whether this kernel has bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING); some VM kernels lack it. */
async function kernelHasVlanFiltering(): Promise<boolean> {
  const ns = `wvlan${process.pid}`;
  await run("ip", ["netns", "add", ns]);
  try {
    return (
      (await run("ip", ["-n", ns, "link", "add", "b0", "type", "bridge", "vlan_filtering", "1"], { allowFail: true }))
        .exitCode === 0
    );
  } finally {
    await run("ip", ["netns", "del", ns], { allowFail: true });
  }
}
const VLAN_FILTERING = await kernelHasVlanFiltering();

describe("bridge plugin binary", () => {
  let topo: Topology;
  let node: string;
  let pod: string;
  let dataDir: string;
  beforeAll(() => void requireBuilt());
  beforeEach(async () => {
    topo = new Topology();
    node = await topo.netns("node");
    pod = await topo.netns("pod");
    dataDir = mkdtempSync(join(tmpdir(), `${topo.prefix}-ipam-`));
  });
  afterEach(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    await topo.cleanup();
  });

  const conf = (v: string, extra: Record<string, unknown> = {}) => ({
    cniVersion: v,
    name: "wnet",
    type: "bridge",
    bridge: "wbr0",
    isDefaultGateway: true,
    hairpinMode: true,
    mtu: 1400,
    ipam: { type: "host-local", ranges: [[{ subnet: "10.244.7.0/24" }]], dataDir },
    ...extra,
  });
  const call = (command: string, c: unknown, more: Partial<PluginCall> = {}) =>
    callPlugin({
      plugin: join(WEFT_PLUGIN_DIR, "bridge"),
      command,
      conf: c,
      node,
      netns: `/run/netns/${pod}`,
      path: WEFT_PLUGIN_DIR,
      containerID: "cid-root",
      ...more,
    });
  const ipFiles = () =>
    readdirSync(join(dataDir, "wnet")).filter((f) => /^[0-9a-f.:]+$/.test(f) && f.includes(".") !== f.includes(":"));
  const nat = async () => (await runIn(node, "iptables", ["-w", "-t", "nat", "-S"])).stdout;

  it.each(VERSIONS)(
    "[%s] ADD builds bridge, veth and pod addresses that carry TCP; CHECK passes; DEL removes all but the bridge",
    async (v) => {
      const add = await call("ADD", conf(v));
      expect(add.code, add.stdout + add.stderr).toBe(0);
      const [br] = await ipJson<IpLink[]>(node, ["-d", "link", "show", "wbr0"]);
      expect(br?.linkinfo?.info_kind).toBe("bridge");
      const ports = await ipJson<IpLink[]>(node, ["-d", "link", "show", "master", "wbr0"]);
      expect(ports).toHaveLength(1);
      expect(ports[0]?.ifname).toMatch(/^veth[0-9a-f]{8}$/);
      expect(ports[0]?.mtu).toBe(1400);
      expect(ports[0]?.linkinfo?.info_slave_data?.hairpin).toBe(true);
      const [eth0] = await ipJson<IpLink[]>(pod, ["link", "show", "eth0"]);
      expect(eth0?.mtu).toBe(1400);
      expect(eth0?.flags).toContain("UP");
      if (atLeast(v, "0.3.0")) {
        const ifs = add.json?.["interfaces"] as Iface[];
        expect(ifs.map((i) => i.name)).toEqual(["wbr0", ports[0]?.ifname, "eth0"]);
        expect(ifs.map((i) => i.mac)).toEqual([br?.address, ports[0]?.address, eth0?.address]);
        expect(ifs[2]?.sandbox).toBe(`/run/netns/${pod}`);
      } else {
        expect(add.json?.["ip4"]).toMatchObject({ ip: "10.244.7.2/24", gateway: "10.244.7.1" });
      }
      const [brAddr] = await ipJson<IpAddr[]>(node, ["addr", "show", "wbr0"]);
      expect(brAddr?.addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`)).toEqual([
        "10.244.7.1/24",
      ]);
      const [podAddr] = await ipJson<IpAddr[]>(pod, ["addr", "show", "eth0"]);
      expect(podAddr?.addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`)).toEqual([
        "10.244.7.2/24",
      ]);
      expect(await ipJson<IpRoute[]>(pod, ["route", "show"])).toContainEqual(
        expect.objectContaining({ dst: "default", gateway: "10.244.7.1", dev: "eth0" }),
      );
      expect((await runIn(pod, "ping", ["-c1", "-W2", "10.244.7.1"], { allowFail: true })).exitCode).toBe(0);
      const echo = await EchoServer.start(node, "10.244.7.1", 7788);
      try {
        expect(await tcpProbe(pod, "10.244.7.1", 7788)).toBe("ok");
      } finally {
        echo.stop();
      }
      if (atLeast(v, "0.4.0")) {
        const check = await call("CHECK", { ...conf(v), prevResult: add.json });
        expect(check.code, check.stdout + check.stderr).toBe(0);
      }
      const del = await call("DEL", conf(v));
      expect(del.code, del.stdout + del.stderr).toBe(0);
      expect(await ipJson(pod, ["link", "show", "eth0"]).catch(() => [])).toEqual([]);
      expect(await ipJson(node, ["link", "show", "master", "wbr0"])).toEqual([]);
      expect(await ipJson<IpLink[]>(node, ["link", "show", "wbr0"])).toHaveLength(1);
      expect(ipFiles()).toEqual([]);
    },
  );

  it(
    "reuses an existing bridge (same ifindex), keeps its MAC " +
      "across ADD and DEL, sets promisc only when asked (checklist 61)",
    async () => {
      const add = await call("ADD", conf("1.0.0"));
      expect(add.code).toBe(0);
      const [before] = await ipJson<(IpLink & { ifindex: number })[]>(node, ["link", "show", "wbr0"]);
      expect(before?.flags).not.toContain("PROMISC");
      expect((await call("DEL", conf("1.0.0"))).code).toBe(0);
      const add2 = await call("ADD", conf("1.0.0", { promiscMode: true, hairpinMode: false }), {
        containerID: "cid-root2",
      });
      expect(add2.code, add2.stdout).toBe(0);
      const [after] = await ipJson<(IpLink & { ifindex: number })[]>(node, ["link", "show", "wbr0"]);
      expect(after?.ifindex).toBe(before?.ifindex);
      expect(after?.address).toBe(before?.address);
      expect(after?.flags).toContain("PROMISC");
    },
  );

  it(
    "takes the pod MAC from CNI_ARGS, " + "args.cni.mac and runtimeConfig.mac in that rising precedence (checklist 66)",
    async () => {
      const mac = async () => (await ipJson<IpLink[]>(pod, ["link", "show", "eth0"]))[0]?.address;
      const cases: [Record<string, unknown>, string][] = [
        [{}, "02:00:00:00:00:01"],
        [{ args: { cni: { mac: "02:00:00:00:00:02" } } }, "02:00:00:00:00:02"],
        [
          { args: { cni: { mac: "02:00:00:00:00:02" } }, runtimeConfig: { mac: "02:00:00:00:00:03" } },
          "02:00:00:00:00:03",
        ],
      ];
      for (const [extra, want] of cases) {
        const add = await call("ADD", conf("1.0.0", extra), { args: "IgnoreUnknown=1;MAC=02:00:00:00:00:01" });
        expect(add.code, add.stdout).toBe(0);
        expect(await mac()).toBe(want);
        expect((await call("DEL", conf("1.0.0", extra), { args: "IgnoreUnknown=1;MAC=02:00:00:00:00:01" })).code).toBe(
          0,
        );
      }
    },
  );

  it(
    "disableContainerInterface leaves eth0 down in layer-2 " +
      "mode; portIsolation isolates the host port (checklist 71)",
    async () => {
      const l2 = conf("1.0.0", {
        ipam: {},
        isDefaultGateway: false,
        disableContainerInterface: true,
        portIsolation: true,
        hairpinMode: false,
      });
      const add = await call("ADD", l2);
      expect(add.code, add.stdout + add.stderr).toBe(0);
      const [eth0] = await ipJson<IpLink[]>(pod, ["link", "show", "eth0"]);
      expect(eth0?.flags).not.toContain("UP");
      const [port] = await ipJson<{ linkinfo?: { info_slave_data?: { isolated?: boolean } } }[]>(node, [
        "-d",
        "link",
        "show",
        "master",
        "wbr0",
      ]);
      expect(port?.linkinfo?.info_slave_data?.isolated).toBe(true);
      const withIpam = await call("ADD", { ...conf("1.0.0"), disableContainerInterface: true }, { ifName: "eth1" });
      expect(withIpam.json?.["code"]).toBe(7);
      expect(withIpam.json?.["msg"]).toBe("cannot use IPAM when DisableContainerInterface flag is set");
      expect((await call("DEL", l2)).code).toBe(0);
    },
  );

  it("CHECK notices a pod route removed after ADD", async () => {
    const add = await call("ADD", conf("1.0.0"));
    expect(add.code).toBe(0);
    await run("ip", ["-n", pod, "route", "del", "default"]);
    const check = await call("CHECK", { ...conf("1.0.0"), prevResult: add.json });
    expect(check.code).toBe(1);
    expect(check.json?.["msg"]).toMatch(/Expected Route .*0\.0\.0\.0\/0.* not found in routing table/);
  });

  it(
    "dual stack: both gateways on the bridge, " + "both addresses and default routes in the pod, forwarding on",
    async () => {
      const ranges = [[{ subnet: "10.244.7.0/24" }], [{ subnet: "fd00:7::/64" }]];
      const add = await call("ADD", conf("1.1.0", { ipam: { type: "host-local", ranges, dataDir } }));
      expect(add.code, add.stdout + add.stderr).toBe(0);
      expect(add.json?.["ips"]).toEqual([
        { address: "10.244.7.2/24", gateway: "10.244.7.1", interface: 2 },
        { address: "fd00:7::2/64", gateway: "fd00:7::1", interface: 2 },
      ]);
      const [brAddr] = await ipJson<IpAddr[]>(node, ["addr", "show", "wbr0"]);
      expect(brAddr?.addr_info.filter((a) => a.scope === "global").map((a) => `${a.local}/${a.prefixlen}`)).toEqual([
        "10.244.7.1/24",
        "fd00:7::1/64",
      ]);
      const [podAddr] = await ipJson<IpAddr[]>(pod, ["addr", "show", "eth0"]);
      expect(podAddr?.addr_info.filter((a) => a.scope === "global").map((a) => `${a.local}/${a.prefixlen}`)).toEqual([
        "10.244.7.2/24",
        "fd00:7::2/64",
      ]);
      expect(await ipJson<IpRoute[]>(pod, ["-6", "route", "show"])).toContainEqual(
        expect.objectContaining({ dst: "default", gateway: "fd00:7::1" }),
      );
      expect(
        (await runIn(node, "sysctl", ["-n", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"])).stdout
          .split("\n")
          .slice(0, 2),
      ).toEqual(["1", "1"]);
      const del = await call("DEL", conf("1.1.0", { ipam: { type: "host-local", ranges, dataDir } }));
      expect(del.code, del.stdout).toBe(0);
    },
  );

  it("ipMasq with iptables: the per-container chain exists after ADD and is gone after DEL", async () => {
    const add = await call("ADD", conf("1.0.0", { ipMasq: true, ipMasqBackend: "iptables" }));
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const rules = await nat();
    const chain = /-A POSTROUTING -s 10\.244\.7\.2\/32 .*-j (CNI-[0-9a-f]{24})/.exec(rules)?.[1];
    expect(chain).toBeDefined();
    expect(rules).toContain(`-A ${chain} -d 10.244.7.0/24`);
    expect(rules).toMatch(new RegExp(`-A ${chain} ! -d 224\\.0\\.0\\.0/4 .*-j MASQUERADE`));
    expect((await call("DEL", conf("1.0.0", { ipMasq: true, ipMasqBackend: "iptables" }))).code).toBe(0);
    expect(await nat()).not.toContain(chain);
  });

  it(
    "ipMasq with nftables: one commented rule in inet " + "cni_plugins_masquerade masq_checks, removed by DEL",
    async () => {
      const add = await call("ADD", conf("1.0.0", { ipMasq: true, ipMasqBackend: "nftables" }));
      expect(add.code, add.stdout + add.stderr).toBe(0);
      const list = async () =>
        (await runIn(node, "nft", ["list", "chain", "inet", "cni_plugins_masquerade", "masq_checks"])).stdout;
      const before = await list();
      expect(before).toMatch(
        new RegExp(
          String.raw`ip saddr 10\.244\.7\.2 ip daddr != 10\.244\.7\.0\/24 masquerade ` +
            String.raw`comment "[0-9a-f]{16}-[0-9a-f]{16}, net: wnet, if: eth0, id: cid-root"`,
        ),
      );
      expect((await call("DEL", conf("1.0.0", { ipMasq: true, ipMasqBackend: "nftables" }))).code).toBe(0);
      expect(await list()).not.toMatch(/saddr .* masquerade/);
    },
  );

  it("macspoofchk drops frames from a spoofed pod MAC and DEL removes its nft chains (checklist 72)", async () => {
    const c = conf("1.0.0", { macspoofchk: true, isDefaultGateway: false, isGateway: true });
    const add = await call("ADD", c);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const table = async () =>
      (await runIn(node, "nft", ["list", "table", "bridge", "nat"], { allowFail: true })).stdout;
    expect(await table()).toContain('comment "macspoofchk-cid-root-eth0"');
    expect(await table()).toContain("chain cni-br-iface-cid-root-eth0-mac");
    expect((await runIn(pod, "ping", ["-c1", "-W2", "10.244.7.1"], { allowFail: true })).exitCode).toBe(0);
    await run("ip", ["-n", pod, "neigh", "flush", "all"]);
    await run("ip", ["-n", node, "neigh", "flush", "all"]);
    await run("ip", ["-n", pod, "link", "set", "eth0", "address", "02:de:ad:be:ef:01"]);
    expect((await runIn(pod, "ping", ["-c1", "-W1", "10.244.7.1"], { allowFail: true })).exitCode).not.toBe(0);
    // control: without the drop rule the spoofed MAC gets through, so the rule did the dropping
    await runIn(node, "nft", ["flush", "chain", "bridge", "nat", "cni-br-iface-cid-root-eth0-mac"]);
    expect((await runIn(pod, "ping", ["-c1", "-W2", "10.244.7.1"], { allowFail: true })).exitCode).toBe(0);
    const del = await call("DEL", c);
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(await table()).not.toContain("cni-br-iface-cid-root-eth0");
    expect(await table()).not.toContain("macspoofchk-cid-root-eth0");
  });

  it.runIf(VLAN_FILTERING)(
    "vlan 100: VLAN filtering on the bridge, the pod port on VID " +
      "100 only, the gateway on wbr0.100 and reachable (checklist 70)",
    async () => {
      const c = conf("1.0.0", { vlan: 100 });
      const add = await call("ADD", c);
      expect(add.code, add.stdout + add.stderr).toBe(0);
      const ifs = add.json?.["interfaces"] as Iface[];
      expect(ifs.map((i) => i.name)).toEqual(["wbr0", expect.stringMatching(/^veth[0-9a-f]{8}$/), "eth0", "wbr0.100"]);
      const [br] = await ipJson<{ linkinfo?: { info_data?: { vlan_filtering?: number } } }[]>(node, [
        "-d",
        "link",
        "show",
        "wbr0",
      ]);
      expect(br?.linkinfo?.info_data?.vlan_filtering).toBe(1);
      type Vlans = { ifname: string; vlans: { vlan: number; flags?: string[] }[] }[];
      const shown = JSON.parse(
        (await runIn(node, "bridge", ["-j", "vlan", "show", "dev", ifs[1]?.name ?? ""])).stdout,
      ) as Vlans;
      expect(shown[0]?.vlans).toEqual([{ vlan: 100, flags: ["PVID", "Egress Untagged"] }]);
      const [gw] = await ipJson<IpAddr[]>(node, ["addr", "show", "wbr0.100"]);
      expect(gw?.addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`)).toEqual([
        "10.244.7.1/24",
      ]);
      expect((await runIn(pod, "ping", ["-c1", "-W2", "10.244.7.1"], { allowFail: true })).exitCode).toBe(0);
      const check = await call("CHECK", { ...c, prevResult: add.json });
      expect(check.code, check.stdout).toBe(0);
      expect((await call("DEL", c)).code).toBe(0);
    },
  );

  it.runIf(VLAN_FILTERING)("vlanTrunk: trunk VIDs tagged on the pod port plus VID 1 as PVID", async () => {
    const c = conf("1.0.0", { vlanTrunk: [{ id: 101 }, { minID: 200, maxID: 202 }], isDefaultGateway: false });
    const add = await call("ADD", c);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const port = (add.json?.["interfaces"] as Iface[])[1]?.name ?? "";
    const shown = JSON.parse((await runIn(node, "bridge", ["-j", "vlan", "show", "dev", port])).stdout) as {
      vlans: { vlan: number; vlanEnd?: number; flags?: string[] }[];
    }[];
    const vids = (shown[0]?.vlans ?? []).flatMap((v) =>
      Array.from({ length: (v.vlanEnd ?? v.vlan) - v.vlan + 1 }, (_, i) => v.vlan + i),
    );
    expect(vids.sort((a, b) => a - b)).toEqual([1, 101, 200, 201, 202]);
    expect(shown[0]?.vlans.find((v) => v.vlan === 1)?.flags).toEqual(["PVID", "Egress Untagged"]);
    expect((await call("DEL", c)).code).toBe(0);
  });

  it.runIf(!VLAN_FILTERING)(
    "vlan on a kernel without bridge VLAN filtering fails with a message saying so, and leaves nothing",
    async () => {
      const add = await call("ADD", conf("1.0.0", { vlan: 100 }));
      expect(add.code).toBe(1);
      expect(String(add.json?.["details"])).toMatch(/CONFIG_BRIDGE_VLAN_FILTERING/);
      expect(await ipJson(pod, ["link", "show", "eth0"]).catch(() => [])).toEqual([]);
      expect(readdirSync(dataDir)).toEqual([]);
    },
  );

  it("a failure after IPAM releases the address and removes the veth pair (checklist 67)", async () => {
    await run("ip", ["-n", node, "link", "add", "wbr0", "type", "bridge"]);
    await run("ip", ["-n", node, "addr", "add", "10.244.99.1/24", "dev", "wbr0"]);
    const add = await call("ADD", conf("1.0.0", { ipMasq: true }));
    expect(add.code).toBe(1);
    expect(add.json?.["code"]).toBe(7);
    expect(add.json?.["msg"]).toMatch(/"wbr0" already has an IP address different from 10\.244\.7\.1\/24/);
    expect(add.json?.["details"]).toContain(
      '"wbr0" has 10.244.99.1/24 (subnet 10.244.99.0/24), ' +
        "this network's gateway is 10.244.7.1/24 (subnet 10.244.7.0/24)",
    );
    expect(add.json?.["details"]).toContain("ip link delete wbr0");
    expect(ipFiles()).toEqual([]);
    expect(await ipJson(pod, ["link", "show", "eth0"]).catch(() => [])).toEqual([]);
    expect(await ipJson(node, ["link", "show", "master", "wbr0"])).toEqual([]);
  });

  it(
    "DEL with the pod netns already gone succeeds, " + "releases the address and removes the masquerade chain",
    async () => {
      const c = conf("1.0.0", { ipMasq: true, ipMasqBackend: "iptables" });
      const add = await call("ADD", c);
      expect(add.code).toBe(0);
      expect(ipFiles()).toHaveLength(1);
      await run("ip", ["netns", "del", pod]);
      const del = await call("DEL", { ...c, prevResult: add.json });
      expect(del.code, del.stdout + del.stderr).toBe(0);
      expect(ipFiles()).toEqual([]);
      expect(await nat()).not.toMatch(/CNI-[0-9a-f]{24}/);
      // the orphaned host veth goes with the netns; the kernel tears a deleted netns down
      // asynchronously (cleanup_net runs from a workqueue), so give it a moment
      await waitFor(
        "the orphaned host veth to disappear",
        5_000,
        async () => (await ipJson<unknown[]>(node, ["link", "show", "master", "wbr0"])).length === 0,
      );
    },
  );

  it.each([
    ["weft ADD, reference DEL", WEFT_PLUGIN_DIR, REFERENCE_PLUGIN_DIR],
    ["reference ADD, weft DEL", REFERENCE_PLUGIN_DIR, WEFT_PLUGIN_DIR],
  ])(
    "%s: the other implementation removes the veth, the address and the iptables masquerade chain",
    async (_label, addDir, delDir) => {
      const c = conf("1.0.0", { ipMasq: true });
      const add = await call("ADD", c, { plugin: join(addDir, "bridge"), path: addDir });
      expect(add.code, add.stdout + add.stderr).toBe(0);
      expect(await nat()).toMatch(/-j CNI-[0-9a-f]{24}/);
      const del = await call("DEL", c, { plugin: join(delDir, "bridge"), path: delDir });
      expect(del.code, del.stdout + del.stderr).toBe(0);
      expect(await nat()).not.toMatch(/CNI-[0-9a-f]{24}/);
      expect(ipFiles()).toEqual([]);
      expect(await ipJson(node, ["link", "show", "master", "wbr0"])).toEqual([]);
    },
  );

  it("ADD into a netns that does not exist fails with code 3 and allocates nothing", async () => {
    const add = await call("ADD", conf("1.0.0"), { netns: `/run/netns/${topo.prefix}-missing` });
    expect(add.json?.["code"]).toBe(3);
    expect(readdirSync(dataDir)).toEqual([]);
  });
});
