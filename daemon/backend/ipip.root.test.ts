// The ipip backend on the real kernel: RouteNetwork + KernelNetOps run by the bun driver in a netns
// of ours, state checked with iproute2. Where the kernel has no ipip support (this test VM), the
// device tests skip with the kernel's reason, and the one test that runs checks the start-up error.
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { missingLinkKind } from "../../netns-fixtures/topology/kernel-support.ts";
import { REPO_ROOT } from "../../netns-fixtures/oracles/reference.ts";
import { ipJson, run } from "../../netns-fixtures/topology/sh.ts";
import { Topology } from "../../netns-fixtures/topology/topology.ts";

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const DRIVER = join(import.meta.dirname, "..", "testing", "route-network-driver.ts");
const noIpip = await missingLinkKind("ipip");

const peers = [
  { subnet: "10.244.2.0/24", ip: "192.0.2.12" },
  { subnet: "10.244.3.0/24", ip: "198.51.100.13" },
];

describe("ipip backend on the kernel", () => {
  let topo: Topology;
  let ns = "";
  beforeEach(async () => {
    topo = new Topology();
    const [n1] = await topo.underlay(2);
    ns = n1?.ns ?? "";
  });
  afterEach(() => topo.cleanup());

  const drive = (plan: Record<string, unknown>) =>
    run(
      BUN,
      [
        DRIVER,
        `/run/netns/${ns}`,
        JSON.stringify({
          kind: "ipip",
          underlay: "eth0",
          underlayIp: "192.0.2.11",
          own: "10.244.1.0/24",
          peers,
          ...plan,
        }),
      ],
      { allowFail: true },
    );

  it.runIf(noIpip !== undefined)(
    `without kernel ipip support, fails naming the missing module ipip and creates nothing (${noIpip ?? ""})`,
    async () => {
      const r = await drive({});
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toContain(
        "cannot create flannel.ipip: this kernel has no ipip tunnel support " +
          "(module ipip, CONFIG_NET_IPIP): load it with `modprobe ipip`",
      );
      expect(r.stderr).toContain("EOPNOTSUPP");
      const links = await ipJson<{ ifname: string }[]>(ns, ["link", "show"]);
      expect(links.map((l) => l.ifname).sort()).toEqual(["eth0", "lo"]);
    },
  );

  describe.skipIf(noIpip !== undefined)(`with kernel ipip support${noIpip ? ` (skipped: ${noIpip})` : ""}`, () => {
    it(
      "flannel.ipip: local = interface address, any remote, MTU - 20, " +
        "nopmtudisc, subnet.0/32, a route per peer via its address onlink",
      async () => {
        const r = await drive({});
        expect(r.exitCode, r.stderr).toBe(0);
        expect((JSON.parse(r.stdout) as { mtu: number }).mtu).toBe(1480);
        const [dev] = await ipJson<
          {
            mtu: number;
            flags: string[];
            linkinfo: {
              info_kind: string;
              info_data: { local: string; remote: string; ttl?: number; pmtudisc: boolean };
            };
          }[]
        >(ns, ["-d", "link", "show", "flannel.ipip"]);
        expect(dev?.mtu).toBe(1480);
        expect(dev?.flags).toContain("UP");
        expect(dev?.linkinfo.info_kind).toBe("ipip");
        expect(dev?.linkinfo.info_data).toMatchObject({ local: "192.0.2.11", remote: "any", pmtudisc: false });
        const addrs = await ipJson<{ addr_info: { local: string; prefixlen: number }[] }[]>(ns, [
          "addr",
          "show",
          "flannel.ipip",
        ]);
        expect(addrs[0]?.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).toEqual(["10.244.1.0/32"]);
        const routes = await ipJson<{ dst: string; gateway: string; dev: string; flags: string[] }[]>(ns, [
          "route",
          "show",
          "root",
          "10.244.0.0/16",
        ]);
        expect(routes.map((x) => [x.dst, x.gateway, x.dev, x.flags.includes("onlink")])).toEqual([
          ["10.244.2.0/24", "192.0.2.12", "flannel.ipip", true],
          ["10.244.3.0/24", "198.51.100.13", "flannel.ipip", true],
        ]);
      },
    );

    it("DirectRouting: a peer on our L2 is routed on eth0, one behind a gateway through flannel.ipip", async () => {
      await run("ip", ["-n", ns, "route", "add", "198.51.100.0/24", "via", "192.0.2.1"]);
      const r = await drive({ directRouting: true });
      expect(r.exitCode, r.stderr).toBe(0);
      const routes = await ipJson<{ dst: string; gateway: string; dev: string }[]>(ns, [
        "route",
        "show",
        "root",
        "10.244.0.0/16",
      ]);
      expect(routes.map((x) => [x.dst, x.gateway, x.dev])).toEqual([
        ["10.244.2.0/24", "192.0.2.12", "eth0"],
        ["10.244.3.0/24", "198.51.100.13", "flannel.ipip"],
      ]);
    });

    it("a deleted flannel.ipip is recreated and every peer replayed onto it", async () => {
      const r = await drive({ after: "delete-device" });
      expect(r.exitCode, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as { second: { replayed: boolean } }).second.replayed).toBe(true);
      const routes = await ipJson<{ dst: string }[]>(ns, ["route", "show", "dev", "flannel.ipip"]);
      expect(routes.map((x) => x.dst)).toEqual(["10.244.2.0/24", "10.244.3.0/24"]);
    });
  });
});
