import { describe, expect, it } from "vitest";
import { NetlinkError } from "../../linux/errors.ts";
import { Errno } from "../../linux/errno.ts";
import type { IpipOptions } from "../../linux/netlink/link.ts";
import { RecordingNetlink } from "../../linux/testing/recording-client.ts";
import { parseNetworkConfig } from "../config.ts";
import type { ExternalInterface } from "../iface.ts";
import { parseCidr, type IpNet } from "../../net/prefix.ts";
import { formatLeaseAttrs, type Lease, type LeaseAttrs, type LeaseEvent } from "../lease.ts";
import { memoryLogger } from "../testing/memory-logger.ts";
import { FakeNetOps } from "../testing/fake-netops.ts";
import { KernelNetOps } from "./kernel-netops.ts";
import { routeBackend } from "./route-backend.ts";
import { RouteNetwork } from "./route-network.ts";

const net = (s: string): IpNet => {
  const n = parseCidr(s);
  if (!n) throw new Error(s);
  return n;
};
const ipip = (i: number, type = "ipip"): Lease => ({
  subnet: net(`10.244.${i}.0/24`),
  attrs: { PublicIP: `192.0.2.${10 + i}`, BackendType: type },
});
const added = (...ls: Lease[]): LeaseEvent[] => ls.map((lease) => ({ type: "added", lease }));
const removed = (...ls: Lease[]): LeaseEvent[] => ls.map((lease) => ({ type: "removed", lease }));

function ipipNet(directRouting = false, dp = new FakeNetOps()) {
  const eth0 = dp.addLink("eth0");
  const rn = new RouteNetwork({
    dp,
    kind: "ipip",
    network: net("10.244.0.0/16"),
    underlay: { index: eth0, ip: "192.0.2.11", mtu: 1500 },
    backendMtu: 1400,
    vxlan: { vni: 1, port: 0, gbp: false, learning: false, directRouting },
  });
  rn.prepare();
  rn.start(ipip(1));
  return { dp, rn, eth0, dev: dp.linkIndex("flannel.ipip") ?? -1 };
}

const IFACE: ExternalInterface = { name: "eth0", index: 2, mtu: 1500, ipv4: "192.0.2.11", publicIP: "198.51.100.11" };

async function register(conf: Record<string, unknown>, dp = new FakeNetOps()) {
  dp.addLink("eth0");
  const config = parseNetworkConfig(
    JSON.stringify({ Network: "10.244.0.0/16", ...conf, Backend: { Type: "ipip", ...(conf["Backend"] as object) } }),
    "test",
  );
  let published: LeaseAttrs | undefined;
  const nw = await routeBackend("ipip", dp, memoryLogger()).register({
    config,
    extIface: IFACE,
    acquire: async (attrs) => ((published = attrs), { subnet: net("10.244.1.0/24"), attrs }),
    log: memoryLogger(),
    signal: new AbortController().signal,
  });
  return { dp, nw, published };
}

describe("ipip backend", () => {
  it(
    "creates flannel.ipip before leasing with the interface's own " +
      "address as local and MTU interface - 20, Backend.MTU ignored",
    async () => {
      const { dp, nw, published } = await register({ Backend: { MTU: 1400 } });
      expect(dp.links.get("flannel.ipip")?.ipip).toEqual({ name: "flannel.ipip", localIp: "192.0.2.11", mtu: 1480 });
      expect(nw.mtu).toBe(1480);
      // published as flannel: PublicIP (the public address) and BackendType, no BackendData
      expect(formatLeaseAttrs(published ?? { PublicIP: "" })).toBe(
        '{"PublicIP":"198.51.100.11","PublicIPv6":null,"BackendType":"ipip"}',
      );
      expect(dp.links.get("flannel.ipip")?.addrs).toEqual(["10.244.1.0/32"]);
    },
  );

  it("refuses EnableIPv6 (ipip carries IPv4 only), naming the key", async () => {
    await expect(register({ EnableIPv6: true, IPv6Network: "fd00:10:244::/56" })).rejects.toThrow(
      /ipip backend carries IPv4 only: set "EnableIPv6": false/,
    );
  });

  it("fails registration when the kernel has no ipip support, and leases nothing", async () => {
    const dp = new FakeNetOps();
    dp.ipipUnsupported = new Error("no ipip");
    await expect(register({}, dp)).rejects.toThrow("no ipip");
  });

  it("routes each peer's subnet via its PublicIP through flannel.ipip, onlink, and removes it with the lease", () => {
    const { dp, rn, dev } = ipipNet();
    dp.writes.length = 0;
    rn.handle(added(ipip(2), ipip(3)));
    rn.flush();
    expect(dp.writes).toEqual([
      `route replace 10.244.2.0/24 via 192.0.2.12 dev ${dev} onlink`,
      `route replace 10.244.3.0/24 via 192.0.2.13 dev ${dev} onlink`,
    ]);
    rn.handle(removed(ipip(2)));
    rn.flush();
    expect([...dp.routes.keys()]).toEqual(["10.244.3.0/24"]);
  });

  it("ignores its own lease and leases of other backend types", () => {
    const { dp, rn } = ipipNet();
    rn.handle(added(ipip(1), ipip(4, "vxlan"), ipip(5, "host-gw")));
    rn.flush();
    expect(dp.routes.size).toBe(0);
  });

  it(
    "DirectRouting: a peer reachable without a gateway gets " +
      "the route on the external interface, others the tunnel",
    () => {
      const dp = new FakeNetOps();
      const { rn, eth0, dev } = ipipNet(true, dp);
      dp.lookups.set("192.0.2.12", { ifindex: eth0 });
      dp.lookups.set("192.0.2.13", { ifindex: eth0, gw: "192.0.2.1" });
      rn.handle(added(ipip(2), ipip(3)));
      rn.flush();
      expect(dp.routes.get("10.244.2.0/24")).toEqual({
        dst: "10.244.2.0/24",
        gw: "192.0.2.12",
        ifindex: eth0,
        onlink: true,
      });
      expect(dp.routes.get("10.244.3.0/24")).toEqual({
        dst: "10.244.3.0/24",
        gw: "192.0.2.13",
        ifindex: dev,
        onlink: true,
      });
    },
  );

  it(
    "reconcile puts back a deleted route, drops stale routes on " +
      "flannel.ipip, and recreates a deleted device with every peer",
    () => {
      const { dp, rn, dev } = ipipNet();
      rn.handle(added(ipip(2), ipip(3)));
      rn.flush();
      dp.deleteRoute({ dst: "10.244.2.0/24", ifindex: dev });
      dp.replaceRoute({ dst: "10.244.9.0/24", gw: "192.0.2.19", ifindex: dev, onlink: true });
      rn.reconcile();
      expect([...dp.routes.keys()].sort()).toEqual(["10.244.2.0/24", "10.244.3.0/24"]);
      dp.deleteLink("flannel.ipip");
      expect(dp.routes.size).toBe(0);
      const st = rn.reconcile();
      const now = dp.linkIndex("flannel.ipip");
      expect(st.replayed).toBe(true);
      expect(now).not.toBe(dev);
      expect([...dp.routes.values()].map((r) => `${r.dst} ${r.ifindex === now}`).sort()).toEqual([
        "10.244.2.0/24 true",
        "10.244.3.0/24 true",
      ]);
      expect(dp.links.get("flannel.ipip")?.addrs).toEqual(["10.244.1.0/32"]);
    },
  );
});

/** RecordingNetlink whose createIpip answers like a kernel without the ipip module. */
class NoIpipKernel extends RecordingNetlink {
  override createIpip(o: IpipOptions): void {
    throw new NetlinkError(Errno.EOPNOTSUPP, `RTM_NEWLINK ipip ${o.name}`, "Unknown device type");
  }
}

describe("KernelNetOps.ensureIpip", () => {
  it(
    "creates flannel.ipip with flannel's attributes: local, " + "any remote, ttl and tos inherited, no PMTU discovery",
    () => {
      const nl = new RecordingNetlink();
      const r = new KernelNetOps(nl).ensureIpip({ name: "flannel.ipip", localIp: "192.0.2.11", mtu: 1480 });
      expect(r).toMatchObject({ created: true, recreated: false });
      expect(nl.calls.find((c) => c.method === "createIpip")?.args).toEqual([
        { name: "flannel.ipip", local: "192.0.2.11", ttl: 0, tos: 0, pmtudisc: false, mtu: 1480 },
      ]);
      expect(nl.getLink("flannel.ipip")).toMatchObject({
        kind: "ipip",
        mtu: 1480,
        ipip: { local: "192.0.2.11", pmtudisc: false },
      });
    },
  );

  it("says the kernel lacks ipip support (module ipip) when the kernel does not know the link kind", () => {
    expect(() =>
      new KernelNetOps(new NoIpipKernel()).ensureIpip({ name: "flannel.ipip", localIp: "192.0.2.11", mtu: 1480 }),
    ).toThrow(
      new RegExp(
        String.raw`cannot create flannel\.ipip: this kernel has no ipip tunnel support ` +
          String.raw`\(module ipip, CONFIG_NET_IPIP\): load it with ` +
          "`modprobe ipip` or choose another " +
          String.raw`Backend\.Type \(RTM_NEWLINK ipip flannel\.ipip: EOPNOTSUPP`,
      ),
    );
  });

  it(
    "reuses a device with our local address (setting the MTU), " +
      "recreates one with another local, refuses another kind",
    () => {
      const nl = new RecordingNetlink();
      const ops = new KernelNetOps(nl);
      nl.createIpip({ name: "flannel.ipip", local: "192.0.2.11", mtu: 1500 });
      const first = nl.getLink("flannel.ipip").index;
      expect(ops.ensureIpip({ name: "flannel.ipip", localIp: "192.0.2.11", mtu: 1480 })).toEqual({
        index: first,
        created: false,
        recreated: false,
        mtu: 1480,
      });
      expect(nl.getLink("flannel.ipip").mtu).toBe(1480);
      const moved = ops.ensureIpip({ name: "flannel.ipip", localIp: "192.0.2.99", mtu: 1480 });
      expect(moved).toMatchObject({ created: true, recreated: true });
      expect(nl.getLink("flannel.ipip").ipip?.local).toBe("192.0.2.99");
      nl.deleteLink("flannel.ipip");
      nl.createBridge({ name: "flannel.ipip" });
      expect(() => ops.ensureIpip({ name: "flannel.ipip", localIp: "192.0.2.11", mtu: 1480 })).toThrow(
        /flannel\.ipip exists but is not an ipip device \(kind "bridge"\): remove it/,
      );
    },
  );
});
